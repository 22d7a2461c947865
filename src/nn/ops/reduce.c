/*
 * SOFTMAX (any axis, max-subtracted) and REDUCE_MEAN / SUM / MAX / MIN.
 */
#include <float.h>
#include <math.h>

#include "nn/ops/internal.h"

/* ---- SOFTMAX ---- */

fr_status fr__ops_softmax_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                                fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err);
  if (st) return st;
  if (fr__ops_axis(n->a.axis.axis, in[0].shape.rank) < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %d out of range for rank %d", n->a.axis.axis,
                       in[0].shape.rank);
  return fr__ops_set_out(n, out, FR__F32, &in[0].shape, err);
}

fr_status fr__ops_softmax_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *s = &in[0].shape;
  int ax = fr__ops_axis(n->a.axis.axis, s->rank);
  if (ax < 0) return FR_ERR_SHAPE;
  int64_t outer = 1, inner = 1, C = s->d[ax];
  for (int i = 0; i < ax; i++) outer *= s->d[i];
  for (int i = ax + 1; i < s->rank; i++) inner *= s->d[i];
  if (C == 0) return FR_OK;
  const float *x = in[0].data;
  float *y = out->data;
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t j = 0; j < inner; j++) {
      const float *xr = x + o * C * inner + j;
      float *yr = y + o * C * inner + j;
      float mx = xr[0];
      for (int64_t c = 1; c < C; c++) mx = xr[c * inner] > mx ? xr[c * inner] : mx;
      float sum = 0.0f;
      for (int64_t c = 0; c < C; c++) {
        float e = expf(xr[c * inner] - mx);
        yr[c * inner] = e;
        sum += e;
      }
      for (int64_t c = 0; c < C; c++) yr[c * inner] /= sum;
    }
  }
  return FR_OK;
}

/* ---- REDUCE_* ---- */

/* Bit i set = dim i is reduced. Axes come from in[1] (static) when present,
 * else from attrs; none = all dims. */
static fr_status reduce_mask(const fr__node *n, const fr__tensor *in, unsigned *mask,
                             fr_error *err) {
  const int r = in[0].shape.rank;
  int64_t axes[FR__MAX_DIMS];
  int na = 0;
  if (fr__ops_present(n, in, 1)) {
    fr_status st = fr__ops_read_ints(n, in, 1, "axes", axes, FR__MAX_DIMS, &na, err);
    if (st) return st;
  } else {
    na = n->a.reduce.n_axes;
    if (na < 0 || na > FR__MAX_DIMS)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "%d axes out of range", na);
    for (int i = 0; i < na; i++) axes[i] = n->a.reduce.axes[i];
  }
  unsigned m = 0;
  for (int i = 0; i < na; i++) {
    int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
    if (a < 0 || a >= r)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %lld out of range for rank %d",
                         (long long)axes[i], r);
    m |= 1u << a;
  }
  *mask = na == 0 ? (r ? (1u << r) - 1 : 0) : m;
  return FR_OK;
}

fr_status fr__ops_reduce_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  unsigned mask;
  if ((st = reduce_mask(n, in, &mask, err))) return st;
  const fr__shape *x = &in[0].shape;
  fr__shape s = {0, {0}};
  for (int i = 0; i < x->rank; i++) {
    if (mask & (1u << i)) {
      if (x->d[i] == 0 && (n->op == FR__OP_REDUCE_MAX || n->op == FR__OP_REDUCE_MIN))
        return fr__ops_err(err, n, FR_ERR_SHAPE, "cannot take max/min over an empty dim %d", i);
      if (n->a.reduce.keepdims) s.d[s.rank++] = 1;
    } else {
      s.d[s.rank++] = x->d[i];
    }
  }
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

typedef struct red_plan {
  int rank;
  int64_t d[FR__MAX_DIMS];
  int64_t ost[FR__MAX_DIMS]; /* output stride per (coalesced) input dim; 0 = reduced */
  bool red[FR__MAX_DIMS];
  int64_t count;             /* elements reduced into each output */
} red_plan;

static void reduce_plan(const fr__shape *x, unsigned mask, red_plan *p) {
  int64_t ost[FR__MAX_DIMS], acc = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    if (mask & (1u << i)) {
      ost[i] = 0;
    } else {
      ost[i] = acc;
      acc *= x->d[i];
    }
  }
  p->rank = 0;
  p->count = 1;
  for (int i = 0; i < x->rank; i++) {
    bool red = (mask >> i) & 1u;
    if (red) p->count *= x->d[i];
    if (x->d[i] == 1) continue;
    int r = p->rank;
    if (r > 0 && p->red[r - 1] == red) { /* same kind as the previous dim: merge */
      p->d[r - 1] *= x->d[i];
      p->ost[r - 1] = ost[i];
    } else {
      p->d[r] = x->d[i], p->ost[r] = ost[i], p->red[r] = red;
      p->rank++;
    }
  }
  if (p->rank == 0) {
    p->rank = 1;
    p->d[0] = 1, p->ost[0] = 0, p->red[0] = true;
  }
}

#define REDUCE_IMPL(T, NAME, INIT_MAX, INIT_MIN, ADD)                                      \
  static void NAME(fr__op op, const red_plan *p, const T *x, T *y, int64_t out_n) {        \
    const T init = op == FR__OP_REDUCE_MAX ? INIT_MAX : op == FR__OP_REDUCE_MIN ? INIT_MIN : 0; \
    for (int64_t i = 0; i < out_n; i++) y[i] = init;                                       \
    const int last = p->rank - 1;                                                          \
    const int64_t L = p->d[last];                                                          \
    int64_t rows = 1, idx[FR__MAX_DIMS] = {0}, off = 0;                                    \
    for (int i = 0; i < last; i++) rows *= p->d[i];                                        \
    for (int64_t r = 0; r < rows; r++, x += L) {                                           \
      if (p->red[last]) { /* contiguous run into one output */                            \
        T acc = y[off];                                                                    \
        if (op == FR__OP_REDUCE_MAX) {                                                     \
          for (int64_t i = 0; i < L; i++) acc = x[i] > acc ? x[i] : acc;                   \
        } else if (op == FR__OP_REDUCE_MIN) {                                              \
          for (int64_t i = 0; i < L; i++) acc = x[i] < acc ? x[i] : acc;                   \
        } else {                                                                           \
          for (int64_t i = 0; i < L; i++) acc = ADD(acc, x[i]);                            \
        }                                                                                  \
        y[off] = acc;                                                                      \
      } else {                                                                             \
        T *yr = y + off;                                                                   \
        if (op == FR__OP_REDUCE_MAX) {                                                     \
          for (int64_t i = 0; i < L; i++) yr[i] = x[i] > yr[i] ? x[i] : yr[i];             \
        } else if (op == FR__OP_REDUCE_MIN) {                                              \
          for (int64_t i = 0; i < L; i++) yr[i] = x[i] < yr[i] ? x[i] : yr[i];             \
        } else {                                                                           \
          for (int64_t i = 0; i < L; i++) yr[i] = ADD(yr[i], x[i]);                        \
        }                                                                                  \
      }                                                                                    \
      for (int i = last - 1; i >= 0; i--) {                                                \
        off += p->ost[i];                                                                  \
        if (++idx[i] < p->d[i]) break;                                                     \
        off -= p->ost[i] * p->d[i];                                                        \
        idx[i] = 0;                                                                        \
      }                                                                                    \
    }                                                                                      \
  }

#define ADD_F(a, b) ((a) + (b))
#define ADD_I(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
REDUCE_IMPL(float, reduce_f32, -INFINITY, INFINITY, ADD_F)
REDUCE_IMPL(int64_t, reduce_i64, INT64_MIN, INT64_MAX, ADD_I)

/* Sum of a contiguous run in double (used when each output reduces one
 * contiguous block, e.g. a global mean), for accuracy on long runs. */
static void reduce_f32_blocks(fr__op op, const float *x, float *y, int64_t out_n, int64_t L) {
  for (int64_t o = 0; o < out_n; o++, x += L) {
    double acc = 0.0;
    for (int64_t i = 0; i < L; i++) acc += x[i];
    y[o] = op == FR__OP_REDUCE_MEAN ? (float)(acc / (double)L) : (float)acc;
  }
}

fr_status fr__ops_reduce_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  unsigned mask;
  if (reduce_mask(n, in, &mask, NULL)) return FR_ERR_SHAPE;
  red_plan p;
  reduce_plan(&in[0].shape, mask, &p);
  const int64_t out_n = fr__ops_elems(&out->shape);
  const int64_t in_n = fr__ops_elems(&in[0].shape);
  if (out_n <= 0) return FR_OK;
  const bool sum_like = n->op == FR__OP_REDUCE_SUM || n->op == FR__OP_REDUCE_MEAN;
  if (in[0].dtype == FR__F32) {
    float *y = out->data;
    if (in_n == 0) {
      for (int64_t i = 0; i < out_n; i++) y[i] = 0.0f;
      return FR_OK;
    }
    if (sum_like && p.red[p.rank - 1] && p.count == p.d[p.rank - 1]) {
      reduce_f32_blocks(n->op, in[0].data, y, out_n, p.d[p.rank - 1]);
      return FR_OK;
    }
    reduce_f32(n->op, &p, in[0].data, y, out_n);
    if (n->op == FR__OP_REDUCE_MEAN) {
      const float c = (float)p.count;
      for (int64_t i = 0; i < out_n; i++) y[i] /= c;
    }
  } else {
    int64_t *y = out->data;
    if (in_n == 0) {
      for (int64_t i = 0; i < out_n; i++) y[i] = 0;
      return FR_OK;
    }
    reduce_i64(n->op, &p, in[0].data, y, out_n);
    if (n->op == FR__OP_REDUCE_MEAN && p.count > 0)
      for (int64_t i = 0; i < out_n; i++) y[i] /= p.count;
  }
  return FR_OK;
}
