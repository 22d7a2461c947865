/*
 * Video in the HTTP service: the JSON of video events (shared by POST
 * /api/v1/video/recognize and the camera monitors), the camera monitors of
 * `facerec serve --camera NAME=URL`, and the bounded ring of camera events
 * that GET /api/v1/events serves.
 *
 *     fr__camera_spec cams[] = {{"door", "rtsp://10.0.0.5/stream"}};
 *     fr__camera_options co = fr__camera_default_options();
 *     fr__cameras *c;
 *     fr__cameras_start(engine, gallery, cams, 1, &co, &c, &err); // one thread per camera
 *     ...                                                         // serve
 *     fr__cameras_stop(c);  // stop flag, join: before the gallery closes
 *
 * A monitor runs fr_video_run(realtime) on its URL, forever: when the source
 * cannot be opened, breaks or ends (a file), it logs why and opens it again
 * after a back-off (0.5 s doubling to 30 s; reset after a run of 30 s or
 * more). A camera that never answers costs one sleeping thread, never the
 * server. Each event is logged (one line, with the camera name) and appended
 * to the process-wide event ring (the last FR__EVENTS_RING events) with a
 * sequence number that only grows, so clients poll with ?since=SEQ.
 *
 * The ring and the monitor set are process-wide (like the metrics): one
 * server per process.
 */
#ifndef FR_HTTP_CAMERA_H
#define FR_HTTP_CAMERA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/face.h"
#include "facerec/gallery.h"
#include "facerec/status.h"
#include "facerec/video.h"

#define FR__EVENTS_RING 1000     /* camera events kept for GET /api/v1/events */
#define FR__CAMERA_NAME_MAX 64   /* [A-Za-z0-9._-], 1..64 characters */
#define FR__CAMERAS_MAX 64

/* ---- event JSON (the CLI's --json objects) ---- */

/* One event as {"event": "track_start"|"identified"|"track_end", "track", "frame",
 * "time", ...}: the same names and values as `facerec video --json`. New
 * reference; NULL when out of memory. track_offset is added to the track id
 * (a camera numbers tracks across reconnections). */
json_t *fr__video_event_json(const fr_video_event *ev, int64_t track_offset);
/* The summary as `facerec video --json` prints it, without its "event" key:
 * {"frames", "frames_processed", "frames_dropped", "seconds", "fps", "tracks",
 *  "subjects": [{"subject", "first_frame", "last_frame", "ranges", "tracks",
 *  "best_similarity"}], "width", "height", "video_fps"}. NULL when out of memory. */
json_t *fr__video_summary_json(const fr_video_summary *s);

/* ---- POST /api/v1/video/recognize (h_video.c) ---- */

#define FR__VIDEO_MAX_FRAMES 9000 /* frames one request may decode (5 min at 30 fps) */
#define FR__VIDEO_THREADS 1       /* pipeline workers of one request */
#define FR__VIDEO_MAX_SECONDS 300 /* a request's run stops after this long */

typedef struct fr__video_limits {
  int64_t max_frames; /* cap on a request's max_frames; <= 0: FR__VIDEO_MAX_FRAMES */
  int threads;        /* <= 0: FR__VIDEO_THREADS */
  double max_seconds; /* the run stops (answering what it did, "timed_out") after this;
                       * <= 0: FR__VIDEO_MAX_SECONDS */
} fr__video_limits;

/* Before the server starts (not thread-safe with running requests). */
void fr__video_limits_set(const fr__video_limits *l);
/* Ends every running video request at its next frame; they answer 200 with
 * what was done and "cancelled": true in the summary. For shutdown. */
void fr__video_cancel(void);

/* ---- the event ring ---- */

/* Appends a camera event (takes the reference of ev, adds "seq", "camera",
 * "time" (wall clock, ISO 8601 UTC) and moves the event's own "time" to
 * "video_time"). Returns the event's seq, 0 when out of memory (ev released). */
uint64_t fr__events_push(const char *camera, json_t *ev);
/* Events with seq > since (of one camera when camera != NULL), oldest first,
 * at most limit. *next: the seq to pass as since next time (the last one
 * returned, else the newest seq); *missed: events newer than since that fell
 * out of the ring before this call. New reference (an array). */
json_t *fr__events_since(uint64_t since, const char *camera, int limit, uint64_t *next,
                         uint64_t *missed);
/* Drops every event and restarts seq at 1 (tests). */
void fr__events_reset(void);

/* ---- camera monitors ---- */

typedef struct fr__camera_spec {
  const char *name; /* FR__CAMERA_NAME_MAX, [A-Za-z0-9._-] */
  const char *url;  /* a file, /dev/videoN, rtsp://, http(s)://, udp:// */
} fr__camera_spec;

typedef struct fr__camera_options {
  int every;          /* detection every N-th frame; default 1 */
  float threshold;    /* <= 0: the engine's default */
  int threads;        /* pipeline workers per camera; default 1 */
  bool quiet;         /* no event lines in the log (state changes are still logged) */
} fr__camera_options;

fr__camera_options fr__camera_default_options(void);

/* Parses "NAME=URL" (NAME checked as above). Points into arg. */
bool fr__camera_spec_parse(const char *arg, fr__camera_spec *out, char *why, size_t why_len);

typedef struct fr__cameras fr__cameras;

/* Starts one monitor thread per spec. engine and gallery must outlive the
 * monitors (fr__cameras_stop before closing them); specs are copied.
 * Errors: FR_ERR_INVALID_ARG (a bad or duplicate name), FR_ERR_NOMEM,
 * FR_ERR_INTERNAL (no thread). Never fails because a camera is unreachable. */
fr_status fr__cameras_start(const fr_engine *e, fr_gallery *g, const fr__camera_spec *specs, int n,
                            const fr__camera_options *o, fr__cameras **out, fr_error *err);
/* Sets the stop flag, wakes sleeping monitors, joins every thread (a run ends
 * at its next frame; a source still opening ends at its open timeout), frees c.
 * NULL is a no-op. */
void fr__cameras_stop(fr__cameras *c);

/* Prometheus text of the running monitors (facerec_camera_frames_total,
 * facerec_camera_events_total, facerec_camera_errors_total, facerec_camera_up)
 * appended to *text (realloc'ed, *len updated). No monitors: nothing. Returns
 * false when out of memory (text unchanged). */
bool fr__cameras_metrics(char **text, size_t *len);

#endif
