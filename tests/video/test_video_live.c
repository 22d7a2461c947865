/*
 * Live sources through fr_video_run, for real:
 *  - realtime on a file: read at its own frame rate (a stand-in for a camera);
 *    a 1280x720 version of the Hamilton clip, at a frame rate 2.5 times what
 *    one worker can detect faces at with the full pyramid (measured first), so frames are
 *    dropped (never queued), the run takes about the clip's duration, and
 *    Lin-Manuel Miranda is still identified; the 640x360 clip (29.97 fps) with
 *    the video detection setting keeps up.
 *  - reconnection: a tiny HTTP server on a loopback port serves a Matroska
 *    version of the clip (streams without seeking; the writer makes H.264 only
 *    in containers that declare it, which mpegts does not), cutting the connection half-way the first time and
 *    serving it whole the next: the run reconnects once, goes on, and ends at the
 *    stream's plain end (not counted as a break).
 *  - an http:// URL on a closed port fails after reconnect_max attempts with a
 *    clear error, in bounded time; with reconnect_max 0 at once.
 * Timing bounds are generous (a loaded 2-core machine, sanitizers).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "video/video_internal.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define LIN "lin_manuel_miranda"

static char g_tmp[256];
static fr_engine *g_e;
static fr_gallery *g_g;

static const char *clip_path(void) {
  static char p[512];
  snprintf(p, sizeof p, "%s/data/videos/short_hamilton_clip.mp4", fr_t_env("FR_SHARED_DIR", "../shared"));
  return p;
}

/* The engine and a gallery with Lin's sample photo enrolled. */
TEST(setup) {
  snprintf(g_tmp, sizeof g_tmp, "/tmp/fr_test_video_live_XXXXXX");
  CHECK(mkdtemp(g_tmp) != NULL);
  char models[512], photo[512];
  snprintf(models, sizeof models, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  snprintf(photo, sizeof photo, "%s/data/samples/face_recognition/examples/lin-manuel-miranda.png",
           fr_t_env("FR_SHARED_DIR", "../shared"));
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = models;
  fr_error err = {{0}};
  CHECK_STATUS(fr_engine_create(&cfg, &g_e, &err), FR_OK);
  if (!g_e) return;
  fr_worker *w = NULL;
  CHECK_STATUS(fr_worker_create(g_e, NULL, &w, &err), FR_OK);
  CHECK_STATUS(fr_gallery_open(":memory:", fr_engine_model_id(g_e), fr_engine_embed_dim(g_e), &g_g, &err),
               FR_OK);
  fr_image img = {0};
  fr_face f[4];
  int n = 0;
  float emb[FR_EMBED_MAX];
  CHECK_STATUS(fr_image_load(photo, NULL, &img, &err), FR_OK);
  CHECK_STATUS(fr_detect(w, &img, cfg.min_score, f, 4, &n, &err), FR_OK);
  CHECK(n >= 1);
  if (n >= 1 && g_g) {
    CHECK_STATUS(fr_embed_face(w, &img, &f[0], emb, NULL, &err), FR_OK);
    fr_gallery_face_in in = {.subject = LIN, .source = "lin-manuel-miranda.png", .embedding = emb};
    fr_gallery_face gf;
    CHECK_STATUS(fr_gallery_add(g_g, &in, &gf, NULL, &err), FR_OK);
  }
  fr_image_free(&img);
  fr_worker_free(w);
}

/* Re-encodes the first max_frames frames of src to dst (container from its
 * extension) at w x h and speed times the frame rate. Returns the frames written. */
static int remake(const char *src, const char *dst, int w, int h, int max_frames, double speed) {
  fr_error err = {{0}};
  fr_video_reader *r = NULL;
  fr_video_writer *wr = NULL;
  CHECK_STATUS(fr_video_reader_open(src, NULL, &r, &err), FR_OK);
  if (!r) return 0;
  const fr_video_info *in = fr_video_reader_info(r);
  CHECK_STATUS(fr_video_writer_open(dst, w, h, in->fps * speed, &wr, &err), FR_OK);
  int n = 0;
  fr_image f;
  int64_t idx;
  double ts;
  bool eof = false;
  while (wr && n < max_frames && fr_video_reader_read(r, &f, &idx, &ts, &eof, &err) == FR_OK && !eof) {
    fr_image big = {0}; /* fr_image_resize allocates it */
    const fr_image *out = &f;
    if (f.w != w || f.h != h) {
      CHECK_STATUS(fr_image_resize(&f, 0, 0, f.w, f.h, w, h, &big, &err), FR_OK);
      out = &big;
    }
    if (out->px) CHECK_STATUS(fr_video_writer_write(wr, out, &err), FR_OK);
    fr_image_free(&big);
    n++;
  }
  if (wr) CHECK_STATUS(fr_video_writer_close(wr, &err), FR_OK);
  fr_video_reader_close(r);
  return n;
}

/* ---- events ---- */
typedef struct ev_log {
  int starts, ends, lin_ident;
  double last_time;
  int64_t last_frame;
  bool time_order_ok, frame_order_ok;
} ev_log;

static int on_event(void *p, const fr_video_event *ev) {
  ev_log *x = p;
  if (ev->frame < x->last_frame) x->frame_order_ok = false;
  if (ev->time_s < x->last_time - 1e-6) x->time_order_ok = false;
  x->last_frame = ev->frame;
  x->last_time = ev->time_s;
  x->starts += ev->type == FR_VIDEO_TRACK_START;
  x->ends += ev->type == FR_VIDEO_TRACK_END;
  if (ev->type == FR_VIDEO_IDENTIFIED && ev->subject && strcmp(ev->subject, LIN) == 0) x->lin_ident++;
  return 0;
}

static bool saw_lin(const fr_video_summary *s) {
  for (int i = 0; i < s->n_subjects; i++)
    if (strcmp(s->subjects[i].subject, LIN) == 0) return true;
  return false;
}

/* ---- realtime ---- */

/* Fastest of 3 full-pyramid detections (fr_detect) on the clip's first frame at
 * 1280x720, in ms: what one worker needs per frame at best. */
static double detect_ms_720p(void) {
  fr_error err = {{0}};
  fr_video_reader *r = NULL;
  fr_worker *w = NULL;
  fr_image f, big = {0};
  int64_t idx;
  double ts, best = 1e9;
  bool eof = false;
  CHECK_STATUS(fr_video_reader_open(clip_path(), NULL, &r, &err), FR_OK);
  CHECK_STATUS(fr_worker_create(g_e, NULL, &w, &err), FR_OK);
  if (r && w && fr_video_reader_read(r, &f, &idx, &ts, &eof, &err) == FR_OK && !eof &&
      fr_image_resize(&f, 0, 0, f.w, f.h, 1280, 720, &big, &err) == FR_OK) {
    fr_face faces[64];
    int n = 0;
    for (int k = 0; k < 4; k++) {
      const double t0 = fr__video_now();
      CHECK_STATUS(fr_detect(w, &big, 0, faces, 64, &n, &err), FR_OK);
      if (k > 0 && fr__video_now() - t0 < best) best = fr__video_now() - t0; /* k = 0 warms up */
    }
  }
  fr_image_free(&big);
  fr_worker_free(w);
  fr_video_reader_close(r);
  return best * 1000;
}

TEST(realtime_file_drops_frames_when_the_pipeline_is_slower) {
  if (!g_e) return;
  char big[600];
  snprintf(big, sizeof big, "%s/clip720.mp4", g_tmp);
  /* Lin's wide shot (0-19) and the start of his close-up (82-), played 2.5
   * times faster than one worker can detect faces in them with the full
   * pyramid even at its fastest (17-24 ms a frame here: about 100-150 fps),
   * whatever the machine */
  const int N = 150;
  const double ms = detect_ms_720p();
  double fps = 2.5 * 1000 / ms;
  fps = fps < 30 ? 30 : fps > 500 ? 500 : fps;
  CHECK_MSG(remake(clip_path(), big, 1280, 720, N, fps / 29.97) == N, "the 720p clip");
  fr_video_options o = fr_video_default_options();
  o.realtime = true;
  o.threads = 1;
  o.det_max_side = -1; /* the full pyramid: 800 + 400 + 200 on 1280x720 */
  fr_video_summary s;
  fr_error err = {{0}};
  ev_log x = {.time_order_ok = true, .frame_order_ok = true};
  CHECK_STATUS(fr_video_run(g_e, g_g, big, &o, on_event, &x, &s, &err), FR_OK);
  const double duration = (N - 1) / s.info.fps;
  printf("  720p at %.1f fps (detection %.1f ms at best) realtime, full pyramid, 1 worker: %lld frames, "
         "%lld processed, %lld dropped, %.2f s (clip %.2f s), %lld tracks, Lin %s\n",
         fps, ms, (long long)s.frames, (long long)s.frames_processed, (long long)s.frames_dropped, s.seconds,
         duration, (long long)s.tracks, saw_lin(&s) ? "identified" : "NOT identified");
  CHECK(s.info.width == 1280 && s.info.height == 720 && !s.info.live && fabs(s.info.fps - fps) < 0.5);
  CHECK(s.frames == N);
  CHECK(s.frames_processed + s.frames_dropped == s.frames);
  CHECK_MSG(s.frames_dropped > 0, "nothing dropped");
  CHECK(s.frames_processed >= 10);
  CHECK(s.reconnects == 0);
  /* paced: not faster than the clip, and not much slower (never queued) */
  CHECK_MSG(s.seconds > duration - 0.2, "%.2f s for a %.2f s clip: not paced", s.seconds, duration);
  CHECK_MSG(s.seconds < duration + (SANITIZED ? 6 : 3), "%.2f s for a %.2f s clip: fell behind", s.seconds,
            duration);
  CHECK(s.tracks >= 1 && x.starts == s.tracks && x.ends == s.tracks);
  CHECK(x.frame_order_ok && x.time_order_ok);
  CHECK_MSG(saw_lin(&s) && x.lin_ident >= 1, "Lin not identified with dropped frames");
  fr_video_summary_free(&s);
}

static void stop_now(void *ctx, int64_t frames, double fps, int64_t tracks) {
  (void)frames, (void)fps, (void)tracks;
  *(volatile int *)ctx = 1;
}

TEST(realtime_file_keeps_up_with_the_video_setting) {
  if (!g_e) return;
  fr_video_options o = fr_video_default_options();
  o.realtime = true;
  o.threads = 1;
  o.max_frames = 150;
  fr_video_summary s;
  fr_error err = {{0}};
  ev_log x = {.time_order_ok = true, .frame_order_ok = true};
  CHECK_STATUS(fr_video_run(g_e, g_g, clip_path(), &o, on_event, &x, &s, &err), FR_OK);
  const double duration = 149 / s.info.fps;
  printf("  640x360 realtime, video setting, 1 worker: %lld frames, %lld processed, %lld dropped, %.2f s "
         "(clip %.2f s)\n",
         (long long)s.frames, (long long)s.frames_processed, (long long)s.frames_dropped, s.seconds,
         duration);
  CHECK(s.frames == 150 && s.frames_processed + s.frames_dropped == 150);
  /* a few frames may go when the machine is loaded; the sanitizers make it slower than 30 fps */
  if (!SANITIZED) CHECK_MSG(s.frames_dropped <= 15, "%lld dropped", (long long)s.frames_dropped);
  CHECK_MSG(s.seconds > duration - 0.2 && s.seconds < duration + (SANITIZED ? 6 : 3), "%.2f s", s.seconds);
  CHECK(saw_lin(&s) && x.starts == s.tracks && x.ends == s.tracks);
  fr_video_summary_free(&s);

  /* the stop flag (set at the first progress call, about 0.25 s in) ends a
   * paced run at once: it does not wait out the clip */
  volatile int stop = 0;
  o.stop = &stop;
  o.max_frames = 0;
  o.progress = stop_now;
  o.progress_ctx = (void *)&stop;
  const double t0 = fr__video_now();
  CHECK_STATUS(fr_video_run(g_e, g_g, clip_path(), &o, NULL, NULL, &s, &err), FR_OK);
  const double took = fr__video_now() - t0;
  CHECK_MSG(stop && took < 3 && s.frames < 90, "stopped after %.2f s, %lld frames", took, (long long)s.frames);
  fr_video_summary_free(&s);
}

/* ---- a loopback HTTP server: cuts the first response half-way ---- */
typedef struct server {
  int fd, port;
  const unsigned char *data;
  size_t n;
  volatile int quit;
  int requests;
  pthread_t th;
} server;

static void serve_one(server *sv, int c) {
  /* read the request head (bounded), answer 200 with the data, the first time half of it */
  char req[4096];
  size_t got = 0;
  while (got < sizeof req - 1) {
    struct pollfd pf = {c, POLLIN, 0};
    if (poll(&pf, 1, 2000) <= 0) break;
    ssize_t k = recv(c, req + got, sizeof req - 1 - got, 0);
    if (k <= 0) break;
    got += (size_t)k;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  sv->requests++;
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: video/x-matroska\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    sv->n);
  const size_t len = sv->requests == 1 ? sv->n / 2 : sv->n;
  bool ok = send(c, head, (size_t)hn, MSG_NOSIGNAL) == hn;
  for (size_t off = 0; ok && off < len && !sv->quit;) {
    size_t chunk = len - off < 65536 ? len - off : 65536;
    ssize_t k = send(c, sv->data + off, chunk, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += (size_t)k;
  }
  close(c);
}

static void *server_main(void *p) {
  server *sv = p;
  while (!sv->quit) {
    struct pollfd pf = {sv->fd, POLLIN, 0};
    if (poll(&pf, 1, 100) <= 0) continue;
    int c = accept(sv->fd, NULL, NULL);
    if (c >= 0) serve_one(sv, c);
  }
  return NULL;
}

static int listen_loopback(int *port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &al) != 0 ||
      listen(s, 8) != 0) {
    close(s);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return s;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *b = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long sz = ftell(f);
    if (sz > 0 && sz < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)sz)) &&
        fread(b, 1, (size_t)sz, f) != (size_t)sz) {
      free(b);
      b = NULL;
    }
    *n = sz > 0 ? (size_t)sz : 0;
  }
  fclose(f);
  return b;
}

TEST(http_stream_cut_half_way_is_reconnected) {
  if (!g_e) return;
  char ts[600];
  snprintf(ts, sizeof ts, "%s/clip.mkv", g_tmp);
  const int N = 120;
  CHECK_MSG(remake(clip_path(), ts, 640, 360, N, 1.0) == N, "the Matroska clip");
  server sv = {0};
  sv.data = slurp(ts, &sv.n);
  CHECK(sv.data != NULL && sv.n > 10000);
  sv.fd = listen_loopback(&sv.port);
  CHECK(sv.fd >= 0);
  if (!sv.data || sv.fd < 0) {
    free((void *)sv.data);
    return;
  }
  CHECK(pthread_create(&sv.th, NULL, server_main, &sv) == 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/clip.mkv", sv.port);
  fr_video_options o = fr_video_default_options();
  o.threads = 2;
  o.reconnect_max = 3;
  fr_video_summary s;
  fr_error err = {{0}};
  ev_log x = {.time_order_ok = true, .frame_order_ok = true};
  const double t0 = fr__video_now();
  fr_status st = fr_video_run(g_e, g_g, url, &o, on_event, &x, &s, &err);
  const double took = fr__video_now() - t0;
  sv.quit = 1;
  pthread_join(sv.th, NULL);
  close(sv.fd);
  free((void *)sv.data);
  printf("  http stream cut half-way: status %d (%s), %d requests, %lld reconnects, %lld frames, %.2f s\n",
         st, err.msg, sv.requests, (long long)s.reconnects, (long long)s.frames, took);
  CHECK_STATUS(st, FR_OK);
  CHECK(s.info.live);
  CHECK_MSG(s.reconnects == 1, "%lld reconnects", (long long)s.reconnects); /* the plain end is no break */
  CHECK(sv.requests == 2);
  /* part of the first pass, then the whole stream; frame numbers go on */
  CHECK_MSG(s.frames > N + 10 && s.frames < 2 * N, "%lld frames", (long long)s.frames);
  CHECK(s.frames_processed == s.frames && s.frames_dropped == 0);
  CHECK(x.starts == s.tracks && x.ends == s.tracks && s.tracks >= 2);
  CHECK_MSG(x.frame_order_ok && x.time_order_ok, "event frames/times go back after the reconnection");
  CHECK(saw_lin(&s));
  CHECK(took < 30);
  fr_video_summary_free(&s);
}

TEST(http_closed_port_gives_up_after_reconnect_max) {
  if (!g_e) return;
  int port = 0;
  int s0 = listen_loopback(&port);
  CHECK(s0 >= 0);
  if (s0 >= 0) close(s0); /* nobody listens there now */
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
  fr_video_options o = fr_video_default_options();
  o.threads = 1;
  o.reconnect_max = 2;
  fr_video_summary s;
  fr_error err = {{0}};
  /* not realtime: an unreachable source is an error at once */
  double t0 = fr__video_now();
  CHECK_STATUS(fr_video_run(g_e, g_g, url, &o, NULL, NULL, &s, &err), FR_ERR_IO);
  CHECK(strstr(err.msg, "cannot open") && !strstr(err.msg, "gave up"));
  CHECK_MSG(fr__video_now() - t0 < 5, "%.2f s", fr__video_now() - t0);
  fr_video_summary_free(&s);
  /* realtime (monitoring): retried like a broken stream */
  o.realtime = true;
  t0 = fr__video_now();
  CHECK_STATUS(fr_video_run(g_e, g_g, url, &o, NULL, NULL, &s, &err), FR_ERR_IO);
  double took = fr__video_now() - t0;
  printf("  closed port, reconnect_max 2: %.2f s: %s\n", took, err.msg);
  CHECK(strstr(err.msg, url) && strstr(err.msg, "cannot open") && strstr(err.msg, "gave up after 2 reconnection attempts"));
  CHECK_MSG(took > 1.4 && took < 15, "%.2f s (back-off 0.5 + 1 s)", took); /* back-off 0.5 s + 1 s */
  CHECK(s.frames == 0);
  fr_video_summary_free(&s);

  o.reconnect_max = 0;
  t0 = fr__video_now();
  CHECK_STATUS(fr_video_run(g_e, g_g, url, &o, NULL, NULL, &s, &err), FR_ERR_IO);
  took = fr__video_now() - t0;
  CHECK(strstr(err.msg, "cannot open") && !strstr(err.msg, "gave up"));
  CHECK_MSG(took < 5, "%.2f s", took);
  fr_video_summary_free(&s);

  /* a file that ends is not a live source: no reconnection, whatever reconnect_max */
  o.reconnect_max = 3;
  o.max_frames = 0;
  o.threads = 1;
  char ts[600];
  snprintf(ts, sizeof ts, "%s/clip.mkv", g_tmp);
  CHECK_STATUS(fr_video_run(g_e, g_g, ts, &o, NULL, NULL, &s, &err), FR_OK);
  CHECK(!s.info.live && s.reconnects == 0 && s.frames == 120);
  fr_video_summary_free(&s);
}

TEST(teardown) {
  if (g_g) fr_gallery_close(g_g);
  if (g_e) fr_engine_free(g_e);
  if (g_tmp[0]) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    CHECK(system(cmd) == 0);
  }
}

RUN_TESTS(T(setup), T(realtime_file_drops_frames_when_the_pipeline_is_slower),
          T(realtime_file_keeps_up_with_the_video_setting), T(http_stream_cut_half_way_is_reconnected),
          T(http_closed_port_gives_up_after_reconnect_max), T(teardown))
