/*
 * fr_video_run: decode -> detection on `threads` workers -> tracker (in frame
 * order) -> events, crops, annotated output.
 *
 * The calling thread decodes each frame with swscale straight into a slot of a
 * ring (threads * 2 + 2 preallocated RGB frames), hands detection frames to the
 * workers, and consumes the slots strictly in frame order: the tracker (which
 * embeds the faces it needs on the calling thread's own fr_worker), the
 * annotation and the writer. Detection results do not depend on which worker
 * ran them, and everything that has state runs in frame order, so the events
 * are the same for a given input and `every` whatever the thread count.
 *
 * Live sources: with `realtime`, a frame that arrives while every slot is busy
 * is decoded but not converted or processed (dropped, never queued); a read
 * that fails (or a first open that fails) is retried by reopening the source
 * with back-off (0.5 s doubling to 8 s), at most reconnect_max times in a row.
 * With `realtime` a file is read at its own frame rate (frame i is due at
 * start + its pts, like ffmpeg -re), so it stands in for a camera: a frame due
 * while every slot is busy, or already two frame intervals old when the
 * calling thread gets to it, is dropped the same way.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "video/video_internal.h"

#define FR__VIDEO_MAX_FACES 256 /* faces per frame handed to the tracker */
#define FR__VIDEO_MAX_THREADS 64
#define FR__VIDEO_VIDEO_LEVELS 1

enum { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

typedef struct slot {
  fr_image img;
  int64_t index;
  int64_t seq; /* ring sequence number of the frame it holds */
  double time_s;
  bool detect;
  bool gap; /* first frame after a reconnection: open tracks end before it */
  int state;
  int n;
  fr_face faces[FR__VIDEO_MAX_FACES];
  fr_status st;
  fr_error err;
} slot;

typedef struct pipe {
  const fr_engine *e;
  fr_detect_options det;
  bool full_pyramid;
  slot *ring;
  int S;
  int64_t next_job; /* sequence number of the next slot to hand to a worker */
  int64_t produced; /* slots filled so far (sequence numbers) */
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  bool quit;
} pipe_t;

typedef struct worker_arg {
  pipe_t *p;
  fr_worker *w;
  pthread_t th;
  bool started;
} worker_arg;

fr_video_options fr_video_default_options(void) {
  fr_video_options o;
  memset(&o, 0, sizeof o);
  o.every = 1;
  o.reconnect_max = 8;
  return o;
}

void fr_video_summary_free(fr_video_summary *s) {
  if (!s) return;
  for (int i = 0; i < s->n_subjects; i++) {
    free(s->subjects[i].subject);
    free(s->subjects[i].ranges);
  }
  free(s->subjects);
  s->subjects = NULL;
  s->n_subjects = 0;
}

static void detect_slot(pipe_t *p, fr_worker *w, slot *s) {
  s->n = 0;
  s->st = FR_OK;
  if (!s->detect) return;
  if (p->full_pyramid)
    s->st = fr_detect(w, &s->img, p->det.min_score, s->faces, FR__VIDEO_MAX_FACES, &s->n, &s->err);
  else
    s->st = fr_detect_ex(w, &s->img, &p->det, s->faces, FR__VIDEO_MAX_FACES, &s->n, &s->err);
}

static void *worker_main(void *arg) {
  worker_arg *a = arg;
  pipe_t *p = a->p;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->quit && !(p->next_job < p->produced))
      pthread_cond_wait(&p->cv_work, &p->mu);
    if (p->quit) break;
    slot *s = &p->ring[p->next_job % p->S];
    const int64_t seq = p->next_job++;
    /* a frame without detection is DONE as soon as it is decoded and may
     * already be consumed (and its slot reused for a later frame) */
    if (s->seq != seq || s->state != SLOT_QUEUED) continue;
    s->state = SLOT_RUNNING;
    pthread_mutex_unlock(&p->mu);
    detect_slot(p, a->w, s);
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&p->cv_done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ---- the tracker's host: embeddings on the calling thread's worker ---- */
typedef struct host_ctx {
  fr_worker *w;
  fr_gallery *g;
  const slot *cur;
} host_ctx;

static fr_status host_embed(void *ctx, int d, float *emb, fr_image *aligned, fr_error *err) {
  host_ctx *h = ctx;
  if (aligned) fr_image_free(aligned);
  return fr_embed_face(h->w, &h->cur->img, &h->cur->faces[d], emb, aligned, err);
}

static fr_status host_search(void *ctx, const float *emb, int k, fr_gallery_match *out, int *n,
                             fr_error *err) {
  host_ctx *h = ctx;
  return fr_gallery_search(h->g, emb, k, out, n, err);
}

static void annotate(fr_image *img, const fr__tracker *t) {
  static const uint8_t green[3] = {0, 190, 0}, red[3] = {220, 30, 30}, white[3] = {255, 255, 255};
  fr__tvis v[64];
  const int n = fr__tracker_visible(t, v, 64);
  for (int i = 0; i < n; i++) {
    const fr_face *f = &v[i].face;
    const int side = (int)fminf(f->w, f->h);
    const int th = side >= 200 ? 3 : side >= 60 ? 2 : 1;
    const uint8_t *c = v[i].subject ? green : red;
    fr_image_draw_rect(img, (int)lroundf(f->x), (int)lroundf(f->y), (int)lroundf(f->w),
                       (int)lroundf(f->h), c, th);
    char label[FR_NAME_MAX + 48];
    if (v[i].subject)
      snprintf(label, sizeof label, "%s %.2f", v[i].subject, (double)v[i].similarity);
    else
      snprintf(label, sizeof label, "#%lld unknown", (long long)v[i].id);
    int px = side / 6;
    if (px < 12) px = 12;
    if (px > 28) px = 28;
    int y = (int)lroundf(f->y) - px - 6;
    if (y < 0) y = (int)lroundf(f->y + f->h) + 1;
    fr_image_draw_label(img, (int)lroundf(f->x), y, label, px, white, c, NULL);
  }
}

/* Shot cuts: a 16x9 grid of mean luma (8x8 samples per cell); a mean absolute
 * change of the cells above FR__CUT_LEVEL (0..255) between consecutive frames is
 * a cut. On the Hamilton clip its cuts measure 23-27 and camera motion <= 10.5. */
#define FR__CUT_GX 16
#define FR__CUT_GY 9
#define FR__CUT_LEVEL 18.0f
static void frame_signature(const fr_image *img, float sig[FR__CUT_GX * FR__CUT_GY]) {
  for (int by = 0; by < FR__CUT_GY; by++)
    for (int bx = 0; bx < FR__CUT_GX; bx++) {
      unsigned sum = 0;
      for (int sy = 0; sy < 8; sy++) {
        const int y = (int)(((int64_t)by * 8 + sy) * img->h / (FR__CUT_GY * 8));
        const uint8_t *row = img->px + (size_t)y * (size_t)img->stride;
        for (int sx = 0; sx < 8; sx++) {
          const int x = (int)(((int64_t)bx * 8 + sx) * img->w / (FR__CUT_GX * 8));
          const uint8_t *q = row + 3 * x;
          sum += (unsigned)(2 * q[0] + 5 * q[1] + q[2]);
        }
      }
      sig[by * FR__CUT_GX + bx] = (float)sum / (8.0f * 64.0f);
    }
}

static bool stopped(const fr_video_options *o) { return o->stop && *o->stop; }

static void sleep_s(double s, const fr_video_options *o) {
  const double end = fr__video_now() + s;
  for (double now = fr__video_now(); !stopped(o) && now < end; now = fr__video_now()) {
    const double d = fmin(end - now, 0.05);
    struct timespec ts = {0, (long)(d * 1e9)};
    nanosleep(&ts, NULL);
  }
}

/* Back-off before reconnection attempt k (0-based): 0.5 s, 1, 2, 4, 8, 8 ... */
static double backoff_s(int k) {
  double wait = 0.5;
  for (int i = 0; i < k && wait < 8; i++) wait *= 2;
  return wait > 8 ? 8 : wait;
}

static bool may_retry(const fr_video_options *o, int attempts) {
  return o->reconnect_max < 0 || attempts < o->reconnect_max;
}

/* Opens a live source again after a break (or a first open that failed), with
 * back-off, counting *attempts (consecutive attempts since the last frame read).
 * FR_OK with *out open, or the last open's error (in last) once reconnect_max
 * attempts are spent or the run is stopped. */
static fr_status reopen_live(const char *input, const fr_video_reader_options *ro,
                             const fr_video_options *o, int *attempts, fr_video_reader **out,
                             fr_error *last) {
  fr_status st = FR_ERR_IO;
  while (may_retry(o, *attempts) && !stopped(o)) {
    sleep_s(backoff_s(*attempts), o);
    (*attempts)++;
    if (stopped(o)) break;
    fr_error oerr = {{0}};
    st = fr_video_reader_open(input, ro, out, &oerr);
    if (st == FR_OK) return FR_OK;
    *last = oerr;
    if (st != FR_ERR_IO) return st; /* it answers, but not with a video: no use retrying */
  }
  return st == FR_OK ? FR_ERR_IO : st;
}

/* Realtime pacing: until `due` (fr__video_now() seconds), wait for the oldest
 * frame in flight to finish (returns early when it does) or the stop flag. */
static void wait_until(pipe_t *p, int64_t consumed, double due, const fr_video_options *o) {
  pthread_mutex_lock(&p->mu);
  for (double now = fr__video_now(); now < due && !stopped(o); now = fr__video_now()) {
    if (consumed < p->produced && p->ring[consumed % p->S].state == SLOT_DONE) break;
    const double d = fmin(due - now, 0.05);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(d * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&p->cv_done, &p->mu, &ts);
  }
  pthread_mutex_unlock(&p->mu);
}

fr_status fr_video_run(const fr_engine *e, fr_gallery *g, const char *input,
                       const fr_video_options *opt, fr_video_event_fn cb, void *ctx,
                       fr_video_summary *summary, fr_error *err) {
  fr_video_summary dummy;
  fr_video_summary *sum = summary ? summary : &dummy;
  memset(sum, 0, sizeof *sum);
  if (!e || !input) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_run: NULL argument");
  fr_video_options o = opt ? *opt : fr_video_default_options();
  if (o.every < 1 || o.every > 1000)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "every %d is outside [1, 1000]", o.every);
  if (o.max_frames < 0) return fr_error_set(err, FR_ERR_INVALID_ARG, "max_frames is negative");
  fr_status st = fr__video_init(err); /* no FFmpeg: FR_ERR_UNSUPPORTED before any work */
  if (st) return st;
  if (o.threads <= 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = c > 0 ? (int)c : 1;
  }
  if (o.threads > FR__VIDEO_MAX_THREADS) o.threads = FR__VIDEO_MAX_THREADS;
  const fr_engine_config *ec = fr_engine_config_of(e);
  const float threshold = o.threshold > 0 ? o.threshold : fr_engine_default_threshold(e);
  const float min_score = o.min_score > 0 ? o.min_score : ec->min_score;

  fr_video_reader *r = NULL;
  fr_video_writer *wr = NULL;
  fr__tracker *tr = NULL;
  fr_worker *mw = NULL;
  worker_arg *wa = NULL;
  int n_workers = 0, n_threads = 0;
  pipe_t p;
  memset(&p, 0, sizeof p);
  bool sync_init = false;
  const double t_start = fr__video_now();

  fr_video_reader_options ro = fr_video_reader_default_options();
  ro.stop = o.stop;
  int attempts = 0; /* reconnection attempts since the last frame read */
  if ((st = fr_video_reader_open(input, &ro, &r, err))) {
    /* realtime (monitoring): a camera or stream that is not up yet is retried like
     * a broken one; otherwise an unreachable source is an error at once (a typo
     * should not wait through the back-off) */
    if (st != FR_ERR_IO || !o.realtime || !fr__video_is_live_input(input) || !may_retry(&o, 0) ||
        stopped(&o))
      return st;
    fr_error first = *err, last = *err;
    if ((st = reopen_live(input, &ro, &o, &attempts, &r, &last))) {
      if (stopped(&o)) return fr_error_set(err, st, "%s", first.msg);
      return fr_error_set(err, st, "%s; gave up after %d reconnection attempt%s", last.msg, attempts,
                          attempts == 1 ? "" : "s");
    }
  }
  const fr_video_info info = *fr_video_reader_info(r);
  sum->info = info;
  const bool live = info.live;
  /* realtime on a file: read it at its own frame rate (frame i due at start + pts_i) */
  const bool pace = o.realtime && !live;

  p.e = e;
  p.det.min_score = min_score;
  p.full_pyramid = o.det_max_side < 0;
  if (o.det_max_side > 0) {
    p.det.max_side = o.det_max_side;
  } else { /* video default: half the frame's longer side, 320..640 (docs/video.md) */
    const int longer = info.width > info.height ? info.width : info.height;
    p.det.max_side = longer / 2 < 320 ? 320 : longer / 2 > 640 ? 640 : longer / 2;
  }
  p.det.max_levels = o.det_levels > 0 ? o.det_levels : FR__VIDEO_VIDEO_LEVELS;
  /* one thread: detection inline, unless a realtime source must not wait for it */
  p.S = o.threads > 1 || o.realtime ? 2 * o.threads + 2 : 1;
  if (!(p.ring = calloc((size_t)p.S, sizeof *p.ring))) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", input);
    goto out;
  }
  for (int i = 0; i < p.S; i++)
    if ((st = fr_image_alloc(&p.ring[i].img, info.width, info.height, err))) goto out;
  if ((st = fr_worker_create(e, NULL, &mw, err))) goto out;

  host_ctx hc = {mw, g, NULL};
  fr__tracker_params tp = fr__tracker_default_params();
  tp.threshold = threshold;
  tp.every = o.every;
  if (info.fps > 0) {
    tp.range_gap = (int)lround(info.fps);
    /* about a third of a second between embeddings of a track */
    tp.embed_interval = (int)lround(info.fps / 3) > 1 ? (int)lround(info.fps / 3) : 1;
  }
  if (o.every * 2 > tp.embed_interval) tp.embed_interval = o.every * 2;
  fr__tracker_host th = {&hc, fr_engine_embed_dim(e), host_embed, g ? host_search : NULL,
                         cb, ctx, o.crops_dir};
  if ((st = fr__tracker_create(&tp, &th, &tr, err))) goto out;

  if (o.out_path) {
    if ((st = fr_video_writer_open(o.out_path, info.width, info.height, info.fps > 0 ? info.fps : 25,
                                   &wr, err)))
      goto out;
    snprintf(sum->out_codec, sizeof sum->out_codec, "%s", fr_video_writer_codec(wr));
  }

  n_threads = p.S > 1 ? o.threads : 0;
  if (n_threads > 0) {
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv_work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_until's deadlines */
    pthread_cond_init(&p.cv_done, &ca);
    pthread_condattr_destroy(&ca);
    sync_init = true;
    if (!(wa = calloc((size_t)n_threads, sizeof *wa))) {
      st = fr_error_set(err, FR_ERR_NOMEM, "out of memory");
      goto out;
    }
    for (int i = 0; i < n_threads; i++) {
      wa[i].p = &p;
      if ((st = fr_worker_create(e, NULL, &wa[i].w, err))) goto out;
      if (pthread_create(&wa[i].th, NULL, worker_main, &wa[i]) != 0) {
        st = fr_error_set(err, FR_ERR_INTERNAL, "cannot start a video worker thread");
        goto out;
      }
      wa[i].started = true;
      n_workers++;
    }
  }

  int64_t consumed = 0, decoded = 0, last_detect = -1;
  bool eof = false, cb_stop = false, have_sig = false;
  float prev_sig[FR__CUT_GX * FR__CUT_GY];
  double last_progress = t_start;
  /* pacing (realtime on a file) and times across reconnections */
  const double iv_nominal = info.fps > 0 ? 1.0 / info.fps : 0;
  double iv = iv_nominal > 0 ? iv_nominal : 1.0 / 30; /* frame interval */
  double pace_t0 = 0, pace_ts0 = 0, prev_ts = 0, prev_wall = 0, t_off = 0;
  bool have_prev = false, gap = false, rejoined = false;
  while (!cb_stop) {
    if (stopped(&o)) break;
    /* 1. consume finished slots in order (non-blocking unless the ring is full or input ended) */
    if (consumed < p.produced) {
      slot *s = &p.ring[consumed % p.S];
      bool ready;
      if (p.S > 1) {
        pthread_mutex_lock(&p.mu);
        const bool must_wait = eof || p.produced - consumed == p.S;
        const bool can_drop = o.realtime && !eof;
        while (s->state != SLOT_DONE && must_wait && !can_drop) pthread_cond_wait(&p.cv_done, &p.mu);
        ready = s->state == SLOT_DONE;
        pthread_mutex_unlock(&p.mu);
      } else {
        ready = true; /* single-threaded: detected inline */
      }
      if (ready) {
        if (s->st) {
          st = fr_error_set(err, s->st, "%s: frame %lld: %s", input, (long long)s->index, s->err.msg);
          break;
        }
        hc.cur = s;
        if (s->gap) { /* back after a reconnection: whoever was there may have gone */
          if ((st = fr__tracker_cut(tr, s->index, s->time_s, &cb_stop, err))) break;
          have_sig = false;
        }
        float sig[FR__CUT_GX * FR__CUT_GY];
        frame_signature(&s->img, sig);
        if (have_sig) {
          float d = 0;
          for (int k = 0; k < FR__CUT_GX * FR__CUT_GY; k++) d += fabsf(sig[k] - prev_sig[k]);
          if (d / (FR__CUT_GX * FR__CUT_GY) > FR__CUT_LEVEL &&
              (st = fr__tracker_cut(tr, s->index, s->time_s, &cb_stop, err)))
            break;
        }
        memcpy(prev_sig, sig, sizeof sig);
        have_sig = true;
        if ((st = fr__tracker_frame(tr, s->index, s->time_s, s->detect, s->faces, s->n, &cb_stop, err)))
          break;
        if (wr) {
          annotate(&s->img, tr);
          if ((st = fr_video_writer_write(wr, &s->img, err))) break;
        }
        sum->frames_processed++;
        if (p.S > 1) {
          pthread_mutex_lock(&p.mu);
          s->state = SLOT_FREE;
          pthread_mutex_unlock(&p.mu);
        } else {
          s->state = SLOT_FREE;
        }
        consumed++;
        const double now = fr__video_now();
        if (o.progress && now - last_progress >= 0.25) {
          last_progress = now;
          o.progress(o.progress_ctx, decoded, decoded / fmax(now - t_start, 1e-9), fr__tracker_count(tr));
        }
        continue;
      }
    }
    if (eof) {
      if (consumed == p.produced) break;
      continue;
    }
    /* 2. decode the next frame into a free slot (or drop it when live and behind) */
    if (o.max_frames > 0 && decoded >= o.max_frames) {
      eof = true;
      continue;
    }
    bool stale = false;
    if (pace && have_prev) {
      /* the next frame is due one interval after the previous one's pts */
      const double due = pace_t0 + (prev_ts - pace_ts0) + iv;
      const double now = fr__video_now();
      if (now < due) {
        wait_until(&p, consumed, due, &o); /* or until the oldest frame in flight is done */
        continue;
      }
      /* a camera keeps the latest frame or two, not every frame it made while we were busy */
      stale = now > due + 2 * iv;
    }
    const bool full = p.produced - consumed == p.S;
    slot *s = full || stale ? NULL : &p.ring[p.produced % p.S];
    int64_t idx = 0;
    double ts = 0;
    bool end = false;
    fr_error rerr = {{0}};
    fr_status rs = fr_video_reader_read_into(r, s ? &s->img : NULL, &idx, &ts, &end, &rerr);
    if (rs == FR_OK && end) {
      eof = true;
      continue;
    }
    if (rs != FR_OK) {
      if (stopped(&o)) break;
      if (live && rs == FR_ERR_IO) {
        /* reopen with back-off; frame numbers go on from where they were */
        fr_video_reader_close(r);
        r = NULL;
        fr_error last = rerr;
        fr_status os = reopen_live(input, &ro, &o, &attempts, &r, &last);
        if (stopped(&o)) break;
        if (os != FR_OK) {
          if (attempts == 0) /* reconnect_max 0 */
            st = fr_error_set(err, os, "%s", rerr.msg);
          else
            st = fr_error_set(err, os, "%s; gave up after %d reconnection attempt%s (last: %s)",
                              rerr.msg, attempts, attempts == 1 ? "" : "s", last.msg);
          break;
        }
        const fr_video_info *ni = fr_video_reader_info(r);
        if (ni->width != info.width || ni->height != info.height) {
          st = fr_error_set(err, FR_ERR_FORMAT, "%s: came back at %dx%d instead of %dx%d", input,
                            ni->width, ni->height, info.width, info.height);
          break;
        }
        sum->reconnects++;
        gap = rejoined = true;
        continue;
      }
      st = fr_error_set(err, rs, "%s", rerr.msg);
      break;
    }
    attempts = 0;
    (void)idx;
    const double now = fr__video_now();
    if (rejoined && have_prev) /* times go on across a reconnection (the stream starts its own again) */
      t_off = prev_ts + fmax(iv, now - prev_wall) - ts;
    rejoined = false;
    ts += t_off;
    if (pace) {
      if (!have_prev || ts < prev_ts || ts - prev_ts > 5) { /* start, or a jump: due now */
        pace_t0 = now;
        pace_ts0 = ts;
      }
      if (iv_nominal <= 0 && have_prev && ts - prev_ts > 1e-3 && ts - prev_ts < 1) iv = ts - prev_ts;
    }
    prev_ts = ts;
    prev_wall = now;
    have_prev = true;
    const int64_t fi = decoded++;
    if (!s) { /* realtime drop */
      sum->frames_dropped++;
      continue;
    }
    s->index = fi;
    s->time_s = ts;
    /* every N-th frame; when frames are dropped, the first one N or more after the last detection */
    s->detect = last_detect < 0 || fi - last_detect >= o.every;
    if (s->detect) last_detect = fi;
    s->gap = gap;
    gap = false;
    s->n = 0;
    s->st = FR_OK;
    if (p.S > 1) {
      pthread_mutex_lock(&p.mu);
      s->seq = p.produced;
      s->state = s->detect ? SLOT_QUEUED : SLOT_DONE; /* the workers skip slots that are not queued */
      p.produced++;
      pthread_cond_signal(&p.cv_work);
      pthread_mutex_unlock(&p.mu);
    } else {
      detect_slot(&p, mw, s);
      s->state = SLOT_DONE;
      p.produced++;
    }
  }
  /* end: close every open track, even when stopped early */
  {
    fr_error ferr = {{0}};
    bool dummy_stop;
    fr_status fs = fr__tracker_finish(tr, &dummy_stop, &ferr);
    if (fs && st == FR_OK) {
      st = fs;
      *err = ferr;
    }
  }
  sum->frames = decoded;
  if (st == FR_OK && fr__tracker_crop_error(tr)[0])
    st = fr_error_set(err, FR_ERR_IO, "crops: %s", fr__tracker_crop_error(tr));
out:
  if (n_workers > 0) {
    pthread_mutex_lock(&p.mu);
    p.quit = true;
    pthread_cond_broadcast(&p.cv_work);
    pthread_mutex_unlock(&p.mu);
  }
  if (wa)
    for (int i = 0; i < n_threads; i++) {
      if (wa[i].started) pthread_join(wa[i].th, NULL);
      fr_worker_free(wa[i].w);
    }
  free(wa);
  if (sync_init) {
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv_work);
    pthread_cond_destroy(&p.cv_done);
  }
  if (wr) {
    fr_error werr = {{0}};
    fr_status ws = fr_video_writer_close(wr, &werr);
    if (ws && st == FR_OK) {
      st = ws;
      if (err) *err = werr;
    }
  }
  if (tr) {
    fr_error serr = {{0}};
    fr_status ss = fr__tracker_summary(tr, sum, &serr);
    if (ss && st == FR_OK) {
      st = ss;
      if (err) *err = serr;
    }
  }
  sum->seconds = fr__video_now() - t_start;
  sum->fps = sum->seconds > 0 ? (double)sum->frames / sum->seconds : 0;
  fr__tracker_free(tr);
  fr_worker_free(mw);
  if (p.ring)
    for (int i = 0; i < p.S; i++) fr_image_free(&p.ring[i].img);
  free(p.ring);
  fr_video_reader_close(r);
  if (sum == &dummy) fr_video_summary_free(&dummy);
  return st;
}
