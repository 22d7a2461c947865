/*
 * Load-time graph rewrites that keep every named value computable.
 *
 * A rewrite replaces the node that produces a value with a cheaper node that
 * produces the same value from earlier inputs; the nodes it made unnecessary
 * stay in the graph. The executor runs only nodes whose outputs are needed
 * (graph outputs and kept values), so those nodes cost nothing unless someone
 * asks for their outputs (`facerec model run --node`).
 *
 * Rewrites:
 *  - PReLU written out as elementwise ops (TFLite / TF.js exports of
 *    MobileFaceNet): y = P + c * (x - |x|) with P = relu(x) (slope 2c) or
 *    P = x (slope 1 + 2c) becomes PRELU(x, slope). With P = relu(x) the result
 *    is bit-identical (x - |x| = 2x exactly for x < 0). So does
 *    y = relu(x) + c * -relu(-x) (MTCNN's TFLite rnet / onet), slope c: equal
 *    to PRELU(x, c) but for the sign of a zero.
 *  - CONV2D / FULLY_CONNECTED absorb what follows them when they are its only
 *    input producer and have no other consumer: a per-output-channel MUL or
 *    CHANNEL_AFFINE (batch norm: weights and bias scaled), a per-channel or
 *    scalar ADD / SUB (bias), and RELU / CLIP / MINIMUM / MAXIMUM with a scalar
 *    (the fused output clamp). TF.js exports of Keras models write
 *    conv -> mul -> add -> relu -> minimum(6) -> maximum(0) as six ops; after
 *    this it is one convolution.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/optimize.h"

/* The node producing value v if it has op `op`, else NULL. */
static fr__node *prod(fr__graph *g, int v, fr__op op) {
  if (v < 0 || v >= g->n_values) return NULL;
  int p = g->values[v].producer;
  if (p < 0 || g->nodes[p].op != op) return NULL;
  return &g->nodes[p];
}

static bool is_f32_const(const fr__graph *g, int v) {
  return v >= 0 && g->values[v].data && g->values[v].dtype == FR__F32;
}

/* Value m = MUL(s, c) or MUL(c, s) with c an f32 constant: sets *s, *c. */
static bool mul_by_const(fr__graph *g, int m, int *s, int *c) {
  fr__node *mul = prod(g, m, FR__OP_MUL);
  if (!mul || mul->n_in != 2) return false;
  if (is_f32_const(g, mul->in[1])) *c = mul->in[1], *s = mul->in[0];
  else if (is_f32_const(g, mul->in[0])) *c = mul->in[0], *s = mul->in[1];
  else return false;
  return true;
}

/* Tries to match add = P + MUL(SUB(x, ABS(x)), c); on success sets *x, *c, *relu. */
static bool match_prelu(fr__graph *g, int p, int m, int *x_out, int *c_out, bool *relu) {
  int c = -1, s = -1;
  if (!mul_by_const(g, m, &s, &c)) return false;
  fr__node *sub = prod(g, s, FR__OP_SUB);
  if (!sub || sub->n_in != 2) return false;
  int x = sub->in[0];
  fr__node *abs = prod(g, sub->in[1], FR__OP_ABS);
  if (!abs || abs->in[0] != x) return false;
  if (p == x) {
    *relu = false;
  } else {
    fr__node *r = prod(g, p, FR__OP_RELU);
    if (!r || r->in[0] != x) return false;
    *relu = true;
  }
  *x_out = x;
  *c_out = c;
  return true;
}

/* Tries to match add = RELU(x) + MUL(NEG(RELU(NEG(x))), c); on success sets *x, *c. */
static bool match_prelu_neg(fr__graph *g, int p, int m, int *x_out, int *c_out) {
  int c = -1, s = -1;
  if (!mul_by_const(g, m, &s, &c)) return false;
  fr__node *neg1 = prod(g, s, FR__OP_NEG);
  if (!neg1 || neg1->n_in != 1) return false;
  fr__node *r1 = prod(g, neg1->in[0], FR__OP_RELU);
  if (!r1 || r1->n_in != 1) return false;
  fr__node *neg0 = prod(g, r1->in[0], FR__OP_NEG);
  if (!neg0 || neg0->n_in != 1) return false;
  const int x = neg0->in[0];
  fr__node *r = prod(g, p, FR__OP_RELU);
  if (!r || r->n_in != 1 || r->in[0] != x) return false;
  *x_out = x;
  *c_out = c;
  return true;
}

static fr_status rewrite_prelu(fr__graph *g, fr_error *err) {
  for (int i = 0; i < g->n_nodes; i++) {
    fr__node *n = &g->nodes[i];
    if (n->op != FR__OP_ADD || n->n_in != 2) continue;
    int x = -1, c = -1;
    bool relu = false, neg = false;
    if (!match_prelu(g, n->in[0], n->in[1], &x, &c, &relu) &&
        !match_prelu(g, n->in[1], n->in[0], &x, &c, &relu)) {
      if (!match_prelu_neg(g, n->in[0], n->in[1], &x, &c) &&
          !match_prelu_neg(g, n->in[1], n->in[0], &x, &c))
        continue;
      neg = true;
    }
    const fr__value *cv = &g->values[c];
    int64_t cnt = fr__shape_elems(&cv->shape);
    if (cnt < 1) continue;
    /* the slope must broadcast to x without changing the output shape: a scalar
     * or a vector along the last axis */
    bool last_axis = cv->shape.rank <= 1;
    if (!last_axis) {
      last_axis = true;
      for (int k = 0; k < cv->shape.rank - 1; k++) last_axis &= cv->shape.d[k] == 1;
    }
    if (!last_axis) continue;
    char name[512];
    snprintf(name, sizeof name, "%s#prelu_slope", n->name);
    if (fr__graph_find(g, name) >= 0) continue;
    float *slope;
    int sv;
    fr__shape ss = cv->shape;
    fr_status st = fr__graph_add_const_uninit(g, name, FR__F32, &ss, (void **)&slope, &sv, err);
    if (st) return st;
    const float *cd = g->values[c].data;
    for (int64_t k = 0; k < cnt; k++) slope[k] = neg ? cd[k] : relu ? 2.0f * cd[k] : 1.0f + 2.0f * cd[k];
    n = &g->nodes[i]; /* values may have moved, nodes not; refresh anyway */
    int *in = fr__arena_alloc(&g->arena, sizeof(int) * 2);
    if (!in) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
    in[0] = x;
    in[1] = sv;
    n->op = FR__OP_PRELU;
    n->in = in;
    n->n_in = 2;
  }
  return FR_OK;
}

/* Number of nodes reading each value (graph outputs count as readers). */
static int *count_uses(const fr__graph *g) {
  int *uses = calloc((size_t)g->n_values + 1, sizeof(int));
  if (!uses) return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] >= 0) uses[g->nodes[i].in[k]]++;
  for (int i = 0; i < g->n_outputs; i++) uses[g->outputs[i]]++;
  return uses;
}

/* If constant c holds one value per output channel (last axis, n_out of them) or a
 * scalar, and broadcasting it against a rank-`rank` output keeps the output's shape,
 * returns a pointer to its floats and sets *per_channel; else NULL. */
static const float *channel_const(const fr__graph *g, int c, int64_t n_out, int rank,
                                  bool *per_channel) {
  if (!is_f32_const(g, c)) return NULL;
  const fr__shape *s = &g->values[c].shape;
  if (s->rank > rank) return NULL;
  for (int k = 0; k + 1 < s->rank; k++)
    if (s->d[k] != 1) return NULL;
  int64_t last = s->rank ? s->d[s->rank - 1] : 1;
  if (last == 1) *per_channel = false;
  else if (last == n_out) *per_channel = true;
  else return NULL;
  return g->values[c].data;
}

static bool scalar_const(const fr__graph *g, int c, float *v) {
  if (!is_f32_const(g, c) || fr__shape_elems(&g->values[c].shape) != 1) return false;
  *v = *(const float *)g->values[c].data;
  return true;
}

/* Output channels and the weight / bias of a CONV2D or FULLY_CONNECTED node. */
static bool dense_params(const fr__graph *g, const fr__node *n, int64_t *n_out, int64_t *w_elems) {
  if (n->n_in < 2 || !is_f32_const(g, n->in[1])) return false;
  if (n->n_in >= 3 && n->in[2] >= 0 && !is_f32_const(g, n->in[2])) return false;
  const fr__shape *ws = &g->values[n->in[1]].shape;
  if ((n->op == FR__OP_CONV2D && ws->rank != 4) || (n->op == FR__OP_FULLY_CONNECTED && ws->rank != 2))
    return false;
  *n_out = ws->d[0];
  *w_elems = fr__shape_elems(ws);
  return *n_out > 0 && *w_elems > 0;
}

/* Replaces node `at` (whose single data input is the output of `src`) with a copy
 * of `src` using new weights / bias constants scaled and shifted per channel:
 * w' = w * scale, b' = b * scale + shift (scale / shift may be NULL). */
static fr_status absorb_affine(fr__graph *g, int at, const fr__node *src, const float *scale,
                               bool scale_pc, const float *shift, bool shift_pc, fr_error *err) {
  int64_t n_out, w_elems;
  if (!dense_params(g, src, &n_out, &w_elems)) return FR_OK;
  fr__node copy = *src;
  const float *w = g->values[src->in[1]].data;
  const float *b = src->n_in >= 3 && src->in[2] >= 0 ? g->values[src->in[2]].data : NULL;
  char name[600];
  int wv = src->in[1], bv;
  fr_status st;
  if (scale) {
    float *nw;
    fr__shape ws = g->values[src->in[1]].shape;
    snprintf(name, sizeof name, "%s#w", g->nodes[at].name);
    if (fr__graph_find(g, name) >= 0) return FR_OK;
    if ((st = fr__graph_add_const_uninit(g, name, FR__F32, &ws, (void **)&nw, &wv, err))) return st;
    w = g->values[src->in[1]].data; /* values array may have moved */
    int64_t per = w_elems / n_out;
    for (int64_t o = 0; o < n_out; o++) {
      float f = scale[scale_pc ? o : 0];
      for (int64_t k = 0; k < per; k++) nw[o * per + k] = w[o * per + k] * f;
    }
  }
  float *nb;
  fr__shape bs = {1, {n_out}};
  snprintf(name, sizeof name, "%s#b", g->nodes[at].name);
  if (fr__graph_find(g, name) >= 0) return FR_OK;
  if ((st = fr__graph_add_const_uninit(g, name, FR__F32, &bs, (void **)&nb, &bv, err))) return st;
  b = src->n_in >= 3 && src->in[2] >= 0 ? g->values[src->in[2]].data : NULL;
  for (int64_t o = 0; o < n_out; o++) {
    float v = b ? b[o] : 0.0f;
    if (scale) v *= scale[scale_pc ? o : 0];
    if (shift) v += shift[shift_pc ? o : 0];
    nb[o] = v;
  }
  int *in = fr__arena_alloc(&g->arena, sizeof(int) * 3);
  if (!in) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  in[0] = src->in[0];
  in[1] = wv;
  in[2] = bv;
  fr__node *n = &g->nodes[at];
  n->op = copy.op;
  n->a = copy.a;
  n->in = in;
  n->n_in = 3;
  return FR_OK;
}

static void clamp_of(fr__node *n, float **lo, float **hi) {
  *lo = n->op == FR__OP_CONV2D ? &n->a.conv.out_min : &n->a.fc.out_min;
  *hi = n->op == FR__OP_CONV2D ? &n->a.conv.out_max : &n->a.fc.out_max;
}

static fr_status absorb_into_dense(fr__graph *g, fr_error *err) {
  int *uses = count_uses(g);
  if (!uses) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  int n_uses = g->n_values;
  fr_status st = FR_OK;
  for (int i = 0; i < g->n_nodes && !st; i++) {
    fr__node *n = &g->nodes[i];
    if (n->n_in < 1 || n->n_out != 1 || n->in[0] < 0) continue;
    /* the data input: in[0], or in[1] for commutative ops with a constant in[0] */
    int d = 0;
    if ((n->op == FR__OP_ADD || n->op == FR__OP_MUL || n->op == FR__OP_MINIMUM ||
         n->op == FR__OP_MAXIMUM) && n->n_in == 2 && is_f32_const(g, n->in[0]))
      d = 1;
    int x = n->in[d];
    if (x < 0 || uses[x] != 1) continue;
    int p = g->values[x].producer;
    if (p < 0) continue;
    fr__node *src = &g->nodes[p];
    if (src->op != FR__OP_CONV2D && src->op != FR__OP_FULLY_CONNECTED) continue;
    int64_t n_out, w_elems;
    if (!dense_params(g, src, &n_out, &w_elems)) continue;
    float *lo, *hi;
    clamp_of(src, &lo, &hi);
    bool unclamped = *lo == -INFINITY && *hi == INFINITY;
    int rank = src->op == FR__OP_CONV2D ? 4 : 2;
    int other = n->n_in == 2 ? n->in[1 - d] : -1;
    bool pc = false, pc2 = false;
    const float *c;
    float v;
    fr__op before = n->op;
    switch (n->op) {
      case FR__OP_MUL:
        if (unclamped && (c = channel_const(g, other, n_out, rank, &pc)))
          st = absorb_affine(g, i, src, c, pc, NULL, false, err);
        break;
      case FR__OP_ADD:
        if (unclamped && (c = channel_const(g, other, n_out, rank, &pc)))
          st = absorb_affine(g, i, src, NULL, false, c, pc, err);
        break;
      case FR__OP_CHANNEL_AFFINE: {
        if (!unclamped || n->n_in != 3 || (n->a.axis.axis != -1 && n->a.axis.axis != rank - 1))
          break;
        const float *sc = channel_const(g, n->in[1], n_out, 1, &pc);
        const float *sh = channel_const(g, n->in[2], n_out, 1, &pc2);
        if (sc && sh) st = absorb_affine(g, i, src, sc, pc, sh, pc2, err);
        break;
      }
      case FR__OP_RELU:
      case FR__OP_CLIP:
      case FR__OP_MINIMUM:
      case FR__OP_MAXIMUM: {
        float l = -INFINITY, h = INFINITY;
        if (n->op == FR__OP_RELU) l = 0.0f;
        else if (n->op == FR__OP_CLIP) {
          if (n->n_in > 1) break; /* bounds as inputs: leave it */
          l = n->a.clip.min;
          h = n->a.clip.max;
        } else if (!scalar_const(g, other, &v)) {
          break;
        } else if (n->op == FR__OP_MINIMUM) {
          h = v;
        } else {
          l = v;
        }
        fr__node copy = *src;
        float *cl, *ch;
        clamp_of(&copy, &cl, &ch);
        if (l > *cl) *cl = l;
        if (h < *ch) *ch = h;
        if (*cl > *ch) break;
        n->op = copy.op;
        n->a = copy.a;
        n->in = copy.in;
        n->n_in = copy.n_in;
        break;
      }
      default:
        break;
    }
    n = &g->nodes[i];
    if (n->op != before) {
      uses[x]--; /* src is bypassed: its output has no reader left */
      uses[n->in[0]]++;
    }
    if (g->n_values > n_uses) { /* constants were added */
      int *nu = realloc(uses, sizeof(int) * ((size_t)g->n_values + 1));
      if (!nu) {
        st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
        break;
      }
      memset(nu + n_uses, 0, sizeof(int) * (size_t)(g->n_values - n_uses));
      uses = nu;
      n_uses = g->n_values;
    }
  }
  free(uses);
  return st;
}

fr_status fr__graph_optimize(fr__graph *g, fr_error *err) {
  fr_status st = rewrite_prelu(g, err);
  if (!st) st = absorb_into_dense(g, err);
  if (st) return st;
  return fr__graph_finalize(g, err);
}
