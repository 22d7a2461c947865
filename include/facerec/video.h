/*
 * facerec video: recognize faces frame by frame in video files, cameras and
 * streams (FFmpeg's libavformat / libavcodec / libswscale), follow them across
 * frames as tracks, and report events.
 *
 *     fr_video_options o = fr_video_default_options();
 *     o.crops_dir = "crops";                 // best aligned face of each track
 *     o.out_path = "annotated.mp4";          // boxes and names drawn
 *     fr_video_summary s;
 *     fr_video_run(engine, gallery, "clip.mp4", &o, on_event, ctx, &s, &err);
 *
 * Three layers, usable on their own:
 *   fr_video_reader  decodes frames to RGB (fr_image) from a file, /dev/videoN
 *                    or an rtsp:// / http(s):// URL;
 *   fr_video_writer  encodes frames to a video file (H.264 when libavcodec has an
 *                    encoder for it, else MJPEG);
 *   fr_tracker       follows faces across frames (box overlap + embedding),
 *                    decides each track's identity from several frames and emits
 *                    the events below.
 * fr_video_run ties them together (what `facerec video`, POST
 * /api/v1/video/recognize and `facerec serve --camera` use).
 *
 * Library code never exits on input: a corrupt, truncated or empty file, an
 * unreachable URL or a broken stream is an fr_status with a message.
 */
#ifndef FACEREC_VIDEO_H
#define FACEREC_VIDEO_H

#include <stdbool.h>
#include <stdint.h>

#include "facerec/face.h"
#include "facerec/gallery.h"
#include "facerec/image.h"
#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FR_OK when FFmpeg's libraries could be loaded (they are loaded on first use);
 * else FR_ERR_UNSUPPORTED with a message naming the missing library. */
fr_status fr_video_available(fr_error *err);

/* ---- reading ---- */

typedef struct fr_video_reader fr_video_reader;

typedef struct fr_video_reader_options {
  int open_timeout_ms;   /* network/device open and read timeout; default 10000 */
  int max_side;          /* refuse videos wider or taller than this; default 8192 */
  bool live;             /* treat the source as live (cameras, streams): set for /dev/..., rtsp://, http(s)://, udp:// */
  volatile int *stop;    /* when non-NULL and set non-zero, blocking reads give up (FR_ERR_IO) */
} fr_video_reader_options;

typedef struct fr_video_info {
  int width, height;
  double fps;            /* nominal frame rate (0 when unknown) */
  int64_t frames;        /* frame count when the container says so, else -1 */
  double duration_s;     /* -1 when unknown */
  bool live;
  char codec[32];
} fr_video_info;

fr_video_reader_options fr_video_reader_default_options(void);
/* Opens INPUT: a file path, /dev/videoN (v4l2), or an rtsp:// http:// https:// udp:// URL.
 * Errors: FR_ERR_NOT_FOUND (no such file), FR_ERR_IO (unreachable / cannot open),
 * FR_ERR_FORMAT (zero-length, not a video, no video stream, corrupt header),
 * FR_ERR_TOO_LARGE (over max_side). */
fr_status fr_video_reader_open(const char *input, const fr_video_reader_options *o,
                               fr_video_reader **out, fr_error *err);
const fr_video_info *fr_video_reader_info(const fr_video_reader *r);
/* Decodes the next frame. On FR_OK with *eof false, *frame views an RGB image
 * owned by the reader, valid until the next call; *index is the frame number
 * (0-based, counting every decoded frame) and *time_s its presentation time.
 * At the end of the stream: FR_OK with *eof true. A stream that breaks mid-way
 * is FR_ERR_IO (the caller may reopen it); undecodable data FR_ERR_FORMAT. */
fr_status fr_video_reader_read(fr_video_reader *r, fr_image *frame, int64_t *index, double *time_s,
                               bool *eof, fr_error *err);
/* Same, converting straight into the caller's buffer dst (info width x height,
 * RGB, any stride >= 3*w; the caller owns it), so frames can stay in flight
 * without copies. dst NULL decodes the frame without converting it (a frame
 * dropped by a live pipeline). Frames that change size mid-stream are scaled
 * to the size the stream opened with. A file whose data ends well before the
 * frame count its header announces ends with FR_ERR_FORMAT (truncated). */
fr_status fr_video_reader_read_into(fr_video_reader *r, fr_image *dst, int64_t *index,
                                    double *time_s, bool *eof, fr_error *err);
void fr_video_reader_close(fr_video_reader *r);

/* ---- writing ---- */

typedef struct fr_video_writer fr_video_writer;

/* Creates PATH (container from its extension; .mp4 by default) for w x h frames
 * at fps. H.264 (libx264 or another H.264 encoder libavcodec offers) when
 * available, else MJPEG. */
fr_status fr_video_writer_open(const char *path, int w, int h, double fps, fr_video_writer **out,
                               fr_error *err);
const char *fr_video_writer_codec(const fr_video_writer *wr);
fr_status fr_video_writer_write(fr_video_writer *wr, const fr_image *frame, fr_error *err);
/* Flushes the encoder and writes the trailer; frees wr in every case. */
fr_status fr_video_writer_close(fr_video_writer *wr, fr_error *err);

/* ---- tracking and events ---- */

typedef enum fr_video_event_type {
  FR_VIDEO_TRACK_START = 1, /* frame, time, box */
  FR_VIDEO_IDENTIFIED,      /* frame, time, subject, similarity (also when a track's identity changes) */
  FR_VIDEO_TRACK_END        /* subject (NULL = unknown), first_frame, last_frame, best_similarity, frames */
} fr_video_event_type;

typedef struct fr_video_event {
  fr_video_event_type type;
  int64_t track;            /* track id, 1-based, increasing */
  int64_t frame;
  double time_s;
  fr_face face;             /* the box (and landmarks) at that frame */
  const char *subject;      /* NULL = unknown; valid during the callback only */
  float similarity;         /* IDENTIFIED: the decision's similarity */
  int64_t first_frame, last_frame;
  float best_similarity;    /* TRACK_END: best similarity to the decided subject (or to anyone, when unknown) */
  int64_t frames;           /* TRACK_END: frames the track was seen in */
  const char *crop_path;    /* TRACK_END: the saved best crop, or NULL */
} fr_video_event;

/* Return non-zero from the callback to stop the run early (it still ends the
 * open tracks and fills the summary). */
typedef int (*fr_video_event_fn)(void *ctx, const fr_video_event *ev);

typedef struct fr_video_options {
  int every;                 /* run detection every N-th frame (>= 1; default 1); tracks coast between */
  float threshold;           /* open-set threshold; <= 0: the engine's default */
  float min_score;           /* detection threshold; <= 0: the engine's default */
  int64_t max_frames;        /* stop after this many frames (0 = all) */
  bool realtime;             /* drop frames (never queue) when the pipeline falls behind a live source;
                              * a file is read at its own frame rate, as if it were a camera */
  int threads;               /* pipeline workers (0 = online cores) */
  const char *crops_dir;     /* save the best aligned face of each track: DIR/<subject|unknown>/<track>_<frame>.jpg */
  const char *out_path;      /* annotated video */
  int reconnect_max;         /* live sources: reconnect attempts after a break, or (realtime only)
                              * when the first open fails (back-off 0.5 s .. 8 s); default 8;
                              * -1 = forever; 0 = fail at once */
  volatile int *stop;        /* when non-NULL and set non-zero (e.g. by SIGINT), the run ends cleanly */
  void (*progress)(void *ctx, int64_t frames, double fps, int64_t tracks); /* about 4 times a second, may be NULL */
  void *progress_ctx;
  /* Detection setting for video frames (docs/video.md): the detector sees each
   * frame with its longer side at most det_max_side pixels (0: the video
   * default, half the frame's longer side clamped to 320..640; -1: the engine's full image pyramid, as fr_detect) and at most
   * det_levels pyramid levels (0: the video default, 1). */
  int det_max_side;
  int det_levels;
} fr_video_options;

typedef struct fr_video_subject_seen {
  char *subject;             /* never NULL (unknown tracks are not listed) */
  int64_t first_frame, last_frame;
  int64_t tracks;
  float best_similarity;
  int n_ranges;              /* the frame ranges the subject was seen in (its tracks' spans, merged
                              * when they overlap or touch within a second): ranges[i][0..1] = first, last */
  int64_t (*ranges)[2];
} fr_video_subject_seen;

typedef struct fr_video_summary {
  int64_t frames;            /* frames decoded */
  int64_t frames_processed;  /* frames that went through the pipeline (fewer when realtime drops) */
  int64_t frames_dropped;
  int64_t reconnects;        /* live sources: times the source was reopened after a break */
  double seconds;            /* wall time */
  double fps;                /* frames / seconds */
  int64_t tracks;
  int n_subjects;
  fr_video_subject_seen *subjects; /* n_subjects, by first frame; free with fr_video_summary_free */
  fr_video_info info;
  char out_codec[32];        /* codec of out_path, "" when none */
} fr_video_summary;

fr_video_options fr_video_default_options(void);
void fr_video_summary_free(fr_video_summary *s);

/* Runs the whole thing on INPUT with its own workers. gallery may be NULL
 * (every track unknown). cb may be NULL. On error the summary still holds
 * what was done before it. */
fr_status fr_video_run(const fr_engine *e, fr_gallery *g, const char *input,
                       const fr_video_options *o, fr_video_event_fn cb, void *ctx,
                       fr_video_summary *summary, fr_error *err);

#ifdef __cplusplus
}
#endif
#endif
