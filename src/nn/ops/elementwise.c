/*
 * Elementwise reference kernels: broadcasting binary ops (F32 and I64),
 * comparisons (F32 0/1 out), PRELU, SELECT, unary ops, CLIP, CAST and
 * CHANNEL_AFFINE.
 *
 * Broadcasting goes through one iterator: dims of size 1 are dropped and
 * adjacent dims that are contiguous in every operand are merged, so a
 * same-shape op is one flat loop, a scalar operand is one loop with stride 0,
 * and a per-channel (last axis) operand is rows of contiguous loops.
 */
#include <math.h>

#include "nn/ops/internal.h"

/* ---- broadcast iterator ---- */

#define MAX_OPERANDS 3

typedef struct bcast_it {
  int rank;                              /* >= 1 after planning */
  int64_t d[FR__MAX_DIMS];
  int64_t st[MAX_OPERANDS][FR__MAX_DIMS]; /* element strides, 0 = broadcast */
  int nin;
} bcast_it;

static void bcast_plan(const fr__shape *out, const fr__shape *const *ins, int nin, bcast_it *it) {
  int64_t full[MAX_OPERANDS][FR__MAX_DIMS];
  for (int k = 0; k < nin; k++) {
    const fr__shape *s = ins[k];
    int64_t acc = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
      int j = i - (out->rank - s->rank);
      int64_t dim = j >= 0 ? s->d[j] : 1;
      full[k][i] = (dim == 1) ? 0 : acc;
      acc *= dim;
    }
  }
  it->nin = nin;
  it->rank = 0;
  for (int i = 0; i < out->rank; i++) {
    if (out->d[i] == 1) continue;
    int r = it->rank;
    bool merge = r > 0;
    /* merge into the previous kept dim when contiguous in every operand */
    for (int k = 0; merge && k < nin; k++)
      if (it->st[k][r - 1] != full[k][i] * out->d[i]) merge = false;
    if (merge) {
      it->d[r - 1] *= out->d[i];
      for (int k = 0; k < nin; k++) it->st[k][r - 1] = full[k][i];
    } else {
      it->d[r] = out->d[i];
      for (int k = 0; k < nin; k++) it->st[k][r] = full[k][i];
      it->rank++;
    }
  }
  if (it->rank == 0) {
    it->rank = 1;
    it->d[0] = 1;
    for (int k = 0; k < nin; k++) it->st[k][0] = 0;
  }
}

/* Calls fn(ctx, offsets, strides_of_last_dim, n) for every row of the last dim. */
typedef void (*row_fn)(void *ctx, const int64_t *off, const int64_t *st, int64_t n);

static void bcast_run(const bcast_it *it, row_fn fn, void *ctx) {
  const int last = it->rank - 1;
  int64_t idx[FR__MAX_DIMS] = {0};
  int64_t off[MAX_OPERANDS + 1] = {0}; /* last slot: output offset */
  int64_t st[MAX_OPERANDS];
  for (int k = 0; k < it->nin; k++) st[k] = it->st[k][last];
  int64_t rows = 1;
  for (int i = 0; i < last; i++) rows *= it->d[i];
  if (it->d[last] == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    fn(ctx, off, st, it->d[last]);
    off[MAX_OPERANDS] += it->d[last];
    for (int i = last - 1; i >= 0; i--) {
      for (int k = 0; k < it->nin; k++) off[k] += it->st[k][i];
      if (++idx[i] < it->d[i]) break;
      for (int k = 0; k < it->nin; k++) off[k] -= it->st[k][i] * it->d[i];
      idx[i] = 0;
    }
  }
}

/* ---- binary ops ---- */

typedef struct bin_ctx {
  fr__op op;
  const void *a, *b;
  void *o;
} bin_ctx;

/* Loop over n elements with the stride patterns specialized so the common
 * cases (both contiguous, one operand scalar-in-row) vectorize. */
#define BIN_LOOP(TA, TO, EXPR)                                                           \
  do {                                                                                   \
    const TA *pa = (const TA *)c->a + off[0], *pb = (const TA *)c->b + off[1];           \
    TO *po = (TO *)c->o + off[MAX_OPERANDS];                                             \
    if (sa == 1 && sb == 1) {                                                            \
      for (int64_t i = 0; i < n; i++) { TA x = pa[i], y = pb[i]; po[i] = (TO)(EXPR); }   \
    } else if (sa == 1 && sb == 0) {                                                     \
      const TA y = pb[0];                                                                \
      for (int64_t i = 0; i < n; i++) { TA x = pa[i]; po[i] = (TO)(EXPR); }              \
    } else if (sa == 0 && sb == 1) {                                                     \
      const TA x = pa[0];                                                                \
      for (int64_t i = 0; i < n; i++) { TA y = pb[i]; po[i] = (TO)(EXPR); }              \
    } else {                                                                             \
      for (int64_t i = 0; i < n; i++) {                                                  \
        TA x = pa[i * sa], y = pb[i * sb];                                               \
        po[i] = (TO)(EXPR);                                                              \
      }                                                                                  \
    }                                                                                    \
  } while (0)

static void bin_row_f32(void *ctx, const int64_t *off, const int64_t *st, int64_t n) {
  const bin_ctx *c = ctx;
  const int64_t sa = st[0], sb = st[1];
  switch (c->op) {
  case FR__OP_ADD: BIN_LOOP(float, float, x + y); break;
  case FR__OP_SUB: BIN_LOOP(float, float, x - y); break;
  case FR__OP_MUL: BIN_LOOP(float, float, x * y); break;
  case FR__OP_DIV: BIN_LOOP(float, float, x / y); break;
  case FR__OP_MAXIMUM: BIN_LOOP(float, float, x > y ? x : y); break;
  case FR__OP_MINIMUM: BIN_LOOP(float, float, x < y ? x : y); break;
  case FR__OP_POW: BIN_LOOP(float, float, powf(x, y)); break;
  case FR__OP_SQUARED_DIFF: BIN_LOOP(float, float, (x - y) * (x - y)); break;
  case FR__OP_LESS: BIN_LOOP(float, float, x < y ? 1.0f : 0.0f); break;
  case FR__OP_LESS_EQUAL: BIN_LOOP(float, float, x <= y ? 1.0f : 0.0f); break;
  case FR__OP_GREATER: BIN_LOOP(float, float, x > y ? 1.0f : 0.0f); break;
  case FR__OP_GREATER_EQUAL: BIN_LOOP(float, float, x >= y ? 1.0f : 0.0f); break;
  case FR__OP_EQUAL: BIN_LOOP(float, float, x == y ? 1.0f : 0.0f); break;
  default: break;
  }
}

/* I64 arithmetic wraps (no UB on overflow); division truncates, x/0 = 0. */
static inline int64_t wadd(int64_t x, int64_t y) { return (int64_t)((uint64_t)x + (uint64_t)y); }
static inline int64_t wsub(int64_t x, int64_t y) { return (int64_t)((uint64_t)x - (uint64_t)y); }
static inline int64_t wmul(int64_t x, int64_t y) { return (int64_t)((uint64_t)x * (uint64_t)y); }
static inline int64_t idiv(int64_t x, int64_t y) {
  if (y == 0) return 0;
  if (y == -1) return wsub(0, x);
  return x / y;
}
static inline int64_t d2i(double v) {
  if (!(v == v)) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}
static inline int64_t ipow(int64_t x, int64_t y) { return d2i(pow((double)x, (double)y)); }

static void bin_row_i64(void *ctx, const int64_t *off, const int64_t *st, int64_t n) {
  const bin_ctx *c = ctx;
  const int64_t sa = st[0], sb = st[1];
  switch (c->op) {
  case FR__OP_ADD: BIN_LOOP(int64_t, int64_t, wadd(x, y)); break;
  case FR__OP_SUB: BIN_LOOP(int64_t, int64_t, wsub(x, y)); break;
  case FR__OP_MUL: BIN_LOOP(int64_t, int64_t, wmul(x, y)); break;
  case FR__OP_DIV: BIN_LOOP(int64_t, int64_t, idiv(x, y)); break;
  case FR__OP_MAXIMUM: BIN_LOOP(int64_t, int64_t, x > y ? x : y); break;
  case FR__OP_MINIMUM: BIN_LOOP(int64_t, int64_t, x < y ? x : y); break;
  case FR__OP_POW: BIN_LOOP(int64_t, int64_t, ipow(x, y)); break;
  case FR__OP_SQUARED_DIFF: BIN_LOOP(int64_t, int64_t, wmul(wsub(x, y), wsub(x, y))); break;
  case FR__OP_LESS: BIN_LOOP(int64_t, float, x < y ? 1.0f : 0.0f); break;
  case FR__OP_LESS_EQUAL: BIN_LOOP(int64_t, float, x <= y ? 1.0f : 0.0f); break;
  case FR__OP_GREATER: BIN_LOOP(int64_t, float, x > y ? 1.0f : 0.0f); break;
  case FR__OP_GREATER_EQUAL: BIN_LOOP(int64_t, float, x >= y ? 1.0f : 0.0f); break;
  case FR__OP_EQUAL: BIN_LOOP(int64_t, float, x == y ? 1.0f : 0.0f); break;
  default: break;
  }
}

static bool is_comparison(fr__op op) {
  return op == FR__OP_LESS || op == FR__OP_LESS_EQUAL || op == FR__OP_GREATER ||
         op == FR__OP_GREATER_EQUAL || op == FR__OP_EQUAL;
}

static fr_status bcast_err(const fr__node *n, const fr__shape *a, const fr__shape *b,
                           fr_error *err) {
  char sa[200], sb[200];
  return fr__ops_err(err, n, FR_ERR_SHAPE, "shapes %s and %s do not broadcast",
                     fr__ops_shape_str(a, sa, sizeof sa), fr__ops_shape_str(b, sb, sizeof sb));
}

fr_status fr__ops_binary_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_ANY, err)))
    return st;
  if (in[0].dtype != in[1].dtype)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "operand dtypes differ (%s vs %s)",
                       in[0].dtype == FR__F32 ? "F32" : "I64", in[1].dtype == FR__F32 ? "F32" : "I64");
  fr__shape s;
  if (fr__broadcast_shape(&in[0].shape, &in[1].shape, &s) != FR_OK)
    return bcast_err(n, &in[0].shape, &in[1].shape, err);
  return fr__ops_set_out(n, out, is_comparison(n->op) ? FR__F32 : in[0].dtype, &s, err);
}

fr_status fr__ops_binary_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  bcast_it it;
  const fr__shape *shapes[2] = {&in[0].shape, &in[1].shape};
  bcast_plan(&out->shape, shapes, 2, &it);
  bin_ctx c = {n->op, in[0].data, in[1].data, out->data};
  bcast_run(&it, in[0].dtype == FR__I64 ? bin_row_i64 : bin_row_f32, &c);
  return FR_OK;
}

double fr__ops_elementwise_flops(const fr__node *n, const fr__tensor *in, const fr__tensor *out) {
  (void)n, (void)in;
  int64_t e = fr__ops_elems(&out[0].shape);
  return e < 0 ? 0 : (double)e;
}

/* ---- PRELU ---- */

fr_status fr__ops_prelu_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                              fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_F32, err)))
    return st;
  fr__shape s;
  if (fr__broadcast_shape(&in[0].shape, &in[1].shape, &s) != FR_OK)
    return bcast_err(n, &in[0].shape, &in[1].shape, err);
  if (s.rank != in[0].shape.rank || fr__ops_elems(&s) != fr__ops_elems(&in[0].shape))
    return fr__ops_err(err, n, FR_ERR_SHAPE, "slope must broadcast to the input's shape");
  return fr__ops_set_out(n, out, FR__F32, &in[0].shape, err);
}

static void prelu_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n) {
  const bin_ctx *c = ctx;
  const int64_t sa = st[0], sb = st[1];
  BIN_LOOP(float, float, x >= 0.0f ? x : y * x);
}

fr_status fr__ops_prelu_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  bcast_it it;
  const fr__shape *shapes[2] = {&in[0].shape, &in[1].shape};
  bcast_plan(&out->shape, shapes, 2, &it);
  bin_ctx c = {n->op, in[0].data, in[1].data, out->data};
  bcast_run(&it, prelu_row, &c);
  return FR_OK;
}

/* ---- SELECT ---- */

fr_status fr__ops_select_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st;
  for (int i = 0; i < 3; i++)
    if ((st = fr__ops_check_in(n, in, i, FR__OPS_ANY, err))) return st;
  if (in[1].dtype != in[2].dtype)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "value dtypes differ");
  fr__shape s, s2;
  if (fr__broadcast_shape(&in[0].shape, &in[1].shape, &s) != FR_OK)
    return bcast_err(n, &in[0].shape, &in[1].shape, err);
  if (fr__broadcast_shape(&s, &in[2].shape, &s2) != FR_OK)
    return bcast_err(n, &s, &in[2].shape, err);
  return fr__ops_set_out(n, out, in[1].dtype, &s2, err);
}

typedef struct sel_ctx {
  const fr__tensor *in;
  void *o;
} sel_ctx;

static void select_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n) {
  const sel_ctx *c = ctx;
  const fr__tensor *in = c->in;
  for (int64_t i = 0; i < n; i++) {
    int64_t ci = off[0] + i * st[0];
    bool cond = in[0].dtype == FR__F32 ? ((const float *)in[0].data)[ci] != 0.0f
                                       : ((const int64_t *)in[0].data)[ci] != 0;
    int64_t ai = off[1] + i * st[1], bi = off[2] + i * st[2];
    if (in[1].dtype == FR__F32) {
      ((float *)c->o)[off[MAX_OPERANDS] + i] =
          cond ? ((const float *)in[1].data)[ai] : ((const float *)in[2].data)[bi];
    } else {
      ((int64_t *)c->o)[off[MAX_OPERANDS] + i] =
          cond ? ((const int64_t *)in[1].data)[ai] : ((const int64_t *)in[2].data)[bi];
    }
  }
}

fr_status fr__ops_select_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  (void)n;
  bcast_it it;
  const fr__shape *shapes[3] = {&in[0].shape, &in[1].shape, &in[2].shape};
  bcast_plan(&out->shape, shapes, 3, &it);
  sel_ctx c = {in, out->data};
  bcast_run(&it, select_row, &c);
  return FR_OK;
}

/* ---- unary ---- */

static bool unary_i64_ok(fr__op op) {
  switch (op) {
  case FR__OP_RELU: case FR__OP_CLIP: case FR__OP_ABS: case FR__OP_NEG: case FR__OP_SQUARE:
  case FR__OP_FLOOR: case FR__OP_CEIL: case FR__OP_IDENTITY:
    return true;
  default:
    return false;
  }
}

fr_status fr__ops_unary_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                              fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, unary_i64_ok(n->op) ? FR__OPS_ANY : FR__OPS_F32, err);
  if (st) return st;
  if (n->op == FR__OP_CLIP) {
    for (int i = 1; i < 3; i++) {
      if (!fr__ops_present(n, in, i)) continue;
      if ((st = fr__ops_check_in(n, in, i, FR__OPS_ANY, err))) return st;
      if (fr__ops_elems(&in[i].shape) != 1)
        return fr__ops_err(err, n, FR_ERR_SHAPE, "%s bound (input %d) must be a scalar",
                           i == 1 ? "min" : "max", i);
    }
  }
  return fr__ops_set_out(n, out, in[0].dtype, &in[0].shape, err);
}

static float scalar_f(const fr__tensor *t) {
  return t->dtype == FR__F32 ? ((const float *)t->data)[0] : (float)((const int64_t *)t->data)[0];
}

/* CLIP bounds: attrs, overridden by present bound inputs. */
static void clip_bounds(const fr__node *n, const fr__tensor *in, float *lo, float *hi) {
  *lo = n->a.clip.min, *hi = n->a.clip.max;
  if (fr__ops_present(n, in, 1) && in[1].data) *lo = scalar_f(&in[1]);
  if (fr__ops_present(n, in, 2) && in[2].data) *hi = scalar_f(&in[2]);
}

static fr_status unary_i64(const fr__node *n, const fr__tensor *in, const int64_t *x, int64_t *y,
                           int64_t e) {
  switch (n->op) {
  case FR__OP_RELU:
    for (int64_t i = 0; i < e; i++) y[i] = x[i] > 0 ? x[i] : 0;
    break;
  case FR__OP_CLIP: {
    float lo, hi;
    clip_bounds(n, in, &lo, &hi);
    /* bounds as integers: ceil(lo), floor(hi), saturating */
    int64_t ilo = d2i(ceil((double)lo)), ihi = d2i(floor((double)hi));
    if (lo != lo) ilo = INT64_MIN;
    if (hi != hi) ihi = INT64_MAX;
    for (int64_t i = 0; i < e; i++) y[i] = x[i] < ilo ? ilo : x[i] > ihi ? ihi : x[i];
    break;
  }
  case FR__OP_ABS:
    for (int64_t i = 0; i < e; i++) y[i] = x[i] < 0 ? wsub(0, x[i]) : x[i];
    break;
  case FR__OP_NEG:
    for (int64_t i = 0; i < e; i++) y[i] = wsub(0, x[i]);
    break;
  case FR__OP_SQUARE:
    for (int64_t i = 0; i < e; i++) y[i] = wmul(x[i], x[i]);
    break;
  default: /* FLOOR, CEIL, IDENTITY */
    if (e) memcpy(y, x, (size_t)e * sizeof *y);
    break;
  }
  return FR_OK;
}

fr_status fr__ops_unary_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const int64_t e = fr__ops_elems(&out->shape);
  if (e <= 0) return FR_OK;
  if (in[0].dtype == FR__I64) return unary_i64(n, in, in[0].data, out->data, e);
  const float *x = in[0].data;
  float *y = out->data;
  switch (n->op) {
  case FR__OP_RELU:
    for (int64_t i = 0; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  case FR__OP_CLIP: {
    float lo, hi;
    clip_bounds(n, in, &lo, &hi);
    for (int64_t i = 0; i < e; i++) {
      float v = x[i];
      v = v < lo ? lo : v;
      y[i] = v > hi ? hi : v;
    }
    break;
  }
  case FR__OP_SIGMOID:
    for (int64_t i = 0; i < e; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case FR__OP_TANH:
    for (int64_t i = 0; i < e; i++) y[i] = tanhf(x[i]);
    break;
  case FR__OP_EXP:
    for (int64_t i = 0; i < e; i++) y[i] = expf(x[i]);
    break;
  case FR__OP_LOG:
    for (int64_t i = 0; i < e; i++) y[i] = logf(x[i]);
    break;
  case FR__OP_ABS:
    for (int64_t i = 0; i < e; i++) y[i] = fabsf(x[i]);
    break;
  case FR__OP_NEG:
    for (int64_t i = 0; i < e; i++) y[i] = -x[i];
    break;
  case FR__OP_SQRT:
    for (int64_t i = 0; i < e; i++) y[i] = sqrtf(x[i]);
    break;
  case FR__OP_RSQRT:
    for (int64_t i = 0; i < e; i++) y[i] = 1.0f / sqrtf(x[i]);
    break;
  case FR__OP_SQUARE:
    for (int64_t i = 0; i < e; i++) y[i] = x[i] * x[i];
    break;
  case FR__OP_FLOOR:
    for (int64_t i = 0; i < e; i++) y[i] = floorf(x[i]);
    break;
  case FR__OP_CEIL:
    for (int64_t i = 0; i < e; i++) y[i] = ceilf(x[i]);
    break;
  case FR__OP_LEAKY_RELU: {
    const float alpha = n->a.clip.alpha;
    for (int64_t i = 0; i < e; i++) y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
    break;
  }
  default: /* IDENTITY */
    memcpy(y, x, (size_t)e * sizeof *y);
    break;
  }
  return FR_OK;
}

/* ---- CAST ---- */

fr_status fr__ops_cast_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                             fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  fr__dtype to = n->a.cast.to;
  if (to != FR__F32 && to != FR__I64)
    return fr__ops_err(err, n, FR_ERR_UNSUPPORTED, "cast target dtype %d not supported", (int)to);
  return fr__ops_set_out(n, out, to, &in[0].shape, err);
}

fr_status fr__ops_cast_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  (void)n;
  const int64_t e = fr__ops_elems(&out->shape);
  if (e <= 0) return FR_OK;
  if (in[0].dtype == out->dtype) {
    memcpy(out->data, in[0].data, (size_t)e * fr__ops_esize(out->dtype));
  } else if (out->dtype == FR__I64) {
    const float *x = in[0].data;
    int64_t *y = out->data;
    for (int64_t i = 0; i < e; i++) y[i] = d2i((double)x[i]); /* truncates; NaN -> 0 */
  } else {
    const int64_t *x = in[0].data;
    float *y = out->data;
    for (int64_t i = 0; i < e; i++) y[i] = (float)x[i];
  }
  return FR_OK;
}

/* ---- CHANNEL_AFFINE ---- */

fr_status fr__ops_affine_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_F32, err)))
    return st;
  int ax = fr__ops_axis(n->a.axis.axis, in[0].shape.rank);
  if (ax < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %d out of range for rank %d", n->a.axis.axis,
                       in[0].shape.rank);
  int64_t C = in[0].shape.d[ax];
  if (fr__ops_elems(&in[1].shape) != C)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "scale has %lld elements, axis %d has %lld",
                       (long long)fr__ops_elems(&in[1].shape), ax, (long long)C);
  if (fr__ops_present(n, in, 2)) {
    if ((st = fr__ops_check_in(n, in, 2, FR__OPS_F32, err))) return st;
    if (fr__ops_elems(&in[2].shape) != C)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "shift has %lld elements, axis %d has %lld",
                         (long long)fr__ops_elems(&in[2].shape), ax, (long long)C);
  }
  return fr__ops_set_out(n, out, FR__F32, &in[0].shape, err);
}

fr_status fr__ops_affine_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *s = &in[0].shape;
  int ax = fr__ops_axis(n->a.axis.axis, s->rank);
  if (ax < 0) return FR_ERR_SHAPE;
  int64_t outer = 1, inner = 1, C = s->d[ax];
  for (int i = 0; i < ax; i++) outer *= s->d[i];
  for (int i = ax + 1; i < s->rank; i++) inner *= s->d[i];
  const float *restrict x = in[0].data, *restrict sc = in[1].data;
  const float *restrict sh = fr__ops_present(n, in, 2) ? in[2].data : NULL;
  float *restrict y = out->data;
  for (int64_t o = 0; o < outer; o++) {
    if (inner == 1) {
      const float *xr = x + o * C;
      float *yr = y + o * C;
      if (sh) {
        for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * sc[c] + sh[c];
      } else {
        for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * sc[c];
      }
      continue;
    }
    for (int64_t c = 0; c < C; c++) {
      const float a = sc[c], b = sh ? sh[c] : 0.0f;
      const float *xr = x + (o * C + c) * inner;
      float *yr = y + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) yr[i] = xr[i] * a + b;
    }
  }
  return FR_OK;
}
