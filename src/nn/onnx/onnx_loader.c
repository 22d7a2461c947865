/*
 * ONNX -> facerec IR. See onnx_loader.h for the layout strategy.
 *
 * Flow: read the file (capped) -> check protobuf nesting depth (protobuf-c
 * recurses without a limit) -> unpack -> register every name (initializers,
 * Constant outputs, graph inputs, node outputs) -> order the nodes
 * topologically (missing inputs and cycles are reported with the node name) ->
 * convert node by node, choosing each output's physical layout -> graph
 * inputs / outputs -> fr__graph_finalize.
 */
#include "nn/onnx/onnx_loader.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx/onnx.pb-c.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader reads raw_data as little-endian"
#endif

#define OX_MAX_DEPTH 64      /* protobuf message nesting */
#define OX_MAX_NAME 1024     /* characters in a tensor / node name */
#define OX_MAX_SPATIAL 65536 /* kernel, stride, dilation, pad values */

/* physical NHWC dim of model (NCHW) dim i, and the inverse */
static const int OX_MP[4] = {0, 3, 1, 2};  /* model dim i = physical dim OX_MP[i] */
static const int OX_PM[4] = {0, 2, 3, 1};  /* physical dim j = model dim OX_PM[j] */

/* ---------------------------------------------------------------- context */

typedef struct ox_ent {
  const char *name;
  const Onnx__TensorProto *t; /* constant source (initializer / Constant node), or NULL */
  int producer;               /* ONNX node index, or -1 */
  int id;                     /* IR value carrying this name, -1 until created */
  int rank;                   /* model rank, -1 unknown */
  int64_t len;                /* dim 0 of a rank-1 value (shape vectors), -1 unknown */
  fr__dtype dt;
  bool nhwc;                  /* id is stored NHWC (rank 4, model_perm {0,3,1,2}) */
  bool is_input;
  bool want_plain, want_nhwc; /* some consumer needs the model layout / NHWC */
} ox_ent;

typedef struct ox {
  fr__graph *g;
  fr_error *err;
  const char *path;
  int opset;
  ox_ent *ents;
  int n_ents, cap_ents;
  int *hash;
  int hash_cap;
  const Onnx__NodeProto *nd; /* node being converted (for messages) */
  int nd_index;
  char nname[OX_MAX_NAME + 64];
  char buf[OX_MAX_NAME + 64]; /* scratch for derived names */
  struct ox_synth *synth;     /* TensorProtos made for Constant value_* attributes */
} ox;

typedef struct ox_synth {
  Onnx__TensorProto t;
  int64_t dim;
  struct ox_synth *next;
} ox_synth;

typedef struct ox_tensor {
  fr__dtype dt;
  fr__shape sh;
  int64_t n;
  void *data;  /* float* / int64_t* */
  bool owned;  /* malloc'd (free with ox_tensor_free) */
} ox_tensor;

static const char *ox_str(const char *s) { return s ? s : ""; }

static fr_status ox_fail(ox *c, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fr_status ox_fail(ox *c, fr_status st, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->nd)
    return fr_error_set(c->err, st, "%s: node '%s' (%s): %s", c->path, c->nname,
                        ox_str(c->nd->op_type), msg);
  return fr_error_set(c->err, st, "%s: %s", c->path, msg);
}

static fr_status ox_nomem(ox *c) { return ox_fail(c, FR_ERR_NOMEM, "out of memory"); }

/* ------------------------------------------------------------ name table */

static uint64_t ox_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static ox_ent *ox_find(ox *c, const char *name) {
  if (!name || !name[0] || !c->hash_cap) return NULL;
  uint64_t h = ox_hash(name);
  for (int i = 0; i < c->hash_cap; i++) {
    int slot = (int)((h + (uint64_t)i) & (uint64_t)(c->hash_cap - 1));
    int e = c->hash[slot];
    if (e < 0) return NULL;
    if (strcmp(c->ents[e].name, name) == 0) return &c->ents[e];
  }
  return NULL;
}

/* Registers a name. what: "initializer", "graph input", "node output" (for messages). */
static fr_status ox_register(ox *c, const char *name, const char *what, ox_ent **out) {
  if (!name || !name[0]) return ox_fail(c, FR_ERR_FORMAT, "%s with an empty name", what);
  if (strlen(name) > OX_MAX_NAME)
    return ox_fail(c, FR_ERR_FORMAT, "%s name longer than %d characters", what, OX_MAX_NAME);
  if (ox_find(c, name)) return ox_fail(c, FR_ERR_FORMAT, "%s '%s' is defined twice", what, name);
  if (c->n_ents >= FR__MAX_VALUES)
    return ox_fail(c, FR_ERR_TOO_LARGE, "more than %d tensors", FR__MAX_VALUES);
  if (c->n_ents == c->cap_ents) {
    int cap = c->cap_ents ? c->cap_ents * 2 : 256;
    ox_ent *e = realloc(c->ents, sizeof *e * (size_t)cap);
    if (!e) return ox_nomem(c);
    c->ents = e;
    c->cap_ents = cap;
  }
  if ((c->n_ents + 1) * 2 > c->hash_cap) {
    int cap = c->hash_cap ? c->hash_cap * 2 : 512;
    int *tab = malloc(sizeof(int) * (size_t)cap);
    if (!tab) return ox_nomem(c);
    for (int i = 0; i < cap; i++) tab[i] = -1;
    for (int k = 0; k < c->n_ents; k++) {
      uint64_t h = ox_hash(c->ents[k].name);
      for (int i = 0; i < cap; i++) {
        int slot = (int)((h + (uint64_t)i) & (uint64_t)(cap - 1));
        if (tab[slot] < 0) {
          tab[slot] = k;
          break;
        }
      }
    }
    free(c->hash);
    c->hash = tab;
    c->hash_cap = cap;
  }
  ox_ent *e = &c->ents[c->n_ents];
  memset(e, 0, sizeof *e);
  e->name = name;
  e->producer = -1;
  e->id = -1;
  e->rank = -1;
  e->len = -1;
  e->dt = FR__F32;
  uint64_t h = ox_hash(name);
  for (int i = 0; i < c->hash_cap; i++) {
    int slot = (int)((h + (uint64_t)i) & (uint64_t)(c->hash_cap - 1));
    if (c->hash[slot] < 0) {
      c->hash[slot] = c->n_ents;
      break;
    }
  }
  c->n_ents++;
  *out = e;
  return FR_OK;
}

/* ------------------------------------------------------------ attributes */

static const Onnx__AttributeProto *ox_attr(ox *c, const char *name) {
  for (size_t i = 0; i < c->nd->n_attribute; i++) {
    const Onnx__AttributeProto *a = c->nd->attribute[i];
    if (a && a->name && strcmp(a->name, name) == 0) return a;
  }
  return NULL;
}

static const char *ox_attr_type_name(int t) {
  switch (t) {
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "float";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "int";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "string";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "tensor";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "graph";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "floats";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "ints";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "strings";
  default: return "other";
  }
}

/* Finds attribute name and checks its type; *a = NULL when absent. Old files
 * may leave `type` unset: then the matching field must be present. */
static fr_status ox_attr_typed(ox *c, const char *name, int want, const Onnx__AttributeProto **a) {
  *a = ox_attr(c, name);
  if (!*a) return FR_OK;
  const Onnx__AttributeProto *p = *a;
  int t = p->has_type ? (int)p->type : 0;
  if (t == 0) {
    bool ok = false;
    switch (want) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: ok = p->has_f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: ok = p->has_i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: ok = p->has_s; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: ok = p->t != NULL; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: ok = p->n_floats > 0; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: ok = p->n_ints > 0; break;
    default: break;
    }
    if (ok) return FR_OK;
  } else if (t == want) {
    if (want == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR && !p->t)
      return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' holds no tensor", name);
    return FR_OK;
  }
  return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' has type %s, expected %s", name,
                 ox_attr_type_name(t), ox_attr_type_name(want));
}

/* Every attribute of the node must appear in the space-separated list. */
static fr_status ox_attrs_allowed(ox *c, const char *allowed) {
  for (size_t i = 0; i < c->nd->n_attribute; i++) {
    const Onnx__AttributeProto *a = c->nd->attribute[i];
    const char *nm = a ? ox_str(a->name) : "";
    size_t len = strlen(nm);
    bool ok = false;
    for (const char *p = allowed; len && *p;) {
      const char *q = strchr(p, ' ');
      size_t l = q ? (size_t)(q - p) : strlen(p);
      if (l == len && memcmp(p, nm, len) == 0) ok = true;
      p += l;
      while (*p == ' ') p++;
    }
    if (!ok) return ox_fail(c, FR_ERR_UNSUPPORTED, "unknown attribute '%s'", nm);
    for (size_t j = 0; j < i; j++)
      if (c->nd->attribute[j] && strcmp(ox_str(c->nd->attribute[j]->name), nm) == 0)
        return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' given twice", nm);
  }
  return FR_OK;
}

static fr_status ox_attr_i(ox *c, const char *name, int64_t dflt, int64_t lo, int64_t hi,
                           int64_t *v) {
  const Onnx__AttributeProto *a;
  fr_status st = ox_attr_typed(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a);
  if (st) return st;
  *v = a ? a->i : dflt;
  if (*v < lo || *v > hi)
    return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' = %lld is out of range [%lld, %lld]", name,
                   (long long)*v, (long long)lo, (long long)hi);
  return FR_OK;
}

static fr_status ox_attr_int(ox *c, const char *name, int dflt, int lo, int hi, int *v) {
  int64_t x;
  fr_status st = ox_attr_i(c, name, dflt, lo, hi, &x);
  *v = (int)x;
  return st;
}

static fr_status ox_attr_f(ox *c, const char *name, float dflt, float *v) {
  const Onnx__AttributeProto *a;
  fr_status st = ox_attr_typed(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a);
  if (st) return st;
  *v = a ? a->f : dflt;
  if (isnan(*v)) return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' is NaN", name);
  return FR_OK;
}

/* String attribute copied into buf (NUL-terminated); dflt when absent. */
static fr_status ox_attr_s(ox *c, const char *name, const char *dflt, char *buf, size_t n) {
  const Onnx__AttributeProto *a;
  fr_status st = ox_attr_typed(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &a);
  if (st) return st;
  if (!a) {
    snprintf(buf, n, "%s", dflt);
    return FR_OK;
  }
  if (a->s.len >= n || (a->s.len && memchr(a->s.data, 0, a->s.len)))
    return ox_fail(c, FR_ERR_FORMAT, "attribute '%s' is not a short string", name);
  if (a->s.len) memcpy(buf, a->s.data, a->s.len);
  buf[a->s.len] = 0;
  return FR_OK;
}

/* Integer-list attribute: *n = -1 when absent. At most maxn values. */
static fr_status ox_attr_ints(ox *c, const char *name, int maxn, int64_t lo, int64_t hi,
                              int64_t *v, int *n) {
  const Onnx__AttributeProto *a;
  fr_status st = ox_attr_typed(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &a);
  if (st) return st;
  *n = -1;
  if (!a) return FR_OK;
  if (a->n_ints > (size_t)maxn)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "attribute '%s' has %zu values (max %d)", name,
                   a->n_ints, maxn);
  for (size_t i = 0; i < a->n_ints; i++) {
    if (a->ints[i] < lo || a->ints[i] > hi)
      return ox_fail(c, FR_ERR_FORMAT, "attribute '%s'[%zu] = %lld is out of range", name, i,
                     (long long)a->ints[i]);
    v[i] = a->ints[i];
  }
  *n = (int)a->n_ints;
  return FR_OK;
}

static fr_status ox_attr_floats(ox *c, const char *name, int maxn, float *v, int *n) {
  const Onnx__AttributeProto *a;
  fr_status st = ox_attr_typed(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, &a);
  if (st) return st;
  *n = -1;
  if (!a) return FR_OK;
  if (a->n_floats > (size_t)maxn)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "attribute '%s' has %zu values (max %d)", name,
                   a->n_floats, maxn);
  for (size_t i = 0; i < a->n_floats; i++) v[i] = a->floats[i];
  *n = (int)a->n_floats;
  return FR_OK;
}

/* --------------------------------------------------------------- tensors */

static const char *ox_dtype_name(int t) {
  static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
  return t >= 0 && t < (int)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

static void ox_tensor_free(ox_tensor *t) {
  if (t->owned) free(t->data);
  t->data = NULL;
  t->owned = false;
}

/* Checks dims (count, sign, element cap) of a declared / stored shape. */
static fr_status ox_dims(ox *c, const char *what, const int64_t *dims, size_t nd, fr__shape *sh,
                         int64_t *elems) {
  if (nd > FR__MAX_DIMS)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s has %zu dims (max %d)", what, nd, FR__MAX_DIMS);
  memset(sh, 0, sizeof *sh);
  sh->rank = (int)nd;
  int64_t n = 1;
  for (size_t i = 0; i < nd; i++) {
    if (dims[i] < 0) return ox_fail(c, FR_ERR_FORMAT, "%s has a negative dim (%lld)", what, (long long)dims[i]);
    if (dims[i] > FR__MAX_TENSOR_ELEMS || (dims[i] && n > FR__MAX_TENSOR_ELEMS / dims[i]))
      return ox_fail(c, FR_ERR_TOO_LARGE, "%s has more than %lld elements", what,
                     (long long)FR__MAX_TENSOR_ELEMS);
    n *= dims[i];
    sh->d[i] = dims[i];
  }
  *elems = n;
  return FR_OK;
}

/* Checks a TensorProto (dims, dtype, data size) without decoding it. */
static fr_status ox_check_tensor(ox *c, const Onnx__TensorProto *t, const char *what, ox_tensor *out) {
  memset(out, 0, sizeof *out);
  char w[OX_MAX_NAME + 32];
  snprintf(w, sizeof w, "tensor '%s'", what);
  int64_t n = 0;
  fr_status st = ox_dims(c, w, t->dims, t->n_dims, &out->sh, &n);
  if (st) return st;
  if ((t->has_data_location &&
       t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
      t->n_external_data)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s uses external data", w);
  if (t->segment) return ox_fail(c, FR_ERR_UNSUPPORTED, "%s is segmented", w);
  int dt = t->has_data_type ? t->data_type : 0;
  size_t esz, typed;
  switch (dt) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esz = 4; typed = t->n_float_data; out->dt = FR__F32; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: esz = 8; typed = t->n_int64_data; out->dt = FR__I64; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: esz = 4; typed = t->n_int32_data; out->dt = FR__I64; break;
  default:
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s has data type %s (supported: FLOAT, INT64, INT32)",
                   w, ox_dtype_name(dt));
  }
  size_t raw = t->has_raw_data ? t->raw_data.len : 0;
  if (raw) {
    if (typed)
      return ox_fail(c, FR_ERR_FORMAT, "%s has both raw_data and typed data", w);
    if ((uint64_t)raw != (uint64_t)n * esz)
      return ox_fail(c, FR_ERR_FORMAT, "%s: raw_data has %zu bytes, its dims need %lld", w, raw,
                     (long long)n * (long long)esz);
  } else if ((uint64_t)typed != (uint64_t)n) {
    return ox_fail(c, FR_ERR_FORMAT, "%s holds %zu values, its dims need %lld", w, typed,
                   (long long)n);
  }
  out->n = n;
  return FR_OK;
}

/* Decodes a TensorProto into malloc'd F32 / I64 data. what names it in messages. */
static fr_status ox_decode(ox *c, const Onnx__TensorProto *t, const char *what, ox_tensor *out) {
  fr_status st = ox_check_tensor(c, t, what, out);
  if (st) return st;
  int64_t n = out->n;
  int dt = t->data_type;
  size_t raw = t->has_raw_data ? t->raw_data.len : 0;
  out->data = malloc((size_t)n * 8 + 8);
  if (!out->data) return ox_nomem(c);
  out->owned = true;
  const uint8_t *r = t->raw_data.data;
  if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
    float *f = out->data;
    if (raw) memcpy(f, r, (size_t)n * 4);
    else if (n) memcpy(f, t->float_data, (size_t)n * 4);
  } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
    int64_t *q = out->data;
    if (raw) memcpy(q, r, (size_t)n * 8);
    else if (n) memcpy(q, t->int64_data, (size_t)n * 8);
  } else {
    int64_t *q = out->data;
    for (int64_t i = 0; i < n; i++) {
      int32_t x;
      if (raw) memcpy(&x, r + 4 * i, 4);
      else x = t->int32_data[i];
      q[i] = x;
    }
  }
  return FR_OK;
}

/* Data of a constant entity in the model layout (borrowed from the graph when
 * it was materialized, else decoded). */
static fr_status ox_const_get(ox *c, ox_ent *e, ox_tensor *out) {
  if (e->id >= 0 && c->g->values[e->id].data) {
    const fr__value *v = &c->g->values[e->id];
    memset(out, 0, sizeof *out);
    out->dt = v->dtype;
    out->sh = v->shape;
    out->n = fr__shape_elems(&v->shape);
    out->data = v->data;
    return FR_OK;
  }
  return ox_decode(c, e->t, e->name, out);
}

static void ox_ent_from_tensor(ox_ent *e) {
  const Onnx__TensorProto *t = e->t;
  e->rank = t->n_dims <= FR__MAX_DIMS ? (int)t->n_dims : -1;
  e->len = t->n_dims == 1 ? t->dims[0] : -1;
  e->dt = (t->has_data_type && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) ? FR__F32
                                                                                       : FR__I64;
}

/* ------------------------------------------------------------ IR helpers */

/* A fresh unique name "<base>#<suffix>[N]" in c->buf. */
static const char *ox_uniq(ox *c, const char *base, const char *suffix) {
  snprintf(c->buf, sizeof c->buf, "%s#%s", base, suffix);
  for (int k = 2; fr__graph_find(c->g, c->buf) >= 0 || ox_find(c, c->buf); k++)
    snprintf(c->buf, sizeof c->buf, "%s#%s%d", base, suffix, k);
  return c->buf;
}

/* The name of a value derived from base (a layout copy, permuted weights) in
 * c->buf: "<base>#<suffix>", or with a number added when an ONNX tensor of the
 * model already has that name. Deterministic, so fr__graph_find() on it finds
 * an earlier copy. */
static const char *ox_derived(ox *c, const char *base, const char *suffix) {
  snprintf(c->buf, sizeof c->buf, "%s#%s", base, suffix);
  for (int k = 2; ox_find(c, c->buf); k++)
    snprintf(c->buf, sizeof c->buf, "%s#%s%d", base, suffix, k);
  return c->buf;
}

static fr_status ox_value(ox *c, const char *name, fr__dtype dt, int *id) {
  return fr__graph_add_value(c->g, name, dt, NULL, id, c->err);
}

static void ox_set_nhwc(ox *c, int id) {
  fr__value *v = &c->g->values[id];
  v->model_rank = 4;
  for (int i = 0; i < 4; i++) v->model_perm[i] = OX_MP[i];
}

/* Adds a node named after the ONNX node (name NULL) or given name; returns its index. */
static fr_status ox_node(ox *c, fr__op op, const char *name, const int *in, int n_in,
                         const int *out, int n_out, int *idx) {
  return fr__graph_add_node(c->g, op, name ? name : c->nname, in, n_in, out, n_out, idx, c->err);
}

static fr__attrs *ox_a(ox *c, int idx) { return &c->g->nodes[idx].a; }

static fr_status ox_const_i64(ox *c, const char *name, const int64_t *v, int n, int *id) {
  int64_t d = n;
  fr__shape s = fr__shape_make(1, &d);
  return fr__graph_add_const(c->g, name, FR__I64, &s, v, id, c->err);
}

static fr_status ox_const_f32(ox *c, const char *name, const fr__shape *s, const float *v, int *id) {
  return fr__graph_add_const(c->g, name, FR__F32, s, v, id, c->err);
}

/* Adds a TRANSPOSE of value src into a new value named name. */
static fr_status ox_transpose(ox *c, int src, const char *name, const int *perm, int n,
                              fr__dtype dt, int *id) {
  fr_status st = ox_value(c, name, dt, id);
  if (st) return st;
  int node;
  st = ox_node(c, FR__OP_TRANSPOSE, c->g->values[*id].name, &src, 1, id, 1, &node);
  if (st) return st;
  fr__transpose_attrs *ta = &ox_a(c, node)->transpose;
  ta->n = n;
  for (int i = 0; i < n; i++) ta->perm[i] = perm[i];
  return FR_OK;
}

/* ------------------------------------------------- inputs in a given layout */

static ox_ent *ox_in_ent(ox *c, int k) {
  if (k < 0 || (size_t)k >= c->nd->n_input || !c->nd->input[k] || !c->nd->input[k][0]) return NULL;
  return ox_find(c, c->nd->input[k]); /* existence was checked while ordering */
}

static bool ox_is_const(const ox_ent *e) { return e && e->t; }

/* The value in the model's own layout. */
static fr_status ox_model(ox *c, ox_ent *e, int *id) {
  fr_status st;
  if (e->id < 0) {
    if (!e->t) return ox_fail(c, FR_ERR_INTERNAL, "input '%s' used before it is produced", e->name);
    ox_tensor t;
    st = ox_decode(c, e->t, e->name, &t);
    if (st) return st;
    st = fr__graph_add_const(c->g, e->name, t.dt, &t.sh, t.data, &e->id, c->err);
    ox_tensor_free(&t);
    if (st) return st;
  }
  if (!e->nhwc) {
    *id = e->id;
    return FR_OK;
  }
  ox_derived(c, e->name, "nchw");
  *id = fr__graph_find(c->g, c->buf);
  if (*id >= 0) return FR_OK;
  return ox_transpose(c, e->id, c->buf, OX_MP, 4, e->dt, id);
}

/* Permutes a rank-4 model-layout (NCHW) constant into NHWC. */
static void ox_perm_nhwc(const ox_tensor *t, const fr__shape *m, void *dst) {
  int64_t N = m->d[0], C = m->d[1], H = m->d[2], W = m->d[3];
  size_t esz = t->dt == FR__F32 ? 4 : 8;
  const uint8_t *s = t->data;
  uint8_t *d = dst;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t w = 0; w < W; w++)
        for (int64_t ch = 0; ch < C; ch++) {
          int64_t si = ((n * C + ch) * H + h) * W + w, di = ((n * H + h) * W + w) * C + ch;
          memcpy(d + (size_t)di * esz, s + (size_t)si * esz, esz);
        }
}

/* A 4-D value stored NHWC. */
static fr_status ox_nhwc(ox *c, ox_ent *e, int *id) {
  if (e->nhwc) {
    *id = e->id;
    return FR_OK;
  }
  ox_derived(c, e->name, "nhwc");
  *id = fr__graph_find(c->g, c->buf);
  if (*id >= 0) return FR_OK;
  fr_status st;
  if (ox_is_const(e)) {
    ox_tensor t;
    st = ox_const_get(c, e, &t);
    if (st) return st;
    if (t.sh.rank != 4) {
      ox_tensor_free(&t);
      return ox_fail(c, FR_ERR_SHAPE, "constant '%s' must be 4-D here", e->name);
    }
    fr__shape s = t.sh;
    for (int j = 0; j < 4; j++) s.d[j] = t.sh.d[OX_PM[j]];
    void *dst;
    ox_derived(c, e->name, "nhwc");
    st = fr__graph_add_const_uninit(c->g, c->buf, t.dt, &s, &dst, id, c->err);
    if (!st) {
      ox_perm_nhwc(&t, &t.sh, dst);
      ox_set_nhwc(c, *id);
    }
    ox_tensor_free(&t);
    return st;
  }
  int src;
  st = ox_model(c, e, &src);
  if (st) return st;
  ox_derived(c, e->name, "nhwc");
  st = ox_transpose(c, src, c->buf, OX_PM, 4, e->dt, id);
  if (!st) ox_set_nhwc(c, *id);
  return st;
}

/* An operand for an elementwise op whose other operand is NHWC (rank 4 model):
 * NHWC values as they are; constants of rank <= 4 broadcast in the model layout,
 * padded to rank 4, permuted and stripped of leading 1s; scalars as they are;
 * plain 4-D values transposed. *id = -1 when none applies. */
static fr_status ox_bcast_nhwc(ox *c, ox_ent *e, int *id) {
  *id = -1;
  if (e->nhwc) {
    *id = e->id;
    return FR_OK;
  }
  if (ox_is_const(e)) {
    if (e->t->n_dims > 4) return FR_OK;
    bool ones = true;
    for (size_t i = 0; i < e->t->n_dims; i++) ones = ones && e->t->dims[i] == 1;
    if (ones) return ox_model(c, e, id); /* a single value: any layout */
    ox_derived(c, e->name, "bc");
    *id = fr__graph_find(c->g, c->buf);
    if (*id >= 0) return FR_OK;
    ox_tensor t;
    fr_status st = ox_const_get(c, e, &t);
    if (st) return st;
    fr__shape m = {.rank = 4, .d = {1, 1, 1, 1}};
    for (int i = 0; i < t.sh.rank; i++) m.d[4 - t.sh.rank + i] = t.sh.d[i];
    fr__shape p = {.rank = 4};
    for (int j = 0; j < 4; j++) p.d[j] = m.d[OX_PM[j]];
    int lead = 0;
    while (lead < 4 && p.d[lead] == 1) lead++;
    fr__shape s = {.rank = 4 - lead};
    for (int j = lead; j < 4; j++) s.d[j - lead] = p.d[j];
    void *dst;
    ox_derived(c, e->name, "bc");
    st = fr__graph_add_const_uninit(c->g, c->buf, t.dt, &s, &dst, id, c->err);
    if (!st) ox_perm_nhwc(&t, &m, dst);
    ox_tensor_free(&t);
    return st;
  }
  if (e->rank == 0) return ox_model(c, e, id);
  if (e->rank == 4) return ox_nhwc(c, e, id);
  return FR_OK;
}

/* ---------------------------------------------------------------- outputs */

static fr_status ox_out(ox *c, int k, bool nhwc, fr__dtype dt, int rank, int *id) {
  if ((size_t)k >= c->nd->n_output || !c->nd->output[k] || !c->nd->output[k][0])
    return ox_fail(c, FR_ERR_FORMAT, "output %d is missing", k);
  ox_ent *e = ox_find(c, c->nd->output[k]);
  if (!e || e->id >= 0)
    return ox_fail(c, FR_ERR_INTERNAL, "output '%s' is not registered", c->nd->output[k]);
  fr_status st = ox_value(c, e->name, dt, id);
  if (st) return st;
  e->id = *id;
  e->nhwc = nhwc;
  e->dt = dt;
  e->rank = nhwc ? 4 : rank;
  if (nhwc) ox_set_nhwc(c, *id);
  return FR_OK;
}

static fr_status ox_arity(ox *c, int min_in, int max_in, int max_out) {
  if (c->nd->n_input < (size_t)min_in || c->nd->n_input > (size_t)max_in)
    return ox_fail(c, FR_ERR_FORMAT, "has %zu inputs, expected %d..%d", c->nd->n_input, min_in,
                   max_in);
  for (int k = 0; k < min_in; k++)
    if (!ox_in_ent(c, k)) return ox_fail(c, FR_ERR_FORMAT, "required input %d is empty", k);
  if (c->nd->n_output < 1 || !c->nd->output[0] || !c->nd->output[0][0])
    return ox_fail(c, FR_ERR_FORMAT, "has no output");
  for (size_t k = (size_t)max_out; k < c->nd->n_output; k++)
    if (c->nd->output[k] && c->nd->output[k][0])
      return ox_fail(c, FR_ERR_UNSUPPORTED, "output %zu ('%s') is not supported", k,
                     c->nd->output[k]);
  return FR_OK;
}

/* Reads a small constant input as integers (I64 or integral F32). n = -1 when absent. */
static fr_status ox_const_ints(ox *c, int k, const char *what, int64_t *v, int maxn, int *n) {
  *n = -1;
  ox_ent *e = ox_in_ent(c, k);
  if (!e) return FR_OK;
  if (!ox_is_const(e))
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be a constant", what, e->name);
  ox_tensor t;
  fr_status st = ox_const_get(c, e, &t);
  if (st) return st;
  if (t.n > maxn || t.sh.rank > 1) {
    ox_tensor_free(&t);
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be a vector of at most %d values", what,
                   e->name, maxn);
  }
  if (t.dt != FR__I64) {
    ox_tensor_free(&t);
    return ox_fail(c, FR_ERR_FORMAT, "%s ('%s') must be integers", what, e->name);
  }
  for (int64_t i = 0; i < t.n; i++) v[i] = ((int64_t *)t.data)[i];
  *n = (int)t.n;
  ox_tensor_free(&t);
  return FR_OK;
}

static fr_status ox_const_floats(ox *c, int k, const char *what, float *v, int maxn, int *n) {
  *n = -1;
  ox_ent *e = ox_in_ent(c, k);
  if (!e) return FR_OK;
  if (!ox_is_const(e))
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be a constant", what, e->name);
  ox_tensor t;
  fr_status st = ox_const_get(c, e, &t);
  if (st) return st;
  if (t.n > maxn || t.sh.rank > 1 || t.dt != FR__F32) {
    ox_tensor_free(&t);
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be at most %d floats", what, e->name,
                   maxn);
  }
  for (int64_t i = 0; i < t.n; i++) v[i] = ((float *)t.data)[i];
  *n = (int)t.n;
  ox_tensor_free(&t);
  return FR_OK;
}

/* Normalizes an axis against a known rank; error if out of range or rank unknown. */
static fr_status ox_axis(ox *c, const char *what, int64_t axis, int rank, int *out) {
  if (rank < 0) {
    if (axis >= 0 && axis < FR__MAX_DIMS) {
      *out = (int)axis;
      return FR_OK;
    }
    return ox_fail(c, FR_ERR_UNSUPPORTED, "%s %lld needs the input rank, which is unknown", what,
                   (long long)axis);
  }
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank)
    return ox_fail(c, FR_ERR_FORMAT, "%s %lld is out of range for rank %d", what, (long long)axis,
                   rank);
  *out = (int)axis;
  return FR_OK;
}

/* ---------------------------------------------------------------- op handlers */

typedef fr_status (*ox_handler)(ox *c, int arg);

/* Unary elementwise ops keep the input's layout. arg = fr__op. */
static fr_status op_unary(ox *c, int arg) {
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int in, out;
  if (x->nhwc) in = x->id;
  else if ((st = ox_model(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, x->dt, x->rank, &out))) return st;
  return ox_node(c, (fr__op)arg, NULL, &in, 1, &out, 1, NULL);
}

static fr_status ox_keep_layout_in(ox *c, ox_ent *x, int *in) {
  return x->nhwc ? (*in = x->id, FR_OK) : ox_model(c, x, in);
}

static fr_status op_identity(ox *c, int arg) {
  fr_status st;
  if (arg) { /* Dropout */
    st = ox_arity(c, 1, 3, 1);
    if (!st) st = ox_attrs_allowed(c, "ratio is_test seed");
    if (!st && c->nd->n_input > 2 && ox_in_ent(c, 2)) {
      ox_ent *tm = ox_in_ent(c, 2);
      int64_t v[1];
      int n;
      if (!ox_is_const(tm)) return ox_fail(c, FR_ERR_UNSUPPORTED, "training_mode must be a constant");
      st = ox_const_ints(c, 2, "training_mode", v, 1, &n);
      if (!st && n == 1 && v[0]) return ox_fail(c, FR_ERR_UNSUPPORTED, "training mode is not supported");
    }
  } else {
    st = ox_arity(c, 1, 1, 1);
    if (!st) st = ox_attrs_allowed(c, "");
  }
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int in, out;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, x->dt, x->rank, &out))) return st;
  ox_find(c, c->nd->output[0])->len = x->len;
  return ox_node(c, FR__OP_IDENTITY, NULL, &in, 1, &out, 1, NULL);
}

static fr_status op_cast(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "to");
  int64_t to;
  if (!st) st = ox_attr_i(c, "to", -1, -1, 1000, &to);
  if (st) return st;
  fr__dtype dt;
  if (to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
      to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16)
    dt = FR__F32;
  else if (to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
    dt = FR__I64;
  else
    return ox_fail(c, FR_ERR_UNSUPPORTED, "cast to %s is not supported", ox_dtype_name((int)to));
  ox_ent *x = ox_in_ent(c, 0);
  int in, out, node;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, dt, x->rank, &out))) return st;
  ox_find(c, c->nd->output[0])->len = x->len;
  if ((st = ox_node(c, FR__OP_CAST, NULL, &in, 1, &out, 1, &node))) return st;
  ox_a(c, node)->cast.to = dt;
  return FR_OK;
}

static fr_status op_leaky(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "alpha");
  float alpha;
  if (!st) st = ox_attr_f(c, "alpha", 0.01f, &alpha);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int in, out, node;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, FR__F32, x->rank, &out))) return st;
  if ((st = ox_node(c, FR__OP_LEAKY_RELU, NULL, &in, 1, &out, 1, &node))) return st;
  ox_a(c, node)->clip.alpha = alpha;
  return FR_OK;
}

static fr_status op_clip(ox *c, int arg) {
  (void)arg;
  fr_status st;
  float lo = -INFINITY, hi = INFINITY;
  if (c->opset < 11) {
    st = ox_arity(c, 1, 1, 1);
    if (!st) st = ox_attrs_allowed(c, "min max");
    if (!st) st = ox_attr_f(c, "min", -INFINITY, &lo);
    if (!st) st = ox_attr_f(c, "max", INFINITY, &hi);
  } else {
    st = ox_arity(c, 1, 3, 1);
    if (!st) st = ox_attrs_allowed(c, "");
    float v[1];
    int n;
    if (!st) st = ox_const_floats(c, 1, "min", v, 1, &n);
    if (!st && n == 1) lo = v[0];
    if (!st) st = ox_const_floats(c, 2, "max", v, 1, &n);
    if (!st && n == 1) hi = v[0];
  }
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int in, out, node;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, FR__F32, x->rank, &out))) return st;
  if ((st = ox_node(c, FR__OP_CLIP, NULL, &in, 1, &out, 1, &node))) return st;
  ox_a(c, node)->clip.min = lo;
  ox_a(c, node)->clip.max = hi;
  return FR_OK;
}

/* Binary elementwise (Add, Sub, Mul, Div, Pow, PRelu, comparisons). arg = fr__op. */
static fr_status op_binary(ox *c, int arg) {
  fr_status st = ox_arity(c, 2, 2, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  ox_ent *a = ox_in_ent(c, 0), *b = ox_in_ent(c, 1);
  int in[2] = {-1, -1}, out;
  bool nhwc = false;
  if (a->nhwc || b->nhwc) {
    if ((st = ox_bcast_nhwc(c, a, &in[0])) || (st = ox_bcast_nhwc(c, b, &in[1]))) return st;
    nhwc = in[0] >= 0 && in[1] >= 0;
  }
  if (!nhwc) {
    if ((st = ox_model(c, a, &in[0])) || (st = ox_model(c, b, &in[1]))) return st;
  }
  int rank = a->rank >= 0 && b->rank >= 0 ? (a->rank > b->rank ? a->rank : b->rank) : -1;
  fr__op op = (fr__op)arg;
  bool cmp = op == FR__OP_LESS || op == FR__OP_LESS_EQUAL || op == FR__OP_GREATER ||
             op == FR__OP_GREATER_EQUAL || op == FR__OP_EQUAL;
  fr__dtype dt = cmp ? FR__F32 : a->dt;
  if ((st = ox_out(c, 0, nhwc, dt, rank, &out))) return st;
  if (rank == 1) ox_find(c, c->nd->output[0])->len = a->len >= 0 ? a->len : b->len;
  return ox_node(c, op, NULL, in, 2, &out, 1, NULL);
}

/* Sum / Max / Min with any number of inputs: a chain of binary nodes. arg = fr__op. */
static fr_status op_variadic(ox *c, int arg) {
  fr_status st = ox_arity(c, 1, 64, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  int n = (int)c->nd->n_input;
  bool nhwc = false;
  for (int k = 0; k < n; k++) {
    if (!ox_in_ent(c, k)) return ox_fail(c, FR_ERR_FORMAT, "input %d is empty", k);
    nhwc = nhwc || ox_in_ent(c, k)->nhwc;
  }
  int ids[64];
  if (nhwc)
    for (int k = 0; k < n; k++) {
      if ((st = ox_bcast_nhwc(c, ox_in_ent(c, k), &ids[k]))) return st;
      if (ids[k] < 0) nhwc = false;
    }
  if (!nhwc)
    for (int k = 0; k < n; k++)
      if ((st = ox_model(c, ox_in_ent(c, k), &ids[k]))) return st;
  int out;
  if ((st = ox_out(c, 0, nhwc, ox_in_ent(c, 0)->dt, -1, &out))) return st;
  if (n == 1) return ox_node(c, FR__OP_IDENTITY, NULL, ids, 1, &out, 1, NULL);
  int acc = ids[0];
  for (int k = 1; k < n; k++) {
    int dst = out;
    if (k < n - 1) {
      if ((st = ox_value(c, ox_uniq(c, c->nd->output[0], "acc"), FR__F32, &dst))) return st;
      if (nhwc) ox_set_nhwc(c, dst);
    }
    int in2[2] = {acc, ids[k]};
    if ((st = ox_node(c, (fr__op)arg, NULL, in2, 2, &dst, 1, NULL))) return st;
    acc = dst;
  }
  return FR_OK;
}

static fr_status op_prelu(ox *c, int arg) {
  (void)arg;
  return op_binary(c, FR__OP_PRELU);
}

/* ---- spatial ops ---- */

static fr_status ox_spatial_attrs(ox *c, bool conv, int kh, int kw, int *strides, int *dil,
                                  int *pads, fr__pad_mode *mode) {
  int64_t v[8];
  int n;
  fr_status st = ox_attr_ints(c, "kernel_shape", 2, 1, OX_MAX_SPATIAL, v, &n);
  if (st) return st;
  if (n >= 0 && (n != 2 || v[0] != kh || v[1] != kw))
    return ox_fail(c, conv ? FR_ERR_FORMAT : FR_ERR_UNSUPPORTED,
                   "kernel_shape must be 2 values%s", conv ? " matching the weights" : "");
  if ((st = ox_attr_ints(c, "strides", 2, 1, OX_MAX_SPATIAL, v, &n))) return st;
  if (n >= 0 && n != 2) return ox_fail(c, FR_ERR_UNSUPPORTED, "strides must have 2 values");
  strides[0] = n == 2 ? (int)v[0] : 1;
  strides[1] = n == 2 ? (int)v[1] : 1;
  if ((st = ox_attr_ints(c, "dilations", 2, 1, OX_MAX_SPATIAL, v, &n))) return st;
  if (n >= 0 && n != 2) return ox_fail(c, FR_ERR_UNSUPPORTED, "dilations must have 2 values");
  dil[0] = n == 2 ? (int)v[0] : 1;
  dil[1] = n == 2 ? (int)v[1] : 1;
  int np;
  if ((st = ox_attr_ints(c, "pads", 4, 0, OX_MAX_SPATIAL, v, &np))) return st;
  if (np >= 0 && np != 4) return ox_fail(c, FR_ERR_UNSUPPORTED, "pads must have 4 values");
  for (int i = 0; i < 4; i++) pads[i] = np == 4 ? (int)v[i] : 0;
  char ap[32];
  if ((st = ox_attr_s(c, "auto_pad", "NOTSET", ap, sizeof ap))) return st;
  if (strcmp(ap, "NOTSET") == 0 || ap[0] == 0) *mode = FR__PAD_EXPLICIT;
  else if (strcmp(ap, "SAME_UPPER") == 0) *mode = FR__PAD_SAME_UPPER;
  else if (strcmp(ap, "SAME_LOWER") == 0) *mode = FR__PAD_SAME_LOWER;
  else if (strcmp(ap, "VALID") == 0) *mode = FR__PAD_VALID;
  else return ox_fail(c, FR_ERR_FORMAT, "auto_pad '%s' is invalid", ap);
  if (*mode != FR__PAD_EXPLICIT && (pads[0] || pads[1] || pads[2] || pads[3]))
    return ox_fail(c, FR_ERR_FORMAT, "pads given together with auto_pad %s", ap);
  return FR_OK;
}

static fr_status op_conv(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 2, 3, 1);
  if (!st) st = ox_attrs_allowed(c, "auto_pad dilations group kernel_shape pads strides");
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0), *w = ox_in_ent(c, 1), *b = ox_in_ent(c, 2);
  if (!ox_is_const(w))
    return ox_fail(c, FR_ERR_UNSUPPORTED, "weights '%s' must be a constant", w->name);
  if (w->t->n_dims != 4)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "only 2-D convolution is supported (weights have %zu dims)",
                   w->t->n_dims);
  ox_tensor wt;
  if ((st = ox_const_get(c, w, &wt))) return st;
  int64_t O = wt.sh.d[0], I = wt.sh.d[1], KH = wt.sh.d[2], KW = wt.sh.d[3];
  if (wt.dt != FR__F32 || O < 1 || I < 1 || KH < 1 || KW < 1 || KH > OX_MAX_SPATIAL ||
      KW > OX_MAX_SPATIAL) {
    ox_tensor_free(&wt);
    return ox_fail(c, FR_ERR_FORMAT, "weights '%s' must be non-empty float [O,I,KH,KW]", w->name);
  }
  int group, strides[2], dil[2], pads[4];
  fr__pad_mode mode;
  st = ox_attr_int(c, "group", 1, 1, 1 << 20, &group);
  if (!st) st = ox_spatial_attrs(c, true, (int)KH, (int)KW, strides, dil, pads, &mode);
  if (!st && O % group)
    st = ox_fail(c, FR_ERR_SHAPE, "%lld output channels are not divisible by group %d",
                 (long long)O, group);
  /* weights OIHW -> OHWI */
  int wid = -1;
  if (!st) {
    ox_derived(c, w->name, "ohwi");
    wid = fr__graph_find(c->g, c->buf);
    if (wid < 0) {
      fr__shape s = {.rank = 4, .d = {O, KH, KW, I}};
      float *d;
      st = fr__graph_add_const_uninit(c->g, c->buf, FR__F32, &s, (void **)&d, &wid, c->err);
      const float *src = wt.data;
      if (!st)
        for (int64_t o = 0; o < O; o++)
          for (int64_t i = 0; i < I; i++)
            for (int64_t y = 0; y < KH; y++)
              for (int64_t xx = 0; xx < KW; xx++)
                d[((o * KH + y) * KW + xx) * I + i] = src[((o * I + i) * KH + y) * KW + xx];
    }
  }
  ox_tensor_free(&wt);
  if (st) return st;
  int bid = -1;
  if (b) {
    if (!ox_is_const(b) || b->t->n_dims != 1 || b->t->dims[0] != O)
      return ox_fail(c, FR_ERR_UNSUPPORTED, "bias '%s' must be a constant of %lld values", b->name,
                     (long long)O);
    if ((st = ox_model(c, b, &bid))) return st;
    if (c->g->values[bid].dtype != FR__F32)
      return ox_fail(c, FR_ERR_FORMAT, "bias '%s' must be float", b->name);
  }
  int in[3], out, node;
  if ((st = ox_nhwc(c, x, &in[0]))) return st;
  in[1] = wid;
  in[2] = bid;
  if ((st = ox_out(c, 0, true, FR__F32, 4, &out))) return st;
  if ((st = ox_node(c, FR__OP_CONV2D, NULL, in, bid >= 0 ? 3 : 2, &out, 1, &node))) return st;
  fr__conv_attrs *a = &ox_a(c, node)->conv;
  a->kh = (int)KH;
  a->kw = (int)KW;
  a->stride_h = strides[0];
  a->stride_w = strides[1];
  a->dil_h = dil[0];
  a->dil_w = dil[1];
  a->groups = group;
  a->pad_mode = mode;
  a->pad_t = pads[0];
  a->pad_l = pads[1];
  a->pad_b = pads[2];
  a->pad_r = pads[3];
  a->out_min = -INFINITY;
  a->out_max = INFINITY;
  return FR_OK;
}

/* arg: 0 = MaxPool, 1 = AveragePool */
static fr_status op_pool(ox *c, int arg) {
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st)
    st = ox_attrs_allowed(c, arg ? "auto_pad ceil_mode count_include_pad kernel_shape pads strides"
                                 : "auto_pad ceil_mode dilations kernel_shape pads storage_order strides");
  if (st) return st;
  int64_t k[8];
  int nk;
  if ((st = ox_attr_ints(c, "kernel_shape", 2, 1, OX_MAX_SPATIAL, k, &nk))) return st;
  if (nk != 2) return ox_fail(c, FR_ERR_UNSUPPORTED, "kernel_shape must have 2 values (2-D pooling)");
  int strides[2], dil[2], pads[4], ceil_mode, cip = 0, so;
  fr__pad_mode mode;
  st = ox_spatial_attrs(c, false, (int)k[0], (int)k[1], strides, dil, pads, &mode);
  if (!st) st = ox_attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode);
  if (!st && arg) st = ox_attr_int(c, "count_include_pad", 0, 0, 1, &cip);
  if (!st && !arg) st = ox_attr_int(c, "storage_order", 0, 0, 1, &so);
  if (st) return st;
  if (dil[0] != 1 || dil[1] != 1)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "dilated pooling is not supported");
  ox_ent *x = ox_in_ent(c, 0);
  int in, out, node;
  if ((st = ox_nhwc(c, x, &in))) return st;
  if ((st = ox_out(c, 0, true, FR__F32, 4, &out))) return st;
  if ((st = ox_node(c, arg ? FR__OP_AVGPOOL2D : FR__OP_MAXPOOL2D, NULL, &in, 1, &out, 1, &node)))
    return st;
  fr__pool_attrs *a = &ox_a(c, node)->pool;
  a->kh = (int)k[0];
  a->kw = (int)k[1];
  a->stride_h = strides[0];
  a->stride_w = strides[1];
  a->pad_mode = mode;
  a->pad_t = pads[0];
  a->pad_l = pads[1];
  a->pad_b = pads[2];
  a->pad_r = pads[3];
  a->ceil_mode = ceil_mode != 0;
  a->count_include_pad = cip != 0;
  return FR_OK;
}

/* GlobalAveragePool / GlobalMaxPool -> REDUCE over H, W with keepdims. arg = fr__op. */
static fr_status op_global_pool(ox *c, int arg) {
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  int in, out, node;
  if ((st = ox_nhwc(c, ox_in_ent(c, 0), &in))) return st;
  if ((st = ox_out(c, 0, true, FR__F32, 4, &out))) return st;
  if ((st = ox_node(c, (fr__op)arg, NULL, &in, 1, &out, 1, &node))) return st;
  fr__reduce_attrs *r = &ox_a(c, node)->reduce;
  r->n_axes = 2;
  r->axes[0] = 1;
  r->axes[1] = 2;
  r->keepdims = true;
  return FR_OK;
}

static fr_status op_batchnorm(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 5, 5, 1);
  if (!st) st = ox_attrs_allowed(c, "epsilon momentum spatial training_mode");
  float eps;
  int spatial, tm;
  if (!st) st = ox_attr_f(c, "epsilon", 1e-5f, &eps);
  if (!st) st = ox_attr_int(c, "spatial", 1, 0, 1, &spatial);
  if (!st) st = ox_attr_int(c, "training_mode", 0, 0, 1, &tm);
  if (st) return st;
  if (!spatial || tm) return ox_fail(c, FR_ERR_UNSUPPORTED, "spatial=0 / training mode is not supported");
  if (eps < 0) return ox_fail(c, FR_ERR_FORMAT, "epsilon is negative");
  ox_tensor p[4];
  memset(p, 0, sizeof p);
  int64_t C = -1;
  for (int k = 0; k < 4 && !st; k++) {
    ox_ent *e = ox_in_ent(c, k + 1);
    if (!ox_is_const(e)) {
      st = ox_fail(c, FR_ERR_UNSUPPORTED, "input '%s' must be a constant", e->name);
      break;
    }
    st = ox_const_get(c, e, &p[k]);
    if (st) break;
    if (p[k].dt != FR__F32 || p[k].sh.rank != 1 || (C >= 0 && p[k].n != C) || p[k].n < 1)
      st = ox_fail(c, FR_ERR_SHAPE, "input '%s' must be a float vector of the channel count", e->name);
    C = p[k].n;
  }
  int sid = -1, hid = -1;
  if (!st) {
    fr__shape s = fr__shape_make(1, &C);
    float *sc, *sh;
    st = fr__graph_add_const_uninit(c->g, ox_uniq(c, c->nd->output[0], "scale"), FR__F32, &s,
                                    (void **)&sc, &sid, c->err);
    if (!st)
      st = fr__graph_add_const_uninit(c->g, ox_uniq(c, c->nd->output[0], "shift"), FR__F32, &s,
                                      (void **)&sh, &hid, c->err);
    if (!st) {
      const float *gm = p[0].data, *bt = p[1].data, *mu = p[2].data, *var = p[3].data;
      for (int64_t i = 0; i < C; i++) {
        double a = (double)gm[i] / sqrt((double)var[i] + (double)eps);
        sc[i] = (float)a;
        sh[i] = (float)((double)bt[i] - (double)mu[i] * a);
      }
    }
  }
  for (int k = 0; k < 4; k++) ox_tensor_free(&p[k]);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  if (!x->nhwc && x->rank >= 0 && x->rank < 2)
    return ox_fail(c, FR_ERR_SHAPE, "input must have rank >= 2");
  int in[3], out, node;
  if ((st = ox_keep_layout_in(c, x, &in[0]))) return st;
  in[1] = sid;
  in[2] = hid;
  if ((st = ox_out(c, 0, x->nhwc, FR__F32, x->rank, &out))) return st;
  if ((st = ox_node(c, FR__OP_CHANNEL_AFFINE, NULL, in, 3, &out, 1, &node))) return st;
  ox_a(c, node)->axis.axis = x->nhwc ? 3 : 1;
  return FR_OK;
}

/* ---- dense ---- */

/* out = transA(A) * transB(B) * alpha + beta * C */
static fr_status op_gemm(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, c->opset < 11 ? 3 : 2, 3, 1);
  if (!st) st = ox_attrs_allowed(c, "alpha beta transA transB broadcast");
  float alpha, beta;
  int ta, tb, bc;
  if (!st) st = ox_attr_f(c, "alpha", 1.0f, &alpha);
  if (!st) st = ox_attr_f(c, "beta", 1.0f, &beta);
  if (!st) st = ox_attr_int(c, "transA", 0, 0, 1, &ta);
  if (!st) st = ox_attr_int(c, "transB", 0, 0, 1, &tb);
  if (!st) st = ox_attr_int(c, "broadcast", 1, 0, 1, &bc);
  if (st) return st;
  ox_ent *A = ox_in_ent(c, 0), *B = ox_in_ent(c, 1), *C = ox_in_ent(c, 2);
  int a_id;
  if ((st = ox_model(c, A, &a_id))) return st;
  if (A->rank >= 0 && A->rank != 2) return ox_fail(c, FR_ERR_SHAPE, "A must be 2-D (rank %d)", A->rank);
  const char *oname = c->nd->output[0];
  if (ta) {
    static const int p10[2] = {1, 0};
    if ((st = ox_transpose(c, a_id, ox_uniq(c, oname, "At"), p10, 2, FR__F32, &a_id))) return st;
  }
  int out;
  if (ox_is_const(B)) {
    /* FULLY_CONNECTED: w[N,K] = alpha * (transB ? B : Bᵀ) */
    ox_tensor bt;
    if ((st = ox_const_get(c, B, &bt))) return st;
    if (bt.sh.rank != 2 || bt.dt != FR__F32) {
      ox_tensor_free(&bt);
      return ox_fail(c, FR_ERR_SHAPE, "B ('%s') must be a 2-D float constant", B->name);
    }
    int64_t N = tb ? bt.sh.d[0] : bt.sh.d[1], K = tb ? bt.sh.d[1] : bt.sh.d[0];
    int wid = -1;
    if (tb && alpha == 1.0f) {
      ox_tensor_free(&bt);
      if ((st = ox_model(c, B, &wid))) return st;
    } else {
      fr__shape s = {.rank = 2, .d = {N, K}};
      float *d;
      st = fr__graph_add_const_uninit(c->g, ox_uniq(c, oname, "w"), FR__F32, &s, (void **)&d, &wid,
                                      c->err);
      const float *src = bt.data;
      if (!st)
        for (int64_t n = 0; n < N; n++)
          for (int64_t k = 0; k < K; k++)
            d[n * K + k] = alpha * (tb ? src[n * K + k] : src[k * N + n]);
      ox_tensor_free(&bt);
      if (st) return st;
    }
    /* bias: a constant C that broadcasts along rows folds into FC */
    int bid = -1;
    bool c_folded = !C;
    if (C && ox_is_const(C) && beta != 0.0f) {
      ox_tensor ct;
      if ((st = ox_const_get(c, C, &ct))) return st;
      bool row = ct.dt == FR__F32 &&
                 ((ct.sh.rank == 1 && (ct.n == N || ct.n == 1)) ||
                  (ct.sh.rank == 2 && ct.sh.d[0] == 1 && (ct.n == N || ct.n == 1)) ||
                  (ct.sh.rank == 0));
      if (row) {
        if (beta == 1.0f && ct.sh.rank == 1 && ct.n == N) {
          ox_tensor_free(&ct);
          if ((st = ox_model(c, C, &bid))) return st;
        } else {
          fr__shape s = fr__shape_make(1, &N);
          float *d;
          st = fr__graph_add_const_uninit(c->g, ox_uniq(c, oname, "b"), FR__F32, &s, (void **)&d,
                                          &bid, c->err);
          const float *src = ct.data;
          if (!st)
            for (int64_t n = 0; n < N; n++) d[n] = beta * src[ct.n == 1 ? 0 : n];
          ox_tensor_free(&ct);
          if (st) return st;
        }
        c_folded = true;
      } else {
        ox_tensor_free(&ct);
      }
    } else if (C && ox_is_const(C) && beta == 0.0f) {
      c_folded = true;
    }
    int fc_out;
    if (c_folded) {
      if ((st = ox_out(c, 0, false, FR__F32, 2, &out))) return st;
      fc_out = out;
    } else {
      if ((st = ox_value(c, ox_uniq(c, oname, "fc"), FR__F32, &fc_out))) return st;
    }
    int in[3] = {a_id, wid, bid}, node;
    if ((st = ox_node(c, FR__OP_FULLY_CONNECTED, NULL, in, bid >= 0 ? 3 : 2, &fc_out, 1, &node)))
      return st;
    ox_a(c, node)->fc.out_min = -INFINITY;
    ox_a(c, node)->fc.out_max = INFINITY;
    if (c_folded) return FR_OK;
    /* general C: out = fc + beta * C */
    int cid;
    if ((st = ox_model(c, C, &cid))) return st;
    if (beta != 1.0f) {
      int bsc, scaled;
      fr__shape s0 = {.rank = 0};
      if ((st = ox_const_f32(c, ox_uniq(c, oname, "beta"), &s0, &beta, &bsc))) return st;
      if ((st = ox_value(c, ox_uniq(c, oname, "betaC"), FR__F32, &scaled))) return st;
      int in2[2] = {cid, bsc};
      if ((st = ox_node(c, FR__OP_MUL, NULL, in2, 2, &scaled, 1, NULL))) return st;
      cid = scaled;
    }
    if ((st = ox_out(c, 0, false, FR__F32, 2, &out))) return st;
    int in2[2] = {fc_out, cid};
    return ox_node(c, FR__OP_ADD, NULL, in2, 2, &out, 1, NULL);
  }
  /* dynamic B: MATMUL (+ alpha) (+ beta*C) */
  int b_id;
  if ((st = ox_model(c, B, &b_id))) return st;
  bool has_c = C && beta != 0.0f;
  int mm;
  if (!has_c && alpha == 1.0f) {
    if ((st = ox_out(c, 0, false, FR__F32, 2, &mm))) return st;
  } else if ((st = ox_value(c, ox_uniq(c, oname, "mm"), FR__F32, &mm))) {
    return st;
  }
  int in2[2] = {a_id, b_id}, node;
  if ((st = ox_node(c, FR__OP_MATMUL, NULL, in2, 2, &mm, 1, &node))) return st;
  ox_a(c, node)->matmul.transpose_b = tb != 0;
  int cur = mm;
  if (alpha != 1.0f) {
    int asc, dst;
    fr__shape s0 = {.rank = 0};
    if ((st = ox_const_f32(c, ox_uniq(c, oname, "alpha"), &s0, &alpha, &asc))) return st;
    if (!has_c) {
      if ((st = ox_out(c, 0, false, FR__F32, 2, &dst))) return st;
    } else if ((st = ox_value(c, ox_uniq(c, oname, "alphaAB"), FR__F32, &dst))) {
      return st;
    }
    int i3[2] = {cur, asc};
    if ((st = ox_node(c, FR__OP_MUL, NULL, i3, 2, &dst, 1, NULL))) return st;
    cur = dst;
  }
  if (!has_c) return FR_OK;
  int cid;
  if ((st = ox_model(c, C, &cid))) return st;
  if (beta != 1.0f) {
    int bsc, scaled;
    fr__shape s0 = {.rank = 0};
    if ((st = ox_const_f32(c, ox_uniq(c, oname, "beta"), &s0, &beta, &bsc))) return st;
    if ((st = ox_value(c, ox_uniq(c, oname, "betaC"), FR__F32, &scaled))) return st;
    int i3[2] = {cid, bsc};
    if ((st = ox_node(c, FR__OP_MUL, NULL, i3, 2, &scaled, 1, NULL))) return st;
    cid = scaled;
  }
  if ((st = ox_out(c, 0, false, FR__F32, 2, &out))) return st;
  int i4[2] = {cur, cid};
  return ox_node(c, FR__OP_ADD, NULL, i4, 2, &out, 1, NULL);
}

static fr_status op_matmul(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 2, 2, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  ox_ent *A = ox_in_ent(c, 0), *B = ox_in_ent(c, 1);
  int a_id, out, node;
  if ((st = ox_model(c, A, &a_id))) return st;
  if (ox_is_const(B) && B->t->n_dims == 2 && A->rank != 0) {
    /* FULLY_CONNECTED with w = Bᵀ [N,K] */
    int wid;
    ox_derived(c, B->name, "fc");
    wid = fr__graph_find(c->g, c->buf);
    if (wid < 0) {
      ox_tensor bt;
      if ((st = ox_const_get(c, B, &bt))) return st;
      if (bt.dt != FR__F32) {
        ox_tensor_free(&bt);
        return ox_fail(c, FR_ERR_UNSUPPORTED, "B ('%s') must be float", B->name);
      }
      int64_t K = bt.sh.d[0], N = bt.sh.d[1];
      fr__shape s = {.rank = 2, .d = {N, K}};
      float *d;
      ox_derived(c, B->name, "fc");
      st = fr__graph_add_const_uninit(c->g, c->buf, FR__F32, &s, (void **)&d, &wid, c->err);
      const float *src = bt.data;
      if (!st)
        for (int64_t n = 0; n < N; n++)
          for (int64_t k = 0; k < K; k++) d[n * K + k] = src[k * N + n];
      ox_tensor_free(&bt);
      if (st) return st;
    }
    if ((st = ox_out(c, 0, false, FR__F32, A->rank, &out))) return st;
    int in[2] = {a_id, wid};
    if ((st = ox_node(c, FR__OP_FULLY_CONNECTED, NULL, in, 2, &out, 1, &node))) return st;
    ox_a(c, node)->fc.out_min = -INFINITY;
    ox_a(c, node)->fc.out_max = INFINITY;
    return FR_OK;
  }
  int b_id;
  if ((st = ox_model(c, B, &b_id))) return st;
  int rank = A->rank >= 2 && B->rank >= 2 ? (A->rank > B->rank ? A->rank : B->rank) : -1;
  if ((st = ox_out(c, 0, false, FR__F32, rank, &out))) return st;
  int in[2] = {a_id, b_id};
  return ox_node(c, FR__OP_MATMUL, NULL, in, 2, &out, 1, NULL);
}

/* ---- shape ops (model layout) ---- */

static fr_status op_reshape(ox *c, int arg) {
  (void)arg;
  fr_status st;
  ox_ent *x, *s;
  int in[2], out, node;
  int64_t rank = -1;
  if (c->opset < 5) return ox_fail(c, FR_ERR_UNSUPPORTED, "Reshape-1 is not supported");
  st = ox_arity(c, 2, 2, 1);
  if (!st) st = ox_attrs_allowed(c, "allowzero");
  int az;
  if (!st) st = ox_attr_int(c, "allowzero", 0, 0, 1, &az);
  if (st) return st;
  x = ox_in_ent(c, 0);
  s = ox_in_ent(c, 1);
  if ((st = ox_model(c, x, &in[0])) || (st = ox_model(c, s, &in[1]))) return st;
  if (ox_is_const(s)) rank = s->t->n_dims == 1 ? s->t->dims[0] : -1;
  else rank = s->len;
  if (rank > FR__MAX_DIMS) return ox_fail(c, FR_ERR_UNSUPPORTED, "target rank %lld > %d", (long long)rank, FR__MAX_DIMS);
  if ((st = ox_out(c, 0, false, x->dt, (int)rank, &out))) return st;
  if ((st = ox_node(c, FR__OP_RESHAPE, NULL, in, 2, &out, 1, &node))) return st;
  ox_a(c, node)->reshape.allowzero = az != 0;
  return FR_OK;
}

/* RESHAPE of src into out with a shape made from SHAPE(src): out dims are
 * src dims idx[i] (>= 0) or 1 (idx[i] == -1). Static at plan time. */
static fr_status ox_reshape_dims(ox *c, int src, int src_rank, const int *idx, int n, int out) {
  const char *oname = c->nd->output[0];
  /* shortcut: RESHAPE's 0 copies the same index, a single -1 is inferred */
  int64_t spec[FR__MAX_DIMS];
  int inferred = 0;
  for (int i = 0; i < n; i++) {
    if (idx[i] < 0) spec[i] = 1;
    else if (idx[i] == i) spec[i] = 0;
    else spec[i] = -1, inferred++;
  }
  fr_status st;
  int shp;
  if (inferred <= 1) {
    if ((st = ox_const_i64(c, ox_uniq(c, oname, "shape"), spec, n, &shp))) return st;
  } else {
    int sv, one, cat, gidx;
    int64_t gi[FR__MAX_DIMS], onev = 1;
    if ((st = ox_value(c, ox_uniq(c, oname, "inshape"), FR__I64, &sv))) return st;
    if ((st = ox_node(c, FR__OP_SHAPE, NULL, &src, 1, &sv, 1, NULL))) return st;
    if ((st = ox_const_i64(c, ox_uniq(c, oname, "one"), &onev, 1, &one))) return st;
    if ((st = ox_value(c, ox_uniq(c, oname, "inshape1"), FR__I64, &cat))) return st;
    int ci[2] = {sv, one}, node;
    if ((st = ox_node(c, FR__OP_CONCAT, NULL, ci, 2, &cat, 1, &node))) return st;
    ox_a(c, node)->axis.axis = 0;
    /* inserted dims read the appended 1, at index src_rank */
    for (int i = 0; i < n; i++) gi[i] = idx[i] >= 0 ? idx[i] : src_rank;
    if ((st = ox_const_i64(c, ox_uniq(c, oname, "dims"), gi, n, &gidx))) return st;
    if ((st = ox_value(c, ox_uniq(c, oname, "shape"), FR__I64, &shp))) return st;
    int gin[2] = {cat, gidx};
    if ((st = ox_node(c, FR__OP_GATHER, NULL, gin, 2, &shp, 1, &node))) return st;
    ox_a(c, node)->axis.axis = 0;
  }
  int in[2] = {src, shp}, node;
  if ((st = ox_node(c, FR__OP_RESHAPE, NULL, in, 2, &out, 1, &node))) return st;
  ox_a(c, node)->reshape.allowzero = false;
  return FR_OK;
}

/* arg 0 = Squeeze, 1 = Unsqueeze */
static fr_status op_squeeze(ox *c, int arg) {
  fr_status st;
  int64_t axes[FR__MAX_DIMS];
  int na;
  if (c->opset < 13) {
    st = ox_arity(c, 1, 1, 1);
    if (!st) st = ox_attrs_allowed(c, "axes");
    if (!st) st = ox_attr_ints(c, "axes", FR__MAX_DIMS, -FR__MAX_DIMS, FR__MAX_DIMS, axes, &na);
  } else {
    st = ox_arity(c, arg ? 2 : 1, 2, 1);
    if (!st) st = ox_attrs_allowed(c, "");
    if (!st) st = ox_const_ints(c, 1, "axes", axes, FR__MAX_DIMS, &na);
  }
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  if (x->rank < 0)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "the rank of input '%s' is unknown at load time", x->name);
  if (na < 0 && arg) return ox_fail(c, FR_ERR_FORMAT, "axes are required");
  if (na < 0) return ox_fail(c, FR_ERR_UNSUPPORTED, "Squeeze without axes is not supported");
  int r = x->rank, ro = arg ? r + na : r - na;
  if (ro < 0 || ro > FR__MAX_DIMS) return ox_fail(c, FR_ERR_FORMAT, "axes do not fit rank %d", r);
  bool mark[FR__MAX_DIMS] = {false};
  for (int i = 0; i < na; i++) {
    int a = 0;
    if ((st = ox_axis(c, "axis", axes[i], arg ? ro : r, &a))) return st;
    if (mark[a]) return ox_fail(c, FR_ERR_FORMAT, "axis %d repeated", a);
    mark[a] = true;
  }
  int idx[FR__MAX_DIMS], k = 0;
  if (arg) {
    for (int j = 0; j < ro; j++) idx[j] = mark[j] ? -1 : k++;
  } else {
    for (int i = 0; i < r; i++)
      if (!mark[i]) idx[k++] = i;
  }
  int in, out;
  if ((st = ox_model(c, x, &in))) return st;
  if ((st = ox_out(c, 0, false, x->dt, ro, &out))) return st;
  ox_ent *oe = ox_find(c, c->nd->output[0]);
  if (ro == 1) oe->len = (r == 0) ? 1 : (x->rank == 1 ? x->len : -1);
  return ox_reshape_dims(c, in, r, idx, ro, out);
}

static fr_status op_flatten(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "axis");
  int64_t ax;
  if (!st) st = ox_attr_i(c, "axis", 1, -FR__MAX_DIMS, FR__MAX_DIMS, &ax);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  if (ax < 0) {
    if (x->rank < 0) return ox_fail(c, FR_ERR_UNSUPPORTED, "negative axis needs a known rank");
    ax += x->rank;
  }
  if (ax < 0 || (x->rank >= 0 && ax > x->rank)) return ox_fail(c, FR_ERR_FORMAT, "axis out of range");
  int in, out, node;
  if ((st = ox_model(c, x, &in))) return st;
  if ((st = ox_out(c, 0, false, x->dt, 2, &out))) return st;
  const char *oname = c->nd->output[0];
  int shp;
  if (ax <= 1) {
    int64_t spec[2] = {ax == 0 ? 1 : 0, -1};
    if ((st = ox_const_i64(c, ox_uniq(c, oname, "shape"), spec, 2, &shp))) return st;
  } else {
    /* [d0*...*d(ax-1), -1]: SHAPE -> GATHER each -> MUL chain -> CONCAT [-1] (all static) */
    int sv;
    if ((st = ox_value(c, ox_uniq(c, oname, "inshape"), FR__I64, &sv))) return st;
    if ((st = ox_node(c, FR__OP_SHAPE, NULL, &in, 1, &sv, 1, NULL))) return st;
    int acc = -1;
    for (int64_t i = 0; i < ax; i++) {
      int gi, g;
      int64_t iv = i;
      if ((st = ox_const_i64(c, ox_uniq(c, oname, "i"), &iv, 1, &gi))) return st;
      if ((st = ox_value(c, ox_uniq(c, oname, "d"), FR__I64, &g))) return st;
      int gin[2] = {sv, gi};
      if ((st = ox_node(c, FR__OP_GATHER, NULL, gin, 2, &g, 1, &node))) return st;
      ox_a(c, node)->axis.axis = 0;
      if (acc < 0) {
        acc = g;
        continue;
      }
      int m;
      if ((st = ox_value(c, ox_uniq(c, oname, "p"), FR__I64, &m))) return st;
      int min[2] = {acc, g};
      if ((st = ox_node(c, FR__OP_MUL, NULL, min, 2, &m, 1, NULL))) return st;
      acc = m;
    }
    int neg, cat;
    int64_t m1 = -1;
    if ((st = ox_const_i64(c, ox_uniq(c, oname, "m1"), &m1, 1, &neg))) return st;
    if ((st = ox_value(c, ox_uniq(c, oname, "shape"), FR__I64, &cat))) return st;
    int cin[2] = {acc, neg};
    if ((st = ox_node(c, FR__OP_CONCAT, NULL, cin, 2, &cat, 1, &node))) return st;
    ox_a(c, node)->axis.axis = 0;
    shp = cat;
  }
  int rin[2] = {in, shp};
  if ((st = ox_node(c, FR__OP_RESHAPE, NULL, rin, 2, &out, 1, &node))) return st;
  ox_a(c, node)->reshape.allowzero = false;
  return FR_OK;
}

static fr_status op_transpose(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "perm");
  int64_t perm[FR__MAX_DIMS];
  int np;
  if (!st) st = ox_attr_ints(c, "perm", FR__MAX_DIMS, 0, FR__MAX_DIMS - 1, perm, &np);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  if (np < 0) {
    if (x->rank < 0) return ox_fail(c, FR_ERR_UNSUPPORTED, "default perm needs a known rank");
    np = x->rank;
    for (int i = 0; i < np; i++) perm[i] = np - 1 - i;
  }
  if (x->rank >= 0 && np != x->rank)
    return ox_fail(c, FR_ERR_SHAPE, "perm has %d values for rank %d", np, x->rank);
  bool seen[FR__MAX_DIMS] = {false};
  for (int i = 0; i < np; i++) {
    if (perm[i] >= np || seen[perm[i]]) return ox_fail(c, FR_ERR_FORMAT, "perm is not a permutation");
    seen[perm[i]] = true;
  }
  int p[FR__MAX_DIMS], in, out, node;
  if (x->nhwc) {
    if (np != 4) return ox_fail(c, FR_ERR_SHAPE, "perm has %d values for a 4-D input", np);
    in = x->id; /* compose with the storage permutation: model dim i = physical OX_MP[i] */
    for (int i = 0; i < 4; i++) p[i] = OX_MP[perm[i]];
  } else {
    if ((st = ox_model(c, x, &in))) return st;
    for (int i = 0; i < np; i++) p[i] = (int)perm[i];
  }
  bool ident = true;
  for (int i = 0; i < np; i++) ident = ident && p[i] == i;
  if ((st = ox_out(c, 0, false, x->dt, np, &out))) return st;
  if ((st = ox_node(c, ident ? FR__OP_IDENTITY : FR__OP_TRANSPOSE, NULL, &in, 1, &out, 1, &node)))
    return st;
  if (!ident) {
    fr__transpose_attrs *ta = &ox_a(c, node)->transpose;
    ta->n = np;
    for (int i = 0; i < np; i++) ta->perm[i] = p[i];
  }
  return FR_OK;
}

static fr_status op_shape(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "");
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int out, node;
  if (!x->nhwc) {
    int in;
    if ((st = ox_model(c, x, &in))) return st;
    if ((st = ox_out(c, 0, false, FR__I64, 1, &out))) return st;
    ox_find(c, c->nd->output[0])->len = x->rank;
    return ox_node(c, FR__OP_SHAPE, NULL, &in, 1, &out, 1, NULL);
  }
  /* physical NHWC shape, then gathered into NCHW order (static, no data moved) */
  int ps, pi;
  const char *oname = c->nd->output[0];
  if ((st = ox_value(c, ox_uniq(c, oname, "nhwc"), FR__I64, &ps))) return st;
  if ((st = ox_node(c, FR__OP_SHAPE, NULL, &x->id, 1, &ps, 1, NULL))) return st;
  int64_t mp[4] = {OX_MP[0], OX_MP[1], OX_MP[2], OX_MP[3]};
  if ((st = ox_const_i64(c, ox_uniq(c, oname, "perm"), mp, 4, &pi))) return st;
  if ((st = ox_out(c, 0, false, FR__I64, 1, &out))) return st;
  ox_find(c, c->nd->output[0])->len = 4;
  int in[2] = {ps, pi};
  if ((st = ox_node(c, FR__OP_GATHER, NULL, in, 2, &out, 1, &node))) return st;
  ox_a(c, node)->axis.axis = 0;
  return FR_OK;
}

static fr_status op_gather(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 2, 2, 1);
  if (!st) st = ox_attrs_allowed(c, "axis");
  int64_t ax;
  if (!st) st = ox_attr_i(c, "axis", 0, -FR__MAX_DIMS, FR__MAX_DIMS - 1, &ax);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0), *ix = ox_in_ent(c, 1);
  int in[2], out, node;
  if ((st = ox_model(c, x, &in[0])) || (st = ox_model(c, ix, &in[1]))) return st;
  int rank = x->rank >= 1 && ix->rank >= 0 ? x->rank - 1 + ix->rank : -1;
  if ((st = ox_out(c, 0, false, x->dt, rank, &out))) return st;
  if (rank == 1 && ix->rank == 1) ox_find(c, c->nd->output[0])->len = ix->len;
  if ((st = ox_node(c, FR__OP_GATHER, NULL, in, 2, &out, 1, &node))) return st;
  ox_a(c, node)->axis.axis = (int)ax;
  return FR_OK;
}

/* ---- layout-neutral ops with axes ---- */

static fr_status op_concat(ox *c, int arg) {
  (void)arg;
  int n = (int)c->nd->n_input;
  fr_status st = ox_arity(c, 1, n < 1 ? 1 : n, 1);
  if (!st) st = ox_attrs_allowed(c, "axis");
  int64_t ax;
  if (!st && !ox_attr(c, "axis")) st = ox_fail(c, FR_ERR_FORMAT, "attribute 'axis' is required");
  if (!st) st = ox_attr_i(c, "axis", 0, -FR__MAX_DIMS, FR__MAX_DIMS - 1, &ax);
  if (st) return st;
  if (n > 4096) return ox_fail(c, FR_ERR_UNSUPPORTED, "more than 4096 inputs");
  int *ids = malloc(sizeof(int) * (size_t)n);
  if (!ids) return ox_nomem(c);
  bool nhwc = false;
  int rank = -1;
  int64_t len = 0;
  for (int k = 0; k < n; k++) {
    ox_ent *e = ox_in_ent(c, k);
    if (!e) {
      free(ids);
      return ox_fail(c, FR_ERR_FORMAT, "input %d is empty", k);
    }
    nhwc = nhwc || e->nhwc;
    if (e->rank >= 0) rank = e->rank;
    if (len >= 0) len = e->rank == 1 && e->len >= 0 ? len + e->len : -1;
  }
  if (nhwc) {
    /* mixed layouts: pick the one needing fewer transposes, counting the
     * output's consumers (e.g. ShuffleNet's Concat -> Reshape stays NCHW) */
    int n_nhwc = 0, n_plain = 0;
    for (int k = 0; k < n; k++) {
      ox_ent *e = ox_in_ent(c, k);
      if (e->nhwc) n_nhwc++;
      else if (!ox_is_const(e)) n_plain++;
    }
    ox_ent *oe = ox_find(c, c->nd->output[0]);
    int cost_nhwc = n_plain + (oe && oe->want_plain), cost_plain = n_nhwc + (oe && oe->want_nhwc);
    if (cost_plain < cost_nhwc) nhwc = false;
  }
  if (nhwc) {
    for (int k = 0; k < n && !st; k++) {
      ox_ent *e = ox_in_ent(c, k);
      if (!e->nhwc && e->rank >= 0 && e->rank != 4)
        st = ox_fail(c, FR_ERR_SHAPE, "input '%s' has rank %d, expected 4", e->name, e->rank);
      else
        st = ox_nhwc(c, e, &ids[k]);
    }
    rank = 4;
  } else {
    for (int k = 0; k < n && !st; k++) st = ox_model(c, ox_in_ent(c, k), &ids[k]);
  }
  int a = 0, out = -1, node;
  if (!st) st = ox_axis(c, "axis", ax, rank, &a);
  if (!st) st = ox_out(c, 0, nhwc, ox_in_ent(c, 0)->dt, rank, &out);
  if (!st && rank == 1) ox_find(c, c->nd->output[0])->len = len;
  if (!st) st = ox_node(c, FR__OP_CONCAT, NULL, ids, n, &out, 1, &node);
  free(ids);
  if (st) return st;
  ox_a(c, node)->axis.axis = nhwc ? OX_MP[a] : a;
  return FR_OK;
}

static fr_status op_split(ox *c, int arg) {
  (void)arg;
  fr_status st;
  int64_t sizes[256];
  int ns;
  int nout = (int)c->nd->n_output;
  if (nout < 1 || nout > 256) return ox_fail(c, FR_ERR_UNSUPPORTED, "%d outputs (1..256 supported)", nout);
  if (c->opset < 13) {
    st = ox_arity(c, 1, 1, nout);
    if (!st) st = ox_attrs_allowed(c, "axis split");
    if (!st) st = ox_attr_ints(c, "split", 256, 0, FR__MAX_TENSOR_ELEMS, sizes, &ns);
  } else {
    st = ox_arity(c, 1, 2, nout);
    if (!st) st = ox_attrs_allowed(c, "axis");
    if (!st) st = ox_const_ints(c, 1, "split", sizes, 256, &ns);
  }
  int64_t ax;
  if (!st) st = ox_attr_i(c, "axis", 0, -FR__MAX_DIMS, FR__MAX_DIMS - 1, &ax);
  if (st) return st;
  if (ns >= 0 && ns != nout)
    return ox_fail(c, FR_ERR_FORMAT, "split has %d sizes for %d outputs", ns, nout);
  for (int k = 0; k < ns; k++)
    if (sizes[k] < 0) return ox_fail(c, FR_ERR_FORMAT, "negative split size");
  ox_ent *x = ox_in_ent(c, 0);
  int in, a;
  int rank = x->nhwc ? 4 : x->rank;
  if ((st = ox_axis(c, "axis", ax, rank, &a))) return st;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  int outs[256];
  for (int k = 0; k < nout; k++)
    if ((st = ox_out(c, k, x->nhwc, x->dt, x->rank, &outs[k]))) return st;
  int node;
  if ((st = ox_node(c, FR__OP_SPLIT, NULL, &in, 1, outs, nout, &node))) return st;
  fr__split_attrs *sa = &ox_a(c, node)->split;
  sa->axis = x->nhwc ? OX_MP[a] : a;
  sa->n = nout;
  sa->sizes = NULL;
  if (ns >= 0) {
    int64_t *s = fr__arena_alloc(&c->g->arena, sizeof(int64_t) * (size_t)nout);
    if (!s) return ox_nomem(c);
    memcpy(s, sizes, sizeof(int64_t) * (size_t)nout);
    c->g->nodes[node].a.split.sizes = s;
  }
  return FR_OK;
}

static fr_status op_slice(ox *c, int arg) {
  (void)arg;
  fr_status st;
  int64_t starts[FR__MAX_DIMS], ends[FR__MAX_DIMS], axes[FR__MAX_DIMS], steps[FR__MAX_DIMS];
  int ns, ne, na = -1, nst = -1;
  ox_ent *x;
  bool dyn = false;
  if (c->opset < 10) {
    st = ox_arity(c, 1, 1, 1);
    if (!st) st = ox_attrs_allowed(c, "axes ends starts");
    if (!st) st = ox_attr_ints(c, "starts", FR__MAX_DIMS, INT64_MIN, INT64_MAX, starts, &ns);
    if (!st) st = ox_attr_ints(c, "ends", FR__MAX_DIMS, INT64_MIN, INT64_MAX, ends, &ne);
    if (!st) st = ox_attr_ints(c, "axes", FR__MAX_DIMS, -FR__MAX_DIMS, FR__MAX_DIMS - 1, axes, &na);
    if (st) return st;
    if (ns < 0 || ne < 0) return ox_fail(c, FR_ERR_FORMAT, "starts and ends are required");
  } else {
    st = ox_arity(c, 3, 5, 1);
    if (!st) st = ox_attrs_allowed(c, "");
    if (st) return st;
    for (int k = 1; k < 5; k++) {
      ox_ent *e = ox_in_ent(c, k);
      if (e && !ox_is_const(e)) dyn = true;
    }
    if (!dyn) {
      st = ox_const_ints(c, 1, "starts", starts, FR__MAX_DIMS, &ns);
      if (!st) st = ox_const_ints(c, 2, "ends", ends, FR__MAX_DIMS, &ne);
      if (!st) st = ox_const_ints(c, 3, "axes", axes, FR__MAX_DIMS, &na);
      if (!st) st = ox_const_ints(c, 4, "steps", steps, FR__MAX_DIMS, &nst);
      if (st) return st;
    }
  }
  x = ox_in_ent(c, 0);
  int out, node;
  if (dyn) {
    /* starts/ends/axes/steps computed at plan time: pass them through, model layout */
    int in[5];
    if ((st = ox_model(c, x, &in[0]))) return st;
    for (int k = 1; k < 5; k++) {
      ox_ent *e = ox_in_ent(c, k);
      in[k] = -1;
      if (e && (st = ox_model(c, e, &in[k]))) return st;
    }
    if ((st = ox_out(c, 0, false, x->dt, x->rank, &out))) return st;
    if ((st = ox_node(c, FR__OP_SLICE, NULL, in, (int)c->nd->n_input, &out, 1, &node))) return st;
    return FR_OK;
  }
  if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
    return ox_fail(c, FR_ERR_FORMAT, "starts/ends/axes/steps lengths differ");
  int rank = x->nhwc ? 4 : x->rank;
  fr__slice_attrs sa;
  memset(&sa, 0, sizeof sa);
  sa.n = ns;
  bool seen[FR__MAX_DIMS] = {false};
  for (int i = 0; i < ns; i++) {
    int a = 0;
    if ((st = ox_axis(c, "axis", na >= 0 ? axes[i] : i, rank, &a))) return st;
    if (seen[a]) return ox_fail(c, FR_ERR_FORMAT, "axis %d repeated", a);
    seen[a] = true;
    if (nst >= 0 && steps[i] == 0) return ox_fail(c, FR_ERR_FORMAT, "step 0");
    sa.axes[i] = x->nhwc ? OX_MP[a] : a;
    sa.starts[i] = starts[i];
    sa.ends[i] = ends[i];
    sa.steps[i] = nst >= 0 ? steps[i] : 1;
  }
  int in;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, x->dt, x->rank, &out))) return st;
  if ((st = ox_node(c, FR__OP_SLICE, NULL, &in, 1, &out, 1, &node))) return st;
  ox_a(c, node)->slice = sa;
  return FR_OK;
}

static fr_status op_softmax(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "axis");
  int64_t ax;
  if (!st) st = ox_attr_i(c, "axis", c->opset < 13 ? 1 : -1, -FR__MAX_DIMS, FR__MAX_DIMS - 1, &ax);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int out, node, a;
  int rank = x->nhwc ? 4 : x->rank;
  if (c->opset >= 13 || (rank >= 0 && (ax == -1 || ax == rank - 1))) {
    /* one axis */
    if ((st = ox_axis(c, "axis", ax, rank, &a))) return st;
    if (rank < 0 && c->opset < 13)
      return ox_fail(c, FR_ERR_UNSUPPORTED, "input rank unknown");
    int in;
    if ((st = ox_keep_layout_in(c, x, &in))) return st;
    if ((st = ox_out(c, 0, x->nhwc, FR__F32, x->rank, &out))) return st;
    if ((st = ox_node(c, FR__OP_SOFTMAX, NULL, &in, 1, &out, 1, &node))) return st;
    ox_a(c, node)->axis.axis = x->nhwc ? OX_MP[a] : a;
    return FR_OK;
  }
  /* opset < 13: softmax over the flattened dims axis..end: reshape to
   * [d0..d(axis-1), -1], softmax on the last axis, reshape back (all static shapes) */
  if (ax < 0) {
    if (rank < 0) return ox_fail(c, FR_ERR_UNSUPPORTED, "negative axis with unknown input rank");
    ax += rank;
  }
  if (ax < 0 || (rank >= 0 && ax >= rank) || ax >= FR__MAX_DIMS)
    return ox_fail(c, FR_ERR_FORMAT, "axis %lld out of range", (long long)ax);
  const char *oname = c->nd->output[0];
  int in, spec_id, flat, sm, sv;
  if ((st = ox_model(c, x, &in))) return st;
  int64_t spec[FR__MAX_DIMS];
  for (int i = 0; i < ax; i++) spec[i] = 0;
  spec[ax] = -1;
  if ((st = ox_const_i64(c, ox_uniq(c, oname, "flatshape"), spec, (int)ax + 1, &spec_id))) return st;
  if ((st = ox_value(c, ox_uniq(c, oname, "flat"), FR__F32, &flat))) return st;
  int rin[2] = {in, spec_id};
  if ((st = ox_node(c, FR__OP_RESHAPE, NULL, rin, 2, &flat, 1, &node))) return st;
  if ((st = ox_value(c, ox_uniq(c, oname, "sm"), FR__F32, &sm))) return st;
  if ((st = ox_node(c, FR__OP_SOFTMAX, NULL, &flat, 1, &sm, 1, &node))) return st;
  ox_a(c, node)->axis.axis = -1;
  if ((st = ox_value(c, ox_uniq(c, oname, "inshape"), FR__I64, &sv))) return st;
  if ((st = ox_node(c, FR__OP_SHAPE, NULL, &in, 1, &sv, 1, NULL))) return st;
  if ((st = ox_out(c, 0, false, FR__F32, x->rank, &out))) return st;
  int rin2[2] = {sm, sv};
  return ox_node(c, FR__OP_RESHAPE, NULL, rin2, 2, &out, 1, NULL);
}

/* ReduceMean / Sum / Max / Min. arg = fr__op. */
static fr_status op_reduce(ox *c, int arg) {
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "axes keepdims");
  int64_t axes[FR__MAX_DIMS];
  int na, keep;
  if (!st) st = ox_attr_ints(c, "axes", FR__MAX_DIMS, -FR__MAX_DIMS, FR__MAX_DIMS - 1, axes, &na);
  if (!st) st = ox_attr_int(c, "keepdims", 1, 0, 1, &keep);
  if (st) return st;
  ox_ent *x = ox_in_ent(c, 0);
  int rank = x->nhwc ? 4 : x->rank;
  bool mark[FR__MAX_DIMS] = {false};
  int ax[FR__MAX_DIMS];
  for (int i = 0; i < (na > 0 ? na : 0); i++) {
    if ((st = ox_axis(c, "axis", axes[i], rank, &ax[i]))) return st;
    if (mark[ax[i]]) return ox_fail(c, FR_ERR_FORMAT, "axis %d repeated", ax[i]);
    mark[ax[i]] = true;
  }
  bool nhwc = x->nhwc;
  bool out_nhwc = nhwc && keep;
  if (nhwc && !keep && na > 0) {
    /* kept dims in physical order must be in model order for a plain output */
    int last = -1;
    for (int j = 0; j < 4; j++) {
      int m = OX_PM[j];
      if (mark[m]) continue;
      if (m < last) nhwc = false;
      last = m;
    }
  }
  int in, out, node;
  if (nhwc) in = x->id;
  else if ((st = ox_model(c, x, &in))) return st;
  int orank = na <= 0 ? (keep ? rank : 0) : (keep ? rank : (rank >= 0 ? rank - na : -1));
  if ((st = ox_out(c, 0, out_nhwc && nhwc, FR__F32, orank, &out))) return st;
  if ((st = ox_node(c, (fr__op)arg, NULL, &in, 1, &out, 1, &node))) return st;
  fr__reduce_attrs *r = &ox_a(c, node)->reduce;
  r->n_axes = na > 0 ? na : 0;
  for (int i = 0; i < r->n_axes; i++) r->axes[i] = nhwc ? OX_MP[ax[i]] : ax[i];
  r->keepdims = keep != 0;
  return FR_OK;
}

static fr_status op_pad(ox *c, int arg) {
  (void)arg;
  fr_status st;
  int64_t pads[2 * FR__MAX_DIMS];
  int np;
  float value = 0;
  char mode[32];
  ox_ent *pe = NULL;
  if (c->opset < 11) {
    st = ox_arity(c, 1, 1, 1);
    if (!st) st = ox_attrs_allowed(c, "mode pads value");
    if (!st) st = ox_attr_ints(c, "pads", 2 * FR__MAX_DIMS, INT32_MIN, INT32_MAX, pads, &np);
    if (!st) st = ox_attr_f(c, "value", 0.0f, &value);
    if (!st && np < 0) st = ox_fail(c, FR_ERR_FORMAT, "pads are required");
  } else {
    st = ox_arity(c, 2, 3, 1);
    if (!st) st = ox_attrs_allowed(c, "mode");
    pe = ox_in_ent(c, 1);
    np = -1;
    if (!st && ox_is_const(pe)) st = ox_const_ints(c, 1, "pads", pads, 2 * FR__MAX_DIMS, &np);
    float v[1];
    int nv;
    if (!st) st = ox_const_floats(c, 2, "constant_value", v, 1, &nv);
    if (!st && nv == 1) value = v[0];
  }
  if (!st) st = ox_attr_s(c, "mode", "constant", mode, sizeof mode);
  if (st) return st;
  fr__pad_kind kind;
  if (strcmp(mode, "constant") == 0) kind = FR__PADK_CONSTANT;
  else if (strcmp(mode, "reflect") == 0) kind = FR__PADK_REFLECT;
  else if (strcmp(mode, "edge") == 0) kind = FR__PADK_EDGE;
  else return ox_fail(c, FR_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
  ox_ent *x = ox_in_ent(c, 0);
  int out, node;
  if (np < 0) { /* dynamic pads (static at plan time): model layout, pads from in[1] */
    int in[2];
    if ((st = ox_model(c, x, &in[0])) || (st = ox_model(c, pe, &in[1]))) return st;
    if ((st = ox_out(c, 0, false, x->dt, x->rank, &out))) return st;
    if ((st = ox_node(c, FR__OP_PAD, NULL, in, 2, &out, 1, &node))) return st;
    fr__pad_attrs *pa = &ox_a(c, node)->pad;
    pa->n = 0;
    pa->value = value;
    pa->kind = kind;
    return FR_OK;
  }
  if (np % 2) return ox_fail(c, FR_ERR_FORMAT, "pads has an odd count (%d)", np);
  int r = np / 2;
  int rank = x->nhwc ? 4 : x->rank;
  if (rank >= 0 && r != rank) return ox_fail(c, FR_ERR_SHAPE, "pads describe rank %d, input has rank %d", r, rank);
  bool zero = true;
  for (int i = 0; i < np; i++) {
    if (pads[i] < 0) return ox_fail(c, FR_ERR_UNSUPPORTED, "negative pads are not supported");
    if (pads[i] > OX_MAX_SPATIAL) return ox_fail(c, FR_ERR_FORMAT, "pad %lld is too large", (long long)pads[i]);
    zero = zero && pads[i] == 0;
  }
  int in;
  if ((st = ox_keep_layout_in(c, x, &in))) return st;
  if ((st = ox_out(c, 0, x->nhwc, x->dt, x->rank, &out))) return st;
  if (zero) return ox_node(c, FR__OP_IDENTITY, NULL, &in, 1, &out, 1, NULL);
  if ((st = ox_node(c, FR__OP_PAD, NULL, &in, 1, &out, 1, &node))) return st;
  fr__pad_attrs *pa = &ox_a(c, node)->pad;
  pa->n = r;
  for (int j = 0; j < r; j++) {
    int m = x->nhwc ? OX_PM[j] : j; /* physical dim j holds model dim m */
    pa->begin[j] = pads[m];
    pa->end[j] = pads[r + m];
  }
  pa->value = value;
  pa->kind = kind;
  return FR_OK;
}

/* Upsample (arg 0) / Resize (arg 1) */
static fr_status op_resize(ox *c, int arg) {
  fr_status st;
  char mode[32], ctm[32] = "asymmetric", nm[32] = "floor";
  float scales[8];
  int nsc = -1;
  int64_t sizes[8];
  int nsz = -1;
  ox_ent *x = ox_in_ent(c, 0), *sizes_e = NULL;
  if (!arg) {
    if (c->opset < 9) {
      st = ox_arity(c, 1, 1, 1);
      if (!st) st = ox_attrs_allowed(c, "mode scales");
      if (!st) st = ox_attr_floats(c, "scales", 8, scales, &nsc);
    } else {
      st = ox_arity(c, 2, 2, 1);
      if (!st) st = ox_attrs_allowed(c, "mode");
      if (!st) st = ox_const_floats(c, 1, "scales", scales, 8, &nsc);
    }
  } else if (c->opset < 11) {
    st = ox_arity(c, 2, 2, 1);
    if (!st) st = ox_attrs_allowed(c, "mode");
    if (!st) st = ox_const_floats(c, 1, "scales", scales, 8, &nsc);
  } else {
    st = ox_arity(c, 1, 4, 1);
    if (!st)
      st = ox_attrs_allowed(c, "coordinate_transformation_mode cubic_coeff_a exclude_outside "
                               "extrapolation_value mode nearest_mode");
    if (!st) st = ox_attr_s(c, "coordinate_transformation_mode", "half_pixel", ctm, sizeof ctm);
    if (!st) st = ox_attr_s(c, "nearest_mode", "round_prefer_floor", nm, sizeof nm);
    int ex;
    if (!st) st = ox_attr_int(c, "exclude_outside", 0, 0, 1, &ex);
    if (!st && ex) st = ox_fail(c, FR_ERR_UNSUPPORTED, "exclude_outside=1 is not supported");
    ox_ent *se = ox_in_ent(c, 2);
    if (!st && se && (!ox_is_const(se) || se->t->n_dims != 1 || se->t->dims[0] != 0))
      st = ox_const_floats(c, 2, "scales", scales, 8, &nsc);
    if (!st && nsc == 0) nsc = -1;
    sizes_e = ox_in_ent(c, 3);
    if (!st && sizes_e && ox_is_const(sizes_e)) {
      st = ox_const_ints(c, 3, "sizes", sizes, 8, &nsz);
      sizes_e = NULL;
    }
  }
  if (!st) st = ox_attr_s(c, "mode", "nearest", mode, sizeof mode);
  if (st) return st;
  bool nearest;
  if (strcmp(mode, "nearest") == 0) nearest = true;
  else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0) nearest = false;
  else return ox_fail(c, FR_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
  fr__resize_coord coord;
  if (strcmp(ctm, "asymmetric") == 0) coord = FR__RC_ASYMMETRIC;
  else if (strcmp(ctm, "half_pixel") == 0) coord = FR__RC_HALF_PIXEL;
  else if (strcmp(ctm, "align_corners") == 0) coord = FR__RC_ALIGN_CORNERS;
  else if (strcmp(ctm, "pytorch_half_pixel") == 0) coord = FR__RC_PYTORCH_HALF_PIXEL;
  else return ox_fail(c, FR_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", ctm);
  if (nearest && !((coord == FR__RC_ASYMMETRIC && strcmp(nm, "floor") == 0) ||
                   (coord == FR__RC_HALF_PIXEL && strcmp(nm, "round_prefer_ceil") == 0)))
    return ox_fail(c, FR_ERR_UNSUPPORTED,
                   "nearest resize with %s / %s is not supported (asymmetric+floor, "
                   "half_pixel+round_prefer_ceil are)", ctm, nm);
  int out, node, in[2] = {-1, -1};
  float sh = 0, sw = 0;
  int oh = 0, ow = 0;
  if (nsc >= 0) {
    if (nsc != 4 || scales[0] != 1.0f || scales[1] != 1.0f || !(scales[2] > 0) || !(scales[3] > 0) ||
        scales[2] > 1e4f || scales[3] > 1e4f)
      return ox_fail(c, FR_ERR_UNSUPPORTED, "scales must be [1, 1, h, w] with positive h, w");
    sh = scales[2];
    sw = scales[3];
  } else if (nsz >= 0) {
    if (nsz != 4 || sizes[2] < 1 || sizes[3] < 1 || sizes[2] > FR__MAX_TENSOR_ELEMS ||
        sizes[3] > FR__MAX_TENSOR_ELEMS || sizes[2] > INT32_MAX || sizes[3] > INT32_MAX)
      return ox_fail(c, FR_ERR_UNSUPPORTED, "sizes must be 4 positive values");
    oh = (int)sizes[2];
    ow = (int)sizes[3];
  } else if (sizes_e) {
    /* sizes computed at plan time: SLICE [2:4] -> in[1] */
    int sid, sl;
    if ((st = ox_model(c, sizes_e, &sid))) return st;
    if ((st = ox_value(c, ox_uniq(c, c->nd->output[0], "hw"), FR__I64, &sl))) return st;
    if ((st = ox_node(c, FR__OP_SLICE, NULL, &sid, 1, &sl, 1, &node))) return st;
    fr__slice_attrs *sa = &ox_a(c, node)->slice;
    sa->n = 1;
    sa->axes[0] = 0;
    sa->starts[0] = 2;
    sa->ends[0] = 4;
    sa->steps[0] = 1;
    in[1] = sl;
  } else {
    return ox_fail(c, FR_ERR_FORMAT, "neither scales nor sizes given");
  }
  if ((st = ox_nhwc(c, x, &in[0]))) return st;
  if ((st = ox_out(c, 0, true, FR__F32, 4, &out))) return st;
  if ((st = ox_node(c, FR__OP_RESIZE, NULL, in, in[1] >= 0 ? 2 : 1, &out, 1, &node))) return st;
  fr__resize_attrs *ra = &ox_a(c, node)->resize;
  ra->nearest = nearest;
  ra->coord = coord;
  ra->out_h = oh;
  ra->out_w = ow;
  ra->scale_h = sh;
  ra->scale_w = sw;
  return FR_OK;
}

/* DepthToSpace (NHWC, DCR = TF order only) */
static fr_status op_d2s(ox *c, int arg) {
  (void)arg;
  fr_status st = ox_arity(c, 1, 1, 1);
  if (!st) st = ox_attrs_allowed(c, "blocksize mode");
  int bs;
  char mode[16];
  if (!st) st = ox_attr_int(c, "blocksize", 0, 1, 4096, &bs);
  if (!st) st = ox_attr_s(c, "mode", "DCR", mode, sizeof mode);
  if (!st && strcmp(mode, "DCR") != 0) st = ox_fail(c, FR_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
  if (st) return st;
  int in, out, node;
  if ((st = ox_nhwc(c, ox_in_ent(c, 0), &in))) return st;
  if ((st = ox_out(c, 0, true, FR__F32, 4, &out))) return st;
  if ((st = ox_node(c, FR__OP_DEPTH_TO_SPACE, NULL, &in, 1, &out, 1, &node))) return st;
  ox_a(c, node)->d2s.block = bs;
  return FR_OK;
}

/* ---------------------------------------------------------------- op table */

typedef struct ox_op {
  const char *name;
  ox_handler fn;
  int arg;
} ox_op;

static const ox_op OX_OPS[] = {
    {"Conv", op_conv, 0},
    {"MaxPool", op_pool, 0},
    {"AveragePool", op_pool, 1},
    {"GlobalAveragePool", op_global_pool, FR__OP_REDUCE_MEAN},
    {"GlobalMaxPool", op_global_pool, FR__OP_REDUCE_MAX},
    {"BatchNormalization", op_batchnorm, 0},
    {"Relu", op_unary, FR__OP_RELU},
    {"Sigmoid", op_unary, FR__OP_SIGMOID},
    {"Tanh", op_unary, FR__OP_TANH},
    {"Exp", op_unary, FR__OP_EXP},
    {"Log", op_unary, FR__OP_LOG},
    {"Abs", op_unary, FR__OP_ABS},
    {"Neg", op_unary, FR__OP_NEG},
    {"Sqrt", op_unary, FR__OP_SQRT},
    {"Floor", op_unary, FR__OP_FLOOR},
    {"Ceil", op_unary, FR__OP_CEIL},
    {"LeakyRelu", op_leaky, 0},
    {"Clip", op_clip, 0},
    {"PRelu", op_prelu, 0},
    {"Add", op_binary, FR__OP_ADD},
    {"Sub", op_binary, FR__OP_SUB},
    {"Mul", op_binary, FR__OP_MUL},
    {"Div", op_binary, FR__OP_DIV},
    {"Pow", op_binary, FR__OP_POW},
    {"Less", op_binary, FR__OP_LESS},
    {"Greater", op_binary, FR__OP_GREATER},
    {"Equal", op_binary, FR__OP_EQUAL},
    {"Sum", op_variadic, FR__OP_ADD},
    {"Max", op_variadic, FR__OP_MAXIMUM},
    {"Min", op_variadic, FR__OP_MINIMUM},
    {"Gemm", op_gemm, 0},
    {"MatMul", op_matmul, 0},
    {"Reshape", op_reshape, 0},
    {"Flatten", op_flatten, 0},
    {"Transpose", op_transpose, 0},
    {"Squeeze", op_squeeze, 0},
    {"Unsqueeze", op_squeeze, 1},
    {"Shape", op_shape, 0},
    {"Gather", op_gather, 0},
    {"Concat", op_concat, 0},
    {"Split", op_split, 0},
    {"Slice", op_slice, 0},
    {"Softmax", op_softmax, 0},
    {"ReduceMean", op_reduce, FR__OP_REDUCE_MEAN},
    {"ReduceSum", op_reduce, FR__OP_REDUCE_SUM},
    {"ReduceMax", op_reduce, FR__OP_REDUCE_MAX},
    {"ReduceMin", op_reduce, FR__OP_REDUCE_MIN},
    {"Pad", op_pad, 0},
    {"Upsample", op_resize, 0},
    {"Resize", op_resize, 1},
    {"DepthToSpace", op_d2s, 0},
    {"Identity", op_identity, 0},
    {"Dropout", op_identity, 1},
    {"Cast", op_cast, 0},
};

static void ox_set_node(ox *c, const Onnx__NodeProto *nd, int index) {
  c->nd = nd;
  c->nd_index = index;
  if (nd->name && nd->name[0])
    snprintf(c->nname, sizeof c->nname, "%.*s", OX_MAX_NAME, nd->name);
  else if (nd->n_output && nd->output[0] && nd->output[0][0])
    snprintf(c->nname, sizeof c->nname, "#%d -> %.*s", index, OX_MAX_NAME, nd->output[0]);
  else
    snprintf(c->nname, sizeof c->nname, "#%d", index);
}

static fr_status ox_convert_node(ox *c) {
  const Onnx__NodeProto *nd = c->nd;
  const char *op = ox_str(nd->op_type);
  if (strcmp(op, "Constant") == 0) return FR_OK; /* registered as a constant entity */
  if (c->opset >= 13 && strcmp(op, "ReduceSum") == 0)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "ReduceSum-13 (axes as input) is not supported");
  for (size_t i = 0; i < sizeof OX_OPS / sizeof OX_OPS[0]; i++)
    if (strcmp(OX_OPS[i].name, op) == 0) return OX_OPS[i].fn(c, OX_OPS[i].arg);
  return ox_fail(c, FR_ERR_UNSUPPORTED, "operator '%s' is not supported", op);
}

/* ------------------------------------------------ protobuf nesting check */

static bool ox_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int s = 0; s < 64 && *p < end; s += 7) {
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

/* True when [p, end) parses as protobuf fields, without looking inside them. */
static bool ox_pb_flat(const uint8_t *p, const uint8_t *end) {
  while (p < end) {
    uint64_t key, v;
    if (!ox_varint(&p, end, &key) || (key >> 3) == 0) return false;
    switch (key & 7) {
    case 0:
      if (!ox_varint(&p, end, &v)) return false;
      break;
    case 1:
      if (end - p < 8) return false;
      p += 8;
      break;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      break;
    case 2:
      if (!ox_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
      p += v;
      break;
    default:
      return false;
    }
  }
  return true;
}

/* True when [p, end) parses as protobuf fields. Length-delimited fields are
 * scanned as possible sub-messages; *too_deep is set when such nesting passes
 * OX_MAX_DEPTH (protobuf-c's unpacker recurses once per level). */
static bool ox_pb_scan(const uint8_t *p, const uint8_t *end, int depth, bool *too_deep) {
  while (p < end) {
    uint64_t key, v;
    if (!ox_varint(&p, end, &key) || (key >> 3) == 0) return false;
    switch (key & 7) {
    case 0:
      if (!ox_varint(&p, end, &v)) return false;
      break;
    case 1:
      if (end - p < 8) return false;
      p += 8;
      break;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      break;
    case 2:
      if (!ox_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
      if (v > 0) {
        if (depth + 1 >= OX_MAX_DEPTH) {
          if (ox_pb_flat(p, p + v)) {
            *too_deep = true;
            return false;
          }
        } else {
          ox_pb_scan(p, p + v, depth + 1, too_deep);
          if (*too_deep) return false;
        }
      }
      p += v;
      break;
    default:
      return false;
    }
  }
  return true;
}

/* ---------------------------------------------------------------- driver */

static fr_status ox_read_file(const char *path, uint8_t **buf, size_t *len, fr_error *err) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return fr_error_set(err, FR_ERR_IO, "%s: cannot open the model file", path);
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return fr_error_set(err, FR_ERR_IO, "%s: not a regular file", path);
  }
  if ((long long)sb.st_size > FR__ONNX_MAX_FILE) {
    fclose(f);
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %lld bytes (the limit is %lld)", path,
                        (long long)sb.st_size, FR__ONNX_MAX_FILE);
  }
  if (sb.st_size == 0) {
    fclose(f);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: the file is empty", path);
  }
  size_t n = (size_t)sb.st_size;
  uint8_t *b = malloc(n);
  if (!b) {
    fclose(f);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
  }
  size_t got = fread(b, 1, n, f);
  int extra = fgetc(f);
  fclose(f);
  if (got != n || extra != EOF) {
    free(b);
    return fr_error_set(err, FR_ERR_IO, "%s: read %zu of %zu bytes (file changed?)", path, got, n);
  }
  *buf = b;
  *len = n;
  return FR_OK;
}

/* Declared shape of a graph input. */
static fr_status ox_input_value(ox *c, const Onnx__ValueInfoProto *vi, int *id, int *rank) {
  const Onnx__TypeProto *tp = vi->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "graph input '%s' is not a tensor", vi->name);
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  int et = tt->has_elem_type ? tt->elem_type : 0;
  if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "graph input '%s' has type %s (only FLOAT inputs)",
                   vi->name, ox_dtype_name(et));
  fr__shape s;
  memset(&s, 0, sizeof s);
  *rank = -1;
  if (tt->shape) {
    if (tt->shape->n_dim > FR__MAX_DIMS)
      return ox_fail(c, FR_ERR_UNSUPPORTED, "graph input '%s' has %zu dims (max %d)", vi->name,
                     tt->shape->n_dim, FR__MAX_DIMS);
    s.rank = (int)tt->shape->n_dim;
    for (int i = 0; i < s.rank; i++) {
      const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
      int64_t v = -1;
      if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
        v = d->dim_value;
        if (v < 0) return ox_fail(c, FR_ERR_FORMAT, "graph input '%s' has a negative dim", vi->name);
        if (v > FR__MAX_TENSOR_ELEMS)
          return ox_fail(c, FR_ERR_TOO_LARGE, "graph input '%s' dim %d is too large", vi->name, i);
      }
      s.d[i] = v;
    }
    *rank = s.rank;
  }
  return fr__graph_add_value(c->g, vi->name, FR__F32, &s, id, c->err);
}

static fr_status ox_convert(ox *c, const Onnx__ModelProto *m) {
  fr_status st;
  /* opset */
  c->opset = -1;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!o) continue;
    const char *d = ox_str(o->domain);
    if (d[0] == 0 || strcmp(d, "ai.onnx") == 0) c->opset = o->has_version ? (int)o->version : -1;
  }
  if (c->opset < 0 && m->n_opset_import == 0 && m->has_ir_version && m->ir_version < 3) c->opset = 1;
  if (c->opset < 7 || c->opset > 13)
    return ox_fail(c, FR_ERR_UNSUPPORTED, "opset %d is not supported (7..13 are)", c->opset);
  const Onnx__GraphProto *gp = m->graph;
  if (!gp) return ox_fail(c, FR_ERR_FORMAT, "no graph (not an ONNX model?)");
  if (gp->n_node > FR__MAX_NODES) return ox_fail(c, FR_ERR_TOO_LARGE, "more than %d nodes", FR__MAX_NODES);
  if (gp->n_sparse_initializer) return ox_fail(c, FR_ERR_UNSUPPORTED, "sparse initializers");

  /* names: initializers, Constant outputs, graph inputs, node outputs */
  ox_ent *e;
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *t = gp->initializer[i];
    if (!t) continue;
    if ((st = ox_register(c, t->name, "initializer", &e))) return st;
    ox_tensor chk;
    if ((st = ox_check_tensor(c, t, e->name, &chk))) return st;
    e->t = t;
    ox_ent_from_tensor(e);
  }
  int n_in = 0;
  int *in_ids = malloc(sizeof(int) * (gp->n_input + 1));
  if (!in_ids) return ox_nomem(c);
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (!vi) continue;
    e = ox_find(c, vi->name);
    if (e && e->t) continue; /* initializer listed as input (IR < 4): a constant */
    if ((st = ox_register(c, vi->name, "graph input", &e))) goto out;
    int id = -1, rank = -1;
    if ((st = ox_input_value(c, vi, &id, &rank))) goto out;
    e->id = id;
    e->rank = rank;
    e->is_input = true;
    in_ids[n_in++] = id;
  }
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *nd = gp->node[i];
    if (!nd) {
      st = ox_fail(c, FR_ERR_FORMAT, "node %zu is empty", i);
      goto out;
    }
    ox_set_node(c, nd, (int)i);
    if (!nd->op_type || !nd->op_type[0]) {
      st = ox_fail(c, FR_ERR_FORMAT, "node without op_type");
      goto out;
    }
    if (nd->domain && nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0) {
      st = ox_fail(c, FR_ERR_UNSUPPORTED, "operator domain '%s' is not supported", nd->domain);
      goto out;
    }
    if (nd->n_input > 4096 || nd->n_output > 4096) {
      st = ox_fail(c, FR_ERR_UNSUPPORTED, "too many inputs / outputs");
      goto out;
    }
    bool is_const = strcmp(nd->op_type, "Constant") == 0;
    const Onnx__AttributeProto *va = NULL;
    const Onnx__TensorProto *ct = NULL;
    if (is_const) {
      if ((st = ox_attrs_allowed(c, "value value_float value_floats value_int value_ints"))) goto out;
      if (nd->n_attribute != 1) {
        st = ox_fail(c, FR_ERR_FORMAT, "Constant needs exactly one value attribute");
        goto out;
      }
      if ((st = ox_attr_typed(c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &va))) goto out;
      if (va) {
        ct = va->t;
      } else {
        /* value_float(s) / value_int(s): a TensorProto over the attribute's data */
        const char *nm = ox_str(nd->attribute[0]->name);
        bool is_f = strncmp(nm, "value_float", 11) == 0, list = nm[strlen(nm) - 1] == 's';
        int want = is_f ? (list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                                : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
                        : (list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                                : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
        if ((st = ox_attr_typed(c, nm, want, &va))) goto out;
        ox_synth *sy = calloc(1, sizeof *sy);
        if (!sy) {
          st = ox_nomem(c);
          goto out;
        }
        Onnx__TensorProto z = ONNX__TENSOR_PROTO__INIT;
        sy->t = z;
        sy->next = c->synth;
        c->synth = sy;
        sy->t.has_data_type = 1;
        sy->t.data_type = is_f ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        if (list) {
          sy->dim = (int64_t)(is_f ? va->n_floats : va->n_ints);
          sy->t.dims = &sy->dim;
          sy->t.n_dims = 1;
        }
        if (is_f) {
          sy->t.float_data = list ? va->floats : (float *)&va->f;
          sy->t.n_float_data = list ? va->n_floats : 1;
        } else {
          sy->t.int64_data = list ? va->ints : (int64_t *)&va->i;
          sy->t.n_int64_data = list ? va->n_ints : 1;
        }
        ct = &sy->t;
      }
      if (nd->n_input || nd->n_output != 1) {
        st = ox_fail(c, FR_ERR_FORMAT, "Constant must have no inputs and one output");
        goto out;
      }
    }
    for (size_t k = 0; k < nd->n_output; k++) {
      if (!nd->output[k] || !nd->output[k][0]) continue; /* omitted optional output */
      if ((st = ox_register(c, nd->output[k], "node output", &e))) goto out;
      if (is_const) {
        ox_tensor chk;
        if ((st = ox_check_tensor(c, ct, e->name, &chk))) goto out;
        e->t = ct;
        ox_ent_from_tensor(e);
      } else {
        e->producer = (int)i;
      }
    }
  }
  c->nd = NULL;

  /* topological order over ONNX nodes (Kahn); inputs must all be known */
  int nn = (int)gp->n_node;
  int *indeg = calloc((size_t)nn + 1, sizeof(int));
  int *order = malloc(sizeof(int) * ((size_t)nn + 1));
  int *off = calloc((size_t)nn + 2, sizeof(int));
  size_t n_edges = 0;
  for (int i = 0; i < nn; i++) n_edges += gp->node[i]->n_input;
  int *adj = malloc(sizeof(int) * (n_edges + 1));
  int *fill = calloc((size_t)nn + 1, sizeof(int));
  if (!indeg || !order || !off || !adj || !fill) {
    st = ox_nomem(c);
    goto topo_out;
  }
  for (int i = 0; i < nn; i++) {
    const Onnx__NodeProto *nd = gp->node[i];
    for (size_t k = 0; k < nd->n_input; k++) {
      const char *nm = nd->input[k];
      if (!nm || !nm[0]) continue;
      e = ox_find(c, nm);
      if (!e) {
        ox_set_node(c, nd, i);
        st = ox_fail(c, FR_ERR_FORMAT,
                     "input '%s' is not an initializer, graph input or node output", nm);
        goto topo_out;
      }
      if (e->producer >= 0) {
        if (e->producer == i) {
          ox_set_node(c, nd, i);
          st = ox_fail(c, FR_ERR_FORMAT, "the graph has a cycle: the node reads its own output '%s'", nm);
          goto topo_out;
        }
        indeg[i]++;
        off[e->producer + 1]++;
      }
    }
  }
  for (int i = 0; i < nn; i++) off[i + 1] += off[i];
  for (int i = 0; i < nn; i++) {
    const Onnx__NodeProto *nd = gp->node[i];
    for (size_t k = 0; k < nd->n_input; k++) {
      e = nd->input[k] && nd->input[k][0] ? ox_find(c, nd->input[k]) : NULL;
      if (e && e->producer >= 0) adj[off[e->producer] + fill[e->producer]++] = i;
    }
  }
  int head = 0, tail = 0;
  for (int i = 0; i < nn; i++)
    if (!indeg[i]) order[tail++] = i;
  while (head < tail) {
    int i = order[head++];
    for (int k = off[i]; k < off[i + 1]; k++)
      if (--indeg[adj[k]] == 0) order[tail++] = adj[k];
  }
  if (tail != nn) {
    int bad = 0;
    while (bad < nn && !indeg[bad]) bad++;
    ox_set_node(c, gp->node[bad], bad);
    st = ox_fail(c, FR_ERR_FORMAT, "the graph has a cycle through this node");
    goto topo_out;
  }
  /* consumer preferences (used to place mixed-layout Concats) */
  for (int i = 0; i < nn; i++) {
    const Onnx__NodeProto *nd = gp->node[i];
    static const char *plain_ops[] = {"Reshape", "Flatten", "Transpose", "Gather", "Squeeze",
                                      "Unsqueeze", "Gemm", "MatMul"};
    static const char *nhwc_ops[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                     "GlobalMaxPool", "Resize", "Upsample", "DepthToSpace"};
    bool pl = false, nh = false;
    for (size_t k = 0; k < sizeof plain_ops / sizeof plain_ops[0]; k++)
      pl = pl || strcmp(nd->op_type, plain_ops[k]) == 0;
    for (size_t k = 0; k < sizeof nhwc_ops / sizeof nhwc_ops[0]; k++)
      nh = nh || strcmp(nd->op_type, nhwc_ops[k]) == 0;
    if (nd->n_input && nd->input[0] && (e = ox_find(c, nd->input[0]))) {
      e->want_plain = e->want_plain || pl;
      e->want_nhwc = e->want_nhwc || nh;
    }
  }
  for (int k = 0; k < nn; k++) {
    ox_set_node(c, gp->node[order[k]], order[k]);
    if ((st = ox_convert_node(c))) goto topo_out;
  }
  c->nd = NULL;

  /* graph outputs */
  {
    int n_out = 0;
    int *out_ids = malloc(sizeof(int) * (gp->n_output + 1));
    if (!out_ids) {
      st = ox_nomem(c);
      goto topo_out;
    }
    for (size_t i = 0; i < gp->n_output && !st; i++) {
      const Onnx__ValueInfoProto *vi = gp->output[i];
      if (!vi) continue;
      e = ox_find(c, vi->name);
      if (!e) {
        st = ox_fail(c, FR_ERR_FORMAT, "graph output '%s' is not produced by any node", ox_str(vi->name));
        break;
      }
      if (e->id < 0 && (st = ox_model(c, e, &out_ids[n_out]))) break;
      out_ids[n_out++] = e->id;
    }
    if (!st) st = fr__graph_set_io(c->g, in_ids, n_in, out_ids, n_out, c->err);
    free(out_ids);
  }
  if (!st) st = fr__graph_finalize(c->g, c->err);
topo_out:
  free(indeg);
  free(order);
  free(off);
  free(adj);
  free(fill);
out:
  free(in_ids);
  return st;
}

fr_status fr__onnx_load(const char *path, fr__graph *g, fr_error *err) {
  uint8_t *buf;
  size_t len;
  fr_status st = ox_read_file(path, &buf, &len, err);
  if (st) return st;
  bool too_deep = false;
  bool ok = ox_pb_scan(buf, buf + len, 0, &too_deep);
  if (too_deep) {
    free(buf);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: protobuf messages nested deeper than %d levels",
                        path, OX_MAX_DEPTH);
  }
  if (!ok) {
    free(buf);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: not a valid ONNX protobuf file (truncated or corrupt)",
                        path);
  }
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
  free(buf);
  if (!m)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: not a valid ONNX protobuf file (unpack failed)", path);
  ox c;
  memset(&c, 0, sizeof c);
  c.g = g;
  c.err = err;
  c.path = path;
  st = ox_convert(&c, m);
  free(c.ents);
  free(c.hash);
  while (c.synth) {
    ox_synth *n = c.synth->next;
    free(c.synth);
    c.synth = n;
  }
  onnx__model_proto__free_unpacked(m, NULL);
  return st;
}
