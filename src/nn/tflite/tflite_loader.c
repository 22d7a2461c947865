/*
 * TFLite FlatBuffer -> IR graph. See tflite_loader.h for what is supported.
 *
 * FlatBuffer layout reminders (all little-endian):
 *  - the file starts with a uoffset (u32) to the root table, then the 4-byte
 *    identifier "TFL3";
 *  - a table at position p starts with an soffset (i32): vtable = p - soffset;
 *    the vtable holds u16 vtable size, u16 object size, then one u16 offset per
 *    field (0 = absent, use the default);
 *  - offset fields (tables, vectors, strings) hold a u32 relative to the field's
 *    own position; a vector is a u32 length followed by the elements; a vector
 *    of tables holds one uoffset per element.
 * Every read below goes through fb_* helpers that check bounds with 64-bit
 * arithmetic. The schema is walked to a fixed depth (Model -> SubGraph ->
 * Tensor / Operator -> options), so there is no recursion to limit.
 */
#include "nn/tflite/tflite_loader.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hard caps for hostile files. */
#define TFL_MAX_FILE_BYTES ((uint64_t)4 << 30)
#define TFL_MAX_OP_IO 4096     /* inputs or outputs of one operator */
#define TFL_MAX_NAME 4096      /* longer tensor names are truncated */

/* ---- bounds-checked FlatBuffer reader ---- */

typedef struct fb_buf {
  const uint8_t *p;
  uint64_t n;
} fb_buf;

typedef struct fb_table {
  uint64_t pos;     /* table start */
  uint64_t vt;      /* vtable start */
  uint16_t vt_len;  /* vtable bytes */
  uint16_t obj_len; /* table bytes */
} fb_table;

static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd_u64(const uint8_t *p) { return rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32); }

static bool fb_has(const fb_buf *b, uint64_t pos, uint64_t len) {
  return pos <= b->n && len <= b->n - pos;
}

/* Opens the table at pos. false when it or its vtable is out of bounds. */
static bool fb_open(const fb_buf *b, uint64_t pos, fb_table *t) {
  if (!fb_has(b, pos, 4)) return false;
  int64_t so = (int32_t)rd_u32(b->p + pos);
  int64_t vt = (int64_t)pos - so;
  if (vt < 0 || !fb_has(b, (uint64_t)vt, 4)) return false;
  uint16_t vl = rd_u16(b->p + vt), ol = rd_u16(b->p + vt + 2);
  if (vl < 4 || (vl & 1) || !fb_has(b, (uint64_t)vt, vl) || ol < 4 || !fb_has(b, pos, ol))
    return false;
  t->pos = pos;
  t->vt = (uint64_t)vt;
  t->vt_len = vl;
  t->obj_len = ol;
  return true;
}

/* Position of field i (size bytes): 1 present (*at), 0 absent, -1 out of bounds. */
static int fb_field(const fb_buf *b, const fb_table *t, int i, uint32_t size, uint64_t *at) {
  uint32_t slot = 4 + 2 * (uint32_t)i;
  if (slot + 2 > t->vt_len) return 0;
  uint16_t off = rd_u16(b->p + t->vt + slot);
  if (off == 0) return 0;
  if ((uint32_t)off + size > t->obj_len) return -1;
  *at = t->pos + off;
  return 1;
}

/* Scalar fields with defaults. Return false when malformed. */
static bool fb_scalar(const fb_buf *b, const fb_table *t, int i, uint32_t size, uint64_t *raw,
                      bool *present) {
  uint64_t at;
  int r = fb_field(b, t, i, size, &at);
  *present = r == 1;
  if (r <= 0) return r == 0;
  const uint8_t *p = b->p + at;
  *raw = size == 1 ? p[0] : size == 2 ? rd_u16(p) : size == 4 ? rd_u32(p) : rd_u64(p);
  return true;
}
static bool fb_i32(const fb_buf *b, const fb_table *t, int i, int32_t dflt, int32_t *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 4, &raw, &pr)) return false;
  *v = pr ? (int32_t)(uint32_t)raw : dflt;
  return true;
}
static bool fb_u32(const fb_buf *b, const fb_table *t, int i, uint32_t dflt, uint32_t *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 4, &raw, &pr)) return false;
  *v = pr ? (uint32_t)raw : dflt;
  return true;
}
static bool fb_u64(const fb_buf *b, const fb_table *t, int i, uint64_t dflt, uint64_t *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 8, &raw, &pr)) return false;
  *v = pr ? raw : dflt;
  return true;
}
static bool fb_i8(const fb_buf *b, const fb_table *t, int i, int dflt, int *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 1, &raw, &pr)) return false;
  *v = pr ? (int)(int8_t)(uint8_t)raw : dflt;
  return true;
}
static bool fb_u8(const fb_buf *b, const fb_table *t, int i, int dflt, int *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 1, &raw, &pr)) return false;
  *v = pr ? (int)(uint8_t)raw : dflt;
  return true;
}
static bool fb_f32(const fb_buf *b, const fb_table *t, int i, float dflt, float *v) {
  uint64_t raw = 0;
  bool pr;
  if (!fb_scalar(b, t, i, 4, &raw, &pr)) return false;
  if (!pr) {
    *v = dflt;
    return true;
  }
  uint32_t u = (uint32_t)raw;
  memcpy(v, &u, 4);
  return true;
}

/* Follows the uoffset field i: 1 present (*target), 0 absent, -1 malformed. */
static int fb_ref(const fb_buf *b, const fb_table *t, int i, uint64_t *target) {
  uint64_t at;
  int r = fb_field(b, t, i, 4, &at);
  if (r <= 0) return r;
  uint64_t tg = at + rd_u32(b->p + at);
  if (tg >= b->n) return -1;
  *target = tg;
  return 1;
}

/* Vector field i of elem-byte elements: *data (first element), *len. Absent = empty. */
static int fb_vec(const fb_buf *b, const fb_table *t, int i, uint32_t elem, uint64_t *data,
                  uint32_t *len) {
  uint64_t v;
  *len = 0;
  *data = 0;
  int r = fb_ref(b, t, i, &v);
  if (r <= 0) return r;
  if (!fb_has(b, v, 4)) return -1;
  uint32_t n = rd_u32(b->p + v);
  if (!fb_has(b, v + 4, (uint64_t)n * elem)) return -1;
  *data = v + 4;
  *len = n;
  return 1;
}

/* Element k of a vector of tables. */
static bool fb_vec_table(const fb_buf *b, uint64_t data, uint32_t k, fb_table *t) {
  uint64_t at = data + 4 * (uint64_t)k; /* in bounds: checked by fb_vec */
  return fb_open(b, at + rd_u32(b->p + at), t);
}

/* ---- loader state ---- */

enum {
  TT_FLOAT32 = 0, TT_FLOAT16 = 1, TT_INT32 = 2, TT_UINT8 = 3, TT_INT64 = 4, TT_STRING = 5,
  TT_BOOL = 6, TT_INT16 = 7, TT_COMPLEX64 = 8, TT_INT8 = 9, TT_FLOAT64 = 10
};

typedef struct tfl_tensor {
  const char *name;
  int type;
  bool has_shape;
  fr__shape shape;       /* declared; dims < 0 stored as -1 */
  bool has_sig;
  fr__shape sig;         /* shape_signature */
  bool has_data;         /* constant with buffer bytes */
  const uint8_t *data;
  uint64_t nbytes;
  int fold_src;          /* DEQUANTIZE of a constant folded into this tensor: source index */
  int value;             /* IR value, -1 until created */
} tfl_tensor;

typedef struct tfl_op {
  int code;              /* builtin code, or -1 for a custom op */
  const char *custom;    /* custom code name */
  int32_t *in, *out;
  int n_in, n_out;
  int opt_type;
  bool has_opt;
  fb_table opt;
} tfl_op;

typedef struct tfl_ctx {
  fb_buf b;
  fr__graph *g;
  fr_error *err;
  const char *src;
  tfl_tensor *t;
  int n_t;
  /* buffers vector */
  uint64_t bufs;
  uint32_t n_bufs;
  /* batch handling */
  int64_t file_batch;    /* > 1 when the input batch was made dynamic */
  /* current op, for messages */
  int op_index;
  const char *op_name;
  const char *op_out;
  /* scratch for names */
  char *name_buf;
  size_t name_cap;
  unsigned dup_seq;
} tfl_ctx;

/* ---- builtin op names (for messages) ---- */

static const char *const k_op_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC",
    "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE",
    "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS",
    "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX",
    "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM",
    "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
    "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG",
    "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
    "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
    "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE",
    "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT"};
#define K_N_OP_NAMES ((int)(sizeof k_op_names / sizeof k_op_names[0]))

/* Builtin codes used below. */
enum {
  OP_ADD = 0, OP_AVERAGE_POOL_2D = 1, OP_CONCATENATION = 2, OP_CONV_2D = 3,
  OP_DEPTHWISE_CONV_2D = 4, OP_DEPTH_TO_SPACE = 5, OP_DEQUANTIZE = 6, OP_FLOOR = 8,
  OP_FULLY_CONNECTED = 9, OP_LOGISTIC = 14, OP_MAX_POOL_2D = 17, OP_MUL = 18, OP_RELU = 19,
  OP_RELU_N1_TO_1 = 20, OP_RELU6 = 21, OP_RESHAPE = 22, OP_RESIZE_BILINEAR = 23,
  OP_SOFTMAX = 25, OP_TANH = 28, OP_PAD = 34, OP_GATHER = 36, OP_TRANSPOSE = 39, OP_MEAN = 40,
  OP_SUB = 41, OP_DIV = 42, OP_STRIDED_SLICE = 45, OP_EXP = 47, OP_SPLIT = 49, OP_CAST = 53,
  OP_PRELU = 54, OP_MAXIMUM = 55, OP_MINIMUM = 57, OP_LESS = 58, OP_NEG = 59, OP_PADV2 = 60,
  OP_GREATER = 61, OP_GREATER_EQUAL = 62, OP_LESS_EQUAL = 63, OP_SELECT = 64, OP_SLICE = 65,
  OP_EQUAL = 71, OP_LOG = 73, OP_SUM = 74, OP_SQRT = 75, OP_RSQRT = 76, OP_SHAPE = 77,
  OP_POW = 78, OP_REDUCE_MAX = 82, OP_REDUCE_MIN = 89, OP_SQUARE = 92,
  OP_RESIZE_NEAREST_NEIGHBOR = 97, OP_LEAKY_RELU = 98, OP_SQUARED_DIFFERENCE = 99,
  OP_MIRROR_PAD = 100, OP_ABS = 101, OP_SPLIT_V = 102, OP_CEIL = 104, OP_SELECT_V2 = 123,
  OP_BATCH_MATMUL = 126
};

/* BuiltinOptions union types checked when present (0 = not checked). */
enum {
  OPT_CONV2D = 1, OPT_DEPTHWISE = 2, OPT_POOL2D = 5, OPT_FC = 8, OPT_SOFTMAX = 9,
  OPT_CONCAT = 10, OPT_ADD = 11, OPT_RESIZE_BILINEAR = 15, OPT_RESHAPE = 17, OPT_MUL = 21,
  OPT_GATHER = 23, OPT_REDUCER = 27, OPT_SUB = 28, OPT_DIV = 29, OPT_STRIDED_SLICE = 32,
  OPT_SPLIT = 35, OPT_RESIZE_NN = 74, OPT_LEAKY_RELU = 75, OPT_MIRROR_PAD = 77
};

static const char *op_code_name(int code, char *buf, size_t n) {
  if (code >= 0 && code < K_N_OP_NAMES) return k_op_names[code];
  snprintf(buf, n, "BUILTIN_%d", code);
  return buf;
}

static const char *type_name(int type) {
  static const char *const names[] = {"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64",
                                      "STRING", "BOOL", "INT16", "COMPLEX64", "INT8",
                                      "FLOAT64"};
  return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "unknown";
}

/* ---- errors ---- */

static fr_status fail(tfl_ctx *c, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fr_status fail(tfl_ctx *c, fr_status st, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fr_error_set(c->err, st, "%s: %s", c->src, msg);
}

/* Error inside operator processing: names the op index, op and output tensor. */
static fr_status op_fail(tfl_ctx *c, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fr_status op_fail(tfl_ctx *c, fr_status st, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fr_error_set(c->err, st, "%s: node '%s' (%s, operator #%d): %s", c->src,
                      c->op_out ? c->op_out : "", c->op_name ? c->op_name : "?", c->op_index, msg);
}

#define MALFORMED(c, what) fail((c), FR_ERR_FORMAT, "malformed FlatBuffer: %s", (what))

/* ---- names ---- */

/* A name not yet used in the graph: base, or base#k. Returns a pointer into
 * c->name_buf (valid until the next call), or NULL on out of memory. "" stays "". */
static const char *unique_name(tfl_ctx *c, const char *base, const char *suffix) {
  size_t bl = strlen(base), sl = suffix ? strlen(suffix) : 0;
  size_t need = bl + sl + 24;
  if (need > c->name_cap) {
    char *nb = realloc(c->name_buf, need);
    if (!nb) return NULL;
    c->name_buf = nb;
    c->name_cap = need;
  }
  memcpy(c->name_buf, base, bl);
  if (sl) memcpy(c->name_buf + bl, suffix, sl);
  c->name_buf[bl + sl] = 0;
  if (bl + sl == 0 || fr__graph_find(c->g, c->name_buf) < 0) return c->name_buf;
  /* one counter for the whole file keeps hostile files with many equal names linear */
  for (;;) {
    snprintf(c->name_buf + bl + sl, 24, "#%u", ++c->dup_seq);
    if (fr__graph_find(c->g, c->name_buf) < 0) return c->name_buf;
  }
}

/* ---- tensors and constants ---- */

static int elem_size(int type) {
  switch (type) {
    case TT_FLOAT32: case TT_INT32: return 4;
    case TT_FLOAT16: case TT_INT16: return 2;
    case TT_INT64: case TT_FLOAT64: case TT_COMPLEX64: return 8;
    case TT_UINT8: case TT_INT8: case TT_BOOL: return 1;
    default: return 0;
  }
}

static bool ir_dtype(int type, fr__dtype *dt) {
  switch (type) {
    case TT_FLOAT32: case TT_FLOAT16: case TT_BOOL: *dt = FR__F32; return true;
    case TT_INT32: case TT_INT64: *dt = FR__I64; return true;
    default: return false;
  }
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, f;
  if (e == 0) {
    float v = ldexpf((float)m, -24); /* zero or subnormal */
    return sign ? -v : v;
  }
  if (e == 31)
    f = sign | 0x7f800000u | (m << 13);
  else
    f = sign | ((e + 112) << 23) | (m << 13);
  float out;
  memcpy(&out, &f, 4);
  return out;
}

/* Validates tensor k as a constant: shape known and sane, bytes == elems * size. */
static fr_status check_const(tfl_ctx *c, int k, int64_t *elems_out) {
  const tfl_tensor *t = &c->t[k];
  int es = elem_size(t->type);
  fr__dtype dt;
  if (!ir_dtype(t->type, &dt) || es == 0)
    return fail(c, FR_ERR_UNSUPPORTED, "tensor '%s' has type %s (%d), not supported", t->name,
                type_name(t->type), t->type);
  for (int i = 0; i < t->shape.rank; i++)
    if (t->shape.d[i] < 0)
      return fail(c, FR_ERR_FORMAT, "constant tensor '%s' has a negative dimension", t->name);
  int64_t n = fr__shape_elems(&t->shape);
  if (n < 0)
    return fail(c, FR_ERR_TOO_LARGE, "constant tensor '%s' has more than %" PRId64 " elements",
                t->name, (int64_t)FR__MAX_TENSOR_ELEMS);
  if ((uint64_t)n * (uint64_t)es != t->nbytes)
    return fail(c, FR_ERR_FORMAT,
                "constant tensor '%s': buffer holds %" PRIu64 " bytes, shape and type need %" PRIu64,
                t->name, t->nbytes, (uint64_t)n * (uint64_t)es);
  *elems_out = n;
  return FR_OK;
}

/* Converts n elements of TFLite type from src into IR data at dst. */
static void convert(int type, const uint8_t *src, int64_t n, void *dst) {
  if (type == TT_FLOAT32) {
    memcpy(dst, src, (size_t)n * 4); /* little-endian host assumed, like TFLite */
  } else if (type == TT_FLOAT16) {
    float *o = dst;
    for (int64_t i = 0; i < n; i++) o[i] = half_to_float(rd_u16(src + 2 * i));
  } else if (type == TT_BOOL) {
    float *o = dst;
    for (int64_t i = 0; i < n; i++) o[i] = src[i] ? 1.0f : 0.0f;
  } else if (type == TT_INT32) {
    int64_t *o = dst;
    for (int64_t i = 0; i < n; i++) o[i] = (int32_t)rd_u32(src + 4 * i);
  } else { /* INT64 */
    int64_t *o = dst;
    for (int64_t i = 0; i < n; i++) o[i] = (int64_t)rd_u64(src + 8 * i);
  }
}

/* IR value for tensor k (created on first use). */
static fr_status tensor_value(tfl_ctx *c, int32_t k, int *out) {
  if (k < 0 || k >= c->n_t)
    return op_fail(c, FR_ERR_FORMAT, "tensor index %d out of range (%d tensors)", (int)k, c->n_t);
  tfl_tensor *t = &c->t[k];
  if (t->value >= 0) {
    *out = t->value;
    return FR_OK;
  }
  const char *nm = unique_name(c, t->name, NULL);
  if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
  fr_status st;
  if (t->fold_src >= 0 || t->has_data) {
    const tfl_tensor *s = t->fold_src >= 0 ? &c->t[t->fold_src] : t;
    int64_t n;
    st = check_const(c, t->fold_src >= 0 ? t->fold_src : k, &n);
    if (st) return st;
    fr__dtype dt = FR__F32;
    ir_dtype(s->type, &dt);
    void *data;
    st = fr__graph_add_const_uninit(c->g, nm, dt, &s->shape, &data, &t->value, c->err);
    if (st) return st;
    convert(s->type, s->data, n, data);
  } else {
    fr__dtype dt;
    if (!ir_dtype(t->type, &dt))
      return op_fail(c, FR_ERR_UNSUPPORTED, "tensor '%s' has type %s (%d), not supported",
                     t->name, type_name(t->type), t->type);
    fr__shape none = {0};
    st = fr__graph_add_value(c->g, nm, dt, &none, &t->value, c->err);
    if (st) return st;
  }
  *out = t->value;
  return FR_OK;
}

/* Integer constant tensor k read into v[0..max); *n = element count. */
static fr_status const_ints(tfl_ctx *c, int32_t k, const char *what, int64_t *v, int max, int *n) {
  if (k < 0 || k >= c->n_t)
    return op_fail(c, FR_ERR_FORMAT, "%s: tensor index %d out of range", what, (int)k);
  const tfl_tensor *t = &c->t[k];
  if (!t->has_data)
    return op_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be a constant", what, t->name);
  if (t->type != TT_INT32 && t->type != TT_INT64)
    return op_fail(c, FR_ERR_FORMAT, "%s ('%s') has type %s, expected INT32/INT64", what, t->name,
                   type_name(t->type));
  int64_t cnt;
  fr_status st = check_const(c, k, &cnt);
  if (st) return st;
  if (cnt > max)
    return op_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') has %" PRId64 " elements (max %d)", what,
                   t->name, cnt, max);
  convert(t->type, t->data, cnt, v);
  *n = (int)cnt;
  return FR_OK;
}

/* Float scalar constant. */
static fr_status const_scalar_f32(tfl_ctx *c, int32_t k, const char *what, float *v) {
  if (k < 0 || k >= c->n_t)
    return op_fail(c, FR_ERR_FORMAT, "%s: tensor index %d out of range", what, (int)k);
  const tfl_tensor *t = &c->t[k];
  if (!t->has_data || (t->type != TT_FLOAT32 && t->type != TT_FLOAT16))
    return op_fail(c, FR_ERR_UNSUPPORTED, "%s ('%s') must be a float constant", what, t->name);
  int64_t n;
  fr_status st = check_const(c, k, &n);
  if (st) return st;
  if (n != 1) return op_fail(c, FR_ERR_FORMAT, "%s ('%s') must be a scalar", what, t->name);
  convert(t->type, t->data, 1, v);
  return FR_OK;
}

/* New internal value (no TFLite tensor) named base+suffix. */
static fr_status new_value(tfl_ctx *c, const char *base, const char *suffix, fr__dtype dt, int *out) {
  const char *nm = unique_name(c, base, suffix);
  if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
  fr__shape none = {0};
  return fr__graph_add_value(c->g, nm, dt, &none, out, c->err);
}

static fr_status new_i64_const(tfl_ctx *c, const char *base, const char *suffix, const int64_t *v,
                               int n, int *out) {
  const char *nm = unique_name(c, base, suffix);
  if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
  int64_t dims[1] = {n};
  fr__shape s = fr__shape_make(1, dims);
  return fr__graph_add_const(c->g, nm, FR__I64, &s, v, out, c->err);
}

static fr_status new_f32_scalar(tfl_ctx *c, const char *base, const char *suffix, float v, int *out) {
  const char *nm = unique_name(c, base, suffix);
  if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
  fr__shape s = {0};
  return fr__graph_add_const(c->g, nm, FR__F32, &s, &v, out, c->err);
}

/* ---- operator helpers ---- */

/* Input k of op: *v = value index, or -1 when absent (index -1 or past the end). */
static fr_status op_in(tfl_ctx *c, const tfl_op *op, int k, bool required, int *v) {
  *v = -1;
  if (k >= op->n_in || op->in[k] < 0) {
    if (required) return op_fail(c, FR_ERR_FORMAT, "input %d is missing", k);
    return FR_OK;
  }
  return tensor_value(c, op->in[k], v);
}

static fr_status op_out(tfl_ctx *c, const tfl_op *op, int k, int *v) {
  if (k >= op->n_out || op->out[k] < 0) return op_fail(c, FR_ERR_FORMAT, "output %d is missing", k);
  int32_t ti = op->out[k];
  if (ti >= c->n_t)
    return op_fail(c, FR_ERR_FORMAT, "tensor index %d out of range (%d tensors)", (int)ti, c->n_t);
  if (c->t[ti].has_data || c->t[ti].fold_src >= 0)
    return op_fail(c, FR_ERR_FORMAT, "output '%s' is a constant tensor", c->t[ti].name);
  return tensor_value(c, ti, v);
}

/* Declared TFLite shape of input k (NULL when unknown). */
static const fr__shape *op_in_shape(const tfl_ctx *c, const tfl_op *op, int k) {
  if (k >= op->n_in || op->in[k] < 0 || op->in[k] >= c->n_t) return NULL;
  const tfl_tensor *t = &c->t[op->in[k]];
  return t->has_shape ? &t->shape : NULL;
}

static fr_status emit(tfl_ctx *c, fr__op irop, const char *name, const int *in, int n_in,
                      const int *out, int n_out, fr__attrs **attrs) {
  int idx;
  fr_status st = fr__graph_add_node(c->g, irop, name, in, n_in, out, n_out, &idx, c->err);
  if (st) return st;
  if (attrs) *attrs = &c->g->nodes[idx].a;
  return FR_OK;
}

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3, ACT_TANH = 4, ACT_SIGN_BIT = 5 };

static fr_status check_act(tfl_ctx *c, int act) {
  if (act < 0 || act > ACT_SIGN_BIT)
    return op_fail(c, FR_ERR_FORMAT, "unknown fused activation %d", act);
  if (act == ACT_SIGN_BIT)
    return op_fail(c, FR_ERR_UNSUPPORTED, "fused activation SIGN_BIT is not supported");
  return FR_OK;
}

/* Clamp bounds of a fused activation; false for TANH (needs its own node). */
static bool act_bounds(int act, float *lo, float *hi) {
  *lo = -INFINITY;
  *hi = INFINITY;
  switch (act) {
    case ACT_NONE: return true;
    case ACT_RELU: *lo = 0; return true;
    case ACT_RELU6: *lo = 0; *hi = 6; return true;
    case ACT_RELU_N1_TO_1: *lo = -1; *hi = 1; return true;
    default: return false;
  }
}

/* Emits the activation node act: in -> out. */
static fr_status emit_act(tfl_ctx *c, int act, const char *name, int in, int out) {
  fr__attrs *a;
  fr_status st;
  switch (act) {
    case ACT_RELU: return emit(c, FR__OP_RELU, name, &in, 1, &out, 1, NULL);
    case ACT_TANH: return emit(c, FR__OP_TANH, name, &in, 1, &out, 1, NULL);
    case ACT_RELU6:
    case ACT_RELU_N1_TO_1:
      st = emit(c, FR__OP_CLIP, name, &in, 1, &out, 1, &a);
      if (st) return st;
      a->clip.min = act == ACT_RELU6 ? 0.0f : -1.0f;
      a->clip.max = act == ACT_RELU6 ? 6.0f : 1.0f;
      return FR_OK;
    default: return op_fail(c, FR_ERR_UNSUPPORTED, "fused activation %d is not supported", act);
  }
}

/* Output value to give the main node: the op's output value itself when
 * act == NONE (or fused), else a fresh "<name>/pre_act" value that the
 * activation node then maps onto the TFLite tensor. */
static fr_status pre_act_value(tfl_ctx *c, bool separate_act, int final_out, int *main_out) {
  if (!separate_act) {
    *main_out = final_out;
    return FR_OK;
  }
  return new_value(c, c->op_out, "/pre_act", c->g->values[final_out].dtype, main_out);
}

static fr_status finish_act(tfl_ctx *c, bool separate_act, int act, int main_out, int final_out) {
  if (!separate_act) return FR_OK;
  return emit_act(c, act, c->op_out, main_out, final_out);
}

static fr_status opt_int(tfl_ctx *c, const tfl_op *op, int field, int32_t dflt, int32_t *v) {
  if (!op->has_opt) {
    *v = dflt;
    return FR_OK;
  }
  if (!fb_i32(&c->b, &op->opt, field, dflt, v)) return op_fail(c, FR_ERR_FORMAT, "malformed options");
  return FR_OK;
}
static fr_status opt_byte(tfl_ctx *c, const tfl_op *op, int field, int dflt, int *v) {
  if (!op->has_opt) {
    *v = dflt;
    return FR_OK;
  }
  if (!fb_i8(&c->b, &op->opt, field, dflt, v)) return op_fail(c, FR_ERR_FORMAT, "malformed options");
  return FR_OK;
}
static fr_status opt_float(tfl_ctx *c, const tfl_op *op, int field, float dflt, float *v) {
  if (!op->has_opt) {
    *v = dflt;
    return FR_OK;
  }
  if (!fb_f32(&c->b, &op->opt, field, dflt, v)) return op_fail(c, FR_ERR_FORMAT, "malformed options");
  return FR_OK;
}

static fr_status check_opt_type(tfl_ctx *c, const tfl_op *op, int expected) {
  if (op->has_opt && expected && op->opt_type != expected)
    return op_fail(c, FR_ERR_FORMAT, "builtin options of type %d, expected %d", op->opt_type,
                   expected);
  return FR_OK;
}

static fr_status padding_mode(tfl_ctx *c, int p, fr__pad_mode *m) {
  if (p == 0) *m = FR__PAD_SAME_UPPER;
  else if (p == 1) *m = FR__PAD_VALID;
  else return op_fail(c, FR_ERR_FORMAT, "unknown padding %d", p);
  return FR_OK;
}

#define TRY(x)                \
  do {                        \
    fr_status st_ = (x);      \
    if (st_ != FR_OK) return st_; \
  } while (0)

static fr_status check_pos(tfl_ctx *c, const char *what, int32_t v, int32_t max) {
  if (v < 1 || v > max) return op_fail(c, FR_ERR_FORMAT, "%s = %d out of range 1..%d", what, (int)v, (int)max);
  return FR_OK;
}

/* ---- per-op conversion ---- */

static fr_status conv_op(tfl_ctx *c, const tfl_op *op, bool depthwise) {
  TRY(check_opt_type(c, op, depthwise ? OPT_DEPTHWISE : OPT_CONV2D));
  int pad, act;
  int32_t sw, sh, dw, dh, mult = 1;
  TRY(opt_byte(c, op, 0, 0, &pad));
  TRY(opt_int(c, op, 1, 1, &sw));
  TRY(opt_int(c, op, 2, 1, &sh));
  if (depthwise) {
    TRY(opt_int(c, op, 3, 1, &mult));
    TRY(opt_byte(c, op, 4, 0, &act));
    TRY(opt_int(c, op, 5, 1, &dw));
    TRY(opt_int(c, op, 6, 1, &dh));
  } else {
    TRY(opt_byte(c, op, 3, 0, &act));
    TRY(opt_int(c, op, 4, 1, &dw));
    TRY(opt_int(c, op, 5, 1, &dh));
  }
  TRY(check_act(c, act));
  TRY(check_pos(c, "stride_w", sw, 1 << 16));
  TRY(check_pos(c, "stride_h", sh, 1 << 16));
  TRY(check_pos(c, "dilation_w", dw, 1 << 16));
  TRY(check_pos(c, "dilation_h", dh, 1 << 16));
  fr__pad_mode pm = FR__PAD_VALID;
  TRY(padding_mode(c, pad, &pm));

  int x, w, bias, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_in(c, op, 2, false, &bias));
  if (op->n_in < 2 || op->in[1] < 0 || op->in[1] >= c->n_t)
    return op_fail(c, FR_ERR_FORMAT, "weights input is missing or out of range");
  const tfl_tensor *wt = &c->t[op->in[1]];
  if (!wt->has_shape || wt->shape.rank != 4)
    return op_fail(c, FR_ERR_FORMAT, "weights '%s' must have a 4-D shape", wt->name);
  for (int i = 0; i < 4; i++)
    if (wt->shape.d[i] < 1 || wt->shape.d[i] > (1 << 20))
      return op_fail(c, FR_ERR_FORMAT, "weights '%s' have a bad dimension", wt->name);
  int kh = (int)wt->shape.d[1], kw = (int)wt->shape.d[2];
  int groups = 1;
  if (depthwise) {
    /* TFLite [1, KH, KW, C*m] -> IR OHWI [C*m, KH, KW, 1] with groups = C. */
    if (wt->shape.d[0] != 1)
      return op_fail(c, FR_ERR_FORMAT, "depthwise weights '%s' must have leading dim 1", wt->name);
    if (!wt->has_data && wt->fold_src < 0)
      return op_fail(c, FR_ERR_UNSUPPORTED, "depthwise weights '%s' must be constant", wt->name);
    int64_t cm = wt->shape.d[3];
    const fr__shape *xs = op_in_shape(c, op, 0);
    int64_t cin = (xs && xs->rank == 4 && xs->d[3] > 0) ? xs->d[3] : 0;
    if (cin <= 0) {
      if (mult < 1 || cm % mult) return op_fail(c, FR_ERR_FORMAT, "bad depth_multiplier %d", (int)mult);
      cin = cm / mult;
    }
    if (cin < 1 || cm % cin)
      return op_fail(c, FR_ERR_SHAPE, "depthwise weights have %" PRId64 " channels, input %" PRId64,
                     cm, cin);
    groups = (int)cin;
    int wsrc;
    TRY(tensor_value(c, op->in[1], &wsrc)); /* validated + converted constant [1,KH,KW,CM] */
    int64_t dims[4] = {cm, kh, kw, 1};
    fr__shape s = fr__shape_make(4, dims);
    const char *nm = unique_name(c, wt->name, "/ohwi");
    if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
    void *dv;
    TRY(fr__graph_add_const_uninit(c->g, nm, FR__F32, &s, &dv, &w, c->err));
    const float *src = c->g->values[wsrc].data; /* values may have moved; data did not */
    float *dst = dv;
    int64_t khw = (int64_t)kh * kw;
    for (int64_t o = 0; o < cm; o++)
      for (int64_t p = 0; p < khw; p++) dst[o * khw + p] = src[p * cm + o];
  } else {
    TRY(tensor_value(c, op->in[1], &w));
    const fr__shape *xs = op_in_shape(c, op, 0);
    int64_t wi = wt->shape.d[3];
    if (xs && xs->rank == 4 && xs->d[3] > 0 && xs->d[3] != wi) {
      if (xs->d[3] % wi || wt->shape.d[0] % (xs->d[3] / wi))
        return op_fail(c, FR_ERR_SHAPE, "input has %" PRId64 " channels, weights expect %" PRId64,
                       xs->d[3], wi);
      groups = (int)(xs->d[3] / wi);
    }
  }
  TRY(op_out(c, op, 0, &out));
  float lo, hi;
  bool sep = !act_bounds(act, &lo, &hi);
  int main_out;
  TRY(pre_act_value(c, sep, out, &main_out));
  int in[3] = {x, w, bias};
  fr__attrs *a;
  TRY(emit(c, FR__OP_CONV2D, c->op_out, in, bias >= 0 ? 3 : 2, &main_out, 1, &a));
  a->conv.kh = kh;
  a->conv.kw = kw;
  a->conv.stride_h = sh;
  a->conv.stride_w = sw;
  a->conv.dil_h = dh;
  a->conv.dil_w = dw;
  a->conv.groups = groups;
  a->conv.pad_mode = pm;
  a->conv.out_min = lo;
  a->conv.out_max = hi;
  return finish_act(c, sep, act, main_out, out);
}

static fr_status fc_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_FC));
  int act, wfmt, keep = 0;
  TRY(opt_byte(c, op, 0, 0, &act));
  TRY(opt_byte(c, op, 1, 0, &wfmt));
  if (op->has_opt && !fb_u8(&c->b, &op->opt, 2, 0, &keep))
    return op_fail(c, FR_ERR_FORMAT, "malformed options");
  TRY(check_act(c, act));
  if (wfmt != 0) return op_fail(c, FR_ERR_UNSUPPORTED, "weights_format %d is not supported", wfmt);
  int x, w, bias, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_in(c, op, 1, true, &w));
  TRY(op_in(c, op, 2, false, &bias));
  TRY(op_out(c, op, 0, &out));
  const fr__shape *ws = op_in_shape(c, op, 1);
  if (!ws || ws->rank != 2 || ws->d[1] < 1)
    return op_fail(c, FR_ERR_FORMAT, "weights must have a 2-D shape [N, K]");
  const fr__shape *xs = op_in_shape(c, op, 0);
  if (!keep && !(xs && xs->rank == 2)) {
    /* TFLite flattens the input to [-1, K] */
    int64_t shp[2] = {-1, ws->d[1]};
    int sv, flat;
    TRY(new_i64_const(c, c->op_out, "/flatten_shape", shp, 2, &sv));
    TRY(new_value(c, c->op_out, "/flatten", FR__F32, &flat));
    int in2[2] = {x, sv};
    fr__attrs *ra;
    TRY(emit(c, FR__OP_RESHAPE, c->g->values[flat].name, in2, 2, &flat, 1, &ra));
    ra->reshape.allowzero = true;
    x = flat;
  }
  float lo, hi;
  bool sep = !act_bounds(act, &lo, &hi);
  int main_out;
  TRY(pre_act_value(c, sep, out, &main_out));
  int in[3] = {x, w, bias};
  fr__attrs *a;
  TRY(emit(c, FR__OP_FULLY_CONNECTED, c->op_out, in, bias >= 0 ? 3 : 2, &main_out, 1, &a));
  a->fc.out_min = lo;
  a->fc.out_max = hi;
  return finish_act(c, sep, act, main_out, out);
}

static fr_status pool_op(tfl_ctx *c, const tfl_op *op, fr__op irop) {
  TRY(check_opt_type(c, op, OPT_POOL2D));
  int pad, act;
  int32_t sw, sh, fw, fh;
  TRY(opt_byte(c, op, 0, 0, &pad));
  TRY(opt_int(c, op, 1, 1, &sw));
  TRY(opt_int(c, op, 2, 1, &sh));
  TRY(opt_int(c, op, 3, 0, &fw));
  TRY(opt_int(c, op, 4, 0, &fh));
  TRY(opt_byte(c, op, 5, 0, &act));
  TRY(check_act(c, act));
  TRY(check_pos(c, "stride_w", sw, 1 << 16));
  TRY(check_pos(c, "stride_h", sh, 1 << 16));
  TRY(check_pos(c, "filter_width", fw, 1 << 16));
  TRY(check_pos(c, "filter_height", fh, 1 << 16));
  fr__pad_mode pm = FR__PAD_VALID;
  TRY(padding_mode(c, pad, &pm));
  int x, out, main_out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  bool sep = act != ACT_NONE;
  TRY(pre_act_value(c, sep, out, &main_out));
  fr__attrs *a;
  TRY(emit(c, irop, c->op_out, &x, 1, &main_out, 1, &a));
  a->pool.kh = fh;
  a->pool.kw = fw;
  a->pool.stride_h = sh;
  a->pool.stride_w = sw;
  a->pool.pad_mode = pm;
  a->pool.count_include_pad = false;
  a->pool.ceil_mode = false;
  return finish_act(c, sep, act, main_out, out);
}

/* Binary elementwise op, optionally with a fused activation at options field 0. */
static fr_status binary_op(tfl_ctx *c, const tfl_op *op, fr__op irop, int opt_type) {
  int act = ACT_NONE;
  if (opt_type) {
    TRY(check_opt_type(c, op, opt_type));
    TRY(opt_byte(c, op, 0, 0, &act));
    TRY(check_act(c, act));
  }
  int a0, a1, out, main_out;
  TRY(op_in(c, op, 0, true, &a0));
  TRY(op_in(c, op, 1, true, &a1));
  TRY(op_out(c, op, 0, &out));
  bool sep = act != ACT_NONE;
  TRY(pre_act_value(c, sep, out, &main_out));
  int in[2] = {a0, a1};
  TRY(emit(c, irop, c->op_out, in, 2, &main_out, 1, NULL));
  return finish_act(c, sep, act, main_out, out);
}

static fr_status unary_op(tfl_ctx *c, const tfl_op *op, fr__op irop, fr__attrs **attrs) {
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  return emit(c, irop, c->op_out, &x, 1, &out, 1, attrs);
}

static fr_status reshape_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_RESHAPE));
  int x, out, sv = -1;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  int64_t shp[FR__MAX_DIMS];
  int n = -1;
  int32_t st_idx = op->n_in >= 2 ? op->in[1] : -1;
  if (st_idx >= 0) {
    if (st_idx >= c->n_t) return op_fail(c, FR_ERR_FORMAT, "shape tensor index out of range");
    if (c->t[st_idx].has_data) {
      TRY(const_ints(c, st_idx, "shape", shp, FR__MAX_DIMS, &n));
    } else {
      TRY(tensor_value(c, st_idx, &sv)); /* computed shape, resolved at plan time */
    }
  } else {
    if (!op->has_opt) return op_fail(c, FR_ERR_FORMAT, "no shape input and no new_shape option");
    uint64_t data;
    uint32_t len;
    if (fb_vec(&c->b, &op->opt, 0, 4, &data, &len) < 0)
      return op_fail(c, FR_ERR_FORMAT, "malformed new_shape");
    if (len > FR__MAX_DIMS) return op_fail(c, FR_ERR_UNSUPPORTED, "new_shape has rank %u", len);
    for (uint32_t i = 0; i < len; i++) shp[i] = (int32_t)rd_u32(c->b.p + data + 4 * i);
    n = (int)len;
  }
  if (sv < 0) {
    /* Dynamic batch: a constant shape that carries the file's batch in front. */
    const fr__shape *xs = op_in_shape(c, op, 0);
    if (c->file_batch > 1 && n >= 1 && shp[0] == c->file_batch && xs && xs->rank >= 1 &&
        xs->d[0] == c->file_batch) {
      bool other = false;
      for (int i = 1; i < n; i++) other |= shp[i] < 0;
      if (!other) shp[0] = -1;
    }
    const char *base = st_idx >= 0 ? c->t[st_idx].name : c->op_out;
    TRY(new_i64_const(c, base, st_idx >= 0 ? NULL : "/shape", shp, n, &sv));
  }
  int in[2] = {x, sv};
  fr__attrs *a;
  TRY(emit(c, FR__OP_RESHAPE, c->op_out, in, 2, &out, 1, &a));
  a->reshape.allowzero = true;
  return FR_OK;
}

static fr_status softmax_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_SOFTMAX));
  float beta;
  TRY(opt_float(c, op, 0, op->has_opt ? 0.0f : 1.0f, &beta));
  if (!isfinite(beta)) return op_fail(c, FR_ERR_FORMAT, "beta is not finite");
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  if (beta != 1.0f) {
    int bv, scaled;
    TRY(new_f32_scalar(c, c->op_out, "/beta", beta, &bv));
    TRY(new_value(c, c->op_out, "/scaled", FR__F32, &scaled));
    int in[2] = {x, bv};
    TRY(emit(c, FR__OP_MUL, c->g->values[scaled].name, in, 2, &scaled, 1, NULL));
    x = scaled;
  }
  fr__attrs *a;
  TRY(emit(c, FR__OP_SOFTMAX, c->op_out, &x, 1, &out, 1, &a));
  a->axis.axis = -1;
  return FR_OK;
}

static fr_status concat_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_CONCAT));
  int32_t axis;
  int act;
  TRY(opt_int(c, op, 0, 0, &axis));
  TRY(opt_byte(c, op, 1, 0, &act));
  TRY(check_act(c, act));
  if (axis < -FR__MAX_DIMS || axis >= FR__MAX_DIMS)
    return op_fail(c, FR_ERR_FORMAT, "axis %d out of range", (int)axis);
  if (op->n_in < 1) return op_fail(c, FR_ERR_FORMAT, "no inputs");
  int *in = fr__arena_alloc(&c->g->arena, sizeof(int) * (size_t)op->n_in);
  if (!in) return fail(c, FR_ERR_NOMEM, "out of memory");
  for (int i = 0; i < op->n_in; i++) TRY(op_in(c, op, i, true, &in[i]));
  int out, main_out;
  TRY(op_out(c, op, 0, &out));
  bool sep = act != ACT_NONE;
  TRY(pre_act_value(c, sep, out, &main_out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_CONCAT, c->op_out, in, op->n_in, &main_out, 1, &a));
  a->axis.axis = axis;
  return finish_act(c, sep, act, main_out, out);
}

static fr_status reduce_op(tfl_ctx *c, const tfl_op *op, fr__op irop) {
  TRY(check_opt_type(c, op, OPT_REDUCER));
  int keep;
  TRY(opt_byte(c, op, 0, 0, &keep));
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  if (op->n_in < 2) return op_fail(c, FR_ERR_FORMAT, "axes input is missing");
  int64_t axes[FR__MAX_DIMS];
  int n;
  TRY(const_ints(c, op->in[1], "axes", axes, FR__MAX_DIMS, &n));
  if (n == 0) {
    /* TFLite: an empty axis list reduces nothing */
    return emit(c, FR__OP_IDENTITY, c->op_out, &x, 1, &out, 1, NULL);
  }
  fr__attrs *a;
  TRY(emit(c, irop, c->op_out, &x, 1, &out, 1, &a));
  a->reduce.n_axes = n;
  for (int i = 0; i < n; i++) {
    if (axes[i] < -FR__MAX_DIMS || axes[i] >= FR__MAX_DIMS)
      return op_fail(c, FR_ERR_FORMAT, "axis %" PRId64 " out of range", axes[i]);
    a->reduce.axes[i] = (int)axes[i];
  }
  a->reduce.keepdims = keep != 0;
  return FR_OK;
}

static fr_status strided_slice_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_STRIDED_SLICE));
  int32_t bm, em, elm, nam, sm;
  int offset = 0;
  TRY(opt_int(c, op, 0, 0, &bm));
  TRY(opt_int(c, op, 1, 0, &em));
  TRY(opt_int(c, op, 2, 0, &elm));
  TRY(opt_int(c, op, 3, 0, &nam));
  TRY(opt_int(c, op, 4, 0, &sm));
  if (op->has_opt && !fb_u8(&c->b, &op->opt, 5, 0, &offset))
    return op_fail(c, FR_ERR_FORMAT, "malformed options");
  if (elm || nam || offset)
    return op_fail(c, FR_ERR_UNSUPPORTED, "ellipsis_mask / new_axis_mask / offset are not supported");
  if (op->n_in < 4) return op_fail(c, FR_ERR_FORMAT, "expected 4 inputs");
  int64_t b[FR__MAX_DIMS], e[FR__MAX_DIMS], s[FR__MAX_DIMS];
  int nb, ne, ns;
  TRY(const_ints(c, op->in[1], "begin", b, FR__MAX_DIMS, &nb));
  TRY(const_ints(c, op->in[2], "end", e, FR__MAX_DIMS, &ne));
  TRY(const_ints(c, op->in[3], "strides", s, FR__MAX_DIMS, &ns));
  if (nb != ne || nb != ns) return op_fail(c, FR_ERR_FORMAT, "begin/end/strides lengths differ");
  for (int i = 0; i < ns; i++)
    if (s[i] == 0) return op_fail(c, FR_ERR_FORMAT, "stride 0");
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_SLICE, c->op_out, &x, 1, &out, 1, &a));
  uint32_t mask = nb >= 32 ? 0xffffffffu : ((1u << nb) - 1);
  a->slice.n = nb;
  for (int i = 0; i < nb; i++) {
    a->slice.axes[i] = i;
    a->slice.starts[i] = b[i];
    a->slice.ends[i] = e[i];
    a->slice.steps[i] = s[i];
  }
  a->slice.begin_mask = (uint32_t)bm & mask;
  a->slice.end_mask = (uint32_t)em & mask;
  a->slice.shrink_mask = (uint32_t)sm & mask;
  return FR_OK;
}

static fr_status slice_op(tfl_ctx *c, const tfl_op *op) {
  if (op->n_in < 3) return op_fail(c, FR_ERR_FORMAT, "expected 3 inputs");
  int64_t b[FR__MAX_DIMS], sz[FR__MAX_DIMS];
  int nb, ns;
  TRY(const_ints(c, op->in[1], "begin", b, FR__MAX_DIMS, &nb));
  TRY(const_ints(c, op->in[2], "size", sz, FR__MAX_DIMS, &ns));
  if (nb != ns) return op_fail(c, FR_ERR_FORMAT, "begin/size lengths differ");
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_SLICE, c->op_out, &x, 1, &out, 1, &a));
  a->slice.n = nb;
  for (int i = 0; i < nb; i++) {
    if (b[i] < 0 || b[i] > FR__MAX_TENSOR_ELEMS || sz[i] < -1 || sz[i] > FR__MAX_TENSOR_ELEMS)
      return op_fail(c, FR_ERR_FORMAT, "begin/size out of range");
    a->slice.axes[i] = i;
    a->slice.starts[i] = b[i];
    a->slice.steps[i] = 1;
    if (sz[i] == -1) {
      a->slice.ends[i] = 0;
      a->slice.end_mask |= 1u << i;
    } else {
      a->slice.ends[i] = b[i] + sz[i];
    }
  }
  return FR_OK;
}

static fr_status pad_op(tfl_ctx *c, const tfl_op *op, bool v2, bool mirror) {
  float value = 0.0f;
  fr__pad_kind kind = FR__PADK_CONSTANT;
  if (mirror) {
    TRY(check_opt_type(c, op, OPT_MIRROR_PAD));
    int mode;
    TRY(opt_byte(c, op, 0, 0, &mode));
    if (mode != 0) return op_fail(c, FR_ERR_UNSUPPORTED, "MIRROR_PAD mode SYMMETRIC is not supported");
    kind = FR__PADK_REFLECT;
  }
  if (v2 && op->n_in >= 3 && op->in[2] >= 0) TRY(const_scalar_f32(c, op->in[2], "pad value", &value));
  if (op->n_in < 2) return op_fail(c, FR_ERR_FORMAT, "paddings input is missing");
  int64_t p[2 * FR__MAX_DIMS];
  int n;
  TRY(const_ints(c, op->in[1], "paddings", p, 2 * FR__MAX_DIMS, &n));
  if (n % 2) return op_fail(c, FR_ERR_FORMAT, "paddings must be [rank, 2]");
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_PAD, c->op_out, &x, 1, &out, 1, &a));
  a->pad.n = n / 2;
  for (int i = 0; i < n / 2; i++) {
    if (p[2 * i] < 0 || p[2 * i + 1] < 0 || p[2 * i] > FR__MAX_TENSOR_ELEMS ||
        p[2 * i + 1] > FR__MAX_TENSOR_ELEMS)
      return op_fail(c, FR_ERR_FORMAT, "negative or huge padding");
    a->pad.begin[i] = p[2 * i];
    a->pad.end[i] = p[2 * i + 1];
  }
  a->pad.value = value;
  a->pad.kind = kind;
  return FR_OK;
}

static fr_status transpose_op(tfl_ctx *c, const tfl_op *op) {
  if (op->n_in < 2) return op_fail(c, FR_ERR_FORMAT, "perm input is missing");
  int64_t p[FR__MAX_DIMS];
  int n;
  TRY(const_ints(c, op->in[1], "perm", p, FR__MAX_DIMS, &n));
  unsigned seen = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < 0 || p[i] >= n || (seen & (1u << p[i])))
      return op_fail(c, FR_ERR_FORMAT, "perm is not a permutation");
    seen |= 1u << p[i];
  }
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_TRANSPOSE, c->op_out, &x, 1, &out, 1, &a));
  a->transpose.n = n;
  for (int i = 0; i < n; i++) a->transpose.perm[i] = (int)p[i];
  if (n == 0) {
    /* rank-0 transpose is the identity, but n = 0 means "reverse" in the IR */
    c->g->nodes[c->g->n_nodes - 1].op = FR__OP_IDENTITY;
  }
  return FR_OK;
}

static fr_status cast_op(tfl_ctx *c, const tfl_op *op) {
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__dtype from = c->g->values[x].dtype, to = c->g->values[out].dtype;
  int32_t ti = op->in[0], to_t = op->out[0]; /* both valid: checked by op_in / op_out */
  if (c->t[to_t].type == TT_BOOL && c->t[ti].type != TT_BOOL)
    return op_fail(c, FR_ERR_UNSUPPORTED, "CAST from %s to BOOL is not supported",
                   type_name(c->t[ti].type));
  if (from == to) return emit(c, FR__OP_IDENTITY, c->op_out, &x, 1, &out, 1, NULL);
  fr__attrs *a;
  TRY(emit(c, FR__OP_CAST, c->op_out, &x, 1, &out, 1, &a));
  a->cast.to = to;
  return FR_OK;
}

static fr_status gather_op(tfl_ctx *c, const tfl_op *op) {
  TRY(check_opt_type(c, op, OPT_GATHER));
  int32_t axis, bd;
  TRY(opt_int(c, op, 0, 0, &axis));
  TRY(opt_int(c, op, 1, 0, &bd));
  if (bd != 0) return op_fail(c, FR_ERR_UNSUPPORTED, "batch_dims %d is not supported", (int)bd);
  int x, idx, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_in(c, op, 1, true, &idx));
  TRY(op_out(c, op, 0, &out));
  int in[2] = {x, idx};
  fr__attrs *a;
  TRY(emit(c, FR__OP_GATHER, c->op_out, in, 2, &out, 1, &a));
  a->axis.axis = axis;
  return FR_OK;
}

static fr_status resize_op(tfl_ctx *c, const tfl_op *op, bool nearest) {
  TRY(check_opt_type(c, op, nearest ? OPT_RESIZE_NN : OPT_RESIZE_BILINEAR));
  int ac = 0, hp = 0;
  if (op->has_opt) {
    int fa = nearest ? 0 : 2;
    if (!fb_u8(&c->b, &op->opt, fa, 0, &ac) || !fb_u8(&c->b, &op->opt, fa + 1, 0, &hp))
      return op_fail(c, FR_ERR_FORMAT, "malformed options");
  }
  if (op->n_in < 2) return op_fail(c, FR_ERR_FORMAT, "size input is missing");
  int64_t sz[2];
  int n;
  TRY(const_ints(c, op->in[1], "size", sz, 2, &n));
  if (n != 2 || sz[0] < 1 || sz[1] < 1 || sz[0] > (1 << 20) || sz[1] > (1 << 20))
    return op_fail(c, FR_ERR_FORMAT, "size must hold 2 positive values");
  int x, out;
  TRY(op_in(c, op, 0, true, &x));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_RESIZE, c->op_out, &x, 1, &out, 1, &a));
  a->resize.nearest = nearest;
  a->resize.coord = ac ? FR__RC_ALIGN_CORNERS : hp ? FR__RC_HALF_PIXEL : FR__RC_ASYMMETRIC;
  a->resize.out_h = (int)sz[0];
  a->resize.out_w = (int)sz[1];
  return FR_OK;
}

static fr_status split_op(tfl_ctx *c, const tfl_op *op, bool v) {
  /* SPLIT: (axis, x); SPLIT_V: (x, size_splits, axis) */
  if (op->n_in < (v ? 3 : 2)) return op_fail(c, FR_ERR_FORMAT, "missing inputs");
  int64_t ax;
  int n;
  TRY(const_ints(c, op->in[v ? 2 : 0], "axis", &ax, 1, &n));
  if (n != 1 || ax < -FR__MAX_DIMS || ax >= FR__MAX_DIMS)
    return op_fail(c, FR_ERR_FORMAT, "axis must be a scalar in range");
  if (op->n_out < 1) return op_fail(c, FR_ERR_FORMAT, "no outputs");
  int64_t *sizes = NULL;
  if (v) {
    sizes = fr__arena_alloc(&c->g->arena, sizeof(int64_t) * (size_t)op->n_out);
    if (!sizes) return fail(c, FR_ERR_NOMEM, "out of memory");
    int ns;
    TRY(const_ints(c, op->in[1], "size_splits", sizes, op->n_out, &ns));
    if (ns != op->n_out) return op_fail(c, FR_ERR_FORMAT, "size_splits length != outputs");
    for (int i = 0; i < ns; i++)
      if (sizes[i] < -1 || sizes[i] > FR__MAX_TENSOR_ELEMS)
        return op_fail(c, FR_ERR_FORMAT, "bad split size");
    for (int i = 0; i < ns; i++)
      if (sizes[i] < 0) return op_fail(c, FR_ERR_UNSUPPORTED, "inferred (-1) split sizes are not supported");
  }
  int x;
  TRY(op_in(c, op, v ? 0 : 1, true, &x));
  int *outs = fr__arena_alloc(&c->g->arena, sizeof(int) * (size_t)op->n_out);
  if (!outs) return fail(c, FR_ERR_NOMEM, "out of memory");
  for (int i = 0; i < op->n_out; i++) TRY(op_out(c, op, i, &outs[i]));
  fr__attrs *a;
  TRY(emit(c, FR__OP_SPLIT, c->op_out, &x, 1, outs, op->n_out, &a));
  a->split.axis = (int)ax;
  a->split.n = op->n_out;
  a->split.sizes = sizes;
  return FR_OK;
}

static fr_status select_op(tfl_ctx *c, const tfl_op *op) {
  int in[3], out;
  for (int i = 0; i < 3; i++) TRY(op_in(c, op, i, true, &in[i]));
  TRY(op_out(c, op, 0, &out));
  return emit(c, FR__OP_SELECT, c->op_out, in, 3, &out, 1, NULL);
}

static fr_status batch_matmul_op(tfl_ctx *c, const tfl_op *op) {
  int adj_x = 0, adj_y = 0;
  if (op->has_opt && (!fb_u8(&c->b, &op->opt, 0, 0, &adj_x) || !fb_u8(&c->b, &op->opt, 1, 0, &adj_y)))
    return op_fail(c, FR_ERR_FORMAT, "malformed options");
  int in[2], out;
  TRY(op_in(c, op, 0, true, &in[0]));
  TRY(op_in(c, op, 1, true, &in[1]));
  TRY(op_out(c, op, 0, &out));
  fr__attrs *a;
  TRY(emit(c, FR__OP_MATMUL, c->op_out, in, 2, &out, 1, &a));
  a->matmul.transpose_a = adj_x != 0;
  a->matmul.transpose_b = adj_y != 0;
  return FR_OK;
}

static fr_status d2s_op(tfl_ctx *c, const tfl_op *op) {
  int32_t block;
  TRY(opt_int(c, op, 0, 0, &block));
  TRY(check_pos(c, "block_size", block, 1 << 12));
  fr__attrs *a;
  TRY(unary_op(c, op, FR__OP_DEPTH_TO_SPACE, &a));
  a->d2s.block = block;
  return FR_OK;
}

static fr_status dequantize_op(tfl_ctx *c, const tfl_op *op) {
  /* Constant inputs were folded in pass 1; this is a runtime float16/float32 tensor. */
  if (op->n_in >= 1 && op->in[0] >= 0 && op->in[0] < c->n_t) {
    int ty = c->t[op->in[0]].type;
    if (ty != TT_FLOAT16 && ty != TT_FLOAT32)
      return op_fail(c, FR_ERR_UNSUPPORTED, "DEQUANTIZE of %s tensors is not supported (quantized model)",
                     type_name(ty));
  }
  return unary_op(c, op, FR__OP_IDENTITY, NULL);
}

static fr_status convert_op(tfl_ctx *c, const tfl_op *op) {
  fr__attrs *a;
  switch (op->code) {
    case OP_CONV_2D: return conv_op(c, op, false);
    case OP_DEPTHWISE_CONV_2D: return conv_op(c, op, true);
    case OP_FULLY_CONNECTED: return fc_op(c, op);
    case OP_MAX_POOL_2D: return pool_op(c, op, FR__OP_MAXPOOL2D);
    case OP_AVERAGE_POOL_2D: return pool_op(c, op, FR__OP_AVGPOOL2D);
    case OP_ADD: return binary_op(c, op, FR__OP_ADD, OPT_ADD);
    case OP_SUB: return binary_op(c, op, FR__OP_SUB, OPT_SUB);
    case OP_MUL: return binary_op(c, op, FR__OP_MUL, OPT_MUL);
    case OP_DIV: return binary_op(c, op, FR__OP_DIV, OPT_DIV);
    case OP_MAXIMUM: return binary_op(c, op, FR__OP_MAXIMUM, 0);
    case OP_MINIMUM: return binary_op(c, op, FR__OP_MINIMUM, 0);
    case OP_POW: return binary_op(c, op, FR__OP_POW, 0);
    case OP_SQUARED_DIFFERENCE: return binary_op(c, op, FR__OP_SQUARED_DIFF, 0);
    case OP_LESS: return binary_op(c, op, FR__OP_LESS, 0);
    case OP_LESS_EQUAL: return binary_op(c, op, FR__OP_LESS_EQUAL, 0);
    case OP_GREATER: return binary_op(c, op, FR__OP_GREATER, 0);
    case OP_GREATER_EQUAL: return binary_op(c, op, FR__OP_GREATER_EQUAL, 0);
    case OP_EQUAL: return binary_op(c, op, FR__OP_EQUAL, 0);
    case OP_PRELU: return binary_op(c, op, FR__OP_PRELU, 0);
    case OP_RELU: return unary_op(c, op, FR__OP_RELU, NULL);
    case OP_RELU6:
    case OP_RELU_N1_TO_1:
      TRY(unary_op(c, op, FR__OP_CLIP, &a));
      a->clip.min = op->code == OP_RELU6 ? 0.0f : -1.0f;
      a->clip.max = op->code == OP_RELU6 ? 6.0f : 1.0f;
      return FR_OK;
    case OP_LEAKY_RELU: {
      TRY(check_opt_type(c, op, OPT_LEAKY_RELU));
      float alpha;
      TRY(opt_float(c, op, 0, 0.0f, &alpha));
      TRY(unary_op(c, op, FR__OP_LEAKY_RELU, &a));
      a->clip.alpha = alpha;
      return FR_OK;
    }
    case OP_LOGISTIC: return unary_op(c, op, FR__OP_SIGMOID, NULL);
    case OP_TANH: return unary_op(c, op, FR__OP_TANH, NULL);
    case OP_EXP: return unary_op(c, op, FR__OP_EXP, NULL);
    case OP_LOG: return unary_op(c, op, FR__OP_LOG, NULL);
    case OP_NEG: return unary_op(c, op, FR__OP_NEG, NULL);
    case OP_ABS: return unary_op(c, op, FR__OP_ABS, NULL);
    case OP_SQRT: return unary_op(c, op, FR__OP_SQRT, NULL);
    case OP_RSQRT: return unary_op(c, op, FR__OP_RSQRT, NULL);
    case OP_SQUARE: return unary_op(c, op, FR__OP_SQUARE, NULL);
    case OP_FLOOR: return unary_op(c, op, FR__OP_FLOOR, NULL);
    case OP_CEIL: return unary_op(c, op, FR__OP_CEIL, NULL);
    case OP_SHAPE: return unary_op(c, op, FR__OP_SHAPE, NULL);
    case OP_RESHAPE: return reshape_op(c, op);
    case OP_SOFTMAX: return softmax_op(c, op);
    case OP_CONCATENATION: return concat_op(c, op);
    case OP_MEAN: return reduce_op(c, op, FR__OP_REDUCE_MEAN);
    case OP_SUM: return reduce_op(c, op, FR__OP_REDUCE_SUM);
    case OP_REDUCE_MAX: return reduce_op(c, op, FR__OP_REDUCE_MAX);
    case OP_REDUCE_MIN: return reduce_op(c, op, FR__OP_REDUCE_MIN);
    case OP_STRIDED_SLICE: return strided_slice_op(c, op);
    case OP_SLICE: return slice_op(c, op);
    case OP_PAD: return pad_op(c, op, false, false);
    case OP_PADV2: return pad_op(c, op, true, false);
    case OP_MIRROR_PAD: return pad_op(c, op, false, true);
    case OP_TRANSPOSE: return transpose_op(c, op);
    case OP_CAST: return cast_op(c, op);
    case OP_GATHER: return gather_op(c, op);
    case OP_RESIZE_BILINEAR: return resize_op(c, op, false);
    case OP_RESIZE_NEAREST_NEIGHBOR: return resize_op(c, op, true);
    case OP_SPLIT: return split_op(c, op, false);
    case OP_SPLIT_V: return split_op(c, op, true);
    case OP_SELECT:
    case OP_SELECT_V2: return select_op(c, op);
    case OP_BATCH_MATMUL: return batch_matmul_op(c, op);
    case OP_DEPTH_TO_SPACE: return d2s_op(c, op);
    case OP_DEQUANTIZE: return dequantize_op(c, op);
    default: return op_fail(c, FR_ERR_UNSUPPORTED, "operator is not supported");
  }
}

/* ---- model parsing ---- */

/* Reads an int32 vector field into arena memory. */
static fr_status read_i32_vec(tfl_ctx *c, const fb_table *t, int field, int max, const char *what,
                              int32_t **out, int *n) {
  uint64_t data;
  uint32_t len;
  if (fb_vec(&c->b, t, field, 4, &data, &len) < 0) return MALFORMED(c, what);
  if (len > (uint32_t)max) return fail(c, FR_ERR_TOO_LARGE, "%s: %u entries (max %d)", what, len, max);
  int32_t *v = fr__arena_alloc(&c->g->arena, sizeof(int32_t) * ((size_t)len + 1));
  if (!v) return fail(c, FR_ERR_NOMEM, "out of memory");
  for (uint32_t i = 0; i < len; i++) v[i] = (int32_t)rd_u32(c->b.p + data + 4 * (uint64_t)i);
  *out = v;
  *n = (int)len;
  return FR_OK;
}

static fr_status read_shape(tfl_ctx *c, const fb_table *t, int field, const char *tname, bool *has,
                            fr__shape *s) {
  uint64_t data;
  uint32_t len;
  int r = fb_vec(&c->b, t, field, 4, &data, &len);
  if (r < 0) return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: shape of tensor '%s'", tname);
  memset(s, 0, sizeof *s);
  *has = r == 1;
  if (len > FR__MAX_DIMS)
    return fail(c, FR_ERR_UNSUPPORTED, "tensor '%s' has rank %u (max %d)", tname, len, FR__MAX_DIMS);
  s->rank = (int)len;
  for (uint32_t i = 0; i < len; i++) {
    int32_t d = (int32_t)rd_u32(c->b.p + data + 4 * i);
    s->d[i] = d < 0 ? -1 : d;
  }
  return FR_OK;
}

static fr_status read_tensors(tfl_ctx *c, const fb_table *sg) {
  uint64_t data;
  uint32_t len;
  if (fb_vec(&c->b, sg, 0, 4, &data, &len) < 0) return MALFORMED(c, "subgraph tensors");
  if (len > FR__MAX_VALUES) return fail(c, FR_ERR_TOO_LARGE, "%u tensors (max %d)", len, FR__MAX_VALUES);
  c->n_t = (int)len;
  c->t = fr__arena_alloc(&c->g->arena, sizeof(tfl_tensor) * ((size_t)len + 1));
  if (!c->t) return fail(c, FR_ERR_NOMEM, "out of memory");
  for (uint32_t k = 0; k < len; k++) {
    tfl_tensor *t = &c->t[k];
    t->value = -1;
    t->fold_src = -1;
    fb_table tt;
    if (!fb_vec_table(&c->b, data, k, &tt)) return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: tensor %u", k);
    uint64_t sd;
    uint32_t sl;
    if (fb_vec(&c->b, &tt, 3, 1, &sd, &sl) < 0)
      return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: name of tensor %u", k);
    size_t nl = sl > TFL_MAX_NAME ? TFL_MAX_NAME : sl;
    t->name = fr__arena_strndup(&c->g->arena, sl ? (const char *)c->b.p + sd : "", sl ? nl : 0);
    if (!t->name) return fail(c, FR_ERR_NOMEM, "out of memory");
    int type;
    uint32_t buf;
    if (!fb_i8(&c->b, &tt, 1, TT_FLOAT32, &type) || !fb_u32(&c->b, &tt, 2, 0, &buf))
      return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: tensor '%s'", t->name);
    t->type = type;
    TRY(read_shape(c, &tt, 0, t->name, &t->has_shape, &t->shape));
    TRY(read_shape(c, &tt, 7, t->name, &t->has_sig, &t->sig));
    int is_var;
    uint64_t sp;
    if (!fb_u8(&c->b, &tt, 5, 0, &is_var)) return fail(c, FR_ERR_FORMAT, "malformed tensor '%s'", t->name);
    if (is_var) return fail(c, FR_ERR_UNSUPPORTED, "tensor '%s' is a variable (stateful models are not supported)", t->name);
    int r = fb_ref(&c->b, &tt, 6, &sp);
    if (r < 0) return fail(c, FR_ERR_FORMAT, "malformed tensor '%s'", t->name);
    if (r > 0) return fail(c, FR_ERR_UNSUPPORTED, "tensor '%s' is sparse, not supported", t->name);
    /* buffer 0 is the empty sentinel */
    if (buf != 0) {
      if (buf >= c->n_bufs)
        return fail(c, FR_ERR_FORMAT, "tensor '%s' refers to buffer %u of %u", t->name, buf, c->n_bufs);
      fb_table bt;
      if (!fb_vec_table(&c->b, c->bufs, buf, &bt))
        return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: buffer %u", buf);
      uint64_t bd, off, size;
      uint32_t bl;
      if (fb_vec(&c->b, &bt, 0, 1, &bd, &bl) < 0 || !fb_u64(&c->b, &bt, 1, 0, &off) ||
          !fb_u64(&c->b, &bt, 2, 0, &size))
        return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: buffer %u", buf);
      if (bl > 0) {
        t->has_data = true;
        t->data = c->b.p + bd;
        t->nbytes = bl;
      } else if (off > 1) {
        /* large models: data stored after the FlatBuffer, offset from the file start */
        if (!fb_has(&c->b, off, size))
          return fail(c, FR_ERR_FORMAT, "tensor '%s': buffer %u (offset %" PRIu64 ", size %" PRIu64
                      ") lies outside the file", t->name, buf, off, size);
        t->has_data = true;
        t->data = c->b.p + off;
        t->nbytes = size;
      }
    }
  }
  return FR_OK;
}

/* Reads operator k of the subgraph into *op (arrays in the arena). */
static fr_status read_op(tfl_ctx *c, uint64_t ops, uint32_t k, const int *codes,
                         const char *const *customs, int n_codes, tfl_op *op) {
  fb_table ot;
  memset(op, 0, sizeof *op);
  if (!fb_vec_table(&c->b, ops, k, &ot)) return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: operator #%u", k);
  uint32_t oi;
  if (!fb_u32(&c->b, &ot, 0, 0, &oi)) return fail(c, FR_ERR_FORMAT, "malformed operator #%u", k);
  if (oi >= (uint32_t)n_codes)
    return fail(c, FR_ERR_FORMAT, "operator #%u: opcode_index %u out of range (%d codes)", k, oi, n_codes);
  op->code = codes[oi];
  op->custom = customs[oi];
  TRY(read_i32_vec(c, &ot, 1, TFL_MAX_OP_IO, "operator inputs", &op->in, &op->n_in));
  TRY(read_i32_vec(c, &ot, 2, TFL_MAX_OP_IO, "operator outputs", &op->out, &op->n_out));
  int ot_type;
  if (!fb_u8(&c->b, &ot, 3, 0, &ot_type)) return fail(c, FR_ERR_FORMAT, "malformed operator #%u", k);
  op->opt_type = ot_type;
  uint64_t optpos;
  int r = fb_ref(&c->b, &ot, 4, &optpos);
  if (r < 0) return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: options of operator #%u", k);
  if (r > 0 && ot_type != 0) {
    if (!fb_open(&c->b, optpos, &op->opt))
      return fail(c, FR_ERR_FORMAT, "malformed FlatBuffer: options of operator #%u", k);
    op->has_opt = true;
  }
  return FR_OK;
}

static fr_status load(tfl_ctx *c) {
  const fb_buf *b = &c->b;
  if (b->n < 8) return fail(c, FR_ERR_FORMAT, "file too short (%" PRIu64 " bytes) for a TFLite model", b->n);
  if (memcmp(b->p + 4, "TFL3", 4) != 0)
    return fail(c, FR_ERR_FORMAT, "not a TFLite model (identifier is not \"TFL3\")");
  fb_table model;
  if (!fb_open(b, rd_u32(b->p), &model)) return MALFORMED(c, "root table");
  uint32_t version;
  if (!fb_u32(b, &model, 0, 0, &version)) return MALFORMED(c, "model version");
  if (version != 3) return fail(c, FR_ERR_UNSUPPORTED, "schema version %u (expected 3)", version);

  /* operator codes */
  uint64_t ocd;
  uint32_t n_oc;
  if (fb_vec(b, &model, 1, 4, &ocd, &n_oc) < 0) return MALFORMED(c, "operator_codes");
  if (n_oc > 100000) return fail(c, FR_ERR_TOO_LARGE, "%u operator codes", n_oc);
  int *codes = fr__arena_alloc(&c->g->arena, sizeof(int) * ((size_t)n_oc + 1));
  const char **customs = fr__arena_alloc(&c->g->arena, sizeof(char *) * ((size_t)n_oc + 1));
  if (!codes || !customs) return fail(c, FR_ERR_NOMEM, "out of memory");
  for (uint32_t i = 0; i < n_oc; i++) {
    fb_table oc;
    if (!fb_vec_table(b, ocd, i, &oc)) return MALFORMED(c, "operator code");
    int dep;
    int32_t bc;
    if (!fb_i8(b, &oc, 0, 0, &dep) || !fb_i32(b, &oc, 3, 0, &bc)) return MALFORMED(c, "operator code");
    codes[i] = dep > bc ? dep : bc;
    uint64_t sd;
    uint32_t sl;
    if (fb_vec(b, &oc, 1, 1, &sd, &sl) < 0) return MALFORMED(c, "custom_code");
    customs[i] = NULL;
    if (codes[i] == 32) {
      customs[i] = fr__arena_strndup(&c->g->arena, sl ? (const char *)b->p + sd : "?",
                                     sl ? (sl > 256 ? 256 : sl) : 1);
      if (!customs[i]) return fail(c, FR_ERR_NOMEM, "out of memory");
    }
  }

  if (fb_vec(b, &model, 4, 4, &c->bufs, &c->n_bufs) < 0) return MALFORMED(c, "buffers");

  uint64_t sgd;
  uint32_t n_sg;
  if (fb_vec(b, &model, 2, 4, &sgd, &n_sg) < 0) return MALFORMED(c, "subgraphs");
  if (n_sg < 1) return fail(c, FR_ERR_FORMAT, "the model has no subgraph");
  fb_table sg;
  if (!fb_vec_table(b, sgd, 0, &sg)) return MALFORMED(c, "subgraph 0");

  TRY(read_tensors(c, &sg));

  int32_t *ins, *outs;
  int n_in, n_out;
  TRY(read_i32_vec(c, &sg, 1, 1024, "subgraph inputs", &ins, &n_in));
  TRY(read_i32_vec(c, &sg, 2, 1024, "subgraph outputs", &outs, &n_out));

  uint64_t ops;
  uint32_t n_ops;
  if (fb_vec(b, &sg, 3, 4, &ops, &n_ops) < 0) return MALFORMED(c, "operators");
  if (n_ops > FR__MAX_NODES) return fail(c, FR_ERR_TOO_LARGE, "%u operators (max %d)", n_ops, FR__MAX_NODES);

  /* Pass 1: fold DEQUANTIZE of constants. */
  for (uint32_t k = 0; k < n_ops; k++) {
    tfl_op op;
    TRY(read_op(c, ops, k, codes, customs, (int)n_oc, &op));
    if (op.code != OP_DEQUANTIZE || op.n_in < 1 || op.n_out < 1) continue;
    int32_t s = op.in[0], d = op.out[0];
    if (s < 0 || s >= c->n_t || d < 0 || d >= c->n_t || s == d) continue;
    if (!c->t[s].has_data || c->t[d].has_data || c->t[d].fold_src >= 0) continue;
    if (c->t[s].type != TT_FLOAT16 && c->t[s].type != TT_FLOAT32) continue; /* rejected in pass 2 */
    c->t[d].fold_src = s;
  }

  /* Graph inputs, with dynamic H/W (and batch when the file's is > 1). */
  int *gin = fr__arena_alloc(&c->g->arena, sizeof(int) * ((size_t)n_in + 1));
  int *gout = fr__arena_alloc(&c->g->arena, sizeof(int) * ((size_t)n_out + 1));
  if (!gin || !gout) return fail(c, FR_ERR_NOMEM, "out of memory");
  int n_gin = 0;
  for (int i = 0; i < n_in; i++) {
    int32_t k = ins[i];
    if (k < 0 || k >= c->n_t) return fail(c, FR_ERR_FORMAT, "graph input %d: tensor index %d out of range", i, (int)k);
    tfl_tensor *t = &c->t[k];
    if (t->has_data || t->fold_src >= 0) continue; /* constant listed as input: keep it a constant */
    if (t->value >= 0) return fail(c, FR_ERR_FORMAT, "tensor '%s' is listed twice as a graph input", t->name);
    fr__dtype dt;
    if (!ir_dtype(t->type, &dt) || t->type == TT_BOOL)
      return fail(c, FR_ERR_UNSUPPORTED, "graph input '%s' has type %s", t->name, type_name(t->type));
    fr__shape s = t->shape;
    if (t->has_sig && t->sig.rank == s.rank)
      for (int d = 0; d < s.rank; d++)
        if (t->sig.d[d] < 0) s.d[d] = -1;
    if (s.rank == 4 && dt == FR__F32) {
      s.d[1] = s.d[2] = -1;
      if (t->shape.d[0] > 1) {
        c->file_batch = t->shape.d[0];
        s.d[0] = -1;
      }
    }
    const char *nm = unique_name(c, t->name, NULL);
    if (!nm) return fail(c, FR_ERR_NOMEM, "out of memory");
    TRY(fr__graph_add_value(c->g, nm, dt, &s, &t->value, c->err));
    gin[n_gin++] = t->value;
  }

  /* Pass 2: operators. */
  char codebuf[32];
  for (uint32_t k = 0; k < n_ops; k++) {
    tfl_op op;
    TRY(read_op(c, ops, k, codes, customs, (int)n_oc, &op));
    c->op_index = (int)k;
    c->op_name = op.custom ? op.custom : op_code_name(op.code, codebuf, sizeof codebuf);
    c->op_out = "";
    if (op.n_out >= 1 && op.out[0] >= 0 && op.out[0] < c->n_t) c->op_out = c->t[op.out[0]].name;
    if (op.custom) {
      return op_fail(c, FR_ERR_UNSUPPORTED, "custom operator '%s' is not supported", op.custom);
    }
    if (op.code == OP_DEQUANTIZE && op.n_in >= 1 && op.n_out >= 1 && op.out[0] >= 0 &&
        op.out[0] < c->n_t && c->t[op.out[0]].fold_src == op.in[0])
      continue; /* folded at load */
    TRY(convert_op(c, &op));
  }
  c->op_name = NULL;

  for (int i = 0; i < n_out; i++) {
    int32_t k = outs[i];
    if (k < 0 || k >= c->n_t) return fail(c, FR_ERR_FORMAT, "graph output %d: tensor index %d out of range", i, (int)k);
    c->op_index = -1;
    c->op_name = "output";
    c->op_out = c->t[k].name;
    TRY(tensor_value(c, k, &gout[i]));
  }
  /* H and W stay dynamic only for fully convolutional graphs (pnet); a model with
   * a dense layer or a reshape needs exactly its file's size, so declare that. */
  bool fixed_hw = false;
  for (int i = 0; i < c->g->n_nodes; i++) {
    fr__op o = c->g->nodes[i].op;
    fixed_hw |= o == FR__OP_FULLY_CONNECTED || o == FR__OP_RESHAPE || o == FR__OP_MATMUL;
  }
  for (int i = 0; fixed_hw && i < n_in; i++) {
    int32_t k = ins[i];
    tfl_tensor *t = &c->t[k];
    if (t->value < 0 || t->shape.rank != 4) continue;
    fr__value *v = &c->g->values[t->value];
    if (v->dtype != FR__F32 || v->data) continue;
    v->shape.d[1] = t->shape.d[1];
    v->shape.d[2] = t->shape.d[2];
  }
  TRY(fr__graph_set_io(c->g, gin, n_gin, gout, n_out, c->err));
  return fr__graph_finalize(c->g, c->err);
}

fr_status fr__tflite_load_buffer(const void *data, size_t size, fr__graph *g, fr_error *err) {
  tfl_ctx c;
  memset(&c, 0, sizeof c);
  c.b.p = data;
  c.b.n = size;
  c.g = g;
  c.err = err;
  c.src = g->source ? g->source : "<tflite>";
  if (!data && size) return fail(&c, FR_ERR_INVALID_ARG, "no data");
  fr_status st = load(&c);
  free(c.name_buf);
  return st;
}

fr_status fr__tflite_load(const char *path, fr__graph *g, fr_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return fr_error_set(err, errno == ENOENT ? FR_ERR_NOT_FOUND : FR_ERR_IO, "%s: cannot open: %s",
                        path, strerror(errno));
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return fr_error_set(err, FR_ERR_IO, "%s: cannot determine the file size", path);
  }
  if ((uint64_t)n > TFL_MAX_FILE_BYTES) {
    fclose(f);
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %ld bytes (max %" PRIu64 ")", path, n,
                        TFL_MAX_FILE_BYTES);
  }
  uint8_t *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, n);
  }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  if (got != (size_t)n) {
    free(buf);
    return fr_error_set(err, FR_ERR_IO, "%s: short read", path);
  }
  fr_status st = fr__tflite_load_buffer(buf, (size_t)n, g, err);
  free(buf);
  return st;
}
