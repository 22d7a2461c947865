/*
 * The op table (arity, shape function, reference kernel, FLOPs per op) and the
 * helpers shared by the reference kernels.
 */
#include <stdarg.h>
#include <stdio.h>

#include "nn/ops/internal.h"

/* ---- shared helpers ---- */

fr_status fr__ops_err(fr_error *err, const fr__node *n, fr_status st, const char *fmt, ...) {
  if (!err) return st;
  int k = snprintf(err->msg, sizeof err->msg, "node '%s' (%s): ", n && n->name ? n->name : "",
                   n ? fr__op_name(n->op) : "?");
  if (k < 0) k = 0;
  if ((size_t)k < sizeof err->msg) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
    va_end(ap);
  }
  return st;
}

int64_t fr__ops_elems(const fr__shape *s) {
  if (s->rank < 0 || s->rank > FR__MAX_DIMS) return -1;
  int64_t p = 1;
  for (int i = 0; i < s->rank; i++) {
    int64_t d = s->d[i];
    if (d < 0 || d > FR__MAX_TENSOR_ELEMS) return -1;
    p *= d; /* both factors <= 2^31: no overflow */
    if (p > FR__MAX_TENSOR_ELEMS) return -1;
  }
  return p;
}

const char *fr__ops_shape_str(const fr__shape *s, char *buf, size_t n) {
  if (n == 0) return buf;
  size_t off = 0;
  buf[0] = 0;
  int k = snprintf(buf, n, "[");
  off = k > 0 ? (size_t)k : 0;
  for (int i = 0; i < s->rank && i < FR__MAX_DIMS && off + 1 < n; i++) {
    k = snprintf(buf + off, n - off, "%s%lld", i ? "," : "", (long long)s->d[i]);
    if (k < 0) break;
    off += (size_t)k;
  }
  if (off + 1 < n) snprintf(buf + off, n - off, "]");
  return buf;
}

static const char *dtype_name(fr__dtype dt) { return dt == FR__F32 ? "F32" : dt == FR__I64 ? "I64" : "?"; }

fr_status fr__ops_check_in(const fr__node *n, const fr__tensor *in, int i, unsigned dtype_mask,
                           fr_error *err) {
  if (!fr__ops_present(n, in, i))
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d is missing", i);
  const fr__tensor *t = &in[i];
  if (t->shape.rank > FR__MAX_DIMS)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d has rank %d (max %d)", i, t->shape.rank,
                       FR__MAX_DIMS);
  if (t->dtype != FR__F32 && t->dtype != FR__I64)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d has an invalid dtype", i);
  if (dtype_mask && !(dtype_mask & (1u << t->dtype)))
    return fr__ops_err(err, n, FR_ERR_UNSUPPORTED, "input %d: dtype %s not supported", i,
                       dtype_name(t->dtype));
  for (int k = 0; k < t->shape.rank; k++)
    if (t->shape.d[k] < 0)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d has unresolved dim %d (%lld)", i, k,
                         (long long)t->shape.d[k]);
  if (fr__ops_elems(&t->shape) < 0)
    return fr__ops_err(err, n, FR_ERR_TOO_LARGE, "input %d has more than %lld elements", i,
                       (long long)FR__MAX_TENSOR_ELEMS);
  return FR_OK;
}

fr_status fr__ops_set_out(const fr__node *n, fr__tensor *out, fr__dtype dt, const fr__shape *s,
                          fr_error *err) {
  if (s->rank < 0 || s->rank > FR__MAX_DIMS)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "output rank %d out of range", s->rank);
  for (int k = 0; k < s->rank; k++)
    if (s->d[k] < 0)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "output dim %d is negative (%lld)", k,
                         (long long)s->d[k]);
  if (fr__ops_elems(s) < 0)
    return fr__ops_err(err, n, FR_ERR_TOO_LARGE, "output has more than %lld elements",
                       (long long)FR__MAX_TENSOR_ELEMS);
  out->dtype = dt;
  out->shape = *s;
  return FR_OK;
}

fr_status fr__ops_read_ints(const fr__node *n, const fr__tensor *in, int i, const char *what,
                            int64_t *v, int max, int *count, fr_error *err) {
  if (!fr__ops_present(n, in, i))
    return fr__ops_err(err, n, FR_ERR_SHAPE, "%s (input %d) is missing", what, i);
  const fr__tensor *t = &in[i];
  if (!t->data)
    return fr__ops_err(err, n, FR_ERR_UNSUPPORTED,
                       "%s (input %d) must be constant or computable at plan time", what, i);
  int64_t e = fr__ops_elems(&t->shape);
  if (e < 0 || e > max)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "%s (input %d) has %lld elements (max %d)", what, i,
                       (long long)e, max);
  for (int64_t k = 0; k < e; k++) {
    if (t->dtype == FR__I64) {
      v[k] = ((const int64_t *)t->data)[k];
    } else {
      float f = ((const float *)t->data)[k];
      if (!(f >= -9.0e18f && f <= 9.0e18f) || f != (float)(int64_t)f)
        return fr__ops_err(err, n, FR_ERR_SHAPE, "%s (input %d) holds a non-integer value", what,
                           i);
      v[k] = (int64_t)f;
    }
  }
  *count = (int)e;
  return FR_OK;
}

/* ---- public helpers (ops.h) ---- */

static int64_t pad_total(int64_t in, int k, int s, int d) {
  if (s < 1) s = 1;
  if (d < 1) d = 1;
  int64_t out = (in + s - 1) / s;
  int64_t t = (out - 1) * s + (int64_t)(k - 1) * d + 1 - in;
  return t > 0 ? t : 0;
}

void fr__resolve_pads(fr__pad_mode mode, int pt, int pl, int pb, int pr, int kh, int kw, int sh,
                      int sw, int dh, int dw, int64_t in_h, int64_t in_w, int *t, int *l, int *b,
                      int *r) {
  switch (mode) {
  case FR__PAD_SAME_UPPER:
  case FR__PAD_SAME_LOWER: {
    int64_t th = pad_total(in_h, kh, sh, dh), tw = pad_total(in_w, kw, sw, dw);
    /* totals are bounded by (k-1)*d + s, which the shape functions cap to int range */
    int small_h = (int)(th / 2), small_w = (int)(tw / 2);
    int big_h = (int)(th - small_h), big_w = (int)(tw - small_w);
    if (mode == FR__PAD_SAME_UPPER) {
      *t = small_h, *b = big_h, *l = small_w, *r = big_w;
    } else {
      *t = big_h, *b = small_h, *l = big_w, *r = small_w;
    }
    break;
  }
  case FR__PAD_VALID:
    *t = *l = *b = *r = 0;
    break;
  default:
    *t = pt, *l = pl, *b = pb, *r = pr;
    break;
  }
}

fr_status fr__broadcast_shape(const fr__shape *a, const fr__shape *b, fr__shape *out) {
  if (a->rank < 0 || a->rank > FR__MAX_DIMS || b->rank < 0 || b->rank > FR__MAX_DIMS)
    return FR_ERR_SHAPE;
  fr__shape o;
  o.rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < o.rank; i++) {
    int ia = i - (o.rank - a->rank), ib = i - (o.rank - b->rank);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db || db == 1)
      o.d[i] = da;
    else if (da == 1)
      o.d[i] = db;
    else
      return FR_ERR_SHAPE;
  }
  for (int i = o.rank; i < FR__MAX_DIMS; i++) o.d[i] = 0;
  *out = o;
  return FR_OK;
}

/* ---- the table ---- */

#define BIN(NAME) [FR__OP_##NAME] = {#NAME, 2, 2, 1, 1, fr__ops_binary_shape, fr__ops_binary_ref, fr__ops_elementwise_flops}
#define UN(NAME) [FR__OP_##NAME] = {#NAME, 1, 1, 1, 1, fr__ops_unary_shape, fr__ops_unary_ref, fr__ops_elementwise_flops}
#define RED(NAME) [FR__OP_##NAME] = {#NAME, 1, 2, 1, 1, fr__ops_reduce_shape, fr__ops_reduce_ref, fr__ops_elementwise_flops}

const fr__op_info fr__op_table[FR__OP_COUNT] = {
    [FR__OP_CONV2D] = {"CONV2D", 2, 3, 1, 1, fr__ops_conv2d_shape, fr__ops_conv2d_ref,
                       fr__ops_conv2d_flops},
    [FR__OP_FULLY_CONNECTED] = {"FULLY_CONNECTED", 2, 3, 1, 1, fr__ops_fc_shape, fr__ops_fc_ref,
                                fr__ops_fc_flops},
    [FR__OP_MATMUL] = {"MATMUL", 2, 2, 1, 1, fr__ops_matmul_shape, fr__ops_matmul_ref,
                       fr__ops_matmul_flops},
    [FR__OP_MAXPOOL2D] = {"MAXPOOL2D", 1, 1, 1, 1, fr__ops_pool_shape, fr__ops_maxpool_ref,
                          fr__ops_pool_flops},
    [FR__OP_AVGPOOL2D] = {"AVGPOOL2D", 1, 1, 1, 1, fr__ops_pool_shape, fr__ops_avgpool_ref,
                          fr__ops_pool_flops},
    BIN(ADD), BIN(SUB), BIN(MUL), BIN(DIV), BIN(MAXIMUM), BIN(MINIMUM), BIN(POW),
    BIN(SQUARED_DIFF), BIN(LESS), BIN(LESS_EQUAL), BIN(GREATER), BIN(GREATER_EQUAL), BIN(EQUAL),
    [FR__OP_PRELU] = {"PRELU", 2, 2, 1, 1, fr__ops_prelu_shape, fr__ops_prelu_ref,
                      fr__ops_elementwise_flops},
    UN(RELU),
    /* CLIP: bounds from attrs, or from optional static/runtime scalar inputs 1, 2 (ONNX 11+) */
    [FR__OP_CLIP] = {"CLIP", 1, 3, 1, 1, fr__ops_unary_shape, fr__ops_unary_ref,
                     fr__ops_elementwise_flops},
    UN(SIGMOID), UN(TANH), UN(EXP), UN(LOG), UN(ABS), UN(NEG), UN(SQRT), UN(RSQRT), UN(SQUARE),
    UN(FLOOR), UN(CEIL), UN(LEAKY_RELU),
    [FR__OP_IDENTITY] = {"IDENTITY", 1, 1, 1, 1, fr__ops_unary_shape, fr__ops_copy_ref, NULL},
    [FR__OP_CAST] = {"CAST", 1, 1, 1, 1, fr__ops_cast_shape, fr__ops_cast_ref, NULL},
    [FR__OP_CHANNEL_AFFINE] = {"CHANNEL_AFFINE", 2, 3, 1, 1, fr__ops_affine_shape,
                               fr__ops_affine_ref, fr__ops_elementwise_flops},
    [FR__OP_SOFTMAX] = {"SOFTMAX", 1, 1, 1, 1, fr__ops_softmax_shape, fr__ops_softmax_ref,
                        fr__ops_elementwise_flops},
    /* REDUCE_*: axes from attrs, or from an optional static input 1 (ONNX 18) */
    RED(REDUCE_MEAN), RED(REDUCE_SUM), RED(REDUCE_MAX), RED(REDUCE_MIN),
    [FR__OP_RESHAPE] = {"RESHAPE", 2, 2, 1, 1, fr__ops_reshape_shape, fr__ops_copy_ref, NULL},
    /* TRANSPOSE: perm from attrs, or from an optional static input 1 (TF.js) */
    [FR__OP_TRANSPOSE] = {"TRANSPOSE", 1, 2, 1, 1, fr__ops_transpose_shape,
                          fr__ops_transpose_ref, NULL},
    [FR__OP_CONCAT] = {"CONCAT", 1, -1, 1, 1, fr__ops_concat_shape, fr__ops_concat_ref, NULL},
    /* SPLIT: sizes from attrs, or from an optional static input 1 (ONNX 13) */
    [FR__OP_SPLIT] = {"SPLIT", 1, 2, 1, -1, fr__ops_split_shape, fr__ops_split_ref, NULL},
    [FR__OP_SLICE] = {"SLICE", 1, 5, 1, 1, fr__ops_slice_shape, fr__ops_slice_ref, NULL},
    [FR__OP_GATHER] = {"GATHER", 2, 2, 1, 1, fr__ops_gather_shape, fr__ops_gather_ref, NULL},
    /* PAD: in[1] = pads (static), in[2] = constant value scalar (static), both optional */
    [FR__OP_PAD] = {"PAD", 1, 3, 1, 1, fr__ops_pad_shape, fr__ops_pad_ref, NULL},
    [FR__OP_RESIZE] = {"RESIZE", 1, 2, 1, 1, fr__ops_resize_shape, fr__ops_resize_ref, NULL},
    [FR__OP_DEPTH_TO_SPACE] = {"DEPTH_TO_SPACE", 1, 1, 1, 1, fr__ops_d2s_shape, fr__ops_d2s_ref,
                               NULL},
    [FR__OP_SHAPE] = {"SHAPE", 1, 1, 1, 1, fr__ops_shape_shape, fr__ops_shape_ref, NULL},
    [FR__OP_SELECT] = {"SELECT", 3, 3, 1, 1, fr__ops_select_shape, fr__ops_select_ref,
                       fr__ops_elementwise_flops},
};

#undef BIN
#undef UN
#undef RED

_Static_assert(sizeof fr__op_table / sizeof fr__op_table[0] == FR__OP_COUNT,
               "op table size must match FR__OP_COUNT");
/* A duplicated designated initializer fails the build (-Woverride-init is part
 * of -Wextra); a missing one is caught by the test that checks every entry. */
#define FR__OPS_COUNT_ONE(name) +1
_Static_assert(0 FR__OP_MAP(FR__OPS_COUNT_ONE) == FR__OP_COUNT, "FR__OP_MAP and enum out of sync");
#undef FR__OPS_COUNT_ONE

const char *fr__op_name(fr__op op) {
  if ((unsigned)op >= FR__OP_COUNT || !fr__op_table[op].name) return "?";
  return fr__op_table[op].name;
}
