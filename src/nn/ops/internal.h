/*
 * Helpers shared by the reference kernels in src/nn/ops/ (not used elsewhere).
 *
 * Each file in src/nn/ops/ exports its shape / kernel / flops functions under the
 * fr__ops_ prefix; table.c puts them into fr__op_table. Shape functions
 * validate every input and report problems as "node 'X' (OP): problem"; the
 * executor adds the file name in front.
 */
#ifndef FR_NN_OPS_INTERNAL_H
#define FR_NN_OPS_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "nn/ops.h"

/* Writes "node '<name>' (<OP>): <fmt...>" into err and returns st. */
fr_status fr__ops_err(fr_error *err, const fr__node *n, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Product of the dims; -1 if a dim is negative or the product exceeds
 * FR__MAX_TENSOR_ELEMS (checked at every step, so it never overflows). */
int64_t fr__ops_elems(const fr__shape *s);

/* "[1,3,112,112]" into buf (always NUL-terminated, truncated to fit). */
const char *fr__ops_shape_str(const fr__shape *s, char *buf, size_t n);

/* Input i is present (not an absent optional input). */
static inline int fr__ops_present(const fr__node *n, const fr__tensor *in, int i) {
  return i < n->n_in && n->in[i] >= 0 && in[i].shape.rank >= 0;
}

/* Checks input i: present (unless optional), rank 0..FR__MAX_DIMS, dims >= 0,
 * element count within the cap, dtype allowed (mask bit 1<<dtype; 0 = any). */
fr_status fr__ops_check_in(const fr__node *n, const fr__tensor *in, int i, unsigned dtype_mask,
                           fr_error *err);
#define FR__OPS_F32 (1u << FR__F32)
#define FR__OPS_I64 (1u << FR__I64)
#define FR__OPS_ANY (FR__OPS_F32 | FR__OPS_I64)

/* Checks an output shape built by a shape function (dims >= 0, cap) and stores
 * it with dtype in *out. */
fr_status fr__ops_set_out(const fr__node *n, fr__tensor *out, fr__dtype dt, const fr__shape *s,
                          fr_error *err);

/* Normalizes axis (negative counts from the end) for a tensor of rank r; -1 if out of range. */
static inline int fr__ops_axis(int axis, int r) {
  if (axis < 0) axis += r;
  return axis >= 0 && axis < r ? axis : -1;
}

/* Reads the integer vector held by static input i (I64, or F32 holding
 * integers) into v[0..max). *count receives the element count. Fails clearly when
 * the data is NULL, the count exceeds max, or a float is not integral. */
fr_status fr__ops_read_ints(const fr__node *n, const fr__tensor *in, int i, const char *what,
                            int64_t *v, int max, int *count, fr_error *err);

/* Strides (in elements) of a contiguous row-major shape. */
static inline void fr__ops_strides(const fr__shape *s, int64_t *st) {
  int64_t acc = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s->d[i];
  }
}

static inline size_t fr__ops_esize(fr__dtype dt) { return dt == FR__I64 ? 8 : 4; }

/* conv.c */
fr_status fr__ops_conv2d_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_conv2d_ref(const fr__node *, const fr__tensor *, fr__tensor *);
double fr__ops_conv2d_flops(const fr__node *, const fr__tensor *, const fr__tensor *);
fr_status fr__ops_fc_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_fc_ref(const fr__node *, const fr__tensor *, fr__tensor *);
double fr__ops_fc_flops(const fr__node *, const fr__tensor *, const fr__tensor *);
fr_status fr__ops_matmul_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_matmul_ref(const fr__node *, const fr__tensor *, fr__tensor *);
double fr__ops_matmul_flops(const fr__node *, const fr__tensor *, const fr__tensor *);
fr_status fr__ops_pool_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_maxpool_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_avgpool_ref(const fr__node *, const fr__tensor *, fr__tensor *);
double fr__ops_pool_flops(const fr__node *, const fr__tensor *, const fr__tensor *);

/* elementwise.c */
fr_status fr__ops_binary_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_binary_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_prelu_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_prelu_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_unary_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_unary_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_cast_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_cast_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_affine_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_affine_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_select_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_select_ref(const fr__node *, const fr__tensor *, fr__tensor *);
double fr__ops_elementwise_flops(const fr__node *, const fr__tensor *, const fr__tensor *);

/* reduce.c */
fr_status fr__ops_softmax_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_softmax_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_reduce_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_reduce_ref(const fr__node *, const fr__tensor *, fr__tensor *);

/* tensor.c */
fr_status fr__ops_reshape_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_copy_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_transpose_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_transpose_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_concat_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_concat_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_split_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_split_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_slice_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_slice_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_gather_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_gather_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_pad_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_pad_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_resize_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_resize_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_d2s_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_d2s_ref(const fr__node *, const fr__tensor *, fr__tensor *);
fr_status fr__ops_shape_shape(const fr__node *, const fr__tensor *, fr__tensor *, fr_error *);
fr_status fr__ops_shape_ref(const fr__node *, const fr__tensor *, fr__tensor *);

#endif
