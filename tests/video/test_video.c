/*
 * The video library: the tracker on synthetic detections (no models), the
 * reader's errors on bad inputs, a writer -> reader round trip, and
 * fr_video_run on the Hamilton clip with Lin-Manuel Miranda enrolled (he is
 * identified during his close-up, nobody else is called him, crops and the
 * annotated video are written and the video decodes with the same frame count).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "video/video_internal.h"

static char g_tmp[256];

static void tmpdir_init(void) {
  if (g_tmp[0]) return;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/fr_test_video_XXXXXX");
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    exit(1);
  }
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  if (n) fwrite(data, 1, n, f);
  fclose(f);
}

/* ---- tracker with fake embeddings: 4-d one-hot-ish vectors per "person" ---- */
enum { DIM = 4 };
typedef struct fake {
  const fr_face *dets;
  const int *who;       /* person index of each detection */
  int n_embed;          /* embeddings requested */
  fr_video_event ev[256];
  char subj[256][32];
  int n_ev;
} fake;

static fr_status fake_embed(void *ctx, int d, float *emb, fr_image *aligned, fr_error *err) {
  (void)err;
  (void)aligned;
  fake *f = ctx;
  f->n_embed++;
  for (int k = 0; k < DIM; k++) emb[k] = 0;
  emb[f->who[d] % DIM] = 1;
  return FR_OK;
}

/* gallery: person 0 = "alice" (similarity 0.9 for person 0, else 0.1), person 1 unknown */
static fr_status fake_search(void *ctx, const float *emb, int k, fr_gallery_match *out, int *n,
                             fr_error *err) {
  (void)ctx;
  (void)err;
  *n = 0;
  if (k < 1) return FR_OK;
  memset(&out[0], 0, sizeof out[0]);
  snprintf(out[0].subject, sizeof out[0].subject, "alice");
  out[0].similarity = emb[0] > 0.5f ? 0.9f : 0.1f;
  *n = 1;
  return FR_OK;
}

static int fake_event(void *ctx, const fr_video_event *ev) {
  fake *f = ctx;
  if (f->n_ev < 256) {
    f->ev[f->n_ev] = *ev;
    snprintf(f->subj[f->n_ev], 32, "%s", ev->subject ? ev->subject : "");
    f->n_ev++;
  }
  return 0;
}

static fr_face box(float x, float y, float s) {
  fr_face f;
  memset(&f, 0, sizeof f);
  f.x = x;
  f.y = y;
  f.w = s;
  f.h = s;
  f.score = 0.9f;
  return f;
}

static int count(const fake *f, fr_video_event_type t) {
  int c = 0;
  for (int i = 0; i < f->n_ev; i++) c += f->ev[i].type == t;
  return c;
}

TEST(tracker_follows_coasts_and_ends) {
  fake f = {0};
  fr__tracker_params p = fr__tracker_default_params();
  p.threshold = 0.5f;
  fr__tracker_host h = {&f, DIM, fake_embed, fake_search, fake_event, &f, NULL};
  fr__tracker *t;
  fr_error err;
  CHECK_STATUS(fr__tracker_create(&p, &h, &t, &err), FR_OK);
  int who[2] = {0, 1};
  f.who = who;
  bool stop;
  /* person 0 moves right 4 px per frame for 40 frames; person 1 appears at frame 5, far away */
  for (int fr = 0; fr < 40; fr++) {
    fr_face d[2] = {box(10 + 4 * (float)fr, 20, 60), box(400, 300, 50)};
    int n = fr >= 5 ? 2 : 1;
    /* detection misses person 0 on frames 10 and 11 (coasting) */
    fr_face *ds = d;
    if (fr == 10 || fr == 11) {
      ds = d + 1;
      n = 1;
      who[0] = 1;
    } else {
      who[0] = 0;
      who[1] = 1;
    }
    CHECK_STATUS(fr__tracker_frame(t, fr, fr / 30.0, true, ds, n, &stop, &err), FR_OK);
  }
  CHECK(fr__tracker_count(t) == 2);
  /* embedded: 3 first + every 10 frames, not every frame */
  CHECK_MSG(f.n_embed < 20, "%d embeddings for 75 detections", f.n_embed);
  CHECK_STATUS(fr__tracker_finish(t, &stop, &err), FR_OK);
  CHECK(count(&f, FR_VIDEO_TRACK_START) == 2);
  CHECK(count(&f, FR_VIDEO_IDENTIFIED) == 1);
  CHECK(count(&f, FR_VIDEO_TRACK_END) == 2);
  for (int i = 0; i < f.n_ev; i++) {
    const fr_video_event *e = &f.ev[i];
    if (e->type == FR_VIDEO_IDENTIFIED) {
      CHECK(e->track == 1 && strcmp(f.subj[i], "alice") == 0 && fabsf(e->similarity - 0.9f) < 1e-6f);
      CHECK(e->frame == 0);
    }
    if (e->type == FR_VIDEO_TRACK_END && e->track == 1) {
      CHECK(strcmp(f.subj[i], "alice") == 0);
      CHECK(e->first_frame == 0 && e->last_frame == 39);
      CHECK_MSG(e->frames == 38, "frames %lld", (long long)e->frames); /* 40 minus the 2 missed */
      CHECK(fabsf(e->best_similarity - 0.9f) < 1e-6f);
    }
    if (e->type == FR_VIDEO_TRACK_END && e->track == 2) {
      CHECK(f.subj[i][0] == 0); /* unknown */
      CHECK(e->first_frame == 5 && e->last_frame == 39 && e->frames == 35);
    }
  }
  fr_video_summary s;
  memset(&s, 0, sizeof s);
  CHECK_STATUS(fr__tracker_summary(t, &s, &err), FR_OK);
  CHECK(s.tracks == 2 && s.n_subjects == 1);
  if (s.n_subjects == 1) {
    CHECK(strcmp(s.subjects[0].subject, "alice") == 0);
    CHECK(s.subjects[0].n_ranges == 1 && s.subjects[0].ranges[0][0] == 0 && s.subjects[0].ranges[0][1] == 39);
  }
  fr_video_summary_free(&s);
  fr__tracker_free(t);
}

TEST(tracker_ends_after_coasting_and_splits_on_another_face) {
  fake f = {0};
  fr__tracker_params p = fr__tracker_default_params();
  p.threshold = 0.5f;
  p.embed_interval = 1; /* embed every frame: the split check runs on each */
  fr__tracker_host h = {&f, DIM, fake_embed, fake_search, fake_event, &f, NULL};
  fr__tracker *t;
  fr_error err;
  CHECK_STATUS(fr__tracker_create(&p, &h, &t, &err), FR_OK);
  int who[1] = {1};
  f.who = who;
  bool stop;
  /* an unknown face for 5 frames, then alice at the very same place (a cut) */
  for (int fr = 0; fr < 10; fr++) {
    who[0] = fr < 5 ? 1 : 0;
    fr_face d = box(100, 100, 80);
    CHECK_STATUS(fr__tracker_frame(t, fr, 0, true, &d, 1, &stop, &err), FR_OK);
  }
  CHECK(fr__tracker_count(t) == 2);
  /* nothing for coast_rounds + 1 rounds: the track ends */
  for (int fr = 10; fr < 10 + p.coast_rounds + 1; fr++)
    CHECK_STATUS(fr__tracker_frame(t, fr, 0, true, NULL, 0, &stop, &err), FR_OK);
  CHECK(count(&f, FR_VIDEO_TRACK_END) == 2);
  for (int i = 0; i < f.n_ev; i++)
    if (f.ev[i].type == FR_VIDEO_TRACK_END) {
      if (f.ev[i].track == 1) CHECK(f.subj[i][0] == 0 && f.ev[i].last_frame == 4);
      if (f.ev[i].track == 2)
        CHECK(strcmp(f.subj[i], "alice") == 0 && f.ev[i].first_frame == 5 && f.ev[i].last_frame == 9);
    }
  /* frames must increase */
  fr_face d = box(0, 0, 10);
  CHECK_STATUS(fr__tracker_frame(t, 3, 0, true, &d, 1, &stop, &err), FR_ERR_INVALID_ARG);
  fr__tracker_free(t);
}

TEST(tracker_unknown_then_named_and_cut) {
  /* a track named only once several views agree: the first views of person 2
   * score 0.1 (alice's search says so), then person 0 views (0.9) raise the mean */
  fake f = {0};
  fr__tracker_params p = fr__tracker_default_params();
  p.threshold = 0.5f;
  p.embed_interval = 1;
  p.emb_split = -2; /* never split: the same face, better views */
  fr__tracker_host h = {&f, DIM, fake_embed, fake_search, fake_event, &f, NULL};
  fr__tracker *t;
  fr_error err;
  CHECK_STATUS(fr__tracker_create(&p, &h, &t, &err), FR_OK);
  int who[1];
  f.who = who;
  bool stop;
  for (int fr = 0; fr < 8; fr++) {
    who[0] = fr < 3 ? 2 : 0;
    fr_face d = box(50, 50, 70);
    CHECK_STATUS(fr__tracker_frame(t, fr, 0, true, &d, 1, &stop, &err), FR_OK);
  }
  /* mean of the best 3: 0.1 x3 -> unknown; after 2 good views (0.9,0.9,0.1)=0.63 -> alice at frame 4 */
  int idf = -1;
  for (int i = 0; i < f.n_ev; i++)
    if (f.ev[i].type == FR_VIDEO_IDENTIFIED) idf = i;
  CHECK(count(&f, FR_VIDEO_IDENTIFIED) == 1);
  if (idf >= 0) CHECK_MSG(f.ev[idf].frame == 4, "identified at %lld", (long long)f.ev[idf].frame);
  CHECK_STATUS(fr__tracker_cut(t, 8, 0, &stop, &err), FR_OK);
  CHECK(count(&f, FR_VIDEO_TRACK_END) == 1);
  fr__tvis v[4];
  CHECK(fr__tracker_visible(t, v, 4) == 0);
  fr__tracker_free(t);
}

/* ---- reader errors ---- */
static fr_status open_status(const char *path, int timeout_ms, char *msg, size_t n) {
  fr_video_reader_options o = fr_video_reader_default_options();
  if (timeout_ms) o.open_timeout_ms = timeout_ms;
  fr_video_reader *r = NULL;
  fr_error err = {{0}};
  fr_status st = fr_video_reader_open(path, &o, &r, &err);
  if (st == FR_OK) { /* decoding may still find it bad */
    fr_image img;
    int64_t idx;
    double ts;
    bool eof = false;
    while ((st = fr_video_reader_read(r, &img, &idx, &ts, &eof, &err)) == FR_OK && !eof) {
    }
    fr_video_reader_close(r);
  }
  snprintf(msg, n, "%s", err.msg);
  return st;
}

TEST(reader_errors) {
  tmpdir_init();
  char p[512], msg[512];
  snprintf(p, sizeof p, "%s/none.mp4", g_tmp);
  CHECK_STATUS(open_status(p, 0, msg, sizeof msg), FR_ERR_NOT_FOUND);
  CHECK(strstr(msg, "none.mp4") && strstr(msg, "no such file"));

  snprintf(p, sizeof p, "%s/empty.mp4", g_tmp);
  write_file(p, "", 0);
  CHECK_STATUS(open_status(p, 0, msg, sizeof msg), FR_ERR_FORMAT);
  CHECK(strstr(msg, "empty"));

  snprintf(p, sizeof p, "%s/random.mp4", g_tmp);
  unsigned char rnd[65536];
  unsigned x = 12345;
  for (size_t i = 0; i < sizeof rnd; i++) {
    x = x * 1103515245u + 12345u;
    rnd[i] = (unsigned char)(x >> 16);
  }
  write_file(p, rnd, sizeof rnd);
  fr_status st = open_status(p, 0, msg, sizeof msg);
  CHECK_MSG(st == FR_ERR_FORMAT, "random bytes: %d %s", st, msg);
  CHECK(strstr(msg, "random.mp4") != NULL);

  /* the clip cut in half: its index (moov) is at the end, so it is gone */
  char clip[512];
  snprintf(clip, sizeof clip, "%s/data/videos/short_hamilton_clip.mp4", fr_t_env("FR_SHARED_DIR", "../shared"));
  FILE *f = fopen(clip, "rb");
  CHECK(f != NULL);
  if (f) {
    static unsigned char buf[700000];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/half.mp4", g_tmp);
    write_file(p, buf, n / 2);
    st = open_status(p, 0, msg, sizeof msg);
    CHECK_MSG(st == FR_ERR_FORMAT, "truncated: %d %s", st, msg);
    /* header and index intact but the frame data zeroed: no frame decodes */
    if (n > 20000) memset(buf + 48, 0, n - 48 - 9224);
    snprintf(p, sizeof p, "%s/zeroed.mp4", g_tmp);
    write_file(p, buf, n);
    st = open_status(p, 0, msg, sizeof msg);
    CHECK_MSG(st == FR_ERR_FORMAT, "zeroed data: %d %s", st, msg);
  }
  CHECK_STATUS(open_status(g_tmp, 0, msg, sizeof msg), FR_ERR_IO); /* a directory */

  /* a closed port: bind one, close it, connect there */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  int port = 1;
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &al) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0) close(s);
  snprintf(p, sizeof p, "rtsp://127.0.0.1:%d/x", port);
  double t0 = fr__video_now();
  CHECK_STATUS(open_status(p, 2000, msg, sizeof msg), FR_ERR_IO);
  CHECK(strstr(msg, "rtsp://127.0.0.1") && strstr(msg, "cannot open"));
  CHECK(fr__video_now() - t0 < 10);
}

TEST(writer_reader_round_trip) {
  tmpdir_init();
  char p[512];
  snprintf(p, sizeof p, "%s/rt.mp4", g_tmp);
  fr_error err = {{0}};
  fr_video_writer *w;
  CHECK_STATUS(fr_video_writer_open(p, 160, 120, 25, &w, &err), FR_OK);
  if (!w) return;
  CHECK(strcmp(fr_video_writer_codec(w), "libx264") == 0 || strcmp(fr_video_writer_codec(w), "mjpeg") == 0);
  fr_image img = {0};
  CHECK_STATUS(fr_image_alloc(&img, 160, 120, &err), FR_OK);
  for (int k = 0; k < 12; k++) {
    for (int y = 0; y < 120; y++)
      for (int x = 0; x < 160; x++) {
        uint8_t *q = img.px + (size_t)y * (size_t)img.stride + 3 * (size_t)x;
        q[0] = (uint8_t)(x < 80 ? 200 : 30);
        q[1] = (uint8_t)(k * 20);
        q[2] = 90;
      }
    CHECK_STATUS(fr_video_writer_write(w, &img, &err), FR_OK);
  }
  fr_image bad = {0};
  CHECK_STATUS(fr_image_alloc(&bad, 100, 100, &err), FR_OK);
  CHECK_STATUS(fr_video_writer_write(w, &bad, &err), FR_ERR_INVALID_ARG);
  fr_image_free(&bad);
  CHECK_STATUS(fr_video_writer_close(w, &err), FR_OK);
  fr_video_reader *r;
  CHECK_STATUS(fr_video_reader_open(p, NULL, &r, &err), FR_OK);
  if (!r) return;
  const fr_video_info *in = fr_video_reader_info(r);
  CHECK(in->width == 160 && in->height == 120 && fabs(in->fps - 25) < 0.01);
  int n = 0;
  bool eof = false;
  fr_image f;
  int64_t idx;
  double ts;
  while (fr_video_reader_read(r, &f, &idx, &ts, &eof, &err) == FR_OK && !eof) {
    CHECK(idx == n && fabs(ts - n / 25.0) < 1e-3);
    if (n == 11) { /* colours survive the codec */
      const uint8_t *q = f.px + 60 * (size_t)f.stride + 3 * 20;
      CHECK_MSG(abs(q[0] - 200) < 20 && abs(q[1] - 220) < 20 && abs(q[2] - 90) < 20, "%d %d %d", q[0], q[1], q[2]);
      q = f.px + 60 * (size_t)f.stride + 3 * 140;
      CHECK(abs(q[0] - 30) < 20);
    }
    n++;
  }
  CHECK_MSG(n == 12, "%d frames", n);
  fr_video_reader_close(r);
  fr_image_free(&img);
}

/* ---- the whole run on the clip ---- */
typedef struct run_ctx {
  int n_lin_ident;
  int64_t lin_tracks[64][2];
  int n_lin;
  int starts, ends;
  int64_t last_frame_seen;
  bool order_ok;
  int crops;
} run_ctx;

static int run_event(void *p, const fr_video_event *ev) {
  run_ctx *x = p;
  if (ev->frame < x->last_frame_seen) x->order_ok = false;
  x->last_frame_seen = ev->frame;
  if (ev->type == FR_VIDEO_TRACK_START) x->starts++;
  if (ev->type == FR_VIDEO_IDENTIFIED && ev->subject && strcmp(ev->subject, "lin_manuel_miranda") == 0)
    x->n_lin_ident++;
  if (ev->type == FR_VIDEO_TRACK_END) {
    x->ends++;
    if (ev->crop_path) {
      struct stat st;
      if (stat(ev->crop_path, &st) == 0 && st.st_size > 100) x->crops++;
    }
    if (ev->subject && strcmp(ev->subject, "lin_manuel_miranda") == 0 && x->n_lin < 64) {
      x->lin_tracks[x->n_lin][0] = ev->first_frame;
      x->lin_tracks[x->n_lin][1] = ev->last_frame;
      x->n_lin++;
    }
  }
  return 0;
}

static int stop_progress_calls;
static void stop_soon(void *ctx, int64_t frames, double fps, int64_t tracks) {
  (void)fps;
  (void)tracks;
  (void)frames;
  stop_progress_calls++;
  *(volatile int *)ctx = 1;
}

TEST(run_on_the_clip) {
  tmpdir_init();
  const char *shared = fr_t_env("FR_SHARED_DIR", "../shared");
  char clip[512], photo[512], out[512], crops[512];
  snprintf(clip, sizeof clip, "%s/data/videos/short_hamilton_clip.mp4", shared);
  snprintf(photo, sizeof photo, "%s/data/samples/face_recognition/examples/lin-manuel-miranda.png", shared);
  snprintf(out, sizeof out, "%s/annotated.mp4", g_tmp);
  snprintf(crops, sizeof crops, "%s/crops", g_tmp);
  char models[512];
  snprintf(models, sizeof models, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = models;
  fr_engine *e;
  fr_error err = {{0}};
  CHECK_STATUS(fr_engine_create(&cfg, &e, &err), FR_OK);
  if (!e) return;
  fr_worker *w;
  fr_gallery *g;
  CHECK_STATUS(fr_worker_create(e, NULL, &w, &err), FR_OK);
  CHECK_STATUS(fr_gallery_open(":memory:", fr_engine_model_id(e), fr_engine_embed_dim(e), &g, &err), FR_OK);
  fr_image img = {0};
  fr_face f[4];
  int n = 0;
  float emb[FR_EMBED_MAX];
  CHECK_STATUS(fr_image_load(photo, NULL, &img, &err), FR_OK);
  CHECK_STATUS(fr_detect(w, &img, cfg.min_score, f, 4, &n, &err), FR_OK);
  CHECK(n >= 1);
  if (n < 1) return;
  CHECK_STATUS(fr_embed_face(w, &img, &f[0], emb, NULL, &err), FR_OK);
  fr_gallery_face_in in = {.subject = "lin_manuel_miranda", .source = "lin-manuel-miranda.png", .embedding = emb};
  fr_gallery_face gf;
  CHECK_STATUS(fr_gallery_add(g, &in, &gf, NULL, &err), FR_OK);
  fr_image_free(&img);

  run_ctx x = {.order_ok = true};
  fr_video_options o = fr_video_default_options();
  o.threads = 2;
  o.out_path = out;
  o.crops_dir = crops;
  fr_video_summary s;
  CHECK_STATUS(fr_video_run(e, g, clip, &o, run_event, &x, &s, &err), FR_OK);
  CHECK_MSG(s.frames == 275 && s.frames_processed == 275 && s.frames_dropped == 0, "frames %lld", (long long)s.frames);
  CHECK(s.info.width == 640 && s.info.height == 360);
  CHECK(x.order_ok && x.starts == s.tracks && x.ends == s.tracks);
  CHECK(x.n_lin_ident >= 1);
  bool closeup = false;
  for (int i = 0; i < x.n_lin; i++) {
    /* his close-up: 90-224 by eye; the audience shot (Obamas) 211/225-274 must not be him */
    if (x.lin_tracks[i][0] <= 224 && x.lin_tracks[i][1] >= 90 && x.lin_tracks[i][1] - x.lin_tracks[i][0] >= 60)
      closeup = true;
    CHECK_MSG(x.lin_tracks[i][1] < 225, "a lin track %lld-%lld reaches the audience shot",
              (long long)x.lin_tracks[i][0], (long long)x.lin_tracks[i][1]);
    CHECK_MSG(x.lin_tracks[i][1] < 30 || x.lin_tracks[i][0] > 80, "a lin track %lld-%lld at the piano shot",
              (long long)x.lin_tracks[i][0], (long long)x.lin_tracks[i][1]);
  }
  CHECK(closeup);
  CHECK(s.n_subjects == 1 && strcmp(s.subjects[0].subject, "lin_manuel_miranda") == 0);
  CHECK(x.crops >= 1);
  char lin_dir[600];
  snprintf(lin_dir, sizeof lin_dir, "%s/lin_manuel_miranda", crops);
  struct stat st;
  CHECK(stat(lin_dir, &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(strcmp(s.out_codec, "libx264") == 0 || strcmp(s.out_codec, "mjpeg") == 0);
  fr_video_summary_free(&s);

  /* the annotated video decodes with the same frame count and size */
  fr_video_reader *r;
  CHECK_STATUS(fr_video_reader_open(out, NULL, &r, &err), FR_OK);
  if (r) {
    int frames = 0;
    bool eof = false;
    fr_image fi;
    int64_t idx;
    double ts;
    while (fr_video_reader_read(r, &fi, &idx, &ts, &eof, &err) == FR_OK && !eof) frames++;
    CHECK_MSG(frames == 275, "annotated video: %d frames", frames);
    CHECK(fr_video_reader_info(r)->width == 640 && fr_video_reader_info(r)->height == 360);
    fr_video_reader_close(r);
  }

  /* the stop flag ends the run cleanly, with a summary */
  volatile int stop = 0;
  fr_video_options o2 = fr_video_default_options();
  o2.threads = 2;
  o2.every = 5;
  o2.stop = &stop;
  o2.progress = stop_soon;
  o2.progress_ctx = (void *)&stop;
  run_ctx y = {.order_ok = true};
  CHECK_STATUS(fr_video_run(e, g, clip, &o2, run_event, &y, &s, &err), FR_OK);
  CHECK(y.starts == y.ends);
  if (stop_progress_calls > 0) CHECK(s.frames < 275);
  fr_video_summary_free(&s);

  /* max_frames and errors through fr_video_run */
  fr_video_options o3 = fr_video_default_options();
  o3.max_frames = 10;
  o3.threads = 1;
  CHECK_STATUS(fr_video_run(e, g, clip, &o3, NULL, NULL, &s, &err), FR_OK);
  CHECK(s.frames == 10);
  fr_video_summary_free(&s);
  char missing[600];
  snprintf(missing, sizeof missing, "%s/missing.mp4", g_tmp);
  CHECK_STATUS(fr_video_run(e, g, missing, &o3, NULL, NULL, &s, &err), FR_ERR_NOT_FOUND);
  CHECK(s.frames == 0);
  fr_video_summary_free(&s);

  fr_gallery_close(g);
  fr_worker_free(w);
  fr_engine_free(e);
}

static void cleanup(void) {
  if (g_tmp[0]) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  }
}

static void t_cleanup(void) { cleanup(); }

RUN_TESTS(T(tracker_follows_coasts_and_ends), T(tracker_ends_after_coasting_and_splits_on_another_face),
          T(tracker_unknown_then_named_and_cut), T(reader_errors), T(writer_reader_round_trip),
          T(run_on_the_clip), T(t_cleanup))
