/* Internal: the model object shared by the loaders' dispatcher (model.c) and the executor. */
#ifndef FR_NN_EXEC_H
#define FR_NN_EXEC_H

#include "facerec/nn.h"
#include "nn/graph.h"

struct fr_model {
  fr__graph g;
};

/* Loaders: fill an initialized graph (fr__graph_init done by the caller) and
 * finalize it. The caller frees the graph on error. */
fr_status fr__onnx_load(const char *path, fr__graph *g, fr_error *err);
fr_status fr__tflite_load(const char *path, fr__graph *g, fr_error *err);
fr_status fr__tfjs_load(const char *path, fr__graph *g, fr_error *err);

/* Bytes of the session's activation arena under the current plan (tests). */
size_t fr__session_arena_bytes(const fr_session *s);

/* Per-node timing (bench and `facerec model run --profile`): start accumulating,
 * run, then print a table of the nodes that ran. */
fr_status fr__session_profile_start(fr_session *s);
void fr__session_profile_print(const fr_session *s, FILE *f);

#endif
