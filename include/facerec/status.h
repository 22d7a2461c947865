/*
 * facerec status codes.
 *
 * Every fallible function in facerec returns an fr_status; results go through
 * pointer arguments. fr_strerror() gives a short stable description.
 * Error details (file, node, problem) travel in an fr_error filled by the callee.
 *
 *     fr_error err = {0};
 *     fr_status st = fr_model_load("m.onnx", &model, &err);
 *     if (st != FR_OK) fprintf(stderr, "%s: %s\n", fr_strerror(st), err.msg);
 */
#ifndef FACEREC_STATUS_H
#define FACEREC_STATUS_H

#include <stddef.h>

/* X(name, http_status, json_code, description) */
#define FR_STATUS_MAP(X)                                                          \
  X(OK, 200, "ok", "success")                                                     \
  X(ERR_INVALID_ARG, 400, "invalid_argument", "invalid argument")                 \
  X(ERR_NOMEM, 500, "out_of_memory", "out of memory")                             \
  X(ERR_IO, 500, "io_error", "input/output error")                                \
  X(ERR_NOT_FOUND, 404, "not_found", "not found")                                 \
  X(ERR_FORMAT, 400, "bad_format", "malformed or unsupported file")               \
  X(ERR_UNSUPPORTED, 400, "unsupported", "unsupported feature")                   \
  X(ERR_SHAPE, 400, "bad_shape", "tensor shape mismatch")                         \
  X(ERR_TOO_LARGE, 413, "too_large", "size limit exceeded")                       \
  X(ERR_BACKEND, 500, "backend_error", "compute backend failure")                 \
  X(ERR_INTERNAL, 500, "internal_error", "internal error")

typedef enum fr_status {
#define FR__STATUS_ENUM(name, http, code, desc) FR_##name,
  FR_STATUS_MAP(FR__STATUS_ENUM)
#undef FR__STATUS_ENUM
  FR_STATUS_COUNT
} fr_status;

/* Short description of a status; never NULL (unknown values give "unknown status"). */
const char *fr_strerror(fr_status st);
/* Stable machine-readable code ("bad_format", ...) for JSON error bodies. */
const char *fr_status_code(fr_status st);
/* HTTP status to answer with for this status. */
int fr_status_http(fr_status st);

/* Error details: a human message naming the file, node and problem. The callee
 * fills msg (always NUL-terminated) when it returns a status other than FR_OK;
 * callers may pass NULL when they do not want the message. */
typedef struct fr_error {
  char msg[512];
} fr_error;

/* printf-style: writes the message into err (if err != NULL) and returns st. */
fr_status fr_error_set(fr_error *err, fr_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
