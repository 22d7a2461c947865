/*
 * Hostile ONNX files: every one must be rejected with a clear status and a
 * message naming the file and the node / tensor, never crash or leak (run under
 * -DFR_SANITIZE=ON). Files are built here: a tiny valid model (Conv + Relu,
 * made with protobuf-c) and mutations of it, truncated and bit-flipped copies of
 * a real model, garbage, and protobuf nesting deep enough to exhaust the stack.
 * Also checks the tiny model's numbers (NCHW in, NCHW out through the NHWC IR)
 * and opset-9 Softmax's coerced 2-D semantics.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facerec/nn.h"
#include "onnx/onnx.pb-c.h"
#include "testutil.h"

static char g_dir[256];
static int g_file_no;

/* Writes bytes to a fresh file in the temp dir; returns its path (static buffer). */
static const char *put_file(const void *data, size_t n) {
  static char path[512];
  snprintf(path, sizeof path, "%s/m%d.onnx", g_dir, g_file_no++);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  if (n && fwrite(data, 1, n, f) != n) {
    fclose(f);
    return NULL;
  }
  fclose(f);
  return path;
}

/* Loads bytes as a model; returns the status, err filled; frees the model. */
static fr_status load_bytes(const void *data, size_t n, fr_error *err) {
  const char *p = put_file(data, n);
  if (!p) return FR_ERR_IO;
  fr_model *m = NULL;
  memset(err, 0, sizeof *err);
  fr_status st = fr_model_load(p, NULL, &m, err);
  if (st == FR_OK) CHECK(m != NULL);
  else CHECK(m == NULL && err->msg[0]);
  fr_model_free(m);
  unlink(p);
  return st;
}

/* ------------------------------------------------------- tiny model builder */

#define CO 4
#define CI 3
#define HW 5

typedef struct tiny {
  Onnx__ModelProto model;
  Onnx__OperatorSetIdProto opset, *opsets[1];
  Onnx__GraphProto graph;
  Onnx__NodeProto conv, relu, *nodes[2];
  char *conv_in[3], *conv_out[1], *relu_in[1], *relu_out[1];
  Onnx__AttributeProto a_k, a_p, a_s, a_g, a_x, *conv_attrs[5];
  int64_t ks[2], pads[4], strides[2];
  Onnx__TensorProto w, b, *inits[2];
  int64_t wdims[4], bdims[1];
  float wdata[CO * CI * 3 * 3], bdata[CO];
  Onnx__ValueInfoProto in_vi, out_vi, *ins[1], *outs[1];
  Onnx__TypeProto in_tp;
  Onnx__TypeProto__Tensor in_tt;
  Onnx__TensorShapeProto in_shape;
  Onnx__TensorShapeProto__Dimension dims[4], *dimp[4];
} tiny;

static void attr_ints(Onnx__AttributeProto *a, const char *name, int64_t *v, size_t n) {
  Onnx__AttributeProto z = ONNX__ATTRIBUTE_PROTO__INIT;
  *a = z;
  a->name = (char *)name;
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  a->ints = v;
  a->n_ints = n;
}

static void tiny_init(tiny *t) {
  memset(t, 0, sizeof *t);
  Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
  Onnx__OperatorSetIdProto o = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
  Onnx__NodeProto n = ONNX__NODE_PROTO__INIT;
  Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
  Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
  Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
  Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
  Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
  Onnx__TensorShapeProto__Dimension dm = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;

  t->model = m;
  t->model.has_ir_version = 1;
  t->model.ir_version = 6;
  t->opset = o;
  t->opset.domain = (char *)"";
  t->opset.has_version = 1;
  t->opset.version = 9;
  t->opsets[0] = &t->opset;
  t->model.opset_import = t->opsets;
  t->model.n_opset_import = 1;
  t->graph = g;
  t->graph.name = (char *)"tiny";
  t->model.graph = &t->graph;

  /* weights / bias: deterministic values, raw_data */
  unsigned seed = 7;
  for (int i = 0; i < CO * CI * 9; i++) t->wdata[i] = fr_t_randf(&seed);
  for (int i = 0; i < CO; i++) t->bdata[i] = 0.1f * (float)(i - 1);
  t->w = tp;
  t->w.name = (char *)"W";
  t->w.has_data_type = 1;
  t->w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->wdims[0] = CO, t->wdims[1] = CI, t->wdims[2] = 3, t->wdims[3] = 3;
  t->w.dims = t->wdims;
  t->w.n_dims = 4;
  t->w.has_raw_data = 1;
  t->w.raw_data.data = (uint8_t *)t->wdata;
  t->w.raw_data.len = sizeof t->wdata;
  t->b = tp;
  t->b.name = (char *)"B";
  t->b.has_data_type = 1;
  t->b.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->bdims[0] = CO;
  t->b.dims = t->bdims;
  t->b.n_dims = 1;
  t->b.float_data = t->bdata;
  t->b.n_float_data = CO;
  t->inits[0] = &t->w;
  t->inits[1] = &t->b;
  t->graph.initializer = t->inits;
  t->graph.n_initializer = 2;

  /* nodes */
  t->conv = n;
  t->conv.name = (char *)"conv1";
  t->conv.op_type = (char *)"Conv";
  t->conv_in[0] = (char *)"x", t->conv_in[1] = (char *)"W", t->conv_in[2] = (char *)"B";
  t->conv.input = t->conv_in;
  t->conv.n_input = 3;
  t->conv_out[0] = (char *)"c1";
  t->conv.output = t->conv_out;
  t->conv.n_output = 1;
  t->ks[0] = t->ks[1] = 3;
  t->pads[0] = t->pads[1] = t->pads[2] = t->pads[3] = 1;
  t->strides[0] = t->strides[1] = 1;
  attr_ints(&t->a_k, "kernel_shape", t->ks, 2);
  attr_ints(&t->a_p, "pads", t->pads, 4);
  attr_ints(&t->a_s, "strides", t->strides, 2);
  t->conv_attrs[0] = &t->a_k, t->conv_attrs[1] = &t->a_p, t->conv_attrs[2] = &t->a_s;
  t->conv.attribute = t->conv_attrs;
  t->conv.n_attribute = 3;
  t->relu = n;
  t->relu.name = (char *)"relu1";
  t->relu.op_type = (char *)"Relu";
  t->relu_in[0] = (char *)"c1";
  t->relu.input = t->relu_in;
  t->relu.n_input = 1;
  t->relu_out[0] = (char *)"y";
  t->relu.output = t->relu_out;
  t->relu.n_output = 1;
  t->nodes[0] = &t->conv;
  t->nodes[1] = &t->relu;
  t->graph.node = t->nodes;
  t->graph.n_node = 2;

  /* input x: float [1,3,5,5]; output y */
  t->in_vi = vi;
  t->in_vi.name = (char *)"x";
  t->in_tp = ty;
  t->in_tt = tt;
  t->in_tt.has_elem_type = 1;
  t->in_tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->in_shape = sh;
  int64_t d[4] = {1, CI, HW, HW};
  for (int i = 0; i < 4; i++) {
    t->dims[i] = dm;
    t->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    t->dims[i].dim_value = d[i];
    t->dimp[i] = &t->dims[i];
  }
  t->in_shape.dim = t->dimp;
  t->in_shape.n_dim = 4;
  t->in_tt.shape = &t->in_shape;
  t->in_tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  t->in_tp.tensor_type = &t->in_tt;
  t->in_vi.type = &t->in_tp;
  t->ins[0] = &t->in_vi;
  t->graph.input = t->ins;
  t->graph.n_input = 1;
  t->out_vi = vi;
  t->out_vi.name = (char *)"y";
  t->outs[0] = &t->out_vi;
  t->graph.output = t->outs;
  t->graph.n_output = 1;
}

/* Packs the model; caller frees. */
static uint8_t *tiny_pack(const tiny *t, size_t *len) {
  size_t n = onnx__model_proto__get_packed_size(&t->model);
  uint8_t *buf = malloc(n + 1);
  if (!buf) return NULL;
  *len = onnx__model_proto__pack(&t->model, buf);
  return buf;
}

static fr_status tiny_load(const tiny *t, fr_error *err) {
  size_t n = 0;
  uint8_t *b = tiny_pack(t, &n);
  if (!b) return FR_ERR_NOMEM;
  fr_status st = load_bytes(b, n, err);
  free(b);
  return st;
}

#define EXPECT_FAIL(t, status, ...)                                                      \
  do {                                                                                   \
    fr_error e_;                                                                         \
    fr_status st_ = tiny_load(t, &e_);                                                   \
    CHECK_MSG(st_ == (status), "status %d (%s), expected %d; msg: %s", (int)st_,         \
              fr_strerror(st_), (int)(status), e_.msg);                                  \
    const char *want_[] = {__VA_ARGS__};                                                 \
    for (size_t k_ = 0; k_ < sizeof want_ / sizeof want_[0]; k_++)                       \
      CHECK_MSG(strstr(e_.msg, want_[k_]) != NULL, "message lacks '%s': %s", want_[k_],  \
                e_.msg);                                                                 \
    CHECK_MSG(strstr(e_.msg, g_dir) != NULL, "message lacks the path: %s", e_.msg);     \
    if (getenv("FR_T_VERBOSE")) printf("  %s\n", e_.msg);                                \
  } while (0)

/* ------------------------------------------------------------------- tests */

/* The valid tiny model loads and computes Conv+Relu in NCHW as ONNX defines it. */
TEST(tiny_model_runs) {
  tiny t;
  tiny_init(&t);
  size_t n = 0;
  uint8_t *b = tiny_pack(&t, &n);
  const char *p = put_file(b, n);
  free(b);
  fr_model *m = NULL;
  fr_session *s = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr_model_load(p, NULL, &m, &err), FR_OK);
  if (!m) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_STATUS(fr_session_create(m, NULL, &s, &err), FR_OK);
  CHECK_STATUS(fr_session_keep(s, "c1", &err), FR_OK);
  float x[CI * HW * HW];
  unsigned seed = 3;
  for (int i = 0; i < CI * HW * HW; i++) x[i] = fr_t_randf(&seed);
  int64_t shape[4] = {1, CI, HW, HW};
  CHECK_STATUS(fr_session_set_input(s, 0, x, shape, 4, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  fr_tensor_view y, c1;
  CHECK_STATUS(fr_session_output(s, 0, &y, &err), FR_OK);
  CHECK_STATUS(fr_session_get(s, "c1", &c1, &err), FR_OK);
  CHECK(y.rank == 4 && y.shape[1] == CO && y.shape[2] == HW && y.shape[3] == HW);
  CHECK(c1.rank == 4 && c1.shape[1] == CO);
  double worst = 0;
  for (int o = 0; o < CO; o++)
    for (int yy = 0; yy < HW; yy++)
      for (int xx = 0; xx < HW; xx++) {
        double acc = t.bdata[o];
        for (int i = 0; i < CI; i++)
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
              int sy = yy + ky - 1, sx = xx + kx - 1;
              if (sy < 0 || sx < 0 || sy >= HW || sx >= HW) continue;
              acc += (double)t.wdata[((o * CI + i) * 3 + ky) * 3 + kx] * x[(i * HW + sy) * HW + sx];
            }
        size_t at = (size_t)(o * HW + yy) * HW + xx;
        double d1 = fabs(c1.data[at] - acc), d2 = fabs(y.data[at] - (acc > 0 ? acc : 0));
        if (d1 > worst) worst = d1;
        if (d2 > worst) worst = d2;
      }
  CHECK_MSG(worst < 1e-4, "worst difference %g", worst);
  fr_session_free(s);
  fr_model_free(m);
  unlink(p);
}

TEST(unknown_op) {
  tiny t;
  tiny_init(&t);
  t.relu.op_type = (char *)"FancyOp";
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "relu1", "FancyOp");
}

TEST(foreign_domain) {
  tiny t;
  tiny_init(&t);
  t.relu.domain = (char *)"com.microsoft";
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "relu1", "com.microsoft");
}

TEST(missing_input) {
  tiny t;
  tiny_init(&t);
  t.relu_in[0] = (char *)"nowhere";
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "relu1", "nowhere");
}

TEST(cycle) {
  tiny t;
  tiny_init(&t);
  t.conv_in[0] = (char *)"y"; /* conv reads relu's output, relu reads conv's */
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "cycle");
  tiny_init(&t);
  t.relu_in[0] = (char *)"y"; /* self loop */
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "relu1", "cycle");
}

TEST(nodes_out_of_order_are_fine) {
  tiny t;
  tiny_init(&t);
  t.nodes[0] = &t.relu;
  t.nodes[1] = &t.conv;
  fr_error e;
  CHECK_STATUS(tiny_load(&t, &e), FR_OK);
}

TEST(duplicate_output) {
  tiny t;
  tiny_init(&t);
  t.relu_out[0] = (char *)"c1";
  t.relu_in[0] = (char *)"x";
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "c1", "twice");
  tiny_init(&t);
  t.relu_out[0] = (char *)"x"; /* overwrites the graph input */
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "relu1", "'x'");
}

TEST(raw_data_size_mismatch) {
  tiny t;
  tiny_init(&t);
  t.w.raw_data.len -= 4;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "'W'", "raw_data");
  tiny_init(&t);
  t.b.n_float_data = CO - 1;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "'B'");
}

TEST(huge_and_negative_dims) {
  tiny t;
  tiny_init(&t);
  t.wdims[0] = 1000000, t.wdims[1] = 1000000; /* 9e12 elements */
  EXPECT_FAIL(&t, FR_ERR_TOO_LARGE, "'W'");
  tiny_init(&t);
  t.wdims[0] = INT64_MAX, t.wdims[1] = INT64_MAX; /* overflow */
  EXPECT_FAIL(&t, FR_ERR_TOO_LARGE, "'W'");
  tiny_init(&t);
  t.wdims[0] = -4;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "'W'", "negative");
  tiny_init(&t);
  t.dims[2].dim_value = -5; /* declared input shape */
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "'x'", "negative");
  tiny_init(&t);
  int64_t many[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  t.w.dims = many;
  t.w.n_dims = 12;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "'W'", "dims");
}

TEST(wrong_dtype) {
  tiny t;
  tiny_init(&t);
  t.w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
  t.w.raw_data.len = sizeof t.wdata / 2; /* half the count: irrelevant, type is checked first */
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "'W'", "DOUBLE");
  tiny_init(&t);
  t.in_tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "'x'");
}

TEST(wrong_attributes) {
  tiny t;
  tiny_init(&t);
  /* strides as a float */
  t.a_s.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  t.a_s.has_f = 1;
  t.a_s.f = 1.0f;
  t.a_s.n_ints = 0;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "strides");
  /* an attribute Conv does not have */
  tiny_init(&t);
  attr_ints(&t.a_x, "frobnicate", t.ks, 2);
  t.conv_attrs[3] = &t.a_x;
  t.conv.n_attribute = 4;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "conv1", "frobnicate");
  /* pads of the wrong length, negative, strides 0 */
  tiny_init(&t);
  t.a_p.n_ints = 3;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "conv1", "pads");
  tiny_init(&t);
  t.pads[1] = -1;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "pads");
  tiny_init(&t);
  t.strides[0] = 0;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "strides");
  /* kernel_shape disagrees with the weights */
  tiny_init(&t);
  t.ks[0] = 5;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "kernel_shape");
  /* group does not divide the output channels */
  tiny_init(&t);
  Onnx__AttributeProto z = ONNX__ATTRIBUTE_PROTO__INIT;
  t.a_g = z;
  t.a_g.name = (char *)"group";
  t.a_g.has_type = 1;
  t.a_g.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  t.a_g.has_i = 1;
  t.a_g.i = 3;
  t.conv_attrs[3] = &t.a_g;
  t.conv.n_attribute = 4;
  EXPECT_FAIL(&t, FR_ERR_SHAPE, "conv1", "group");
  /* auto_pad garbage */
  tiny_init(&t);
  t.a_x = z;
  t.a_x.name = (char *)"auto_pad";
  t.a_x.has_type = 1;
  t.a_x.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
  t.a_x.has_s = 1;
  t.a_x.s.data = (uint8_t *)"SIDEWAYS";
  t.a_x.s.len = 8;
  t.conv_attrs[3] = &t.a_x;
  t.conv.n_attribute = 4;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "auto_pad");
}

TEST(model_level) {
  tiny t;
  tiny_init(&t);
  t.opset.version = 3;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "opset 3");
  tiny_init(&t);
  t.opset.version = 18;
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "opset 18");
  tiny_init(&t);
  t.model.graph = NULL;
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "graph");
  tiny_init(&t);
  t.out_vi.name = (char *)"ghost";
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "ghost");
  tiny_init(&t);
  t.conv.n_input = 1; /* Conv without weights */
  EXPECT_FAIL(&t, FR_ERR_FORMAT, "conv1", "inputs");
  tiny_init(&t);
  t.conv_in[1] = (char *)"x"; /* weights not constant */
  EXPECT_FAIL(&t, FR_ERR_UNSUPPORTED, "conv1", "constant");
}

TEST(truncated_real_model) {
  const char *src = fr_t_env("FR_SOURCE_DIR", ".");
  char path[1024];
  snprintf(path, sizeof path, "%s/models/faceplugin/fr_eye.onnx", src);
  size_t n = 0;
  uint8_t *b = fr_t_read_file(path, &n);
  if (!b) {
    printf("  (skipped: %s not found)\n", path);
    return;
  }
  fr_error e;
  CHECK_STATUS(load_bytes(b, n, &e), FR_OK); /* the intact file loads */
  size_t cuts[] = {1, 2, 5, 17, 100, 1000, n / 3, n / 2, n - 100, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    if (cuts[i] >= n) continue;
    fr_status st = load_bytes(b, cuts[i], &e);
    CHECK_MSG(st == FR_ERR_FORMAT || st == FR_ERR_UNSUPPORTED, "cut at %zu: status %d (%s)",
              cuts[i], (int)st, e.msg);
    CHECK_MSG(strstr(e.msg, g_dir) != NULL, "cut at %zu: no path in '%s'", cuts[i], e.msg);
  }
  /* random byte flips: any status, no crash, no leak */
  unsigned seed = 12345;
  uint8_t *c = malloc(n);
  int ok = 0;
  for (int it = 0; it < 60; it++) {
    memcpy(c, b, n);
    for (int k = 0; k < 4; k++) c[fr_t_rand(&seed) % n] ^= (uint8_t)(1u << (fr_t_rand(&seed) % 8));
    if (load_bytes(c, n, &e) == FR_OK) ok++;
  }
  printf("  byte-flipped fr_eye: %d of 60 still loaded\n", ok);
  free(c);
  free(b);
}

TEST(mutated_tiny_model) {
  tiny t;
  tiny_init(&t);
  size_t n = 0;
  uint8_t *b = tiny_pack(&t, &n);
  uint8_t *c = malloc(n);
  unsigned seed = 99;
  int ok = 0;
  fr_error e;
  for (int it = 0; it < 1500; it++) {
    memcpy(c, b, n);
    int flips = 1 + (int)(fr_t_rand(&seed) % 3);
    for (int k = 0; k < flips; k++) c[fr_t_rand(&seed) % n] = (uint8_t)fr_t_rand(&seed);
    size_t len = it % 7 == 0 ? fr_t_rand(&seed) % n + 1 : n;
    if (load_bytes(c, len, &e) == FR_OK) ok++;
  }
  printf("  mutated tiny model: %d of 1500 still loaded\n", ok);
  free(c);
  free(b);
}

TEST(garbage_and_empty) {
  fr_error e;
  unsigned seed = 4242;
  size_t lens[] = {1, 3, 16, 257, 4096, 100000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    uint8_t *g = malloc(lens[i]);
    for (size_t k = 0; k < lens[i]; k++) g[k] = (uint8_t)fr_t_rand(&seed);
    g[0] = 0x08; /* not '{' (TF.js) and no TFL3 mark: goes to the ONNX loader */
    if (lens[i] >= 8) memset(g + 4, 0, 4);
    fr_status st = load_bytes(g, lens[i], &e);
    CHECK_MSG(st == FR_ERR_FORMAT || st == FR_ERR_UNSUPPORTED, "garbage %zu: status %d (%s)",
              lens[i], (int)st, e.msg);
    free(g);
  }
  CHECK_STATUS(load_bytes("", 0, &e), FR_ERR_FORMAT);
  fr_model *m = NULL;
  char p[512];
  snprintf(p, sizeof p, "%s/does_not_exist.onnx", g_dir);
  CHECK_STATUS(fr_model_load(p, NULL, &m, &e), FR_ERR_IO);
  CHECK(m == NULL);
}

/* ModelProto.graph -> GraphProto.node -> NodeProto.attribute -> AttributeProto.g
 * -> ... 200000 levels: protobuf-c's recursive unpacker would overflow the stack. */
TEST(deep_nesting) {
  const int levels = 200000;
  size_t cap = (size_t)levels * 6 + 16;
  uint8_t *buf = malloc(cap);
  size_t pos = cap; /* fill from the end */
  static const uint8_t tags[3] = {(1 << 3) | 2, (5 << 3) | 2, (6 << 3) | 2}; /* node, attribute, g */
  for (int l = 0; l < levels; l++) {
    size_t inner = cap - pos;
    uint8_t v[10];
    int nv = 0;
    size_t x = inner;
    do {
      v[nv++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
      x >>= 7;
    } while (x);
    pos -= (size_t)nv;
    memcpy(buf + pos, v, (size_t)nv);
    buf[--pos] = l == levels - 1 ? (uint8_t)((7 << 3) | 2) : tags[l % 3];
  }
  fr_error e;
  fr_status st = load_bytes(buf + pos, cap - pos, &e);
  CHECK_MSG(st == FR_ERR_FORMAT, "status %d: %s", (int)st, e.msg);
  CHECK_MSG(strstr(e.msg, "nested") != NULL, "message: %s", e.msg);
  free(buf);
}

/* opset < 13 Softmax is over the flattened dims axis..end (coerced to 2-D). */
TEST(softmax_opset9_coerced) {
  Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
  Onnx__OperatorSetIdProto o = ONNX__OPERATOR_SET_ID_PROTO__INIT, *os[1] = {&o};
  Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
  Onnx__NodeProto n = ONNX__NODE_PROTO__INIT, *ns[1] = {&n};
  Onnx__AttributeProto a = ONNX__ATTRIBUTE_PROTO__INIT, *as[1] = {&a};
  Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT, vo = ONNX__VALUE_INFO_PROTO__INIT;
  Onnx__ValueInfoProto *vis[1] = {&vi}, *vos[1] = {&vo};
  Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
  Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
  Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
  Onnx__TensorShapeProto__Dimension d[3], *dp[3];
  int64_t dims[3] = {2, 2, 3};
  for (int i = 0; i < 3; i++) {
    Onnx__TensorShapeProto__Dimension z = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    d[i] = z;
    d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d[i].dim_value = dims[i];
    dp[i] = &d[i];
  }
  sh.dim = dp;
  sh.n_dim = 3;
  tt.has_elem_type = 1;
  tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt.shape = &sh;
  ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  ty.tensor_type = &tt;
  vi.name = (char *)"x";
  vi.type = &ty;
  vo.name = (char *)"y";
  char *in[1] = {(char *)"x"}, *out[1] = {(char *)"y"};
  n.name = (char *)"sm";
  n.op_type = (char *)"Softmax";
  n.input = in;
  n.n_input = 1;
  n.output = out;
  n.n_output = 1;
  a.name = (char *)"axis";
  a.has_type = 1;
  a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  a.has_i = 1;
  a.i = 1;
  n.attribute = as;
  n.n_attribute = 1;
  g.name = (char *)"g";
  g.node = ns;
  g.n_node = 1;
  g.input = vis;
  g.n_input = 1;
  g.output = vos;
  g.n_output = 1;
  o.has_version = 1;
  o.version = 9;
  m.has_ir_version = 1;
  m.ir_version = 6;
  m.opset_import = os;
  m.n_opset_import = 1;
  m.graph = &g;
  size_t len = onnx__model_proto__get_packed_size(&m);
  uint8_t *b = malloc(len);
  onnx__model_proto__pack(&m, b);
  const char *p = put_file(b, len);
  free(b);
  fr_model *md = NULL;
  fr_session *s = NULL;
  fr_error err;
  CHECK_STATUS(fr_model_load(p, NULL, &md, &err), FR_OK);
  if (!md) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_STATUS(fr_session_create(md, NULL, &s, &err), FR_OK);
  float x[12];
  for (int i = 0; i < 12; i++) x[i] = 0.25f * (float)i - 1.0f;
  CHECK_STATUS(fr_session_set_input(s, 0, x, dims, 3, &err), FR_OK);
  CHECK_STATUS(fr_session_run(s, &err), FR_OK);
  fr_tensor_view y;
  CHECK_STATUS(fr_session_output(s, 0, &y, &err), FR_OK);
  CHECK(y.count == 12 && y.rank == 3);
  for (int b2 = 0; b2 < 2 && y.count == 12; b2++) {
    double sum = 0;
    for (int k = 0; k < 6; k++) sum += exp(x[b2 * 6 + k]);
    for (int k = 0; k < 6; k++) {
      double want = exp(x[b2 * 6 + k]) / sum;
      CHECK_MSG(fabs(y.data[b2 * 6 + k] - want) < 1e-6, "y[%d] = %g, want %g", b2 * 6 + k,
                y.data[b2 * 6 + k], want);
    }
  }
  fr_session_free(s);
  fr_model_free(md);
  unlink(p);
}

static void setup(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/fr_onnx_hostile.XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    exit(2);
  }
}

TEST(teardown) { rmdir(g_dir); }

static void setup_test(void) { setup(); }

RUN_TESTS(T(setup_test), T(tiny_model_runs), T(unknown_op), T(foreign_domain), T(missing_input),
          T(cycle), T(nodes_out_of_order_are_fine), T(duplicate_output), T(raw_data_size_mismatch),
          T(huge_and_negative_dims), T(wrong_dtype), T(wrong_attributes), T(model_level),
          T(truncated_real_model), T(mutated_tiny_model), T(garbage_and_empty), T(deep_nesting),
          T(softmax_opset9_coerced), T(teardown))
