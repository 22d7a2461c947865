/*
 * TF.js graph-model loader (see tfjs_loader.h for the contract).
 *
 * Steps: read + parse model.json (capped) -> read the shards of every manifest
 * group and check their sizes against the weights -> index the nodes, resolve
 * every input reference -> order the nodes topologically (a cycle is an error)
 * -> convert each node to IR nodes, inferring ranks on the way (for the few ops
 * whose lowering depends on them) -> graph inputs / outputs -> finalize.
 */
#include "nn/tfjs/tfjs_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TJ_MAX_NAME 4096     /* node / weight / path name length */
#define TJ_MAX_STR_ATTR 256  /* decoded "s" attribute */
#define TJ_MAX_LIST 64       /* attribute lists and small constant vectors */

enum { TJ_F32 = 0, TJ_I32, TJ_BOOL };
enum { TJ_Q_NONE = 0, TJ_Q_U8, TJ_Q_U16, TJ_Q_F16 };

typedef struct tj_weight {
  const char *name;       /* points into the json */
  int dtype;              /* TJ_F32 / TJ_I32 / TJ_BOOL (the decoded dtype) */
  int q;                  /* quantization kind */
  double scale, min;      /* uint8 / uint16 */
  fr__shape shape;
  int64_t elems;
  const uint8_t *bytes;   /* into a shard buffer */
  size_t nbytes;
} tj_weight;

typedef struct tj_node {
  const char *name, *op;  /* point into the json */
  json_t *attr;           /* object or NULL */
  json_t *inputs;         /* array or NULL */
  int n_in;               /* data inputs (control inputs "^x" are not counted) */
  int *in;                /* node index of each data input */
  int n_children;         /* consumers, data and control */
  int weight;             /* Const: index into weights, else -1 */
  int value;              /* IR value of output 0, -1 until made */
} tj_node;

typedef struct tj_hash {
  int *slot;              /* -1 = empty */
  size_t cap;             /* power of two */
} tj_hash;

typedef struct tj_ctx {
  fr__graph *g;
  fr_error *err;
  const char *path;
  char *dir;              /* folder of the json, with trailing '/' (or "") */
  json_t *root;
  tj_node *nodes;
  int n_nodes;
  int *in_pool;
  tj_hash node_hash;
  tj_weight *w;
  int n_w;
  tj_hash w_hash;
  uint8_t **bufs;
  int n_bufs;
  int *vrank;             /* per IR value: rank, -1 unknown */
  int64_t *vlen;          /* per IR value: length when 1-D and known, else -1 */
  int vcap;
  int *inputs;
  int n_inputs;
} tj_ctx;

/* ------------------------------------------------------------------ errors */

static fr_status ferr(tj_ctx *c, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fr_status ferr(tj_ctx *c, fr_status st, const char *fmt, ...) {
  char buf[448];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return fr_error_set(c->err, st, "%s: %s", c->path, buf);
}

static fr_status nerr(tj_ctx *c, const tj_node *nd, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static fr_status nerr(tj_ctx *c, const tj_node *nd, fr_status st, const char *fmt, ...) {
  char buf[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return fr_error_set(c->err, st, "%s: node '%s' (%s): %s", c->path, nd->name, nd->op, buf);
}

/* ------------------------------------------------------------------ hashing */

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static bool hash_init(tj_hash *h, size_t n) {
  size_t cap = 16;
  while (cap < n * 2 + 1) cap *= 2;
  h->slot = malloc(sizeof(int) * cap);
  if (!h->slot) return false;
  for (size_t i = 0; i < cap; i++) h->slot[i] = -1;
  h->cap = cap;
  return true;
}

/* Finds name; names are read through a stride into an array of structs whose
 * first member is the name. Returns the slot where it is or would go. */
static size_t hash_slot(const tj_hash *h, const char *name, const void *arr, size_t stride,
                        int *found) {
  size_t i = (size_t)fnv1a(name) & (h->cap - 1);
  for (;;) {
    int k = h->slot[i];
    if (k < 0) {
      *found = -1;
      return i;
    }
    const char *kn = *(const char *const *)((const char *)arr + stride * (size_t)k);
    if (strcmp(kn, name) == 0) {
      *found = k;
      return i;
    }
    i = (i + 1) & (h->cap - 1);
  }
}

static int node_find(const tj_ctx *c, const char *name) {
  if (!c->node_hash.slot) return -1;
  int f;
  hash_slot(&c->node_hash, name, c->nodes, sizeof(tj_node), &f);
  return f;
}

static int weight_find(const tj_ctx *c, const char *name) {
  if (!c->w_hash.slot) return -1;
  int f;
  hash_slot(&c->w_hash, name, c->w, sizeof(tj_weight), &f);
  return f;
}

/* ------------------------------------------------------------------ json helpers */

static bool j_int64(json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d == floor(d)) || d < -9.0e18 || d > 9.0e18) return false;
    *out = (int64_t)d;
    return true;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 24 || strlen(s) != n) return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = (int64_t)x;
    return true;
  }
  return false;
}

static bool j_double(json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return true;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) *out = NAN;
    else if (strcmp(s, "Infinity") == 0) *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0) *out = -INFINITY;
    else {
      if (json_string_length(v) == 0 || json_string_length(v) > 64) return false;
      char *end;
      errno = 0;
      double d = strtod(s, &end);
      if (errno || *end) return false;
      *out = d;
    }
    return true;
  }
  return false;
}

/* A string that has no embedded NUL and a sane length; NULL otherwise. */
static const char *j_str(json_t *v) {
  if (!json_is_string(v)) return NULL;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (n > TJ_MAX_NAME || strlen(s) != n) return NULL;
  return s;
}

static int b64val(unsigned char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+' || ch == '-') return 62;
  if (ch == '/' || ch == '_') return 63;
  return -1;
}

/* Strict base64 (standard or URL alphabet, padding optional). out gets a
 * NUL-terminated string of at most cap-1 bytes; embedded NULs are refused. */
static bool b64_decode(const char *s, size_t n, char *out, size_t cap) {
  while (n > 0 && s[n - 1] == '=') n--;
  if (n % 4 == 1 || strlen(s) < n) return false;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0) return false;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char ch = (char)((acc >> bits) & 0xff);
      if (ch == 0 || o + 1 >= cap) return false;
      out[o++] = ch;
    }
  }
  out[o] = 0;
  return true;
}

/* ------------------------------------------------------------------ attributes */

static json_t *attr(const tj_node *nd, const char *key) {
  return nd->attr ? json_object_get(nd->attr, key) : NULL;
}

static fr_status attr_i(tj_ctx *c, const tj_node *nd, const char *key, int64_t dflt, int64_t *out) {
  json_t *a = attr(nd, key);
  json_t *v = json_is_object(a) ? json_object_get(a, "i") : NULL;
  if (!v) {
    *out = dflt;
    return FR_OK;
  }
  if (!j_int64(v, out)) return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not an integer", key);
  return FR_OK;
}

static fr_status attr_b(tj_ctx *c, const tj_node *nd, const char *key, bool dflt, bool *out) {
  json_t *a = attr(nd, key);
  json_t *v = json_is_object(a) ? json_object_get(a, "b") : NULL;
  if (!v) {
    *out = dflt;
    return FR_OK;
  }
  if (!json_is_boolean(v)) return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not a boolean", key);
  *out = json_is_true(v);
  return FR_OK;
}

static fr_status attr_f(tj_ctx *c, const tj_node *nd, const char *key, double dflt, double *out) {
  json_t *a = attr(nd, key);
  json_t *v = json_is_object(a) ? json_object_get(a, "f") : NULL;
  if (!v) {
    *out = dflt;
    return FR_OK;
  }
  if (!j_double(v, out)) return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not a number", key);
  return FR_OK;
}

/* "s" attribute (base64) into buf; *present false (buf = "") when absent. */
static fr_status attr_s(tj_ctx *c, const tj_node *nd, const char *key, char *buf, size_t cap,
                        bool *present) {
  json_t *a = attr(nd, key);
  json_t *v = json_is_object(a) ? json_object_get(a, "s") : NULL;
  buf[0] = 0;
  if (present) *present = v != NULL;
  if (!v) return FR_OK;
  if (!json_is_string(v) || !b64_decode(json_string_value(v), json_string_length(v), buf, cap))
    return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not valid base64 text", key);
  return FR_OK;
}

static fr_status attr_ilist(tj_ctx *c, const tj_node *nd, const char *key, int64_t *out, int max,
                            int *n, bool *present) {
  json_t *a = attr(nd, key);
  json_t *l = json_is_object(a) ? json_object_get(a, "list") : NULL;
  *n = 0;
  if (present) *present = l != NULL;
  if (!l) return FR_OK;
  if (!json_is_object(l)) return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not a list", key);
  json_t *arr = json_object_get(l, "i");
  if (!arr) return FR_OK;
  if (!json_is_array(arr)) return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not a list", key);
  if (json_array_size(arr) > (size_t)max)
    return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' has %zu entries (max %d)", key,
                json_array_size(arr), max);
  for (size_t i = 0; i < json_array_size(arr); i++)
    if (!j_int64(json_array_get(arr, i), &out[i]))
      return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' entry %zu is not an integer", key, i);
  *n = (int)json_array_size(arr);
  return FR_OK;
}

#define TJ_SLIST_LEN 32
static fr_status attr_slist(tj_ctx *c, const tj_node *nd, const char *key,
                            char out[][TJ_SLIST_LEN], int max, int *n) {
  json_t *a = attr(nd, key);
  json_t *l = json_is_object(a) ? json_object_get(a, "list") : NULL;
  *n = 0;
  if (!l) return FR_OK;
  json_t *arr = json_is_object(l) ? json_object_get(l, "s") : NULL;
  if (!arr) return FR_OK;
  if (!json_is_array(arr) || json_array_size(arr) > (size_t)max)
    return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' is not a short list of strings", key);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *v = json_array_get(arr, i);
    if (!json_is_string(v) ||
        !b64_decode(json_string_value(v), json_string_length(v), out[i], TJ_SLIST_LEN))
      return nerr(c, nd, FR_ERR_FORMAT, "attribute '%s' entry %zu is not valid base64 text", key, i);
  }
  *n = (int)json_array_size(arr);
  return FR_OK;
}

static const char *attr_type(const tj_node *nd, const char *key) {
  json_t *a = attr(nd, key);
  json_t *v = json_is_object(a) ? json_object_get(a, "type") : NULL;
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static fr_status check_nhwc(tj_ctx *c, const tj_node *nd) {
  char fmt[TJ_MAX_STR_ATTR];
  bool present;
  fr_status st = attr_s(c, nd, "data_format", fmt, sizeof fmt, &present);
  if (st) return st;
  if (present && strcasecmp(fmt, "NHWC") != 0)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "data_format '%s' is not supported (only NHWC)", fmt);
  return FR_OK;
}

/* ------------------------------------------------------------------ files */

static fr_status read_all(tj_ctx *c, const char *file, size_t cap, const char *what, uint8_t **out,
                          size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fr_error_set(c->err, errno == ENOENT ? FR_ERR_NOT_FOUND : FR_ERR_IO,
                        "%s: cannot open %s '%s': %s", c->path, what, file, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return fr_error_set(c->err, FR_ERR_IO, "%s: %s '%s' is not a regular file", c->path, what, file);
  }
  if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)cap) {
    close(fd);
    return fr_error_set(c->err, FR_ERR_TOO_LARGE, "%s: %s '%s' has %lld bytes (limit %zu)", c->path,
                        what, file, (long long)sb.st_size, cap);
  }
  size_t n = (size_t)sb.st_size;
  uint8_t *buf = malloc(n + 1);
  if (!buf) {
    close(fd);
    return fr_error_set(c->err, FR_ERR_NOMEM, "%s: out of memory reading '%s'", c->path, file);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != n) {
    free(buf);
    return fr_error_set(c->err, FR_ERR_IO, "%s: short read on %s '%s'", c->path, what, file);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return FR_OK;
}

static bool keep_buf(tj_ctx *c, uint8_t *buf) {
  uint8_t **b = realloc(c->bufs, sizeof *b * (size_t)(c->n_bufs + 1));
  if (!b) return false;
  c->bufs = b;
  c->bufs[c->n_bufs++] = buf;
  return true;
}

/* A shard path must stay inside the model's folder. */
static bool safe_rel_path(const char *p) {
  if (!p[0] || p[0] == '/' || strchr(p, '\\')) return false;
  const char *s = p;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 2 && s[0] == '.' && s[1] == '.') return false;
    if (!e) break;
    s = e + 1;
  }
  return true;
}

/* ------------------------------------------------------------------ weights */

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0) {
    if (m == 0) {
      bits = sign;
    } else { /* subnormal: normalize */
      int k = -1;
      do {
        k++;
        m <<= 1;
      } while (!(m & 0x400));
      m &= 0x3ff;
      bits = sign | ((uint32_t)(127 - 15 - k) << 23) | (m << 13);
    }
  } else if (e == 31) {
    bits = sign | 0x7f800000u | (m << 13);
  } else {
    bits = sign | ((e + 127 - 15) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* TF.js: values[i] = q * scale + min, evaluated in double (no fused multiply-add)
 * and stored into a Float32Array. */
static double dequant(uint32_t q, double scale, double min) {
  volatile double p = (double)q * scale;
  return p + min;
}

static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd_q(const tj_weight *w, int64_t i) {
  if (w->q == TJ_Q_U8) return w->bytes[i];
  return (uint32_t)w->bytes[2 * i] | (uint32_t)w->bytes[2 * i + 1] << 8;
}

static void w_decode_f32(const tj_weight *w, float *dst) {
  for (int64_t i = 0; i < w->elems; i++) {
    if (w->q == TJ_Q_F16) {
      dst[i] = f16_to_f32((uint16_t)rd_q(w, i));
    } else if (w->q != TJ_Q_NONE) {
      dst[i] = (float)dequant(rd_q(w, i), w->scale, w->min);
    } else {
      uint32_t b = rd_u32(w->bytes + 4 * i);
      memcpy(&dst[i], &b, 4);
    }
  }
}

/* JavaScript ToInt32 of Math.round(x) (what assigning to an Int32Array does). */
static int32_t js_round_int32(double x) {
  if (!isfinite(x)) return 0;
  double r = floor(x);
  if (x - r >= 0.5) r += 1.0;
  double m = fmod(r, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  if (m >= 2147483648.0) m -= 4294967296.0;
  return (int32_t)m;
}

static void w_decode_i64(const tj_weight *w, int64_t *dst) {
  for (int64_t i = 0; i < w->elems; i++) {
    if (w->dtype == TJ_BOOL) dst[i] = w->bytes[i] != 0;
    else if (w->q != TJ_Q_NONE) dst[i] = js_round_int32(dequant(rd_q(w, i), w->scale, w->min));
    else dst[i] = (int32_t)rd_u32(w->bytes + 4 * i);
  }
}

static fr_status parse_weight(tj_ctx *c, json_t *wj, int gi, size_t wi, tj_weight *w) {
  memset(w, 0, sizeof *w);
  if (!json_is_object(wj))
    return ferr(c, FR_ERR_FORMAT, "weightsManifest[%d].weights[%zu] is not an object", gi, wi);
  w->name = j_str(json_object_get(wj, "name"));
  if (!w->name)
    return ferr(c, FR_ERR_FORMAT, "weightsManifest[%d].weights[%zu] has no valid name", gi, wi);
  json_t *shape = json_object_get(wj, "shape");
  if (!json_is_array(shape) || json_array_size(shape) > FR__MAX_DIMS)
    return ferr(c, FR_ERR_FORMAT, "weight '%s': shape is not an array of at most %d dims", w->name,
                FR__MAX_DIMS);
  w->shape.rank = (int)json_array_size(shape);
  int64_t elems = 1;
  for (int d = 0; d < w->shape.rank; d++) {
    int64_t v;
    if (!j_int64(json_array_get(shape, (size_t)d), &v) || v < 0)
      return ferr(c, FR_ERR_FORMAT, "weight '%s': dim %d is not a non-negative integer", w->name, d);
    if (v > FR__MAX_TENSOR_ELEMS || (v > 0 && elems > FR__MAX_TENSOR_ELEMS / v))
      return ferr(c, FR_ERR_TOO_LARGE, "weight '%s': shape has more than %lld elements", w->name,
                  (long long)FR__MAX_TENSOR_ELEMS);
    w->shape.d[d] = v;
    elems *= v;
  }
  w->elems = elems;
  const char *dt = j_str(json_object_get(wj, "dtype"));
  if (!dt) return ferr(c, FR_ERR_FORMAT, "weight '%s' has no dtype", w->name);
  if (strcmp(dt, "float32") == 0) w->dtype = TJ_F32;
  else if (strcmp(dt, "int32") == 0) w->dtype = TJ_I32;
  else if (strcmp(dt, "bool") == 0) w->dtype = TJ_BOOL;
  else return ferr(c, FR_ERR_UNSUPPORTED, "weight '%s': dtype '%s' is not supported", w->name, dt);
  size_t esize = w->dtype == TJ_BOOL ? 1 : 4;
  json_t *q = json_object_get(wj, "quantization");
  if (q && !json_is_null(q)) {
    if (!json_is_object(q))
      return ferr(c, FR_ERR_FORMAT, "weight '%s': quantization is not an object", w->name);
    const char *qd = j_str(json_object_get(q, "dtype"));
    if (!qd) return ferr(c, FR_ERR_FORMAT, "weight '%s': quantization has no dtype", w->name);
    if (strcmp(qd, "uint8") == 0) w->q = TJ_Q_U8, esize = 1;
    else if (strcmp(qd, "uint16") == 0) w->q = TJ_Q_U16, esize = 2;
    else if (strcmp(qd, "float16") == 0) w->q = TJ_Q_F16, esize = 2;
    else
      return ferr(c, FR_ERR_UNSUPPORTED, "weight '%s': quantization dtype '%s' is not supported",
                  w->name, qd);
    if (w->dtype == TJ_BOOL || (w->q == TJ_Q_F16 && w->dtype != TJ_F32))
      return ferr(c, FR_ERR_UNSUPPORTED, "weight '%s': %s quantization of %s is not supported",
                  w->name, qd, dt);
    if (w->q != TJ_Q_F16) {
      if (!j_double(json_object_get(q, "scale"), &w->scale) ||
          !j_double(json_object_get(q, "min"), &w->min) || !isfinite(w->scale) ||
          !isfinite(w->min))
        return ferr(c, FR_ERR_FORMAT, "weight '%s': %s quantization needs finite scale and min",
                    w->name, qd);
    }
  }
  w->nbytes = (size_t)elems * esize; /* elems <= 2^31: no overflow */
  return FR_OK;
}

static fr_status load_weights(tj_ctx *c) {
  json_t *man = json_object_get(c->root, "weightsManifest");
  if (!man || json_is_null(man)) return FR_OK;
  if (!json_is_array(man)) return ferr(c, FR_ERR_FORMAT, "weightsManifest is not an array");
  size_t total_w = 0;
  for (size_t gi = 0; gi < json_array_size(man); gi++) {
    json_t *grp = json_array_get(man, gi);
    json_t *ws = json_is_object(grp) ? json_object_get(grp, "weights") : NULL;
    if (!json_is_array(ws))
      return ferr(c, FR_ERR_FORMAT, "weightsManifest[%zu] has no weights array", gi);
    total_w += json_array_size(ws);
    if (total_w > FR__MAX_VALUES)
      return ferr(c, FR_ERR_TOO_LARGE, "weightsManifest lists more than %d weights", FR__MAX_VALUES);
  }
  c->w = calloc(total_w + 1, sizeof *c->w);
  if (!c->w || !hash_init(&c->w_hash, total_w))
    return ferr(c, FR_ERR_NOMEM, "out of memory");
  size_t all_bytes = 0;
  for (size_t gi = 0; gi < json_array_size(man); gi++) {
    json_t *grp = json_array_get(man, gi);
    json_t *paths = json_object_get(grp, "paths");
    json_t *ws = json_object_get(grp, "weights");
    if (!json_is_array(paths) || json_array_size(paths) > 100000)
      return ferr(c, FR_ERR_FORMAT, "weightsManifest[%zu] has no paths array", gi);
    /* validate the group's weight specs first (no file needed for those errors) */
    size_t nw = json_array_size(ws), need = 0;
    tj_weight *gw = c->w + c->n_w; /* scratch space past the kept weights */
    for (size_t wi = 0; wi < nw; wi++) {
      fr_status st = parse_weight(c, json_array_get(ws, wi), (int)gi, wi, &gw[wi]);
      if (st) return st;
      if (gw[wi].nbytes > FR__TFJS_MAX_WEIGHT_BYTES - need)
        return ferr(c, FR_ERR_TOO_LARGE, "weightsManifest[%zu] needs more than %zu bytes", gi,
                    FR__TFJS_MAX_WEIGHT_BYTES);
      need += gw[wi].nbytes;
    }
    /* read and concatenate the group's shards */
    size_t np = json_array_size(paths), gsize = 0;
    uint8_t *gbuf = NULL;
    for (size_t pi = 0; pi < np; pi++) {
      const char *rel = j_str(json_array_get(paths, pi));
      if (!rel || !safe_rel_path(rel)) {
        free(gbuf);
        return ferr(c, FR_ERR_FORMAT, "weightsManifest[%zu].paths[%zu] is not a relative path inside "
                    "the model folder", gi, pi);
      }
      size_t fl = strlen(c->dir) + strlen(rel) + 1;
      char *file = malloc(fl);
      if (!file) {
        free(gbuf);
        return ferr(c, FR_ERR_NOMEM, "out of memory");
      }
      snprintf(file, fl, "%s%s", c->dir, rel);
      uint8_t *sb;
      size_t sl;
      fr_status st = read_all(c, file, FR__TFJS_MAX_SHARD_BYTES, "weight shard", &sb, &sl);
      free(file);
      if (st) {
        free(gbuf);
        return st;
      }
      if (sl > FR__TFJS_MAX_WEIGHT_BYTES - all_bytes) {
        free(gbuf);
        free(sb);
        return ferr(c, FR_ERR_TOO_LARGE, "the weight shards hold more than %zu bytes",
                    FR__TFJS_MAX_WEIGHT_BYTES);
      }
      all_bytes += sl;
      if (!gbuf) {
        gbuf = sb;
        gsize = sl;
      } else {
        uint8_t *nb = realloc(gbuf, gsize + sl + 1);
        if (!nb) {
          free(gbuf);
          free(sb);
          return ferr(c, FR_ERR_NOMEM, "out of memory");
        }
        gbuf = nb;
        memcpy(gbuf + gsize, sb, sl);
        gsize += sl;
        free(sb);
      }
    }
    if (gbuf && !keep_buf(c, gbuf)) {
      free(gbuf);
      return ferr(c, FR_ERR_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (size_t wi = 0; wi < nw; wi++) {
      tj_weight w = gw[wi];
      if (w.nbytes > gsize - off)
        return ferr(c, FR_ERR_FORMAT,
                    "weightsManifest[%zu]: weight '%s' needs bytes %zu..%zu but the shards hold only "
                    "%zu bytes (truncated shard or wrong shape)", gi, w.name, off, off + w.nbytes,
                    gsize);
      w.bytes = gbuf ? gbuf + off : NULL;
      off += w.nbytes;
      int found;
      size_t slot = hash_slot(&c->w_hash, w.name, c->w, sizeof(tj_weight), &found);
      if (found >= 0) {
        c->w[found] = w; /* later entries win, as in TF.js's weight map */
      } else { /* c->n_w <= wi + (earlier groups): never overwrites gw[j > wi] */
        c->w[c->n_w] = w;
        c->w_hash.slot[slot] = c->n_w++;
      }
    }
    if (off != gsize)
      return ferr(c, FR_ERR_FORMAT,
                  "weightsManifest[%zu]: the shards hold %zu bytes but the weights use %zu (extra bytes "
                  "or wrong shapes)", gi, gsize, off);
  }
  return FR_OK;
}

/* ------------------------------------------------------------------ IR building helpers */

static fr_status set_meta(tj_ctx *c, int v, int rank, int64_t len) {
  if (v >= c->vcap) {
    int cap = c->vcap ? c->vcap : 256;
    while (cap <= v) cap *= 2;
    int *r = realloc(c->vrank, sizeof(int) * (size_t)cap);
    if (!r) return ferr(c, FR_ERR_NOMEM, "out of memory");
    c->vrank = r;
    int64_t *l = realloc(c->vlen, sizeof(int64_t) * (size_t)cap);
    if (!l) return ferr(c, FR_ERR_NOMEM, "out of memory");
    c->vlen = l;
    for (int i = c->vcap; i < cap; i++) c->vrank[i] = -1, c->vlen[i] = -1;
    c->vcap = cap;
  }
  c->vrank[v] = rank;
  c->vlen[v] = rank == 1 ? len : -1;
  return FR_OK;
}

static int vrank(const tj_ctx *c, int v) { return v >= 0 && v < c->vcap ? c->vrank[v] : -1; }
static int64_t vlen(const tj_ctx *c, int v) { return v >= 0 && v < c->vcap ? c->vlen[v] : -1; }

/* Builds "<node>/<suffix>", made unique against node names and IR values. Caller frees. */
static char *helper_name(tj_ctx *c, const tj_node *nd, const char *suffix) {
  size_t n = strlen(nd->name) + strlen(suffix) + 24;
  char *s = malloc(n);
  if (!s) return NULL;
  snprintf(s, n, "%s/%s", nd->name, suffix);
  for (int k = 1; node_find(c, s) >= 0 || fr__graph_find(c->g, s) >= 0; k++)
    snprintf(s, n, "%s/%s_%d", nd->name, suffix, k);
  return s;
}

static fr_status new_value(tj_ctx *c, const char *name, fr__dtype dt, int rank, int64_t len,
                           int *v) {
  fr__shape s = {0};
  fr_status st = fr__graph_add_value(c->g, name, dt, &s, v, c->err);
  if (st) return st;
  return set_meta(c, *v, rank, len);
}

static fr_status helper_value(tj_ctx *c, const tj_node *nd, const char *suffix, fr__dtype dt,
                              int rank, int64_t len, int *v) {
  char *name = helper_name(c, nd, suffix);
  if (!name) return ferr(c, FR_ERR_NOMEM, "out of memory");
  fr_status st = new_value(c, name, dt, rank, len, v);
  free(name);
  return st;
}

/* The node's own output value (named exactly as the node). */
static fr_status own_value(tj_ctx *c, tj_node *nd, fr__dtype dt, int rank, int64_t len, int *v) {
  fr_status st = new_value(c, nd->name, dt, rank, len, v);
  if (st) return st;
  nd->value = *v;
  return FR_OK;
}

static fr_status helper_const(tj_ctx *c, const tj_node *nd, const char *suffix, fr__dtype dt,
                              const fr__shape *shape, void **data, int *v) {
  char *name = helper_name(c, nd, suffix);
  if (!name) return ferr(c, FR_ERR_NOMEM, "out of memory");
  fr_status st = fr__graph_add_const_uninit(c->g, name, dt, shape, data, v, c->err);
  free(name);
  if (st) return st;
  return set_meta(c, *v, shape->rank, shape->rank == 1 ? shape->d[0] : -1);
}

static fr_status helper_i64(tj_ctx *c, const tj_node *nd, const char *suffix, const int64_t *vals,
                            int n, int *v) {
  fr__shape s = {.rank = 1, .d = {n}};
  void *data;
  fr_status st = helper_const(c, nd, suffix, FR__I64, &s, &data, v);
  if (st) return st;
  if (n) memcpy(data, vals, sizeof(int64_t) * (size_t)n);
  return FR_OK;
}

/* Adds an IR node with one output; *pn (optional) points at it for setting attrs
 * (valid until the next add). The IR node is named after its output value. */
static fr_status add1(tj_ctx *c, fr__op op, const int *in, int n_in, int out, fr__node **pn) {
  int idx;
  fr_status st =
      fr__graph_add_node(c->g, op, c->g->values[out].name, in, n_in, &out, 1, &idx, c->err);
  if (st) return st;
  if (pn) *pn = &c->g->nodes[idx];
  return FR_OK;
}

/* IR value of TF node ti's output 0; Const nodes become IR constants here (lazily). */
static fr_status tf_value(tj_ctx *c, int ti, int *v) {
  tj_node *src = &c->nodes[ti];
  if (src->value >= 0) {
    *v = src->value;
    return FR_OK;
  }
  if (src->weight < 0)
    return nerr(c, src, FR_ERR_INTERNAL, "output used before the node was converted");
  const tj_weight *w = &c->w[src->weight];
  void *data;
  fr__dtype dt = w->dtype == TJ_F32 ? FR__F32 : FR__I64;
  fr_status st = fr__graph_add_const_uninit(c->g, src->name, dt, &w->shape, &data, v, c->err);
  if (st) return st;
  if (dt == FR__F32) w_decode_f32(w, data);
  else w_decode_i64(w, data);
  src->value = *v;
  return set_meta(c, *v, w->shape.rank, w->shape.rank == 1 ? w->shape.d[0] : -1);
}

static fr_status input_value(tj_ctx *c, const tj_node *nd, int i, int *v) {
  if (i >= nd->n_in) return nerr(c, nd, FR_ERR_FORMAT, "input %d is missing", i);
  return tf_value(c, nd->in[i], v);
}

static fr_status need_inputs(tj_ctx *c, const tj_node *nd, int lo, int hi) {
  if (nd->n_in < lo || nd->n_in > hi) {
    if (lo == hi) return nerr(c, nd, FR_ERR_FORMAT, "has %d inputs, expected %d", nd->n_in, lo);
    return nerr(c, nd, FR_ERR_FORMAT, "has %d inputs, expected %d..%d", nd->n_in, lo, hi);
  }
  return FR_OK;
}

/* Weight of input i when that input is a Const node, else NULL. */
static const tj_weight *const_weight(const tj_ctx *c, const tj_node *nd, int i) {
  if (i >= nd->n_in) return NULL;
  const tj_node *src = &c->nodes[nd->in[i]];
  return src->weight >= 0 ? &c->w[src->weight] : NULL;
}

/* Integer constant input i (scalar or 1-D, at most max values). */
static fr_status const_ints(tj_ctx *c, const tj_node *nd, int i, const char *what, int64_t *out,
                            int max, int *n) {
  const tj_weight *w = const_weight(c, nd, i);
  if (!w)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "%s (input %d) must be a constant", what, i);
  if (w->dtype == TJ_F32 || w->shape.rank > 1 || w->elems > max)
    return nerr(c, nd, FR_ERR_FORMAT, "%s (input %d) must be an integer scalar or vector of at most "
                "%d values", what, i, max);
  w_decode_i64(w, out);
  *n = (int)w->elems;
  return FR_OK;
}

static fr_status const_int1(tj_ctx *c, const tj_node *nd, int i, const char *what, int64_t *out) {
  int n;
  int64_t v[1];
  fr_status st = const_ints(c, nd, i, what, v, 1, &n);
  if (st) return st;
  if (n != 1) return nerr(c, nd, FR_ERR_FORMAT, "%s (input %d) must hold one value", what, i);
  *out = v[0];
  return FR_OK;
}

/* Reshapes x (rank r) into out_v: spec[k] >= 0 copies dim spec[k] of x, -1 is
 * a new dim of size 1. Uses a constant shape (0 = copy the same dim, -1 =
 * inferred) when it can; otherwise gathers from SHAPE(x) (static at plan time). */
static fr_status emit_reshape_spec(tj_ctx *c, const tj_node *nd, int x, int r, const int *spec,
                                   int n, int out_v) {
  int64_t shp[FR__MAX_DIMS];
  int nonaligned = 0, pos = -1;
  fr_status st;
  for (int k = 0; k < n; k++) {
    if (spec[k] < 0) shp[k] = 1;
    else if (spec[k] == k) shp[k] = 0;
    else nonaligned++, pos = k;
  }
  int sv;
  bool allowzero = false;
  if (nonaligned <= 1) {
    if (pos >= 0) shp[pos] = -1;
    if ((st = helper_i64(c, nd, "shape", shp, n, &sv))) return st;
  } else {
    int shape_of, one, ext, idxv;
    int64_t one1 = 1, idx[FR__MAX_DIMS];
    for (int k = 0; k < n; k++) idx[k] = spec[k] < 0 ? r : spec[k];
    fr__node *p;
    if ((st = helper_value(c, nd, "shape_of", FR__I64, 1, r, &shape_of))) return st;
    if ((st = add1(c, FR__OP_SHAPE, &x, 1, shape_of, NULL))) return st;
    if ((st = helper_i64(c, nd, "one", &one1, 1, &one))) return st;
    if ((st = helper_value(c, nd, "shape_ext", FR__I64, 1, r + 1, &ext))) return st;
    int cin[2] = {shape_of, one};
    if ((st = add1(c, FR__OP_CONCAT, cin, 2, ext, &p))) return st;
    p->a.axis.axis = 0;
    if ((st = helper_i64(c, nd, "shape_idx", idx, n, &idxv))) return st;
    if ((st = helper_value(c, nd, "shape", FR__I64, 1, n, &sv))) return st;
    int gin[2] = {ext, idxv};
    if ((st = add1(c, FR__OP_GATHER, gin, 2, sv, &p))) return st;
    p->a.axis.axis = 0;
    allowzero = true;
  }
  int in[2] = {x, sv};
  fr__node *p;
  if ((st = add1(c, FR__OP_RESHAPE, in, 2, out_v, &p))) return st;
  p->a.reshape.allowzero = allowzero;
  return FR_OK;
}

/* ------------------------------------------------------------------ op converters */

typedef fr_status (*tj_conv_fn)(tj_ctx *c, tj_node *nd, int arg);

static fr_status cv_noop(tj_ctx *c, tj_node *nd, int arg) {
  (void)c, (void)nd, (void)arg;
  return FR_OK;
}

static fr_status cv_placeholder(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  const char *dt = attr_type(nd, "dtype");
  if (dt && strcmp(dt, "DT_FLOAT") != 0)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "input dtype %s is not supported (only DT_FLOAT)", dt);
  json_t *a = attr(nd, "shape");
  json_t *sh = json_is_object(a) ? json_object_get(a, "shape") : NULL;
  if (!json_is_object(sh) || json_is_true(json_object_get(sh, "unknownRank")))
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "the input has no declared shape");
  json_t *dim = json_object_get(sh, "dim");
  if (dim && !json_is_array(dim)) return nerr(c, nd, FR_ERR_FORMAT, "shape.dim is not an array");
  size_t r = dim ? json_array_size(dim) : 0;
  if (r > FR__MAX_DIMS)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "input rank %zu is above %d", r, FR__MAX_DIMS);
  fr__shape s = {.rank = (int)r};
  int64_t known = 1;
  for (size_t k = 0; k < r; k++) {
    json_t *d = json_array_get(dim, k);
    json_t *size = json_is_object(d) ? json_object_get(d, "size") : NULL;
    int64_t v = -1;
    if (size && !j_int64(size, &v))
      return nerr(c, nd, FR_ERR_FORMAT, "input dim %zu is not an integer", k);
    if (v < -1) return nerr(c, nd, FR_ERR_FORMAT, "input dim %zu is %lld", k, (long long)v);
    if (v > FR__MAX_TENSOR_ELEMS || (v > 0 && known > FR__MAX_TENSOR_ELEMS / v))
      return nerr(c, nd, FR_ERR_TOO_LARGE, "input shape has more than %lld elements",
                  (long long)FR__MAX_TENSOR_ELEMS);
    if (v > 0) known *= v;
    s.d[k] = v;
  }
  int v;
  fr_status st = fr__graph_add_value(c->g, nd->name, FR__F32, &s, &v, c->err);
  if (st) return st;
  nd->value = v;
  int *in = realloc(c->inputs, sizeof(int) * (size_t)(c->n_inputs + 1));
  if (!in) return ferr(c, FR_ERR_NOMEM, "out of memory");
  c->inputs = in;
  c->inputs[c->n_inputs++] = v;
  return set_meta(c, v, (int)r, r == 1 ? s.d[0] : -1);
}

static fr_status cv_const(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  nd->weight = weight_find(c, nd->name);
  if (nd->weight < 0)
    return nerr(c, nd, FR_ERR_FORMAT, "no weight with this name in weightsManifest");
  return FR_OK;
}

/* Single-input, same-shape ops (arg = IR op). */
static fr_status cv_unary(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  int x, out;
  fr__node *p;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = own_value(c, nd, c->g->values[x].dtype, vrank(c, x), vlen(c, x), &out))) return st;
  if ((st = add1(c, (fr__op)arg, &x, 1, out, &p))) return st;
  if (arg == FR__OP_CLIP) { /* Relu6 */
    p->a.clip.min = 0.0f;
    p->a.clip.max = 6.0f;
  } else if (arg == FR__OP_LEAKY_RELU) {
    double a;
    if ((st = attr_f(c, nd, "alpha", 0.2, &a))) return st;
    p->a.clip.alpha = (float)a;
  } else if (arg == FR__OP_SOFTMAX) {
    p->a.axis.axis = -1;
  }
  return FR_OK;
}

static bool is_compare(int op) {
  return op == FR__OP_LESS || op == FR__OP_LESS_EQUAL || op == FR__OP_GREATER ||
         op == FR__OP_GREATER_EQUAL || op == FR__OP_EQUAL;
}

/* Two-input broadcasting ops (arg = IR op). */
static fr_status cv_binary(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  int in[2], out;
  if ((st = need_inputs(c, nd, 2, 2))) return st;
  if (arg == FR__OP_ADD && strcmp(nd->op, "BiasAdd") == 0 && (st = check_nhwc(c, nd))) return st;
  if ((st = input_value(c, nd, 0, &in[0])) || (st = input_value(c, nd, 1, &in[1]))) return st;
  int ra = vrank(c, in[0]), rb = vrank(c, in[1]);
  int r = ra < 0 || rb < 0 ? -1 : (ra > rb ? ra : rb);
  fr__dtype dt = is_compare(arg) ? FR__F32 : c->g->values[in[0]].dtype;
  int64_t len = -1;
  if (r == 1 && vlen(c, in[0]) >= 0 && vlen(c, in[1]) >= 0) {
    int64_t la = ra == 1 ? vlen(c, in[0]) : 1, lb = rb == 1 ? vlen(c, in[1]) : 1;
    len = la > lb ? la : lb;
  }
  if ((st = own_value(c, nd, dt, r, len, &out))) return st;
  return add1(c, (fr__op)arg, in, 2, out, NULL);
}

static fr_status cv_prelu(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int in[2], out;
  if ((st = need_inputs(c, nd, 2, 2))) return st;
  if ((st = input_value(c, nd, 0, &in[0])) || (st = input_value(c, nd, 1, &in[1]))) return st;
  if ((st = own_value(c, nd, FR__F32, vrank(c, in[0]), -1, &out))) return st;
  return add1(c, FR__OP_PRELU, in, 2, out, NULL);
}

/* Applies a fused activation to x, writing out_v. alpha_in: TF input index of
 * the Prelu alpha (or -1). */
static fr_status emit_act(tj_ctx *c, tj_node *nd, const char *act, int alpha_in, int x, int out_v) {
  fr_status st;
  fr__node *p;
  if (strcasecmp(act, "Prelu") == 0) {
    int in[2] = {x, -1};
    if (alpha_in < 0) return nerr(c, nd, FR_ERR_FORMAT, "fused Prelu needs num_args = 2");
    if ((st = input_value(c, nd, alpha_in, &in[1]))) return st;
    return add1(c, FR__OP_PRELU, in, 2, out_v, NULL);
  }
  if (strcasecmp(act, "LeakyRelu") == 0) {
    double a;
    if ((st = attr_f(c, nd, "leakyrelu_alpha", 0.2, &a))) return st;
    if ((st = add1(c, FR__OP_LEAKY_RELU, &x, 1, out_v, &p))) return st;
    p->a.clip.alpha = (float)a;
    return FR_OK;
  }
  if (strcasecmp(act, "Relu") == 0) return add1(c, FR__OP_RELU, &x, 1, out_v, NULL);
  if (strcasecmp(act, "Relu6") == 0) {
    if ((st = add1(c, FR__OP_CLIP, &x, 1, out_v, &p))) return st;
    p->a.clip.min = 0.0f;
    p->a.clip.max = 6.0f;
    return FR_OK;
  }
  if (strcasecmp(act, "Sigmoid") == 0) return add1(c, FR__OP_SIGMOID, &x, 1, out_v, NULL);
  if (strcasecmp(act, "Tanh") == 0) return add1(c, FR__OP_TANH, &x, 1, out_v, NULL);
  return nerr(c, nd, FR_ERR_UNSUPPORTED, "fused activation '%s' is not supported", act);
}

/* Parses fused_ops / num_args of a fused node: *has_bias, *act (or NULL), and
 * checks the input count (2 + num_args). */
static fr_status parse_fused(tj_ctx *c, tj_node *nd, char ops[][TJ_SLIST_LEN], bool *has_bias,
                             const char **act, int *num_args) {
  int n;
  int64_t na;
  fr_status st;
  if ((st = attr_slist(c, nd, "fused_ops", ops, 4, &n))) return st;
  if ((st = attr_i(c, nd, "num_args", 0, &na))) return st;
  if (na < 0 || na > 2) return nerr(c, nd, FR_ERR_FORMAT, "num_args %lld is not 0..2", (long long)na);
  if ((st = need_inputs(c, nd, 2 + (int)na, 2 + (int)na))) return st;
  *num_args = (int)na;
  *has_bias = false;
  *act = NULL;
  int k = 0;
  if (k < n && strcasecmp(ops[k], "BiasAdd") == 0) *has_bias = true, k++;
  if (k < n) *act = ops[k++];
  if (k < n || (n > 0 && !*has_bias))
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "fused ops '%s%s%s' are not supported", n ? ops[0] : "",
                n > 1 ? "," : "", n > 1 ? ops[1] : "");
  if (*has_bias && na < 1) return nerr(c, nd, FR_ERR_FORMAT, "BiasAdd needs num_args >= 1");
  return FR_OK;
}

/* Constant bias of oc elements at TF input i: the Const's own value when it is
 * [oc], else a reshaped copy. */
static fr_status bias_value(tj_ctx *c, tj_node *nd, int i, int64_t oc, int *v) {
  const tj_weight *bw = const_weight(c, nd, i);
  if (!bw) return nerr(c, nd, FR_ERR_UNSUPPORTED, "the bias (input %d) must be a constant", i);
  if (bw->dtype != TJ_F32 || bw->elems != oc)
    return nerr(c, nd, FR_ERR_SHAPE, "the bias has %lld values, expected %lld float32",
                (long long)bw->elems, (long long)oc);
  if (bw->shape.rank == 1) return input_value(c, nd, i, v);
  fr__shape s = {.rank = 1, .d = {oc}};
  void *data;
  fr_status st = helper_const(c, nd, "bias", FR__F32, &s, &data, v);
  if (st) return st;
  w_decode_f32(bw, data);
  return FR_OK;
}

static fr_status parse_padding(tj_ctx *c, tj_node *nd, bool allow_explicit, fr__pad_mode *mode,
                               int *t, int *l, int *b, int *r) {
  char pad[TJ_MAX_STR_ATTR];
  fr_status st = attr_s(c, nd, "padding", pad, sizeof pad, NULL);
  if (st) return st;
  *t = *l = *b = *r = 0;
  if (strcasecmp(pad, "SAME") == 0) *mode = FR__PAD_SAME_UPPER;
  else if (strcasecmp(pad, "VALID") == 0) *mode = FR__PAD_VALID;
  else if (strcasecmp(pad, "EXPLICIT") == 0 && allow_explicit) {
    int64_t e[TJ_MAX_LIST];
    int n;
    if ((st = attr_ilist(c, nd, "explicit_paddings", e, TJ_MAX_LIST, &n, NULL))) return st;
    if (n != 8 || e[0] || e[1] || e[6] || e[7])
      return nerr(c, nd, FR_ERR_FORMAT, "explicit_paddings must be 8 values padding only H and W");
    for (int k = 2; k < 6; k++)
      if (e[k] < 0 || e[k] > 65536)
        return nerr(c, nd, FR_ERR_FORMAT, "explicit padding %lld is out of range", (long long)e[k]);
    *mode = FR__PAD_EXPLICIT;
    *t = (int)e[2], *b = (int)e[3], *l = (int)e[4], *r = (int)e[5];
  } else {
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "padding '%s' is not supported", pad);
  }
  return FR_OK;
}

/* NHWC 4-value list attribute ([1, h, w, 1]) into *h, *w; absent -> dflt. */
static fr_status hw_list(tj_ctx *c, tj_node *nd, const char *key, int dflt, int *h, int *w) {
  int64_t v[TJ_MAX_LIST];
  int n;
  bool present;
  fr_status st = attr_ilist(c, nd, key, v, TJ_MAX_LIST, &n, &present);
  if (st) return st;
  if (!present || n == 0) {
    *h = *w = dflt;
    return FR_OK;
  }
  if (n != 4 || v[0] != 1 || v[3] != 1)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "%s must be [1, h, w, 1]", key);
  if (v[1] < 1 || v[2] < 1 || v[1] > 65536 || v[2] > 65536)
    return nerr(c, nd, FR_ERR_FORMAT, "%s [1, %lld, %lld, 1] is out of range", key,
                (long long)v[1], (long long)v[2]);
  *h = (int)v[1];
  *w = (int)v[2];
  return FR_OK;
}

enum { CONV_DW = 1, CONV_FUSED = 2 };

static fr_status cv_conv(tj_ctx *c, tj_node *nd, int arg) {
  bool dw = arg & CONV_DW, fused = arg & CONV_FUSED;
  fr_status st;
  if ((st = check_nhwc(c, nd))) return st;
  fr__conv_attrs ca = {0};
  if ((st = hw_list(c, nd, "strides", 1, &ca.stride_h, &ca.stride_w))) return st;
  if ((st = hw_list(c, nd, "dilations", 1, &ca.dil_h, &ca.dil_w))) return st;
  if ((st = parse_padding(c, nd, true, &ca.pad_mode, &ca.pad_t, &ca.pad_l, &ca.pad_b, &ca.pad_r)))
    return st;
  char ops[4][TJ_SLIST_LEN];
  bool has_bias = false;
  const char *act = NULL;
  int num_args = 0;
  if (fused) {
    if ((st = parse_fused(c, nd, ops, &has_bias, &act, &num_args))) return st;
  } else if ((st = need_inputs(c, nd, 2, 2))) {
    return st;
  }
  const tj_weight *fw = const_weight(c, nd, 1);
  if (!fw) return nerr(c, nd, FR_ERR_UNSUPPORTED, "the filter (input 1) must be a constant");
  if (fw->dtype != TJ_F32 || fw->shape.rank != 4)
    return nerr(c, nd, FR_ERR_FORMAT, "the filter must be a 4-D float32 tensor");
  int64_t kh = fw->shape.d[0], kw = fw->shape.d[1], ci = fw->shape.d[2], co = fw->shape.d[3];
  if (kh < 1 || kw < 1 || ci < 1 || co < 1 || kh > 65536 || kw > 65536)
    return nerr(c, nd, FR_ERR_FORMAT, "filter shape [%lld,%lld,%lld,%lld] is invalid", (long long)kh,
                (long long)kw, (long long)ci, (long long)co);
  int64_t oc = dw ? ci * co : co; /* <= elems <= 2^31 */
  if (oc > INT_MAX || ci > INT_MAX)
    return nerr(c, nd, FR_ERR_TOO_LARGE, "too many channels");
  ca.kh = (int)kh;
  ca.kw = (int)kw;
  ca.groups = dw ? (int)ci : 1;
  ca.out_min = -INFINITY;
  ca.out_max = INFINITY;
  bool separate = false;
  if (act) {
    if (strcasecmp(act, "Relu") == 0) ca.out_min = 0.0f;
    else if (strcasecmp(act, "Relu6") == 0) ca.out_min = 0.0f, ca.out_max = 6.0f;
    else separate = true;
  }
  /* filter: HWIO -> OHWI, or depthwise HWCM -> [C*M, KH, KW, 1] */
  float *tmp = malloc(sizeof(float) * (size_t)(fw->elems ? fw->elems : 1));
  if (!tmp) return ferr(c, FR_ERR_NOMEM, "out of memory");
  w_decode_f32(fw, tmp);
  fr__shape ws = {.rank = 4, .d = {oc, kh, kw, dw ? 1 : ci}};
  void *wdata;
  int wv;
  st = helper_const(c, nd, "filter", FR__F32, &ws, &wdata, &wv);
  if (st) {
    free(tmp);
    return st;
  }
  float *dst = wdata;
  for (int64_t h = 0; h < kh; h++)
    for (int64_t w = 0; w < kw; w++)
      for (int64_t i = 0; i < ci; i++)
        for (int64_t o = 0; o < co; o++) {
          float v = tmp[((h * kw + w) * ci + i) * co + o];
          if (dw) dst[((i * co + o) * kh + h) * kw + w] = v;
          else dst[((o * kh + h) * kw + w) * ci + i] = v;
        }
  free(tmp);
  int in[3] = {-1, wv, -1};
  if ((st = input_value(c, nd, 0, &in[0]))) return st;
  if (has_bias && (st = bias_value(c, nd, 2, oc, &in[2]))) return st;
  int conv_out, out;
  if (separate) {
    if ((st = helper_value(c, nd, "conv", FR__F32, 4, -1, &conv_out))) return st;
  } else if ((st = own_value(c, nd, FR__F32, 4, -1, &conv_out))) {
    return st;
  }
  fr__node *p;
  if ((st = add1(c, FR__OP_CONV2D, in, has_bias ? 3 : 2, conv_out, &p))) return st;
  p->a.conv = ca;
  if (!separate) return FR_OK;
  if ((st = own_value(c, nd, FR__F32, 4, -1, &out))) return st;
  return emit_act(c, nd, act, num_args >= 2 ? 3 : -1, conv_out, out);
}

static fr_status cv_matmul(tj_ctx *c, tj_node *nd, int fused) {
  fr_status st;
  bool ta, tb;
  if ((st = attr_b(c, nd, "transpose_a", false, &ta)) || (st = attr_b(c, nd, "transpose_b", false, &tb)))
    return st;
  char ops[4][TJ_SLIST_LEN];
  bool has_bias = false;
  const char *act = NULL;
  int num_args = 0;
  if (fused) {
    if ((st = parse_fused(c, nd, ops, &has_bias, &act, &num_args))) return st;
  } else if ((st = need_inputs(c, nd, 2, 2))) {
    return st;
  }
  int a;
  if ((st = input_value(c, nd, 0, &a))) return st;
  int ra = vrank(c, a);
  const tj_weight *bw = const_weight(c, nd, 1);
  bool fc = bw && !ta && bw->dtype == TJ_F32 && bw->shape.rank == 2 && (ra < 0 || ra == 2);
  bool separate = act && strcasecmp(act, "Relu") != 0 && strcasecmp(act, "Relu6") != 0;
  int out, mm_out;
  fr__node *p;
  if (fc) {
    int64_t k = tb ? bw->shape.d[1] : bw->shape.d[0], n = tb ? bw->shape.d[0] : bw->shape.d[1];
    if (k < 1 || n < 1) return nerr(c, nd, FR_ERR_FORMAT, "the weight matrix is empty");
    float *tmp = malloc(sizeof(float) * (size_t)bw->elems);
    if (!tmp) return ferr(c, FR_ERR_NOMEM, "out of memory");
    w_decode_f32(bw, tmp);
    fr__shape ws = {.rank = 2, .d = {n, k}};
    void *wdata;
    int wv;
    st = helper_const(c, nd, "weights", FR__F32, &ws, &wdata, &wv);
    if (st) {
      free(tmp);
      return st;
    }
    float *dst = wdata;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < k; j++) dst[i * k + j] = tb ? tmp[i * k + j] : tmp[j * n + i];
    free(tmp);
    int in[3] = {a, wv, -1};
    if (has_bias && (st = bias_value(c, nd, 2, n, &in[2]))) return st;
    if (separate) {
      if ((st = helper_value(c, nd, "matmul", FR__F32, 2, -1, &mm_out))) return st;
    } else if ((st = own_value(c, nd, FR__F32, 2, -1, &mm_out))) {
      return st;
    }
    if ((st = add1(c, FR__OP_FULLY_CONNECTED, in, has_bias ? 3 : 2, mm_out, &p))) return st;
    p->a.fc.out_min = -INFINITY;
    p->a.fc.out_max = INFINITY;
    if (act && strcasecmp(act, "Relu") == 0) p->a.fc.out_min = 0.0f;
    if (act && strcasecmp(act, "Relu6") == 0) p->a.fc.out_min = 0.0f, p->a.fc.out_max = 6.0f;
    if (!separate) return FR_OK;
    if ((st = own_value(c, nd, FR__F32, 2, -1, &out))) return st;
    return emit_act(c, nd, act, num_args >= 2 ? 3 : -1, mm_out, out);
  }
  /* general MATMUL, then bias ADD and activation as separate nodes */
  int b;
  if ((st = input_value(c, nd, 1, &b))) return st;
  int rb = vrank(c, b);
  int r = ra < 0 || rb < 0 ? -1 : (ra > rb ? ra : rb);
  int cur;
  bool last = !has_bias && !act;
  if (last) {
    if ((st = own_value(c, nd, FR__F32, r, -1, &cur))) return st;
  } else if ((st = helper_value(c, nd, "matmul", FR__F32, r, -1, &cur))) {
    return st;
  }
  int in[2] = {a, b};
  if ((st = add1(c, FR__OP_MATMUL, in, 2, cur, &p))) return st;
  p->a.matmul.transpose_a = ta;
  p->a.matmul.transpose_b = tb;
  if (has_bias) {
    int bias, nv;
    if ((st = input_value(c, nd, 2, &bias))) return st;
    if (!act) {
      if ((st = own_value(c, nd, FR__F32, r, -1, &nv))) return st;
    } else if ((st = helper_value(c, nd, "bias_add", FR__F32, r, -1, &nv))) {
      return st;
    }
    int bin[2] = {cur, bias};
    if ((st = add1(c, FR__OP_ADD, bin, 2, nv, NULL))) return st;
    cur = nv;
  }
  if (!act) return FR_OK;
  if ((st = own_value(c, nd, FR__F32, r, -1, &out))) return st;
  return emit_act(c, nd, act, num_args >= 2 ? 3 : -1, cur, out);
}

static fr_status cv_pool(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = check_nhwc(c, nd))) return st;
  fr__pool_attrs pa = {0};
  if ((st = hw_list(c, nd, "ksize", 0, &pa.kh, &pa.kw))) return st;
  if (pa.kh < 1) return nerr(c, nd, FR_ERR_FORMAT, "ksize is missing");
  if ((st = hw_list(c, nd, "strides", 1, &pa.stride_h, &pa.stride_w))) return st;
  if ((st = parse_padding(c, nd, arg == FR__OP_MAXPOOL2D, &pa.pad_mode, &pa.pad_t, &pa.pad_l,
                          &pa.pad_b, &pa.pad_r)))
    return st;
  pa.count_include_pad = false; /* TF averages over the valid cells only */
  int x, out;
  fr__node *p;
  if ((st = input_value(c, nd, 0, &x))) return st;
  if ((st = own_value(c, nd, FR__F32, 4, -1, &out))) return st;
  if ((st = add1(c, (fr__op)arg, &x, 1, out, &p))) return st;
  p->a.pool = pa;
  return FR_OK;
}

enum { PAD_PLAIN = 0, PAD_V2, PAD_MIRROR };

static fr_status cv_pad(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  if ((st = need_inputs(c, nd, 2, arg == PAD_V2 ? 3 : 2))) return st;
  fr__pad_attrs pa = {0};
  const tj_weight *pw = const_weight(c, nd, 1);
  if (!pw) return nerr(c, nd, FR_ERR_UNSUPPORTED, "paddings (input 1) must be a constant");
  if (pw->dtype == TJ_F32 || pw->shape.rank != 2 || pw->shape.d[1] != 2 ||
      pw->shape.d[0] > FR__MAX_DIMS)
    return nerr(c, nd, FR_ERR_FORMAT, "paddings must be an integer [rank, 2] tensor (rank <= %d)",
                FR__MAX_DIMS);
  int64_t pv[2 * FR__MAX_DIMS];
  w_decode_i64(pw, pv);
  pa.n = (int)pw->shape.d[0];
  for (int k = 0; k < pa.n; k++) {
    if (pv[2 * k] < 0 || pv[2 * k + 1] < 0 || pv[2 * k] > (1 << 20) || pv[2 * k + 1] > (1 << 20))
      return nerr(c, nd, FR_ERR_FORMAT, "padding of dim %d is out of range", k);
    pa.begin[k] = pv[2 * k];
    pa.end[k] = pv[2 * k + 1];
  }
  pa.kind = FR__PADK_CONSTANT;
  if (arg == PAD_V2 && nd->n_in == 3) {
    const tj_weight *vw = const_weight(c, nd, 2);
    if (!vw || vw->elems != 1 || vw->dtype != TJ_F32)
      return nerr(c, nd, FR_ERR_UNSUPPORTED, "constant_values must be a float32 scalar constant");
    w_decode_f32(vw, &pa.value);
  }
  if (arg == PAD_MIRROR) {
    char mode[TJ_MAX_STR_ATTR];
    if ((st = attr_s(c, nd, "mode", mode, sizeof mode, NULL))) return st;
    if (strcasecmp(mode, "REFLECT") != 0)
      return nerr(c, nd, FR_ERR_UNSUPPORTED, "mirror mode '%s' is not supported", mode);
    pa.kind = FR__PADK_REFLECT;
  }
  int x, out;
  fr__node *p;
  if ((st = input_value(c, nd, 0, &x))) return st;
  if ((st = own_value(c, nd, c->g->values[x].dtype, pa.n, -1, &out))) return st;
  if ((st = add1(c, FR__OP_PAD, &x, 1, out, &p))) return st;
  p->a.pad = pa;
  return FR_OK;
}

static fr_status cv_reshape(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int in[2], out;
  fr__node *p;
  if ((st = need_inputs(c, nd, 2, 2))) return st;
  if ((st = input_value(c, nd, 0, &in[0])) || (st = input_value(c, nd, 1, &in[1]))) return st;
  int64_t len = vlen(c, in[1]);
  int r = len >= 0 && len <= FR__MAX_DIMS ? (int)len : -1;
  if ((st = own_value(c, nd, c->g->values[in[0]].dtype, r, -1, &out))) return st;
  if ((st = add1(c, FR__OP_RESHAPE, in, 2, out, &p))) return st;
  p->a.reshape.allowzero = true; /* TF: a 0 is a real 0 */
  return FR_OK;
}

static fr_status cv_shape(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, out;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = own_value(c, nd, FR__I64, 1, vrank(c, x), &out))) return st;
  return add1(c, FR__OP_SHAPE, &x, 1, out, NULL);
}

static fr_status cv_cast(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, out;
  fr__node *p;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = input_value(c, nd, 0, &x))) return st;
  const char *dt = attr_type(nd, "DstT");
  fr__dtype to;
  if (dt && strcmp(dt, "DT_FLOAT") == 0) to = FR__F32;
  else if (dt && (strcmp(dt, "DT_INT32") == 0 || strcmp(dt, "DT_INT64") == 0)) to = FR__I64;
  else return nerr(c, nd, FR_ERR_UNSUPPORTED, "cast to %s is not supported", dt ? dt : "(none)");
  if ((st = own_value(c, nd, to, vrank(c, x), vlen(c, x), &out))) return st;
  if ((st = add1(c, FR__OP_CAST, &x, 1, out, &p))) return st;
  p->a.cast.to = to;
  return FR_OK;
}

static fr_status cv_transpose(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, out, n;
  int64_t perm[FR__MAX_DIMS];
  fr__node *p;
  if ((st = need_inputs(c, nd, 2, 2)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = const_ints(c, nd, 1, "perm", perm, FR__MAX_DIMS, &n))) return st;
  unsigned seen = 0;
  for (int k = 0; k < n; k++) {
    if (perm[k] < 0 || perm[k] >= n || (seen >> perm[k] & 1))
      return nerr(c, nd, FR_ERR_FORMAT, "perm is not a permutation");
    seen |= 1u << perm[k];
  }
  if ((st = own_value(c, nd, c->g->values[x].dtype, n, -1, &out))) return st;
  if ((st = add1(c, FR__OP_TRANSPOSE, &x, 1, out, &p))) return st;
  p->a.transpose.n = n;
  for (int k = 0; k < n; k++) p->a.transpose.perm[k] = (int)perm[k];
  return FR_OK;
}

enum { CAT_V2 = 0, CAT_V1 };

static fr_status cv_concat(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  if (nd->n_in < 2) return nerr(c, nd, FR_ERR_FORMAT, "needs at least one tensor and an axis");
  int n = nd->n_in - 1;
  int axis_in = arg == CAT_V2 ? n : 0, first = arg == CAT_V2 ? 0 : 1;
  int64_t nattr;
  if ((st = attr_i(c, nd, "N", n, &nattr))) return st;
  if (nattr != n) return nerr(c, nd, FR_ERR_FORMAT, "N = %lld but %d tensors", (long long)nattr, n);
  int64_t axis;
  if ((st = const_int1(c, nd, axis_in, "axis", &axis))) return st;
  if (axis < -FR__MAX_DIMS || axis >= FR__MAX_DIMS)
    return nerr(c, nd, FR_ERR_FORMAT, "axis %lld is out of range", (long long)axis);
  int *in = malloc(sizeof(int) * (size_t)n);
  if (!in) return ferr(c, FR_ERR_NOMEM, "out of memory");
  int r = -1;
  int64_t len = 0;
  for (int k = 0; k < n && !st; k++) {
    st = input_value(c, nd, first + k, &in[k]);
    if (st) break;
    int rk = vrank(c, in[k]);
    if (rk >= 0) r = rk;
    if (len >= 0 && rk == 1 && vlen(c, in[k]) >= 0) len += vlen(c, in[k]);
    else len = -1;
  }
  int out;
  fr__node *p;
  if (!st) st = own_value(c, nd, c->g->values[in[0]].dtype, r, len, &out);
  if (!st) st = add1(c, FR__OP_CONCAT, in, n, out, &p);
  if (!st) p->a.axis.axis = (int)axis;
  free(in);
  return st;
}

static fr_status cv_reduce(tj_ctx *c, tj_node *nd, int arg) {
  fr_status st;
  int x, out, n;
  int64_t axes[TJ_MAX_LIST];
  bool keep;
  fr__node *p;
  if ((st = need_inputs(c, nd, 2, 2)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = const_ints(c, nd, 1, "reduction axes", axes, FR__MAX_DIMS, &n))) return st;
  if ((st = attr_b(c, nd, "keep_dims", false, &keep))) return st;
  int r = vrank(c, x);
  unsigned seen = 0;
  int uniq = 0;
  for (int k = 0; k < n; k++) {
    if (axes[k] < -FR__MAX_DIMS || axes[k] >= FR__MAX_DIMS || (r >= 0 && (axes[k] < -r || axes[k] >= r)))
      return nerr(c, nd, FR_ERR_FORMAT, "reduction axis %lld is out of range", (long long)axes[k]);
    int a = (int)(axes[k] < 0 && r >= 0 ? axes[k] + r : axes[k]);
    if (a >= 0 && !(seen >> a & 1)) seen |= 1u << a, uniq++;
  }
  int ro = r < 0 ? -1 : (keep ? r : r - uniq);
  if ((st = own_value(c, nd, c->g->values[x].dtype, ro, -1, &out))) return st;
  if (n == 0) return add1(c, FR__OP_IDENTITY, &x, 1, out, NULL); /* TF: no axes = no reduction */
  if ((st = add1(c, (fr__op)arg, &x, 1, out, &p))) return st;
  p->a.reduce.n_axes = n;
  for (int k = 0; k < n; k++) p->a.reduce.axes[k] = (int)axes[k];
  p->a.reduce.keepdims = keep;
  return FR_OK;
}

static fr_status cv_resize(tj_ctx *c, tj_node *nd, int nearest) {
  fr_status st;
  bool ac, hp;
  if ((st = need_inputs(c, nd, 2, 2))) return st;
  if ((st = attr_b(c, nd, "align_corners", false, &ac)) ||
      (st = attr_b(c, nd, "half_pixel_centers", false, &hp)))
    return st;
  fr__resize_attrs ra = {0};
  ra.nearest = nearest;
  ra.coord = ac ? FR__RC_ALIGN_CORNERS : hp ? FR__RC_HALF_PIXEL : FR__RC_ASYMMETRIC;
  int in[2] = {-1, -1}, n_in = 1;
  if ((st = input_value(c, nd, 0, &in[0]))) return st;
  if (const_weight(c, nd, 1)) {
    int64_t sz[2];
    int n;
    if ((st = const_ints(c, nd, 1, "size", sz, 2, &n))) return st;
    if (n != 2 || sz[0] < 1 || sz[1] < 1 || sz[0] > (1 << 20) || sz[1] > (1 << 20))
      return nerr(c, nd, FR_ERR_FORMAT, "size must be two values in 1..%d", 1 << 20);
    ra.out_h = (int)sz[0];
    ra.out_w = (int)sz[1];
  } else {
    if ((st = input_value(c, nd, 1, &in[1]))) return st;
    n_in = 2;
  }
  int out;
  fr__node *p;
  if ((st = own_value(c, nd, FR__F32, 4, -1, &out))) return st;
  if ((st = add1(c, FR__OP_RESIZE, in, n_in, out, &p))) return st;
  p->a.resize = ra;
  return FR_OK;
}

static fr_status cv_d2s(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int64_t bs;
  int x, out;
  fr__node *p;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = check_nhwc(c, nd))) return st;
  if ((st = attr_i(c, nd, "block_size", 0, &bs))) return st;
  if (bs < 2 || bs > 1024) return nerr(c, nd, FR_ERR_FORMAT, "block_size %lld is not 2..1024", (long long)bs);
  if ((st = input_value(c, nd, 0, &x))) return st;
  if ((st = own_value(c, nd, FR__F32, 4, -1, &out))) return st;
  if ((st = add1(c, FR__OP_DEPTH_TO_SPACE, &x, 1, out, &p))) return st;
  p->a.d2s.block = (int)bs;
  return FR_OK;
}

static fr_status need_rank(tj_ctx *c, const tj_node *nd, int x, int *r) {
  *r = vrank(c, x);
  if (*r < 0)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "the rank of input 0 cannot be inferred at load time");
  return FR_OK;
}

/* Writes into spec the reshape spec of inserting a 1 at position a of a rank-r tensor. */
static void expand_spec(int r, int a, int *spec) {
  for (int k = 0; k <= r; k++) spec[k] = k < a ? k : (k == a ? -1 : k - 1);
}

static fr_status cv_expand_dims(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, r, out, spec[FR__MAX_DIMS];
  int64_t a;
  if ((st = need_inputs(c, nd, 2, 2)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = const_int1(c, nd, 1, "dim", &a)) || (st = need_rank(c, nd, x, &r))) return st;
  if (r + 1 > FR__MAX_DIMS) return nerr(c, nd, FR_ERR_UNSUPPORTED, "rank above %d", FR__MAX_DIMS);
  if (a < -r - 1 || a > r) return nerr(c, nd, FR_ERR_FORMAT, "dim %lld is out of range", (long long)a);
  if (a < 0) a += r + 1;
  expand_spec(r, (int)a, spec);
  int64_t len = r == 0 ? 1 : -1;
  if ((st = own_value(c, nd, c->g->values[x].dtype, r + 1, len, &out))) return st;
  return emit_reshape_spec(c, nd, x, r, spec, r + 1, out);
}

static fr_status cv_squeeze(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, r, out, n, spec[FR__MAX_DIMS];
  int64_t dims[TJ_MAX_LIST];
  bool present;
  if ((st = need_inputs(c, nd, 1, 1)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = attr_ilist(c, nd, "squeeze_dims", dims, TJ_MAX_LIST, &n, &present))) return st;
  if (!present && (st = attr_ilist(c, nd, "axis", dims, TJ_MAX_LIST, &n, &present))) return st;
  if (n == 0)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "squeezing every size-1 dim (no squeeze_dims) is not supported");
  if ((st = need_rank(c, nd, x, &r))) return st;
  unsigned drop = 0;
  for (int k = 0; k < n; k++) {
    if (dims[k] < -r || dims[k] >= r)
      return nerr(c, nd, FR_ERR_FORMAT, "squeeze dim %lld is out of range", (long long)dims[k]);
    drop |= 1u << (dims[k] < 0 ? dims[k] + r : dims[k]);
  }
  int m = 0;
  for (int k = 0; k < r; k++)
    if (!(drop >> k & 1)) spec[m++] = k;
  if ((st = own_value(c, nd, c->g->values[x].dtype, m, -1, &out))) return st;
  return emit_reshape_spec(c, nd, x, r, spec, m, out);
}

static fr_status cv_pack(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int n = nd->n_in, r = -1, spec[FR__MAX_DIMS];
  int64_t a, nattr;
  if (n < 1) return nerr(c, nd, FR_ERR_FORMAT, "has no inputs");
  if ((st = attr_i(c, nd, "N", n, &nattr)) || (st = attr_i(c, nd, "axis", 0, &a))) return st;
  if (nattr != n) return nerr(c, nd, FR_ERR_FORMAT, "N = %lld but %d inputs", (long long)nattr, n);
  int *in = calloc((size_t)n, sizeof(int));
  if (!in) return ferr(c, FR_ERR_NOMEM, "out of memory");
  for (int k = 0; k < n; k++) {
    if ((st = input_value(c, nd, k, &in[k]))) goto done;
    int rk = vrank(c, in[k]);
    if (rk < 0 || (r >= 0 && rk != r)) {
      st = nerr(c, nd, FR_ERR_UNSUPPORTED, "input ranks cannot be inferred or differ");
      goto done;
    }
    r = rk;
  }
  if (r + 1 > FR__MAX_DIMS || a < -r - 1 || a > r) {
    st = nerr(c, nd, FR_ERR_FORMAT, "axis %lld is out of range for rank %d", (long long)a, r);
    goto done;
  }
  if (a < 0) a += r + 1;
  expand_spec(r, (int)a, spec);
  fr__dtype dt = c->g->values[in[0]].dtype;
  int64_t len = r == 0 ? n : -1;
  int out;
  if (n == 1) {
    if (!(st = own_value(c, nd, dt, r + 1, len, &out)))
      st = emit_reshape_spec(c, nd, in[0], r, spec, r + 1, out);
    goto done;
  }
  for (int k = 0; k < n; k++) {
    char suffix[32];
    int ev;
    snprintf(suffix, sizeof suffix, "expand_%d", k);
    if ((st = helper_value(c, nd, suffix, c->g->values[in[k]].dtype, r + 1, r == 0 ? 1 : -1, &ev)))
      goto done;
    if ((st = emit_reshape_spec(c, nd, in[k], r, spec, r + 1, ev))) goto done;
    in[k] = ev;
  }
  fr__node *p;
  if ((st = own_value(c, nd, dt, r + 1, len, &out))) goto done;
  if ((st = add1(c, FR__OP_CONCAT, in, n, out, &p))) goto done;
  p->a.axis.axis = (int)a;
done:
  free(in);
  return st;
}

/* StridedSlice: TF's sparse spec (with ellipsis / new_axis) is turned into a
 * dense SLICE over the input dims, followed by a RESHAPE when new axes appear. */
static fr_status cv_strided_slice(tj_ctx *c, tj_node *nd, int arg) {
  (void)arg;
  fr_status st;
  int x, nb, ne, ns;
  int64_t beg[TJ_MAX_LIST], end[TJ_MAX_LIST], str[TJ_MAX_LIST];
  int64_t bm, em, elm, nam, sm;
  if ((st = need_inputs(c, nd, 4, 4)) || (st = input_value(c, nd, 0, &x))) return st;
  if ((st = const_ints(c, nd, 1, "begin", beg, TJ_MAX_LIST, &nb)) ||
      (st = const_ints(c, nd, 2, "end", end, TJ_MAX_LIST, &ne)) ||
      (st = const_ints(c, nd, 3, "strides", str, TJ_MAX_LIST, &ns)))
    return st;
  if (nb != ne || nb != ns) return nerr(c, nd, FR_ERR_FORMAT, "begin, end and strides differ in length");
  if ((st = attr_i(c, nd, "begin_mask", 0, &bm)) || (st = attr_i(c, nd, "end_mask", 0, &em)) ||
      (st = attr_i(c, nd, "ellipsis_mask", 0, &elm)) || (st = attr_i(c, nd, "new_axis_mask", 0, &nam)) ||
      (st = attr_i(c, nd, "shrink_axis_mask", 0, &sm)))
    return st;
  int n = nb, r = vrank(c, x);
  uint64_t lim = n >= 64 ? ~0ull : ((1ull << n) - 1);
  uint64_t ub = (uint64_t)bm & lim, ue = (uint64_t)em & lim, uel = (uint64_t)elm & lim,
           un = (uint64_t)nam & lim, us = (uint64_t)sm & lim;
  if (__builtin_popcountll(uel) > 1) return nerr(c, nd, FR_ERR_FORMAT, "more than one ellipsis");
  int epos = uel ? __builtin_ctzll(uel) : -1;
  if (epos >= 0 && epos == n - 1 && !(un >> epos & 1)) epos = -1, n--; /* trailing "..." = implicit */
  else if (epos >= 0 && r < 0)
    return nerr(c, nd, FR_ERR_UNSUPPORTED, "an ellipsis needs the input rank, which cannot be inferred");
  /* dense spec */
  fr__slice_attrs sa = {0};
  int layout[2 * FR__MAX_DIMS + 2]; /* >= 0: dense axis kept; -1: new axis */
  int nl = 0, j = 0, n_new = 0, n_shrink = 0;
  for (int i = 0; i < n; i++) {
    if (i == epos) {
      int after = 0;
      for (int k = i + 1; k < n; k++)
        if (!(un >> k & 1)) after++;
      int upto = r - after;
      if (upto < j) return nerr(c, nd, FR_ERR_FORMAT, "more indices than the input has dims");
      for (; j < upto; j++) {
        if (j >= FR__MAX_DIMS) return nerr(c, nd, FR_ERR_UNSUPPORTED, "rank above %d", FR__MAX_DIMS);
        sa.axes[j] = j, sa.starts[j] = 0, sa.ends[j] = 0, sa.steps[j] = 1;
        sa.begin_mask |= 1u << j, sa.end_mask |= 1u << j;
        layout[nl++] = j;
      }
      continue;
    }
    if (un >> i & 1) {
      if (nl >= 2 * FR__MAX_DIMS) return nerr(c, nd, FR_ERR_UNSUPPORTED, "too many new axes");
      layout[nl++] = -1;
      n_new++;
      continue;
    }
    if (j >= FR__MAX_DIMS || (r >= 0 && j >= r))
      return nerr(c, nd, FR_ERR_FORMAT, "more indices than the input has dims");
    if (str[i] == 0) return nerr(c, nd, FR_ERR_FORMAT, "stride %d is zero", i);
    sa.axes[j] = j, sa.starts[j] = beg[i], sa.ends[j] = end[i], sa.steps[j] = str[i];
    if (us >> i & 1) {
      sa.shrink_mask |= 1u << j; /* TF ignores the masks of a shrunk axis */
      n_shrink++;
    } else {
      if (ub >> i & 1) sa.begin_mask |= 1u << j;
      if (ue >> i & 1) sa.end_mask |= 1u << j;
      if (nl >= 2 * FR__MAX_DIMS) return nerr(c, nd, FR_ERR_UNSUPPORTED, "too many dims");
      layout[nl++] = j;
    }
    j++;
  }
  sa.n = j;
  int ro = r < 0 ? -1 : r - n_shrink + n_new;
  if (ro > FR__MAX_DIMS) return nerr(c, nd, FR_ERR_UNSUPPORTED, "output rank above %d", FR__MAX_DIMS);
  fr__dtype dt = c->g->values[x].dtype;
  int out, sv;
  fr__node *p;
  if (n_new == 0) {
    if ((st = own_value(c, nd, dt, ro, -1, &out))) return st;
    if (sa.n == 0) return add1(c, FR__OP_IDENTITY, &x, 1, out, NULL);
    if ((st = add1(c, FR__OP_SLICE, &x, 1, out, &p))) return st;
    p->a.slice = sa;
    return FR_OK;
  }
  if (r < 0) return nerr(c, nd, FR_ERR_UNSUPPORTED, "new_axis_mask needs the input rank, which cannot be inferred");
  for (int k = j; k < r; k++) layout[nl++] = k; /* trailing full dims */
  int rs = r - n_shrink;
  if (sa.n == 0) {
    sv = x;
  } else {
    if ((st = helper_value(c, nd, "slice", dt, rs, -1, &sv))) return st;
    if ((st = add1(c, FR__OP_SLICE, &x, 1, sv, &p))) return st;
    p->a.slice = sa;
  }
  int spec[FR__MAX_DIMS], m = 0, kept = 0;
  for (int k = 0; k < nl; k++) spec[m++] = layout[k] < 0 ? -1 : kept++;
  if ((st = own_value(c, nd, dt, ro, -1, &out))) return st;
  return emit_reshape_spec(c, nd, sv, rs, spec, m, out);
}

/* ------------------------------------------------------------------ op table */

typedef struct tj_op {
  const char *name;
  tj_conv_fn fn;
  int arg;
} tj_op;

static const tj_op tj_ops[] = {
    {"Const", cv_const, 0},
    {"Placeholder", cv_placeholder, 0},
    {"NoOp", cv_noop, 0},
    {"Identity", cv_unary, FR__OP_IDENTITY},
    {"Snapshot", cv_unary, FR__OP_IDENTITY},
    {"StopGradient", cv_unary, FR__OP_IDENTITY},
    {"Conv2D", cv_conv, 0},
    {"_FusedConv2D", cv_conv, CONV_FUSED},
    {"DepthwiseConv2dNative", cv_conv, CONV_DW},
    {"FusedDepthwiseConv2dNative", cv_conv, CONV_DW | CONV_FUSED},
    {"MatMul", cv_matmul, 0},
    {"_FusedMatMul", cv_matmul, 1},
    {"BiasAdd", cv_binary, FR__OP_ADD},
    {"Add", cv_binary, FR__OP_ADD},
    {"AddV2", cv_binary, FR__OP_ADD},
    {"Sub", cv_binary, FR__OP_SUB},
    {"Mul", cv_binary, FR__OP_MUL},
    {"RealDiv", cv_binary, FR__OP_DIV},
    {"Div", cv_binary, FR__OP_DIV},
    {"Maximum", cv_binary, FR__OP_MAXIMUM},
    {"Minimum", cv_binary, FR__OP_MINIMUM},
    {"Pow", cv_binary, FR__OP_POW},
    {"SquaredDifference", cv_binary, FR__OP_SQUARED_DIFF},
    {"Less", cv_binary, FR__OP_LESS},
    {"LessEqual", cv_binary, FR__OP_LESS_EQUAL},
    {"Greater", cv_binary, FR__OP_GREATER},
    {"GreaterEqual", cv_binary, FR__OP_GREATER_EQUAL},
    {"Equal", cv_binary, FR__OP_EQUAL},
    {"Prelu", cv_prelu, 0},
    {"Relu", cv_unary, FR__OP_RELU},
    {"Relu6", cv_unary, FR__OP_CLIP},
    {"LeakyRelu", cv_unary, FR__OP_LEAKY_RELU},
    {"Sigmoid", cv_unary, FR__OP_SIGMOID},
    {"Tanh", cv_unary, FR__OP_TANH},
    {"Exp", cv_unary, FR__OP_EXP},
    {"Log", cv_unary, FR__OP_LOG},
    {"Abs", cv_unary, FR__OP_ABS},
    {"Neg", cv_unary, FR__OP_NEG},
    {"Sqrt", cv_unary, FR__OP_SQRT},
    {"Rsqrt", cv_unary, FR__OP_RSQRT},
    {"Square", cv_unary, FR__OP_SQUARE},
    {"Floor", cv_unary, FR__OP_FLOOR},
    {"Ceil", cv_unary, FR__OP_CEIL},
    {"Softmax", cv_unary, FR__OP_SOFTMAX},
    {"MaxPool", cv_pool, FR__OP_MAXPOOL2D},
    {"AvgPool", cv_pool, FR__OP_AVGPOOL2D},
    {"Pad", cv_pad, PAD_PLAIN},
    {"PadV2", cv_pad, PAD_V2},
    {"MirrorPad", cv_pad, PAD_MIRROR},
    {"Reshape", cv_reshape, 0},
    {"Shape", cv_shape, 0},
    {"Cast", cv_cast, 0},
    {"Transpose", cv_transpose, 0},
    {"StridedSlice", cv_strided_slice, 0},
    {"Pack", cv_pack, 0},
    {"ConcatV2", cv_concat, CAT_V2},
    {"Concat", cv_concat, CAT_V1},
    {"ResizeBilinear", cv_resize, 0},
    {"ResizeNearestNeighbor", cv_resize, 1},
    {"DepthToSpace", cv_d2s, 0},
    {"Mean", cv_reduce, FR__OP_REDUCE_MEAN},
    {"Sum", cv_reduce, FR__OP_REDUCE_SUM},
    {"Max", cv_reduce, FR__OP_REDUCE_MAX},
    {"Min", cv_reduce, FR__OP_REDUCE_MIN},
    {"Squeeze", cv_squeeze, 0},
    {"ExpandDims", cv_expand_dims, 0},
};

static const tj_op *find_op(const char *name) {
  for (size_t i = 0; i < sizeof tj_ops / sizeof tj_ops[0]; i++)
    if (strcmp(tj_ops[i].name, name) == 0) return &tj_ops[i];
  return NULL;
}

/* ------------------------------------------------------------------ graph structure */

/* Splits a TF input reference "^name", "name", "name:k" or "name:out:k" into
 * the node name (written into buf) and the output index. */
static bool parse_ref(const char *ref, char *buf, size_t cap, bool *control, int64_t *index) {
  *control = ref[0] == '^';
  if (*control) ref++;
  const char *colon = strchr(ref, ':');
  size_t n = colon ? (size_t)(colon - ref) : strlen(ref);
  if (n == 0 || n >= cap) return false;
  memcpy(buf, ref, n);
  buf[n] = 0;
  *index = 0;
  if (colon) {
    const char *last = strrchr(ref, ':');
    const char *mid = strchr(colon + 1, ':');
    if (mid && mid != last) return false; /* more than 3 parts */
    if (!last[1] || strlen(last + 1) > 9) return false;
    for (const char *p = last + 1; *p; p++)
      if (*p < '0' || *p > '9') return false;
    *index = atoll(last + 1);
  }
  return true;
}

static fr_status parse_nodes(tj_ctx *c) {
  json_t *topo = json_object_get(c->root, "modelTopology");
  json_t *arr = json_is_object(topo) ? json_object_get(topo, "node") : NULL;
  if (!json_is_array(arr)) return ferr(c, FR_ERR_FORMAT, "modelTopology.node is not an array");
  size_t n = json_array_size(arr);
  if (n > FR__MAX_NODES) return ferr(c, FR_ERR_TOO_LARGE, "more than %d nodes", FR__MAX_NODES);
  c->nodes = calloc(n + 1, sizeof *c->nodes);
  if (!c->nodes || !hash_init(&c->node_hash, n)) return ferr(c, FR_ERR_NOMEM, "out of memory");
  size_t total_in = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *nj = json_array_get(arr, i);
    tj_node *nd = &c->nodes[i];
    nd->weight = -1;
    nd->value = -1;
    if (!json_is_object(nj)) return ferr(c, FR_ERR_FORMAT, "modelTopology.node[%zu] is not an object", i);
    nd->name = j_str(json_object_get(nj, "name"));
    nd->op = j_str(json_object_get(nj, "op"));
    if (!nd->name || !nd->name[0] || !nd->op || !nd->op[0])
      return ferr(c, FR_ERR_FORMAT, "modelTopology.node[%zu] has no valid name or op", i);
    if (strchr(nd->name, ':') || nd->name[0] == '^')
      return ferr(c, FR_ERR_FORMAT, "node name '%s' contains ':' or starts with '^'", nd->name);
    nd->attr = json_object_get(nj, "attr");
    if (nd->attr && !json_is_object(nd->attr))
      return ferr(c, FR_ERR_FORMAT, "node '%s': attr is not an object", nd->name);
    nd->inputs = json_object_get(nj, "input");
    if (nd->inputs && !json_is_array(nd->inputs))
      return ferr(c, FR_ERR_FORMAT, "node '%s': input is not an array", nd->name);
    if (nd->inputs) total_in += json_array_size(nd->inputs);
    if (total_in > (size_t)INT_MAX / 2) return ferr(c, FR_ERR_TOO_LARGE, "too many node inputs");
    int found;
    size_t slot = hash_slot(&c->node_hash, nd->name, c->nodes, sizeof(tj_node), &found);
    if (found >= 0) return ferr(c, FR_ERR_FORMAT, "duplicate node name '%s'", nd->name);
    c->node_hash.slot[slot] = (int)i;
    c->n_nodes = (int)i + 1;
  }
  c->in_pool = malloc(sizeof(int) * (total_in + 1));
  if (!c->in_pool) return ferr(c, FR_ERR_NOMEM, "out of memory");
  size_t used = 0;
  char *buf = malloc(TJ_MAX_NAME + 1);
  if (!buf) return ferr(c, FR_ERR_NOMEM, "out of memory");
  fr_status st = FR_OK;
  for (int i = 0; i < c->n_nodes && !st; i++) {
    tj_node *nd = &c->nodes[i];
    nd->in = c->in_pool + used;
    size_t ni = nd->inputs ? json_array_size(nd->inputs) : 0;
    for (size_t k = 0; k < ni; k++) {
      const char *ref = j_str(json_array_get(nd->inputs, k));
      bool control;
      int64_t idx;
      if (!ref || !parse_ref(ref, buf, TJ_MAX_NAME + 1, &control, &idx)) {
        st = nerr(c, nd, FR_ERR_FORMAT, "input %zu is not a valid node reference", k);
        break;
      }
      int src = node_find(c, buf);
      if (src < 0) {
        st = nerr(c, nd, FR_ERR_FORMAT, "input '%s' refers to no node", ref);
        break;
      }
      c->nodes[src].n_children++;
      if (control) continue;
      if (idx != 0) {
        st = nerr(c, nd, FR_ERR_UNSUPPORTED, "input '%s' uses output %lld; only output 0 is supported",
                  ref, (long long)idx);
        break;
      }
      nd->in[nd->n_in++] = src;
      used++;
    }
  }
  free(buf);
  return st;
}

/* Kahn's algorithm over data and control edges; order gets node indices. */
static fr_status topo_order(tj_ctx *c, int *order) {
  int n = c->n_nodes;
  int *indeg = calloc((size_t)n + 1, sizeof(int));
  int *off = calloc((size_t)n + 2, sizeof(int));
  int *cnt = calloc((size_t)n + 1, sizeof(int));
  fr_status st = FR_OK;
  int *adj = NULL;
  char *buf = malloc(TJ_MAX_NAME + 1);
  if (!indeg || !off || !cnt || !buf) {
    st = ferr(c, FR_ERR_NOMEM, "out of memory");
    goto done;
  }
  /* edges: re-walk the json inputs so control edges count too (all resolved already) */
  size_t edges = 0;
  for (int i = 0; i < n; i++) {
    size_t ni = c->nodes[i].inputs ? json_array_size(c->nodes[i].inputs) : 0;
    for (size_t k = 0; k < ni; k++) {
      bool control;
      int64_t idx;
      parse_ref(json_string_value(json_array_get(c->nodes[i].inputs, k)), buf, TJ_MAX_NAME + 1,
                &control, &idx);
      int src = node_find(c, buf);
      off[src + 1]++;
      indeg[i]++;
      edges++;
    }
  }
  for (int i = 0; i < n; i++) off[i + 1] += off[i];
  adj = malloc(sizeof(int) * (edges + 1));
  if (!adj) {
    st = ferr(c, FR_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    size_t ni = c->nodes[i].inputs ? json_array_size(c->nodes[i].inputs) : 0;
    for (size_t k = 0; k < ni; k++) {
      bool control;
      int64_t idx;
      parse_ref(json_string_value(json_array_get(c->nodes[i].inputs, k)), buf, TJ_MAX_NAME + 1,
                &control, &idx);
      int src = node_find(c, buf);
      adj[off[src] + cnt[src]++] = i;
    }
  }
  int head = 0, tail = 0;
  for (int i = 0; i < n; i++)
    if (indeg[i] == 0) order[tail++] = i;
  while (head < tail) {
    int u = order[head++];
    for (int e = off[u]; e < off[u + 1]; e++)
      if (--indeg[adj[e]] == 0) order[tail++] = adj[e];
  }
  if (tail != n) {
    int bad = 0;
    while (bad < n && indeg[bad] == 0) bad++;
    st = nerr(c, &c->nodes[bad < n ? bad : 0], FR_ERR_FORMAT, "the graph has a cycle through this node");
  }
done:
  free(indeg);
  free(off);
  free(cnt);
  free(adj);
  free(buf);
  return st;
}

/* ------------------------------------------------------------------ outputs */

/* JavaScript property order: canonical array-index keys ("0".."4294967294")
 * first, ascending; then the others in insertion order. */
static bool js_index_key(const char *s, uint64_t *v) {
  size_t n = strlen(s);
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  if (x > 4294967294ull) return false;
  *v = x;
  return true;
}

static void js_key_order(const char **names, int n, int *order) {
  int m = 0;
  uint64_t vi, vj;
  for (int i = 0; i < n; i++)
    if (js_index_key(names[i], &vi)) order[m++] = i;
  for (int a = 1; a < m; a++) /* insertion sort by value (few such keys) */
    for (int b = a; b > 0; b--) {
      js_index_key(names[order[b - 1]], &vi);
      js_index_key(names[order[b]], &vj);
      if (vi <= vj) break;
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (int i = 0; i < n; i++)
    if (!js_index_key(names[i], &vi)) order[m++] = i;
}

static fr_status pick_outputs(tj_ctx *c, int **out_vals, int *n_out) {
  json_t *sig = NULL;
  json_t *udm = json_object_get(c->root, "userDefinedMetadata");
  if (json_is_object(udm) && json_is_object(json_object_get(udm, "signature")))
    sig = json_object_get(udm, "signature");
  else if (json_is_object(json_object_get(c->root, "signature")))
    sig = json_object_get(c->root, "signature");
  json_t *outs = sig ? json_object_get(sig, "outputs") : NULL;
  int cap = c->n_nodes + 1;
  const char **names = NULL;
  int *order = NULL, *nodes = malloc(sizeof(int) * (size_t)cap), nn = 0, nnames = 0;
  char *buf = malloc(TJ_MAX_NAME + 1);
  fr_status st = FR_OK;
  if (!nodes || !buf) {
    st = ferr(c, FR_ERR_NOMEM, "out of memory");
    goto done;
  }
  if (json_is_object(outs) && json_object_size(outs) > 0) {
    size_t no = json_object_size(outs);
    names = malloc(sizeof(char *) * (no + 1));
    order = malloc(sizeof(int) * (no + 1));
    if (!names || !order) {
      st = ferr(c, FR_ERR_NOMEM, "out of memory");
      goto done;
    }
    const char *key;
    json_t *ent;
    json_object_foreach(outs, key, ent) {
      const char *nm = json_is_object(ent) ? j_str(json_object_get(ent, "name")) : NULL;
      if (!nm) continue;
      bool dup = false; /* the map is keyed by tensor name: first position wins */
      for (int k = 0; k < nnames && !dup; k++) dup = strcmp(names[k], nm) == 0;
      if (!dup) names[nnames++] = nm;
    }
    js_key_order(names, nnames, order);
    for (int k = 0; k < nnames; k++) {
      bool control;
      int64_t idx;
      if (!parse_ref(names[order[k]], buf, TJ_MAX_NAME + 1, &control, &idx)) continue;
      int ti = node_find(c, buf);
      if (ti < 0) continue; /* TF.js skips signature outputs that name no node */
      bool dup = false;
      for (int q = 0; q < nn && !dup; q++) dup = nodes[q] == ti;
      if (!dup && nn < cap) nodes[nn++] = ti;
    }
  } else {
    names = malloc(sizeof(char *) * (size_t)cap);
    order = malloc(sizeof(int) * (size_t)cap);
    if (!names || !order) {
      st = ferr(c, FR_ERR_NOMEM, "out of memory");
      goto done;
    }
    for (int i = 0; i < c->n_nodes; i++) names[i] = c->nodes[i].name;
    js_key_order(names, c->n_nodes, order);
    for (int k = 0; k < c->n_nodes; k++) {
      const tj_node *nd = &c->nodes[order[k]];
      if (nd->n_children == 0 && strcmp(nd->op, "NoOp") != 0) nodes[nn++] = order[k];
    }
  }
  if (nn == 0) {
    st = ferr(c, FR_ERR_FORMAT, "the model has no output nodes");
    goto done;
  }
  for (int k = 0; k < nn && !st; k++) st = tf_value(c, nodes[k], &nodes[k]);
  if (!st) {
    *out_vals = nodes;
    *n_out = nn;
    nodes = NULL;
  }
done:
  free(nodes);
  free(names);
  free(order);
  free(buf);
  return st;
}

/* ------------------------------------------------------------------ entry */

static fr_status load(tj_ctx *c) {
  uint8_t *text;
  size_t len;
  fr_status st = read_all(c, c->path, FR__TFJS_MAX_JSON_BYTES, "model json", &text, &len);
  if (st) return st;
  json_error_t je;
  c->root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!c->root)
    return ferr(c, FR_ERR_FORMAT, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
  if (!json_is_object(c->root)) return ferr(c, FR_ERR_FORMAT, "the JSON is not an object");
  const char *format = j_str(json_object_get(c->root, "format"));
  if (format && strcmp(format, "graph-model") != 0)
    return ferr(c, FR_ERR_UNSUPPORTED, "format '%s' is not supported (only graph-model)", format);
  /* folder of the json, for the shards */
  const char *slash = strrchr(c->path, '/');
  size_t dl = slash ? (size_t)(slash - c->path) + 1 : 0;
  c->dir = malloc(dl + 1);
  if (!c->dir) return ferr(c, FR_ERR_NOMEM, "out of memory");
  memcpy(c->dir, c->path, dl);
  c->dir[dl] = 0;

  if ((st = parse_nodes(c))) return st;
  if ((st = load_weights(c))) return st;
  int *order = malloc(sizeof(int) * ((size_t)c->n_nodes + 1));
  if (!order) return ferr(c, FR_ERR_NOMEM, "out of memory");
  st = topo_order(c, order);
  for (int k = 0; k < c->n_nodes && !st; k++) {
    tj_node *nd = &c->nodes[order[k]];
    const tj_op *op = find_op(nd->op);
    if (!op) st = nerr(c, nd, FR_ERR_UNSUPPORTED, "op '%s' is not supported", nd->op);
    else st = op->fn(c, nd, op->arg);
  }
  free(order);
  if (st) return st;
  if (c->n_inputs == 0) return ferr(c, FR_ERR_FORMAT, "the model has no Placeholder input");
  int *outs = NULL, n_out = 0;
  if ((st = pick_outputs(c, &outs, &n_out))) return st;
  st = fr__graph_set_io(c->g, c->inputs, c->n_inputs, outs, n_out, c->err);
  free(outs);
  if (st) return st;
  return fr__graph_finalize(c->g, c->err);
}

fr_status fr__tfjs_load(const char *path, fr__graph *g, fr_error *err) {
  if (!path || !g) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr__tfjs_load: no path or graph");
  tj_ctx c = {.g = g, .err = err, .path = path};
  fr_status st = load(&c);
  json_decref(c.root);
  for (int i = 0; i < c.n_bufs; i++) free(c.bufs[i]);
  free(c.bufs);
  free(c.nodes);
  free(c.in_pool);
  free(c.node_hash.slot);
  free(c.w);
  free(c.w_hash.slot);
  free(c.vrank);
  free(c.vlen);
  free(c.inputs);
  free(c.dir);
  return st;
}
