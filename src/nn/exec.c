/*
 * Executor: sessions, memory planning and inference.
 *
 * prepare (once per set of kept names): select the nodes that lead to a kept
 *   value (load-time rewrites in optimize.c leave bypassed nodes behind, which
 *   run only when their outputs are asked for), create backend (XNNPACK)
 *   operators with packed weights.
 * plan (once per input shape): shape inference in topological order; nodes
 *   whose inputs are all constant or plan-time known run here once ("static");
 *   the remaining ("dynamic") values get offsets in one arena by liveness
 *   (first fit); backend operators are set up with the final addresses.
 * run (every inference): dynamic nodes only, no allocation.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FR__HAVE_MXCSR 1
#endif

#include "facerec/nn.h"
#include "nn/backend.h"
#include "nn/exec.h"
#include "nn/lowp.h"
#include "nn/ops.h"

#define FR__ARENA_CAP ((size_t)8 << 30) /* activations of one plan */

struct fr_threadpool {
  pthreadpool_t pool; /* NULL for one thread: run on the caller */
  int n;
};

fr_threadpool *fr_threadpool_create(int n) {
  fr_threadpool *tp = calloc(1, sizeof *tp);
  if (!tp) return NULL;
  if (n < 0) n = 0;
  if (n != 1) {
    tp->pool = pthreadpool_create((size_t)n);
    if (!tp->pool) {
      free(tp);
      return NULL;
    }
    tp->n = (int)pthreadpool_get_threads_count(tp->pool);
  } else {
    tp->n = 1;
  }
  return tp;
}

void fr_threadpool_free(fr_threadpool *tp) {
  if (!tp) return;
  if (tp->pool) pthreadpool_destroy(tp->pool);
  free(tp);
}

int fr_threadpool_threads(const fr_threadpool *tp) { return tp ? tp->n : 1; }

enum { VK_NONE = 0, VK_CONST, VK_INPUT, VK_STATIC, VK_DYNAMIC };

typedef struct ev {
  fr__tensor t;
  int kind;
  int last_use;   /* exec index of the last consumer; INT32_MAX if kept / output */
  size_t offset, bytes;
  bool kept;
  float *view;    /* model-layout float copy (kept values that need conversion) */
} ev;

struct fr_session {
  const fr_model *m;
  const fr__graph *g;
  pthreadpool_t pool;
  /* prepare */
  bool prepared;
  fr__node *nodes;       /* session copy of g->nodes (fusion rewrites outputs and clamps) */
  bool *disabled;
  bool *skip;            /* planned but not run: the transposes of inputs written in NHWC */
  fr__backend_op **bop;
  fr__lowp_op **lop;     /* reduced-precision convolutions (nn/lowp.h), per node */
  bool lowp_on;          /* prepared with reduced precision (this input size wants it) */
  bool *keep;            /* per value */
  /* plan */
  bool planned;
  bool *is_static;       /* per node */
  ev *v;                 /* per value */
  unsigned char *arena;
  size_t arena_size;     /* own arena's capacity; with a pool: this plan's need */
  fr__arena_pool *apool; /* shared activation arena (fr__session_use_pool), or NULL */
  unsigned long apool_gen; /* the pool's generation the backend ops are bound to */
  fr__arena plan_mem;    /* static values and views of this plan */
  double flops;
  /* inputs */
  float **in_data;
  size_t *in_cap;
  fr__shape *in_shape;
  bool *in_set;
  bool *in_direct;       /* input written in NHWC by the caller (fr__session_input_nhwc) */
  int *in_direct_node;   /* its NCHW->NHWC transpose node; -1: none (not eligible), -2: unknown */
  fr__shape *planned_shape;
  double *prof_ms;       /* per node, accumulated when profiling (fr__session_profile) */
  int prof_runs;
  /* scratch tensors for kernel calls */
  fr__tensor *tin, *tout;
  int max_in, max_out;
};

struct fr__arena_pool {
  unsigned char *buf;
  size_t size;
  unsigned long gen; /* incremented whenever buf moves */
};

fr__arena_pool *fr__arena_pool_create(void) { return calloc(1, sizeof(fr__arena_pool)); }

void fr__arena_pool_free(fr__arena_pool *p) {
  if (!p) return;
  free(p->buf);
  free(p);
}

size_t fr__arena_pool_bytes(const fr__arena_pool *p) { return p ? p->size : 0; }

void fr__session_use_pool(fr_session *s, fr__arena_pool *p) {
  if (s->apool == p) return;
  s->apool = p;
  s->planned = false;
}

static size_t dtype_size(fr__dtype dt) { return dt == FR__I64 ? 8 : 4; }

/* ---------------- model ---------------- */

const char *fr_model_format(const fr_model *m) { return m->g.format; }
int fr_model_num_inputs(const fr_model *m) { return m->g.n_inputs; }
int fr_model_num_outputs(const fr_model *m) { return m->g.n_outputs; }

/* Shape of a value in the model's layout. */
static fr__shape model_shape(const fr__value *val, const fr__shape *phys) {
  if (val->model_rank == 0) return *phys;
  fr__shape s;
  memset(&s, 0, sizeof s);
  s.rank = val->model_rank;
  for (int i = 0; i < s.rank; i++) s.d[i] = phys->d[val->model_perm[i]];
  return s;
}

const char *fr_model_input(const fr_model *m, int i, int *rank, int64_t shape[FR_MAX_DIMS]) {
  if (i < 0 || i >= m->g.n_inputs) return NULL;
  const fr__value *val = &m->g.values[m->g.inputs[i]];
  fr__shape s = model_shape(val, &val->shape);
  if (rank) *rank = s.rank;
  if (shape)
    for (int k = 0; k < s.rank; k++) shape[k] = s.d[k];
  return val->name;
}

const char *fr_model_output_name(const fr_model *m, int i) {
  if (i < 0 || i >= m->g.n_outputs) return NULL;
  return m->g.values[m->g.outputs[i]].name;
}

/* ---------------- session ---------------- */

fr_status fr_session_create(const fr_model *m, fr_threadpool *tp, fr_session **out, fr_error *err) {
  *out = NULL;
  fr_status st = fr__backend_init(err);
  if (st) return st;
  const fr__graph *g = &m->g;
  fr_session *s = calloc(1, sizeof *s);
  if (!s) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  s->m = m;
  s->g = g;
  s->pool = tp ? tp->pool : NULL;
  size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1, ni = (size_t)g->n_inputs + 1;
  s->nodes = calloc(nn, sizeof *s->nodes);
  s->disabled = calloc(nn, sizeof *s->disabled);
  s->skip = calloc(nn, sizeof *s->skip);
  s->bop = calloc(nn, sizeof *s->bop);
  s->lop = calloc(nn, sizeof *s->lop);
  s->is_static = calloc(nn, sizeof *s->is_static);
  s->keep = calloc(nv, sizeof *s->keep);
  s->v = calloc(nv, sizeof *s->v);
  s->in_data = calloc(ni, sizeof *s->in_data);
  s->in_cap = calloc(ni, sizeof *s->in_cap);
  s->in_shape = calloc(ni, sizeof *s->in_shape);
  s->in_set = calloc(ni, sizeof *s->in_set);
  s->in_direct = calloc(ni, sizeof *s->in_direct);
  s->in_direct_node = malloc(ni * sizeof *s->in_direct_node);
  if (s->in_direct_node)
    for (size_t i = 0; i < ni; i++) s->in_direct_node[i] = -2;
  s->planned_shape = calloc(ni, sizeof *s->planned_shape);
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].n_in > s->max_in) s->max_in = g->nodes[i].n_in;
    if (g->nodes[i].n_out > s->max_out) s->max_out = g->nodes[i].n_out;
  }
  s->tin = calloc((size_t)s->max_in + 1, sizeof *s->tin);
  s->tout = calloc((size_t)s->max_out + 1, sizeof *s->tout);
  if (!s->nodes || !s->disabled || !s->skip || !s->bop || !s->lop || !s->is_static || !s->keep || !s->v ||
      !s->in_data ||
      !s->in_cap || !s->in_shape || !s->in_set || !s->in_direct || !s->in_direct_node ||
      !s->planned_shape || !s->tin || !s->tout) {
    fr_session_free(s);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < g->n_outputs; i++) s->keep[g->outputs[i]] = true;
  *out = s;
  return FR_OK;
}

static void release_backend(fr_session *s) {
  for (int i = 0; i < s->g->n_nodes; i++) {
    if (s->bop[i]) fr__backend_destroy(s->bop[i]);
    s->bop[i] = NULL;
    if (s->lop) fr__lowp_destroy(s->lop[i]);
    if (s->lop) s->lop[i] = NULL;
  }
}

void fr_session_free(fr_session *s) {
  if (!s) return;
  if (s->bop) release_backend(s);
  if (s->in_data)
    for (int i = 0; i < s->g->n_inputs; i++) free(s->in_data[i]);
  free(s->nodes);
  free(s->disabled);
  free(s->skip);
  free(s->bop);
  free(s->lop);
  free(s->is_static);
  free(s->keep);
  free(s->v);
  free(s->in_data);
  free(s->in_cap);
  free(s->in_shape);
  free(s->in_set);
  free(s->in_direct);
  free(s->in_direct_node);
  free(s->planned_shape);
  free(s->tin);
  free(s->tout);
  free(s->prof_ms);
  free(s->arena);
  fr__arena_free(&s->plan_mem);
  free(s);
}

fr_status fr_session_keep(fr_session *s, const char *name, fr_error *err) {
  int v = fr__graph_find(s->g, name);
  if (v < 0)
    return fr_error_set(err, FR_ERR_NOT_FOUND, "%s: no tensor named '%s' in the model", s->g->source,
                        name);
  if (!s->keep[v]) {
    s->keep[v] = true;
    s->prepared = false;
    s->planned = false;
    for (int i = 0; i < s->g->n_inputs; i++) s->in_direct_node[i] = -2;
  }
  return FR_OK;
}

fr_status fr_session_select(fr_session *s, const char *const *names, int n, fr_error *err) {
  const fr__graph *g = s->g;
  int *idx = calloc((size_t)n + 1, sizeof(int));
  if (!idx) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    idx[i] = fr__graph_find(g, names[i]);
    if (idx[i] < 0) {
      free(idx);
      return fr_error_set(err, FR_ERR_NOT_FOUND, "%s: no tensor named '%s' in the model", g->source,
                          names[i]);
    }
  }
  memset(s->keep, 0, sizeof(bool) * (size_t)g->n_values);
  for (int i = 0; i < n; i++) s->keep[idx[i]] = true;
  free(idx);
  s->prepared = false;
  s->planned = false;
  for (int i = 0; i < g->n_inputs; i++) s->in_direct_node[i] = -2;
  return FR_OK;
}

static fr_status prepare(fr_session *s, fr_error *err) {
  const fr__graph *g = s->g;
  release_backend(s);
  memcpy(s->nodes, g->nodes, sizeof(fr__node) * (size_t)g->n_nodes);
  memset(s->disabled, 0, sizeof(bool) * (size_t)g->n_nodes);
  /* Only nodes that lead to a kept value run (rewrites leave bypassed nodes behind). */
  bool *need = calloc((size_t)g->n_values + 1, sizeof(bool));
  if (!need) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->n_values; i++) need[i] = s->keep[i];
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const fr__node *n = &g->nodes[i];
    bool live = false;
    for (int k = 0; k < n->n_out; k++) live |= need[n->out[k]];
    s->disabled[i] = !live;
    if (live)
      for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0) need[n->in[k]] = true;
  }
  free(need);
  if (!s->pool && s->lowp_on) { /* reduced precision: single-threaded only (as oneDNN) */
    fr_status st =
        fr__lowp_prepare(g, s->nodes, s->disabled, s->keep, s->m->precision, s->lop, err);
    if (st) return st;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->lop[i]) continue;
    fr_status st = fr__backend_create(g, &s->nodes[i], &s->bop[i], err);
    if (st) return st;
  }
  s->prepared = true;
  s->planned = false;
  return FR_OK;
}

/* Checks input i's shape (model layout) against the declared one and records
 * it (a change of shape un-plans the session); *count = elements. */
static fr_status input_shape(fr_session *s, int i, const int64_t *shape, int rank, size_t *count,
                             fr_error *err) {
  const fr__graph *g = s->g;
  if (i < 0 || i >= g->n_inputs)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: the model has no input %d", g->source, i);
  const fr__value *val = &g->values[g->inputs[i]];
  if (rank != val->shape.rank)
    return fr_error_set(err, FR_ERR_SHAPE, "%s: input '%s' has rank %d, got %d", g->source, val->name,
                        val->shape.rank, rank);
  fr__shape sh = fr__shape_make(rank, shape);
  for (int k = 0; k < rank; k++) {
    if (shape[k] < 1)
      return fr_error_set(err, FR_ERR_SHAPE, "%s: input '%s' dim %d is %" PRId64, g->source,
                          val->name, k, shape[k]);
    if (val->shape.d[k] >= 0 && val->shape.d[k] != shape[k]) {
      char a[128], b[128];
      return fr_error_set(err, FR_ERR_SHAPE, "%s: input '%s' must have shape %s, got %s", g->source,
                          val->name, fr__shape_str(&val->shape, a, sizeof a),
                          fr__shape_str(&sh, b, sizeof b));
    }
  }
  int64_t n = fr__shape_elems(&sh);
  if (n < 0)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: input '%s' is too large", g->source, val->name);
  if (!fr__shape_eq(&sh, &s->in_shape[i])) s->planned = false;
  s->in_shape[i] = sh;
  s->in_set[i] = true;
  *count = (size_t)n;
  return FR_OK;
}

fr_status fr_session_set_input(fr_session *s, int i, const float *data, const int64_t *shape,
                               int rank, fr_error *err) {
  size_t n;
  fr_status st = input_shape(s, i, shape, rank, &n, err);
  if (st) return st;
  if (n > s->in_cap[i]) {
    float *p = realloc(s->in_data[i], n * sizeof(float) + 64);
    if (!p)
      return fr_error_set(err, FR_ERR_NOMEM, "out of memory for input '%s'",
                          s->g->values[s->g->inputs[i]].name);
    s->in_data[i] = p;
    s->in_cap[i] = n;
    s->planned = false; /* buffer moved: backend ops must be set up again */
  }
  if (s->in_direct[i]) {
    s->in_direct[i] = false;
    s->planned = false;
  }
  memcpy(s->in_data[i], data, n * sizeof(float));
  return FR_OK;
}

/* The node that transposes input i from NCHW to the NHWC the spatial ops read,
 * when it is the input's only consumer among the nodes this session runs
 * (same liveness rule as prepare); -1 otherwise. */
static int direct_node(fr_session *s, int i) {
  const fr__graph *g = s->g;
  const int in = g->inputs[i];
  const fr__value *val = &g->values[in];
  if (val->shape.rank != 4 || val->dtype != FR__F32 || s->keep[in] || strcmp(g->format, "onnx") != 0)
    return -1;
  bool *need = calloc((size_t)g->n_values + 1, sizeof(bool));
  if (!need) return -1;
  for (int k = 0; k < g->n_values; k++) need[k] = s->keep[k];
  int node = -1, consumers = 0;
  for (int j = g->n_nodes - 1; j >= 0; j--) {
    const fr__node *n = &g->nodes[j];
    bool live = false;
    for (int k = 0; k < n->n_out; k++) live |= need[n->out[k]];
    if (!live) continue;
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      need[n->in[k]] = true;
      if (n->in[k] == in) consumers++, node = j;
    }
  }
  free(need);
  if (consumers != 1) return -1;
  const fr__node *t = &g->nodes[node];
  static const int nhwc[4] = {0, 2, 3, 1};
  if (t->op != FR__OP_TRANSPOSE || t->n_in != 1 || t->n_out != 1 || t->a.transpose.n != 4 ||
      memcmp(t->a.transpose.perm, nhwc, sizeof nhwc) != 0 || g->values[t->out[0]].dtype != FR__F32)
    return -1;
  return node;
}

static fr_status plan(fr_session *s, fr_error *err);
static fr_status bind_arena(fr_session *s, fr_error *err);

fr_status fr__session_input_nhwc(fr_session *s, int i, const int64_t *shape, int rank, float **data,
                                 fr_error *err) {
  *data = NULL;
  size_t n;
  fr_status st = input_shape(s, i, shape, rank, &n, err);
  if (st) return st;
  if (s->in_direct_node[i] == -2) s->in_direct_node[i] = direct_node(s, i);
  if (s->in_direct_node[i] < 0)
    return fr_error_set(err, FR_ERR_UNSUPPORTED,
                        "%s: input '%s' cannot be written in NHWC (not a 4-D NCHW input with one transpose)",
                        s->g->source, s->g->values[s->g->inputs[i]].name);
  if (!s->in_direct[i]) {
    s->in_direct[i] = true;
    s->planned = false;
  }
  /* the buffer is the transposed value's place in the arena: plan (and rebind) now */
  if (!s->planned && (st = plan(s, err))) return st;
  if (s->apool && s->apool_gen != s->apool->gen && (st = bind_arena(s, err))) {
    s->planned = false;
    return st;
  }
  *data = s->v[s->nodes[s->in_direct_node[i]].out[0]].t.data;
  return FR_OK;
}

static void fill_tensors(fr_session *s, const fr__node *n) {
  for (int k = 0; k < n->n_in; k++) {
    if (n->in[k] < 0) {
      memset(&s->tin[k], 0, sizeof s->tin[k]);
      s->tin[k].shape.rank = -1;
    } else {
      s->tin[k] = s->v[n->in[k]].t;
    }
  }
  for (int k = 0; k < n->n_out; k++) s->tout[k] = s->v[n->out[k]].t;
}

/* Arena offsets for the dynamic values, greedy by size (as TFLite's
 * "greedy by size" planner): values in decreasing size each take the lowest
 * offset that does not overlap a value already placed whose lifetime
 * [def, last_use] intersects its own. Lifetimes that touch at a node (a node's
 * inputs and outputs) count as intersecting, so no node ever writes over what
 * it reads. Versus first fit in execution order, this removes the holes that a
 * chain of growing tensors leaves: the detector at 512x640 needed 23.8 MiB of
 * arena for 15.0 MiB of simultaneously live tensors with first fit, and needs
 * 15.0 MiB (the live peak) with this. Only addresses change: every node
 * computes the same values. */
typedef struct pv {
  int v;           /* value index */
  int def, last;   /* lifetime in node indices */
  size_t size;     /* bytes, 64-aligned, with slack */
  size_t off;
} pv;

static int cmp_pv_size(const void *a, const void *b) {
  const pv *x = a, *y = b;
  if (x->size != y->size) return x->size > y->size ? -1 : 1;
  return (x->def > y->def) - (x->def < y->def);
}

static int cmp_pv_off(const void *a, const void *b) {
  const pv *x = *(const pv *const *)a, *y = *(const pv *const *)b;
  return (x->off > y->off) - (x->off < y->off);
}

/* Places vals[0..n) (sorted here); returns the arena size, or SIZE_MAX when
 * out of memory. */
static size_t place_greedy(pv *vals, int n) {
  qsort(vals, (size_t)n, sizeof *vals, cmp_pv_size);
  const pv **ov = malloc(sizeof *ov * (size_t)(n ? n : 1));
  if (!ov) return SIZE_MAX;
  size_t top = 0;
  for (int i = 0; i < n; i++) {
    pv *x = &vals[i];
    int m = 0;
    for (int j = 0; j < i; j++)
      if (vals[j].def <= x->last && x->def <= vals[j].last) ov[m++] = &vals[j];
    qsort(ov, (size_t)m, sizeof *ov, cmp_pv_off);
    size_t pos = 0;
    for (int j = 0; j < m; j++) {
      if (ov[j]->off >= pos && ov[j]->off - pos >= x->size) break;
      size_t end = ov[j]->off + ov[j]->size;
      if (end > pos) pos = end;
    }
    x->off = pos;
    if (pos + x->size > top) top = pos + x->size;
  }
  free(ov);
  return top;
}

/* Points the dynamic values into the arena (own or pooled) and sets the
 * backend operators up with the final addresses. Also run again, without a
 * re-plan, when a shared pool's buffer moved. */
static fr_status bind_arena(fr_session *s, fr_error *err) {
  const fr__graph *g = s->g;
  unsigned char *base = s->apool ? s->apool->buf : s->arena;
  for (int i = 0; i < g->n_values; i++)
    if (s->v[i].kind == VK_DYNAMIC) s->v[i].t.data = base + s->v[i].offset;
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->is_static[i] || (!s->bop[i] && !s->lop[i])) continue;
    const fr__node *n = &s->nodes[i];
    fill_tensors(s, n);
    fr_status st = s->lop[i] ? fr__lowp_setup(s->lop[i], n, s->tin, s->tout, err)
                             : fr__backend_setup(s->bop[i], n, s->tin, s->tout, s->pool, err);
    if (st) return st;
  }
  if (s->apool) s->apool_gen = s->apool->gen;
  return FR_OK;
}

static fr_status plan(fr_session *s, fr_error *err) {
  const fr__graph *g = s->g;
  fr_status st;
  /* reduced precision only for inputs of at least precision_min_elems (nn/lowp.h) */
  bool lowp = s->m->precision != FR_PRECISION_F32 && g->n_inputs > 0 &&
              fr__shape_elems(&s->in_shape[0]) >= s->m->precision_min_elems;
  if (lowp != s->lowp_on) s->lowp_on = lowp, s->prepared = false;
  if (!s->prepared && (st = prepare(s, err))) return st;
  /* inputs written in NHWC by the caller: their transpose node is planned (its
   * output gets a place in the arena, which is the caller's buffer) but not run */
  memset(s->skip, 0, sizeof(bool) * (size_t)g->n_nodes);
  for (int i = 0; i < g->n_inputs; i++) {
    if (!s->in_direct[i]) continue;
    if (s->in_direct_node[i] == -2) s->in_direct_node[i] = direct_node(s, i);
    if (s->in_direct_node[i] < 0)
      return fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: input '%s' cannot be written in NHWC", g->source,
                          g->values[g->inputs[i]].name);
    s->skip[s->in_direct_node[i]] = true;
  }
  fr__arena_free(&s->plan_mem);
  s->planned = false;
  s->flops = 0;
  memset(s->v, 0, sizeof(ev) * (size_t)g->n_values);
  for (int i = 0; i < g->n_values; i++) {
    const fr__value *val = &g->values[i];
    s->v[i].t.dtype = val->dtype;
    s->v[i].kept = s->keep[i];
    if (val->data) {
      s->v[i].kind = VK_CONST;
      s->v[i].t.shape = val->shape;
      s->v[i].t.data = val->data;
    }
  }
  for (int i = 0; i < g->n_inputs; i++) {
    if (!s->in_set[i])
      return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: input '%s' was not set", g->source,
                          g->values[g->inputs[i]].name);
    ev *e = &s->v[g->inputs[i]];
    e->kind = VK_INPUT;
    e->t.shape = s->in_shape[i];
    e->t.data = s->in_direct[i] ? NULL : s->in_data[i];
  }
  /* shape inference + static evaluation */
  for (int i = 0; i < g->n_nodes; i++) {
    const fr__node *n = &s->nodes[i];
    s->is_static[i] = false;
    if (s->disabled[i]) continue;
    const fr__op_info *info = &fr__op_table[n->op];
    bool all_static = true;
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0) continue;
      if (s->v[v].kind == VK_NONE)
        return fr_error_set(err, FR_ERR_INTERNAL, "%s: node '%s' (%s): input '%s' not computed",
                            g->source, n->name, info->name, g->values[v].name);
      if (s->v[v].kind != VK_CONST && s->v[v].kind != VK_STATIC) all_static = false;
    }
    if (n->op == FR__OP_SHAPE) all_static = true;
    fill_tensors(s, n);
    for (int k = 0; k < n->n_in; k++) /* shape functions see data only where it is known now */
      if (n->in[k] >= 0 && s->v[n->in[k]].kind != VK_CONST && s->v[n->in[k]].kind != VK_STATIC)
        s->tin[k].data = NULL;
    for (int k = 0; k < n->n_out; k++) {
      memset(&s->tout[k], 0, sizeof s->tout[k]);
      s->tout[k].dtype = g->values[n->out[k]].dtype;
    }
    st = info->shape(n, s->tin, s->tout, err);
    if (st) {
      if (err) { /* shape functions do not know the file: name it */
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        fr_error_set(err, st, "%s: %s", g->source, msg);
      }
      return st;
    }
    for (int k = 0; k < n->n_out; k++) {
      ev *e = &s->v[n->out[k]];
      e->t.shape = s->tout[k].shape;
      e->t.dtype = s->tout[k].dtype;
      int64_t cnt = fr__shape_elems(&e->t.shape);
      if (cnt < 0) {
        char b[128];
        return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: node '%s' (%s): output shape %s is invalid or too large",
                            g->source, n->name, info->name, fr__shape_str(&e->t.shape, b, sizeof b));
      }
      e->bytes = (size_t)cnt * dtype_size(e->t.dtype);
      e->kind = all_static ? VK_STATIC : VK_DYNAMIC;
      if (all_static) {
        e->t.data = fr__arena_alloc(&s->plan_mem, e->bytes + 64);
        if (!e->t.data) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
      }
    }
    if (all_static) {
      s->is_static[i] = true;
      fill_tensors(s, n);
      st = info->ref(n, s->tin, s->tout);
      if (st)
        return fr_error_set(err, st, "%s: node '%s' (%s): evaluation failed: %s", g->source, n->name,
                            info->name, fr_strerror(st));
    } else if (info->flops) {
      s->flops += info->flops(n, s->tin, s->tout);
    }
  }
  /* liveness */
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->is_static[i]) continue;
    const fr__node *n = &s->nodes[i];
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) s->v[n->in[k]].last_use = i;
    for (int k = 0; k < n->n_out; k++)
      if (s->v[n->out[k]].last_use < i) s->v[n->out[k]].last_use = i;
  }
  for (int i = 0; i < g->n_values; i++)
    if (s->v[i].kept) s->v[i].last_use = INT32_MAX;
  pv *vals = malloc(sizeof *vals * (size_t)(g->n_values ? g->n_values : 1));
  if (!vals) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  int nv = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->is_static[i]) continue;
    const fr__node *n = &s->nodes[i];
    for (int k = 0; k < n->n_out; k++) {
      ev *e = &s->v[n->out[k]];
      bool dup = false; /* the same value twice as output: place once */
      for (int j = 0; j < k; j++) dup |= n->out[j] == n->out[k];
      if (dup) continue;
      size_t size = (e->bytes + 64 + 63) & ~(size_t)63; /* slack: XNNPACK reads up to 16 B past the end */
      /* a skipped transpose's output is written by the caller before the run:
       * live from the start, so no value computed earlier shares its bytes */
      vals[nv++] = (pv){n->out[k], s->skip[i] ? -1 : i, e->last_use, size, 0};
    }
  }
  struct { size_t top; } a = {place_greedy(vals, nv)};
  if (a.top == SIZE_MAX) {
    free(vals);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < nv; i++) s->v[vals[i].v].offset = vals[i].off;
  free(vals);
  if (a.top > FR__ARENA_CAP)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: activations need %zu MiB, over the limit",
                        g->source, a.top >> 20);
  if (s->apool) {
    fr__arena_pool *p = s->apool;
    if (a.top > p->size || !p->buf) {
      free(p->buf);
      p->buf = aligned_alloc(64, (a.top + 64 + 63) & ~(size_t)63);
      p->gen++;
      if (!p->buf) {
        p->size = 0;
        return fr_error_set(err, FR_ERR_NOMEM, "out of memory for %zu MiB of activations", a.top >> 20);
      }
      p->size = a.top;
    }
    s->arena_size = a.top;
  } else if (a.top > s->arena_size || !s->arena) {
    free(s->arena);
    s->arena = aligned_alloc(64, (a.top + 64 + 63) & ~(size_t)63);
    if (!s->arena) {
      s->arena_size = 0;
      return fr_error_set(err, FR_ERR_NOMEM, "out of memory for %zu MiB of activations", a.top >> 20);
    }
    s->arena_size = a.top;
  }
  if ((st = bind_arena(s, err))) return st;
  /* model-layout views for kept values that need a conversion */
  for (int i = 0; i < g->n_values; i++) {
    ev *e = &s->v[i];
    if (!e->kept || e->kind == VK_NONE) continue;
    if (g->values[i].model_rank == 0 && e->t.dtype == FR__F32) continue;
    int64_t cnt = fr__shape_elems(&e->t.shape);
    e->view = fr__arena_alloc(&s->plan_mem, (size_t)(cnt > 0 ? cnt : 1) * sizeof(float));
    if (!e->view) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < g->n_inputs; i++) s->planned_shape[i] = s->in_shape[i];
  s->planned = true;
  return FR_OK;
}

fr_status fr_session_run(fr_session *s, fr_error *err) {
  const fr__graph *g = s->g;
  fr_status st = FR_OK;
  const bool moved = !s->planned || (s->apool && s->apool_gen != s->apool->gen);
  for (int i = 0; moved && i < g->n_inputs; i++)
    if (s->in_direct[i]) { /* what the caller wrote is where the previous plan / pool buffer had it */
      s->planned = false;
      return fr_error_set(err, FR_ERR_INVALID_ARG,
                          "%s: input '%s' must be written (fr__session_input_nhwc) after the last change",
                          g->source, g->values[g->inputs[i]].name);
    }
  if (!s->planned && (st = plan(s, err))) return st;
  if (s->apool && s->apool_gen != s->apool->gen && (st = bind_arena(s, err))) {
    s->planned = false;
    return st;
  }
#ifdef FR__HAVE_MXCSR
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040); /* flush-to-zero + denormals-are-zero */
#endif
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->is_static[i] || s->skip[i]) continue;
    const fr__node *n = &s->nodes[i];
    struct timespec t0;
    if (s->prof_ms) clock_gettime(CLOCK_MONOTONIC, &t0);
    if (s->lop[i]) {
      st = fr__lowp_run(s->lop[i], err);
    } else if (s->bop[i]) {
      st = fr__backend_run(s->bop[i], s->pool, err);
    } else {
      fill_tensors(s, n);
      st = fr__op_table[n->op].ref(n, s->tin, s->tout);
      if (st)
        fr_error_set(err, st, "%s: node '%s' (%s) failed: %s", g->source, n->name,
                     fr__op_name(n->op), fr_strerror(st));
    }
    if (s->prof_ms) {
      struct timespec t1;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      s->prof_ms[i] += (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    }
    if (st) break;
  }
#ifdef FR__HAVE_MXCSR
  _mm_setcsr(csr);
#endif
  if (s->prof_ms && !st) s->prof_runs++;
  return st;
}

fr_status fr__session_profile_start(fr_session *s) {
  free(s->prof_ms);
  s->prof_ms = calloc((size_t)s->g->n_nodes + 1, sizeof(double));
  s->prof_runs = 0;
  return s->prof_ms ? FR_OK : FR_ERR_NOMEM;
}

void fr__session_profile_print(const fr_session *s, FILE *f) {
  if (!s->prof_ms || s->prof_runs == 0) return;
  const fr__graph *g = s->g;
  double total = 0;
  for (int i = 0; i < g->n_nodes; i++) total += s->prof_ms[i];
  fprintf(f, "%d runs, %.3f ms per run in nodes\n", s->prof_runs, total / s->prof_runs);
  for (int i = 0; i < g->n_nodes; i++) {
    if (s->disabled[i] || s->is_static[i] || s->skip[i]) continue;
    const fr__node *n = &s->nodes[i];
    const fr__value *o = &g->values[n->out[0]];
    char b[128];
    fprintf(f, "%8.4f ms %5.1f%% %-3s %-15s %-40.40s %s\n", s->prof_ms[i] / s->prof_runs,
            100.0 * s->prof_ms[i] / (total > 0 ? total : 1),
            s->lop[i] ? "l16" : s->bop[i] ? "xnn" : "ref",
            fr__op_name(n->op), n->name, fr__shape_str(&s->v[n->out[0]].t.shape, b, sizeof b));
    (void)o;
  }
}

double fr_session_flops(const fr_session *s) { return s->flops; }

size_t fr__session_arena_bytes(const fr_session *s) { return s->arena_size; }

static fr_status view_value(fr_session *s, int v, fr_tensor_view *out, fr_error *err) {
  const fr__graph *g = s->g;
  const fr__value *val = &g->values[v];
  ev *e = &s->v[v];
  if (!s->planned || e->kind == VK_NONE)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: tensor '%s' is not available (run first)",
                        g->source, val->name);
  if (!e->kept && e->kind != VK_CONST && e->kind != VK_INPUT)
    return fr_error_set(err, FR_ERR_INVALID_ARG,
                        "%s: tensor '%s' was not kept (call fr_session_keep before running)",
                        g->source, val->name);
  fr__shape ms = model_shape(val, &e->t.shape);
  int64_t cnt = fr__shape_elems(&e->t.shape);
  memset(out, 0, sizeof *out);
  out->name = val->name;
  out->rank = ms.rank;
  for (int k = 0; k < ms.rank; k++) out->shape[k] = ms.d[k];
  out->count = (size_t)(cnt > 0 ? cnt : 0);
  if (val->model_rank == 0 && e->t.dtype == FR__F32) {
    out->data = e->t.data;
    return FR_OK;
  }
  float *dst = e->view;
  if (!dst) return fr_error_set(err, FR_ERR_INTERNAL, "tensor '%s' has no view buffer", val->name);
  /* dst[model index] = src[physical index] */
  const fr__shape *ps = &e->t.shape;
  int r = ms.rank;
  int64_t pstride[FR__MAX_DIMS], mstride_in_phys[FR__MAX_DIMS];
  int64_t acc = 1;
  for (int k = ps->rank - 1; k >= 0; k--) {
    pstride[k] = acc;
    acc *= ps->d[k];
  }
  for (int k = 0; k < r; k++)
    mstride_in_phys[k] = val->model_rank ? pstride[val->model_perm[k]] : pstride[k];
  int64_t idx[FR__MAX_DIMS] = {0};
  for (int64_t o = 0; o < cnt; o++) {
    int64_t off = 0;
    for (int k = 0; k < r; k++) off += idx[k] * mstride_in_phys[k];
    dst[o] = e->t.dtype == FR__I64 ? (float)((const int64_t *)e->t.data)[off]
                                   : ((const float *)e->t.data)[off];
    for (int k = r - 1; k >= 0; k--) {
      if (++idx[k] < ms.d[k]) break;
      idx[k] = 0;
    }
  }
  out->data = dst;
  return FR_OK;
}

fr_status fr_session_output(fr_session *s, int i, fr_tensor_view *out, fr_error *err) {
  if (i < 0 || i >= s->g->n_outputs)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: the model has no output %d", s->g->source, i);
  return view_value(s, s->g->outputs[i], out, err);
}

fr_status fr_session_get(fr_session *s, const char *name, fr_tensor_view *out, fr_error *err) {
  int v = fr__graph_find(s->g, name);
  if (v < 0)
    return fr_error_set(err, FR_ERR_NOT_FOUND, "%s: no tensor named '%s' in the model", s->g->source,
                        name);
  return view_value(s, v, out, err);
}

/* ---------------- description ---------------- */

fr_status fr_model_describe(const fr_model *m, const int64_t *shape, int rank, FILE *f,
                            fr_error *err) {
  const fr__graph *g = &m->g;
  fprintf(f, "model:   %s\nformat:  %s\n", g->source, g->format);
  fprintf(f, "inputs:\n");
  for (int i = 0; i < g->n_inputs; i++) {
    int r;
    int64_t d[FR_MAX_DIMS];
    const char *nm = fr_model_input(m, i, &r, d);
    fprintf(f, "  %s [", nm);
    for (int k = 0; k < r; k++) fprintf(f, "%s%" PRId64, k ? "," : "", d[k]);
    fprintf(f, "] float32\n");
  }
  int hist[FR__OP_COUNT] = {0};
  for (int i = 0; i < g->n_nodes; i++) hist[g->nodes[i].op]++;
  int64_t params = 0;
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].data) params += fr__shape_elems(&g->values[i].shape);
  fprintf(f, "nodes:   %d\nparameters: %" PRId64 "\nops:\n", g->n_nodes, params);
  for (int op = 0; op < FR__OP_COUNT; op++)
    if (hist[op]) fprintf(f, "  %-16s %d\n", fr__op_name((fr__op)op), hist[op]);
  /* plan at the given (or declared) input shape to get output shapes and FLOPs */
  for (int i = 0; i < g->n_inputs; i++) {
    const fr__value *val = &g->values[g->inputs[i]];
    bool dynamic = false;
    for (int k = 0; k < val->shape.rank; k++) dynamic |= val->shape.d[k] < 0;
    if (dynamic && !(i == 0 && shape)) {
      fprintf(f, "input '%s' has dynamic dims: pass --shape to see outputs and FLOPs\n", val->name);
      return FR_OK;
    }
  }
  fr_session *s = NULL;
  fr_status st = fr_session_create(m, NULL, &s, err);
  if (st) return st;
  for (int i = 0; i < g->n_inputs && !st; i++) {
    int r;
    int64_t d[FR_MAX_DIMS];
    fr_model_input(m, i, &r, d);
    if (i == 0 && shape) {
      r = rank;
      for (int k = 0; k < r && k < FR_MAX_DIMS; k++) d[k] = shape[k];
    }
    fr__shape sh = fr__shape_make(r, d);
    int64_t cnt = fr__shape_elems(&sh);
    float *zeros = cnt > 0 ? calloc((size_t)cnt, sizeof(float)) : NULL;
    if (!zeros) st = fr_error_set(err, FR_ERR_SHAPE, "%s: cannot plan input %d", g->source, i);
    else st = fr_session_set_input(s, i, zeros, d, r, err);
    free(zeros);
    if (!st && i == 0) {
      fprintf(f, "planned at: [");
      for (int k = 0; k < r; k++) fprintf(f, "%s%" PRId64, k ? "," : "", d[k]);
      fprintf(f, "]\n");
    }
  }
  if (!st) st = plan(s, err);
  if (!st) {
    fprintf(f, "outputs:\n");
    for (int i = 0; i < g->n_outputs; i++) {
      fr_tensor_view tv;
      if (view_value(s, g->outputs[i], &tv, NULL) == FR_OK) {
        fprintf(f, "  %s [", tv.name);
        for (int k = 0; k < tv.rank; k++) fprintf(f, "%s%" PRId64, k ? "," : "", tv.shape[k]);
        fprintf(f, "]\n");
      }
    }
    fprintf(f, "FLOPs:   %.1f M\nactivation memory: %.2f MiB\n", s->flops / 1e6,
            (double)s->arena_size / 1048576.0);
    /* what actually runs per inference after rewrites and static evaluation */
    int run_hist[FR__OP_COUNT] = {0}, n_run = 0, n_fast = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      if (s->disabled[i] || s->is_static[i]) continue;
      run_hist[s->nodes[i].op]++;
      n_run++;
      n_fast += s->bop[i] != NULL;
    }
    fprintf(f, "executed per inference: %d nodes (%d on XNNPACK)\n", n_run, n_fast);
    for (int op = 0; op < FR__OP_COUNT; op++)
      if (run_hist[op]) fprintf(f, "  %-16s %d\n", fr__op_name((fr__op)op), run_hist[op]);
  }
  fr_session_free(s);
  return st;
}
