/*
 * Op table: arity, shape inference and the plain reference kernel of every IR op.
 *
 * Reference kernels are straightforward C, single threaded, never allocate, and
 * define the semantics (tests compare the fast backend against them). Shape
 * functions run at plan time: they get every input's dtype and shape, and the
 * data of inputs that are constant or plan-time known (data == NULL otherwise),
 * and fill each output's dtype and shape. They validate everything (ranks,
 * channel counts, axes, element caps) and explain problems in err, naming the
 * node (n->name) and op.
 */
#ifndef FR_NN_OPS_H
#define FR_NN_OPS_H

#include "nn/graph.h"

typedef struct fr__tensor {
  fr__dtype dtype;
  fr__shape shape;
  void *data; /* float* (F32) or int64_t* (I64); NULL for absent optional inputs / unknown data */
} fr__tensor;

typedef fr_status (*fr__shape_fn)(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                                  fr_error *err);
/* in[i] / out[i] follow node->in / node->out; an absent optional input has
 * data == NULL and shape.rank == -1. Outputs are preallocated with the shapes
 * the shape function produced, and never alias inputs. */
typedef fr_status (*fr__kernel_fn)(const fr__node *n, const fr__tensor *in, fr__tensor *out);
/* FLOPs of one execution (multiply-add = 2) given resolved shapes; may be NULL (= 0). */
typedef double (*fr__flops_fn)(const fr__node *n, const fr__tensor *in, const fr__tensor *out);

typedef struct fr__op_info {
  const char *name;
  int min_in, max_in;   /* max_in = -1: unbounded (CONCAT) */
  int min_out, max_out; /* max_out = -1: unbounded (SPLIT) */
  fr__shape_fn shape;
  fr__kernel_fn ref;
  fr__flops_fn flops;
} fr__op_info;

/* Indexed by fr__op; every entry is filled (checked by a test). */
extern const fr__op_info fr__op_table[FR__OP_COUNT];

/* Resolved padding for CONV2D / pools at a given input size. */
void fr__resolve_pads(fr__pad_mode mode, int pt, int pl, int pb, int pr, int kh, int kw, int sh,
                      int sw, int dh, int dw, int64_t in_h, int64_t in_w, int *t, int *l, int *b,
                      int *r);

/* numpy broadcasting of a and b into out; FR_ERR_SHAPE when incompatible. */
fr_status fr__broadcast_shape(const fr__shape *a, const fr__shape *b, fr__shape *out);

#endif
