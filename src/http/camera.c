/*
 * Video events as JSON, the camera event ring and the camera monitors of
 * `facerec serve --camera NAME=URL` (camera.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/camera.h"
#include "http/handlers.h"

#define BACKOFF_MIN_S 0.5
#define BACKOFF_MAX_S 30.0
#define STABLE_RUN_S 30.0 /* a run this long resets the back-off */

/* ---- event JSON ---- */

static const char *event_name(fr_video_event_type t) {
  switch (t) {
  case FR_VIDEO_TRACK_START: return "track_start";
  case FR_VIDEO_IDENTIFIED: return "identified";
  case FR_VIDEO_TRACK_END: return "track_end";
  }
  return "unknown";
}

/* Reals as `facerec video --json` writes them (src/cli/cmd_video.c): box
 * coordinates to 2 decimals, times to 3, scores and similarities as they are;
 * not finite: null. */
static json_t *real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *box_json(const fr_face *f) {
  json_t *b = json_object();
  json_object_set_new(b, "x", real(round((double)f->x * 100) / 100));
  json_object_set_new(b, "y", real(round((double)f->y * 100) / 100));
  json_object_set_new(b, "w", real(round((double)f->w * 100) / 100));
  json_object_set_new(b, "h", real(round((double)f->h * 100) / 100));
  return b;
}

json_t *fr__video_event_json(const fr_video_event *ev, int64_t track_offset) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "event", json_string(event_name(ev->type)));
  json_object_set_new(o, "track", json_integer(ev->track + track_offset));
  json_object_set_new(o, "frame", json_integer(ev->frame));
  json_object_set_new(o, "time", real(round(ev->time_s * 1000) / 1000));
  switch (ev->type) {
  case FR_VIDEO_TRACK_START:
    json_object_set_new(o, "box", box_json(&ev->face));
    json_object_set_new(o, "score", real(ev->face.score));
    break;
  case FR_VIDEO_IDENTIFIED:
    json_object_set_new(o, "subject", fr__json_str(ev->subject)); /* NULL: back to unknown */
    json_object_set_new(o, "similarity", real(ev->similarity));
    json_object_set_new(o, "box", box_json(&ev->face));
    break;
  case FR_VIDEO_TRACK_END:
    json_object_set_new(o, "subject", fr__json_str(ev->subject ? ev->subject : "unknown"));
    json_object_set_new(o, "first_frame", json_integer(ev->first_frame));
    json_object_set_new(o, "last_frame", json_integer(ev->last_frame));
    json_object_set_new(o, "best_similarity", real(ev->best_similarity));
    json_object_set_new(o, "frames", json_integer(ev->frames));
    json_object_set_new(o, "crop", fr__json_str(ev->crop_path)); /* NULL: null */
    break;
  }
  return o;
}

json_t *fr__video_summary_json(const fr_video_summary *s) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "frames", json_integer(s->frames));
  json_object_set_new(o, "frames_processed", json_integer(s->frames_processed));
  json_object_set_new(o, "frames_dropped", json_integer(s->frames_dropped));
  json_object_set_new(o, "seconds", real(round(s->seconds * 1000) / 1000));
  json_object_set_new(o, "fps", real(round(s->fps * 10) / 10));
  json_object_set_new(o, "tracks", json_integer(s->tracks));
  json_t *subs = json_array();
  for (int i = 0; subs && i < s->n_subjects; i++) {
    const fr_video_subject_seen *v = &s->subjects[i];
    json_t *j = json_object(), *rs = json_array();
    json_object_set_new(j, "subject", fr__json_str(v->subject));
    json_object_set_new(j, "first_frame", json_integer(v->first_frame));
    json_object_set_new(j, "last_frame", json_integer(v->last_frame));
    for (int k = 0; rs && k < v->n_ranges; k++)
      json_array_append_new(rs, json_pack("[I, I]", (json_int_t)v->ranges[k][0],
                                          (json_int_t)v->ranges[k][1]));
    json_object_set_new(j, "ranges", rs ? rs : json_null());
    json_object_set_new(j, "tracks", json_integer(v->tracks));
    json_object_set_new(j, "best_similarity", real(v->best_similarity));
    json_array_append_new(subs, j);
  }
  json_object_set_new(o, "subjects", subs ? subs : json_null());
  json_object_set_new(o, "width", json_integer(s->info.width));
  json_object_set_new(o, "height", json_integer(s->info.height));
  json_object_set_new(o, "video_fps", real(s->info.fps));
  return o;
}

/* ---- the event ring ---- */

static struct {
  pthread_mutex_t mu;
  json_t *ev[FR__EVENTS_RING]; /* slot seq % FR__EVENTS_RING */
  uint64_t last;               /* newest seq; 0 = none yet */
  uint64_t first;              /* oldest seq held (when last > 0) */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void iso_now(char *out, size_t n) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, n, "%s.%03ldZ", when, now.tv_nsec / 1000000);
}

uint64_t fr__events_push(const char *camera, json_t *ev) {
  if (!ev) return 0;
  char when[40];
  iso_now(when, sizeof when);
  /* {"seq", "camera", "time", then the event's fields, its "time" as "video_time"} */
  json_t *o = json_object(), *seq_j = json_integer(0);
  bool ok = o && seq_j && !json_object_set(o, "seq", seq_j) &&
            !json_object_set_new(o, "camera", fr__json_str(camera)) &&
            !json_object_set_new(o, "time", json_string(when));
  const char *key;
  json_t *v;
  json_object_foreach(ev, key, v) {
    if (!ok) break;
    ok = !json_object_set(o, strcmp(key, "time") == 0 ? "video_time" : key, v);
  }
  json_decref(ev);
  if (!ok) {
    json_decref(seq_j);
    json_decref(o);
    return 0;
  }
  pthread_mutex_lock(&R.mu);
  uint64_t seq = R.last + 1;
  json_integer_set(seq_j, (json_int_t)seq);
  json_decref(seq_j);
  size_t slot = (size_t)(seq % FR__EVENTS_RING);
  if (R.ev[slot]) json_decref(R.ev[slot]); /* the oldest goes */
  R.ev[slot] = o;
  R.last = seq;
  if (R.first == 0) R.first = seq;
  if (R.last - R.first + 1 > FR__EVENTS_RING) R.first = R.last - FR__EVENTS_RING + 1;
  pthread_mutex_unlock(&R.mu);
  return seq;
}

json_t *fr__events_since(uint64_t since, const char *camera, int limit, uint64_t *next,
                         uint64_t *missed) {
  json_t *out = json_array();
  pthread_mutex_lock(&R.mu);
  *next = R.last;
  *missed = 0;
  if (out && R.last > 0) {
    uint64_t from = since + 1;
    if (from < R.first) {
      *missed = R.first - from;
      from = R.first;
    }
    int n = 0;
    for (uint64_t seq = from; seq <= R.last && n < limit; seq++) {
      json_t *ev = R.ev[seq % FR__EVENTS_RING];
      if (!ev) continue;
      if (camera) {
        const char *c = json_string_value(json_object_get(ev, "camera"));
        if (!c || strcmp(c, camera) != 0) continue;
      }
      /* a copy: the ring's object may be dropped while the response is built */
      json_t *copy = json_deep_copy(ev);
      if (!copy || json_array_append_new(out, copy)) {
        json_decref(out);
        out = NULL;
        break;
      }
      n++;
      if (n == limit) *next = seq;
    }
  }
  pthread_mutex_unlock(&R.mu);
  return out;
}

void fr__events_reset(void) {
  pthread_mutex_lock(&R.mu);
  for (int i = 0; i < FR__EVENTS_RING; i++) {
    if (R.ev[i]) json_decref(R.ev[i]);
    R.ev[i] = NULL;
  }
  R.first = R.last = 0;
  pthread_mutex_unlock(&R.mu);
}

/* ---- monitors ---- */

typedef struct camera {
  struct fr__cameras *set;
  char name[FR__CAMERA_NAME_MAX + 1];
  char *url;
  pthread_t thread;
  bool started;
  int64_t track_base;       /* tracks of the earlier runs (ids stay unique per camera) */
  int64_t frames_base;      /* frames of the earlier runs */
  atomic_int_fast64_t frames, events, errors, runs;
  atomic_int up;            /* 1 while a run is going */
} camera;

struct fr__cameras {
  const fr_engine *engine;
  fr_gallery *gallery;
  fr__camera_options o;
  volatile int stop;        /* fr_video_options.stop of every run */
  pthread_mutex_t mu;       /* guards the back-off sleeps */
  pthread_cond_t cv;
  int n;
  camera cams[];
};

/* The running set, for /metrics (one server per process). */
static pthread_mutex_t G_mu = PTHREAD_MUTEX_INITIALIZER;
static fr__cameras *G_cams;

fr__camera_options fr__camera_default_options(void) {
  fr__camera_options o = {0};
  o.every = 1;
  o.threshold = 0;
  o.threads = 1;
  o.quiet = false;
  return o;
}

static bool name_ok(const char *s, size_t n) {
  if (n == 0 || n > FR__CAMERA_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

bool fr__camera_spec_parse(const char *arg, fr__camera_spec *out, char *why, size_t why_len) {
  const char *eq = strchr(arg, '=');
  if (!eq) {
    snprintf(why, why_len, "'%s' is not NAME=URL", arg);
    return false;
  }
  if (!name_ok(arg, (size_t)(eq - arg))) {
    snprintf(why, why_len,
             "camera name '%.*s' must be 1..%d characters of A-Z a-z 0-9 . _ -",
             (int)(eq - arg > 80 ? 80 : eq - arg), arg, FR__CAMERA_NAME_MAX);
    return false;
  }
  if (!eq[1]) {
    snprintf(why, why_len, "camera '%.*s' has no URL", (int)(eq - arg), arg);
    return false;
  }
  out->name = arg; /* up to '=': callers copy with the length */
  out->url = eq + 1;
  return true;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...) {
  char when[40], msg[2048];
  iso_now(when, sizeof when);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s %s\n", when, msg);
}

static int on_event(void *ctx, const fr_video_event *ev) {
  camera *c = ctx;
  json_t *j = fr__video_event_json(ev, c->track_base);
  if (!j) return 0;
  char *line = c->set->o.quiet ? NULL : json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
  uint64_t seq = fr__events_push(c->name, j);
  atomic_fetch_add(&c->events, 1);
  if (line) {
    log_line("camera %s seq %" PRIu64 " %s", c->name, seq, line);
    free(line);
  }
  return c->set->stop ? 1 : 0;
}

static void on_progress(void *ctx, int64_t frames, double fps, int64_t tracks) {
  (void)fps, (void)tracks;
  camera *c = ctx;
  atomic_store(&c->frames, c->frames_base + frames);
}

/* Sleeps up to s seconds; returns early (true) when stopping. */
static bool nap(fr__cameras *set, double s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double whole = floor(s);
  until.tv_sec += (time_t)whole;
  until.tv_nsec += (long)((s - whole) * 1e9);
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&set->mu);
  while (!set->stop)
    if (pthread_cond_timedwait(&set->cv, &set->mu, &until) == ETIMEDOUT) break;
  bool stop = set->stop != 0;
  pthread_mutex_unlock(&set->mu);
  return stop;
}

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *camera_main(void *arg) {
  camera *c = arg;
  fr__cameras *set = c->set;
  double backoff = BACKOFF_MIN_S;
  while (!set->stop) {
    fr_video_options o = fr_video_default_options();
    o.every = set->o.every > 0 ? set->o.every : 1;
    o.threshold = set->o.threshold;
    o.realtime = true;
    o.threads = set->o.threads > 0 ? set->o.threads : 1;
    o.reconnect_max = 0; /* reconnections are ours: logged, counted, back-off up to 30 s */
    o.stop = &set->stop;
    o.progress = on_progress;
    o.progress_ctx = c;
    fr_video_summary sum;
    memset(&sum, 0, sizeof sum);
    fr_error err = {{0}};
    atomic_fetch_add(&c->runs, 1);
    atomic_store(&c->up, 1);
    double t0 = mono_s();
    fr_status st = fr_video_run(set->engine, set->gallery, c->url, &o, on_event, c, &sum, &err);
    double ran = mono_s() - t0;
    atomic_store(&c->up, 0);
    c->track_base += sum.tracks;
    c->frames_base += sum.frames;
    atomic_store(&c->frames, c->frames_base);
    fr_video_summary_free(&sum);
    if (set->stop) break;
    if (ran >= STABLE_RUN_S) backoff = BACKOFF_MIN_S;
    if (st != FR_OK) {
      atomic_fetch_add(&c->errors, 1);
      log_line("camera %s: %s: %s; retrying in %.1f s", c->name, fr_strerror(st), err.msg,
               backoff);
    } else {
      log_line("camera %s: the source ended after %" PRId64 " frames; reopening in %.1f s", c->name,
               sum.frames, backoff);
    }
    if (nap(set, backoff)) break;
    backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
  }
  return NULL;
}

fr_status fr__cameras_start(const fr_engine *e, fr_gallery *g, const fr__camera_spec *specs, int n,
                            const fr__camera_options *o, fr__cameras **out, fr_error *err) {
  *out = NULL;
  if (n < 1 || n > FR__CAMERAS_MAX)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%d cameras (1..%d)", n, FR__CAMERAS_MAX);
  for (int i = 0; i < n; i++) {
    size_t len = strcspn(specs[i].name, "=");
    if (!name_ok(specs[i].name, len) || !specs[i].url || !*specs[i].url)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "camera %d: bad name or empty URL", i + 1);
    for (int k = 0; k < i; k++)
      if (strcspn(specs[k].name, "=") == len && strncmp(specs[k].name, specs[i].name, len) == 0)
        return fr_error_set(err, FR_ERR_INVALID_ARG, "camera name '%.*s' given twice", (int)len,
                            specs[i].name);
  }
  fr__cameras *set = calloc(1, sizeof *set + (size_t)n * sizeof(camera));
  if (!set) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  set->engine = e;
  set->gallery = g;
  set->o = o ? *o : fr__camera_default_options();
  pthread_mutex_init(&set->mu, NULL);
  pthread_cond_init(&set->cv, NULL);
  set->n = n;
  fr_status st = FR_OK;
  for (int i = 0; i < n; i++) {
    camera *c = &set->cams[i];
    c->set = set;
    size_t len = strcspn(specs[i].name, "=");
    memcpy(c->name, specs[i].name, len);
    c->name[len] = 0;
    c->url = strdup(specs[i].url);
    if (!c->url) {
      st = fr_error_set(err, FR_ERR_NOMEM, "out of memory");
      break;
    }
  }
  for (int i = 0; st == FR_OK && i < n; i++) {
    camera *c = &set->cams[i];
    if (pthread_create(&c->thread, NULL, camera_main, c) != 0) {
      st = fr_error_set(err, FR_ERR_INTERNAL, "cannot start the thread of camera %s", c->name);
      break;
    }
    c->started = true;
    log_line("camera %s: monitoring %s", c->name, c->url);
  }
  if (st != FR_OK) {
    fr__cameras_stop(set);
    return st;
  }
  pthread_mutex_lock(&G_mu);
  G_cams = set;
  pthread_mutex_unlock(&G_mu);
  *out = set;
  return FR_OK;
}

void fr__cameras_stop(fr__cameras *set) {
  if (!set) return;
  pthread_mutex_lock(&G_mu);
  if (G_cams == set) G_cams = NULL;
  pthread_mutex_unlock(&G_mu);
  pthread_mutex_lock(&set->mu);
  set->stop = 1;
  pthread_cond_broadcast(&set->cv);
  pthread_mutex_unlock(&set->mu);
  for (int i = 0; i < set->n; i++)
    if (set->cams[i].started) pthread_join(set->cams[i].thread, NULL);
  for (int i = 0; i < set->n; i++) free(set->cams[i].url);
  pthread_mutex_destroy(&set->mu);
  pthread_cond_destroy(&set->cv);
  free(set);
}

bool fr__cameras_metrics(char **text, size_t *len) {
  pthread_mutex_lock(&G_mu);
  fr__cameras *set = G_cams;
  if (!set) {
    pthread_mutex_unlock(&G_mu);
    return true;
  }
  size_t cap = 1024 + (size_t)set->n * 512, used = 0;
  char *buf = malloc(cap);
  if (!buf) {
    pthread_mutex_unlock(&G_mu);
    return false;
  }
  static const struct {
    const char *name, *type, *help;
  } series[] = {
      {"facerec_camera_frames_total", "counter", "Frames decoded from each camera."},
      {"facerec_camera_events_total", "counter", "Track events of each camera."},
      {"facerec_camera_errors_total", "counter", "Failed opens and broken streams of each camera."},
      {"facerec_camera_up", "gauge", "1 while the camera's source is open."},
  };
  for (size_t s = 0; s < sizeof series / sizeof series[0]; s++) {
    if (used < cap)
      used += (size_t)snprintf(buf + used, cap - used, "# HELP %s %s\n# TYPE %s %s\n",
                             series[s].name, series[s].help, series[s].name, series[s].type);
    for (int i = 0; i < set->n; i++) {
      camera *c = &set->cams[i];
      int64_t v = s == 0   ? (int64_t)atomic_load(&c->frames)
                  : s == 1 ? (int64_t)atomic_load(&c->events)
                  : s == 2 ? (int64_t)atomic_load(&c->errors)
                           : (int64_t)atomic_load(&c->up);
      if (used < cap)
        used += (size_t)snprintf(buf + used, cap - used, "%s{camera=\"%s\"} %" PRId64 "\n",
                               series[s].name, c->name, v);
    }
  }
  pthread_mutex_unlock(&G_mu);
  if (used >= cap) { /* cannot happen with the sizes above; dropped rather than cut */
    free(buf);
    return true;
  }
  char *t = realloc(*text, *len + used + 1);
  if (!t) {
    free(buf);
    return false;
  }
  memcpy(t + *len, buf, used + 1);
  *text = t;
  *len += used;
  free(buf);
  return true;
}
