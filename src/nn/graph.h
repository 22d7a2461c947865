/*
 * The facerec neural-network IR: one graph format that the ONNX, TFLite and
 * TF.js loaders all produce and one executor runs.
 *
 * Conventions (every loader must follow them):
 *  - Spatial ops (CONV, POOL, RESIZE, DEPTH_TO_SPACE) work on NHWC tensors.
 *    Loaders of NCHW formats (ONNX) store 4-D activations physically as NHWC and
 *    set fr__value.model_perm so the executor can hand tensors back in the
 *    model's own layout (see model_perm below).
 *  - dtypes are F32 and I64 only. int32 / int64 / bool from files become I64
 *    (or F32 0/1 for booleans produced by comparisons); float16 and quantized
 *    weights are dequantized to F32 at load.
 *  - Constants (weights, shape vectors) are values with data != NULL. They are
 *    immutable after load and shared by every session.
 *  - Shapes of non-constant values are resolved per session at plan time from
 *    the input shapes (per-op shape functions in ops.h). A node whose inputs are
 *    all constant or plan-time known (e.g. SHAPE -> GATHER -> CONCAT -> RESHAPE)
 *    is evaluated once at plan time ("static" node), so dynamic shape arithmetic
 *    costs nothing per inference.
 *  - Optional inputs that are absent are encoded as -1 in node->in[].
 *  - Memory: everything in a graph is allocated from graph->arena and freed with
 *    fr__graph_free(); loaders never free individual pieces.
 */
#ifndef FR_NN_GRAPH_H
#define FR_NN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "facerec/status.h"

#define FR__MAX_DIMS 8

typedef enum fr__dtype { FR__F32 = 0, FR__I64 = 1 } fr__dtype;

typedef struct fr__shape {
  int rank;                  /* 0..FR__MAX_DIMS; rank 0 = scalar (1 element) */
  int64_t d[FR__MAX_DIMS];   /* -1 = unknown (only in declared input shapes) */
} fr__shape;

/* Ops. Semantics are documented next to each; "bcast" = numpy broadcasting of
 * all inputs to a common shape. X(name) */
#define FR__OP_MAP(X)                                                              \
  /* in: x, w[O,KH,KW,I/groups] (OHWI), bias[O] (optional). NHWC. */               \
  X(CONV2D)                                                                        \
  /* in: x[..., K], w[N, K], bias[N] (optional). out[..., N] = x·wᵀ + b, clamped. */ \
  X(FULLY_CONNECTED)                                                               \
  /* in: a[..., M, K], b[..., K, N] (batch dims bcast); attrs transpose_a/b. */     \
  X(MATMUL)                                                                        \
  /* NHWC max / average pooling. */                                                \
  X(MAXPOOL2D)                                                                     \
  X(AVGPOOL2D)                                                                     \
  /* bcast binary; out = f(a, b). Comparisons give F32 1.0 / 0.0. */               \
  X(ADD) X(SUB) X(MUL) X(DIV) X(MAXIMUM) X(MINIMUM) X(POW) X(SQUARED_DIFF)        \
  X(LESS) X(LESS_EQUAL) X(GREATER) X(GREATER_EQUAL) X(EQUAL)                      \
  /* out = x >= 0 ? x : slope * x, slope bcast against x. */                       \
  X(PRELU)                                                                         \
  /* unary elementwise */                                                          \
  X(RELU) X(CLIP) X(SIGMOID) X(TANH) X(EXP) X(LOG) X(ABS) X(NEG) X(SQRT) X(RSQRT)  \
  X(SQUARE) X(FLOOR) X(CEIL) X(LEAKY_RELU) X(IDENTITY)                             \
  /* dtype conversion: attrs.cast.to (F32 <-> I64; F32 -> I64 truncates). */       \
  X(CAST)                                                                          \
  /* in: x, scale[C], shift[C]: out = x * scale + shift along attrs.axis. */       \
  X(CHANNEL_AFFINE)                                                                \
  X(SOFTMAX)                                                                       \
  /* reductions over attrs.reduce.axes (empty = all), keepdims. */                 \
  X(REDUCE_MEAN) X(REDUCE_SUM) X(REDUCE_MAX) X(REDUCE_MIN)                          \
  /* in: x, shape (I64 1-D constant or static). attrs.reshape.allowzero=false:  */ \
  /* a 0 copies the input dim (ONNX); -1 is inferred. Data is not moved.        */ \
  X(RESHAPE)                                                                       \
  X(TRANSPOSE)                                                                     \
  /* N inputs joined along attrs.axis (negative counts from the end). */           \
  X(CONCAT)                                                                        \
  /* one input, n_out outputs of attrs.split.sizes along attrs.split.axis. */      \
  X(SPLIT)                                                                         \
  /* general strided slice, see fr__slice_attrs. Extra inputs (optional): */       \
  /* starts, ends, axes, steps as I64 (ONNX opset 10+ style). */                   \
  X(SLICE)                                                                         \
  /* in: data, indices (I64). out = take(data, indices, axis). */                  \
  X(GATHER)                                                                        \
  /* constant / reflect / edge padding; pads per dim (begin, end). */             \
  X(PAD)                                                                           \
  /* NHWC resize to (attrs.resize.out_h, out_w) or by scale; see fr__resize_attrs*/ \
  X(RESIZE)                                                                        \
  /* NHWC depth to space (DCR order, TF semantics). */                             \
  X(DEPTH_TO_SPACE)                                                                \
  /* out: I64 1-D vector of the input's shape (always static). */                  \
  X(SHAPE)                                                                         \
  /* out[i] = cond[i] != 0 ? a[i] : b[i], bcast. */                                \
  X(SELECT)

typedef enum fr__op {
#define FR__OP_ENUM(name) FR__OP_##name,
  FR__OP_MAP(FR__OP_ENUM)
#undef FR__OP_ENUM
  FR__OP_COUNT
} fr__op;

/* Padding modes for CONV2D / pools. EXPLICIT uses pad_t/l/b/r; SAME_UPPER is
 * TensorFlow's SAME (and ONNX auto_pad=SAME_UPPER): total = max((ceil(in/s)-1)*s
 * + (k-1)*d + 1 - in, 0), begin = total/2, end = total - begin, resolved at plan
 * time; SAME_LOWER puts the larger half at the beginning. VALID = no padding. */
typedef enum fr__pad_mode {
  FR__PAD_EXPLICIT = 0,
  FR__PAD_SAME_UPPER,
  FR__PAD_SAME_LOWER,
  FR__PAD_VALID
} fr__pad_mode;

typedef struct fr__conv_attrs {
  int kh, kw;
  int stride_h, stride_w;
  int dil_h, dil_w;
  int groups;            /* 1 = dense; == C_in = depthwise (C_out = C_in * mult) */
  fr__pad_mode pad_mode;
  int pad_t, pad_l, pad_b, pad_r;
  float out_min, out_max; /* fused clamp; -INFINITY / +INFINITY when none (RELU: 0, INF) */
} fr__conv_attrs;

typedef struct fr__pool_attrs {
  int kh, kw;
  int stride_h, stride_w;
  fr__pad_mode pad_mode;
  int pad_t, pad_l, pad_b, pad_r;
  bool count_include_pad; /* AVG: divide by kh*kw even at borders (ONNX flag) */
  bool ceil_mode;         /* output size rounds up (ONNX ceil_mode=1) */
} fr__pool_attrs;

typedef struct fr__fc_attrs {
  float out_min, out_max; /* fused clamp, as conv */
} fr__fc_attrs;

typedef struct fr__matmul_attrs {
  bool transpose_a, transpose_b;
} fr__matmul_attrs;

typedef struct fr__clip_attrs {
  float min, max;         /* CLIP bounds; LEAKY_RELU uses alpha below */
  float alpha;
} fr__clip_attrs;

typedef struct fr__axis_attrs {
  int axis;               /* CONCAT, SOFTMAX, GATHER, CHANNEL_AFFINE; negative = from end */
} fr__axis_attrs;

typedef struct fr__reduce_attrs {
  int n_axes;             /* 0 = reduce all */
  int axes[FR__MAX_DIMS]; /* negative = from end */
  bool keepdims;
} fr__reduce_attrs;

typedef struct fr__reshape_attrs {
  bool allowzero;         /* true: a 0 in the shape is a real 0 (TF); false: copy input dim (ONNX) */
} fr__reshape_attrs;

typedef struct fr__transpose_attrs {
  int n;                  /* == rank of input; 0 = reverse dims */
  int perm[FR__MAX_DIMS];
} fr__transpose_attrs;

typedef struct fr__split_attrs {
  int axis;
  int n;                  /* number of outputs */
  int64_t *sizes;         /* n sizes, or NULL for equal split */
} fr__split_attrs;

/* Slice over attrs.n axes. For axis axes[i]: start/end/step like Python slices
 * (negative counts from the end, clamped). With TF masks: bit i of begin_mask
 * = ignore start (use the extreme), end_mask = ignore end, shrink_mask = take one
 * element and drop the dim (start only). When the node has extra inputs
 * (in[1..4] = starts, ends, axes, steps, I64, static), they override the attrs.
 * Ellipsis / new_axis masks are resolved by loaders before building the node. */
typedef struct fr__slice_attrs {
  int n;
  int axes[FR__MAX_DIMS];
  int64_t starts[FR__MAX_DIMS];
  int64_t ends[FR__MAX_DIMS];
  int64_t steps[FR__MAX_DIMS];
  uint32_t begin_mask, end_mask, shrink_mask;
} fr__slice_attrs;

typedef enum fr__pad_kind { FR__PADK_CONSTANT = 0, FR__PADK_REFLECT, FR__PADK_EDGE } fr__pad_kind;

typedef struct fr__pad_attrs {
  int n;                           /* rank the pads describe */
  int64_t begin[FR__MAX_DIMS], end[FR__MAX_DIMS];
  float value;
  fr__pad_kind kind;
  /* pads may instead come from in[1] (I64 [rank,2] or [2*rank] ONNX order), static */
} fr__pad_attrs;

typedef enum fr__resize_coord {
  FR__RC_ASYMMETRIC = 0,   /* src = dst * in/out (TF default, align_corners=false) */
  FR__RC_HALF_PIXEL,       /* src = (dst+0.5)*in/out - 0.5 (TF half_pixel_centers, ONNX) */
  FR__RC_ALIGN_CORNERS,    /* src = dst * (in-1)/(out-1) */
  FR__RC_PYTORCH_HALF_PIXEL
} fr__resize_coord;

typedef struct fr__resize_attrs {
  bool nearest;            /* false = bilinear */
  fr__resize_coord coord;
  int out_h, out_w;        /* > 0: fixed output size */
  float scale_h, scale_w;  /* used when out_h/out_w are 0: out = floor(in*scale) */
  /* or in[1] = I64 [2] (out_h, out_w), static */
} fr__resize_attrs;

typedef struct fr__d2s_attrs {
  int block;
} fr__d2s_attrs;

typedef struct fr__cast_attrs {
  fr__dtype to;
} fr__cast_attrs;

typedef union fr__attrs {
  fr__conv_attrs conv;
  fr__pool_attrs pool;
  fr__fc_attrs fc;
  fr__matmul_attrs matmul;
  fr__clip_attrs clip;
  fr__axis_attrs axis;
  fr__reduce_attrs reduce;
  fr__reshape_attrs reshape;
  fr__transpose_attrs transpose;
  fr__split_attrs split;
  fr__slice_attrs slice;
  fr__pad_attrs pad;
  fr__resize_attrs resize;
  fr__d2s_attrs d2s;
  fr__cast_attrs cast;
} fr__attrs;

typedef struct fr__value {
  const char *name;        /* the model's own tensor / node-output name; unique; may be "" for internal values */
  fr__dtype dtype;
  fr__shape shape;         /* constants: exact; inputs: declared (-1 = any); others: unused until plan */
  void *data;              /* constants only (float* or int64_t*), in the physical layout */
  int producer;            /* node index, or -1 (graph input or constant) */
  /* Physical -> model layout. model_rank = 0: the physical layout is the model's.
   * Otherwise the model's tensor is transpose(physical, model_perm): model dim i
   * is physical dim model_perm[i]. For ONNX NCHW stored as NHWC: {0, 3, 1, 2}. */
  int model_rank;
  int model_perm[FR__MAX_DIMS];
} fr__value;

typedef struct fr__node {
  fr__op op;
  const char *name;        /* the model's node name (for error messages) */
  int n_in, n_out;
  int *in;                 /* value indices; -1 = absent optional input */
  int *out;
  fr__attrs a;
} fr__node;

typedef struct fr__graph {
  fr__arena arena;
  const char *source;      /* file path, for messages */
  const char *format;      /* "onnx", "tflite", "tfjs" */
  fr__value *values;
  int n_values, cap_values;
  fr__node *nodes;         /* topologically sorted after fr__graph_finalize() */
  int n_nodes, cap_nodes;
  int *inputs;             /* value indices of graph inputs */
  int n_inputs;
  int *outputs;            /* value indices of graph outputs, in the model's order */
  int n_outputs;
  int *name_hash;          /* open addressing over value names (internal to graph.c) */
  int name_hash_cap;
} fr__graph;

/* Limits applied by loaders and the planner (hostile files). */
#define FR__MAX_TENSOR_ELEMS ((int64_t)1 << 31)  /* per tensor */
#define FR__MAX_NODES 100000
#define FR__MAX_VALUES 400000

/* Builder API. All return FR_OK or an error filled into err (naming graph->source). */
void fr__graph_init(fr__graph *g, const char *source, const char *format);
void fr__graph_free(fr__graph *g);
/* Adds a value; *out_index receives its index. name is copied (NULL = ""). */
fr_status fr__graph_add_value(fr__graph *g, const char *name, fr__dtype dt, const fr__shape *shape,
                              int *out_index, fr_error *err);
/* Adds a constant value; data (elements of dt, product(shape) of them) is copied into the arena. */
fr_status fr__graph_add_const(fr__graph *g, const char *name, fr__dtype dt, const fr__shape *shape,
                              const void *data, int *out_index, fr_error *err);
/* Adds a constant whose data the caller fills: *data_out points to arena memory. */
fr_status fr__graph_add_const_uninit(fr__graph *g, const char *name, fr__dtype dt,
                                     const fr__shape *shape, void **data_out, int *out_index,
                                     fr_error *err);
/* Adds a node; in/out arrays are copied. Sets producer of each output. Fails if an
 * output already has a producer or is a constant. Returns the node index in *out_node
 * (may be NULL). The node's attrs are zeroed; set them through g->nodes[idx].a. */
fr_status fr__graph_add_node(fr__graph *g, fr__op op, const char *name, const int *in, int n_in,
                             const int *out, int n_out, int *out_node, fr_error *err);
/* Finds a value by name; -1 when absent (or name is ""). Hashed. */
int fr__graph_find(const fr__graph *g, const char *name);
/* Sets the graph inputs / outputs (value indices; copied). */
fr_status fr__graph_set_io(fr__graph *g, const int *inputs, int n_inputs, const int *outputs,
                           int n_outputs, fr_error *err);
/* Validates (indices in range, arity per op table, every non-input non-constant
 * value has a producer, graph outputs produced, no cycles) and sorts nodes
 * topologically. Names the offending node in err. */
fr_status fr__graph_finalize(fr__graph *g, fr_error *err);

/* Shape helpers. */
int64_t fr__shape_elems(const fr__shape *s); /* product; -1 if any dim < 0 or overflow past FR__MAX_TENSOR_ELEMS */
bool fr__shape_eq(const fr__shape *a, const fr__shape *b);
fr__shape fr__shape_make(int rank, const int64_t *dims);
/* "[1,3,112,112]" into buf. */
const char *fr__shape_str(const fr__shape *s, char *buf, size_t n);
const char *fr__op_name(fr__op op);

#endif
