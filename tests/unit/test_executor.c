/*
 * Graph builder and executor: validation errors name the node, the memory plan
 * reuses buffers, plans are redone when the input shape changes, static
 * (shape-only) subgraphs are evaluated at plan time, fusion never hides a kept
 * tensor, and values come back in the model's layout.
 */
#include <math.h>

#include "facerec/nn.h"
#include "nn/exec.h"
#include "nn/graph.h"
#include "testutil.h"

static fr__shape S(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t v[4] = {a, b, c, d};
  return fr__shape_make(rank, v);
}

/* Wraps a hand-built graph in a model. */
static fr_model *model_of(fr__graph *g) {
  fr_model *m = calloc(1, sizeof *m);
  m->g = *g;
  return m;
}

TEST(builder_rejects_bad_graphs) {
  fr__graph g;
  fr_error err;
  int x, y, z;
  fr__graph_init(&g, "t.model", "test");
  fr__shape s = S(2, 2, 3, 0, 0);
  CHECK_STATUS(fr__graph_add_value(&g, "x", FR__F32, &s, &x, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_value(&g, "x", FR__F32, &s, &y, &err), FR_ERR_FORMAT);
  CHECK(strstr(err.msg, "duplicate") != NULL);
  CHECK_STATUS(fr__graph_add_value(&g, "y", FR__F32, &s, &y, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_value(&g, "z", FR__F32, &s, &z, &err), FR_OK);
  /* y = relu(z), z = relu(y): a cycle */
  CHECK_STATUS(fr__graph_add_node(&g, FR__OP_RELU, "r1", &z, 1, &y, 1, NULL, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(&g, FR__OP_RELU, "r2", &y, 1, &z, 1, NULL, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(&g, FR__OP_RELU, "r3", &x, 1, &z, 1, NULL, &err), FR_ERR_FORMAT);
  CHECK(strstr(err.msg, "r3") && strstr(err.msg, "already produced"));
  CHECK_STATUS(fr__graph_set_io(&g, &x, 1, &z, 1, &err), FR_OK);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_ERR_FORMAT);
  CHECK_MSG(strstr(err.msg, "cycle") && strstr(err.msg, "t.model"), "%s", err.msg);
  fr__graph_free(&g);

  /* dangling input and arity */
  fr__graph_init(&g, "t2.model", "test");
  int a, b, c;
  fr__graph_add_value(&g, "a", FR__F32, &s, &a, &err);
  fr__graph_add_value(&g, "b", FR__F32, &s, &b, &err);
  fr__graph_add_value(&g, "c", FR__F32, &s, &c, &err);
  int in2[2] = {a, b};
  CHECK_STATUS(fr__graph_add_node(&g, FR__OP_ADD, "add1", in2, 2, &c, 1, NULL, &err), FR_OK);
  fr__graph_set_io(&g, &a, 1, &c, 1, &err);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_ERR_FORMAT);
  CHECK_MSG(strstr(err.msg, "add1") && strstr(err.msg, "'b'"), "%s", err.msg);
  fr__graph_free(&g);

  fr__graph_init(&g, "t3.model", "test");
  fr__graph_add_value(&g, "a", FR__F32, &s, &a, &err);
  fr__graph_add_value(&g, "c", FR__F32, &s, &c, &err);
  CHECK_STATUS(fr__graph_add_node(&g, FR__OP_ADD, "add_one_input", &a, 1, &c, 1, NULL, &err), FR_OK);
  fr__graph_set_io(&g, &a, 1, &c, 1, &err);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_ERR_FORMAT);
  CHECK_MSG(strstr(err.msg, "add_one_input") != NULL, "%s", err.msg);
  fr__graph_free(&g);
}

/* x[?,4] -> relu -> add(x) -> relu -> ... a chain of 20 ops; arena must be far below 20 buffers. */
TEST(plan_reuses_memory_and_replans) {
  fr__graph g;
  fr_error err;
  fr__graph_init(&g, "chain", "test");
  fr__shape s = S(2, -1, 4, 0, 0);
  int x, prev;
  fr__graph_add_value(&g, "x", FR__F32, &s, &x, &err);
  prev = x;
  for (int i = 0; i < 20; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "v%d", i);
    int v;
    fr__graph_add_value(&g, nm, FR__F32, NULL, &v, &err);
    if (i % 2 == 0) {
      fr__graph_add_node(&g, FR__OP_RELU, nm, &prev, 1, &v, 1, NULL, &err);
    } else {
      int in2[2] = {prev, x};
      fr__graph_add_node(&g, FR__OP_ADD, nm, in2, 2, &v, 1, NULL, &err);
    }
    prev = v;
  }
  fr__graph_set_io(&g, &x, 1, &prev, 1, &err);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_OK);
  fr_model *m = model_of(&g);
  fr_session *s1;
  CHECK_STATUS(fr_session_create(m, NULL, &s1, &err), FR_OK);
  for (int rows = 1000; rows <= 3000; rows += 2000) {
    float *in = malloc(sizeof(float) * 4 * (size_t)rows);
    for (int i = 0; i < 4 * rows; i++) in[i] = (float)(i % 7) - 3.0f;
    int64_t shp[2] = {rows, 4};
    CHECK_STATUS(fr_session_set_input(s1, 0, in, shp, 2, &err), FR_OK);
    CHECK_STATUS(fr_session_run(s1, &err), FR_OK);
    fr_tensor_view tv;
    CHECK_STATUS(fr_session_output(s1, 0, &tv, &err), FR_OK);
    CHECK(tv.rank == 2 && tv.shape[0] == rows && tv.count == (size_t)rows * 4);
    /* reference: r = relu(x); r = r + x; ... */
    int bad = 0;
    for (int i = 0; i < 4 * rows; i++) {
      float r = in[i];
      for (int k = 0; k < 20; k++) r = k % 2 == 0 ? (r > 0 ? r : 0) : r + in[i];
      if (tv.data[i] != r) bad++;
    }
    CHECK(bad == 0);
    /* liveness: at most the input copy's neighbours live at once, not 20 buffers */
    CHECK_MSG(fr__session_arena_bytes(s1) <= 3 * (size_t)rows * 16 + 1024, "arena %zu",
              fr__session_arena_bytes(s1));
    free(in);
  }
  /* wrong rank and non-positive dims are refused */
  float one = 1;
  int64_t bad1[3] = {1, 1, 1}, bad2[2] = {1, 5}, bad3[2] = {0, 4};
  CHECK_STATUS(fr_session_set_input(s1, 0, &one, bad1, 3, &err), FR_ERR_SHAPE);
  CHECK_STATUS(fr_session_set_input(s1, 0, &one, bad2, 2, &err), FR_ERR_SHAPE);
  CHECK(strstr(err.msg, "'x'") != NULL);
  CHECK_STATUS(fr_session_set_input(s1, 0, &one, bad3, 2, &err), FR_ERR_SHAPE);
  fr_session_free(s1);
  fr_model_free(m);
}

/* Shape arithmetic is static: SHAPE(x) -> RESHAPE(x, shape) costs nothing per run;
 * a kept intermediate survives fusion; values come back in the model layout. */
TEST(static_subgraph_keep_and_layout) {
  fr__graph g;
  fr_error err;
  fr__graph_init(&g, "static", "test");
  fr__shape s = S(4, 1, 2, 3, 2); /* physical NHWC 1x2x3x2, model NCHW 1x2x2x3 */
  int x, shp, r, w, conv, act;
  fr__graph_add_value(&g, "x", FR__F32, &s, &x, &err);
  fr__graph_add_value(&g, "shape_of_x", FR__I64, NULL, &shp, &err);
  fr__graph_add_value(&g, "reshaped", FR__F32, NULL, &r, &err);
  fr__graph_add_node(&g, FR__OP_SHAPE, "shape_of_x", &x, 1, &shp, 1, NULL, &err);
  int rin[2] = {x, shp};
  fr__graph_add_node(&g, FR__OP_RESHAPE, "reshaped", rin, 2, &r, 1, NULL, &err);
  /* 1x1 conv, 2 -> 2 channels, weights OHWI [2,1,1,2] = [[1,-1],[-1,1]] */
  fr__shape ws = S(4, 2, 1, 1, 2);
  float wd[4] = {1, -1, -1, 1};
  fr__graph_add_const(&g, "w", FR__F32, &ws, wd, &w, &err);
  fr__graph_add_value(&g, "conv", FR__F32, NULL, &conv, &err);
  fr__graph_add_value(&g, "act", FR__F32, NULL, &act, &err);
  int cin[2] = {r, w};
  int ci;
  fr__graph_add_node(&g, FR__OP_CONV2D, "conv", cin, 2, &conv, 1, &ci, &err);
  fr__conv_attrs *ca = &g.nodes[ci].a.conv;
  ca->kh = ca->kw = ca->stride_h = ca->stride_w = ca->dil_h = ca->dil_w = ca->groups = 1;
  ca->out_min = -INFINITY;
  ca->out_max = INFINITY;
  fr__graph_add_node(&g, FR__OP_RELU, "act", &conv, 1, &act, 1, NULL, &err);
  g.values[act].model_rank = 4;
  int perm[4] = {0, 3, 1, 2};
  memcpy(g.values[act].model_perm, perm, sizeof perm);
  g.values[conv].model_rank = 4;
  memcpy(g.values[conv].model_perm, perm, sizeof perm);
  fr__graph_set_io(&g, &x, 1, &act, 1, &err);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_OK);
  fr_model *m = model_of(&g);
  fr_session *ses;
  CHECK_STATUS(fr_session_create(m, NULL, &ses, &err), FR_OK);
  CHECK_STATUS(fr_session_keep(ses, "conv", &err), FR_OK);
  CHECK_STATUS(fr_session_keep(ses, "nope", &err), FR_ERR_NOT_FOUND);
  float in[12];
  for (int i = 0; i < 12; i++) in[i] = (float)i * (i % 2 ? -1.0f : 1.0f);
  int64_t dims[4] = {1, 2, 3, 2};
  CHECK_STATUS(fr_session_set_input(ses, 0, in, dims, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(ses, &err), FR_OK);
  fr_tensor_view cv, av, sv;
  CHECK_STATUS(fr_session_get(ses, "conv", &cv, &err), FR_OK);
  CHECK_STATUS(fr_session_output(ses, 0, &av, &err), FR_OK);
  CHECK_STATUS(fr_session_get(ses, "reshaped", &sv, &err), FR_ERR_INVALID_ARG); /* not kept */
  CHECK(cv.rank == 4 && cv.shape[1] == 2 && cv.shape[2] == 2 && cv.shape[3] == 3);
  /* model layout: [n][c][h][w] = physical [n][h][w][c] */
  int bad = 0;
  for (int c = 0; c < 2; c++)
    for (int h = 0; h < 2; h++)
      for (int x2 = 0; x2 < 3; x2++) {
        const float *p = &in[(h * 3 + x2) * 2];
        float want = c == 0 ? p[0] - p[1] : -p[0] + p[1];
        float got = cv.data[(c * 2 + h) * 3 + x2];
        float gota = av.data[(c * 2 + h) * 3 + x2];
        if (got != want || gota != (want > 0 ? want : 0)) bad++;
      }
  CHECK(bad == 0);
  CHECK(fr_session_flops(ses) > 0);
  fr_session_free(ses);
  fr_model_free(m);
}

TEST(model_load_errors) {
  fr_model *m = (fr_model *)1;
  fr_error err;
  CHECK_STATUS(fr_model_load("/nonexistent/model.onnx", NULL, &m, &err), FR_ERR_IO);
  CHECK(m == NULL);
  CHECK(strstr(err.msg, "/nonexistent/model.onnx") != NULL);
  FILE *f = fopen("/tmp/fr_empty_model.onnx", "wb");
  if (f) fclose(f);
  CHECK_STATUS(fr_model_load("/tmp/fr_empty_model.onnx", NULL, &m, &err), FR_ERR_FORMAT);
  remove("/tmp/fr_empty_model.onnx");
  CHECK(strcmp(fr_strerror(FR_ERR_FORMAT), "malformed or unsupported file") == 0);
  CHECK(fr_status_http(FR_ERR_TOO_LARGE) == 413);
  CHECK(strcmp(fr_status_code((fr_status)999), "internal_error") == 0);
}

/* A detector run fully convolutionally: dynamic H/W and a cut before the
 * size-specific decoding tail. fr_detect's raw heads at 480x640: feature maps
 * 60x80, 30x40, 15x20, 8x10 with 3, 2, 2, 3 anchors = 17640 (4420 at 240x320). */
TEST(dynamic_hw_and_select) {
  char path[2048];
  snprintf(path, sizeof path, "%s/models/faceplugin/fr_detect.onnx", fr_t_env("FR_SOURCE_DIR", "."));
  fr_model *m;
  fr_error err;
  fr_model_options opt = {.dynamic_hw = 1};
  CHECK_STATUS(fr_model_load(path, &opt, &m, &err), FR_OK);
  if (!m) return;
  int rank;
  int64_t d[FR_MAX_DIMS];
  fr_model_input(m, 0, &rank, d);
  CHECK(rank == 4 && d[1] == 3 && d[2] == -1 && d[3] == -1);
  fr_session *s;
  CHECK_STATUS(fr_session_create(m, NULL, &s, &err), FR_OK);
  const char *heads[2] = {"461", "462"};
  CHECK_STATUS(fr_session_select(s, heads, 2, &err), FR_OK);
  const char *bad[1] = {"no_such"};
  CHECK_STATUS(fr_session_select(s, bad, 1, &err), FR_ERR_NOT_FOUND);
  CHECK_STATUS(fr_session_select(s, heads, 2, &err), FR_OK);
  int64_t shp[4] = {1, 3, 480, 640};
  float *in = calloc(3 * 480 * 640, sizeof(float));
  CHECK_STATUS(fr_session_set_input(s, 0, in, shp, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  fr_tensor_view lg, rg;
  CHECK_STATUS(fr_session_get(s, "461", &lg, &err), FR_OK);
  CHECK_STATUS(fr_session_get(s, "462", &rg, &err), FR_OK);
  CHECK_MSG(lg.rank == 3 && lg.shape[1] == 17640 && lg.shape[2] == 2, "%d %lld %lld", lg.rank, (long long)lg.shape[1], (long long)lg.shape[2]);
  CHECK(rg.rank == 3 && rg.shape[1] == 17640 && rg.shape[2] == 4);
  /* the decoded outputs were not computed */
  fr_tensor_view o;
  CHECK_STATUS(fr_session_output(s, 0, &o, &err), FR_ERR_INVALID_ARG);
  /* without dynamic_hw the declared size is enforced */
  fr_model *m2;
  CHECK_STATUS(fr_model_load(path, NULL, &m2, &err), FR_OK);
  fr_session *s2;
  CHECK_STATUS(fr_session_create(m2, NULL, &s2, &err), FR_OK);
  CHECK_STATUS(fr_session_set_input(s2, 0, in, shp, 4, &err), FR_ERR_SHAPE);
  free(in);
  fr_session_free(s2);
  fr_model_free(m2);
  fr_session_free(s);
  fr_model_free(m);
}

/* Sessions sharing one activation arena (fr__arena_pool): the pool grows to
 * the largest plan; a session whose pool buffer moved rebinds and still computes
 * the same values. */
TEST(shared_arena_pool) {
  fr__graph g;
  fr_error err;
  fr__graph_init(&g, "chain", "test");
  fr__shape s = S(2, -1, 4, 0, 0);
  int x, prev;
  fr__graph_add_value(&g, "x", FR__F32, &s, &x, &err);
  prev = x;
  for (int i = 0; i < 20; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "v%d", i);
    int v;
    fr__graph_add_value(&g, nm, FR__F32, NULL, &v, &err);
    if (i % 2 == 0) {
      fr__graph_add_node(&g, FR__OP_RELU, nm, &prev, 1, &v, 1, NULL, &err);
    } else {
      int in2[2] = {prev, x};
      fr__graph_add_node(&g, FR__OP_ADD, nm, in2, 2, &v, 1, NULL, &err);
    }
    prev = v;
  }
  fr__graph_set_io(&g, &x, 1, &prev, 1, &err);
  CHECK_STATUS(fr__graph_finalize(&g, &err), FR_OK);
  fr_model *m = model_of(&g);
  fr__arena_pool *pool = fr__arena_pool_create();
  CHECK(pool != NULL);
  fr_session *ss[2];
  CHECK_STATUS(fr_session_create(m, NULL, &ss[0], &err), FR_OK);
  CHECK_STATUS(fr_session_create(m, NULL, &ss[1], &err), FR_OK);
  fr__session_use_pool(ss[0], pool);
  fr__session_use_pool(ss[1], pool);
  const int rows_of[4] = {1000, 3000, 1000, 3000}; /* small, grow (buffer moves), small again */
  for (int step = 0; step < 4; step++) {
    int rows = rows_of[step];
    fr_session *s1 = ss[step % 2];
    float *in = malloc(sizeof(float) * 4 * (size_t)rows);
    for (int i = 0; i < 4 * rows; i++) in[i] = (float)((i + step) % 7) - 3.0f;
    int64_t shp[2] = {rows, 4};
    CHECK_STATUS(fr_session_set_input(s1, 0, in, shp, 2, &err), FR_OK);
    CHECK_STATUS(fr_session_run(s1, &err), FR_OK);
    fr_tensor_view tv;
    CHECK_STATUS(fr_session_output(s1, 0, &tv, &err), FR_OK);
    CHECK(tv.rank == 2 && tv.shape[0] == rows && tv.count == (size_t)rows * 4);
    int bad = 0;
    for (int i = 0; i < 4 * rows; i++) {
      float r = in[i];
      for (int k = 0; k < 20; k++) r = k % 2 == 0 ? (r > 0 ? r : 0) : r + in[i];
      if (tv.data[i] != r) bad++;
    }
    CHECK(bad == 0);
    CHECK(fr__arena_pool_bytes(pool) >= fr__session_arena_bytes(s1));
    free(in);
  }
  /* one buffer for both: the larger plan's size */
  CHECK(fr__arena_pool_bytes(pool) == fr__session_arena_bytes(ss[1]));
  fr_session_free(ss[0]);
  fr_session_free(ss[1]);
  fr__arena_pool_free(pool);
  fr_model_free(m);
}

RUN_TESTS(T(dynamic_hw_and_select), T(builder_rejects_bad_graphs), T(plan_reuses_memory_and_replans),
          T(static_subgraph_keep_and_layout), T(model_load_errors), T(shared_arena_pool))
