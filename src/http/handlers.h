/*
 * Internal to the HTTP handlers (routes.c, h_*.c): the handler functions the
 * route table names, and the helpers they share — request parameters, image
 * extraction (multipart part, JSON base64 field or raw body), the face pipeline
 * on the worker's fr_worker, and the two error dialects.
 *
 * Error dialects. The CompreFace-compatible routes (/api/v1/...) answer
 * {"message": M, "code": N} with CompreFace 1.x's numeric codes (28 no face,
 * 42 subject not found, ...). The seed route (/recognition) answers
 * {"result": "error during prediction", "error": M, "code": "no_face"} with a
 * stable string code. Both come from one table (FR__HERR_MAP) that gives each
 * error kind its HTTP status, its CompreFace number and its string code.
 *
 * Handlers "parse or reply, return early": every helper that can fail fills an
 * fr__herr and returns false; the handler then replies with it and returns.
 */
#ifndef FR_HTTP_HANDLERS_H
#define FR_HTTP_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Body caps declared in the route table (the server answers 413 above them).
 * One image: the decoder's 20 MB default plus base64 (4/3) and JSON overhead. */
#define FR__HTTP_BODY_IMAGE ((size_t)30 << 20)
#define FR__HTTP_BODY_TWO_IMAGES ((size_t)60 << 20)
#define FR__HTTP_BODY_JSON ((size_t)1 << 20)

/* X(kind, http status, CompreFace code, string code) */
#define FR__HERR_MAP(X)                                                         \
  X(BAD_ARG, 400, 26, "invalid_argument")                                       \
  X(MISSING_PARAM, 400, 33, "missing_parameter")                                \
  X(MISSING_FILE, 400, 34, "missing_file")                                      \
  X(BAD_JSON, 400, 36, "bad_json")                                              \
  X(BAD_BASE64, 400, 21, "invalid_base64")                                      \
  X(BAD_IMAGE, 400, 21, "bad_image")                                            \
  X(EMPTY_IMAGE, 400, 21, "empty_image")                                        \
  X(IMAGE_TOO_LARGE, 413, 21, "image_too_large")                                \
  X(UNSUPPORTED_MEDIA, 415, 21, "unsupported_media_type")                       \
  X(BAD_PREDICTION_COUNT, 400, 12, "invalid_prediction_count")                  \
  X(NO_FACE, 400, 28, "no_face")                                                \
  X(TOO_MANY_FACES, 400, 31, "too_many_faces")                                  \
  X(SUBJECT_NOT_FOUND, 404, 42, "subject_not_found")                            \
  X(SUBJECT_EXISTS, 400, 43, "subject_exists")                                  \
  X(IMAGE_NOT_FOUND, 404, 44, "image_not_found")                                \
  X(EMPTY_VIDEO, 400, 21, "empty_video")                                        \
  X(BAD_VIDEO, 400, 21, "bad_video")                                            \
  X(VIDEO_TOO_LARGE, 413, 21, "video_too_large")                                \
  X(VIDEO_UNAVAILABLE, 503, 41, "video_unavailable")                            \
  X(INTERNAL, 500, 41, "internal_error")

typedef enum fr__herr_kind {
#define FR__HERR_ENUM(kind, http, cf, code) FR__HERR_##kind,
  FR__HERR_MAP(FR__HERR_ENUM)
#undef FR__HERR_ENUM
  FR__HERR_COUNT
} fr__herr_kind;

typedef struct fr__herr {
  fr__herr_kind kind;
  char msg[512];
} fr__herr;

/* printf into e; returns false (so helpers can `return fr__herr_set(...)`). */
bool fr__herr_set(fr__herr *e, fr__herr_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fr__herr_http(fr__herr_kind kind);
int fr__herr_compreface(fr__herr_kind kind);
const char *fr__herr_code(fr__herr_kind kind);
/* {"message": e->msg, "code": <CompreFace number>} with its HTTP status. */
void fr__reply_cf_error(fr_http_resp *resp, const fr__herr *e);

/* ---- request parameters ---- */
/* Query parameters, made tolerant of the CompreFace JS SDK 1.0 bug that joins
 * a second parameter with '?' instead of '&' ("?det_prob_threshold=0.8?face_plugins=x"):
 * a value containing "?name=" for a name made of [a-z_] is split there. Values
 * point into buf or into the request; valid while both live. */
typedef struct fr__params {
  int n;
  const char *key[FR_HTTP_MAX_PARAMS * 2];
  const char *val[FR_HTTP_MAX_PARAMS * 2];
  char buf[8192];
} fr__params;

void fr__params_init(fr__params *p, const fr_http_req *req);
const char *fr__param(const fr__params *p, const char *key);
/* Optional integer / real / boolean parameter: absent -> *out = dflt, true.
 * Not a number or out of [lo, hi] -> BAD_ARG naming the parameter. */
bool fr__param_int(const fr__params *p, const char *key, long lo, long hi, long dflt, long *out,
                   fr__herr *e);
bool fr__param_real(const fr__params *p, const char *key, double lo, double hi, double dflt,
                    double *out, fr__herr *e);
bool fr__param_bool(const fr__params *p, const char *key, bool dflt);

/* ---- request bodies ---- */
/* Content type of the request without parameters, compared case-insensitively. */
bool fr__ctype_is(const fr_http_req *req, const char *type);
/* Parses the body as JSON (any top-level value). BAD_JSON on failure. Caller
 * releases *out. */
bool fr__body_json(const fr_http_req *req, json_t **out, fr__herr *e);

/* Strict base64 (RFC 4648 standard alphabet; padding optional; ASCII
 * whitespace skipped; an optional "data:...;base64," prefix). At most max_out
 * decoded bytes (IMAGE_TOO_LARGE above, checked before allocating). *out is
 * malloc'ed; the caller frees it. */
bool fr__base64_decode(const char *s, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
                       fr__herr *e);

/* Encoded image bytes of a request. */
typedef struct fr__upload {
  const uint8_t *data;
  size_t len;
  uint8_t *owned;       /* decoded base64 (freed by fr__upload_free) */
  const char *filename; /* multipart file name, or NULL */
} fr__upload;

/* Finds the image named by one of `fields` (NULL-terminated, e.g. {"file",
 * "image", NULL}): a multipart part of that name, or a JSON body's string
 * field of that name (base64); with allow_raw, also a raw body of type image/..., 
 * application/octet-stream or none. json (may be NULL) is the parsed JSON body
 * when the caller already has it. Errors: MISSING_FILE, BAD_BASE64,
 * UNSUPPORTED_MEDIA, BAD_JSON, EMPTY_IMAGE, IMAGE_TOO_LARGE. */
bool fr__upload_get(const fr_http_ctx *ctx, const fr_http_req *req, json_t *json,
                    const char *const *fields, bool allow_raw, fr__upload *up, fr__herr *e);
void fr__upload_free(fr__upload *up);

/* ---- the face pipeline ---- */
typedef struct fr__analysis {
  fr_image img;
  int n;            /* faces kept */
  fr_face *faces;   /* n faces (malloc'ed) */
  float *emb;       /* n x dim, when embedded (malloc'ed) */
  int dim;
  double detect_ms, embed_ms; /* per image */
} fr__analysis;

typedef struct fr__analyze_opts {
  float min_score;   /* detection threshold */
  int limit;         /* keep at most this many faces, the largest first; 0 = all */
  bool embed;        /* compute embeddings of all kept faces */
} fr__analyze_opts;

/* Decodes with ctx->limits, detects with the worker's fr_worker and embeds.
 * Faces are ordered by score, or by area (largest first) when limit > 0.
 * No face is NOT an error here (n = 0). Errors: BAD_IMAGE, EMPTY_IMAGE,
 * IMAGE_TOO_LARGE, INTERNAL. Free with fr__analysis_free (also after failure). */
bool fr__analyze(const fr_http_ctx *ctx, int worker, const uint8_t *data, size_t len,
                 const fr__analyze_opts *o, fr__analysis *a, fr__herr *e);
void fr__analysis_free(fr__analysis *a);
/* Embeds face k of a into emb (dim floats); aligned (may be NULL, else empty)
 * receives the 112x112 crop. INTERNAL on failure. */
bool fr__embed_one(const fr_http_ctx *ctx, int worker, const fr__analysis *a, int k, float *emb,
                   fr_image *aligned, fr__herr *e);
/* The one person of an enrollment / verification source image: the largest
 * face; another face at least 0.6 of its size (shorter box side) makes the
 * image ambiguous (TOO_MANY_FACES); none: NO_FACE. Returns the index. */
bool fr__single_face(const fr__analysis *a, int *index, fr__herr *e);
/* The detector threshold of the engine (det_prob_threshold's default). */
float fr__default_min_score(const fr_http_ctx *ctx);
double fr__now_ms(void);
/* A real rounded to `digits` decimals (CompreFace rounds similarities and
 * probabilities to 5); null when not finite. */
json_t *fr__json_round(double v, int digits);
/* Valid UTF-8 without control characters, 1..FR_NAME_MAX bytes. */
bool fr__name_ok(const char *s);
/* A JSON string of s (NULL: null); bytes that are not valid UTF-8 become '?'. */
json_t *fr__json_str(const char *s);

/* Deletes every subject (and so every face); counts what went. */
bool fr__delete_all_subjects(fr_http_ctx *ctx, int64_t *subjects, int64_t *faces, fr__herr *e);

/* ---- handlers (one per route) ---- */
void fr__h_seed_state(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_seed_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp);
void fr__h_cf_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_cf_detect(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_cf_verify_face(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp);
void fr__h_cf_verification(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp);
void fr__h_cf_face_add(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_cf_face_list(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_cf_face_delete_by_subject(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                                     fr_http_resp *resp);
void fr__h_cf_face_delete(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp);
void fr__h_cf_face_delete_many(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                               fr_http_resp *resp);
void fr__h_cf_face_img(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
void fr__h_cf_subject_add(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp);
void fr__h_cf_subject_list(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp);
void fr__h_cf_subject_rename(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                             fr_http_resp *resp);
void fr__h_cf_subject_delete(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                             fr_http_resp *resp);
void fr__h_cf_subject_delete_all(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                                 fr_http_resp *resp);
void fr__h_openapi(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);
/* video (h_video.c; camera monitors and the event ring: camera.h) */
void fr__h_video_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp);
void fr__h_events(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp);

#endif
