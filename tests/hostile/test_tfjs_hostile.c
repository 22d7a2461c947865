/*
 * TF.js loader against hand-built models, good and hostile: each case writes a
 * model.json (+ shards) into a fresh temporary folder and loads it.
 * Good models check exact weight decoding (uint8 / uint16 / float16 / int32
 * quantization, as TF.js does it), a quantized Conv2D run end to end, and the
 * TF.js output order. Hostile ones must fail with the right status and a
 * message naming the problem (truncated / oversized shards, shape mismatch,
 * unknown op, missing input, cycles, huge dims, bad JSON / base64, missing
 * shard, path traversal, ...), and random mutations of a valid model must never
 * crash (run under -DFR_SANITIZE=ON).
 */
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facerec/nn.h"
#include "nn/graph.h"
#include "nn/tfjs/tfjs_loader.h"
#include "testutil.h"

static char g_root[256];
static int g_case;
static char g_dir[512];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void write_bytes(const char *name, const void *data, size_t n) {
  char p[768];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  FILE *f = fopen(p, "wb");
  CHECK(f != NULL);
  if (!f) return;
  if (n) CHECK(fwrite(data, 1, n, f) == n);
  fclose(f);
}

/* New case folder; returns the model.json path (static buffer). */
static const char *new_case(const char *json) {
  static char path[768];
  snprintf(g_dir, sizeof g_dir, "%s/case%d", g_root, g_case++);
  CHECK(mkdir(g_dir, 0700) == 0);
  snprintf(path, sizeof path, "%s/model.json", g_dir);
  write_bytes("model.json", json, strlen(json));
  return path;
}

static fr_status load(const char *path, fr__graph *g, fr_error *err) {
  fr__graph_init(g, path, "tfjs");
  memset(err, 0, sizeof *err);
  return fr__tfjs_load(path, g, err);
}

/* Loads and expects status st with every needle in the message. */
static void expect_fail(const char *path, fr_status st, const char *needle1, const char *needle2) {
  fr__graph g;
  fr_error err;
  fr_status got = load(path, &g, &err);
  CHECK_MSG(got == st, "status %s, expected %s (%s)", fr_strerror(got), fr_strerror(st), err.msg);
  if (needle1) CHECK_MSG(strstr(err.msg, needle1) != NULL, "'%s' not in: %s", needle1, err.msg);
  if (needle2) CHECK_MSG(strstr(err.msg, needle2) != NULL, "'%s' not in: %s", needle2, err.msg);
  fr__graph_free(&g);
}

#define NODE_X(shape)                                                                 \
  "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"dtype\":{\"type\":\"DT_FLOAT\"},"  \
  "\"shape\":{\"shape\":{\"dim\":[" shape "]}}}}"
#define DIMS_1331 "{\"size\":\"1\"},{\"size\":\"3\"},{\"size\":\"3\"},{\"size\":\"1\"}"
#define CONV_ATTR                                                                     \
  "\"attr\":{\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},"                 \
  "\"padding\":{\"s\":\"VkFMSUQ=\"},\"data_format\":{\"s\":\"TkhXQw==\"}}"

/* Placeholder x [1,3,3,1] -> Conv2D with filter w [2,2,1,2] (VALID), weights
 * spec given. */
static const char *conv_model(char *buf, size_t n, const char *wspec, const char *extra_nodes) {
  snprintf(buf, n,
           "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331)
           ",{\"name\":\"w\",\"op\":\"Const\"},"
           "{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"x\",\"w\"]," CONV_ATTR "}%s]},"
           "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":[%s]}]}",
           extra_nodes, wspec);
  return buf;
}

#define W_F32 "{\"name\":\"w\",\"shape\":[2,2,1,2],\"dtype\":\"float32\"}"
static const float k_w8[8] = {0.5f, -1, 2, 0.25f, -0.5f, 1, 1.5f, -2};

TEST(valid_float32_conv_runs) {
  char js[4096];
  const char *path = new_case(conv_model(js, sizeof js, W_F32, ""));
  write_bytes("w.bin", k_w8, sizeof k_w8);
  fr_model *m = NULL;
  fr_session *s = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr_model_load(path, NULL, &m, &err), FR_OK);
  if (!m) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK(fr_model_num_outputs(m) == 1);
  CHECK(strcmp(fr_model_output_name(m, 0), "conv") == 0);
  CHECK_STATUS(fr_session_create(m, NULL, &s, &err), FR_OK);
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  int64_t shape[4] = {1, 3, 3, 1};
  CHECK_STATUS(fr_session_set_input(s, 0, x, shape, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  fr_tensor_view v;
  CHECK_STATUS(fr_session_output(s, 0, &v, &err), FR_OK);
  CHECK(v.count == 8);
  for (int oy = 0; oy < 2 && v.count == 8; oy++)
    for (int ox = 0; ox < 2; ox++)
      for (int o = 0; o < 2; o++) {
        double e = 0;
        for (int ky = 0; ky < 2; ky++)
          for (int kx = 0; kx < 2; kx++) e += x[(oy + ky) * 3 + ox + kx] * k_w8[(ky * 2 + kx) * 2 + o];
        CHECK_MSG(fabs(v.data[(oy * 2 + ox) * 2 + o] - e) < 1e-5, "out %g vs %g",
                  v.data[(oy * 2 + ox) * 2 + o], e);
      }
  fr_session_free(s);
  fr_model_free(m);
}

/* Quantized Conv2D end to end: output equals the conv of the TF.js-dequantized weights. */
TEST(uint8_quantized_conv_runs) {
  char js[4096];
  const double scale = 0.0123, mn = -0.77;
  const char *path = new_case(conv_model(js, sizeof js,
      "{\"name\":\"w\",\"shape\":[2,2,1,2],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":0.0123,\"min\":-0.77,\"original_dtype\":\"float32\"}}", ""));
  const uint8_t q[8] = {0, 255, 17, 128, 200, 3, 99, 64};
  write_bytes("w.bin", q, sizeof q);
  float wf[8];
  for (int i = 0; i < 8; i++) wf[i] = (float)((double)q[i] * scale + mn);
  fr_model *m = NULL;
  fr_session *s = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr_model_load(path, NULL, &m, &err), FR_OK);
  if (!m) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_STATUS(fr_session_create(m, NULL, &s, &err), FR_OK);
  float x[9] = {0.1f, -2, 3, 4, 0.5f, -6, 7, 8, 9};
  int64_t shape[4] = {1, 3, 3, 1};
  CHECK_STATUS(fr_session_set_input(s, 0, x, shape, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  fr_tensor_view v;
  CHECK_STATUS(fr_session_output(s, 0, &v, &err), FR_OK);
  CHECK(v.count == 8);
  for (int oy = 0; oy < 2 && v.count == 8; oy++)
    for (int ox = 0; ox < 2; ox++)
      for (int o = 0; o < 2; o++) {
        double e = 0;
        for (int ky = 0; ky < 2; ky++)
          for (int kx = 0; kx < 2; kx++) e += (double)x[(oy + ky) * 3 + ox + kx] * wf[(ky * 2 + kx) * 2 + o];
        CHECK_MSG(fabs(v.data[(oy * 2 + ox) * 2 + o] - e) < 1e-5 * (1 + fabs(e)), "out %g vs %g",
                  v.data[(oy * 2 + ox) * 2 + o], e);
      }
  fr_session_free(s);
  fr_model_free(m);
}

/* Consts read as tensors (x + c) keep their name; check the decoded values bit for bit. */
static const char *add_model(char *buf, size_t n, const char *wspec) {
  snprintf(buf, n,
           "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":[" NODE_X("{\"size\":\"-1\"}")
           ",{\"name\":\"c\",\"op\":\"Const\"},"
           "{\"name\":\"y\",\"op\":\"AddV2\",\"input\":[\"x\",\"c\"]}]},"
           "\"weightsManifest\":[{\"paths\":[\"c.bin\"],\"weights\":[%s]}]}",
           wspec);
  return buf;
}

static const void *const_data(fr__graph *g, const char *name, fr__dtype dt, int64_t n) {
  int v = fr__graph_find(g, name);
  CHECK(v >= 0);
  if (v < 0) return NULL;
  CHECK(g->values[v].data != NULL && g->values[v].dtype == dt);
  CHECK(fr__shape_elems(&g->values[v].shape) == n);
  return g->values[v].data;
}

TEST(uint8_uint16_dequantization_exact) {
  char js[4096];
  fr__graph g;
  fr_error err;
  uint8_t q8[256];
  for (int i = 0; i < 256; i++) q8[i] = (uint8_t)i;
  const char *path = new_case(add_model(js, sizeof js,
      "{\"name\":\"c\",\"shape\":[256],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":0.1,\"min\":-1.3}}"));
  write_bytes("c.bin", q8, sizeof q8);
  CHECK_STATUS(load(path, &g, &err), FR_OK);
  const float *f = const_data(&g, "c", FR__F32, 256);
  for (int i = 0; f && i < 256; i++) {
    float e = (float)((double)i * 0.1 + -1.3);
    CHECK_MSG(memcmp(&f[i], &e, 4) == 0, "q=%d: %.9g vs %.9g", i, f[i], e);
  }
  fr__graph_free(&g);

  uint8_t q16[8];
  const uint16_t v16[4] = {0, 1, 40000, 65535};
  for (int i = 0; i < 4; i++) q16[2 * i] = (uint8_t)v16[i], q16[2 * i + 1] = (uint8_t)(v16[i] >> 8);
  path = new_case(add_model(js, sizeof js,
      "{\"name\":\"c\",\"shape\":[4],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint16\",\"scale\":3.0517578125e-05,\"min\":-0.9999}}"));
  write_bytes("c.bin", q16, sizeof q16);
  CHECK_STATUS(load(path, &g, &err), FR_OK);
  f = const_data(&g, "c", FR__F32, 4);
  for (int i = 0; f && i < 4; i++) {
    float e = (float)((double)v16[i] * 3.0517578125e-05 + -0.9999);
    CHECK(memcmp(&f[i], &e, 4) == 0);
  }
  fr__graph_free(&g);

  /* int32 original: Math.round(q * scale + min) */
  const uint8_t qi[4] = {0, 1, 2, 3};
  path = new_case(add_model(js, sizeof js,
      "{\"name\":\"c\",\"shape\":[4],\"dtype\":\"int32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1.5}}"));
  write_bytes("c.bin", qi, sizeof qi);
  CHECK_STATUS(load(path, &g, &err), FR_OK);
  const int64_t *iv = const_data(&g, "c", FR__I64, 4);
  const int64_t ie[4] = {-1, -1, 0, 0}; /* -1.5 -> -1, -1 -> -1, -0.5 -> -0, 0 */
  for (int i = 0; iv && i < 4; i++) CHECK_MSG(iv[i] == ie[i], "%d: %lld", i, (long long)iv[i]);
  fr__graph_free(&g);
}

TEST(float16_weights_exact) {
  char js[4096];
  fr__graph g;
  fr_error err;
  const uint16_t h[10] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x8000, 0x7c00, 0xfc00, 0x7e00};
  uint8_t b[20];
  for (int i = 0; i < 10; i++) b[2 * i] = (uint8_t)h[i], b[2 * i + 1] = (uint8_t)(h[i] >> 8);
  const char *path = new_case(add_model(js, sizeof js,
      "{\"name\":\"c\",\"shape\":[10],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"float16\",\"original_dtype\":\"float32\"}}"));
  write_bytes("c.bin", b, sizeof b);
  CHECK_STATUS(load(path, &g, &err), FR_OK);
  const float *f = const_data(&g, "c", FR__F32, 10);
  if (f) {
    CHECK(f[0] == 1.0f);
    CHECK(f[1] == -2.0f);
    CHECK(f[2] == ldexpf(1, -24));
    CHECK(f[3] == ldexpf(1023, -24));
    CHECK(f[4] == ldexpf(1, -14));
    CHECK(f[5] == 65504.0f);
    CHECK(f[6] == 0.0f && signbit(f[6]));
    CHECK(isinf(f[7]) && f[7] > 0);
    CHECK(isinf(f[8]) && f[8] < 0);
    CHECK(isnan(f[9]));
  }
  fr__graph_free(&g);
}

/* Without a signature: sinks in JS key order (integer-like names first). With
 * userDefinedMetadata.signature: its order, over the top-level signature. */
TEST(output_order) {
  const char *nodes =
      "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":[" NODE_X("{\"size\":\"-1\"}")
      ",{\"name\":\"x2\",\"op\":\"Relu\",\"input\":[\"x\"]},"
      "{\"name\":\"10\",\"op\":\"Sigmoid\",\"input\":[\"x\"]},"
      "{\"name\":\"3\",\"op\":\"Tanh\",\"input\":[\"x\"]},"
      "{\"name\":\"mid\",\"op\":\"Abs\",\"input\":[\"x\"]},"
      "{\"name\":\"tail\",\"op\":\"Neg\",\"input\":[\"mid\"]}]}";
  char js[4096];
  fr__graph g;
  fr_error err;
  snprintf(js, sizeof js, "%s}", nodes);
  CHECK_STATUS(load(new_case(js), &g, &err), FR_OK);
  const char *want[4] = {"3", "10", "x2", "tail"};
  CHECK(g.n_outputs == 4);
  for (int i = 0; i < g.n_outputs && i < 4; i++)
    CHECK_MSG(strcmp(g.values[g.outputs[i]].name, want[i]) == 0, "output %d is %s", i,
              g.values[g.outputs[i]].name);
  fr__graph_free(&g);

  snprintf(js, sizeof js,
           "%s,\"signature\":{\"outputs\":{\"a\":{\"name\":\"x2:0\"}}},"
           "\"userDefinedMetadata\":{\"signature\":{\"outputs\":{\"k1\":{\"name\":\"tail:0\"},"
           "\"k2\":{\"name\":\"mid\"},\"k3\":{\"name\":\"nosuchnode:0\"}}}}}", nodes);
  CHECK_STATUS(load(new_case(js), &g, &err), FR_OK);
  CHECK(g.n_outputs == 2);
  if (g.n_outputs == 2) {
    CHECK(strcmp(g.values[g.outputs[0]].name, "tail") == 0);
    CHECK(strcmp(g.values[g.outputs[1]].name, "mid") == 0);
  }
  fr__graph_free(&g);
}

TEST(shard_size_mismatches) {
  char js[4096];
  conv_model(js, sizeof js, W_F32, "");
  const char *path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8 - 1); /* truncated */
  expect_fail(path, FR_ERR_FORMAT, "'w'", "hold only 31 bytes");
  path = new_case(js);
  uint8_t more[36] = {0};
  write_bytes("w.bin", more, sizeof more); /* extra bytes */
  expect_fail(path, FR_ERR_FORMAT, "hold 36 bytes", "use 32");
  /* manifest shape does not match the bytes */
  path = new_case(conv_model(js, sizeof js, "{\"name\":\"w\",\"shape\":[2,2,1,3],\"dtype\":\"float32\"}", ""));
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "'w'", "truncated");
  /* two shards, concatenated, are fine */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331)
           ",{\"name\":\"w\",\"op\":\"Const\"},"
           "{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"x\",\"w\"]," CONV_ATTR "}]},"
           "\"weightsManifest\":[{\"paths\":[\"a.bin\",\"sub/b.bin\"],\"weights\":[" W_F32 "]}]}");
  path = new_case(js);
  char sub[600];
  snprintf(sub, sizeof sub, "%s/sub", g_dir);
  CHECK(mkdir(sub, 0700) == 0);
  write_bytes("a.bin", k_w8, 12);
  write_bytes("sub/b.bin", (const char *)k_w8 + 12, 20);
  fr__graph g;
  fr_error err;
  CHECK_STATUS(load(path, &g, &err), FR_OK);
  fr__graph_free(&g);
}

TEST(missing_and_escaping_shards) {
  char js[4096];
  const char *path = new_case(conv_model(js, sizeof js, W_F32, ""));
  expect_fail(path, FR_ERR_NOT_FOUND, "w.bin", NULL); /* never written */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331) "]},"
           "\"weightsManifest\":[{\"paths\":[\"../w.bin\"],\"weights\":[]}]}");
  expect_fail(new_case(js), FR_ERR_FORMAT, "paths[0]", NULL);
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331) "]},"
           "\"weightsManifest\":[{\"paths\":[\"/etc/passwd\"],\"weights\":[]}]}");
  expect_fail(new_case(js), FR_ERR_FORMAT, "paths[0]", NULL);
}

TEST(bad_graphs) {
  char js[4096];
  /* unknown op: names the node and the op */
  conv_model(js, sizeof js, W_F32, ",{\"name\":\"weird\",\"op\":\"FancyOp\",\"input\":[\"conv\"]}");
  const char *path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_UNSUPPORTED, "'weird'", "FancyOp");
  /* missing input */
  conv_model(js, sizeof js, W_F32, ",{\"name\":\"r\",\"op\":\"Relu\",\"input\":[\"ghost\"]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "'r'", "ghost");
  /* output index other than 0 */
  conv_model(js, sizeof js, W_F32, ",{\"name\":\"r\",\"op\":\"Relu\",\"input\":[\"conv:1\"]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_UNSUPPORTED, "'r'", "conv:1");
  /* cycle */
  conv_model(js, sizeof js, W_F32,
             ",{\"name\":\"a\",\"op\":\"Relu\",\"input\":[\"b\"]},{\"name\":\"b\",\"op\":\"Relu\",\"input\":[\"a\"]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "cycle", NULL);
  /* duplicate node name */
  conv_model(js, sizeof js, W_F32, ",{\"name\":\"conv\",\"op\":\"Relu\",\"input\":[\"x\"]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "duplicate", "conv");
  /* Const without a weight */
  conv_model(js, sizeof js, W_F32, ",{\"name\":\"lonely\",\"op\":\"Const\"}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "'lonely'", "no weight");
  /* NCHW */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331) ",{\"name\":\"w\",\"op\":\"Const\"},"
           "{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"x\",\"w\"],\"attr\":{\"padding\":"
           "{\"s\":\"VkFMSUQ=\"},\"data_format\":{\"s\":\"TkNIVw==\"}}}]},"
           "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":[" W_F32 "]}]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_UNSUPPORTED, "NCHW", "'conv'");
  /* bad base64 in an attribute */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331) ",{\"name\":\"w\",\"op\":\"Const\"},"
           "{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"x\",\"w\"],\"attr\":{\"padding\":"
           "{\"s\":\"V!FMSUQ=\"}}}]},"
           "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":[" W_F32 "]}]}");
  path = new_case(js);
  write_bytes("w.bin", k_w8, sizeof k_w8);
  expect_fail(path, FR_ERR_FORMAT, "base64", "padding");
  /* non-constant filter */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331)
           ",{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"x\",\"x\"]," CONV_ATTR "}]}}");
  expect_fail(new_case(js), FR_ERR_UNSUPPORTED, "filter", NULL);
  /* no input at all */
  expect_fail(new_case("{\"modelTopology\":{\"node\":[]}}"), FR_ERR_FORMAT, "Placeholder", NULL);
}

TEST(huge_dims_and_bad_manifests) {
  char js[4096];
  expect_fail(new_case(add_model(js, sizeof js,
                  "{\"name\":\"c\",\"shape\":[100000,100000,100000],\"dtype\":\"float32\"}")),
              FR_ERR_TOO_LARGE, "'c'", NULL);
  expect_fail(new_case(add_model(js, sizeof js,
                  "{\"name\":\"c\",\"shape\":[9223372036854775807],\"dtype\":\"float32\"}")),
              FR_ERR_TOO_LARGE, "'c'", NULL);
  expect_fail(new_case(add_model(js, sizeof js, "{\"name\":\"c\",\"shape\":[-4],\"dtype\":\"float32\"}")),
              FR_ERR_FORMAT, "'c'", NULL);
  expect_fail(new_case(add_model(js, sizeof js, "{\"name\":\"c\",\"shape\":[1],\"dtype\":\"complex64\"}")),
              FR_ERR_UNSUPPORTED, "complex64", NULL);
  expect_fail(new_case(add_model(js, sizeof js,
                  "{\"name\":\"c\",\"shape\":[1],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"int4\"}}")),
              FR_ERR_UNSUPPORTED, "int4", NULL);
  expect_fail(new_case(add_model(js, sizeof js,
                  "{\"name\":\"c\",\"shape\":[1],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\"}}")),
              FR_ERR_FORMAT, "scale", NULL);
  expect_fail(new_case(add_model(js, sizeof js, "{\"name\":\"c\",\"shape\":[1,1,1,1,1,1,1,1,1],\"dtype\":\"float32\"}")),
              FR_ERR_FORMAT, "'c'", NULL);
  /* placeholder with absurd dims */
  snprintf(js, sizeof js,
           "{\"modelTopology\":{\"node\":[" NODE_X("{\"size\":\"4000000\"},{\"size\":\"4000000\"}") "]}}");
  expect_fail(new_case(js), FR_ERR_TOO_LARGE, "'x'", NULL);
}

TEST(bad_json) {
  expect_fail(new_case("{\"modelTopology\": {\"node\": [}"), FR_ERR_FORMAT, "invalid JSON", NULL);
  expect_fail(new_case(""), FR_ERR_FORMAT, "invalid JSON", NULL);
  expect_fail(new_case("[1,2,3]"), FR_ERR_FORMAT, "not an object", NULL);
  expect_fail(new_case("{\"modelTopology\":{\"node\":{}}}"), FR_ERR_FORMAT, "node", NULL);
  expect_fail(new_case("{\"a\":1,\"a\":2}"), FR_ERR_FORMAT, "invalid JSON", NULL);
  expect_fail(new_case("{\"format\":\"layers-model\"}"), FR_ERR_UNSUPPORTED, "layers-model", NULL);
  expect_fail(new_case("{\"modelTopology\":{\"node\":[{\"name\":\"a\\u0000b\",\"op\":\"Relu\"}]}}"),
              FR_ERR_FORMAT, "invalid JSON", NULL);
}

/* Random byte mutations of a valid model must fail cleanly or load; never crash. */
TEST(mutations_never_crash) {
  const char *js =
      "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":[" NODE_X(DIMS_1331)
      ",{\"name\":\"w\",\"op\":\"Const\"},{\"name\":\"b\",\"op\":\"Const\"},"
      "{\"name\":\"d\",\"op\":\"Const\"},"
      "{\"name\":\"r\",\"op\":\"_FusedConv2D\",\"input\":[\"x\",\"w\",\"b\"],"
      "\"attr\":{\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\",\"UmVsdQ==\"]}},"
      "\"num_args\":{\"i\":\"1\"},\"padding\":{\"s\":\"U0FNRQ==\"},"
      "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}}}},"
      "{\"name\":\"e\",\"op\":\"ExpandDims\",\"input\":[\"r\",\"d\"]},"
      "{\"name\":\"m\",\"op\":\"Mean\",\"input\":[\"r\",\"d\"],\"attr\":{\"keep_dims\":{\"b\":true}}}]},"
      "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":[" W_F32 ","
      "{\"name\":\"b\",\"shape\":[2],\"dtype\":\"float32\"},"
      "{\"name\":\"d\",\"shape\":[],\"dtype\":\"int32\"}]}]}";
  uint8_t bin[44] = {0};
  memcpy(bin, k_w8, 32);
  bin[40] = 1; /* d = 1 */
  fr__graph g;
  fr_error err;
  const char *path = new_case(js);
  write_bytes("w.bin", bin, sizeof bin);
  CHECK_STATUS(load(path, &g, &err), FR_OK); /* the base model is valid */
  fr__graph_free(&g);
  size_t n = strlen(js);
  unsigned seed = 12345;
  char *mut = malloc(n + 1);
  int loaded = 0;
  for (int it = 0; it < 400; it++) {
    memcpy(mut, js, n + 1);
    int flips = 1 + (int)(fr_t_rand(&seed) % 3);
    for (int k = 0; k < flips; k++) {
      size_t pos = fr_t_rand(&seed) % n;
      const char pool[] = "{}[]\",:0123456789-eE.abcxyz ";
      mut[pos] = pool[fr_t_rand(&seed) % (sizeof pool - 1)];
    }
    path = new_case(mut);
    write_bytes("w.bin", bin, sizeof bin);
    fr_status st = load(path, &g, &err);
    if (st != FR_OK) CHECK(err.msg[0] != 0);
    else loaded++;
    fr__graph_free(&g);
  }
  printf("     %d of 400 mutations still load\n", loaded);
  free(mut);
}

static void setup(void) {
  snprintf(g_root, sizeof g_root, "%s/fr_tfjs_XXXXXX", fr_t_env("TMPDIR", "/tmp"));
  if (!mkdtemp(g_root)) {
    perror("mkdtemp");
    exit(1);
  }
}

static void teardown(void) { nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

int main(void) {
  static const fr_t_case cases[] = {
      T(valid_float32_conv_runs), T(uint8_quantized_conv_runs), T(uint8_uint16_dequantization_exact),
      T(float16_weights_exact), T(output_order), T(shard_size_mismatches),
      T(missing_and_escaping_shards), T(bad_graphs), T(huge_dims_and_bad_manifests), T(bad_json),
      T(mutations_never_crash)};
  setup();
  int rc = fr_t_run(cases, (int)(sizeof cases / sizeof cases[0]));
  teardown();
  return rc;
}
