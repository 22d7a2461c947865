/*
 * Reduced-precision convolutions (fr_model_options.precision, docs/models.md):
 * with FR_PRECISION_BF16, single-threaded sessions run every dense or
 * depthwise (multiplier 1) CONV2D with constant weights on oneDNN in bf16
 * (weights rounded to bf16 once, bf16 x bf16 products accumulated in f32,
 * bias and clamp in f32), and an activation that flows only from such a
 * convolution into such convolutions (input 0) is stored in bf16 in its arena
 * slot (half the bytes, no conversion pass). Every other value stays f32: a
 * convolution whose input comes from another op converts it on the fly, one
 * whose output feeds another op (or is kept / a graph output) writes f32.
 *
 * The choice is made per session at prepare from the graph alone (which
 * nodes are taken, which values are bf16), so producer and consumers always
 * agree; shapes arrive at setup, where the oneDNN primitive is (re)made per
 * input shape; a shape oneDNN declines runs the f32 reference kernel through
 * f32 copies of the bf16 buffers. Nothing is taken when the CPU has no native
 * bf16 (AVX512_BF16) or when the environment says FR_PRECISION=f32 (A/B runs).
 *
 * Lifecycle as the fast backend (backend.h): prepare -> setup (every plan /
 * rebind) -> run -> destroy. Not thread-safe per op; ops belong to a session.
 */
#ifndef FR_NN_LOWP_H
#define FR_NN_LOWP_H

#include <stdbool.h>

#include "nn/ops.h"

typedef struct fr__lowp_op fr__lowp_op;

/* ops[i] (g->n_nodes entries, NULL on entry) receives an op for every node
 * that runs in reduced precision; nodes with disabled[i] are ignored and
 * values with keep[v] stay f32. precision: FR_PRECISION_*. On error every op
 * made so far is destroyed and ops[] is NULL again. */
fr_status fr__lowp_prepare(const fr__graph *g, const fr__node *nodes, const bool *disabled,
                           const bool *keep, int precision, fr__lowp_op **ops, fr_error *err);
/* in/out: resolved shapes and final buffer addresses for this plan. */
fr_status fr__lowp_setup(fr__lowp_op *op, const fr__node *n, const fr__tensor *in,
                         const fr__tensor *out, fr_error *err);
fr_status fr__lowp_run(fr__lowp_op *op, fr_error *err);
void fr__lowp_destroy(fr__lowp_op *op);

/* Whether the session's precision request is honoured on this machine
 * (native bf16 and no FR_PRECISION=f32 override). */
bool fr__lowp_active(int precision);

#endif
