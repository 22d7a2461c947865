/* Internal: the model object shared by the loaders' dispatcher (model.c) and the executor. */
#ifndef FR_NN_EXEC_H
#define FR_NN_EXEC_H

#include "facerec/nn.h"
#include "nn/graph.h"

struct fr_model {
  fr__graph g;
  int precision; /* fr_model_options.precision (fr_precision), see nn/lowp.h */
  int64_t precision_min_elems; /* fr_model_options.precision_min_elems */
};

/* Loaders: fill an initialized graph (fr__graph_init done by the caller) and
 * finalize it. The caller frees the graph on error. */
fr_status fr__onnx_load(const char *path, fr__graph *g, fr_error *err);
fr_status fr__tflite_load(const char *path, fr__graph *g, fr_error *err);
fr_status fr__tfjs_load(const char *path, fr__graph *g, fr_error *err);

/* Shared activation arena for sessions that never run concurrently (e.g. a
 * worker's detector sessions, one per input shape): one buffer, grown
 * monotonically to the largest plan among them, instead of one arena each.
 * A session bound to a pool plans its offsets as usual and, when another
 * session moved the pool's buffer (generation counter), rebinds its
 * operators to the new address before its next run (no re-plan). Because
 * the sessions share memory, a view from fr_session_get / fr_session_output
 * of one of them is valid only until any session of the pool runs. The pool
 * must outlive its sessions; not thread-safe. */
typedef struct fr__arena_pool fr__arena_pool;
fr__arena_pool *fr__arena_pool_create(void); /* NULL: out of memory */
void fr__arena_pool_free(fr__arena_pool *p);
size_t fr__arena_pool_bytes(const fr__arena_pool *p);
/* Binds s to p (NULL: back to its own arena); takes effect at the next run. */
void fr__session_use_pool(fr_session *s, fr__arena_pool *p);

/* Writes input i directly in the runtime's internal layout, for callers that
 * build large inputs themselves (the face detector's canvas, the embedder's
 * crop): for a 4-D ONNX input (model layout NCHW) whose only consumer in this
 * session is the loader's NCHW->NHWC transpose, plans the session for this
 * shape (if needed) and returns in *data the place of the transposed value in
 * the session's activation arena (own or pooled): N*H*W*C floats, to be filled
 * completely in NHWC order (element (n, y, x, c) at ((n*H + y)*W + x)*C + c)
 * and then run with nothing else in between: the run skips the transpose, and
 * the session keeps no separate input buffer (no copy either). shape is in the
 * model's layout and checked as by fr_session_set_input. The pointer is valid
 * until the session (or, with a pool, any session of the pool) runs or is
 * changed; a run after a change (shape, keep, pool) without a new call fails
 * with FR_ERR_INVALID_ARG. fr_session_get on the input itself has no data in
 * this mode; fr_session_set_input switches back to the model layout.
 * FR_ERR_UNSUPPORTED (and *data NULL) when the input is not of that form:
 * the caller then uses fr_session_set_input. */
fr_status fr__session_input_nhwc(fr_session *s, int i, const int64_t *shape, int rank, float **data,
                                 fr_error *err);

/* Bytes of the session's activation arena under the current plan (tests);
 * with a pool, the bytes this plan needs of the pool. */
size_t fr__session_arena_bytes(const fr_session *s);

/* Per-node timing (bench and `facerec model run --profile`): start accumulating,
 * run, then print a table of the nodes that ran. */
fr_status fr__session_profile_start(fr_session *s);
void fr__session_profile_print(const fr_session *s, FILE *f);

#endif
