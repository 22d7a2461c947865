/*
 * Reference kernels and shape functions of every op, on small hand-computed
 * cases (including the edge cases the loaders rely on) and error cases.
 */
#include <stdint.h>

#include "nn/ops.h"
#include "testutil.h"

/* ---- harness ---- */

typedef struct tnode {
  fr__node n;
  int in[8];
  int out[8];
} tnode;

static void tn(tnode *t, fr__op op, int nin, int nout) {
  memset(t, 0, sizeof *t);
  t->n.op = op;
  t->n.name = "n1";
  t->n.n_in = nin;
  t->n.n_out = nout;
  for (int i = 0; i < 8; i++) t->in[i] = i, t->out[i] = 100 + i;
  t->n.in = t->in;
  t->n.out = t->out;
  if (op == FR__OP_CONV2D) t->n.a.conv.out_min = -INFINITY, t->n.a.conv.out_max = INFINITY;
  if (op == FR__OP_FULLY_CONNECTED) t->n.a.fc.out_min = -INFINITY, t->n.a.fc.out_max = INFINITY;
}

static fr__tensor mk(fr__dtype dt, void *data, int rank, const int64_t *d) {
  fr__tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.data = data;
  t.shape.rank = rank;
  for (int i = 0; i < rank; i++) t.shape.d[i] = d[i];
  return t;
}
#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TF(data, ...) mk(FR__F32, (data), NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})
#define TI(data, ...) mk(FR__I64, (data), NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})
static fr__tensor absent(void) {
  fr__tensor t;
  memset(&t, 0, sizeof t);
  t.shape.rank = -1;
  return t;
}

static fr_error g_err;

/* Runs shape + ref; allocates outputs (free with freeout). */
static fr_status run(tnode *t, fr__tensor *in, fr__tensor *out) {
  const fr__op_info *info = &fr__op_table[t->n.op];
  for (int k = 0; k < t->n.n_out; k++) memset(&out[k], 0, sizeof out[k]);
  g_err.msg[0] = 0;
  fr_status st = info->shape(&t->n, in, out, &g_err);
  if (st) return st;
  for (int k = 0; k < t->n.n_out; k++) {
    int64_t e = 1;
    for (int i = 0; i < out[k].shape.rank; i++) e *= out[k].shape.d[i];
    out[k].data = calloc((size_t)e + 1, 8);
  }
  return info->ref(&t->n, in, out);
}

static void freeout(fr__tensor *out, int n) {
  for (int k = 0; k < n; k++) free(out[k].data), out[k].data = NULL;
}

static int64_t elems(const fr__tensor *t) {
  int64_t e = 1;
  for (int i = 0; i < t->shape.rank; i++) e *= t->shape.d[i];
  return e;
}

static void check_shape_(const fr__tensor *t, int rank, const int64_t *d, int line) {
  bool ok = t->shape.rank == rank;
  for (int i = 0; ok && i < rank; i++) ok = t->shape.d[i] == d[i];
  CHECK_MSG(ok, "line %d: shape mismatch (rank %d vs %d, d0 %lld)", line, t->shape.rank, rank,
            t->shape.rank > 0 ? (long long)t->shape.d[0] : -1LL);
}
#define CHECK_SHAPE(t, ...) check_shape_(&(t), NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__}, __LINE__)

static void check_f32_(const fr__tensor *t, const float *e, int n, float tol, int line) {
  CHECK_MSG(t->dtype == FR__F32, "line %d: dtype %d", line, t->dtype);
  CHECK_MSG(elems(t) == n, "line %d: %lld elements, expected %d", line, (long long)elems(t), n);
  if (elems(t) != n || !t->data) return;
  const float *v = t->data;
  for (int i = 0; i < n; i++) {
    float d = fabsf(v[i] - e[i]);
    CHECK_MSG(d <= tol * (1.0f + fabsf(e[i])) || (isnan(v[i]) && isnan(e[i])),
              "line %d: [%d] = %.7g, expected %.7g", line, i, (double)v[i], (double)e[i]);
  }
}
#define CHECK_F32(t, ...)                                                                   \
  check_f32_(&(t), (float[]){__VA_ARGS__},                                                  \
             (int)(sizeof((float[]){__VA_ARGS__}) / sizeof(float)), 1e-5f, __LINE__)

static void check_i64_(const fr__tensor *t, const int64_t *e, int n, int line) {
  CHECK_MSG(t->dtype == FR__I64, "line %d: dtype %d", line, t->dtype);
  CHECK_MSG(elems(t) == n, "line %d: %lld elements, expected %d", line, (long long)elems(t), n);
  if (elems(t) != n || !t->data) return;
  const int64_t *v = t->data;
  for (int i = 0; i < n; i++)
    CHECK_MSG(v[i] == e[i], "line %d: [%d] = %lld, expected %lld", line, i, (long long)v[i],
              (long long)e[i]);
}
#define CHECK_I64(t, ...)                                                                   \
  check_i64_(&(t), (int64_t[]){__VA_ARGS__},                                                \
             (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), __LINE__)

static void iota(float *v, int n) {
  for (int i = 0; i < n; i++) v[i] = (float)i;
}

/* ---- table ---- */

TEST(table_complete) {
  static const char *names[] = {
#define NAME(x) #x,
      FR__OP_MAP(NAME)
#undef NAME
  };
  for (int op = 0; op < FR__OP_COUNT; op++) {
    const fr__op_info *e = &fr__op_table[op];
    CHECK_MSG(e->name && strcmp(e->name, names[op]) == 0, "op %d name %s", op, names[op]);
    CHECK_MSG(e->shape != NULL, "op %s has no shape function", names[op]);
    CHECK_MSG(e->ref != NULL, "op %s has no reference kernel", names[op]);
    CHECK_MSG(e->min_in >= 1 && (e->max_in == -1 || e->max_in >= e->min_in), "op %s arity",
              names[op]);
    CHECK_MSG(e->min_out >= 1 && (e->max_out == -1 || e->max_out >= e->min_out), "op %s outs",
              names[op]);
    CHECK(strcmp(fr__op_name((fr__op)op), names[op]) == 0);
  }
  CHECK(fr__op_table[FR__OP_CONV2D].flops && fr__op_table[FR__OP_FULLY_CONNECTED].flops &&
        fr__op_table[FR__OP_MATMUL].flops);
  CHECK(strcmp(fr__op_name(FR__OP_COUNT), "?") == 0);
  CHECK(strcmp(fr__op_name((fr__op)-1), "?") == 0);
}

TEST(resolve_pads_and_broadcast) {
  int t, l, b, r;
  /* SAME, stride 2, k3, in 6: total (3-1)*2 + 3 - 6 = 1 -> 0 / 1 (upper), 1 / 0 (lower) */
  fr__resolve_pads(FR__PAD_SAME_UPPER, 9, 9, 9, 9, 3, 3, 2, 2, 1, 1, 6, 5, &t, &l, &b, &r);
  CHECK(t == 0 && b == 1 && l == 1 && r == 1);
  fr__resolve_pads(FR__PAD_SAME_LOWER, 0, 0, 0, 0, 3, 3, 2, 2, 1, 1, 6, 6, &t, &l, &b, &r);
  CHECK(t == 1 && b == 0 && l == 1 && r == 0);
  /* dilation 2, k3 -> extent 5, stride 1, in 7: total 4 */
  fr__resolve_pads(FR__PAD_SAME_UPPER, 0, 0, 0, 0, 3, 3, 1, 1, 2, 2, 7, 7, &t, &l, &b, &r);
  CHECK(t == 2 && b == 2);
  /* stride larger than kernel: total clamps at 0 */
  fr__resolve_pads(FR__PAD_SAME_UPPER, 0, 0, 0, 0, 1, 1, 3, 3, 1, 1, 5, 5, &t, &l, &b, &r);
  CHECK(t == 0 && b == 0 && l == 0 && r == 0);
  fr__resolve_pads(FR__PAD_VALID, 1, 2, 3, 4, 3, 3, 1, 1, 1, 1, 5, 5, &t, &l, &b, &r);
  CHECK(t == 0 && l == 0 && b == 0 && r == 0);
  fr__resolve_pads(FR__PAD_EXPLICIT, 1, 2, 3, 4, 3, 3, 1, 1, 1, 1, 5, 5, &t, &l, &b, &r);
  CHECK(t == 1 && l == 2 && b == 3 && r == 4);

  fr__shape a = {3, {2, 1, 3}}, bb = {2, {4, 1}}, o;
  CHECK_STATUS(fr__broadcast_shape(&a, &bb, &o), FR_OK);
  CHECK(o.rank == 3 && o.d[0] == 2 && o.d[1] == 4 && o.d[2] == 3);
  fr__shape c = {2, {2, 3}}, d = {1, {4}}, s0 = {0, {0}};
  CHECK_STATUS(fr__broadcast_shape(&c, &d, &o), FR_ERR_SHAPE);
  CHECK_STATUS(fr__broadcast_shape(&c, &s0, &o), FR_OK);
  CHECK(o.rank == 2 && o.d[0] == 2 && o.d[1] == 3);
}

/* ---- conv / pools / fc / matmul ---- */

TEST(conv_valid_bias) {
  tnode t;
  tn(&t, FR__OP_CONV2D, 3, 1);
  float x[9], w[4] = {1, 2, 3, 4}, bias[1] = {0.5f};
  iota(x, 9); /* 3x3 */
  fr__tensor in[3] = {TF(x, 1, 3, 3, 1), TF(w, 1, 2, 2, 1), TF(bias, 1)}, out[1];
  t.n.a.conv.pad_mode = FR__PAD_VALID;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 2, 2, 1);
  /* [0 1;3 4]·[1 2;3 4] = 0+2+9+16 = 27 (+0.5) */
  CHECK_F32(out[0], 27.5f, 37.5f, 57.5f, 67.5f);
  CHECK(fr__op_table[FR__OP_CONV2D].flops(&t.n, in, out) == 2.0 * 4 * 4);
  freeout(out, 1);
}

TEST(conv_same_stride2) {
  tnode t;
  tn(&t, FR__OP_CONV2D, 2, 1);
  float x[25], w[9];
  for (int i = 0; i < 9; i++) w[i] = 1;
  iota(x, 16);
  t.n.a.conv.stride_h = t.n.a.conv.stride_w = 2;
  t.n.a.conv.pad_mode = FR__PAD_SAME_UPPER;
  fr__tensor in[2] = {TF(x, 1, 4, 4, 1), TF(w, 1, 3, 3, 1)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 2, 2, 1);
  CHECK_F32(out[0], 45, 39, 66, 50); /* pads t0 b1 l0 r1 */
  freeout(out, 1);
  t.n.a.conv.pad_mode = FR__PAD_SAME_LOWER;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 10, 24, 51, 90); /* pads t1 b0 l1 r0 */
  freeout(out, 1);
  /* odd size 5, stride 2: out 3, pads 1/1 */
  iota(x, 25);
  t.n.a.conv.pad_mode = FR__PAD_SAME_UPPER;
  in[0] = TF(x, 1, 5, 5, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 3, 3, 1);
  const float *y = out[0].data;
  CHECK(y[0] == 12 && y[4] == 108 && y[8] == 84);
  freeout(out, 1);
}

TEST(conv_depthwise_multiplier) {
  tnode t;
  tn(&t, FR__OP_CONV2D, 3, 1);
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* 2x2 pixels, C=2 */
  /* O = 4 = C * 2; w[o][kh][kw][0] */
  float w[16] = {1, 1, 1, 1, 1, 2, 3, 4, 1, 1, 1, 1, 1, 2, 3, 4};
  float bias[4] = {0.5f, 0, 0, -1};
  t.n.a.conv.groups = 2;
  t.n.a.conv.out_max = 55.0f;
  fr__tensor in[3] = {TF(x, 1, 2, 2, 2), TF(w, 4, 2, 2, 1), TF(bias, 4)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 1, 4);
  CHECK_F32(out[0], 16.5f, 50, 20, 55);
  freeout(out, 1);
}

TEST(conv_grouped_dilated) {
  tnode t;
  tn(&t, FR__OP_CONV2D, 2, 1);
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, -1};
  t.n.a.conv.groups = 2;
  t.n.a.conv.out_min = 0; /* fused RELU */
  fr__tensor in[2] = {TF(x, 1, 1, 1, 4), TF(w, 2, 1, 1, 2)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 3, 0);
  freeout(out, 1);
  /* dilation 2 along width, explicit pad 1 on the right */
  tn(&t, FR__OP_CONV2D, 2, 1);
  float x2[5] = {1, 2, 3, 4, 5}, w2[2] = {1, 10};
  t.n.a.conv.dil_w = 2;
  t.n.a.conv.pad_r = 2;
  fr__tensor in2[2] = {TF(x2, 1, 1, 5, 1), TF(w2, 1, 1, 2, 1)};
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 5, 1);
  CHECK_F32(out[0], 31, 42, 53, 4, 5);
  freeout(out, 1);
}

TEST(conv_errors) {
  tnode t;
  tn(&t, FR__OP_CONV2D, 2, 1);
  float x[8] = {0}, w[8] = {0};
  fr__tensor in[2] = {TF(x, 1, 2, 2, 2), TF(w, 1, 1, 1, 3)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE); /* 2 channels, weights expect 3 */
  CHECK(strstr(g_err.msg, "n1") && strstr(g_err.msg, "CONV2D"));
  in[1] = TF(w, 2, 1, 1, 1);
  t.n.a.conv.groups = 3;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  t.n.a.conv.groups = 1;
  in[1] = TF(w, 1, 3, 3, 2); /* kernel larger than the unpadded input */
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  in[0] = TF(x, 2, 2, 2); /* rank 3 */
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  in[0] = TF(x, 1, -1, 2, 2); /* unresolved dim */
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

TEST(pools) {
  tnode t;
  float x[9];
  iota(x, 9);
  fr__tensor in[1] = {TF(x, 1, 3, 3, 1)}, out[1];
  tn(&t, FR__OP_MAXPOOL2D, 1, 1);
  t.n.a.pool.kh = t.n.a.pool.kw = 2;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 4, 5, 7, 8);
  freeout(out, 1);
  /* ceil mode: 3 -> 2 with stride 2 */
  t.n.a.pool.stride_h = t.n.a.pool.stride_w = 2;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 1, 1);
  freeout(out, 1);
  t.n.a.pool.ceil_mode = true;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 2, 2, 1);
  CHECK_F32(out[0], 4, 5, 7, 8);
  freeout(out, 1);
  t.n.op = FR__OP_AVGPOOL2D;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 2, 3.5f, 6.5f, 8);
  freeout(out, 1);
  t.n.a.pool.count_include_pad = true; /* no padding: windows clip to the input (ORT) */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 2, 3.5f, 6.5f, 8);
  freeout(out, 1);

  /* count_include_pad both ways with explicit padding 1 */
  float x2[4] = {1, 2, 3, 4};
  fr__tensor in2[1] = {TF(x2, 1, 2, 2, 1)};
  tn(&t, FR__OP_AVGPOOL2D, 1, 1);
  t.n.a.pool.kh = t.n.a.pool.kw = 2;
  t.n.a.pool.pad_t = t.n.a.pool.pad_l = t.n.a.pool.pad_b = t.n.a.pool.pad_r = 1;
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 3, 3, 1);
  CHECK_F32(out[0], 1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4);
  freeout(out, 1);
  t.n.a.pool.count_include_pad = true;
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_F32(out[0], 0.25f, 0.75f, 0.5f, 1, 2.5f, 1.5f, 0.75f, 1.75f, 1);
  freeout(out, 1);
  /* max pool with padding never picks the padding */
  float x3[4] = {-1, -2, -3, -4};
  fr__tensor in3[1] = {TF(x3, 1, 2, 2, 1)};
  t.n.op = FR__OP_MAXPOOL2D;
  CHECK_STATUS(run(&t, in3, out), FR_OK);
  CHECK_F32(out[0], -1, -1, -2, -1, -1, -2, -3, -3, -4);
  freeout(out, 1);

  /* ceil mode: the last window may not start in the end padding (in 5, k2, s2, pad 1) */
  float x4[25] = {0};
  fr__tensor in4[1] = {TF(x4, 1, 5, 5, 1)};
  tn(&t, FR__OP_MAXPOOL2D, 1, 1);
  t.n.a.pool.kh = t.n.a.pool.kw = 2;
  t.n.a.pool.stride_h = t.n.a.pool.stride_w = 2;
  t.n.a.pool.pad_t = t.n.a.pool.pad_l = t.n.a.pool.pad_b = t.n.a.pool.pad_r = 1;
  t.n.a.pool.ceil_mode = true;
  CHECK_STATUS(run(&t, in4, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 3, 3, 1);
  freeout(out, 1);
  /* TF SAME avg pool excludes padding */
  tn(&t, FR__OP_AVGPOOL2D, 1, 1);
  t.n.a.pool.kh = t.n.a.pool.kw = 3;
  t.n.a.pool.stride_h = t.n.a.pool.stride_w = 2;
  t.n.a.pool.pad_mode = FR__PAD_SAME_UPPER;
  iota(x4, 16);
  in4[0] = TF(x4, 1, 4, 4, 1);
  CHECK_STATUS(run(&t, in4, out), FR_OK);
  CHECK_F32(out[0], 5, 6.5f, 11, 12.5f);
  freeout(out, 1);
}

TEST(fully_connected) {
  tnode t;
  tn(&t, FR__OP_FULLY_CONNECTED, 3, 1);
  float x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, b[2] = {10, 0};
  fr__tensor in[3] = {TF(x, 2, 3), TF(w, 2, 3), TF(b, 2)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 2);
  CHECK_F32(out[0], 8, 3, 8, 7.5f);
  CHECK(fr__op_table[FR__OP_FULLY_CONNECTED].flops(&t.n, in, out) == 2.0 * 2 * 2 * 3);
  freeout(out, 1);
  t.n.a.fc.out_max = 7.6f;
  in[2] = absent();
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -2, 3, -2, 7.5f);
  freeout(out, 1);
  in[1] = TF(w, 3, 2);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

TEST(matmul) {
  tnode t;
  tn(&t, FR__OP_MATMUL, 2, 1);
  float a[12], b[6] = {1, 0, 0, 1, 1, 1}; /* b [3,2] */
  iota(a, 12);                             /* a [2,2,3] */
  fr__tensor in[2] = {TF(a, 2, 2, 3), TF(b, 3, 2)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 2, 2);
  CHECK_F32(out[0], 2, 3, 8, 9, 14, 15, 20, 21);
  CHECK(fr__op_table[FR__OP_MATMUL].flops(&t.n, in, out) == 2.0 * 2 * 2 * 2 * 3);
  freeout(out, 1);
  /* transpose_b: b given as [2,3] */
  float bt[6] = {1, 0, 1, 0, 1, 1};
  t.n.a.matmul.transpose_b = true;
  in[1] = TF(bt, 2, 3);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 2, 3, 8, 9, 14, 15, 20, 21);
  freeout(out, 1);
  /* transpose_a: a [3,2] is [2,3]^T */
  float at[6] = {0, 3, 1, 4, 2, 5};
  t.n.a.matmul.transpose_a = true;
  in[0] = TF(at, 3, 2);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 2);
  CHECK_F32(out[0], 2, 3, 8, 9);
  freeout(out, 1);
  /* batch broadcast [2,1,1,2] x [3,2,1] -> [2,3,1,1]; and 1-D b */
  tn(&t, FR__OP_MATMUL, 2, 1);
  float a2[4] = {1, 2, 3, 4}, b2[6] = {1, 1, 2, 0, 0, 3};
  fr__tensor in2[2] = {TF(a2, 2, 1, 1, 2), TF(b2, 3, 2, 1)};
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 3, 1, 1);
  CHECK_F32(out[0], 3, 2, 6, 7, 6, 12);
  freeout(out, 1);
  in2[0] = TF(a2, 2, 2);
  in2[1] = TF(b2, 2);
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 2);
  CHECK_F32(out[0], 3, 7);
  freeout(out, 1);
  in2[1] = TF(b2, 3);
  CHECK_STATUS(run(&t, in2, out), FR_ERR_SHAPE);
}

/* ---- elementwise ---- */

TEST(binary_broadcast) {
  tnode t;
  tn(&t, FR__OP_ADD, 2, 1);
  float a[6], b[4] = {0, 10, 20, 30};
  iota(a, 6);
  fr__tensor in[2] = {TF(a, 2, 1, 3), TF(b, 4, 1)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 4, 3);
  float e[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++) e[(i * 4 + j) * 3 + k] = a[i * 3 + k] + b[j];
  check_f32_(&out[0], e, 24, 0, __LINE__);
  freeout(out, 1);
  /* per-channel, scalar and reversed operands */
  float c[3] = {1, 2, 3}, s[1] = {2};
  t.n.op = FR__OP_SUB;
  in[1] = TF(c, 3);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -1, -1, -1, 2, 2, 2);
  freeout(out, 1);
  t.n.op = FR__OP_DIV;
  in[0] = TF(s, 1);
  in[1] = TF(c, 3);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 2, 1, 2.0f / 3);
  freeout(out, 1);
  in[0] = mk(FR__F32, s, 0, NULL);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 3);
  freeout(out, 1);
  struct { fr__op op; float e[3]; } cases[] = {
      {FR__OP_MUL, {2, 4, 6}},          {FR__OP_MAXIMUM, {2, 2, 3}},
      {FR__OP_MINIMUM, {1, 2, 2}},      {FR__OP_POW, {1, 4, 9}},
      {FR__OP_SQUARED_DIFF, {1, 0, 1}}, {FR__OP_LESS, {1, 0, 0}},
      {FR__OP_LESS_EQUAL, {1, 1, 0}},   {FR__OP_GREATER, {0, 0, 1}},
      {FR__OP_GREATER_EQUAL, {0, 1, 1}}, {FR__OP_EQUAL, {0, 1, 0}},
  };
  in[0] = TF(c, 3);
  in[1] = TF(s, 1);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    t.n.op = cases[i].op;
    CHECK_STATUS(run(&t, in, out), FR_OK);
    check_f32_(&out[0], cases[i].e, 3, 1e-6f, __LINE__);
    freeout(out, 1);
  }
  /* a middle broadcast dim that cannot be merged: [2,3,2] + [2,1,2] */
  tn(&t, FR__OP_ADD, 2, 1);
  float m[12], mb[4] = {100, 200, 300, 400};
  iota(m, 12);
  in[0] = TF(m, 2, 3, 2);
  in[1] = TF(mb, 2, 1, 2);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 100, 201, 102, 203, 104, 205, 306, 407, 308, 409, 310, 411);
  freeout(out, 1);
}

TEST(binary_i64_and_errors) {
  tnode t;
  tn(&t, FR__OP_ADD, 2, 1);
  int64_t a[4] = {7, -7, 100, 0}, b[1] = {2}, z[1] = {0};
  fr__tensor in[2] = {TI(a, 4), TI(b, 1)}, out[1];
  struct { fr__op op; int64_t e[4]; } cases[] = {
      {FR__OP_ADD, {9, -5, 102, 2}},   {FR__OP_SUB, {5, -9, 98, -2}},
      {FR__OP_MUL, {14, -14, 200, 0}}, {FR__OP_DIV, {3, -3, 50, 0}},
      {FR__OP_MAXIMUM, {7, 2, 100, 2}}, {FR__OP_MINIMUM, {2, -7, 2, 0}},
      {FR__OP_POW, {49, 49, 10000, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    t.n.op = cases[i].op;
    CHECK_STATUS(run(&t, in, out), FR_OK);
    check_i64_(&out[0], cases[i].e, 4, __LINE__);
    freeout(out, 1);
  }
  t.n.op = FR__OP_DIV;
  in[1] = TI(z, 1); /* no trap on x/0 */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_I64(out[0], 0, 0, 0, 0);
  freeout(out, 1);
  t.n.op = FR__OP_GREATER;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 1, 0, 1, 0);
  freeout(out, 1);
  /* errors */
  float f[6] = {0};
  t.n.op = FR__OP_ADD;
  in[0] = TF(f, 2, 3);
  in[1] = TF(f, 4);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  CHECK(strstr(g_err.msg, "[2,3]") && strstr(g_err.msg, "[4]") && strstr(g_err.msg, "ADD"));
  in[1] = TI(a, 3);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE); /* dtype mismatch */
}

TEST(unary_ops) {
  tnode t;
  float x[4] = {-2, -0.5f, 0.25f, 4};
  fr__tensor in[3] = {TF(x, 4)}, out[1];
  struct { fr__op op; float e[4]; } cases[] = {
      {FR__OP_RELU, {0, 0, 0.25f, 4}},
      {FR__OP_SIGMOID, {0.11920292f, 0.37754067f, 0.56217650f, 0.98201379f}},
      {FR__OP_TANH, {-0.96402758f, -0.46211716f, 0.24491866f, 0.99932930f}},
      {FR__OP_EXP, {0.13533528f, 0.60653066f, 1.28402542f, 54.59815003f}},
      {FR__OP_ABS, {2, 0.5f, 0.25f, 4}},
      {FR__OP_NEG, {2, 0.5f, -0.25f, -4}},
      {FR__OP_SQUARE, {4, 0.25f, 0.0625f, 16}},
      {FR__OP_FLOOR, {-2, -1, 0, 4}},
      {FR__OP_CEIL, {-2, -0, 1, 4}},
      {FR__OP_IDENTITY, {-2, -0.5f, 0.25f, 4}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tn(&t, cases[i].op, 1, 1);
    CHECK_STATUS(run(&t, in, out), FR_OK);
    check_f32_(&out[0], cases[i].e, 4, 1e-6f, __LINE__);
    freeout(out, 1);
  }
  float p[4] = {0.25f, 1, 4, 16};
  in[0] = TF(p, 4);
  tn(&t, FR__OP_SQRT, 1, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 0.5f, 1, 2, 4);
  freeout(out, 1);
  tn(&t, FR__OP_RSQRT, 1, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 2, 1, 0.5f, 0.25f);
  freeout(out, 1);
  tn(&t, FR__OP_LOG, 1, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -1.38629436f, 0, 1.38629436f, 2.77258872f);
  freeout(out, 1);
  in[0] = TF(x, 4);
  tn(&t, FR__OP_LEAKY_RELU, 1, 1);
  t.n.a.clip.alpha = 0.1f;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -0.2f, -0.05f, 0.25f, 4);
  freeout(out, 1);
  tn(&t, FR__OP_CLIP, 1, 1);
  t.n.a.clip.min = -1, t.n.a.clip.max = 1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -1, -0.5f, 0.25f, 1);
  freeout(out, 1);
  /* ONNX-style bounds as inputs, min absent */
  float hi[1] = {0.1f};
  tn(&t, FR__OP_CLIP, 3, 1);
  t.in[1] = -1;
  t.n.a.clip.min = -INFINITY, t.n.a.clip.max = INFINITY;
  in[1] = absent();
  in[2] = TF(hi, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -2, -0.5f, 0.1f, 0.1f);
  freeout(out, 1);
  /* I64 where sensible, F32-only ops refuse I64 */
  int64_t xi[3] = {-3, 0, 5};
  fr__tensor ini[1] = {TI(xi, 3)};
  tn(&t, FR__OP_RELU, 1, 1);
  CHECK_STATUS(run(&t, ini, out), FR_OK);
  CHECK_I64(out[0], 0, 0, 5);
  freeout(out, 1);
  tn(&t, FR__OP_NEG, 1, 1);
  CHECK_STATUS(run(&t, ini, out), FR_OK);
  CHECK_I64(out[0], 3, 0, -5);
  freeout(out, 1);
  tn(&t, FR__OP_EXP, 1, 1);
  CHECK(run(&t, ini, out) != FR_OK);
}

TEST(prelu_select_cast_affine) {
  tnode t;
  float x[4] = {-1, 2, -3, 4}, slope[2] = {0.5f, 0.25f};
  fr__tensor in[3] = {TF(x, 2, 2), TF(slope, 2)}, out[1];
  tn(&t, FR__OP_PRELU, 2, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], -0.5f, 2, -1.5f, 4);
  freeout(out, 1);
  in[1] = TF(slope, 2, 1, 1);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE); /* would grow the input */

  float cond[2] = {1, 0}, a[4] = {1, 2, 3, 4}, b[1] = {-9};
  fr__tensor sin[3] = {TF(cond, 2), TF(a, 2, 2), TF(b, 1)};
  tn(&t, FR__OP_SELECT, 3, 1);
  CHECK_STATUS(run(&t, sin, out), FR_OK);
  CHECK_F32(out[0], 1, -9, 3, -9);
  freeout(out, 1);

  float c[5] = {-1.7f, 2.9f, NAN, 1e30f, -0.0f};
  fr__tensor cin[1] = {TF(c, 5)};
  tn(&t, FR__OP_CAST, 1, 1);
  t.n.a.cast.to = FR__I64;
  CHECK_STATUS(run(&t, cin, out), FR_OK);
  CHECK_I64(out[0], -1, 2, 0, INT64_MAX, 0);
  int64_t ci[3] = {-5, 0, 1 << 20};
  fr__tensor cin2[1] = {TI(ci, 3)};
  freeout(out, 1);
  t.n.a.cast.to = FR__F32;
  CHECK_STATUS(run(&t, cin2, out), FR_OK);
  CHECK_F32(out[0], -5, 0, 1048576);
  freeout(out, 1);

  float ax[8];
  iota(ax, 8); /* [1,2,2,2] */
  float sc[2] = {2, 3}, sh[2] = {1, -1};
  fr__tensor ain[3] = {TF(ax, 1, 2, 2, 2), TF(sc, 2), TF(sh, 2)};
  tn(&t, FR__OP_CHANNEL_AFFINE, 3, 1);
  t.n.a.axis.axis = -1;
  CHECK_STATUS(run(&t, ain, out), FR_OK);
  CHECK_F32(out[0], 1, 2, 5, 8, 9, 14, 13, 20);
  freeout(out, 1);
  t.n.a.axis.axis = 1;
  CHECK_STATUS(run(&t, ain, out), FR_OK);
  CHECK_F32(out[0], 1, 3, 5, 7, 11, 14, 17, 20);
  freeout(out, 1);
  t.n.a.axis.axis = 4;
  CHECK_STATUS(run(&t, ain, out), FR_ERR_SHAPE);
}

/* ---- softmax / reduce ---- */

TEST(softmax_axis1) {
  tnode t;
  tn(&t, FR__OP_SOFTMAX, 1, 1);
  t.n.a.axis.axis = 1;
  float x[12] = {1, 2, 3, 4, 5, 6, -1, 0, 1000, 1001, 7, 7}; /* [2,3,2] */
  fr__tensor in[1] = {TF(x, 2, 3, 2)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  float e[12];
  for (int o = 0; o < 2; o++)
    for (int j = 0; j < 2; j++) {
      double mx = -1e300, s = 0;
      for (int c = 0; c < 3; c++) mx = fmax(mx, x[(o * 3 + c) * 2 + j]);
      for (int c = 0; c < 3; c++) s += exp(x[(o * 3 + c) * 2 + j] - mx);
      for (int c = 0; c < 3; c++) e[(o * 3 + c) * 2 + j] = (float)(exp(x[(o * 3 + c) * 2 + j] - mx) / s);
    }
  check_f32_(&out[0], e, 12, 1e-6f, __LINE__);
  CHECK(!isnan(((float *)out[0].data)[8])); /* large values are max-subtracted */
  freeout(out, 1);
  t.n.a.axis.axis = 3;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

TEST(reductions) {
  tnode t;
  float x[12];
  iota(x, 12); /* [1,2,2,3] */
  fr__tensor in[2] = {TF(x, 1, 2, 2, 3)}, out[1];
  tn(&t, FR__OP_REDUCE_MEAN, 1, 1);
  t.n.a.reduce.n_axes = 2;
  t.n.a.reduce.axes[0] = 1, t.n.a.reduce.axes[1] = -2;
  t.n.a.reduce.keepdims = true;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 1, 3);
  CHECK_F32(out[0], 4.5f, 5.5f, 6.5f);
  freeout(out, 1);
  t.n.a.reduce.keepdims = false;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 3);
  freeout(out, 1);
  tn(&t, FR__OP_REDUCE_SUM, 1, 1); /* all */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK(out[0].shape.rank == 0);
  CHECK_F32(out[0], 66);
  freeout(out, 1);
  tn(&t, FR__OP_REDUCE_MAX, 1, 1);
  t.n.a.reduce.n_axes = 1, t.n.a.reduce.axes[0] = -1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 2, 2);
  CHECK_F32(out[0], 2, 5, 8, 11);
  freeout(out, 1);
  tn(&t, FR__OP_REDUCE_MIN, 1, 1); /* axes (0,2): non-contiguous */
  t.n.a.reduce.n_axes = 2, t.n.a.reduce.axes[0] = 1, t.n.a.reduce.axes[1] = 3;
  t.n.a.reduce.keepdims = true;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 2, 1);
  CHECK_F32(out[0], 0, 3);
  freeout(out, 1);
  /* mean over dims 1 and 3 (outer and inner): (0+1+2+6+7+8)/6, (3+4+5+9+10+11)/6 */
  t.n.op = FR__OP_REDUCE_MEAN;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 4, 7);
  freeout(out, 1);
  /* axes from a static input; I64 data */
  int64_t xi[6] = {1, 2, 3, 4, 5, 6}, axes[1] = {0};
  fr__tensor ini[2] = {TI(xi, 2, 3), TI(axes, 1)};
  tn(&t, FR__OP_REDUCE_SUM, 2, 1);
  CHECK_STATUS(run(&t, ini, out), FR_OK);
  CHECK_I64(out[0], 5, 7, 9);
  freeout(out, 1);
  axes[0] = 2;
  CHECK_STATUS(run(&t, ini, out), FR_ERR_SHAPE);
  ini[1].data = NULL; /* needed but unknown at plan time */
  CHECK(run(&t, ini, out) != FR_OK);
}

/* ---- tensor ops ---- */

TEST(reshape) {
  tnode t;
  tn(&t, FR__OP_RESHAPE, 2, 1);
  float x[24];
  iota(x, 24);
  int64_t shp[3] = {0, -1, 4};
  fr__tensor in[2] = {TF(x, 2, 3, 4), TI(shp, 3)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 3, 4);
  CHECK(memcmp(out[0].data, x, sizeof x) == 0);
  freeout(out, 1);
  int64_t s2[2] = {-1, 6};
  in[1] = TI(s2, 2);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 4, 6);
  freeout(out, 1);
  int64_t bad[2] = {5, -1};
  in[1] = TI(bad, 2);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  int64_t bad2[2] = {-1, -1};
  in[1] = TI(bad2, 2);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  int64_t bad3[2] = {4, 5};
  in[1] = TI(bad3, 2);
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  /* allowzero: a 0 is a real zero */
  int64_t z[2] = {0, 4};
  float e[1];
  fr__tensor zin[2] = {TF(e, 0, 7), TI(z, 2)};
  t.n.a.reshape.allowzero = true;
  CHECK_STATUS(run(&t, zin, out), FR_OK);
  CHECK_SHAPE(out[0], 0, 4);
  freeout(out, 1);
  in[1] = TI(shp, 3);
  in[1].data = NULL;
  CHECK(run(&t, in, out) != FR_OK);
}

TEST(transpose) {
  tnode t;
  tn(&t, FR__OP_TRANSPOSE, 1, 1);
  float x[12];
  iota(x, 12); /* [1,2,2,3] NHWC -> NCHW */
  int perm[4] = {0, 3, 1, 2};
  t.n.a.transpose.n = 4;
  memcpy(t.n.a.transpose.perm, perm, sizeof perm);
  fr__tensor in[2] = {TF(x, 1, 2, 2, 3)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 3, 2, 2);
  CHECK_F32(out[0], 0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11);
  freeout(out, 1);
  t.n.a.transpose.n = 0; /* reverse */
  int64_t xi[6] = {1, 2, 3, 4, 5, 6};
  fr__tensor ini[1] = {TI(xi, 2, 3)};
  CHECK_STATUS(run(&t, ini, out), FR_OK);
  CHECK_SHAPE(out[0], 3, 2);
  CHECK_I64(out[0], 1, 4, 2, 5, 3, 6);
  freeout(out, 1);
  t.n.a.transpose.n = 4;
  t.n.a.transpose.perm[3] = 1;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

/* Random shapes (with size-1 dims) and permutations against naive indexing: covers
 * the blocked 2-D / NCHW<->NHWC fast paths and the generic strided path. */
TEST(random_transpose_vs_naive) {
  unsigned seed = 7;
  int bad = 0;
  for (int it = 0; it < 300; it++) {
    int rank = 1 + (int)(fr_t_rand(&seed) % 5);
    int64_t d[FR__MAX_DIMS];
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
      d[i] = (fr_t_rand(&seed) % 4 == 0) ? 1 : 1 + (int64_t)(fr_t_rand(&seed) % 19);
      n *= d[i];
    }
    int perm[FR__MAX_DIMS];
    for (int i = 0; i < rank; i++) perm[i] = i;
    for (int i = rank - 1; i > 0; i--) {
      int j = (int)(fr_t_rand(&seed) % (unsigned)(i + 1)), tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)i;
    tnode t;
    tn(&t, FR__OP_TRANSPOSE, 1, 1);
    t.n.a.transpose.n = rank;
    memcpy(t.n.a.transpose.perm, perm, sizeof(int) * (size_t)rank);
    fr__tensor in[1] = {mk(FR__F32, x, rank, d)}, out[1];
    CHECK_STATUS(run(&t, in, out), FR_OK);
    int64_t ist[FR__MAX_DIMS], acc = 1, idx[FR__MAX_DIMS] = {0};
    for (int i = rank - 1; i >= 0; i--) ist[i] = acc, acc *= d[i];
    const float *o = out[0].data;
    for (int64_t k = 0; k < n; k++) {
      int64_t off = 0;
      for (int i = 0; i < rank; i++) off += idx[i] * ist[perm[i]];
      if (o[k] != x[off]) bad++;
      for (int i = rank - 1; i >= 0; i--) {
        if (++idx[i] < d[perm[i]]) break;
        idx[i] = 0;
      }
    }
    freeout(out, 1);
    free(x);
  }
  CHECK_MSG(bad == 0, "%d elements wrong", bad);
}

TEST(concat_split) {
  tnode t;
  tn(&t, FR__OP_CONCAT, 3, 1);
  float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[6] = {7, 8, 9, 10, 11, 12};
  fr__tensor in[3] = {TF(a, 2, 2), TF(b, 2, 1), TF(c, 2, 3)}, out[4];
  t.n.a.axis.axis = -1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 6);
  CHECK_F32(out[0], 1, 2, 5, 7, 8, 9, 3, 4, 6, 10, 11, 12);
  freeout(out, 1);
  t.n.a.axis.axis = 0;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  CHECK(strstr(g_err.msg, "CONCAT") != NULL);
  t.n.a.axis.axis = 2;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);

  float x[12];
  iota(x, 12);
  fr__tensor sin[2] = {TF(x, 2, 6)};
  tn(&t, FR__OP_SPLIT, 1, 3);
  t.n.a.split.axis = 1;
  t.n.a.split.n = 3;
  CHECK_STATUS(run(&t, sin, out), FR_OK); /* equal */
  CHECK_SHAPE(out[2], 2, 2);
  CHECK_F32(out[0], 0, 1, 6, 7);
  CHECK_F32(out[2], 4, 5, 10, 11);
  freeout(out, 3);
  int64_t sizes[3] = {1, -1, 2};
  t.n.a.split.sizes = sizes;
  CHECK_STATUS(run(&t, sin, out), FR_OK);
  CHECK_SHAPE(out[1], 2, 3);
  CHECK_F32(out[0], 0, 6);
  CHECK_F32(out[1], 1, 2, 3, 7, 8, 9);
  CHECK_F32(out[2], 4, 5, 10, 11);
  freeout(out, 3);
  int64_t s2[3] = {4, 1, 1}; /* from a static input */
  sin[1] = TI(s2, 3);
  tn(&t, FR__OP_SPLIT, 2, 3);
  t.n.a.split.axis = -1;
  CHECK_STATUS(run(&t, sin, out), FR_OK);
  CHECK_F32(out[0], 0, 1, 2, 3, 6, 7, 8, 9);
  CHECK_F32(out[2], 5, 11);
  freeout(out, 3);
  s2[0] = 3;
  CHECK_STATUS(run(&t, sin, out), FR_ERR_SHAPE);
  tn(&t, FR__OP_SPLIT, 1, 4);
  t.n.a.split.axis = 1;
  CHECK_STATUS(run(&t, sin, out), FR_ERR_SHAPE); /* 6 does not split in 4 */
}

TEST(slice) {
  tnode t;
  tn(&t, FR__OP_SLICE, 1, 1);
  float x[24];
  iota(x, 24); /* [2,3,4] */
  fr__tensor in[5] = {TF(x, 2, 3, 4)}, out[1];
  fr__slice_attrs *s = &t.n.a.slice;
  /* x[:, 1:, ::-2] */
  s->n = 2;
  s->axes[0] = 1, s->starts[0] = 1, s->ends[0] = INT64_MAX, s->steps[0] = 1;
  s->axes[1] = -1, s->starts[1] = -1, s->ends[1] = INT64_MIN, s->steps[1] = -2;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 2, 2);
  CHECK_F32(out[0], 7, 5, 11, 9, 19, 17, 23, 21);
  freeout(out, 1);
  /* negative step with a real end: x[0, 2:0:-1, 1] via shrink masks on axes 0 and 2 */
  s->n = 3;
  s->axes[0] = 0, s->starts[0] = 0, s->ends[0] = 1, s->steps[0] = 1;
  s->axes[1] = 1, s->starts[1] = 2, s->ends[1] = 0, s->steps[1] = -1;
  s->axes[2] = 2, s->starts[2] = -3, s->ends[2] = 0, s->steps[2] = 1;
  s->shrink_mask = 1u | 4u;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2);
  CHECK_F32(out[0], 9, 5);
  freeout(out, 1);
  /* begin/end masks: x[:, ::-1, 1:3] with masks on entry 1 */
  s->shrink_mask = 0;
  s->axes[0] = 2, s->starts[0] = 1, s->ends[0] = 3, s->steps[0] = 1;
  s->axes[1] = 1, s->starts[1] = 0, s->ends[1] = 0, s->steps[1] = -1;
  s->n = 2;
  s->begin_mask = s->end_mask = 2u;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 3, 2);
  CHECK_F32(out[0], 9, 10, 5, 6, 1, 2, 21, 22, 17, 18, 13, 14);
  freeout(out, 1);
  /* empty result, clamped bounds */
  s->begin_mask = s->end_mask = 0;
  s->n = 1;
  s->axes[0] = 2, s->starts[0] = 3, s->ends[0] = 1, s->steps[0] = 1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 3, 0);
  freeout(out, 1);
  /* ONNX inputs override: starts, ends, axes, steps */
  int64_t st[1] = {-2}, en[1] = {100}, ax[1] = {1}, sp[1] = {1};
  tn(&t, FR__OP_SLICE, 5, 1);
  in[1] = TI(st, 1), in[2] = TI(en, 1), in[3] = TI(ax, 1), in[4] = TI(sp, 1);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 2, 4);
  CHECK_F32(out[0], 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23);
  freeout(out, 1);
  ax[0] = 3;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  ax[0] = 1, sp[0] = 0;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  sp[0] = 1;
  in[2].data = NULL;
  CHECK(run(&t, in, out) != FR_OK);
  /* shrink index out of range */
  tn(&t, FR__OP_SLICE, 1, 1);
  s->n = 1, s->axes[0] = 0, s->starts[0] = 2, s->ends[0] = 3, s->steps[0] = 1, s->shrink_mask = 1;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

TEST(gather) {
  tnode t;
  tn(&t, FR__OP_GATHER, 2, 1);
  float x[6] = {1, 2, 3, 4, 5, 6};
  int64_t idx[3] = {-1, 0, 2};
  fr__tensor in[2] = {TF(x, 2, 3), TI(idx, 3)}, out[1];
  t.n.a.axis.axis = 1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 2, 3);
  CHECK_F32(out[0], 3, 1, 3, 6, 4, 6);
  freeout(out, 1);
  /* shape arithmetic: gather a scalar from an I64 shape vector */
  int64_t shp[4] = {1, 3, 112, 112}, i0[1] = {-2};
  fr__tensor sin[2] = {TI(shp, 4), mk(FR__I64, i0, 0, NULL)};
  t.n.a.axis.axis = 0;
  CHECK_STATUS(run(&t, sin, out), FR_OK);
  CHECK(out[0].shape.rank == 0);
  CHECK_I64(out[0], 112);
  freeout(out, 1);
  idx[0] = 3;
  t.n.a.axis.axis = 1;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE); /* static indices are validated */
  in[1].data = NULL;                            /* runtime indices: kernel refuses */
  CHECK_STATUS(fr__op_table[FR__OP_GATHER].shape(&t.n, in, out, &g_err), FR_OK);
  out[0].data = calloc(8, 8);
  in[1].data = idx;
  CHECK_STATUS(fr__op_table[FR__OP_GATHER].ref(&t.n, in, out), FR_ERR_INVALID_ARG);
  freeout(out, 1);
  t.n.a.axis.axis = -3;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
}

TEST(pad) {
  tnode t;
  tn(&t, FR__OP_PAD, 1, 1);
  float x[6] = {1, 2, 3, 4, 5, 6}; /* [2,3] */
  fr__tensor in[3] = {TF(x, 2, 3)}, out[1];
  fr__pad_attrs *p = &t.n.a.pad;
  p->n = 2;
  p->begin[0] = 1, p->end[0] = 0, p->begin[1] = 0, p->end[1] = 1;
  p->value = -1;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 3, 4);
  CHECK_F32(out[0], -1, -1, -1, -1, 1, 2, 3, -1, 4, 5, 6, -1);
  freeout(out, 1);
  /* reflect, pads from in[1] in ONNX order [b0, b1, e0, e1] */
  int64_t pads[4] = {1, 2, 0, 2};
  tn(&t, FR__OP_PAD, 2, 1);
  t.n.a.pad.kind = FR__PADK_REFLECT;
  in[1] = TI(pads, 4);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 3, 7);
  CHECK_F32(out[0], 6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4);
  freeout(out, 1);
  /* edge, TF [rank,2] pads */
  int64_t tfp[4] = {0, 1, 1, 0};
  in[1] = TI(tfp, 2, 2);
  t.n.a.pad.kind = FR__PADK_EDGE;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 3, 4);
  CHECK_F32(out[0], 1, 1, 2, 3, 4, 4, 5, 6, 4, 4, 5, 6);
  freeout(out, 1);
  /* reflect pads must be smaller than the dim */
  pads[1] = 3;
  in[1] = TI(pads, 4);
  t.n.a.pad.kind = FR__PADK_REFLECT;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);
  /* constant value from in[2], I64 data, negative pad crops */
  int64_t xi[3] = {7, 8, 9}, pi[2] = {-1, 2}, cv[1] = {0};
  fr__tensor ini[3] = {TI(xi, 3), TI(pi, 2), TI(cv, 1)};
  tn(&t, FR__OP_PAD, 3, 1);
  cv[0] = 5;
  CHECK_STATUS(run(&t, ini, out), FR_OK);
  CHECK_I64(out[0], 8, 9, 5, 5);
  freeout(out, 1);
  /* too large */
  int64_t huge[4] = {0, 0, 1LL << 30, 1LL << 30};
  in[1] = TI(huge, 4);
  tn(&t, FR__OP_PAD, 2, 1);
  CHECK_STATUS(run(&t, in, out), FR_ERR_TOO_LARGE);
}

TEST(resize_bilinear_modes) {
  tnode t;
  float x[3] = {0, 10, 20};
  fr__tensor in[2] = {TF(x, 1, 1, 3, 1)}, out[1];
  tn(&t, FR__OP_RESIZE, 1, 1);
  t.n.a.resize.out_h = 1, t.n.a.resize.out_w = 5;
  t.n.a.resize.coord = FR__RC_ASYMMETRIC;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 1, 5, 1);
  CHECK_F32(out[0], 0, 6, 12, 18, 20);
  freeout(out, 1);
  t.n.a.resize.coord = FR__RC_HALF_PIXEL;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 0, 4, 10, 16, 20);
  freeout(out, 1);
  t.n.a.resize.coord = FR__RC_ALIGN_CORNERS;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 0, 5, 10, 15, 20);
  freeout(out, 1);
  t.n.a.resize.coord = FR__RC_PYTORCH_HALF_PIXEL;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 0, 4, 10, 16, 20);
  freeout(out, 1);
  t.n.a.resize.out_w = 1; /* pytorch: a single output samples index 0; half pixel: the middle */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 0);
  freeout(out, 1);
  t.n.a.resize.coord = FR__RC_HALF_PIXEL;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 10);
  freeout(out, 1);
  /* 2-D, 2 channels: 2x2 -> 3x3 align corners */
  float x2[8] = {0, 1, 10, 1, 20, 1, 30, 1};
  fr__tensor in2[2] = {TF(x2, 1, 2, 2, 2)};
  t.n.a.resize.out_h = 3, t.n.a.resize.out_w = 3;
  t.n.a.resize.coord = FR__RC_ALIGN_CORNERS;
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_F32(out[0], 0, 1, 5, 1, 10, 1, 10, 1, 15, 1, 20, 1, 20, 1, 25, 1, 30, 1);
  freeout(out, 1);
  /* size from a static input; by scale */
  int64_t sz[2] = {4, 2};
  in2[1] = TI(sz, 2);
  tn(&t, FR__OP_RESIZE, 2, 1);
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 4, 2, 2);
  freeout(out, 1);
  tn(&t, FR__OP_RESIZE, 1, 1);
  t.n.a.resize.scale_h = 2, t.n.a.resize.scale_w = 1.5f;
  CHECK_STATUS(run(&t, in2, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 4, 3, 2);
  freeout(out, 1);
  t.n.a.resize.scale_h = 0;
  CHECK_STATUS(run(&t, in2, out), FR_ERR_SHAPE);
}

TEST(resize_nearest) {
  tnode t;
  float x[4] = {1, 2, 3, 4};
  fr__tensor in[1] = {TF(x, 1, 1, 2, 1)}, out[1];
  tn(&t, FR__OP_RESIZE, 1, 1);
  t.n.a.resize.nearest = true;
  t.n.a.resize.out_h = 1, t.n.a.resize.out_w = 4;
  CHECK_STATUS(run(&t, in, out), FR_OK); /* ONNX Upsample: floor(dst / scale) */
  CHECK_F32(out[0], 1, 1, 2, 2);
  freeout(out, 1);
  t.n.a.resize.out_w = 5; /* src = 0, .4, .8, 1.2, 1.6 */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 1, 1, 1, 2, 2);
  freeout(out, 1);
  /* half_pixel + round_prefer_floor (ONNX Resize default): 4 -> 2 takes 0.5 -> 0, 2.5 -> 2 */
  in[0] = TF(x, 1, 1, 4, 1);
  t.n.a.resize.out_w = 2;
  t.n.a.resize.coord = FR__RC_HALF_PIXEL;
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 1, 3);
  freeout(out, 1);
  t.n.a.resize.coord = FR__RC_ALIGN_CORNERS; /* 0, 3 */
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_F32(out[0], 1, 4);
  freeout(out, 1);
}

TEST(depth_to_space_and_shape) {
  tnode t;
  tn(&t, FR__OP_DEPTH_TO_SPACE, 1, 1);
  t.n.a.d2s.block = 2;
  float x[16];
  iota(x, 16); /* [1,1,2,8] -> [1,2,4,2] */
  fr__tensor in[1] = {TF(x, 1, 1, 2, 8)}, out[1];
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_SHAPE(out[0], 1, 2, 4, 2);
  CHECK_F32(out[0], 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
  freeout(out, 1);
  in[0] = TF(x, 1, 1, 4, 4);
  t.n.a.d2s.block = 4;
  CHECK_STATUS(run(&t, in, out), FR_ERR_SHAPE);

  tn(&t, FR__OP_SHAPE, 1, 1);
  in[0] = TF(NULL, 1, 3, 112, 96);
  CHECK_STATUS(run(&t, in, out), FR_OK);
  CHECK_I64(out[0], 1, 3, 112, 96);
  freeout(out, 1);
}

TEST(hostile_shapes) {
  tnode t;
  float x[4] = {0};
  fr__tensor in[2] = {TF(x, 65536, 65536)}, out[1];
  tn(&t, FR__OP_RELU, 1, 1);
  CHECK_STATUS(fr__op_table[FR__OP_RELU].shape(&t.n, in, out, &g_err), FR_ERR_TOO_LARGE);
  in[0] = TF(x, 4);
  in[0].shape.rank = 9;
  CHECK(fr__op_table[FR__OP_RELU].shape(&t.n, in, out, &g_err) != FR_OK);
  /* reshape to an overflowing shape */
  int64_t big[3] = {1LL << 40, 1LL << 40, 0};
  in[0] = TF(x, 4);
  in[1] = TI(big, 3);
  tn(&t, FR__OP_RESHAPE, 2, 1);
  t.n.a.reshape.allowzero = true;
  CHECK(fr__op_table[FR__OP_RESHAPE].shape(&t.n, in, out, &g_err) != FR_OK);
  /* huge resize */
  tn(&t, FR__OP_RESIZE, 1, 1);
  in[0] = TF(x, 1, 2, 2, 1);
  t.n.a.resize.out_h = 1 << 30, t.n.a.resize.out_w = 1 << 30;
  CHECK_STATUS(fr__op_table[FR__OP_RESIZE].shape(&t.n, in, out, &g_err), FR_ERR_TOO_LARGE);
}

/* Random shapes: the broadcast iterator (dim merging, stride-0 fast paths)
 * against naive index arithmetic, for 2 and 3 operands. */
TEST(random_broadcast_vs_naive) {
  unsigned seed = 12345;
  for (int iter = 0; iter < 300; iter++) {
    int r = (int)(fr_t_rand(&seed) % 5);
    int64_t od[4] = {1, 1, 1, 1}, ad[4], bd[4], cd[4];
    for (int i = 0; i < r; i++) od[i] = 1 + fr_t_rand(&seed) % 3;
    for (int i = 0; i < r; i++) {
      ad[i] = fr_t_rand(&seed) % 3 == 0 ? 1 : od[i];
      bd[i] = fr_t_rand(&seed) % 3 == 0 ? 1 : od[i];
      cd[i] = fr_t_rand(&seed) % 2 == 0 ? 1 : od[i];
    }
    int ra = r - (int)(fr_t_rand(&seed) % (r + 1)); /* drop leading dims of a */
    for (int i = 0; i < r; i++) /* a or b carries the full dim, so SUB and SELECT agree */
      if (i < r - ra || ad[i] == 1) bd[i] = od[i];
    float a[81], b[81], c[81];
    for (int i = 0; i < 81; i++)
      a[i] = fr_t_randf(&seed), b[i] = fr_t_randf(&seed), c[i] = fr_t_rand(&seed) % 2;
    fr__tensor in[3] = {mk(FR__F32, a, ra, ad + (r - ra)), mk(FR__F32, b, r, bd),
                        mk(FR__F32, c, r, cd)};
    fr__tensor out[1];
    tnode t;
    tn(&t, FR__OP_SUB, 2, 1);
    CHECK_STATUS(run(&t, in, out), FR_OK);
    fr__tensor sout[1];
    tn(&t, FR__OP_SELECT, 3, 1);
    fr__tensor sin[3] = {in[2], in[0], in[1]};
    CHECK_STATUS(run(&t, sin, sout), FR_OK);
    int64_t total = 1;
    for (int i = 0; i < r; i++) total *= od[i];
    CHECK(elems(&out[0]) == total && elems(&sout[0]) == total);
    for (int64_t e = 0; e < total && out[0].data; e++) {
      int64_t idx[4], rem = e;
      for (int i = r - 1; i >= 0; i--) idx[i] = rem % od[i], rem /= od[i];
      int64_t ia = 0, ib = 0, ic = 0;
      for (int i = 0; i < r; i++) {
        if (i >= r - ra) ia = ia * ad[i] + (ad[i] == 1 ? 0 : idx[i]);
        ib = ib * bd[i] + (bd[i] == 1 ? 0 : idx[i]);
        ic = ic * cd[i] + (cd[i] == 1 ? 0 : idx[i]);
      }
      float v = ((float *)out[0].data)[e], sv = ((float *)sout[0].data)[e];
      CHECK_MSG(v == a[ia] - b[ib], "iter %d elem %lld", iter, (long long)e);
      CHECK_MSG(sv == (c[ic] != 0 ? a[ia] : b[ib]), "iter %d elem %lld (select)", iter,
                (long long)e);
    }
    freeout(out, 1);
    freeout(sout, 1);
  }
}

/* Random grouped / depthwise convolutions against the same convolution written
 * as a dense one with block-diagonal weights (exercises both kernel paths). */
TEST(random_grouped_conv_vs_dense) {
  unsigned seed = 777;
  for (int iter = 0; iter < 40; iter++) {
    const int groups = 1 + (int)(fr_t_rand(&seed) % 3);
    const int icg = iter % 2 ? 1 : 1 + (int)(fr_t_rand(&seed) % 2); /* odd iters: depthwise */
    const int ocg = 1 + (int)(fr_t_rand(&seed) % 3);
    const int C = groups * icg, O = groups * ocg;
    const int H = 3 + (int)(fr_t_rand(&seed) % 4), W = 3 + (int)(fr_t_rand(&seed) % 4);
    const int K = 1 + (int)(fr_t_rand(&seed) % 3);
    static float x[1 * 6 * 6 * 6], wg[9 * 9 * 6], wd[9 * 9 * 6 * 6], bias[9];
    for (int i = 0; i < H * W * C; i++) x[i] = fr_t_randf(&seed);
    for (int i = 0; i < O * K * K * icg; i++) wg[i] = fr_t_randf(&seed);
    for (int i = 0; i < O; i++) bias[i] = fr_t_randf(&seed);
    memset(wd, 0, sizeof wd);
    for (int o = 0; o < O; o++)
      for (int k = 0; k < K * K; k++)
        for (int i = 0; i < icg; i++) wd[(o * K * K + k) * C + (o / ocg) * icg + i] = wg[(o * K * K + k) * icg + i];
    tnode t;
    tn(&t, FR__OP_CONV2D, 3, 1);
    t.n.a.conv.stride_h = 1 + (int)(fr_t_rand(&seed) % 2);
    t.n.a.conv.stride_w = 1 + (int)(fr_t_rand(&seed) % 2);
    t.n.a.conv.pad_mode = FR__PAD_SAME_UPPER;
    t.n.a.conv.groups = groups;
    fr__tensor in[3] = {TF(x, 1, H, W, C), mk(FR__F32, wg, 4, (int64_t[]){O, K, K, icg}),
                        TF(bias, O)};
    fr__tensor a[1], b[1];
    CHECK_STATUS(run(&t, in, a), FR_OK);
    t.n.a.conv.groups = 1;
    in[1] = mk(FR__F32, wd, 4, (int64_t[]){O, K, K, C});
    CHECK_STATUS(run(&t, in, b), FR_OK);
    CHECK(elems(&a[0]) == elems(&b[0]));
    for (int64_t i = 0; i < elems(&a[0]) && a[0].data && b[0].data; i++) {
      float u = ((float *)a[0].data)[i], v = ((float *)b[0].data)[i];
      CHECK_MSG(fabsf(u - v) <= 1e-5f, "iter %d [%lld] %g vs %g", iter, (long long)i, (double)u,
                (double)v);
    }
    freeout(a, 1);
    freeout(b, 1);
  }
}

RUN_TESTS(T(table_complete), T(resolve_pads_and_broadcast), T(conv_valid_bias),
          T(conv_same_stride2), T(conv_depthwise_multiplier), T(conv_grouped_dilated),
          T(conv_errors), T(pools), T(fully_connected), T(matmul), T(binary_broadcast),
          T(binary_i64_and_errors), T(unary_ops), T(prelu_select_cast_affine), T(softmax_axis1),
          T(reductions), T(reshape), T(transpose), T(random_transpose_vs_naive), T(concat_split), T(slice), T(gather), T(pad),
          T(resize_bilinear_modes), T(resize_nearest), T(depth_to_space_and_shape),
          T(hostile_shapes), T(random_broadcast_vs_naive), T(random_grouped_conv_vs_dense))
