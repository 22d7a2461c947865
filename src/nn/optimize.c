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
 *    is bit-identical (x - |x| = 2x exactly for x < 0).
 */
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

/* Tries to match add = P + MUL(SUB(x, ABS(x)), c); on success sets *x, *c, *relu. */
static bool match_prelu(fr__graph *g, int p, int m, int *x_out, int *c_out, bool *relu) {
  fr__node *mul = prod(g, m, FR__OP_MUL);
  if (!mul || mul->n_in != 2) return false;
  int c = -1, s = -1;
  if (is_f32_const(g, mul->in[1])) c = mul->in[1], s = mul->in[0];
  else if (is_f32_const(g, mul->in[0])) c = mul->in[0], s = mul->in[1];
  else return false;
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

static fr_status rewrite_prelu(fr__graph *g, fr_error *err) {
  for (int i = 0; i < g->n_nodes; i++) {
    fr__node *n = &g->nodes[i];
    if (n->op != FR__OP_ADD || n->n_in != 2) continue;
    int x = -1, c = -1;
    bool relu = false;
    if (!match_prelu(g, n->in[0], n->in[1], &x, &c, &relu) &&
        !match_prelu(g, n->in[1], n->in[0], &x, &c, &relu))
      continue;
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
    for (int64_t k = 0; k < cnt; k++) slope[k] = relu ? 2.0f * cd[k] : 1.0f + 2.0f * cd[k];
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

fr_status fr__graph_optimize(fr__graph *g, fr_error *err) {
  fr_status st = rewrite_prelu(g, err);
  if (st) return st;
  return fr__graph_finalize(g, err);
}
