/*
 * facerec neural-network runtime: load ONNX, TFLite and TF.js graph models and
 * run them on CPU (XNNPACK for the heavy ops, plain C reference kernels for
 * the rest).
 *
 * A loaded fr_model is immutable and may be shared by any number of threads.
 * Each thread runs inferences through its own fr_session (memory plan, packed
 * backend operators, scratch buffers). Sessions re-plan automatically when the
 * input shape changes, and reuse their buffers while it does not.
 *
 *     fr_model *m; fr_session *s; fr_error err;
 *     if (fr_model_load("models/faceplugin/fr_feature.onnx", NULL, &m, &err)) die(err.msg);
 *     fr_threadpool *tp = fr_threadpool_create(0);            // 0 = all cores
 *     if (fr_session_create(m, tp, &s, &err)) die(err.msg);
 *     int64_t shape[4] = {1, 3, 112, 112};
 *     fr_session_set_input(s, 0, pixels, shape, 4, &err);    // model's own layout
 *     fr_session_run(s, &err);
 *     fr_tensor_view out;
 *     fr_session_output(s, 0, &out, &err);                   // valid until the next run
 *     ...
 *     fr_session_free(s); fr_model_free(m); fr_threadpool_free(tp);
 */
#ifndef FACEREC_NN_H
#define FACEREC_NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_model fr_model;
typedef struct fr_session fr_session;
typedef struct fr_threadpool fr_threadpool;

#define FR_MAX_DIMS 8

/* A tensor as seen through the API: float32, row-major, in the model's own
 * layout (NCHW for ONNX, NHWC for TFLite / TF.js). Integer tensors are
 * converted to float. */
typedef struct fr_tensor_view {
  const char *name;
  int rank;
  int64_t shape[FR_MAX_DIMS];
  const float *data;
  size_t count; /* elements */
} fr_tensor_view;

/* Arithmetic precision of a model's convolutions (fr_model_options.precision). */
typedef enum fr_precision {
  FR_PRECISION_F32 = 0, /* default: float32 everywhere */
  /* bf16 weights and activations with float32 accumulation, in single-threaded
   * sessions on CPUs with AVX512_BF16 (elsewhere, and with the environment
   * variable FR_PRECISION=f32, the model runs in float32). Results differ from
   * float32 by bf16 rounding (~3 significant digits per tensor): measured per
   * model before being turned on (docs/models.md). */
  FR_PRECISION_BF16 = 1
} fr_precision;

typedef struct fr_model_options {
  /* Non-zero: the height and width of 4-D inputs may differ from the file's
   * declared ones (fully convolutional use of a network, e.g. running a
   * detector's backbone at several scales and decoding its raw heads yourself). */
  int dynamic_hw;
  /* fr_precision; 0 = FR_PRECISION_F32. */
  int precision;
  /* With a reduced precision: a session plan whose first input has fewer
   * elements than this runs in float32 (0 = every size). Lets a multi-scale
   * caller keep small inputs, where reduced precision gains least, exact. */
  int64_t precision_min_elems;
} fr_model_options;

/* Loads a model; the format comes from the file's content and name:
 * ".onnx", ".tflite" (TFL3 identifier), or a TF.js "model.json" (with its weight
 * shards beside it). On failure returns an error status and fills err with a
 * message naming the file, the node and the problem; *out is then NULL.
 * The caller owns *out and frees it with fr_model_free(). */
fr_status fr_model_load(const char *path, const fr_model_options *opt, fr_model **out,
                        fr_error *err);
void fr_model_free(fr_model *m);

/* Model description. Strings stay valid while the model lives. */
const char *fr_model_format(const fr_model *m); /* "onnx" | "tflite" | "tfjs" */
int fr_model_num_inputs(const fr_model *m);
int fr_model_num_outputs(const fr_model *m);
/* Declared shape in the model's layout; unknown dims are -1. */
const char *fr_model_input(const fr_model *m, int i, int *rank, int64_t shape[FR_MAX_DIMS]);
const char *fr_model_output_name(const fr_model *m, int i);

/* Writes a human description (inputs, outputs, op histogram, parameter count,
 * FLOPs at the given input shape, or at the declared one when shape == NULL)
 * to f. Returns an error if the shape cannot be planned. */
fr_status fr_model_describe(const fr_model *m, const int64_t *shape, int rank, FILE *f,
                            fr_error *err);

/* A pool of worker threads for the heavy kernels. n = 0: one per core.
 * NULL on failure. One pool may serve several sessions that run one at a time. */
fr_threadpool *fr_threadpool_create(int n);
void fr_threadpool_free(fr_threadpool *tp);
int fr_threadpool_threads(const fr_threadpool *tp);

/* Creates an inference context. tp may be NULL (single thread). The model must
 * outlive the session. */
fr_status fr_session_create(const fr_model *m, fr_threadpool *tp, fr_session **out, fr_error *err);
void fr_session_free(fr_session *s);

/* Asks the session to keep the value with this name (a node output in the
 * model's own naming) so that fr_session_get() can read it after a run. Must be
 * called before the first run (or forces a re-plan). FR_ERR_NOT_FOUND if the
 * model has no such value. */
fr_status fr_session_keep(fr_session *s, const char *name, fr_error *err);

/* Makes the session compute exactly these values (names as in the model)
 * instead of the model's outputs: only the nodes they depend on run, so a
 * network can be cut (e.g. before a decoding tail that only works at one input
 * size). Afterwards read them with fr_session_get(); fr_session_output() then
 * works only for outputs that are in the list. */
fr_status fr_session_select(fr_session *s, const char *const *names, int n, fr_error *err);

/* Copies input i (float32, model layout) into the session. The shape may differ
 * from the previous run (the session re-plans); dims must match the declared
 * ones where those are fixed. */
fr_status fr_session_set_input(fr_session *s, int i, const float *data, const int64_t *shape,
                               int rank, fr_error *err);
fr_status fr_session_run(fr_session *s, fr_error *err);

/* Views valid until the next fr_session_run / set_input / free. */
fr_status fr_session_output(fr_session *s, int i, fr_tensor_view *out, fr_error *err);
fr_status fr_session_get(fr_session *s, const char *name, fr_tensor_view *out, fr_error *err);

/* FLOPs (multiply-add = 2) of the current plan. */
double fr_session_flops(const fr_session *s);

#ifdef __cplusplus
}
#endif
#endif
