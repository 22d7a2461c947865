/*
 * XNNPACK backend (see backend.h). Debian ships an XNNPACK snapshot from
 * 2022-02: operators are created with their weights (packed at create), bound
 * to shapes and buffers at setup, and run with xnn_run_operator.
 *
 * Which nodes are taken (all F32):
 *   CONV2D           dense, grouped, depthwise (any multiplier); constant
 *                    weights and bias; any padding mode (pads are resolved per
 *                    plan with fr__resolve_pads and the operator is re-created
 *                    when they change, so SAME_* is exact for every size).
 *                    Depthwise 3x3 with multiplier 1 and dilation 1 runs on
 *                    our own AVX2 / AVX-512 kernel (dw3x3.c): 2x faster than
 *                    this XNNPACK's at 16-32 channels. In single-threaded
 *                    sessions, dense convolutions with >= 32 output channels
 *                    and depthwise ones with >= 64 channels run on oneDNN
 *                    (dnnl_backend.c, which states the measured rule): the
 *                    primitive is made per input shape at setup.
 *   FULLY_CONNECTED  constant w[N,K] / bias; batch = product of leading dims.
 *   MAXPOOL2D        any padding, ceil_mode (emulated by extra end padding,
 *                    which max pooling ignores).
 *   AVGPOOL2D        count_include_pad=false (XNNPACK divides by the number of
 *                    valid pixels) with any padding; count_include_pad=true
 *                    only when the resolved padding is zero.
 *   REDUCE_MEAN      over H,W of a 4-D NHWC tensor (global average pooling).
 *   PRELU            slope constant and per channel on the last axis (or scalar).
 *   RELU, CLIP, LEAKY_RELU, SIGMOID; SOFTMAX on the last axis (>= 8 channels).
 *   ADD SUB MUL DIV MAXIMUM MINIMUM SQUARED_DIFF with broadcasting, rank <= 6.
 *
 * Decisions that need only the node and constants are made in create (*op =
 * NULL: the reference kernel runs). Conditions that depend on the plan's
 * shapes (e.g. an average-pool window that counts padding) are checked in
 * setup; when one is not met the backend op runs the reference kernel itself
 * for that plan, so results always follow the reference semantics.
 *
 * Memory: XNNPACK (this snapshot has no weights cache) packs weights per
 * operator, so its operators' weights are per session. The dense / grouped
 * convolutions are built at their first setup, once the rule has said
 * whether oneDNN runs them (oneDNN's reordered weights are shared across
 * sessions and threads, dnnl_backend.h), and the depthwise 3x3 weights packed
 * for dw3x3.c are shared by every op packing the same constants (xb_dw_get).
 *
 * Contracts for the caller:
 *  - The graph (its constants and nodes) outlives every backend op created
 *    from it: SAME-padded convolutions re-pack their weights from the graph
 *    when a new plan changes the padding.
 *  - XNNPACK kernels may read up to XNN_EXTRA_BYTES (16) bytes past the end of
 *    an input buffer (never write); buffers handed to setup should have that
 *    much readable slack after them.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xnnpack.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "nn/backend.h"
#include "nn/dnnl_backend.h"
#include "nn/dw3x3.h"

#define XB_MAX_IN 4

typedef enum xb_kind {
  XB_CONV,
  XB_DW3, /* depthwise 3x3 on our own kernel (dw3x3.c) */
  XB_FC,
  XB_MAXPOOL,
  XB_AVGPOOL,
  XB_GAP,
  XB_PRELU,
  XB_CLAMP,
  XB_LEAKY,
  XB_SIGMOID,
  XB_SOFTMAX,
  XB_BINARY
} xb_kind;

/* Shape-dependent creation parameters. The XNNPACK operator is rebuilt when
 * setup computes a different key. */
typedef struct xb_key {
  size_t channels;
  uint32_t pt, pr, pb, pl;
  bool dnnl;             /* CONV2D on oneDNN, for input [n, h, w, C] */
  int64_t n, h, w;
} xb_key;

struct fr__backend_op {
  fr__op op;
  xb_kind kind;
  const char *src;       /* graph source, for messages */
  const char *name;      /* node name */
  xnn_operator_t xop;
  xb_key key;
  bool have_key;

  /* CONV2D / FULLY_CONNECTED */
  const float *w;
  const float *bias;     /* graph constant, or zeros below */
  float *own_bias;
  size_t cin, cout, group_in, group_out;
  uint32_t groups, kh, kw, sh, sw, dh, dw;
  float out_min, out_max;
  /* PRELU */
  const float *slope;
  size_t slope_n;        /* 1 (scalar) or the channel count */
  float *own_slope;
  /* XB_DW3: packed weights shared by every session of the model (xb_dw_get) */
  struct xb_dwshared *dw_shared;
  const float *dw_packed;
  fr__dw3x3 dwk;
  /* CONV2D on oneDNN (XB_CONV or XB_DW3 with key.dnnl); NULL when oneDNN
   * declined the parameters (our kernels run) */
  fr__dnnl_conv *dn;
  const float *dn_x;
  float *dn_y;

  /* setup results */
  bool empty;            /* nothing to compute for this plan */
  bool use_ref;          /* run the reference kernel for this plan */
  const fr__node *node;
  int n_in;
  fr__tensor in[XB_MAX_IN];
  fr__tensor out;
};

/* ---------------------------------------------------------------- init */

static pthread_once_t xb_once = PTHREAD_ONCE_INIT;
static enum xnn_status xb_init_status = xnn_status_uninitialized;

static void xb_init_once(void) { xb_init_status = xnn_initialize(NULL); }

fr_status fr__backend_init(fr_error *err) {
  pthread_once(&xb_once, xb_init_once);
  if (xb_init_status != xnn_status_success)
    return fr_error_set(err, FR_ERR_BACKEND, "xnnpack: initialization failed (status %d)",
                        (int)xb_init_status);
  return FR_OK;
}

/* ---------------------------------------------------------------- helpers */

static const char *xb_status_str(enum xnn_status s) {
  switch (s) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "uninitialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
  }
  return "unknown status";
}

static fr_status xb_fail(const fr__backend_op *op, fr_error *err, fr_status st, const char *what,
                         const char *detail) {
  return fr_error_set(err, st, "%s: node '%s' (%s): %s%s%s", op->src, op->name,
                      fr__op_name(op->op), what, detail ? ": " : "", detail ? detail : "");
}

static fr_status xb_xnn_fail(const fr__backend_op *op, fr_error *err, const char *what,
                             enum xnn_status s) {
  return xb_fail(op, err, s == xnn_status_out_of_memory ? FR_ERR_NOMEM : FR_ERR_BACKEND, what,
                 xb_status_str(s));
}

static const fr__value *xb_val(const fr__graph *g, const fr__node *n, int i) {
  if (i >= n->n_in || n->in[i] < 0 || n->in[i] >= g->n_values) return NULL;
  return &g->values[n->in[i]];
}

static bool xb_is_const_f32(const fr__value *v) {
  return v && v->data && v->dtype == FR__F32 && fr__shape_elems(&v->shape) >= 0;
}

static int xb_norm_axis(int axis, int rank) {
  if (axis < 0) axis += rank;
  return (axis >= 0 && axis < rank) ? axis : -1;
}

static bool xb_valid_clamp(float lo, float hi) { return !isnan(lo) && !isnan(hi) && lo < hi; }

/* Elements of a resolved tensor, or -1 (unknown / overflow). */
static int64_t xb_elems(const fr__tensor *t) {
  if (t->shape.rank < 0) return -1;
  return fr__shape_elems(&t->shape);
}

/* ---------------------------------------------------------------- build */

/* oneDNN parameters of a CONV2D op for key k (k->n, h, w set). */
static fr__dnnl_conv_params xb_dnnl_params(const fr__backend_op *op, const xb_key *k) {
  fr__dnnl_conv_params p = {0};
  int64_t ekh = (int64_t)(op->kh - 1) * op->dh + 1, ekw = (int64_t)(op->kw - 1) * op->dw + 1;
  p.n = k->n, p.h = k->h, p.w = k->w;
  p.cin = (int64_t)op->cin, p.cout = (int64_t)op->cout;
  p.oh = (k->h + k->pt + k->pb - ekh) / op->sh + 1;
  p.ow = (k->w + k->pl + k->pr - ekw) / op->sw + 1;
  p.kh = (int)op->kh, p.kw = (int)op->kw, p.sh = (int)op->sh, p.sw = (int)op->sw;
  p.dh = (int)op->dh, p.dw = (int)op->dw, p.groups = (int)op->groups;
  p.pt = (int)k->pt, p.pl = (int)k->pl, p.pb = (int)k->pb, p.pr = (int)k->pr;
  p.lo = op->out_min, p.hi = op->out_max;
  p.weights = op->w;
  p.bias = op->bias;
  return p;
}

/* (Re)creates op->xop for key k. On failure op->xop is NULL. */
static enum xnn_status xb_build(fr__backend_op *op, const xb_key *k) {
  if (op->xop) {
    xnn_delete_operator(op->xop);
    op->xop = NULL;
  }
  fr__dnnl_conv_destroy(op->dn);
  op->dn = NULL;
  op->have_key = false;
  enum xnn_status s = xnn_status_invalid_parameter;
  xnn_operator_t x = NULL;
  size_t c = k->channels;
  if (k->dnnl) {
    fr__dnnl_conv_params p = xb_dnnl_params(op, k);
    fr_status st = fr__dnnl_conv_create(&p, &op->dn);
    if (st == FR_OK) {
      op->key = *k;
      op->have_key = true;
      return xnn_status_success;
    }
    if (st == FR_ERR_NOMEM) return xnn_status_out_of_memory;
    /* declined: build our kernel below under the same key, so the next plan
     * with this shape does not ask oneDNN again */
  }
  switch (op->kind) {
    case XB_DW3:
      op->key = *k; /* no XNNPACK operator */
      op->have_key = true;
      return xnn_status_success;
    case XB_CONV:
      s = xnn_create_convolution2d_nhwc_f32(k->pt, k->pr, k->pb, k->pl, op->kh, op->kw, op->sh,
                                            op->sw, op->dh, op->dw, op->groups, op->group_in,
                                            op->group_out, op->cin, op->cout, op->w, op->bias,
                                            op->out_min, op->out_max, 0, &x);
      break;
    case XB_FC:
      s = xnn_create_fully_connected_nc_f32(op->cin, op->cout, op->cin, op->cout, op->w, op->bias,
                                            op->out_min, op->out_max, 0, &x);
      break;
    case XB_MAXPOOL:
      s = xnn_create_max_pooling2d_nhwc_f32(k->pt, k->pr, k->pb, k->pl, op->kh, op->kw, op->sh,
                                            op->sw, 1, 1, c, c, c, -INFINITY, INFINITY, 0, &x);
      break;
    case XB_AVGPOOL:
      s = xnn_create_average_pooling2d_nhwc_f32(k->pt, k->pr, k->pb, k->pl, op->kh, op->kw, op->sh,
                                                op->sw, c, c, c, -INFINITY, INFINITY, 0, &x);
      break;
    case XB_GAP:
      s = xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, 0, &x);
      break;
    case XB_PRELU: {
      free(op->own_slope);
      op->own_slope = NULL;
      const float *slope = op->slope;
      if (op->slope_n != c) { /* scalar slope: one copy per channel */
        if (op->slope_n != 1 || c == 0 || c > SIZE_MAX / sizeof(float)) break;
        op->own_slope = malloc(c * sizeof(float));
        if (!op->own_slope) {
          s = xnn_status_out_of_memory;
          break;
        }
        for (size_t i = 0; i < c; i++) op->own_slope[i] = op->slope[0];
        slope = op->own_slope;
      }
      s = xnn_create_prelu_nc_f32(c, c, c, slope, 0, &x);
      break;
    }
    case XB_CLAMP:
      s = xnn_create_clamp_nc_f32(c, c, c, op->out_min, op->out_max, 0, &x);
      break;
    case XB_LEAKY:
      s = xnn_create_leaky_relu_nc_f32(c, c, c, op->out_min, 0, &x);
      break;
    case XB_SIGMOID:
      s = xnn_create_sigmoid_nc_f32(c, c, c, 0, &x);
      break;
    case XB_SOFTMAX:
      s = xnn_create_softmax_nc_f32(c, c, c, 0, &x);
      break;
    case XB_BINARY:
      switch (op->op) {
        case FR__OP_ADD: s = xnn_create_add_nd_f32(-INFINITY, INFINITY, 0, &x); break;
        case FR__OP_SUB: s = xnn_create_subtract_nd_f32(-INFINITY, INFINITY, 0, &x); break;
        case FR__OP_MUL: s = xnn_create_multiply_nd_f32(-INFINITY, INFINITY, 0, &x); break;
        case FR__OP_DIV: s = xnn_create_divide_nd_f32(-INFINITY, INFINITY, 0, &x); break;
        case FR__OP_MAXIMUM: s = xnn_create_maximum_nd_f32(0, &x); break;
        case FR__OP_MINIMUM: s = xnn_create_minimum_nd_f32(0, &x); break;
        case FR__OP_SQUARED_DIFF: s = xnn_create_squared_difference_nd_f32(0, &x); break;
        default: break;
      }
      break;
  }
  if (s != xnn_status_success) {
    if (x) xnn_delete_operator(x);
    return s;
  }
  op->xop = x;
  op->key = *k;
  op->have_key = true;
  return s;
}

static bool xb_key_eq(const xb_key *a, const xb_key *b) {
  return a->channels == b->channels && a->pt == b->pt && a->pr == b->pr && a->pb == b->pb &&
         a->pl == b->pl && a->dnnl == b->dnnl && a->n == b->n && a->h == b->h && a->w == b->w;
}

/* ---------------------------------------------------------------- shared packing */

/* Depthwise 3x3 weights packed for dw3x3.c, shared by every op that packs the
 * same weights and bias (all sessions of a model, on every thread): keyed by
 * the graph's addresses plus a hash of the contents, counted references,
 * built once under xb_dw_lock, read-only afterwards. */
typedef struct xb_dwshared {
  struct xb_dwshared *next;
  const float *w, *bias; /* graph constants; bias NULL = zeros */
  int64_t c;
  uint64_t hash;
  float *packed;
  int64_t cp;
  long refs;
} xb_dwshared;

static pthread_mutex_t xb_dw_lock = PTHREAD_MUTEX_INITIALIZER;
static xb_dwshared *xb_dw_list;

static uint64_t xb_hash(uint64_t h, const float *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &p[i], sizeof u);
    h = (h ^ u) * 1099511628211ull;
  }
  return h;
}

/* NULL when out of memory. */
static xb_dwshared *xb_dw_get(const float *w, const float *bias, int64_t c) {
  uint64_t h = xb_hash(1469598103934665603ull, w, (size_t)c * 9);
  if (bias) h = xb_hash(h, bias, (size_t)c);
  pthread_mutex_lock(&xb_dw_lock);
  xb_dwshared *e = xb_dw_list;
  while (e && !(e->w == w && e->bias == bias && e->c == c && e->hash == h)) e = e->next;
  if (e) {
    e->refs++;
  } else if ((e = calloc(1, sizeof *e))) {
    e->w = w, e->bias = bias, e->c = c, e->hash = h, e->refs = 1;
    if ((e->packed = fr__dw3x3_pack(w, bias, c, &e->cp))) {
      e->next = xb_dw_list;
      xb_dw_list = e;
    } else {
      free(e);
      e = NULL;
    }
  }
  pthread_mutex_unlock(&xb_dw_lock);
  return e;
}

static void xb_dw_release(xb_dwshared *e) {
  if (!e) return;
  pthread_mutex_lock(&xb_dw_lock);
  bool last = --e->refs == 0;
  if (last)
    for (xb_dwshared **pp = &xb_dw_list; *pp; pp = &(*pp)->next)
      if (*pp == e) {
        *pp = e->next;
        break;
      }
  pthread_mutex_unlock(&xb_dw_lock);
  if (last) {
    free(e->packed);
    free(e);
  }
}

/* ---------------------------------------------------------------- create */

void fr__backend_destroy(fr__backend_op *op) {
  if (!op) return;
  if (op->xop) xnn_delete_operator(op->xop);
  fr__dnnl_conv_destroy(op->dn);
  free(op->own_bias);
  free(op->own_slope);
  xb_dw_release(op->dw_shared);
  free(op);
}

/* Stride, dilation and groups of 0 mean 1 (as in the reference kernels). */
static int xb_norm1(int v) { return v == 0 ? 1 : v; }

/* Fills op for a CONV2D node; false = not taken. */
static bool xb_prep_conv(fr__backend_op *op, const fr__graph *g, const fr__node *n,
                         const fr__shape *x, xb_key *k) {
  const fr__conv_attrs *a = &n->a.conv;
  const fr__value *w = xb_val(g, n, 1);
  if (!xb_is_const_f32(w) || w->shape.rank != 4) return false;
  int64_t o = w->shape.d[0], kh = w->shape.d[1], kw = w->shape.d[2], gi = w->shape.d[3];
  int sh = xb_norm1(a->stride_h), sw = xb_norm1(a->stride_w);
  int dh = xb_norm1(a->dil_h), dw = xb_norm1(a->dil_w), groups = xb_norm1(a->groups);
  if (kh < 1 || kw < 1 || kh > (1 << 20) || kw > (1 << 20) || (a->kh && a->kh != kh) ||
      (a->kw && a->kw != kw))
    return false;
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || groups < 1) return false;
  if (o < 1 || gi < 1 || o % groups != 0 || gi > INT32_MAX / groups) return false;
  op->groups = (uint32_t)groups;
  op->group_in = (size_t)gi;
  op->group_out = (size_t)(o / groups);
  op->cin = (size_t)gi * (size_t)groups;
  op->cout = (size_t)o;
  op->kh = (uint32_t)kh;
  op->kw = (uint32_t)kw;
  op->sh = (uint32_t)sh;
  op->sw = (uint32_t)sw;
  op->dh = (uint32_t)dh;
  op->dw = (uint32_t)dw;
  op->out_min = a->out_min;
  op->out_max = a->out_max;
  if (!xb_valid_clamp(op->out_min, op->out_max)) return false;
  op->w = w->data;
  if (x->rank == 4 && x->d[3] >= 0 && (size_t)x->d[3] != op->cin)
    return false; /* the shape function reports it */
  /* Padding for the declared size when known, else a placeholder that is
   * replaced at setup. */
  int t = 0, l = 0, b = 0, r = 0;
  if (a->pad_mode == FR__PAD_EXPLICIT) {
    t = a->pad_t, l = a->pad_l, b = a->pad_b, r = a->pad_r;
  } else if (a->pad_mode != FR__PAD_VALID && x->rank == 4 && x->d[1] > 0 && x->d[2] > 0) {
    fr__resolve_pads(a->pad_mode, 0, 0, 0, 0, (int)kh, (int)kw, sh, sw, dh, dw, x->d[1], x->d[2],
                     &t, &l, &b, &r);
  }
  if (t < 0 || l < 0 || b < 0 || r < 0) return false;
  k->pt = (uint32_t)t, k->pl = (uint32_t)l, k->pb = (uint32_t)b, k->pr = (uint32_t)r;
  return true;
}

static bool xb_prep_fc(fr__backend_op *op, const fr__graph *g, const fr__node *n) {
  const fr__value *w = xb_val(g, n, 1);
  if (!xb_is_const_f32(w) || w->shape.rank != 2 || w->shape.d[0] < 1 || w->shape.d[1] < 1)
    return false;
  op->cout = (size_t)w->shape.d[0];
  op->cin = (size_t)w->shape.d[1];
  op->out_min = n->a.fc.out_min;
  op->out_max = n->a.fc.out_max;
  op->w = w->data;
  return xb_valid_clamp(op->out_min, op->out_max);
}

static bool xb_prep_pool(fr__backend_op *op, const fr__node *n, const fr__shape *x, xb_key *k) {
  const fr__pool_attrs *a = &n->a.pool;
  int sh = xb_norm1(a->stride_h), sw = xb_norm1(a->stride_w);
  if (a->kh < 1 || a->kw < 1 || a->kh > (1 << 20) || a->kw > (1 << 20) || sh < 1 || sw < 1)
    return false;
  op->kh = (uint32_t)a->kh;
  op->kw = (uint32_t)a->kw;
  op->sh = (uint32_t)sh;
  op->sw = (uint32_t)sw;
  k->channels = (x->rank == 4 && x->d[3] > 0) ? (size_t)x->d[3] : 1;
  /* Padding is resolved at setup (the operator is re-created if it differs). */
  k->pt = k->pl = k->pb = k->pr = 0;
  return true;
}

/* REDUCE_MEAN over axes {1, 2} of a rank-4 tensor (the rank is checked again
 * at setup when it is not known here). */
static bool xb_is_hw_mean(const fr__node *n) {
  const fr__reduce_attrs *a = &n->a.reduce;
  if (a->n_axes != 2) return false;
  int a0 = xb_norm_axis(a->axes[0], 4), a1 = xb_norm_axis(a->axes[1], 4);
  return (a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1);
}

static bool xb_prep_gap(const fr__node *n, const fr__shape *x, xb_key *k) {
  if ((x->rank >= 0 && x->rank != 4) || !xb_is_hw_mean(n)) return false;
  k->channels = x->rank == 4 && x->d[3] > 0 ? (size_t)x->d[3] : 1;
  return true;
}

static bool xb_prep_prelu(fr__backend_op *op, const fr__graph *g, const fr__node *n,
                          const fr__shape *x, xb_key *k) {
  const fr__value *s = xb_val(g, n, 1);
  if (!xb_is_const_f32(s) || x->rank == 0 || (x->rank > 0 && s->shape.rank > x->rank))
    return false;
  int64_t ns = fr__shape_elems(&s->shape);
  if (ns < 1) return false;
  for (int i = 0; i + 1 < s->shape.rank; i++)
    if (s->shape.d[i] != 1) return false; /* not per channel on the last axis */
  int64_t c = x->rank > 0 ? x->d[x->rank - 1] : -1;
  if (ns > 1 && c >= 0 && c != ns) return false;
  op->slope = s->data;
  op->slope_n = (size_t)ns;
  k->channels = c > 0 ? (size_t)c : op->slope_n;
  return true;
}

fr_status fr__backend_create(const fr__graph *g, const fr__node *n, fr__backend_op **opp,
                             fr_error *err) {
  *opp = NULL;
  if (xb_init_status != xnn_status_success) return FR_OK; /* not initialized: take nothing */
  if (n->n_out != 1 || n->n_in < 1 || n->n_in > XB_MAX_IN || n->out[0] < 0 ||
      n->out[0] >= g->n_values)
    return FR_OK;
  for (int i = 0; i < n->n_in; i++) {
    const fr__value *v = xb_val(g, n, i);
    if (v && v->dtype != FR__F32) return FR_OK;
  }
  if (g->values[n->out[0]].dtype != FR__F32) return FR_OK;
  const fr__value *xv = xb_val(g, n, 0);
  if (!xv) return FR_OK;
  /* Declared shapes are meaningful only for graph inputs and constants; the
   * shapes of other values are known only at setup (rank -1 = unknown). */
  fr__shape xs = xv->shape;
  if (xv->producer >= 0 || xs.rank < 0 || xs.rank > FR__MAX_DIMS) xs.rank = -1;
  const fr__shape *x = &xs;

  fr__backend_op *op = calloc(1, sizeof *op);
  if (!op)
    return fr_error_set(err, FR_ERR_NOMEM, "%s: node '%s' (%s): out of memory", g->source,
                        n->name, fr__op_name(n->op));
  op->op = n->op;
  op->src = g->source;
  op->name = n->name;
  xb_key k = {.channels = 1};
  bool take = false;
  switch (n->op) {
    case FR__OP_CONV2D:
      op->kind = XB_CONV;
      take = n->n_in <= 3 && xb_prep_conv(op, g, n, x, &k);
      break;
    case FR__OP_FULLY_CONNECTED:
      op->kind = XB_FC;
      take = n->n_in <= 3 && xb_prep_fc(op, g, n);
      break;
    case FR__OP_MAXPOOL2D:
      op->kind = XB_MAXPOOL;
      take = n->n_in == 1 && xb_prep_pool(op, n, x, &k);
      break;
    case FR__OP_AVGPOOL2D:
      op->kind = XB_AVGPOOL;
      take = n->n_in == 1 && xb_prep_pool(op, n, x, &k);
      break;
    case FR__OP_REDUCE_MEAN:
      op->kind = XB_GAP;
      take = n->n_in == 1 && xb_prep_gap(n, x, &k);
      break;
    case FR__OP_PRELU:
      op->kind = XB_PRELU;
      take = n->n_in == 2 && xb_prep_prelu(op, g, n, x, &k);
      break;
    case FR__OP_RELU:
      op->kind = XB_CLAMP;
      op->out_min = 0.0f;
      op->out_max = INFINITY;
      take = n->n_in == 1;
      break;
    case FR__OP_CLIP:
      op->kind = XB_CLAMP;
      op->out_min = n->a.clip.min;
      op->out_max = n->a.clip.max;
      take = n->n_in == 1 && xb_valid_clamp(op->out_min, op->out_max);
      break;
    case FR__OP_LEAKY_RELU:
      op->kind = XB_LEAKY;
      op->out_min = n->a.clip.alpha;
      take = n->n_in == 1 && isfinite(op->out_min);
      break;
    case FR__OP_SIGMOID:
      op->kind = XB_SIGMOID;
      take = n->n_in == 1;
      break;
    case FR__OP_SOFTMAX:
      op->kind = XB_SOFTMAX;
      /* the axis is checked against the rank at setup when unknown here */
      take = n->n_in == 1 && x->rank != 0 &&
             (x->rank < 0 ? n->a.axis.axis == -1 || n->a.axis.axis >= 0
                          : xb_norm_axis(n->a.axis.axis, x->rank) == x->rank - 1);
      if (take && x->rank > 0 && x->d[x->rank - 1] > 0) k.channels = (size_t)x->d[x->rank - 1];
      if (take && x->rank > 0 && x->d[x->rank - 1] >= 0 && x->d[x->rank - 1] < 8) take = false;
      break;
    case FR__OP_ADD: case FR__OP_SUB: case FR__OP_MUL: case FR__OP_DIV:
    case FR__OP_MAXIMUM: case FR__OP_MINIMUM: case FR__OP_SQUARED_DIFF:
      op->kind = XB_BINARY;
      take = n->n_in == 2 && xb_val(g, n, 1) != NULL;
      break;
    default:
      break;
  }
  if (take && (op->kind == XB_CONV || op->kind == XB_FC)) {
    const fr__value *b = xb_val(g, n, 2);
    if (b) {
      take = xb_is_const_f32(b) && fr__shape_elems(&b->shape) == (int64_t)op->cout;
      op->bias = b->data;
    } else {
      op->own_bias = calloc(op->cout, sizeof(float));
      if (!op->own_bias) {
        fr__backend_destroy(op);
        return fr_error_set(err, FR_ERR_NOMEM, "%s: node '%s' (%s): out of memory", g->source,
                            n->name, fr__op_name(n->op));
      }
      op->bias = op->own_bias;
    }
  }
  if (!take) {
    fr__backend_destroy(op);
    return FR_OK;
  }
  if (op->kind == XB_CONV && op->group_in == 1 && op->group_out == 1 && op->kh == 3 &&
      op->kw == 3 && op->dh == 1 && op->dw == 1 && fr__dw3x3_available()) {
    op->dw_shared = xb_dw_get(op->w, op->own_bias ? NULL : op->bias, (int64_t)op->cout);
    op->dw_packed = op->dw_shared ? op->dw_shared->packed : NULL;
    op->dwk.cp = op->dw_shared ? op->dw_shared->cp : 0;
    if (!op->dw_packed) {
      fr__backend_destroy(op);
      return fr_error_set(err, FR_ERR_NOMEM, "%s: node '%s' (%s): out of memory", g->source,
                          n->name, fr__op_name(n->op));
    }
    op->kind = XB_DW3;
  }
  /* A dense / grouped convolution is built at its first setup, when the
   * input shape says whether oneDNN takes it (single-threaded sessions):
   * packing XNNPACK weights here only to free them there left ~2.7 MB of
   * freed heap per worker behind fr_feature alone. Parameters XNNPACK
   * refuses then run the reference kernel (use_ref), as a NULL op would. */
  if (op->kind == XB_CONV) {
    op->key = k;
    *opp = op;
    return FR_OK;
  }
  /* Other ops are created now (packs the weights); parameters XNNPACK
   * refuses mean the reference kernel keeps the node. */
  enum xnn_status s = xb_build(op, &k);
  if (s == xnn_status_out_of_memory) {
    fr_status st = xb_xnn_fail(op, err, "creating the XNNPACK operator", s);
    fr__backend_destroy(op);
    return st;
  }
  if (s != xnn_status_success) {
    fr__backend_destroy(op);
    return FR_OK;
  }
  *opp = op;
  return FR_OK;
}

/* ---------------------------------------------------------------- setup */

/* Output size of a window op along one dim; 0 when the window does not fit. */
static int64_t xb_out_dim(int64_t in, int64_t pad, int64_t eff_k, int64_t stride) {
  if (in + pad < eff_k) return 0;
  return (in + pad - eff_k) / stride + 1;
}

static fr_status xb_setup_conv(fr__backend_op *op, const fr__node *n, const fr__tensor *x,
                               const fr__tensor *y, xb_key *k, pthreadpool_t pool,
                               fr_error *err) {
  const fr__conv_attrs *a = &n->a.conv;
  if (x->shape.rank != 4 || y->shape.rank != 4)
    return xb_fail(op, err, FR_ERR_SHAPE, "expects 4-D NHWC input and output", NULL);
  if ((size_t)x->shape.d[3] != op->cin || (size_t)y->shape.d[3] != op->cout ||
      x->shape.d[0] != y->shape.d[0])
    return xb_fail(op, err, FR_ERR_SHAPE, "input/output channels do not match the weights", NULL);
  int t, l, b, r;
  fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, (int)op->kh, (int)op->kw,
                   (int)op->sh, (int)op->sw, (int)op->dh, (int)op->dw, x->shape.d[1],
                   x->shape.d[2], &t, &l, &b, &r);
  if (t < 0 || l < 0 || b < 0 || r < 0) return FR_ERR_UNSUPPORTED;
  int64_t ekh = (int64_t)(op->kh - 1) * op->dh + 1, ekw = (int64_t)(op->kw - 1) * op->dw + 1;
  if (xb_out_dim(x->shape.d[1], (int64_t)t + b, ekh, op->sh) != y->shape.d[1] ||
      xb_out_dim(x->shape.d[2], (int64_t)l + r, ekw, op->sw) != y->shape.d[2])
    return xb_fail(op, err, FR_ERR_SHAPE, "output size does not match the convolution", NULL);
  k->pt = (uint32_t)t, k->pl = (uint32_t)l, k->pb = (uint32_t)b, k->pr = (uint32_t)r;
  /* oneDNN where the measured rule says so (single-threaded sessions) */
  int threads = pool ? (int)pthreadpool_get_threads_count(pool) : 1;
  k->dnnl = false;
  k->n = k->h = k->w = 0;
  xb_key dk = *k;
  dk.dnnl = true;
  dk.n = x->shape.d[0], dk.h = x->shape.d[1], dk.w = x->shape.d[2];
  fr__dnnl_conv_params p = xb_dnnl_params(op, &dk);
  if (fr__dnnl_conv_wanted(&p, threads)) *k = dk;
  return FR_OK;
}

/* Pads for a pool along one dim: resolved pads plus the extra end padding
 * that ceil_mode needs. FR_ERR_UNSUPPORTED when XNNPACK would not match the
 * reference (a window with no valid pixel). */
static fr_status xb_pool_dim(int64_t in, int64_t out, int k, int s, int p0, int p1, uint32_t *b0,
                             uint32_t *b1) {
  if (in < 1 || out < 1 || p0 < 0 || p1 < 0) return FR_ERR_UNSUPPORTED;
  int64_t fl = xb_out_dim(in, (int64_t)p0 + p1, k, s);
  int64_t extra = 0;
  if (out > fl) extra = (out - 1) * s + k - (in + p0 + p1);
  else if (out < fl) return FR_ERR_UNSUPPORTED;
  if (extra < 0 || extra > INT32_MAX) return FR_ERR_UNSUPPORTED;
  /* every window must hold a valid pixel: the first ends at k-1-p0, the last
   * starts at (out-1)*s - p0 */
  if (p0 >= k || (out - 1) * s - p0 > in - 1) return FR_ERR_UNSUPPORTED;
  *b0 = (uint32_t)p0;
  *b1 = (uint32_t)(p1 + extra);
  return FR_OK;
}

static fr_status xb_setup_pool(fr__backend_op *op, const fr__node *n, const fr__tensor *x,
                               const fr__tensor *y, xb_key *k, fr_error *err) {
  const fr__pool_attrs *a = &n->a.pool;
  if (x->shape.rank != 4 || y->shape.rank != 4 || x->shape.d[0] != y->shape.d[0] ||
      x->shape.d[3] != y->shape.d[3])
    return xb_fail(op, err, FR_ERR_SHAPE, "expects 4-D NHWC input and output with equal N, C",
                   NULL);
  int t, l, b, r;
  fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, (int)op->kh, (int)op->kw,
                   (int)op->sh, (int)op->sw, 1, 1, x->shape.d[1], x->shape.d[2], &t, &l, &b, &r);
  if (xb_pool_dim(x->shape.d[1], y->shape.d[1], (int)op->kh, (int)op->sh, t, b, &k->pt, &k->pb) ||
      xb_pool_dim(x->shape.d[2], y->shape.d[2], (int)op->kw, (int)op->sw, l, r, &k->pl, &k->pr))
    return FR_ERR_UNSUPPORTED;
  /* XNNPACK's average pooling divides by the number of valid pixels. With
   * count_include_pad that is the reference divisor only without padding (the
   * ceil_mode overhang is not counted by the reference either). */
  if (op->kind == XB_AVGPOOL && a->count_include_pad && (t | b | l | r))
    return FR_ERR_UNSUPPORTED;
  k->channels = (size_t)x->shape.d[3];
  return FR_OK;
}

/* Copies a shape into XNNPACK's size_t dims (rank 0 becomes [1]). */
static bool xb_dims(const fr__shape *s, size_t *d, size_t *nd) {
  if (s->rank > XNN_MAX_TENSOR_DIMS) return false;
  if (s->rank == 0) {
    d[0] = 1;
    *nd = 1;
    return true;
  }
  for (int i = 0; i < s->rank; i++) d[i] = (size_t)s->d[i];
  *nd = (size_t)s->rank;
  return true;
}

/* Binds a binary op; FR_ERR_UNSUPPORTED when XNNPACK cannot take the shapes. */
static enum xnn_status xb_setup_binary(fr__backend_op *op, const fr__tensor *a,
                                       const fr__tensor *b, const fr__tensor *y,
                                       pthreadpool_t pool, bool *unsupported) {
  size_t da[XNN_MAX_TENSOR_DIMS], db[XNN_MAX_TENSOR_DIMS], na, nb;
  if (!xb_dims(&a->shape, da, &na) || !xb_dims(&b->shape, db, &nb) ||
      y->shape.rank > XNN_MAX_TENSOR_DIMS) {
    *unsupported = true;
    return xnn_status_success;
  }
  const float *pa = a->data, *pb = b->data;
  float *py = y->data;
  switch (op->op) {
    case FR__OP_ADD: return xnn_setup_add_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_SUB: return xnn_setup_subtract_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_MUL: return xnn_setup_multiply_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_DIV: return xnn_setup_divide_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_MAXIMUM: return xnn_setup_maximum_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_MINIMUM: return xnn_setup_minimum_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    case FR__OP_SQUARED_DIFF:
      return xnn_setup_squared_difference_nd_f32(op->xop, na, da, nb, db, pa, pb, py, pool);
    default: break;
  }
  *unsupported = true;
  return xnn_status_success;
}

fr_status fr__backend_setup(fr__backend_op *op, const fr__node *n, const fr__tensor *in,
                            const fr__tensor *out, pthreadpool_t pool, fr_error *err) {
  op->empty = false;
  op->use_ref = false;
  op->node = n;
  if (n->op != op->op || n->n_in < 1 || n->n_in > XB_MAX_IN || n->n_out != 1)
    return xb_fail(op, err, FR_ERR_INTERNAL, "node does not match its backend operator", NULL);
  op->n_in = n->n_in;
  for (int i = 0; i < n->n_in; i++) op->in[i] = in[i];
  op->out = out[0];

  const fr__tensor *x = &in[0], *y = &out[0];
  int64_t nx = xb_elems(x), ny = xb_elems(y);
  if (nx < 0 || ny < 0 || x->dtype != FR__F32 || y->dtype != FR__F32)
    return xb_fail(op, err, FR_ERR_SHAPE, "unresolved shape or non-float tensor", NULL);
  if (ny == 0) {
    op->empty = true;
    return FR_OK;
  }
  if (!x->data || !y->data)
    return xb_fail(op, err, FR_ERR_INTERNAL, "missing buffer at setup", NULL);

  xb_key k = op->key;
  fr_status st = FR_OK;
  switch (op->kind) {
    case XB_CONV:
    case XB_DW3:
      st = xb_setup_conv(op, n, x, y, &k, pool, err);
      break;
    case XB_MAXPOOL:
    case XB_AVGPOOL:
      st = xb_setup_pool(op, n, x, y, &k, err);
      break;
    case XB_FC: {
      if (x->shape.rank < 1 || (size_t)x->shape.d[x->shape.rank - 1] != op->cin ||
          y->shape.rank < 1 || (size_t)y->shape.d[y->shape.rank - 1] != op->cout ||
          (uint64_t)nx / op->cin != (uint64_t)ny / op->cout)
        return xb_fail(op, err, FR_ERR_SHAPE, "input/output size does not match the weights",
                       NULL);
      break;
    }
    case XB_GAP:
      if (x->shape.rank != 4) {
        st = FR_ERR_UNSUPPORTED; /* not the H, W mean of NHWC after all */
        break;
      }
      if (x->shape.d[1] * x->shape.d[2] == 0 ||
          ny != x->shape.d[0] * x->shape.d[3])
        return xb_fail(op, err, FR_ERR_SHAPE, "expects a 4-D NHWC input reduced over H, W",
                       NULL);
      k.channels = (size_t)x->shape.d[3];
      break;
    case XB_PRELU:
    case XB_SOFTMAX:
      if (x->shape.rank < 1 || nx != ny) {
        st = FR_ERR_UNSUPPORTED; /* e.g. a slope that broadcasts to a larger output */
        break;
      }
      k.channels = (size_t)x->shape.d[x->shape.rank - 1];
      /* XNNPACK's softmax is slower than the plain loop below 8 channels
       * (measured: [8840,2] 0.21 ms vs 0.10 ms) */
      if (op->kind == XB_SOFTMAX &&
          (xb_norm_axis(n->a.axis.axis, x->shape.rank) != x->shape.rank - 1 || k.channels < 8)) {
        st = FR_ERR_UNSUPPORTED;
        break;
      }
      if (op->kind == XB_PRELU && op->slope_n != 1 && op->slope_n != k.channels)
        st = FR_ERR_UNSUPPORTED; /* slope along another axis */
      break;
    case XB_CLAMP:
    case XB_LEAKY:
    case XB_SIGMOID:
      if (nx != ny) return xb_fail(op, err, FR_ERR_SHAPE, "input and output sizes differ", NULL);
      k.channels = 1; /* elementwise over a flat vector */
      break;
    case XB_BINARY: {
      fr__shape bs;
      if (!in[1].data || xb_elems(&in[1]) < 0 || in[1].dtype != FR__F32 ||
          fr__broadcast_shape(&x->shape, &in[1].shape, &bs) != FR_OK ||
          !fr__shape_eq(&bs, &y->shape))
        return xb_fail(op, err, FR_ERR_SHAPE, "operand shapes do not broadcast to the output",
                       NULL);
      break;
    }
  }
  if (st == FR_ERR_UNSUPPORTED) {
    op->use_ref = true;
    return FR_OK;
  }
  if (st != FR_OK) return st;
  if (!op->have_key || !xb_key_eq(&k, &op->key)) {
    enum xnn_status s = xb_build(op, &k);
    if (s == xnn_status_out_of_memory)
      return xb_xnn_fail(op, err, "creating the XNNPACK operator", s);
    if (s != xnn_status_success) {
      op->use_ref = true;
      return FR_OK;
    }
  }

  enum xnn_status s = xnn_status_success;
  bool unsupported = false;
  const float *px = x->data;
  float *py = y->data;
  if (op->dn) {
    op->dn_x = px;
    op->dn_y = py;
    return FR_OK;
  }
  switch (op->kind) {
    case XB_DW3:
      op->dwk.x = px;
      op->dwk.y = py;
      op->dwk.wp = op->dw_packed;
      op->dwk.bp = op->dw_packed + 9 * op->dwk.cp;
      op->dwk.n = x->shape.d[0], op->dwk.h = x->shape.d[1], op->dwk.w = x->shape.d[2];
      op->dwk.c = x->shape.d[3], op->dwk.oh = y->shape.d[1], op->dwk.ow = y->shape.d[2];
      op->dwk.sh = (int)op->sh, op->dwk.sw = (int)op->sw;
      op->dwk.pt = (int)k.pt, op->dwk.pl = (int)k.pl;
      op->dwk.lo = op->out_min, op->dwk.hi = op->out_max;
      break;
    case XB_CONV:
      s = xnn_setup_convolution2d_nhwc_f32(op->xop, (size_t)x->shape.d[0], (size_t)x->shape.d[1],
                                           (size_t)x->shape.d[2], px, py, pool);
      break;
    case XB_MAXPOOL:
      s = xnn_setup_max_pooling2d_nhwc_f32(op->xop, (size_t)x->shape.d[0], (size_t)x->shape.d[1],
                                           (size_t)x->shape.d[2], px, py, pool);
      break;
    case XB_AVGPOOL:
      s = xnn_setup_average_pooling2d_nhwc_f32(op->xop, (size_t)x->shape.d[0],
                                               (size_t)x->shape.d[1], (size_t)x->shape.d[2], px,
                                               py, pool);
      break;
    case XB_FC:
      s = xnn_setup_fully_connected_nc_f32(op->xop, (size_t)nx / op->cin, px, py, pool);
      break;
    case XB_GAP:
      s = xnn_setup_global_average_pooling_nwc_f32(op->xop, (size_t)x->shape.d[0],
                                                   (size_t)(x->shape.d[1] * x->shape.d[2]), px,
                                                   py, pool);
      break;
    case XB_PRELU:
      s = xnn_setup_prelu_nc_f32(op->xop, (size_t)nx / k.channels, px, py, pool);
      break;
    case XB_SOFTMAX:
      s = xnn_setup_softmax_nc_f32(op->xop, (size_t)nx / k.channels, px, py, pool);
      break;
    case XB_CLAMP:
      s = xnn_setup_clamp_nc_f32(op->xop, (size_t)nx, px, py, pool);
      break;
    case XB_LEAKY:
      s = xnn_setup_leaky_relu_nc_f32(op->xop, (size_t)nx, px, py, pool);
      break;
    case XB_SIGMOID:
      s = xnn_setup_sigmoid_nc_f32(op->xop, (size_t)nx, px, py, pool);
      break;
    case XB_BINARY:
      s = xb_setup_binary(op, x, &in[1], y, pool, &unsupported);
      break;
  }
  if (unsupported || s == xnn_status_invalid_parameter || s == xnn_status_unsupported_parameter) {
    op->use_ref = true;
    return FR_OK;
  }
  if (s != xnn_status_success) return xb_xnn_fail(op, err, "XNNPACK setup failed", s);
  return FR_OK;
}

/* ---------------------------------------------------------------- run */

fr_status fr__backend_run(fr__backend_op *op, pthreadpool_t pool, fr_error *err) {
  if (op->empty) return FR_OK;
  if (op->use_ref) {
    if (!op->node) return xb_fail(op, err, FR_ERR_INTERNAL, "run before setup", NULL);
    fr_status st = fr__op_table[op->op].ref(op->node, op->in, &op->out);
    if (st != FR_OK) return xb_fail(op, err, st, "reference kernel failed", fr_strerror(st));
    return FR_OK;
  }
  if (op->dn) {
    fr_status st = fr__dnnl_conv_run(op->dn, op->dn_x, op->dn_y);
    if (st != FR_OK) return xb_fail(op, err, st, "oneDNN convolution failed", fr_strerror(st));
    return FR_OK;
  }
  if ((!op->xop && op->kind != XB_DW3) || !op->node)
    return xb_fail(op, err, FR_ERR_INTERNAL, "run before setup", NULL);
#if defined(__x86_64__) || defined(__i386__)
  /* Flush denormals to zero on this thread too (pthreadpool does it on its
   * workers and, for a NULL pool, around the loop; this is belt and braces). */
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ */
#endif
  enum xnn_status s = xnn_status_success;
  if (op->kind == XB_DW3) fr__dw3x3_run(&op->dwk, pool);
  else s = xnn_run_operator(op->xop, pool);
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(csr);
#endif
  if (s != xnn_status_success) return xb_xnn_fail(op, err, "XNNPACK run failed", s);
  return FR_OK;
}
