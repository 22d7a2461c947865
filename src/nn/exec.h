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

/* Bytes of the session's activation arena under the current plan (tests);
 * with a pool, the bytes this plan needs of the pool. */
size_t fr__session_arena_bytes(const fr_session *s);

/* Per-node timing (bench and `facerec model run --profile`): start accumulating,
 * run, then print a table of the nodes that ran. */
fr_status fr__session_profile_start(fr_session *s);
void fr__session_profile_print(const fr_session *s, FILE *f);

#endif
