/*
 * bench/video: frames per second of fr_video_run on the Hamilton clip
 * (640x360) and a 1280x720 copy of it made with fr_video_writer, at 1 and 2
 * threads, detection on every frame and every 3rd; medians of repeated runs.
 * Then where the time goes: decode + RGB conversion, detection at several
 * video settings, one embedding.
 *
 *   bench_video [--runs N] [--det-side PX] [--models DIR] [--clip FILE]
 *
 * Lin-Manuel Miranda's sample photo is enrolled in an in-memory gallery, so
 * the runs include the tracker's embeddings and gallery searches. No output
 * video, no crops (the pipeline alone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facerec/video.h"
#include "video/video_internal.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int die(const char *what, const fr_error *err) {
  fprintf(stderr, "bench_video: %s: %s\n", what, err->msg);
  return 1;
}

/* Writes a w x h copy of src (bilinear) to dst. */
static int make_scaled(const char *src, const char *dst, int w, int h) {
  fr_error err = {{0}};
  fr_video_reader *r;
  if (fr_video_reader_open(src, NULL, &r, &err)) return die(src, &err);
  fr_video_writer *wr;
  if (fr_video_writer_open(dst, w, h, fr_video_reader_info(r)->fps, &wr, &err)) {
    fr_video_reader_close(r);
    return die(dst, &err);
  }
  fr_image f, big = {0};
  if (fr_image_alloc(&big, w, h, &err)) return die("alloc", &err);
  int64_t idx;
  double t;
  bool eof = false;
  int rc = 0;
  for (;;) {
    if (fr_video_reader_read(r, &f, &idx, &t, &eof, &err)) {
      rc = die(src, &err);
      break;
    }
    if (eof) break;
    fr_image tmp = big;
    if (fr_image_resize(&f, 0, 0, f.w, f.h, w, h, &tmp, &err) ||
        fr_video_writer_write(wr, &tmp, &err)) {
      rc = die(dst, &err);
      break;
    }
  }
  fr_image_free(&big);
  fr_video_reader_close(r);
  if (fr_video_writer_close(wr, &err) && !rc) rc = die(dst, &err);
  return rc;
}

int main(int argc, char **argv) {
  int runs = 3, det_side = 0;
  const char *models = getenv("FR_MODELS_DIR") ? getenv("FR_MODELS_DIR") : "models";
  const char *shared = getenv("FR_SHARED_DIR") ? getenv("FR_SHARED_DIR") : "../shared";
  char clip[1024], photo[1024];
  snprintf(clip, sizeof clip, "%s/data/videos/short_hamilton_clip.mp4", shared);
  snprintf(photo, sizeof photo, "%s/data/samples/face_recognition/examples/lin-manuel-miranda.png",
           shared);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--det-side") == 0 && i + 1 < argc) det_side = atoi(argv[++i]);
    else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) models = argv[++i];
    else if (strcmp(argv[i], "--clip") == 0 && i + 1 < argc) snprintf(clip, sizeof clip, "%s", argv[++i]);
    else {
      fprintf(stderr, "usage: bench_video [--runs N] [--det-side PX|-1] [--models DIR] [--clip FILE]\n");
      return 2;
    }
  }
  if (runs < 1) runs = 1;
  fr_error err = {{0}};
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = models;
  fr_engine *e;
  if (fr_engine_create(&cfg, &e, &err)) return die("models", &err);
  fr_worker *w;
  if (fr_worker_create(e, NULL, &w, &err)) return die("worker", &err);
  fr_gallery *g;
  if (fr_gallery_open(":memory:", fr_engine_model_id(e), fr_engine_embed_dim(e), &g, &err))
    return die("gallery", &err);
  {
    fr_image img = {0};
    fr_face f[8];
    int n = 0;
    float emb[FR_EMBED_MAX];
    if (fr_image_load(photo, NULL, &img, &err) || fr_detect(w, &img, cfg.min_score, f, 8, &n, &err))
      return die(photo, &err);
    if (n < 1 || fr_embed_face(w, &img, &f[0], emb, NULL, &err)) return die(photo, &err);
    fr_gallery_face_in in = {.subject = "lin_manuel_miranda", .source = "lin-manuel-miranda.png",
                             .embedding = emb};
    fr_gallery_face gf;
    if (fr_gallery_add(g, &in, &gf, NULL, &err)) return die("enroll", &err);
    fr_image_free(&img);
  }
  char hd[64];
  snprintf(hd, sizeof hd, "/tmp/bench_video_%d_720p.mp4", (int)getpid());
  if (make_scaled(clip, hd, 1280, 720)) return 1;
  const char *inputs[2] = {clip, hd};
  const char *names[2] = {"640x360", "1280x720"};

  printf("fr_video_run, frames/s (median of %d runs; det-side %d%s (0 = video default: half the longer side, 320..640); %ld cores online)\n", runs,
         det_side > 0 ? det_side : 0, det_side < 0 ? " = full pyramid" : "", sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-10s %8s %6s %10s %10s %10s %8s\n", "video", "threads", "every", "fps", "min", "max",
         "tracks");
  for (int v = 0; v < 2; v++)
    for (int th = 1; th <= 2; th++)
      for (int ev = 1; ev <= 3; ev += 2) {
        double fps[64];
        int64_t tracks = 0;
        for (int k = 0; k < runs && k < 64; k++) {
          fr_video_options o = fr_video_default_options();
          o.threads = th;
          o.every = ev;
          o.det_max_side = det_side;
          fr_video_summary s;
          if (fr_video_run(e, g, inputs[v], &o, NULL, NULL, &s, &err)) return die(inputs[v], &err);
          fps[k] = s.fps;
          tracks = s.tracks;
          fr_video_summary_free(&s);
        }
        double lo = fps[0], hi = fps[0];
        for (int k = 1; k < runs && k < 64; k++) {
          if (fps[k] < lo) lo = fps[k];
          if (fps[k] > hi) hi = fps[k];
        }
        printf("%-10s %8d %6d %10.1f %10.1f %10.1f %8lld\n", names[v], th, ev,
               median(fps, runs < 64 ? runs : 64), lo, hi, (long long)tracks);
        fflush(stdout);
      }

  /* stages, one thread */
  printf("\nstages (one thread, ms per frame, median of %d passes over the clip)\n", runs);
  for (int v = 0; v < 2; v++) {
    fr_video_reader *r;
    if (fr_video_reader_open(inputs[v], NULL, &r, &err)) return die(inputs[v], &err);
    const fr_video_info *in = fr_video_reader_info(r);
    /* decode into one reused buffer (timed); keep a copy of every 5th frame for detection */
    enum { NF = 80 };
    fr_image *fr = calloc(NF, sizeof *fr), buf = {0};
    if (!fr || fr_image_alloc(&buf, in->width, in->height, &err)) return die("alloc", &err);
    int n = 0, total = 0;
    bool eof = false;
    int64_t idx;
    double ts, t_dec = 0;
    for (;;) {
      double a = fr__video_now();
      if (fr_video_reader_read_into(r, &buf, &idx, &ts, &eof, &err)) return die(inputs[v], &err);
      t_dec += fr__video_now() - a;
      if (eof) break;
      if (total++ % 5 == 0 && n < NF && fr_image_copy(&buf, &fr[n++], &err)) return die("copy", &err);
    }
    fr_image_free(&buf);
    const double dec = t_dec * 1000 / (total > 0 ? total : 1);
    fr_video_reader_close(r);
    printf("%s: decode + RGB %.2f ms\n", names[v], dec);
    static const int sides[][2] = {{-1, 0}, {640, 1}, {480, 1}, {400, 1}, {320, 1}};
    for (size_t k = 0; k < sizeof sides / sizeof sides[0]; k++) {
      fr_detect_options o = {cfg.min_score, sides[k][0] < 0 ? 0 : sides[k][0], sides[k][1]};
      fr_face faces[64];
      int nf;
      double t[16];
      long found = 0, closeup = 0;
      fr_detect_ex(w, &fr[0], &o, faces, 64, &nf, &err); /* plan */
      for (int rr = 0; rr < runs && rr < 16; rr++) {
        found = closeup = 0;
        double a = fr__video_now();
        for (int i = 0; i < n; i++) { /* frame 5 * i */
          if (fr_detect_ex(w, &fr[i], &o, faces, 64, &nf, &err)) return die("detect", &err);
          found += nf;
          if (5 * i >= 90 && 5 * i <= 224 && nf > 0) closeup++;
        }
        t[rr] = (fr__video_now() - a) * 1000 / n;
      }
      char label[48];
      if (sides[k][0] < 0) snprintf(label, sizeof label, "full pyramid (fr_detect)");
      else snprintf(label, sizeof label, "side %d, %d level", sides[k][0], sides[k][1]);
      printf("  detect %-26s %6.2f ms  (faces on every 5th frame: %ld; close-up frames with a face: %ld/27)\n",
             label, median(t, runs < 16 ? runs : 16), found, closeup);
    }
    fr_face faces[8];
    int nf = 0;
    fr_detect(w, &fr[30 < n ? 30 : 0], cfg.min_score, faces, 8, &nf, &err);
    if (nf > 0) {
      float emb[FR_EMBED_MAX];
      double a = fr__video_now();
      for (int i = 0; i < 10; i++) fr_embed_face(w, &fr[30 < n ? 30 : 0], &faces[0], emb, NULL, &err);
      printf("  embed one face (%.0fx%.0f, with its mirror image) %.2f ms\n", (double)faces[0].w,
             (double)faces[0].h, (fr__video_now() - a) * 100);
    }
    for (int i = 0; i < n; i++) fr_image_free(&fr[i]);
    free(fr);
  }
  unlink(hd);
  fr_gallery_close(g);
  fr_worker_free(w);
  fr_engine_free(e);
  return 0;
}
