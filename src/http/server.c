/*
 * The HTTP server core of `facerec serve` (libmicrohttpd).
 *
 * One MHD thread (epoll) owns every socket: it parses requests, matches the
 * route table, checks the API key and the body cap BEFORE reading the body,
 * buffers the body (never more than the cap), parses the query and multipart
 * parts, answers cheap requests itself (/healthz, /metrics, and every error
 * found so far), and otherwise suspends the connection and puts the request
 * on a bounded queue. N worker threads take requests off the queue, run the
 * route's handler with their own fr_worker, serialize the reply and resume
 * the connection; MHD then sends it. A full queue is answered 503 with
 * Retry-After at once, so work never piles up; slow clients only hold a
 * connection slot (idle timeout), never a worker.
 *
 * Lifecycle of a request (struct job, MHD's per-request pointer):
 *   first call      -> route, auth, Content-Length cap   (error: answer now)
 *   upload calls    -> append to the body (over the cap: 413, rest dropped)
 *   final call      -> parse, then answer now or suspend + enqueue (or 503)
 *   worker          -> handler, response built, phase DONE, resume
 *   call after resume -> queue the response
 *   completed       -> access log, metrics, free
 * A 2xx is only ever produced after the handler returned, so a write the
 * handler acknowledged is already committed (the gallery is synchronous=FULL).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/camera.h"
#include "http/server.h"

#define REQUEST_ID_MAX 64
#define DISCARD_MAX ((size_t)1 << 20) /* bytes of an over-cap upload dropped before closing */
#define BODY_GROW_MIN ((size_t)64 << 10)
#define STRAY_BODY_MAX ((size_t)1024)
/* Request bodies held in memory at once, all connections together; beyond it
 * new bodies are refused with 503 + Retry-After (a few large uploads cannot
 * exhaust memory). */
#define BODY_BUDGET ((size_t)512 << 20)
#define MEMORY_LIMIT ((size_t)64 << 10) /* per connection: headers + read buffer */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(7))

/* ---- server state ---- */

typedef enum { PH_RECEIVING, PH_QUEUED, PH_DONE } phase;

typedef struct job {
  fr_http_server *srv;
  struct MHD_Connection *conn;
  const fr_http_route *route; /* NULL for builtin routes and errors */
  int slot;                   /* metrics series */
  int builtin;                /* 0, or FR__SLOT_HEALTHZ + 1 / FR__SLOT_METRICS + 1 */
  struct timespec t0;
  char rid[REQUEST_ID_MAX + 1];
  char method[16];
  char *raw_path; /* as received, for the log (copy) */
  char *strs;     /* decoded path, path args and query */
  fr_http_req req;
  uint8_t *body;
  size_t body_len, body_cap, max_body;
  bool too_large;
  bool no_room;     /* the body did not fit the server's memory budget */
  bool early_error; /* j->resp holds an error to send on the final call */
  bool drop_body;   /* the route takes no body: up to STRAY_BODY_MAX bytes are read and dropped */
  size_t discarded;
  char *mp_strings;
  fr_http_resp resp;     /* filled by the worker */
  atomic_int phase;
  struct MHD_Response *out; /* built by the worker */
  bool worked;              /* the worker is done: queue out on the next call */
  int status;
  size_t bytes_out;
} job;

struct fr_http_server {
  fr_http_ctx *ctx;
  fr_http_server_config cfg;
  fr__auth *auth;
  struct MHD_Daemon *d;
  int port;
  pthread_mutex_t mu; /* queue */
  pthread_cond_t cv;
  job **ring;
  int qcap, qhead, qlen, running;
  bool stop;
  pthread_t *threads;
  int n_threads;
  atomic_int active;      /* requests received and not completed */
  atomic_size_t body_bytes; /* request body buffers allocated, all requests */
  atomic_int connections;
  atomic_bool stopping;
  atomic_uint_fast64_t next_id;
  char id_prefix[9];
  struct timespec started;
  atomic_int_fast64_t subjects, faces;
  bool quiesced;
};

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

fr_http_server_config fr_http_server_default_config(void) {
  fr_http_server_config c = {0};
  c.address = "127.0.0.1";
  c.port = 8080;
  c.queue = 0; /* fr_http_default_queue(threads) */
  c.max_body = 0;
  c.timeout_s = 30;
  c.connection_limit = 256;
  return c;
}

int fr_http_server_port(const fr_http_server *s) { return s->port; }

int fr_http_default_queue(int threads) { return threads * 8 > 64 ? threads * 8 : 64; }

/* ---- responses ---- */

static bool is_recognition_path(const char *path) {
  return path && strncmp(path, "/recognition", 12) == 0 && (path[12] == 0 || path[12] == '/');
}

/* An error found by the server itself. The seed's /recognition API also gets
 * its own error fields ({"result":"error during prediction","error":...}). */
static void server_error(job *j, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void server_error(job *j, int status, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fr_http_error(&j->resp, status, code, "%s", msg);
  if (j->resp.json && is_recognition_path(j->raw_path)) {
    json_object_set_new(j->resp.json, "result", json_string("error during prediction"));
    json_object_set_new(j->resp.json, "error", json_string(msg));
  }
}

static void add_header(struct MHD_Response *r, const char *name, const char *value) {
  MHD_add_response_header(r, name, value);
}

/* Extra "Name: value\r\n" lines from a handler; malformed lines are dropped. */
static void add_extra_headers(struct MHD_Response *r, const char *h) {
  size_t n = strnlen(h, 256);
  const char *p = h, *end = h + n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (colon && colon > p) {
      char name[64], value[200];
      size_t nl = (size_t)(colon - p);
      const char *v = colon + 1;
      while (v < le && (*v == ' ' || *v == '\t')) v++;
      const char *ve = le;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t vl = (size_t)(ve - v);
      bool ok = nl < sizeof name && vl < sizeof value;
      for (size_t i = 0; ok && i < nl; i++) ok = isalnum((unsigned char)p[i]) || p[i] == '-';
      for (size_t i = 0; ok && i < vl; i++) ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
      if (ok) {
        memcpy(name, p, nl);
        name[nl] = 0;
        memcpy(value, v, vl);
        value[vl] = 0;
        add_header(r, name, value);
      }
    }
    p = eol ? eol + 1 : end;
  }
}

/* Builds the MHD response of j->resp (takes its json / bytes). NULL when out of memory. */
static struct MHD_Response *build_response(job *j) {
  fr_http_resp *r = &j->resp;
  bool empty_ok = r->status == 204 || r->status == 304;
  if (r->status < 100 || r->status > 599 || (!r->json && !r->bytes && !empty_ok)) {
    /* no status (a bug) or no body (out of memory building it): answered as such */
    if (r->json) json_decref(r->json);
    r->json = NULL;
    free(r->bytes);
    r->bytes = NULL;
    server_error(j, 500, "internal_error", "the handler produced no response (out of memory?)");
  }
  struct MHD_Response *out = NULL;
  const char *ctype = NULL;
  size_t len = 0;
  if (r->json) {
    char *s = json_dumps(r->json, JSON_FLAGS);
    json_decref(r->json);
    r->json = NULL;
    free(r->bytes);
    r->bytes = NULL;
    if (s) {
      len = strlen(s);
      out = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
      if (!out) free(s);
    }
    ctype = "application/json";
  } else if (r->bytes) {
    len = r->bytes_len;
    out = MHD_create_response_from_buffer(len, r->bytes, MHD_RESPMEM_MUST_FREE);
    if (!out) free(r->bytes);
    r->bytes = NULL;
    ctype = r->content_type ? r->content_type : "application/octet-stream";
  } else {
    out = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!out) return NULL;
  if (ctype) add_header(out, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  add_header(out, "X-Request-Id", j->rid);
  if (r->headers[0]) add_extra_headers(out, r->headers);
  j->status = r->status;
  j->bytes_out = len;
  return out;
}

/* Queues j->resp now (from the MHD thread). */
static enum MHD_Result respond(job *j) {
  struct MHD_Response *out = build_response(j);
  if (!out) return MHD_NO; /* out of memory: MHD closes the connection */
  if (atomic_load(&j->srv->stopping)) add_header(out, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result rc = MHD_queue_response(j->conn, (unsigned)j->status, out);
  MHD_destroy_response(out);
  atomic_store(&j->phase, PH_DONE);
  return rc;
}

/* ---- request ids, paths, query ---- */

static void make_request_id(fr_http_server *s, job *j) {
  const char *given =
      MHD_lookup_connection_value(j->conn, MHD_HEADER_KIND, "X-Request-Id");
  if (given) {
    size_t n = strnlen(given, REQUEST_ID_MAX + 1);
    bool ok = n > 0 && n <= REQUEST_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
      ok = isalnum((unsigned char)given[i]) || strchr("._:-", given[i]);
    if (ok) {
      memcpy(j->rid, given, n + 1);
      return;
    }
  }
  uint64_t id = atomic_fetch_add(&s->next_id, 1) + 1;
  snprintf(j->rid, sizeof j->rid, "%s-%" PRIu64, s->id_prefix, id);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s+n) into out (room for n + 1); plus_space: '+' means ' '
 * (query strings). Returns the length, or -1 for a bad escape or a NUL. */
static long url_decode(const char *s, size_t n, char *out, bool plus_space) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = (char)(h * 16 + l);
      if (c == 0) return -1;
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    out[o++] = c;
  }
  out[o] = 0;
  return (long)o;
}

/* Matches a raw path against a route pattern; captures point into the raw path. */
static bool match_pattern(const char *pattern, const char *path, const char *cap[],
                          size_t cap_len[], int *n_cap) {
  const char *p = pattern, *u = path;
  int n = 0;
  while (*p && *u) {
    if (*p != '/' || *u != '/') return false;
    p++, u++;
    const char *pe = strchrnul(p, '/'), *ue = strchrnul(u, '/');
    if (*p == '{' && pe > p && pe[-1] == '}') {
      if (ue == u || n >= FR_HTTP_MAX_PATH_ARGS) return false;
      cap[n] = u;
      cap_len[n++] = (size_t)(ue - u);
    } else if (pe - p != ue - u || memcmp(p, u, (size_t)(pe - p)) != 0) {
      return false;
    }
    p = pe, u = ue;
  }
  if (*p || *u) return false;
  *n_cap = n;
  return true;
}

static bool method_is(const char *route_method, const char *method) {
  if (strcmp(route_method, method) == 0) return true;
  return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

typedef struct query_count {
  size_t bytes;
  int n;
} query_count;

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  (void)kind;
  query_count *c = cls;
  c->n++;
  c->bytes += strlen(key) + (value ? strlen(value) : 0) + 2;
  return MHD_YES;
}

typedef struct query_fill {
  job *j;
  char *p;
  bool bad;
} query_fill;

static enum MHD_Result fill_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
  (void)kind;
  query_fill *f = cls;
  fr_http_req *r = &f->j->req;
  if (r->n_query >= FR_HTTP_MAX_PARAMS) return MHD_NO;
  long kl = url_decode(key, strlen(key), f->p, true);
  if (kl < 0) {
    f->bad = true;
    return MHD_NO;
  }
  r->query[r->n_query].key = f->p;
  f->p += kl + 1;
  const char *v = value ? value : "";
  long vl = url_decode(v, strlen(v), f->p, true);
  if (vl < 0) {
    f->bad = true;
    return MHD_NO;
  }
  r->query[r->n_query].value = f->p;
  f->p += vl + 1;
  r->n_query++;
  return MHD_YES;
}

/* Decodes the path, the route's placeholders and the query into j->strs.
 * Returns false after setting an error reply. */
static bool decode_request(job *j, const char *const cap[], const size_t cap_len[], int n_cap) {
  query_count qc = {0, 0};
  MHD_get_connection_values(j->conn, MHD_GET_ARGUMENT_KIND, count_arg, &qc);
  if (qc.n > FR_HTTP_MAX_PARAMS) {
    server_error(j, 400, "bad_request", "more than %d query parameters", FR_HTTP_MAX_PARAMS);
    return false;
  }
  size_t plen = strlen(j->raw_path);
  size_t need = plen + 1 + plen + (size_t)FR_HTTP_MAX_PATH_ARGS + qc.bytes + 1;
  j->strs = malloc(need);
  if (!j->strs) {
    server_error(j, 500, "out_of_memory", "out of memory");
    return false;
  }
  char *p = j->strs;
  long n = url_decode(j->raw_path, plen, p, false);
  if (n < 0) {
    server_error(j, 400, "bad_request", "malformed percent-encoding in the path");
    return false;
  }
  j->req.path = p;
  p += n + 1;
  for (int i = 0; i < n_cap; i++) {
    n = url_decode(cap[i], cap_len[i], p, false);
    if (n < 0) {
      server_error(j, 400, "bad_request", "malformed percent-encoding in the path");
      return false;
    }
    j->req.path_args[i] = p;
    p += n + 1;
  }
  j->req.n_path_args = n_cap;
  query_fill qf = {j, p, false};
  MHD_get_connection_values(j->conn, MHD_GET_ARGUMENT_KIND, fill_arg, &qf);
  if (qf.bad) {
    server_error(j, 400, "bad_request", "malformed percent-encoding in the query string");
    return false;
  }
  return true;
}

/* ---- first call: route, auth, declared size ---- */

static const fr_http_route *find_route(fr_http_server *s, job *j, const char *cap[],
                                       size_t cap_len[], int *n_cap) {
  (void)s;
  char allow[128] = "";
  bool path_known = false;
  for (int i = 0; i < fr_http_n_routes; i++) {
    const fr_http_route *r = &fr_http_routes[i];
    int n = 0;
    if (!match_pattern(r->pattern, j->raw_path, cap, cap_len, &n)) continue;
    if (method_is(r->method, j->method)) {
      *n_cap = n;
      j->slot = i;
      return r;
    }
    path_known = true;
    if (!strstr(allow, r->method) && strlen(allow) + strlen(r->method) + 3 < sizeof allow) {
      if (allow[0]) strcat(allow, ", ");
      strcat(allow, r->method);
    }
  }
  if (path_known) {
    server_error(j, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", j->method,
                 j->raw_path, allow);
    snprintf(j->resp.headers, sizeof j->resp.headers, "Allow: %s\r\n", allow);
  } else {
    server_error(j, 404, "not_found", "no route %s %s", j->method, j->raw_path);
  }
  return NULL;
}

static bool header_is_chunked(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te && strcasestr(te, "chunked");
}

/* Declared body size: -1 none declared (chunked or absent), -2 malformed. */
static long long content_length(struct MHD_Connection *c) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(cl, &end, 10);
  if (errno || end == cl || *end || v < 0) return -2;
  return v;
}

static size_t route_cap(fr_http_server *s, const fr_http_route *r) {
  if (!r || r->max_body == 0) return 0;
  if (r->max_body == FR__HTTP_BODY_VIDEO) /* video uploads: their own cap */
    return s->cfg.max_video_body ? s->cfg.max_video_body : r->max_body;
  return s->cfg.max_body ? s->cfg.max_body : r->max_body;
}

static bool budget_take(fr_http_server *s, size_t n) {
  size_t before = atomic_fetch_add(&s->body_bytes, n);
  if (before + n <= BODY_BUDGET) return true;
  atomic_fetch_sub(&s->body_bytes, n);
  return false;
}

static void budget_give(fr_http_server *s, size_t n) { atomic_fetch_sub(&s->body_bytes, n); }

static void overloaded(job *j, const char *why) {
  server_error(j, 503, "overloaded", "the server is busy (%s); retry shortly", why);
  snprintf(j->resp.headers, sizeof j->resp.headers, "Retry-After: 1\r\n");
}

static void too_large(job *j) {
  if (j->drop_body)
    server_error(j, 413, "too_large", "%s %s takes no request body", j->method, j->raw_path);
  else
    server_error(j, 413, "too_large", "request body over the %zu-byte limit", j->max_body);
}

/* Returns true when the request may go on to the body; else j->resp is set. */
static bool admit(fr_http_server *s, job *j) {
  if (atomic_load(&s->stopping)) {
    server_error(j, 503, "shutting_down", "the server is shutting down");
    return false;
  }
  if (j->raw_path[0] != '/') {
    server_error(j, 400, "bad_request", "the request target must be a path");
    return false;
  }
  const char *cap[FR_HTTP_MAX_PATH_ARGS];
  size_t cap_len[FR_HTTP_MAX_PATH_ARGS];
  int n_cap = 0;
  int n_routes = fr_http_n_routes;
  if (strcmp(j->raw_path, "/healthz") == 0 || strcmp(j->raw_path, "/metrics") == 0) {
    bool health = j->raw_path[1] == 'h';
    j->slot = n_routes + (health ? FR__SLOT_HEALTHZ : FR__SLOT_METRICS);
    if (!method_is("GET", j->method)) {
      server_error(j, 405, "method_not_allowed", "%s is not allowed on %s (allowed: GET)",
                   j->method, j->raw_path);
      snprintf(j->resp.headers, sizeof j->resp.headers, "Allow: GET\r\n");
      return false;
    }
    j->builtin = (health ? FR__SLOT_HEALTHZ : FR__SLOT_METRICS) + 1;
  } else {
    j->slot = n_routes + FR__SLOT_UNMATCHED;
    j->route = find_route(s, j, cap, cap_len, &n_cap);
    if (!j->route) return false;
    if (j->route->role != FR_ROLE_NONE &&
        (s->cfg.require_keys || fr__auth_count(s->auth) > 0)) {
      size_t klen = 0;
      const char *key = NULL;
      if (MHD_lookup_connection_value_n(j->conn, MHD_HEADER_KIND, "x-api-key", 9, &key, &klen) !=
              MHD_YES ||
          !key || klen == 0) {
        server_error(j, 401, "unauthorized", "missing x-api-key header");
        return false;
      }
      fr_http_role role = fr__auth_check(s->auth, key, klen);
      if (role == FR_ROLE_NONE) {
        server_error(j, 401, "unauthorized", "invalid API key");
        return false;
      }
      if (role < j->route->role) {
        server_error(j, 403, "forbidden", "this API key's role may not use %s %s", j->method,
                     j->raw_path);
        return false;
      }
      j->req.role = role;
    } else {
      j->req.role = FR_ROLE_ADMIN; /* no keys configured, or an open route */
    }
  }
  j->max_body = j->builtin ? 0 : route_cap(s, j->route);
  if (j->max_body == 0) { /* no body expected: a stray "{}" is tolerated and dropped */
    j->drop_body = true;
    j->max_body = STRAY_BODY_MAX;
  }
  long long cl = content_length(j->conn);
  if (cl == -2) {
    server_error(j, 400, "bad_request", "malformed Content-Length");
    return false;
  }
  if (cl > 0 && (unsigned long long)cl > j->max_body) {
    too_large(j);
    return false;
  }
  if (cl > 0) {
    if (!budget_take(s, (size_t)cl)) {
      overloaded(j, "too many request bodies in memory");
      return false;
    }
    j->body = malloc((size_t)cl);
    if (!j->body) {
      budget_give(s, (size_t)cl);
      overloaded(j, "out of memory for the request body");
      return false;
    }
    j->body_cap = (size_t)cl;
  }
  if (!decode_request(j, cap, cap_len, n_cap)) return false;
  return true;
}

/* ---- upload ---- */

/* Appends data to the body; false when it went over the cap (too_large) or
 * the memory budget (no_room). */
static bool append_body(fr_http_server *s, job *j, const char *data, size_t n) {
  if (j->too_large || j->no_room) return false;
  if (n > j->max_body - j->body_len) {
    j->too_large = true;
    return false;
  }
  if (n > j->body_cap - j->body_len) {
    size_t cap = j->body_cap ? j->body_cap : BODY_GROW_MIN;
    while (cap - j->body_len < n) cap = cap > j->max_body / 2 ? j->max_body : cap * 2;
    if (cap > j->max_body) cap = j->max_body;
    if (!budget_take(s, cap - j->body_cap)) {
      j->no_room = true;
      return false;
    }
    uint8_t *b = realloc(j->body, cap);
    if (!b) {
      budget_give(s, cap - j->body_cap);
      j->no_room = true;
      return false;
    }
    j->body = b;
    j->body_cap = cap;
  }
  memcpy(j->body + j->body_len, data, n);
  j->body_len += n;
  return true;
}

/* ---- builtin routes ---- */

static void gauges(fr_http_server *s, fr__metrics_gauges *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_lock(&s->mu);
  g->queue_depth = s->qlen;
  g->in_flight = s->running;
  pthread_mutex_unlock(&s->mu);
  g->queue_capacity = s->qcap;
  g->workers = s->n_threads;
  g->connections = atomic_load(&s->connections);
  g->subjects = atomic_load(&s->subjects);
  g->faces = atomic_load(&s->faces);
  g->api_keys = fr__auth_count(s->auth);
  g->uptime_s = seconds_since(&s->started);
}

static enum MHD_Result answer_builtin(fr_http_server *s, job *j) {
  if (j->builtin == FR__SLOT_HEALTHZ + 1) {
    fr_http_json(&j->resp, 200, json_pack("{s:s}", "status", "ok"));
    return respond(j);
  }
  fr__metrics_gauges g;
  gauges(s, &g);
  size_t len = 0;
  char *text = fr__metrics_render(&g, &len);
  if (text) fr__cameras_metrics(&text, &len); /* out of memory: served without the camera series */
  if (!text) {
    server_error(j, 500, "out_of_memory", "out of memory");
    return respond(j);
  }
  j->resp.status = 200;
  j->resp.bytes = (uint8_t *)text;
  j->resp.bytes_len = len;
  j->resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return respond(j);
}

/* ---- the queue and the workers ---- */

typedef struct worker_arg {
  fr_http_server *s;
  int id;
} worker_arg;

static void run_job(fr_http_server *s, int worker, job *j) {
  j->route->handler(s->ctx, worker, &j->req, &j->resp);
  j->out = build_response(j);
  j->worked = true;
  atomic_store(&j->phase, PH_DONE);
}

static void *worker_main(void *arg) {
  worker_arg wa = *(worker_arg *)arg;
  free(arg);
  fr_http_server *s = wa.s;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (s->qlen == 0 && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->qlen == 0) { /* stop, and nothing left */
      pthread_mutex_unlock(&s->mu);
      break;
    }
    job *j = s->ring[s->qhead];
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    s->running++;
    pthread_mutex_unlock(&s->mu);
    struct MHD_Connection *conn = j->conn;
    run_job(s, wa.id, j);
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_mutex_unlock(&s->mu);
    MHD_resume_connection(conn); /* j belongs to the MHD thread again from here */
  }
  return NULL;
}

/* From the MHD thread: suspend + enqueue, or 503 when the queue is full. */
static enum MHD_Result dispatch(fr_http_server *s, job *j) {
  pthread_mutex_lock(&s->mu);
  if (s->qlen >= s->qcap || s->stop) {
    pthread_mutex_unlock(&s->mu);
    char why[64];
    snprintf(why, sizeof why, "%d requests queued", s->qcap);
    overloaded(j, why);
    return respond(j);
  }
  /* suspend before a worker can see the job: its resume must find it suspended */
  MHD_suspend_connection(j->conn);
  atomic_store(&j->phase, PH_QUEUED);
  s->ring[(s->qhead + s->qlen) % s->qcap] = j;
  s->qlen++;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return MHD_YES;
}

/* ---- MHD callbacks ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  fr_http_server *s = cls;
  job *j = *con_cls;
  if (!j) {
    j = calloc(1, sizeof *j);
    if (!j) return MHD_NO;
    *con_cls = j;
    atomic_fetch_add(&s->active, 1);
    j->srv = s;
    j->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &j->t0);
    snprintf(j->method, sizeof j->method, "%s", method);
    j->raw_path = strdup(url ? url : "");
    if (!j->raw_path) return MHD_NO;
    j->req.method = j->method;
    j->req.path = j->raw_path;
    make_request_id(s, j);
    j->req.request_id = j->rid;
    j->req.content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!admit(s, j)) {
      /* Answer at once when a body is coming (it is never read; MHD closes
       * the connection after the answer); otherwise on the final call, which
       * keeps the connection alive. */
      long long cl = content_length(conn);
      if (cl > 0 || cl == -2 || header_is_chunked(conn)) return respond(j);
      j->early_error = true;
    }
    return MHD_YES;
  }
  if (j->early_error && atomic_load(&j->phase) == PH_RECEIVING) {
    if (*upload_size) { /* a body nobody declared: drop it */
      *upload_size = 0;
      return MHD_YES;
    }
    return respond(j);
  }
  int ph = atomic_load(&j->phase);
  if (ph == PH_DONE) {
    if (j->worked) { /* back from a worker */
      j->worked = false;
      struct MHD_Response *out = j->out;
      if (!out) return MHD_NO; /* out of memory building it: close */
      j->out = NULL;
      enum MHD_Result rc = MHD_queue_response(conn, (unsigned)j->status, out);
      MHD_destroy_response(out);
      return rc;
    }
    if (*upload_size) { /* an early answer is queued: drop what the client still sends */
      j->discarded += *upload_size;
      *upload_size = 0;
      return j->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    return MHD_YES;
  }
  if (ph == PH_QUEUED) return MHD_YES; /* not reached: suspended */
  if (*upload_size) {
    if (!append_body(s, j, upload, *upload_size)) {
      j->discarded += *upload_size;
      if (j->discarded > DISCARD_MAX) return MHD_NO; /* stop reading a huge upload */
    }
    *upload_size = 0;
    return MHD_YES;
  }
  /* the whole request is in */
  if (j->too_large) {
    too_large(j);
    return respond(j);
  }
  if (j->no_room) {
    overloaded(j, "too many request bodies in memory");
    return respond(j);
  }
  if (j->drop_body) j->body_len = 0;
  j->req.body = j->body_len ? j->body : NULL;
  j->req.body_len = j->body_len;
  if (j->builtin) return answer_builtin(s, j);
  if (j->body_len && fr__is_multipart(j->req.content_type)) {
    fr_error err = {{0}};
    if (fr__multipart_parse(j->req.content_type, j->body, j->body_len, j->req.parts,
                            FR_HTTP_MAX_PARAMS, &j->req.n_parts, &j->mp_strings,
                            &err) != FR_OK) {
      server_error(j, 400, "bad_multipart", "malformed multipart body: %s", err.msg);
      return respond(j);
    }
  } else if (!j->body_len && fr__is_multipart(j->req.content_type) && j->max_body > 0 &&
             strcmp(j->method, "GET") != 0) {
    server_error(j, 400, "bad_multipart", "malformed multipart body: empty body");
    return respond(j);
  }
  return dispatch(s, j);
}

/* Copies the path for the log: printable ASCII, at most 200 bytes. */
static void log_path(const char *p, char *out, size_t n) {
  size_t o = 0;
  for (; p && *p && o + 4 < n; p++) out[o++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
  if (p && *p) out[o++] = '.', out[o++] = '.', out[o++] = '.';
  out[o] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)conn;
  fr_http_server *s = cls;
  job *j = *con_cls;
  if (!j) return;
  *con_cls = NULL;
  double sec = seconds_since(&j->t0);
  /* no answer sent: 408 when the connection timed out, 499 when the client left */
  int status = j->status ? j->status : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
  fr__metrics_request(j->slot, status, sec);
  if (!s->cfg.quiet) {
    char path[208], when[32];
    log_path(j->raw_path, path, sizeof path);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s %s %d %zu %.1fms%s\n", when, now.tv_nsec / 1000000, j->rid,
            j->method, path, status, j->bytes_out, sec * 1e3,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
  }
  if (j->out) MHD_destroy_response(j->out);
  if (j->resp.json) json_decref(j->resp.json);
  free(j->resp.bytes);
  free(j->body);
  budget_give(s, j->body_cap);
  free(j->mp_strings);
  free(j->strs);
  free(j->raw_path);
  free(j);
  atomic_fetch_sub(&s->active, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
  (void)conn, (void)socket_ctx;
  fr_http_server *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&s->connections, 1);
  else atomic_fetch_sub(&s->connections, 1);
}

/* Keeps the URL as received: paths are split before decoding (an encoded
 * '/' stays inside its segment) and query strings are decoded by us. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls, (void)c;
  return strlen(s);
}

/* ---- start / stop ---- */

fr_status fr_http_server_start(fr_http_ctx *ctx, const fr_http_server_config *cfg, fr__auth *auth,
                               fr_http_server **out, fr_error *err) {
  *out = NULL;
  if (!ctx || !cfg || !auth || ctx->n_workers < 1 || !ctx->workers)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "server: no workers");
  if (cfg->port < 0 || cfg->port > 65535)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "port %d out of range", cfg->port);
  fr_status st = fr__metrics_init(fr_http_n_routes, err);
  if (st != FR_OK) return st;

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  bool v6 = false;
  const char *addr = cfg->address ? cfg->address : "127.0.0.1";
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)cfg->port);
  } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)cfg->port);
    v6 = true;
  } else {
    return fr_error_set(err, FR_ERR_INVALID_ARG, "listen address '%s' is not an IP address", addr);
  }

  fr_http_server *s = calloc(1, sizeof *s);
  if (!s) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  s->ctx = ctx;
  s->cfg = *cfg;
  s->auth = auth;
  s->n_threads = ctx->n_workers;
  s->qcap = cfg->queue > 0 ? cfg->queue : fr_http_default_queue(s->n_threads);
  clock_gettime(CLOCK_MONOTONIC, &s->started);
  uint8_t rnd[4] = {0};
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
    memset(rnd, 0, sizeof rnd); /* ids stay unique per server anyway */
  snprintf(s->id_prefix, sizeof s->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->ring = calloc((size_t)s->qcap, sizeof *s->ring);
  s->threads = calloc((size_t)s->n_threads, sizeof *s->threads);
  if (!s->ring || !s->threads) {
    st = fr_error_set(err, FR_ERR_NOMEM, "out of memory");
    goto fail;
  }
  int started = 0;
  for (; started < s->n_threads; started++) {
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa) break;
    wa->s = s;
    wa->id = started;
    if (pthread_create(&s->threads[started], NULL, worker_main, wa) != 0) {
      free(wa);
      break;
    }
  }
  if (started < s->n_threads) {
    s->n_threads = started; /* join the ones that started */
    st = fr_error_set(err, FR_ERR_INTERNAL, "cannot start the worker threads");
    goto fail;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
  s->d = MHD_start_daemon(
      flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)(cfg->connection_limit > 0 ? cfg->connection_limit : 256),
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->timeout_s > 0 ? cfg->timeout_s : 30),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
      s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK,
      no_unescape, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u, MHD_OPTION_END);
  if (!s->d) {
    st = fr_error_set(err, FR_ERR_IO, "cannot listen on %s:%d: %s", addr, cfg->port,
                      errno ? strerror(errno) : "libmicrohttpd refused to start");
    goto fail;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info && info->port ? info->port : cfg->port;
  *out = s;
  return FR_OK;
fail:
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->ring);
  free(s->threads);
  free(s);
  return st;
}

void fr_http_server_tick(fr_http_server *s) {
  fr_gallery_stats gs;
  if (s->ctx->gallery && fr_gallery_stats_get(s->ctx->gallery, &gs, NULL) == FR_OK) {
    atomic_store(&s->subjects, gs.subjects);
    atomic_store(&s->faces, gs.faces);
  }
  fr_error err = {{0}};
  if (s->ctx->gallery && fr__auth_reload(s->auth, s->ctx->gallery, &err) != FR_OK)
    fprintf(stderr, "facerec serve: cannot reload the API keys (keeping the old ones): %s\n",
            err.msg);
}

void fr_http_server_quiesce(fr_http_server *s) {
  if (s->quiesced) return;
  s->quiesced = true;
  atomic_store(&s->stopping, true);
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

int fr_http_server_active(fr_http_server *s) { return atomic_load(&s->active); }

void fr_http_server_stop(fr_http_server *s, double drain_s) {
  if (!s) return;
  fr_http_server_quiesce(s);
  /* Let every received request finish and its answer go out. */
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (atomic_load(&s->active) > 0 && seconds_since(&t0) < drain_s) {
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  /* Workers finish what is queued (resuming every suspended connection), then exit. */
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  MHD_stop_daemon(s->d);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->ring);
  free(s->threads);
  free(s);
  fr__metrics_free();
}
