#include "nn/graph.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

void fr__graph_init(fr__graph *g, const char *source, const char *format) {
  memset(g, 0, sizeof *g);
  g->source = fr__arena_strdup(&g->arena, source ? source : "");
  g->format = format ? format : "";
  if (!g->source) g->source = "";
}

void fr__graph_free(fr__graph *g) {
  if (!g) return;
  free(g->values);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->name_hash);
  fr__arena_free(&g->arena);
  memset(g, 0, sizeof *g);
}

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int hash_insert(int *tab, int cap, const fr__value *values, int idx) {
  uint64_t h = name_hash(values[idx].name);
  for (int i = 0; i < cap; i++) {
    int slot = (int)((h + (uint64_t)i) & (uint64_t)(cap - 1));
    if (tab[slot] < 0) {
      tab[slot] = idx;
      return 0;
    }
    if (strcmp(values[tab[slot]].name, values[idx].name) == 0) return 1; /* duplicate */
  }
  return -1;
}

static fr_status hash_grow(fr__graph *g, fr_error *err) {
  int cap = g->name_hash_cap ? g->name_hash_cap * 2 : 256;
  int *tab = malloc(sizeof(int) * (size_t)cap);
  if (!tab) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  for (int i = 0; i < cap; i++) tab[i] = -1;
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].name[0]) hash_insert(tab, cap, g->values, i);
  free(g->name_hash);
  g->name_hash = tab;
  g->name_hash_cap = cap;
  return FR_OK;
}

int fr__graph_find(const fr__graph *g, const char *name) {
  if (!name || !name[0] || !g->name_hash) return -1;
  uint64_t h = name_hash(name);
  for (int i = 0; i < g->name_hash_cap; i++) {
    int slot = (int)((h + (uint64_t)i) & (uint64_t)(g->name_hash_cap - 1));
    int v = g->name_hash[slot];
    if (v < 0) return -1;
    if (strcmp(g->values[v].name, name) == 0) return v;
  }
  return -1;
}

int64_t fr__shape_elems(const fr__shape *s) {
  int64_t n = 1;
  if (s->rank < 0 || s->rank > FR__MAX_DIMS) return -1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < 0) return -1;
    if (s->d[i] != 0 && n > FR__MAX_TENSOR_ELEMS / s->d[i]) return -1;
    n *= s->d[i];
  }
  return n;
}

bool fr__shape_eq(const fr__shape *a, const fr__shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

fr__shape fr__shape_make(int rank, const int64_t *dims) {
  fr__shape s;
  memset(&s, 0, sizeof s);
  s.rank = rank;
  for (int i = 0; i < rank && i < FR__MAX_DIMS; i++) s.d[i] = dims[i];
  return s;
}

const char *fr__shape_str(const fr__shape *s, char *buf, size_t n) {
  size_t off = 0;
  if (n == 0) return buf;
  buf[0] = 0;
  off += (size_t)snprintf(buf + off, n - off, "[");
  for (int i = 0; i < s->rank && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%" PRId64, i ? "," : "", s->d[i]);
  if (off < n) snprintf(buf + off, n - off, "]");
  return buf;
}

fr_status fr__graph_add_value(fr__graph *g, const char *name, fr__dtype dt, const fr__shape *shape,
                              int *out_index, fr_error *err) {
  if (g->n_values >= FR__MAX_VALUES)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: more than %d tensors", g->source, FR__MAX_VALUES);
  if (shape && (shape->rank < 0 || shape->rank > FR__MAX_DIMS))
    return fr_error_set(err, FR_ERR_SHAPE, "%s: tensor '%s' has rank %d (max %d)", g->source,
                        name ? name : "", shape->rank, FR__MAX_DIMS);
  if (g->n_values == g->cap_values) {
    int cap = g->cap_values ? g->cap_values * 2 : 256;
    fr__value *v = realloc(g->values, sizeof *v * (size_t)cap);
    if (!v) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
    g->values = v;
    g->cap_values = cap;
  }
  if ((g->n_values + 1) * 2 > g->name_hash_cap) {
    fr_status st = hash_grow(g, err);
    if (st) return st;
  }
  fr__value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = fr__arena_strdup(&g->arena, name);
  if (!v->name) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  v->dtype = dt;
  if (shape) v->shape = *shape;
  v->producer = -1;
  if (v->name[0] && hash_insert(g->name_hash, g->name_hash_cap, g->values, g->n_values) != 0)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: duplicate tensor name '%s'", g->source, v->name);
  if (out_index) *out_index = g->n_values;
  g->n_values++;
  return FR_OK;
}

fr_status fr__graph_add_const_uninit(fr__graph *g, const char *name, fr__dtype dt,
                                     const fr__shape *shape, void **data_out, int *out_index,
                                     fr_error *err) {
  int64_t n = fr__shape_elems(shape);
  if (n < 0)
    return fr_error_set(err, FR_ERR_SHAPE, "%s: constant '%s' has an invalid or too large shape",
                        g->source, name ? name : "");
  int idx;
  fr_status st = fr__graph_add_value(g, name, dt, shape, &idx, err);
  if (st) return st;
  void *data = fr__arena_alloc(&g->arena, (size_t)n * (dt == FR__F32 ? 4 : 8) + 64); /* slack for SIMD over-reads */
  if (!data) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory for '%s'", g->source, name);
  g->values[idx].data = data;
  if (data_out) *data_out = data;
  if (out_index) *out_index = idx;
  return FR_OK;
}

fr_status fr__graph_add_const(fr__graph *g, const char *name, fr__dtype dt, const fr__shape *shape,
                              const void *data, int *out_index, fr_error *err) {
  void *dst;
  fr_status st = fr__graph_add_const_uninit(g, name, dt, shape, &dst, out_index, err);
  if (st) return st;
  size_t n = (size_t)fr__shape_elems(shape);
  if (data) memcpy(dst, data, n * (dt == FR__F32 ? 4 : 8));
  return FR_OK;
}

fr_status fr__graph_add_node(fr__graph *g, fr__op op, const char *name, const int *in, int n_in,
                             const int *out, int n_out, int *out_node, fr_error *err) {
  const char *nm = name ? name : "";
  if ((unsigned)op >= FR__OP_COUNT)
    return fr_error_set(err, FR_ERR_INTERNAL, "%s: node '%s': bad op %d", g->source, nm, (int)op);
  if (g->n_nodes >= FR__MAX_NODES)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: more than %d nodes", g->source, FR__MAX_NODES);
  if (n_in < 0 || n_out < 1 || n_in > 4096 || n_out > 4096)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s): bad input/output count", g->source,
                        nm, fr__op_name(op));
  for (int i = 0; i < n_in; i++)
    if (in[i] < -1 || in[i] >= g->n_values)
      return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s): input %d refers to no tensor",
                          g->source, nm, fr__op_name(op), i);
  for (int i = 0; i < n_out; i++) {
    if (out[i] < 0 || out[i] >= g->n_values)
      return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s): output %d refers to no tensor",
                          g->source, nm, fr__op_name(op), i);
    const fr__value *v = &g->values[out[i]];
    if (v->producer >= 0 || v->data)
      return fr_error_set(err, FR_ERR_FORMAT,
                          "%s: node '%s' (%s): output '%s' is already produced elsewhere", g->source,
                          nm, fr__op_name(op), v->name);
    for (int j = 0; j < g->n_inputs; j++)
      if (g->inputs[j] == out[i])
        return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s): output '%s' is a graph input",
                            g->source, nm, fr__op_name(op), v->name);
  }
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 128;
    fr__node *nn = realloc(g->nodes, sizeof *nn * (size_t)cap);
    if (!nn) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
    g->nodes = nn;
    g->cap_nodes = cap;
  }
  fr__node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->name = fr__arena_strdup(&g->arena, nm);
  n->in = fr__arena_alloc(&g->arena, sizeof(int) * (size_t)(n_in + 1));
  n->out = fr__arena_alloc(&g->arena, sizeof(int) * (size_t)n_out);
  if (!n->name || !n->in || !n->out)
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  if (n_in) memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  memcpy(n->out, out, sizeof(int) * (size_t)n_out);
  n->n_in = n_in;
  n->n_out = n_out;
  for (int i = 0; i < n_out; i++) g->values[out[i]].producer = g->n_nodes;
  if (out_node) *out_node = g->n_nodes;
  g->n_nodes++;
  return FR_OK;
}

fr_status fr__graph_set_io(fr__graph *g, const int *inputs, int n_inputs, const int *outputs,
                           int n_outputs, fr_error *err) {
  int *in = malloc(sizeof(int) * (size_t)(n_inputs + 1));
  int *out = malloc(sizeof(int) * (size_t)(n_outputs + 1));
  if (!in || !out) {
    free(in);
    free(out);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
  }
  for (int i = 0; i < n_inputs; i++) {
    if (inputs[i] < 0 || inputs[i] >= g->n_values) {
      free(in);
      free(out);
      return fr_error_set(err, FR_ERR_FORMAT, "%s: graph input %d refers to no tensor", g->source, i);
    }
    in[i] = inputs[i];
  }
  for (int i = 0; i < n_outputs; i++) {
    if (outputs[i] < 0 || outputs[i] >= g->n_values) {
      free(in);
      free(out);
      return fr_error_set(err, FR_ERR_FORMAT, "%s: graph output %d refers to no tensor", g->source, i);
    }
    out[i] = outputs[i];
  }
  free(g->inputs);
  free(g->outputs);
  g->inputs = in;
  g->n_inputs = n_inputs;
  g->outputs = out;
  g->n_outputs = n_outputs;
  return FR_OK;
}

static bool is_graph_input(const fr__graph *g, int v) {
  for (int i = 0; i < g->n_inputs; i++)
    if (g->inputs[i] == v) return true;
  return false;
}

fr_status fr__graph_finalize(fr__graph *g, fr_error *err) {
  if (g->n_inputs < 1)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: the graph has no input", g->source);
  if (g->n_outputs < 1)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: the graph has no output", g->source);
  for (int i = 0; i < g->n_inputs; i++) {
    const fr__value *v = &g->values[g->inputs[i]];
    if (v->data || v->producer >= 0)
      return fr_error_set(err, FR_ERR_FORMAT, "%s: graph input '%s' is a constant or produced by a node",
                          g->source, v->name);
    if (v->dtype != FR__F32)
      return fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: graph input '%s' is not float32", g->source,
                          v->name);
  }
  /* arity and dangling inputs */
  for (int i = 0; i < g->n_nodes; i++) {
    const fr__node *n = &g->nodes[i];
    const fr__op_info *info = &fr__op_table[n->op];
    if (n->n_in < info->min_in || (info->max_in >= 0 && n->n_in > info->max_in))
      return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s) has %d inputs, expected %d..%d",
                          g->source, n->name, info->name, n->n_in, info->min_in, info->max_in);
    if (n->n_out < info->min_out || (info->max_out >= 0 && n->n_out > info->max_out))
      return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s) has %d outputs, expected %d..%d",
                          g->source, n->name, info->name, n->n_out, info->min_out, info->max_out);
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0) {
        if (k < info->min_in)
          return fr_error_set(err, FR_ERR_FORMAT, "%s: node '%s' (%s): required input %d is missing",
                              g->source, n->name, info->name, k);
        continue;
      }
      const fr__value *val = &g->values[v];
      if (!val->data && val->producer < 0 && !is_graph_input(g, v))
        return fr_error_set(err, FR_ERR_FORMAT,
                            "%s: node '%s' (%s): input '%s' is not produced by any node", g->source,
                            n->name, info->name, val->name);
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    const fr__value *v = &g->values[g->outputs[i]];
    if (!v->data && v->producer < 0 && !is_graph_input(g, g->outputs[i]))
      return fr_error_set(err, FR_ERR_FORMAT, "%s: graph output '%s' is not produced by any node",
                          g->source, v->name);
  }
  /* topological sort (Kahn); a leftover node means a cycle */
  int nn = g->n_nodes;
  int *indeg = calloc((size_t)nn + 1, sizeof(int));
  int *order = malloc(sizeof(int) * ((size_t)nn + 1));
  int *cons_cnt = calloc((size_t)g->n_values + 1, sizeof(int));
  int *cons_off = calloc((size_t)g->n_values + 2, sizeof(int));
  int total = 0;
  for (int i = 0; i < nn; i++) total += g->nodes[i].n_in;
  int *cons = malloc(sizeof(int) * ((size_t)total + 1));
  fr__node *sorted = malloc(sizeof(fr__node) * ((size_t)nn + 1));
  fr_status st = FR_OK;
  if (!indeg || !order || !cons_cnt || !cons_off || !cons || !sorted) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", g->source);
    goto done;
  }
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++) {
      int v = g->nodes[i].in[k];
      if (v >= 0 && g->values[v].producer >= 0) {
        indeg[i]++;
        cons_cnt[v]++;
      }
    }
  for (int v = 0; v < g->n_values; v++) cons_off[v + 1] = cons_off[v] + cons_cnt[v];
  memset(cons_cnt, 0, sizeof(int) * (size_t)g->n_values);
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++) {
      int v = g->nodes[i].in[k];
      if (v >= 0 && g->values[v].producer >= 0) cons[cons_off[v] + cons_cnt[v]++] = i;
    }
  int head = 0, tail = 0;
  for (int i = 0; i < nn; i++)
    if (indeg[i] == 0) order[tail++] = i;
  while (head < tail) {
    int i = order[head++];
    for (int o = 0; o < g->nodes[i].n_out; o++) {
      int v = g->nodes[i].out[o];
      for (int c = cons_off[v]; c < cons_off[v + 1]; c++)
        if (--indeg[cons[c]] == 0) order[tail++] = cons[c];
    }
  }
  if (tail != nn) {
    int bad = 0;
    while (bad < nn && indeg[bad] == 0) bad++;
    st = fr_error_set(err, FR_ERR_FORMAT, "%s: the graph has a cycle through node '%s' (%s)", g->source,
                      bad < nn ? g->nodes[bad].name : "?",
                      bad < nn ? fr__op_name(g->nodes[bad].op) : "?");
    goto done;
  }
  for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
  memcpy(g->nodes, sorted, sizeof(fr__node) * (size_t)nn);
  for (int i = 0; i < nn; i++)
    for (int o = 0; o < g->nodes[i].n_out; o++) g->values[g->nodes[i].out[o]].producer = i;
  /* Subnormal weights are slow on x86 and below float32 precision anyway: flush them. */
  for (int v = 0; v < g->n_values; v++) {
    fr__value *val = &g->values[v];
    if (!val->data || val->dtype != FR__F32) continue;
    int64_t n = fr__shape_elems(&val->shape);
    float *f = val->data;
    for (int64_t k = 0; k < n; k++)
      if (f[k] != 0.0f && fabsf(f[k]) < FLT_MIN) f[k] = 0.0f;
  }
done:
  free(indeg);
  free(order);
  free(cons_cnt);
  free(cons_off);
  free(cons);
  free(sorted);
  return st;
}
