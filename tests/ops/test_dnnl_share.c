/*
 * Sharing in the oneDNN path (src/nn/dnnl_backend.c): reordered weights and
 * biases are shared by every convolution that needs the same bytes in the same
 * layout, across threads; scratchpads and bf16 input copies live in a pool of
 * buffers, one per concurrent run. Checked here:
 *  - two convolutions from the same weights hold one weights buffer and one
 *    bias buffer, and compute the same bytes as each alone;
 *  - the same address with other contents (the caller rewrote its buffer while
 *    a convolution from the old contents lives) is not confused with it;
 *  - concurrent runs on two threads of convolutions sharing weights give the
 *    single-threaded bytes, with at most two scratch buffers (one per
 *    concurrent run) and none taken after the runs;
 *  - a model's sessions (fr_feature, single-threaded: oneDNN) add no weights
 *    buffers after the first, and give the same embedding bytes;
 *  - the last convolution frees what it shared.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "facerec/nn.h"
#include "nn/dnnl_backend.h"
#include "testutil.h"

static unsigned seed = 777;

static float *rand_buf(size_t n) {
  float *p = malloc(n * sizeof(float) + 64);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = fr_t_randf(&seed);
  return p;
}

/* 1x12x10x16 -> 1x12x10x48, 3x3 stride 1, pad 1, relu */
static fr__dnnl_conv_params conv_params(const float *w, const float *b, int lowp) {
  fr__dnnl_conv_params p = {.n = 1, .h = 12, .w = 10, .cin = 16, .cout = 48, .oh = 12, .ow = 10,
                            .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1,
                            .pt = 1, .pl = 1, .pb = 1, .pr = 1, .lo = 0.0f, .hi = INFINITY,
                            .weights = w, .bias = b, .lowp = lowp};
  return p;
}

#define NX (12 * 10 * 16)
#define NY (12 * 10 * 48)
#define NW (48 * 3 * 3 * 16)

static size_t shared_buffers(void) {
  size_t n = 0;
  fr__dnnl_shared_stats(&n, NULL);
  return n;
}

TEST(same_weights_share_one_buffer) {
  size_t n0 = shared_buffers();
  float *w = rand_buf(NW), *b = rand_buf(48), *x = rand_buf(NX);
  float y1[NY + 16], y2[NY + 16];
  fr__dnnl_conv_params p = conv_params(w, b, 0);
  fr__dnnl_conv *c1 = NULL, *c2 = NULL;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c1), FR_OK);
  CHECK(shared_buffers() == n0 + 2); /* weights + bias */
  size_t nb = 0, bb = 0;
  fr__dnnl_scratch_stats(&nb, &bb);
  CHECK(nb >= 1 && bb > 0); /* sized at creation */
  CHECK_STATUS(fr__dnnl_conv_run(c1, x, y1), FR_OK);
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c2), FR_OK);
  CHECK(shared_buffers() == n0 + 2);
  CHECK_STATUS(fr__dnnl_conv_run(c2, x, y2), FR_OK);
  CHECK(memcmp(y1, y2, sizeof(float) * NY) == 0);
  fr__dnnl_conv_destroy(c1);
  CHECK(shared_buffers() == n0 + 2); /* c2 still uses them */
  CHECK_STATUS(fr__dnnl_conv_run(c2, x, y2), FR_OK);
  CHECK(memcmp(y1, y2, sizeof(float) * NY) == 0);
  fr__dnnl_conv_destroy(c2);
  CHECK(shared_buffers() == n0);
  free(w), free(b), free(x);
}

TEST(rewritten_buffer_is_not_confused) {
  size_t n0 = shared_buffers();
  float *w = rand_buf(NW), *b = rand_buf(48), *x = rand_buf(NX);
  float *w2 = rand_buf(NW);
  float y_old[NY + 16], y_new[NY + 16], y_ref[NY + 16];
  fr__dnnl_conv_params p = conv_params(w, b, 0);
  fr__dnnl_conv *c_old = NULL, *c_new = NULL, *c_ref = NULL;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c_old), FR_OK);
  CHECK_STATUS(fr__dnnl_conv_run(c_old, x, y_old), FR_OK);
  /* reference for the new contents, from another address */
  fr__dnnl_conv_params pr = conv_params(w2, b, 0);
  CHECK_STATUS(fr__dnnl_conv_create(&pr, &c_ref), FR_OK);
  CHECK_STATUS(fr__dnnl_conv_run(c_ref, x, y_ref), FR_OK);
  /* same address, new contents, while c_old lives */
  memcpy(w, w2, sizeof(float) * NW);
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c_new), FR_OK);
  /* old weights, the new contents at w2 and at w (two addresses), one bias */
  CHECK(shared_buffers() == n0 + 4);
  CHECK_STATUS(fr__dnnl_conv_run(c_new, x, y_new), FR_OK);
  CHECK(memcmp(y_new, y_ref, sizeof(float) * NY) == 0);
  CHECK(memcmp(y_new, y_old, sizeof(float) * NY) != 0);
  fr__dnnl_conv_destroy(c_old);
  fr__dnnl_conv_destroy(c_new);
  fr__dnnl_conv_destroy(c_ref);
  CHECK(shared_buffers() == n0);
  free(w), free(w2), free(b), free(x);
}

typedef struct runner {
  fr__dnnl_conv *c;
  const void *x;
  void *y;
  int rounds;
  fr_status st;
} runner;

static void *run_thread(void *arg) {
  runner *r = arg;
  r->st = FR_OK;
  for (int i = 0; i < r->rounds && r->st == FR_OK; i++) r->st = fr__dnnl_conv_run(r->c, r->x, r->y);
  return NULL;
}

/* Two threads, each with its own convolution over the same shared weights
 * (bf16 from an f32 input where the CPU has bf16: the input copy lives in
 * the thread's scratch), run concurrently: the bytes of a lone run. */
TEST(concurrent_threads_share_weights) {
  int lowp = fr__dnnl_bf16_native() ? 1 : 0;
  float *w = rand_buf(NW), *b = rand_buf(48), *xa = rand_buf(NX), *xb = rand_buf(NX);
  float *ya = malloc(sizeof(float) * NY + 64), *yb = malloc(sizeof(float) * NY + 64);
  float *ra = malloc(sizeof(float) * NY + 64), *rb = malloc(sizeof(float) * NY + 64);
  fr__dnnl_conv_params p = conv_params(w, b, lowp);
  fr__dnnl_conv *ca = NULL, *cb = NULL;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &ca), FR_OK);
  CHECK_STATUS(fr__dnnl_conv_create(&p, &cb), FR_OK);
  if (ca && cb && ya && yb && ra && rb) {
    CHECK_STATUS(fr__dnnl_conv_run(ca, xa, ra), FR_OK);
    CHECK_STATUS(fr__dnnl_conv_run(ca, xb, rb), FR_OK);
    size_t nb0 = 0, nb1 = 0;
    fr__dnnl_scratch_stats(&nb0, NULL);
    runner r[2] = {{ca, xa, ya, 200, FR_OK}, {cb, xb, yb, 200, FR_OK}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, run_thread, &r[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    CHECK_STATUS(r[0].st, FR_OK);
    CHECK_STATUS(r[1].st, FR_OK);
    fr__dnnl_scratch_stats(&nb1, NULL); /* all given back; at most one more */
    CHECK_MSG(nb1 >= nb0 && nb1 <= (nb0 > 2 ? nb0 : 2), "%zu -> %zu scratch buffers", nb0, nb1);
    CHECK(memcmp(ya, ra, sizeof(float) * NY) == 0);
    CHECK(memcmp(yb, rb, sizeof(float) * NY) == 0);
  }
  fr__dnnl_conv_destroy(ca);
  fr__dnnl_conv_destroy(cb);
  free(w), free(b), free(xa), free(xb), free(ya), free(yb), free(ra), free(rb);
}

/* Sessions of one model: the second adds no shared buffers and gives the
 * same bytes. */
TEST(sessions_of_a_model_share_weights) {
  char path[1024];
  const char *models = fr_t_env("FR_MODELS_DIR", NULL);
  if (models) snprintf(path, sizeof path, "%s/faceplugin/fr_feature.onnx", models);
  else snprintf(path, sizeof path, "%s/models/faceplugin/fr_feature.onnx",
                fr_t_env("FR_SOURCE_DIR", "."));
  fr_model *m = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr_model_load(path, NULL, &m, &err), FR_OK);
  if (!m) return;
  size_t n0 = 0, b0 = 0, n1 = 0, b1 = 0, n2 = 0, b2 = 0;
  fr__dnnl_shared_stats(&n0, &b0);
  int64_t shape[4] = {1, 3, 112, 112};
  float *x = rand_buf(3 * 112 * 112);
  float e1[512], e2[512];
  fr_session *s1 = NULL, *s2 = NULL;
  fr_tensor_view v;
  CHECK_STATUS(fr_session_create(m, NULL, &s1, &err), FR_OK);
  CHECK_STATUS(fr_session_set_input(s1, 0, x, shape, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s1, &err), FR_OK);
  CHECK_STATUS(fr_session_output(s1, 0, &v, &err), FR_OK);
  CHECK(v.count == 512);
  if (v.count == 512) memcpy(e1, v.data, sizeof e1);
  fr__dnnl_shared_stats(&n1, &b1);
  CHECK_MSG(n1 > n0 + 20 && b1 > b0 + (1u << 20), "fr_feature shares %zu buffers, %zu bytes",
            n1 - n0, b1 - b0);
  CHECK_STATUS(fr_session_create(m, NULL, &s2, &err), FR_OK);
  CHECK_STATUS(fr_session_set_input(s2, 0, x, shape, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s2, &err), FR_OK);
  CHECK_STATUS(fr_session_output(s2, 0, &v, &err), FR_OK);
  if (v.count == 512) memcpy(e2, v.data, sizeof e2);
  fr__dnnl_shared_stats(&n2, &b2);
  CHECK_MSG(n2 == n1 && b2 == b1, "second session: %zu -> %zu buffers", n1, n2);
  CHECK(memcmp(e1, e2, sizeof e1) == 0);
  fr_session_free(s1);
  fr_session_free(s2);
  fr__dnnl_shared_stats(&n2, &b2);
  CHECK(n2 == n0 && b2 == b0);
  fr_model_free(m);
  free(x);
}

RUN_TESTS(T(same_weights_share_one_buffer), T(rewritten_buffer_is_not_confused),
          T(concurrent_threads_share_weights), T(sessions_of_a_model_share_weights))
