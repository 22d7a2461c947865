/*
 * fr__session_input_nhwc (src/nn/exec.h): an ONNX input written by the caller
 * straight into the session's arena in NHWC gives exactly the outputs of the
 * same input fed NCHW through fr_session_set_input, also when sessions share
 * a pooled arena that moves, after shape changes and when switching between
 * the two ways; misuse and ineligible inputs are refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/nn.h"
#include "nn/exec.h"
#include "testutil.h"

static fr_model *load(const char *rel, int dynamic_hw, int bf16) {
  char path[1024];
  snprintf(path, sizeof path, "%s/models/%s", fr_t_env("FR_SOURCE_DIR", "."), rel);
  fr_model_options o = {.dynamic_hw = dynamic_hw, .precision = bf16 ? FR_PRECISION_BF16 : FR_PRECISION_F32};
  fr_model *m = NULL;
  fr_error err;
  fr_status st = fr_model_load(path, &o, &m, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  return m;
}

/* Deterministic NCHW input of n x c x h x w. */
static float *make_input(int c, int h, int w, unsigned seed) {
  float *x = malloc(sizeof(float) * (size_t)(c * h * w));
  for (int i = 0; i < c * h * w; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)(seed >> 9) / (float)(1u << 23) * 2.0f - 1.0f;
  }
  return x;
}

/* Copies of the named outputs of the last run (count[k] values each). */
static int collect(fr_session *s, const char *const *names, int n, float **out, size_t *count) {
  fr_error err;
  for (int k = 0; k < n; k++) {
    fr_tensor_view v;
    fr_status st = fr_session_get(s, names[k], &v, &err);
    CHECK_MSG(st == FR_OK, "%s", err.msg);
    if (st) return 0;
    out[k] = malloc(v.count * sizeof(float));
    memcpy(out[k], v.data, v.count * sizeof(float));
    count[k] = v.count;
  }
  return 1;
}

/* Runs s on x (NCHW) through the NHWC path; copies the named outputs. */
static int run_nhwc(fr_session *s, const float *x, int c, int h, int w, const char *const *names, int n,
                    float **out, size_t *count) {
  fr_error err;
  float *in = NULL;
  const int64_t shape[4] = {1, c, h, w};
  fr_status st = fr__session_input_nhwc(s, 0, shape, 4, &in, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  if (st) return 0;
  for (int y = 0; y < h; y++)
    for (int xx = 0; xx < w; xx++)
      for (int ch = 0; ch < c; ch++) in[((size_t)y * w + xx) * c + ch] = x[((size_t)ch * h + y) * w + xx];
  st = fr_session_run(s, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  return st == FR_OK && collect(s, names, n, out, count);
}

static int run_nchw(fr_session *s, const float *x, int c, int h, int w, const char *const *names, int n,
                    float **out, size_t *count) {
  fr_error err;
  const int64_t shape[4] = {1, c, h, w};
  fr_status st = fr_session_set_input(s, 0, x, shape, 4, &err);
  if (!st) st = fr_session_run(s, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  return st == FR_OK && collect(s, names, n, out, count);
}

static void same_outputs(float **a, size_t *na, float **b, size_t *nb, int n, const char *what) {
  for (int k = 0; k < n; k++) {
    CHECK_MSG(na[k] == nb[k] && na[k] > 0, "%s output %d: %zu vs %zu values", what, k, na[k], nb[k]);
    if (na[k] == nb[k])
      CHECK_MSG(memcmp(a[k], b[k], na[k] * sizeof(float)) == 0, "%s output %d differs", what, k);
    free(a[k]);
    free(b[k]);
    a[k] = b[k] = NULL;
  }
}

/* The detector cut at its raw heads, as src/face runs it: two sessions on one
 * pooled arena (the second's larger plan moves the pool), several shapes,
 * f32 and (where the CPU has it) bf16. */
TEST(detector_nhwc_equals_nchw) {
  static const char *const heads[2] = {"461", "462"};
  for (int bf16 = 0; bf16 < 2; bf16++) {
    fr_model *m = load("faceplugin/fr_detect.onnx", 1, bf16);
    if (!m) return;
    fr_error err;
    fr_session *direct = NULL, *other = NULL, *ref = NULL;
    CHECK(fr_session_create(m, NULL, &direct, &err) == FR_OK);
    CHECK(fr_session_create(m, NULL, &other, &err) == FR_OK);
    CHECK(fr_session_create(m, NULL, &ref, &err) == FR_OK);
    CHECK(fr_session_select(direct, heads, 2, &err) == FR_OK);
    CHECK(fr_session_select(other, heads, 2, &err) == FR_OK);
    CHECK(fr_session_select(ref, heads, 2, &err) == FR_OK);
    fr__arena_pool *pool = fr__arena_pool_create();
    fr__session_use_pool(direct, pool);
    fr__session_use_pool(other, pool);
    static const int shapes[][2] = {{96, 128}, {320, 352}, {64, 96}, {96, 128}};
    for (int i = 0; i < 4; i++) {
      const int h = shapes[i][0], w = shapes[i][1];
      float *x = make_input(3, h, w, (unsigned)(i + 1));
      float *a[2] = {0}, *b[2] = {0}, *o[2] = {0};
      size_t na[2] = {0}, nb[2] = {0}, no[2] = {0};
      run_nhwc(direct, x, 3, h, w, heads, 2, a, na);
      run_nchw(ref, x, 3, h, w, heads, 2, b, nb);
      char what[64];
      snprintf(what, sizeof what, "%s %dx%d", bf16 ? "bf16" : "f32", w, h);
      same_outputs(a, na, b, nb, 2, what);
      /* another session of the pool runs a larger shape (the pool buffer moves) */
      float *y = make_input(3, h + 64, w + 64, 99u);
      run_nhwc(other, y, 3, h + 64, w + 64, heads, 2, o, no);
      free(o[0]), free(o[1]), free(y);
      run_nhwc(direct, x, 3, h, w, heads, 2, a, na);
      run_nchw(ref, x, 3, h, w, heads, 2, b, nb);
      same_outputs(a, na, b, nb, 2, what);
      free(x);
    }
    /* back to the model layout in the same session, then NHWC again */
    float *x = make_input(3, 96, 128, 7u);
    float *a[2] = {0}, *b[2] = {0};
    size_t na[2] = {0}, nb[2] = {0};
    run_nchw(direct, x, 3, 96, 128, heads, 2, a, na);
    run_nchw(ref, x, 3, 96, 128, heads, 2, b, nb);
    same_outputs(a, na, b, nb, 2, "NCHW after NHWC");
    run_nhwc(direct, x, 3, 96, 128, heads, 2, a, na);
    run_nchw(ref, x, 3, 96, 128, heads, 2, b, nb);
    same_outputs(a, na, b, nb, 2, "NHWC after NCHW");
    free(x);
    fr_session_free(direct);
    fr_session_free(other);
    fr_session_free(ref);
    fr__arena_pool_free(pool);
    fr_model_free(m);
  }
}

TEST(embedder_nhwc_equals_nchw) {
  fr_model *m = load("faceplugin/fr_feature.onnx", 0, 0);
  if (!m) return;
  fr_error err;
  fr_session *s = NULL, *ref = NULL;
  CHECK(fr_session_create(m, NULL, &s, &err) == FR_OK);
  CHECK(fr_session_create(m, NULL, &ref, &err) == FR_OK);
  const char *name = fr_model_output_name(m, 0);
  float *x = make_input(3, 112, 112, 3u);
  float *a[1] = {0}, *b[1] = {0};
  size_t na[1] = {0}, nb[1] = {0};
  run_nhwc(s, x, 3, 112, 112, &name, 1, a, na);
  run_nchw(ref, x, 3, 112, 112, &name, 1, b, nb);
  same_outputs(a, na, b, nb, 1, "fr_feature");
  free(x);
  fr_session_free(s);
  fr_session_free(ref);
  fr_model_free(m);
}

TEST(nhwc_misuse_and_ineligible_inputs) {
  fr_error err;
  fr_model *m = load("faceplugin/fr_detect.onnx", 1, 0);
  if (!m) return;
  fr_session *s = NULL;
  CHECK(fr_session_create(m, NULL, &s, &err) == FR_OK);
  static const char *const heads[2] = {"461", "462"}; /* the graph's own tail only plans at 320x240 */
  CHECK(fr_session_select(s, heads, 2, &err) == FR_OK);
  float *in = NULL;
  const int64_t good[4] = {1, 3, 64, 64}, wrong_c[4] = {1, 4, 64, 64}, bigger[4] = {1, 3, 64, 96};
  CHECK_STATUS(fr__session_input_nhwc(s, 0, wrong_c, 4, &in, &err), FR_ERR_SHAPE);
  CHECK(in == NULL);
  CHECK_STATUS(fr__session_input_nhwc(s, 1, good, 4, &in, &err), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr__session_input_nhwc(s, 0, good, 4, &in, &err), FR_OK);
  CHECK(in != NULL);
  if (in) memset(in, 0, sizeof(float) * 3 * 64 * 64);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  /* a new shape without writing the input again: the old buffer belonged to the old plan */
  float *x = make_input(3, 64, 96, 5u);
  CHECK_STATUS(fr_session_set_input(s, 0, x, bigger, 4, &err), FR_OK); /* model layout: fine */
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  CHECK_STATUS(fr__session_input_nhwc(s, 0, good, 4, &in, &err), FR_OK);
  CHECK_STATUS(fr_session_select(s, (const char *const[]){"461"}, 1, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_ERR_INVALID_ARG);
  free(x);
  fr_session_free(s);
  fr_model_free(m);
  /* a TFLite model is NHWC already: nothing to skip */
  fr_model *t = load("expo/onet.tflite", 0, 0);
  if (!t) return;
  CHECK(fr_session_create(t, NULL, &s, &err) == FR_OK);
  const int64_t onet[4] = {1, 48, 48, 3};
  CHECK_STATUS(fr__session_input_nhwc(s, 0, onet, 4, &in, &err), FR_ERR_UNSUPPORTED);
  CHECK(in == NULL);
  fr_session_free(s);
  fr_model_free(t);
}

RUN_TESTS(T(detector_nhwc_equals_nchw), T(embedder_nhwc_equals_nchw), T(nhwc_misuse_and_ineligible_inputs))
