/*
 * Fast backend (XNNPACK) for the heavy ops. The executor asks it, per session
 * and node, whether it takes the node; if so the backend creates its operator
 * (packing the weights once) and the reference kernel is not used for it.
 *
 * Lifecycle per session:  create (session creation) -> setup (every plan:
 * shapes are resolved and buffer addresses are final) -> run (every
 * inference) -> destroy (session free). XNNPACK binds buffer pointers at setup,
 * so operators belong to one session and are never shared between threads;
 * constant data derived from the graph (oneDNN's reordered weights, packed
 * depthwise 3x3 weights) is shared between the ops of all sessions, counted
 * and immutable (xnn_backend.c, dnnl_backend.h).
 */
#ifndef FR_NN_BACKEND_H
#define FR_NN_BACKEND_H

#include <pthreadpool.h>

#include "nn/ops.h"

typedef struct fr__backend_op fr__backend_op;

/* Initializes the backend library once (thread-safe). */
fr_status fr__backend_init(fr_error *err);

/* g: the graph the node belongs to (constant weights are g->values[n->in[k]].data).
 * in_shapes: declared shapes of the inputs as known at creation (constants exact;
 * activations may have -1 dims). On FR_OK *op is NULL if the backend does not
 * take this node. */
fr_status fr__backend_create(const fr__graph *g, const fr__node *n, fr__backend_op **op,
                             fr_error *err);
/* in/out: resolved shapes and final buffer addresses for this plan. */
fr_status fr__backend_setup(fr__backend_op *op, const fr__node *n, const fr__tensor *in,
                            const fr__tensor *out, pthreadpool_t pool, fr_error *err);
fr_status fr__backend_run(fr__backend_op *op, pthreadpool_t pool, fr_error *err);
void fr__backend_destroy(fr__backend_op *op);

#endif
