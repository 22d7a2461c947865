/*
 * Reduced-precision convolutions on oneDNN (see lowp.h for the contract and
 * docs/models.md for the measurements behind it).
 */
#include "nn/lowp.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/nn.h"
#include "nn/dnnl_backend.h"

struct fr__lowp_op {
  const char *src;  /* graph source, for messages */
  const char *name; /* node name */
  int precision;
  bool src_bf16, dst_bf16;
  /* conv constants (graph-owned: the graph outlives the session) */
  const float *w, *bias;
  int64_t cin, cout;
  int kh, kw, sh, sw, dh, dw, groups;
  float lo, hi;
  /* per-shape primitive */
  fr__dnnl_conv *dn;
  int64_t kn, kh_in, kw_in;
  int pt, pl, pb, pr;
  const void *x;
  void *y;
  bool empty;
  /* oneDNN declined this shape (e.g. a kernel larger than the padded input):
   * the f32 reference kernel runs, through f32 copies of bf16 buffers */
  bool use_ref;
  const fr__node *node;
  fr__tensor in[3], out;
  float *xf, *yf;
  size_t xf_cap, yf_cap;
};

static pthread_once_t lp_env_once = PTHREAD_ONCE_INIT;
static bool lp_env_f32;

static void lp_env_init(void) {
  const char *e = getenv("FR_PRECISION");
  lp_env_f32 = e && strcmp(e, "f32") == 0;
}

bool fr__lowp_active(int precision) {
  if (precision != FR_PRECISION_BF16) return false;
  pthread_once(&lp_env_once, lp_env_init);
  return !lp_env_f32 && fr__dnnl_bf16_native();
}

void fr__lowp_destroy(fr__lowp_op *op) {
  if (!op) return;
  fr__dnnl_conv_destroy(op->dn);
  free(op->xf);
  free(op->yf);
  free(op);
}

static float lp_from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint16_t lp_to_bf16(float f) { /* round to nearest even (NaN stays NaN) */
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static bool lp_grow(float **p, size_t *cap, size_t n) {
  if (n <= *cap) return true;
  float *q = malloc(n * sizeof(float) + 64);
  if (!q) return false;
  free(*p);
  *p = q;
  *cap = n;
  return true;
}

static int lp_norm1(int v) { return v == 0 ? 1 : v; }

static const fr__value *lp_in(const fr__graph *g, const fr__node *n, int k) {
  if (k >= n->n_in || n->in[k] < 0 || n->in[k] >= g->n_values) return NULL;
  return &g->values[n->in[k]];
}

/* Whether node n is a convolution this path takes (constant f32 OHWI
 * weights, optional constant bias, a computed f32 input). */
static bool lp_takes(const fr__graph *g, const fr__node *n) {
  if (n->op != FR__OP_CONV2D || n->n_in < 2 || n->n_in > 3 || n->n_out != 1) return false;
  const fr__value *x = lp_in(g, n, 0), *w = lp_in(g, n, 1), *b = lp_in(g, n, 2);
  if (!x || x->data || x->dtype != FR__F32 || !w || !w->data || w->dtype != FR__F32 ||
      w->shape.rank != 4)
    return false;
  if (n->out[0] < 0 || n->out[0] >= g->n_values || g->values[n->out[0]].dtype != FR__F32)
    return false;
  const fr__conv_attrs *a = &n->a.conv;
  int64_t o = w->shape.d[0], kh = w->shape.d[1], kw = w->shape.d[2], gi = w->shape.d[3];
  int groups = lp_norm1(a->groups);
  if (o < 1 || kh < 1 || kw < 1 || gi < 1 || kh > 64 || kw > 64 || groups < 1 || o % groups ||
      gi > INT32_MAX / groups)
    return false;
  if ((a->kh && a->kh != kh) || (a->kw && a->kw != kw)) return false;
  /* dense, or depthwise with multiplier 1: the classes oneDNN 2.6 has bf16
   * kernels for (a grouped 5x5 with a clip post-op was declined) */
  if (groups != 1 && !(gi == 1 && o == groups)) return false;
  if (lp_norm1(a->stride_h) < 1 || lp_norm1(a->stride_w) < 1 || lp_norm1(a->dil_h) < 1 ||
      lp_norm1(a->dil_w) < 1)
    return false;
  if (isnan(a->out_min) || isnan(a->out_max) || !(a->out_min < a->out_max)) return false;
  if (b && (!b->data || b->dtype != FR__F32 || fr__shape_elems(&b->shape) != o)) return false;
  return true;
}

fr_status fr__lowp_prepare(const fr__graph *g, const fr__node *nodes, const bool *disabled,
                           const bool *keep, int precision, fr__lowp_op **ops, fr_error *err) {
  if (!fr__lowp_active(precision)) return FR_OK;
  bool *take = calloc((size_t)g->n_nodes + 1, sizeof *take);
  bool *bf = calloc((size_t)g->n_values + 1, sizeof *bf);
  if (!take || !bf) {
    free(take);
    free(bf);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  }
  for (int i = 0; i < g->n_nodes; i++) take[i] = !disabled[i] && lp_takes(g, &nodes[i]);
  /* a value is bf16 when a taken node makes it and only taken nodes read it,
   * as their input 0, and nobody outside looks at it */
  for (int i = 0; i < g->n_nodes; i++)
    if (take[i]) bf[nodes[i].out[0]] = true;
  for (int v = 0; v < g->n_values; v++)
    if (keep[v]) bf[v] = false;
  for (int k = 0; k < g->n_outputs; k++) bf[g->outputs[k]] = false;
  for (int i = 0; i < g->n_nodes; i++) {
    if (disabled[i]) continue;
    const fr__node *n = &nodes[i];
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v >= 0 && v < g->n_values && (!take[i] || k != 0)) bf[v] = false;
    }
  }
  fr_status st = FR_OK;
  for (int i = 0; i < g->n_nodes && st == FR_OK; i++) {
    if (!take[i]) continue;
    const fr__node *n = &nodes[i];
    fr__lowp_op *op = calloc(1, sizeof *op);
    if (!op) {
      st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
      break;
    }
    const fr__value *w = lp_in(g, n, 1), *b = lp_in(g, n, 2);
    const fr__conv_attrs *a = &n->a.conv;
    op->src = g->source;
    op->name = n->name;
    op->precision = precision;
    op->src_bf16 = bf[n->in[0]];
    op->dst_bf16 = bf[n->out[0]];
    op->w = w->data;
    op->bias = b ? b->data : NULL;
    op->groups = lp_norm1(a->groups);
    op->cout = w->shape.d[0];
    op->kh = (int)w->shape.d[1];
    op->kw = (int)w->shape.d[2];
    op->cin = w->shape.d[3] * op->groups;
    op->sh = lp_norm1(a->stride_h), op->sw = lp_norm1(a->stride_w);
    op->dh = lp_norm1(a->dil_h), op->dw = lp_norm1(a->dil_w);
    op->lo = a->out_min, op->hi = a->out_max;
    ops[i] = op;
  }
  free(take);
  free(bf);
  if (st != FR_OK)
    for (int i = 0; i < g->n_nodes; i++) {
      fr__lowp_destroy(ops[i]);
      ops[i] = NULL;
    }
  return st;
}

static fr_status lp_fail(const fr__lowp_op *op, fr_error *err, fr_status st, const char *what) {
  return fr_error_set(err, st, "%s: node '%s' (CONV2D, bf16): %s", op->src, op->name, what);
}

fr_status fr__lowp_setup(fr__lowp_op *op, const fr__node *n, const fr__tensor *in,
                         const fr__tensor *out, fr_error *err) {
  const fr__tensor *x = &in[0], *y = &out[0];
  if (x->shape.rank != 4 || y->shape.rank != 4 || x->shape.d[3] != op->cin ||
      y->shape.d[3] != op->cout || x->shape.d[0] != y->shape.d[0])
    return lp_fail(op, err, FR_ERR_SHAPE, "expects 4-D NHWC input and output matching the weights");
  op->empty = fr__shape_elems(&y->shape) == 0;
  if (op->empty) return FR_OK;
  if (!x->data || !y->data) return lp_fail(op, err, FR_ERR_INTERNAL, "missing buffer at setup");
  const fr__conv_attrs *a = &n->a.conv;
  int t, l, b, r;
  fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, op->kh, op->kw, op->sh,
                   op->sw, op->dh, op->dw, x->shape.d[1], x->shape.d[2], &t, &l, &b, &r);
  if (t < 0 || l < 0 || b < 0 || r < 0) return lp_fail(op, err, FR_ERR_SHAPE, "negative padding");
  bool same = (op->dn || op->use_ref) && op->kn == x->shape.d[0] && op->kh_in == x->shape.d[1] &&
              op->kw_in == x->shape.d[2] && op->pt == t && op->pl == l && op->pb == b &&
              op->pr == r;
  if (!same) {
    fr__dnnl_conv_destroy(op->dn);
    op->dn = NULL;
    fr__dnnl_conv_params p = {0};
    p.n = x->shape.d[0], p.h = x->shape.d[1], p.w = x->shape.d[2];
    p.cin = op->cin, p.cout = op->cout, p.oh = y->shape.d[1], p.ow = y->shape.d[2];
    p.kh = op->kh, p.kw = op->kw, p.sh = op->sh, p.sw = op->sw, p.dh = op->dh, p.dw = op->dw;
    p.groups = op->groups;
    p.pt = t, p.pl = l, p.pb = b, p.pr = r;
    p.lo = op->lo, p.hi = op->hi;
    p.weights = op->w;
    p.bias = op->bias;
    p.lowp = 1;
    p.src_bf16 = op->src_bf16;
    p.dst_bf16 = op->dst_bf16;
    fr_status st = fr__dnnl_conv_create(&p, &op->dn);
    if (st == FR_ERR_NOMEM) return lp_fail(op, err, st, "out of memory");
    op->use_ref = st != FR_OK;
    if (st != FR_OK) op->dn = NULL;
    op->kn = p.n, op->kh_in = p.h, op->kw_in = p.w;
    op->pt = t, op->pl = l, op->pb = b, op->pr = r;
  }
  op->x = x->data;
  op->y = y->data;
  if (op->use_ref) { /* f32 reference on f32 views of the buffers */
    size_t nx = (size_t)fr__shape_elems(&x->shape), ny = (size_t)fr__shape_elems(&y->shape);
    if ((op->src_bf16 && !lp_grow(&op->xf, &op->xf_cap, nx)) ||
        (op->dst_bf16 && !lp_grow(&op->yf, &op->yf_cap, ny)))
      return lp_fail(op, err, FR_ERR_NOMEM, "out of memory");
    op->node = n;
    for (int k = 0; k < n->n_in && k < 3; k++) op->in[k] = in[k];
    op->out = *y;
    if (op->src_bf16) op->in[0].data = op->xf;
    if (op->dst_bf16) op->out.data = op->yf;
  }
  return FR_OK;
}

static fr_status lp_run_ref(fr__lowp_op *op, fr_error *err) {
  if (!op->node) return lp_fail(op, err, FR_ERR_INTERNAL, "run before setup");
  if (op->src_bf16) {
    size_t nx = (size_t)fr__shape_elems(&op->in[0].shape);
    const uint16_t *h = op->x;
    for (size_t i = 0; i < nx; i++) op->xf[i] = lp_from_bf16(h[i]);
  }
  fr_status st = fr__op_table[FR__OP_CONV2D].ref(op->node, op->in, &op->out);
  if (st != FR_OK) return lp_fail(op, err, st, "reference kernel failed");
  if (op->dst_bf16) {
    size_t ny = (size_t)fr__shape_elems(&op->out.shape);
    uint16_t *h = op->y;
    for (size_t i = 0; i < ny; i++) h[i] = lp_to_bf16(op->yf[i]);
  }
  return FR_OK;
}

fr_status fr__lowp_run(fr__lowp_op *op, fr_error *err) {
  if (op->empty) return FR_OK;
  if (op->use_ref) return lp_run_ref(op, err);
  if (!op->dn) return lp_fail(op, err, FR_ERR_INTERNAL, "run before setup");
  fr_status st = fr__dnnl_conv_run(op->dn, op->x, op->y);
  if (st != FR_OK) return lp_fail(op, err, st, "oneDNN convolution failed");
  return FR_OK;
}
