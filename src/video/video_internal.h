/*
 * Internal interfaces of the video library (src/video): the tracker used by
 * fr_video_run, exposed to the unit tests that drive it with synthetic
 * detections, and small helpers shared by the files.
 */
#ifndef FR_VIDEO_INTERNAL_H
#define FR_VIDEO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "facerec/video.h"

/* Once per process: loads FFmpeg (av.c; FR_ERR_UNSUPPORTED with a message when
 * it is not installed), then network init and FFmpeg's log level (quiet unless
 * FR_AV_LOG=1). Every entry point of the video module calls it first. */
fr_status fr__video_init(fr_error *err);
/* Monotonic seconds. */
double fr__video_now(void);
/* Whether INPUT names a live source (/dev/..., rtsp://, http(s)://, udp://, ...):
 * read as it comes, reconnected when it breaks. */
bool fr__video_is_live_input(const char *input);

/* ---- tracker ---- */

/* Tracker parameters (fr__tracker_default_params). Frame counts are in video
 * frames, not detection rounds. */
typedef struct fr__tracker_params {
  float iou_match;       /* a detection continues a track when their boxes overlap by >= this IoU */
  float emb_reattach;    /* ... or, with less overlap, when its embedding is at least this similar */
  float emb_split;       /* an IoU-matched detection whose embedding is below this similarity to the
                          * track's embeddings starts a new track (a shot cut at the same place) */
  int coast_rounds;      /* a track survives this many detection rounds without a detection */
  int embed_first;       /* embed a track's first this many detections ... */
  int embed_interval;    /* ... then at most every this many frames ... */
  float embed_grow;      /* ... or sooner when the face's side grows by this factor over the
                          * largest embedded one */
  int max_embeddings;    /* embeddings kept per track (oldest non-best dropped) */
  int decide_top;        /* identity score = mean of a subject's best this many similarities */
  float threshold;       /* open-set threshold */
  int every;             /* detection runs every N-th frame */
  float min_embed_side;  /* faces smaller than this (shorter box side, px) are followed, not embedded */
  int range_gap;         /* summary: a subject's ranges closer than this many frames merge */
} fr__tracker_params;

fr__tracker_params fr__tracker_default_params(void);

/* The tracker asks its host for embeddings and identities through these
 * callbacks (so tests can drive it without models):
 *   embed(ctx, det index, emb out, aligned crop out or NULL) -> FR_OK or an error
 *   search(ctx, emb, k, matches out, n out) -> FR_OK or an error */
typedef struct fr__tracker_host {
  void *ctx;
  int dim;
  fr_status (*embed)(void *ctx, int det, float *emb, fr_image *aligned, fr_error *err);
  fr_status (*search)(void *ctx, const float *emb, int k, fr_gallery_match *out, int *n,
                      fr_error *err);
  fr_video_event_fn cb; /* events (may be NULL) */
  void *cb_ctx;
  const char *crops_dir; /* may be NULL */
} fr__tracker_host;

typedef struct fr__tracker fr__tracker;

fr_status fr__tracker_create(const fr__tracker_params *p, const fr__tracker_host *h,
                             fr__tracker **out, fr_error *err);
void fr__tracker_free(fr__tracker *t);
/* Feeds one frame in order. detected: whether detection ran on this frame
 * (dets/n are then its faces; otherwise tracks coast). Returns non-zero in
 * *stop when the event callback asked to stop. */
fr_status fr__tracker_frame(fr__tracker *t, int64_t frame, double time_s, bool detected,
                            const fr_face *dets, int n, bool *stop, fr_error *err);
/* A shot cut before `frame`: ends every open track (events dated frame / time_s),
 * so no track carries one person's identity onto another. */
fr_status fr__tracker_cut(fr__tracker *t, int64_t frame, double time_s, bool *stop, fr_error *err);
/* Ends every open track (at the end of the run). */
fr_status fr__tracker_finish(fr__tracker *t, bool *stop, fr_error *err);

/* The tracks visible at the last frame fed (for annotation): box, label
 * subject (NULL = unknown), decision similarity, id. Returns how many (<= max). */
typedef struct fr__tvis {
  int64_t id;
  fr_face face;
  const char *subject;
  float similarity;
} fr__tvis;
int fr__tracker_visible(const fr__tracker *t, fr__tvis *out, int max);

/* Tracks started so far; summary of subjects (fills s->subjects, s->n_subjects, s->tracks). */
int64_t fr__tracker_count(const fr__tracker *t);
fr_status fr__tracker_summary(const fr__tracker *t, fr_video_summary *s, fr_error *err);

/* First error met while saving crops (crops are best effort: the run goes on), "" if none. */
const char *fr__tracker_crop_error(const fr__tracker *t);

float fr__iou(const fr_face *a, const fr_face *b);

#endif
