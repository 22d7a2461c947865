/*
 * Prometheus metrics of `facerec serve`: lock-free counters (C11 atomics)
 * bumped by the server once per finished request and by handlers for faces
 * detected; rendered as text format 0.0.4 on GET /metrics.
 *
 * Series: facerec_http_requests_total{route,method,status},
 * facerec_http_request_duration_seconds{route,method} (histogram),
 * facerec_faces_detected_total, and gauges (queue depth and capacity,
 * in-flight handlers, workers, open connections, gallery subjects and faces,
 * API keys, uptime).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"

/* HTTP statuses counted separately; anything else lands in "other" (last). */
static const int status_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
                                   413, 415, 422, 429, 431, 500, 501, 503, 504};
#define N_STATUS ((int)(sizeof status_codes / sizeof status_codes[0]) + 1)

/* Latency histogram bucket upper bounds, seconds (+Inf implied). */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5, 10};
#define N_BUCKETS ((int)(sizeof buckets / sizeof buckets[0]))

typedef struct series {
  atomic_uint_fast64_t status[N_STATUS];
  atomic_uint_fast64_t bucket[N_BUCKETS + 1]; /* non-cumulative; last = above every bound */
  atomic_uint_fast64_t sum_us;
} series;

static struct {
  atomic_int ready;
  int n_routes, n_slots;
  series *s;
  atomic_uint_fast64_t faces_detected;
} M;

fr_status fr__metrics_init(int n_routes, fr_error *err) {
  if (atomic_load(&M.ready)) return FR_OK;
  if (n_routes < 0 || n_routes > 4096)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "metrics: %d routes", n_routes);
  int n = n_routes + FR__SLOT_EXTRA;
  series *s = calloc((size_t)n, sizeof *s);
  if (!s) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  M.n_routes = n_routes;
  M.n_slots = n;
  M.s = s;
  atomic_store(&M.faces_detected, 0);
  atomic_store(&M.ready, 1);
  return FR_OK;
}

void fr__metrics_free(void) {
  if (!atomic_load(&M.ready)) return;
  atomic_store(&M.ready, 0);
  free(M.s);
  M.s = NULL;
}

void fr_http_metrics_faces_detected(long n) {
  if (n > 0) atomic_fetch_add_explicit(&M.faces_detected, (uint_fast64_t)n, memory_order_relaxed);
}

static int status_index(int status) {
  for (int i = 0; i < N_STATUS - 1; i++)
    if (status_codes[i] == status) return i;
  return N_STATUS - 1;
}

void fr__metrics_request(int slot, int status, double seconds) {
  if (!atomic_load_explicit(&M.ready, memory_order_acquire) || slot < 0 || slot >= M.n_slots)
    return;
  series *s = &M.s[slot];
  atomic_fetch_add_explicit(&s->status[status_index(status)], 1, memory_order_relaxed);
  if (!(seconds >= 0)) seconds = 0;
  int b = 0;
  while (b < N_BUCKETS && seconds > buckets[b]) b++;
  atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
  double us = seconds * 1e6;
  if (us > 1e15) us = 1e15;
  atomic_fetch_add_explicit(&s->sum_us, (uint_fast64_t)us, memory_order_relaxed);
}

/* ---- rendering ---- */

typedef struct text {
  char *p;
  size_t len, cap;
  bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->oom = true;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n;
    char *p = realloc(t->p, cap);
    if (!p) {
      t->oom = true;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
}

/* route and method labels of a slot */
static void slot_labels(int slot, const char **route, const char **method) {
  if (slot < M.n_routes) {
    *route = fr_http_routes[slot].name ? fr_http_routes[slot].name : fr_http_routes[slot].pattern;
    *method = fr_http_routes[slot].method;
    return;
  }
  static const char *const names[FR__SLOT_EXTRA] = {"healthz", "metrics", "unmatched"};
  *route = names[slot - M.n_routes];
  *method = slot - M.n_routes == FR__SLOT_UNMATCHED ? "any" : "GET";
}

/* Label values are our own route names; escape anyway (\, ", newline). */
static void put_label(text *t, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == '"') put(t, "\\%c", *s);
    else if (*s == '\n') put(t, "\\n");
    else put(t, "%c", *s);
  }
}

static void put_labels(text *t, const char *route, const char *method) {
  put(t, "route=\"");
  put_label(t, route);
  put(t, "\",method=\"");
  put_label(t, method);
  put(t, "\"");
}

char *fr__metrics_render(const fr__metrics_gauges *g, size_t *len) {
  text t = {malloc(16384), 0, 16384, false};
  if (!t.p) return NULL;
  bool ready = atomic_load(&M.ready);
  put(&t, "# HELP facerec_http_requests_total HTTP requests answered, by route and status.\n"
          "# TYPE facerec_http_requests_total counter\n");
  for (int slot = 0; ready && slot < M.n_slots; slot++) {
    const char *route, *method;
    slot_labels(slot, &route, &method);
    for (int i = 0; i < N_STATUS; i++) {
      uint64_t v = atomic_load_explicit(&M.s[slot].status[i], memory_order_relaxed);
      if (v == 0) continue;
      put(&t, "facerec_http_requests_total{");
      put_labels(&t, route, method);
      if (i < N_STATUS - 1) put(&t, ",status=\"%d\"} %" PRIu64 "\n", status_codes[i], v);
      else put(&t, ",status=\"other\"} %" PRIu64 "\n", v);
    }
  }
  put(&t, "# HELP facerec_http_request_duration_seconds Time from request headers to the end of "
          "the response.\n"
          "# TYPE facerec_http_request_duration_seconds histogram\n");
  for (int slot = 0; ready && slot < M.n_slots; slot++) {
    const char *route, *method;
    slot_labels(slot, &route, &method);
    uint64_t total = 0;
    for (int b = 0; b <= N_BUCKETS; b++)
      total += atomic_load_explicit(&M.s[slot].bucket[b], memory_order_relaxed);
    if (total == 0) continue; /* a route's series appear with its first request */
    uint64_t cum = 0;
    for (int b = 0; b <= N_BUCKETS; b++) {
      cum += atomic_load_explicit(&M.s[slot].bucket[b], memory_order_relaxed);
      put(&t, "facerec_http_request_duration_seconds_bucket{");
      put_labels(&t, route, method);
      if (b < N_BUCKETS) put(&t, ",le=\"%g\"} %" PRIu64 "\n", buckets[b], cum);
      else put(&t, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    put(&t, "facerec_http_request_duration_seconds_sum{");
    put_labels(&t, route, method);
    put(&t, "} %.6f\n",
        (double)atomic_load_explicit(&M.s[slot].sum_us, memory_order_relaxed) / 1e6);
    put(&t, "facerec_http_request_duration_seconds_count{");
    put_labels(&t, route, method);
    put(&t, "} %" PRIu64 "\n", cum);
  }
  put(&t,
      "# HELP facerec_faces_detected_total Faces detected in uploaded images.\n"
      "# TYPE facerec_faces_detected_total counter\n"
      "facerec_faces_detected_total %" PRIu64 "\n",
      (uint64_t)atomic_load_explicit(&M.faces_detected, memory_order_relaxed));
#define GAUGE(name, help, value)                                                                  \
  put(&t, "# HELP facerec_" name " " help "\n# TYPE facerec_" name " gauge\nfacerec_" name       \
          " %" PRId64 "\n",                                                                       \
      (int64_t)(value))
  GAUGE("queue_depth", "Requests waiting for a worker.", g->queue_depth);
  GAUGE("queue_capacity", "Requests that may wait for a worker (then 503).", g->queue_capacity);
  GAUGE("in_flight_requests", "Requests being handled by a worker now.", g->in_flight);
  GAUGE("workers", "Worker threads.", g->workers);
  GAUGE("open_connections", "Client connections open now.", g->connections);
  GAUGE("gallery_subjects", "Subjects in the gallery.", g->subjects);
  GAUGE("gallery_faces", "Faces of the served model in the gallery.", g->faces);
  GAUGE("api_keys", "API keys configured (0: open, loopback only).", g->api_keys);
#undef GAUGE
  put(&t,
      "# HELP facerec_uptime_seconds Seconds since the server started.\n"
      "# TYPE facerec_uptime_seconds gauge\nfacerec_uptime_seconds %.3f\n",
      g->uptime_s);
  if (t.oom) {
    free(t.p);
    return NULL;
  }
  *len = t.len;
  return t.p;
}
