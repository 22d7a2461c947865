/*
 * Internals of the HTTP server core (server.c, multipart.c, auth.c,
 * metrics.c, and src/cli/cmd_serve.c); handlers never need this header, only http.h.
 *
 *     fr__auth *a; fr__auth_create(&a, &err);
 *     fr__auth_reload(a, gallery, &err);              // keys from the gallery's api_keys
 *     fr_http_server *s;
 *     fr_http_server_config cfg = fr_http_server_default_config();
 *     fr_http_server_start(&ctx, &cfg, a, &s, &err);  // answers on its own threads
 *     ...                                             // wait for SIGTERM
 *     fr_http_server_stop(s, 30);                     // drain, then stop
 */
#ifndef FR_HTTP_SERVER_H
#define FR_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* ---- multipart/form-data (multipart.c) ---- */

/* True when content_type names multipart/form-data (parameters not checked). */
bool fr__is_multipart(const char *content_type);

/* Parses a multipart/form-data body strictly (RFC 7578 / RFC 2046): boundary
 * from content_type (1..70 characters), CRLF line ends, a Content-Disposition
 * "form-data" with a name in every part, header sections of at most 4 KiB,
 * at most max_parts parts, a closing delimiter. parts[i].data points into
 * body; names, file names and content types are copied into *strings
 * (malloc'ed here, freed by the caller with free(), also when this fails).
 * FR_ERR_FORMAT with err naming the problem when the body is malformed. */
fr_status fr__multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                              fr_http_part *parts, int max_parts, int *n_parts, char **strings,
                              fr_error *err);

/* ---- API keys (auth.c) ---- */

typedef struct fr__auth fr__auth;

fr_status fr__auth_create(fr__auth **out, fr_error *err);
void fr__auth_free(fr__auth *a);
/* Adds the keys of a file, one "ROLE KEY" per line (ROLE admin|recognize; blank
 * lines and lines starting with '#' skipped); they stay for the server's life.
 * FR_ERR_FORMAT naming the line when one is malformed. */
fr_status fr__auth_load_file(fr__auth *a, const char *path, fr_error *err);
/* Replaces the gallery keys by the api_keys table's current content (keys
 * created or revoked while the server runs take effect at the next reload). */
fr_status fr__auth_reload(fr__auth *a, fr_gallery *g, fr_error *err);
/* Keys known (gallery + file). With 0, every route is open. Thread-safe. */
int fr__auth_count(fr__auth *a);
/* Role of a presented key, FR_ROLE_NONE when it matches no key. The key is
 * hashed (SHA-256) and compared with every stored hash in constant time. */
fr_http_role fr__auth_check(fr__auth *a, const char *key, size_t len);
/* A new random key: 32 bytes from getrandom as 64 hex characters (+ NUL) and
 * its SHA-256. */
fr_status fr__auth_new_key(char key[65], uint8_t hash[32], fr_error *err);

/* ---- metrics (metrics.c) ---- */

/* Series slots: 0..n_routes-1 for the route table, then these. */
enum { FR__SLOT_HEALTHZ = 0, FR__SLOT_METRICS, FR__SLOT_UNMATCHED, FR__SLOT_EXTRA };

/* Sets up the counters for n_routes table routes (once per process; idempotent). */
fr_status fr__metrics_init(int n_routes, fr_error *err);
void fr__metrics_free(void);
/* One finished request: slot (route index, or n_routes + FR__SLOT_*), HTTP status, seconds. */
void fr__metrics_request(int slot, int status, double seconds);

typedef struct fr__metrics_gauges {
  int64_t queue_depth, queue_capacity, in_flight, workers, connections;
  int64_t subjects, faces, api_keys;
  double uptime_s;
} fr__metrics_gauges;
/* Prometheus text exposition (format 0.0.4), malloc'ed; NULL when out of memory. */
char *fr__metrics_render(const fr__metrics_gauges *g, size_t *len);

/* ---- the server (server.c) ---- */

typedef struct fr_http_server fr_http_server;

typedef struct fr_http_server_config {
  const char *address;    /* IPv4 or IPv6 literal; default "127.0.0.1" */
  int port;               /* 0 = any free port (fr_http_server_port tells which) */
  int queue;              /* jobs waiting for a worker at most; 0 = fr_http_default_queue */
  size_t max_body;        /* 0: each route's own cap; else this cap for every route taking a body */
  int timeout_s;          /* idle connection timeout (slow clients); default 30 */
  int connection_limit;   /* default 256 */
  bool quiet;             /* no access log */
  bool require_keys;      /* protected routes need a key even when none is configured
                           * (a public address: revoking the last key must not open it) */
  size_t max_video_body;  /* cap of the routes declared with FR__HTTP_BODY_VIDEO (video uploads);
                           * 0 = FR__HTTP_BODY_VIDEO. max_body does not apply to them. */
} fr_http_server_config;

/* The body cap a route declares for a video upload: such routes get
 * fr_http_server_config.max_video_body instead (default this, 100 MiB). */
#define FR__HTTP_BODY_VIDEO ((size_t)100 << 20)

fr_http_server_config fr_http_server_default_config(void);
/* Default queue length: max(64, 8 x threads). Long enough that a burst from
 * a few dozen clients waits instead of failing, short enough that a request
 * at its end still waits under ~2 s for a recognition at ~60 ms per worker. */
int fr_http_default_queue(int threads);

/* Starts listening and the worker threads (ctx->n_workers of them, worker i
 * uses ctx->workers[i]). ctx and auth must outlive the server. */
fr_status fr_http_server_start(fr_http_ctx *ctx, const fr_http_server_config *cfg, fr__auth *auth,
                               fr_http_server **out, fr_error *err);
int fr_http_server_port(const fr_http_server *s);
/* Periodic work from the owner's thread (about once a second): refreshes the
 * gallery counts shown by /metrics and reloads the API keys. */
void fr_http_server_tick(fr_http_server *s);
/* Stops accepting connections; requests already received keep going. */
void fr_http_server_quiesce(fr_http_server *s);
/* Requests received and not yet completely answered. */
int fr_http_server_active(fr_http_server *s);
/* Quiesces, waits up to drain_s seconds for every received request to be
 * answered, lets the workers finish whatever is still queued, then closes all
 * connections and frees the server. */
void fr_http_server_stop(fr_http_server *s, double drain_s);

#endif
