/*
 * Internal HTTP layer of `facerec serve`: requests, responses, the declared
 * route table, and the state handlers share.
 *
 * The server (server.c, libmicrohttpd) accepts a request, matches it against
 * the route table (method + path pattern), checks the API key's role and the
 * route's body limit BEFORE the handler runs, buffers the body, queues the job
 * on a bounded work queue (503 + Retry-After when full) and calls the handler on
 * a worker thread. Handlers "parse or reply, return early": they fill an
 * fr_http_resp (status + JSON or binary body) and return; they never write to
 * the socket and never exit.
 */
#ifndef FR_HTTP_HTTP_H
#define FR_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/face.h"
#include "facerec/gallery.h"
#include "facerec/status.h"

typedef enum fr_http_role {
  FR_ROLE_NONE = 0,      /* open route (/healthz, /metrics, /openapi.json) */
  FR_ROLE_RECOGNIZE = 1, /* recognize, verify, detect */
  FR_ROLE_ADMIN = 2      /* manage subjects and faces; admin keys may also recognize */
} fr_http_role;

#define FR_HTTP_MAX_PARAMS 32
#define FR_HTTP_MAX_PATH_ARGS 4

typedef struct fr_http_kv {
  const char *key, *value;
} fr_http_kv;

/* One uploaded part of a multipart/form-data body (or the whole raw body). */
typedef struct fr_http_part {
  const char *name;         /* form field name ("file", "image", ...); NULL for a raw body */
  const char *filename;     /* may be NULL */
  const char *content_type; /* may be NULL */
  const uint8_t *data;
  size_t len;
} fr_http_part;

typedef struct fr_http_req {
  const char *method;       /* "GET", "POST", ... */
  const char *path;         /* decoded path without the query */
  const char *request_id;   /* for logs and error bodies */
  fr_http_kv query[FR_HTTP_MAX_PARAMS];
  int n_query;
  const char *path_args[FR_HTTP_MAX_PATH_ARGS]; /* URL-decoded {placeholders} of the route, in order */
  int n_path_args;
  const char *content_type; /* may be NULL */
  const uint8_t *body;      /* whole body (may be NULL when empty) */
  size_t body_len;
  fr_http_part parts[FR_HTTP_MAX_PARAMS]; /* parsed multipart parts (n_parts = 0 otherwise) */
  int n_parts;
  fr_http_role role;        /* role of the presented key (ADMIN when no keys are configured) */
} fr_http_req;

typedef struct fr_http_resp {
  int status;
  json_t *json;             /* body, serialized by the server (takes the reference) */
  uint8_t *bytes;           /* or a binary body (malloc'ed; the server frees it) */
  size_t bytes_len;
  const char *content_type; /* for bytes; static string */
  char headers[256];        /* extra "Name: value\r\n" lines, e.g. Retry-After */
} fr_http_resp;

/* Shared service state (one per server). Workers index per-thread state by worker id. */
typedef struct fr_http_ctx {
  const fr_engine *engine;
  fr_gallery *gallery;
  fr_worker **workers;      /* one per worker thread */
  int n_workers;
  float threshold;          /* default open-set threshold */
  fr_image_limits limits;
  double started_unix;
} fr_http_ctx;

typedef void (*fr_http_handler)(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                                fr_http_resp *resp);

typedef struct fr_http_route {
  const char *method;
  const char *pattern;      /* "/api/v1/recognition/faces/{image_id}" */
  fr_http_role role;
  size_t max_body;          /* 0 = no body allowed; else the cap (the server answers 413 above it) */
  fr_http_handler handler;
  const char *name;         /* metrics label */
} fr_http_route;

/* The route table (routes.c). */
extern const fr_http_route fr_http_routes[];
extern const int fr_http_n_routes;

/* Helpers for handlers. */
const char *fr_http_query(const fr_http_req *req, const char *key);
/* Error reply: {"code": <stable code>, "message": ...} plus route-specific fields
 * (CompreFace clients read "message" and "code"). */
void fr_http_error(fr_http_resp *resp, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void fr_http_json(fr_http_resp *resp, int status, json_t *body);

/* Metrics (metrics.c): handlers count the faces they detected in uploaded
 * images (facerec_faces_detected_total). Thread-safe, lock-free. */
void fr_http_metrics_faces_detected(long n);

#endif
