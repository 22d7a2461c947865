/*
 * The TFLite loader on hostile input: truncated and bit-flipped real models,
 * garbage, a wrong identifier, and small hand-built models that each break one
 * rule (buffer size, op code, tensor index, huge shape, cycle, type). Every
 * load must return FR_OK or an error with a message; nothing may crash (run
 * under -DFR_SANITIZE=ON to check memory safety).
 */
#include <stdint.h>

#include "nn/tflite/tflite_loader.h"
#include "testutil.h"

static char g_path[1024];

static const char *model_path(const char *name) {
  snprintf(g_path, sizeof g_path, "%s/models/expo/%s", fr_t_env("FR_SOURCE_DIR", "."), name);
  return g_path;
}

/* Loads from memory; checks the status/message contract; returns the status. */
static fr_status load_mem(const void *data, size_t n, int *n_nodes) {
  fr__graph g;
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__graph_init(&g, "mem.tflite", "tflite");
  fr_status st = fr__tflite_load_buffer(data, n, &g, &err);
  CHECK((int)st >= 0 && st < FR_STATUS_COUNT);
  if (st != FR_OK) CHECK_MSG(err.msg[0] != 0, "status %d without a message", (int)st);
  if (n_nodes) *n_nodes = g.n_nodes;
  fr__graph_free(&g);
  return st;
}

/* ---- a tiny forward FlatBuffer writer for hand-built models ---- */

typedef struct fbw {
  uint8_t b[8192];
  uint32_t n;
} fbw;

static void w_u32(fbw *w, uint32_t pos, uint32_t v) {
  w->b[pos] = (uint8_t)v;
  w->b[pos + 1] = (uint8_t)(v >> 8);
  w->b[pos + 2] = (uint8_t)(v >> 16);
  w->b[pos + 3] = (uint8_t)(v >> 24);
}
static uint32_t w_alloc(fbw *w, uint32_t n) {
  w->n = (w->n + 3) & ~3u;
  uint32_t p = w->n;
  w->n += n;
  return p;
}
/* Table with nf 4-byte field slots; present = bit mask. Field i at pos+4+4i. */
static uint32_t w_table(fbw *w, int nf, unsigned present) {
  uint32_t vl = 4 + 2 * (uint32_t)nf;
  uint32_t vt = w_alloc(w, (vl + 3) & ~3u);
  w->b[vt] = (uint8_t)vl;
  w->b[vt + 2] = (uint8_t)(4 + 4 * nf);
  for (int i = 0; i < nf; i++)
    if (present & (1u << i)) w->b[vt + 4 + 2 * i] = (uint8_t)(4 + 4 * i);
  uint32_t t = w_alloc(w, 4 + 4 * (uint32_t)nf);
  w_u32(w, t, t - vt); /* soffset: vtable = table - soffset */
  return t;
}
static uint32_t fpos(uint32_t t, int i) { return t + 4 + 4 * (uint32_t)i; }
static void w_ref(fbw *w, uint32_t field, uint32_t target) { w_u32(w, field, target - field); }
static uint32_t w_vec_i32(fbw *w, const int32_t *v, uint32_t n) {
  uint32_t p = w_alloc(w, 4 + 4 * n);
  w_u32(w, p, n);
  for (uint32_t i = 0; i < n; i++) w_u32(w, p + 4 + 4 * i, (uint32_t)v[i]);
  return p;
}
static uint32_t w_bytes(fbw *w, const void *d, uint32_t n) {
  uint32_t p = w_alloc(w, 4 + n + 1);
  w_u32(w, p, n);
  memcpy(w->b + p + 4, d, n);
  return p;
}
static uint32_t w_str(fbw *w, const char *s) { return w_bytes(w, s, (uint32_t)strlen(s)); }
static uint32_t w_vec_tab(fbw *w, uint32_t n) {
  uint32_t p = w_alloc(w, 4 + 4 * n);
  w_u32(w, p, n);
  return p;
}

/* The knobs each hostile variant changes in the model below. */
typedef struct spec {
  int op_code;          /* builtin code of operator 0 (3 = CONV_2D) */
  const char *custom;   /* custom_code, when op_code == 32 */
  int weights_bytes;    /* bytes in the weights buffer (16 = correct) */
  int32_t in0;          /* tensor index of operator 0's first input (0) */
  int32_t wdim0;        /* weights dim 0 (2) */
  int wtype;            /* weights tensor type (0 = FLOAT32) */
  bool cycle;           /* add a second op that feeds its own output */
} spec;

static const spec k_good = {3, NULL, 16, 0, 2, 0, false};

/* input t0 [1,4,4,2] -> CONV_2D(w t1 [2,1,1,2], VALID) -> t2 [1,4,4,2] (-> ADD(t3,t3)->t3). */
static uint32_t build(fbw *w, const spec *s) {
  memset(w, 0, sizeof *w);
  w->n = 8;
  memcpy(w->b + 4, "TFL3", 4);
  uint32_t model = w_table(w, 5, 0x1f);
  w_u32(w, 0, model);
  w_u32(w, fpos(model, 0), 3);
  /* operator codes */
  uint32_t ocv = w_vec_tab(w, 2);
  w_ref(w, fpos(model, 1), ocv);
  for (int i = 0; i < 2; i++) {
    int code = i == 0 ? s->op_code : 0; /* second code: ADD */
    uint32_t oc = w_table(w, 4, (s->custom && i == 0) ? 0xb : 0x9);
    w_ref(w, ocv + 4 + 4 * (uint32_t)i, oc);
    w->b[fpos(oc, 0)] = (uint8_t)(code < 127 ? code : 127);
    w_u32(w, fpos(oc, 3), (uint32_t)code);
    if (s->custom && i == 0) w_ref(w, fpos(oc, 1), w_str(w, s->custom));
  }
  /* subgraphs */
  uint32_t sgv = w_vec_tab(w, 1);
  w_ref(w, fpos(model, 2), sgv);
  uint32_t sg = w_table(w, 5, 0x1f);
  w_ref(w, sgv + 4, sg);
  int n_t = s->cycle ? 4 : 3;
  uint32_t tv = w_vec_tab(w, (uint32_t)n_t);
  w_ref(w, fpos(sg, 0), tv);
  static const char *const names[] = {"input", "weights", "conv_out", "loop"};
  for (int k = 0; k < n_t; k++) {
    uint32_t t = w_table(w, 4, 0xf);
    w_ref(w, tv + 4 + 4 * (uint32_t)k, t);
    int32_t shp_in[4] = {1, 4, 4, 2}, shp_w[4] = {s->wdim0, 1, 1, 2};
    w_ref(w, fpos(t, 0), w_vec_i32(w, k == 1 ? shp_w : shp_in, 4));
    w->b[fpos(t, 1)] = (uint8_t)(k == 1 ? s->wtype : 0);
    w_u32(w, fpos(t, 2), k == 1 ? 1 : 0);
    w_ref(w, fpos(t, 3), w_str(w, names[k]));
  }
  int32_t gin[1] = {0}, gout[1] = {2};
  w_ref(w, fpos(sg, 1), w_vec_i32(w, gin, 1));
  w_ref(w, fpos(sg, 2), w_vec_i32(w, gout, 1));
  int n_ops = s->cycle ? 2 : 1;
  uint32_t opv = w_vec_tab(w, (uint32_t)n_ops);
  w_ref(w, fpos(sg, 3), opv);
  for (int i = 0; i < n_ops; i++) {
    uint32_t op = w_table(w, 5, i == 0 ? 0x1f : 0x7);
    w_ref(w, opv + 4 + 4 * (uint32_t)i, op);
    w_u32(w, fpos(op, 0), (uint32_t)i);
    int32_t in_conv[2] = {s->in0, 1}, out_conv[1] = {2}, in_add[2] = {3, 2}, out_add[1] = {3};
    w_ref(w, fpos(op, 1), w_vec_i32(w, i == 0 ? in_conv : in_add, 2));
    w_ref(w, fpos(op, 2), w_vec_i32(w, i == 0 ? out_conv : out_add, 1));
    if (i == 0) {
      w->b[fpos(op, 3)] = 1; /* Conv2DOptions */
      uint32_t opt = w_table(w, 3, 0x7);
      w_ref(w, fpos(op, 4), opt);
      w->b[fpos(opt, 0)] = 1; /* VALID */
      w_u32(w, fpos(opt, 1), 1);
      w_u32(w, fpos(opt, 2), 1);
    }
  }
  w_ref(w, fpos(sg, 4), w_str(w, "main"));
  w_ref(w, fpos(model, 3), w_str(w, "hand-built"));
  /* buffers: 0 = empty sentinel, 1 = weights */
  uint32_t bv = w_vec_tab(w, 2);
  w_ref(w, fpos(model, 4), bv);
  for (int i = 0; i < 2; i++) {
    uint32_t bt = w_table(w, 1, i ? 1 : 0);
    w_ref(w, bv + 4 + 4 * (uint32_t)i, bt);
    if (i) {
      float wd[8] = {1, 0, 0, 1, 0.5f, 0.5f, -1, 2};
      w_ref(w, fpos(bt, 0), w_bytes(w, wd, (uint32_t)s->weights_bytes));
    }
  }
  return w->n;
}

static fr_status load_spec(const spec *s, fr_error *err, int *n_nodes) {
  static fbw w;
  uint32_t n = build(&w, s);
  fr__graph g;
  memset(err, 0, sizeof *err);
  fr__graph_init(&g, "hand.tflite", "tflite");
  fr_status st = fr__tflite_load_buffer(w.b, n, &g, err);
  if (n_nodes) *n_nodes = g.n_nodes;
  fr__graph_free(&g);
  return st;
}

TEST(hand_built_valid) {
  fr_error err;
  int nodes = 0;
  CHECK_STATUS(load_spec(&k_good, &err, &nodes), FR_OK);
  CHECK_MSG(nodes == 1, "nodes = %d (%s)", nodes, err.msg);
}

TEST(buffer_size_mismatch) {
  spec s = k_good;
  s.weights_bytes = 12;
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_FORMAT);
  CHECK_MSG(strstr(err.msg, "weights") != NULL, "%s", err.msg);
}

TEST(unknown_builtin_op) {
  spec s = k_good;
  s.op_code = 250;
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(err.msg, "operator #0") && strstr(err.msg, "conv_out") &&
                strstr(err.msg, "BUILTIN_250"),
            "%s", err.msg);
}

TEST(unsupported_builtin_op) {
  spec s = k_good;
  s.op_code = 16; /* LSTM */
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(err.msg, "LSTM") && strstr(err.msg, "conv_out"), "%s", err.msg);
}

TEST(custom_op) {
  spec s = k_good;
  s.op_code = 32;
  s.custom = "MyFancyOp";
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(err.msg, "MyFancyOp") != NULL, "%s", err.msg);
}

TEST(tensor_index_out_of_range) {
  spec s = k_good;
  s.in0 = 7;
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_FORMAT);
  s.in0 = -5;
  CHECK(load_spec(&s, &err, NULL) != FR_OK);
}

TEST(huge_shape) {
  spec s = k_good;
  s.wdim0 = 0x7fffffff;
  fr_error err;
  fr_status st = load_spec(&s, &err, NULL);
  CHECK_MSG(st == FR_ERR_TOO_LARGE || st == FR_ERR_FORMAT, "status %d: %s", (int)st, err.msg);
}

TEST(quantized_type) {
  spec s = k_good;
  s.wtype = 9; /* INT8 */
  fr_error err;
  CHECK_STATUS(load_spec(&s, &err, NULL), FR_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(err.msg, "INT8") != NULL, "%s", err.msg);
}

TEST(cycle) {
  spec s = k_good;
  s.cycle = true;
  fr_error err;
  CHECK(load_spec(&s, &err, NULL) == FR_ERR_FORMAT);
}

TEST(wrong_identifier) {
  static fbw w;
  uint32_t n = build(&w, &k_good);
  memcpy(w.b + 4, "TFL2", 4);
  CHECK_STATUS(load_mem(w.b, n, NULL), FR_ERR_FORMAT);
}

TEST(garbage) {
  unsigned seed = 12345;
  uint8_t buf[4096];
  for (int round = 0; round < 200; round++) {
    size_t n = (size_t)(fr_t_rand(&seed) % sizeof buf);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)fr_t_rand(&seed);
    if (n >= 8 && (round & 1)) memcpy(buf + 4, "TFL3", 4);
    if (n >= 8 && (round & 2)) { buf[0] = 8; buf[1] = buf[2] = buf[3] = 0; }
    CHECK(load_mem(buf, n, NULL) != FR_OK);
  }
  CHECK(load_mem(buf, 0, NULL) != FR_OK);
  CHECK(load_mem(NULL, 0, NULL) != FR_OK);
}

TEST(real_models_load) {
  static const char *const names[] = {"pnet.tflite", "rnet.tflite", "onet.tflite",
                                      "MobileFaceNet.tflite", "FaceAntiSpoofing.tflite"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    fr__graph g;
    fr_error err = {{0}};
    const char *p = model_path(names[i]);
    fr__graph_init(&g, p, "tflite");
    fr_status st = fr__tflite_load(p, &g, &err);
    CHECK_MSG(st == FR_OK, "%s: %s", names[i], err.msg);
    if (st == FR_OK) CHECK(g.n_nodes > 10 && g.n_inputs == 1 && g.n_outputs >= 1);
    fr__graph_free(&g);
  }
  fr__graph g;
  fr_error err;
  fr__graph_init(&g, "/nonexistent.tflite", "tflite");
  CHECK_STATUS(fr__tflite_load("/nonexistent.tflite", &g, &err), FR_ERR_NOT_FOUND);
  fr__graph_free(&g);
}

TEST(truncated) {
  static const char *const names[] = {"pnet.tflite", "rnet.tflite"};
  for (size_t m = 0; m < 2; m++) {
    size_t n;
    uint8_t *data = fr_t_read_file(model_path(names[m]), &n);
    CHECK_MSG(data != NULL, "cannot read %s", names[m]);
    if (!data) continue;
    int nodes_full = 0;
    CHECK_STATUS(load_mem(data, n, &nodes_full), FR_OK);
    int tried = 0, failed = 0;
    size_t step = n / 150 + 1;
    for (size_t cut = 0; cut < n; cut += step) {
      /* a fresh allocation of exactly cut bytes, so ASan sees any overread */
      uint8_t *copy = malloc(cut ? cut : 1);
      memcpy(copy, data, cut);
      tried++;
      failed += load_mem(copy, cut, NULL) != FR_OK;
      free(copy);
    }
    /* cutting a real model (data up to the end) must almost always be noticed */
    CHECK_MSG(failed >= tried - 2, "%s: %d of %d truncations loaded", names[m], tried - failed, tried);
    free(data);
  }
}

TEST(mutated_pnet) {
  size_t n;
  uint8_t *data = fr_t_read_file(model_path("pnet.tflite"), &n);
  CHECK(data != NULL);
  if (!data) return;
  uint8_t *copy = malloc(n);
  unsigned seed = 777;
  int ok = 0, bad = 0;
  for (int round = 0; round < 600; round++) {
    memcpy(copy, data, n);
    int flips = 1 + (round % 5 == 4 ? (int)(fr_t_rand(&seed) % 8) : 0);
    for (int f = 0; f < flips; f++) {
      size_t at = (size_t)fr_t_rand(&seed) % n;
      /* mostly small offsets (structure), some anywhere */
      if (round & 1) at = (size_t)fr_t_rand(&seed) % (n < 2048 ? n : 2048);
      uint8_t v = (uint8_t)fr_t_rand(&seed);
      if (round % 3 == 0) v = copy[at] ^ (uint8_t)(1u << (fr_t_rand(&seed) % 8));
      copy[at] = v;
    }
    if (load_mem(copy, n, NULL) == FR_OK) ok++;
    else bad++;
  }
  printf("     mutated pnet: %d loaded, %d rejected\n", ok, bad);
  free(copy);
  free(data);
}

RUN_TESTS(T(hand_built_valid), T(buffer_size_mismatch), T(unknown_builtin_op),
          T(unsupported_builtin_op), T(custom_op), T(tensor_index_out_of_range), T(huge_shape),
          T(quantized_type), T(cycle), T(wrong_identifier), T(garbage), T(real_models_load),
          T(truncated), T(mutated_pnet))
