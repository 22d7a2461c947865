/*
 * POST /api/v1/video/recognize: faces followed and recognized through an
 * uploaded video (the events of `facerec video --json`), and GET
 * /api/v1/events: the camera monitors' recent events (camera.h).
 *
 * The upload (multipart part "file" or "video", or the raw body) is written to
 * a private temporary file — created with mkstemp, unlinked at once, read back
 * through /proc/self/fd — and fr_video_run decodes it on this worker thread
 * with its own pipeline workers (FR__VIDEO_THREADS by default, so a video never
 * takes every core from the image requests). max_frames caps the work of one
 * request; a server shutdown ends a running video at its next frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/camera.h"
#include "http/handlers.h"

#define MAX_EVENTS 100000 /* events kept in one answer (beyond: counted, dropped) */

static fr__video_limits L = {FR__VIDEO_MAX_FRAMES, FR__VIDEO_THREADS, FR__VIDEO_MAX_SECONDS};
static volatile int cancel_all;

void fr__video_limits_set(const fr__video_limits *l) {
  L.max_frames = l->max_frames > 0 ? l->max_frames : FR__VIDEO_MAX_FRAMES;
  L.threads = l->threads > 0 ? l->threads : FR__VIDEO_THREADS;
  L.max_seconds = l->max_seconds > 0 ? l->max_seconds : FR__VIDEO_MAX_SECONDS;
}

void fr__video_cancel(void) { cancel_all = 1; }

/* The video bytes: multipart "file" / "video", or the raw body. */
static bool video_body(const fr_http_req *req, const uint8_t **data, size_t *len, fr__herr *e) {
  *data = NULL;
  *len = 0;
  if (req->n_parts > 0 || fr__ctype_is(req, "multipart/form-data")) {
    static const char *const fields[] = {"file", "video", NULL};
    for (const char *const *f = fields; *f; f++)
      for (int i = 0; i < req->n_parts && i < FR_HTTP_MAX_PARAMS; i++)
        if (req->parts[i].name && strcmp(req->parts[i].name, *f) == 0) {
          *data = req->parts[i].data;
          *len = req->parts[i].len;
          if (*len == 0)
            return fr__herr_set(e, FR__HERR_EMPTY_VIDEO, "The uploaded file '%s' is empty", *f);
          return true;
        }
    return fr__herr_set(e, FR__HERR_MISSING_FILE, "Required request part 'file' is not present");
  }
  const char *ct = req->content_type;
  size_t ctl = ct ? strcspn(ct, "; \t") : 0;
  bool raw_ok = ctl == 0 || (ctl > 6 && strncasecmp(ct, "video/", 6) == 0) ||
                fr__ctype_is(req, "application/octet-stream") ||
                /* curl --data-binary's default type */
                fr__ctype_is(req, "application/x-www-form-urlencoded");
  if (!raw_ok)
    return fr__herr_set(e, FR__HERR_UNSUPPORTED_MEDIA,
                        "Content type '%.100s' not supported: send multipart/form-data with a "
                        "'file' part, or the video as the body (video/*, application/octet-stream)",
                        ct);
  if (req->body_len == 0)
    return fr__herr_set(e, FR__HERR_EMPTY_VIDEO, "The uploaded video is empty (0 bytes)");
  *data = req->body;
  *len = req->body_len;
  return true;
}

/* Writes data to a temporary file; *fd stays open (the caller closes it) and
 * path names it: /proc/self/fd/N of the file already unlinked, or (no /proc,
 * *keep set) its name, for the caller to unlink. */
static bool spool(const uint8_t *data, size_t len, int *fd, char *path, size_t path_len,
                  int *keep, fr__herr *e) {
  const char *dir = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/facerec-video-XXXXXX", dir && *dir ? dir : "/tmp");
  *fd = mkstemp(tmpl);
  if (*fd < 0)
    return fr__herr_set(e, FR__HERR_INTERNAL, "cannot create a temporary file: %s",
                        strerror(errno));
  for (size_t off = 0; off < len;) {
    ssize_t n = write(*fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      unlink(tmpl);
      return fr__herr_set(e, FR__HERR_INTERNAL, "cannot write the upload to a temporary file: %s",
                          n < 0 ? strerror(errno) : "no progress");
    }
    off += (size_t)n;
  }
  /* Read back through /proc/self/fd and unlinked now: private, and gone
   * whatever happens next. Without /proc: by name, unlinked after the run. */
  snprintf(path, path_len, "/proc/self/fd/%d", *fd);
  if (access(path, R_OK) == 0) {
    unlink(tmpl);
    *keep = 0;
  } else {
    snprintf(path, path_len, "%s", tmpl);
    *keep = 1;
  }
  return true;
}

typedef struct collect {
  json_t *events;
  int64_t dropped;
  volatile int stop;  /* fr_video_options.stop of this run */
  double deadline_ms; /* fr__now_ms() past which the run is stopped */
  bool timed_out;
} collect;

/* Called by the run about 4 times a second: the time cap and the shutdown. */
static void on_progress(void *ctx, int64_t frames, double fps, int64_t tracks) {
  (void)frames, (void)fps, (void)tracks;
  collect *c = ctx;
  if (c->stop) return;
  if (cancel_all) c->stop = 1;
  else if (fr__now_ms() > c->deadline_ms) c->timed_out = true, c->stop = 1;
}

static int on_event(void *ctx, const fr_video_event *ev) {
  collect *c = ctx;
  if (json_array_size(c->events) >= MAX_EVENTS) {
    c->dropped++;
  } else {
    json_t *j = fr__video_event_json(ev, 0);
    if (!j || json_array_append_new(c->events, j)) c->dropped++;
  }
  return c->stop ? 1 : 0;
}

/* fr_video_run's status as the reply's error kind. */
static fr__herr_kind video_error_kind(fr_status st) {
  switch (st) {
  case FR_ERR_FORMAT:
  case FR_ERR_UNSUPPORTED:
  case FR_ERR_IO: /* a local file that cannot be read as a video */
  case FR_ERR_NOT_FOUND: return FR__HERR_BAD_VIDEO;
  case FR_ERR_TOO_LARGE: return FR__HERR_VIDEO_TOO_LARGE;
  default: return FR__HERR_INTERNAL;
  }
}

/* {"message", "code": <CompreFace number>, "reason": <stable string code>} */
static void reply_error(fr_http_resp *resp, const fr__herr *e) {
  fr__reply_cf_error(resp, e);
  if (resp->json) json_object_set_new(resp->json, "reason", json_string(fr__herr_code(e->kind)));
}

void fr__h_video_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp) {
  (void)worker;
  double t0 = fr__now_ms();
  fr__params p;
  fr__herr e;
  fr__params_init(&p, req);
  long every, max_frames;
  double threshold, det;
  if (!fr__param_int(&p, "every", 1, 1000, 1, &every, &e) ||
      !fr__param_real(&p, "threshold", -1.0, 1.0, ctx->threshold, &threshold, &e) ||
      !fr__param_real(&p, "det_prob_threshold", 0.0, 1.0, fr__default_min_score(ctx), &det, &e) ||
      !fr__param_int(&p, "max_frames", 1, 1L << 40, (long)L.max_frames, &max_frames, &e)) {
    reply_error(resp, &e);
    return;
  }
  if (max_frames > L.max_frames) max_frames = (long)L.max_frames; /* the server's cap */
  fr_error verr = {{0}};
  if (fr_video_available(&verr) != FR_OK) { /* the server's fault, not the upload's */
    fr__herr_set(&e, FR__HERR_VIDEO_UNAVAILABLE, "%s", verr.msg);
    reply_error(resp, &e);
    return;
  }
  const uint8_t *data;
  size_t len;
  if (!video_body(req, &data, &len, &e)) {
    reply_error(resp, &e);
    return;
  }
  int fd = -1, keep = 0;
  char path[4096];
  if (!spool(data, len, &fd, path, sizeof path, &keep, &e)) {
    if (fd >= 0) close(fd);
    reply_error(resp, &e);
    return;
  }
  collect c = {json_array(), 0, 0, t0 + L.max_seconds * 1e3, false};
  if (!c.events) {
    close(fd);
    if (keep) unlink(path);
    fr__herr_set(&e, FR__HERR_INTERNAL, "out of memory");
    reply_error(resp, &e);
    return;
  }
  fr_video_options o = fr_video_default_options();
  o.every = (int)every;
  o.threshold = (float)threshold;
  o.min_score = (float)det;
  o.max_frames = max_frames;
  o.threads = L.threads;
  o.stop = &c.stop;
  o.progress = on_progress;
  o.progress_ctx = &c;
  fr_video_summary sum;
  memset(&sum, 0, sizeof sum);
  fr_error err = {{0}};
  fr_status st = fr_video_run(ctx->engine, ctx->gallery, path, &o, on_event, &c, &sum, &err);
  close(fd);
  if (keep) unlink(path);
  if (st == FR_OK && sum.frames == 0)
    st = fr_error_set(&err, FR_ERR_FORMAT, "no frame could be decoded");
  if (st != FR_OK) {
    /* the reader names the input by its path: /proc/self/fd/N means nothing to the client */
    char msg[sizeof err.msg];
    snprintf(msg, sizeof msg, "%s", err.msg);
    char *at = strstr(msg, path);
    if (at) {
      size_t pl = strlen(path);
      memmove(at + 6, at + pl, strlen(at + pl) + 1); /* "upload" is 6 <= strlen(path) */
      memcpy(at, "upload", 6);
    }
    if (sum.frames > 0)
      fr__herr_set(&e, video_error_kind(st),
                   "The video could not be processed: %s (after %lld frames)", msg,
                   (long long)sum.frames);
    else
      fr__herr_set(&e, video_error_kind(st), "The video could not be processed: %s", msg);
    fr_video_summary_free(&sum);
    json_decref(c.events);
    reply_error(resp, &e);
    return;
  }
  json_t *summary = fr__video_summary_json(&sum);
  if (summary) {
    json_object_set_new(summary, "max_frames", json_integer(max_frames));
    json_object_set_new(summary, "truncated",
                        json_boolean(sum.frames >= max_frames || c.timed_out || cancel_all));
    if (c.timed_out) json_object_set_new(summary, "timed_out", json_true());
    if (cancel_all) json_object_set_new(summary, "cancelled", json_true());
    if (c.dropped) json_object_set_new(summary, "events_dropped", json_integer(c.dropped));
  }
  fr_video_summary_free(&sum);
  json_t *body = summary ? json_pack("{s:o, s:o, s:o}", "events", c.events, "summary", summary,
                                     "execution_time_ms", fr__json_round(fr__now_ms() - t0, 1))
                         : NULL;
  if (!summary) json_decref(c.events);
  fr_http_json(resp, body ? 200 : 500, body);
}

void fr__h_events(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  (void)ctx;
  (void)worker;
  fr__params p;
  fr__herr e;
  fr__params_init(&p, req);
  long since, limit;
  if (!fr__param_int(&p, "since", 0, 0x7fffffffffffffffL, 0, &since, &e) ||
      !fr__param_int(&p, "limit", 1, FR__EVENTS_RING, FR__EVENTS_RING, &limit, &e)) {
    reply_error(resp, &e);
    return;
  }
  const char *camera = fr__param(&p, "camera");
  if (camera && !*camera) camera = NULL;
  uint64_t next = 0, missed = 0;
  json_t *events = fr__events_since((uint64_t)since, camera, (int)limit, &next, &missed);
  json_t *body = events ? json_pack("{s:o, s:I, s:I}", "events", events, "next", (json_int_t)next,
                                    "missed", (json_int_t)missed)
                        : NULL;
  fr_http_json(resp, body ? 200 : 500, body);
}
