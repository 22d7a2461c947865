/*
 * bench/pipeline: end-to-end milliseconds per image, decode included:
 * fr_image_load -> fr_detect -> fr_embed_face for every face found.
 *
 * Image sets: (a) the six 1920-px group photos of @vladmandic/face-api@1.7.15's
 * demo/ folder (installed by bench/peers/setup), (b) LFW 250x250 photos (the
 * first image of each of the first N people of ../shared/data/lfw-view1/images).
 *
 * Modes:
 *   1T         one worker, no thread pool
 *   2T pool    one worker with a 2-thread pool (latency of one image)
 *   2 workers  two threads, each with its own worker (no pool), splitting the
 *              set: wall time of a pass / images (throughput, ms per image)
 * Per image: 1 warm-up call, then --runs timed calls; the median is kept. A
 * set's figure is the mean over its images of those medians (2 workers: the
 * median over --runs passes of the pass wall time / images).
 *
 * Peers in the same run (node, bench/peers/pipeline_faceapi.js and
 * pipeline_human.js, TF.js wasm, 1 thread), same files, medians per image,
 * their JPEG decode (jpeg-js) included as well.
 *
 * (c) --image FILE (repeatable): any other images, e.g. bench_http's 640x480
 * one-face request (bench_http --write-jpeg /tmp/req.jpg).
 *
 * After the main table, a per-stage table (1T): for each set, the mean over
 * its images of the mean ms per call spent in each stage during the timed
 * runs (JPEG decode, then the worker's own stage clocks: pyramid resize,
 * detector network, head decoding, NMS, rnet/onet rescoring, landmarks,
 * alignment warp, fr_feature), and what is left of the 1T median.
 *
 * usage: bench_pipeline [--runs N] [--lfw N] [--no-peers] [--demo DIR]
 *                       [--lfw-dir DIR] [--peer-runs N] [--no-group]
 *                       [--image FILE]...    (--lfw 0: no LFW set)
 * Environment: FR_PEERS_DIR (default .cache/peers), FR_SHARED_DIR (default
 * ../shared), FR_MODELS_DIR. Prints Markdown tables. Never asserts.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "face/face_internal.h" /* the worker's stage clocks */
#include "facerec/face.h"
#include "facerec/image.h"
#include "facerec/nn.h"

#define MAX_IMAGES 512

typedef struct image_set {
  const char *name;
  int n;
  char *paths[MAX_IMAGES];
  int faces[MAX_IMAGES];
  double t1[MAX_IMAGES], t2[MAX_IMAGES];       /* medians, ms */
  double faceapi[MAX_IMAGES], human[MAX_IMAGES]; /* peer medians, ms (<0: none) */
  int faceapi_faces[MAX_IMAGES], human_faces[MAX_IMAGES];
  double faceapi_dec[MAX_IMAGES], human_dec[MAX_IMAGES]; /* their jpeg-js decode part, ms */
  double workers2;                              /* ms per image, 2 workers */
  double stages[MAX_IMAGES][FR__ST_COUNT + 1];  /* 1T: mean ms per call; [0] = JPEG decode */
} image_set;

static _Thread_local double decode_ms; /* accumulated by process() */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One image, end to end. Returns the number of faces, <0 on error. */
static int process(fr_worker *w, const char *path, float min_score) {
  static _Thread_local fr_face faces[FR_FACES_MAX];
  fr_image img;
  fr_error err;
  float emb[FR_EMBED_MAX];
  int n = 0;
  double t0 = now_ms();
  if (fr_image_load(path, NULL, &img, &err)) {
    fprintf(stderr, "bench_pipeline: %s\n", err.msg);
    return -1;
  }
  decode_ms += now_ms() - t0;
  if (fr_detect(w, &img, min_score, faces, FR_FACES_MAX, &n, &err)) {
    fprintf(stderr, "bench_pipeline: %s: %s\n", path, err.msg);
    n = -1;
  }
  for (int i = 0; i < n; i++)
    if (fr_embed_face(w, &img, &faces[i], emb, NULL, &err)) {
      fprintf(stderr, "bench_pipeline: %s: face %d: %s\n", path, i, err.msg);
      n = -1;
      break;
    }
  fr_image_free(&img);
  return n;
}

/* Per-image medians with one worker (tp may be NULL). */
static int time_set(const fr_engine *e, fr_threadpool *tp, image_set *s, double *out, int runs) {
  fr_worker *w;
  fr_error err;
  if (fr_worker_create(e, tp, &w, &err)) {
    fprintf(stderr, "bench_pipeline: worker: %s\n", err.msg);
    return -1;
  }
  float min_score = fr_engine_config_of(e)->min_score;
  double *t = malloc(sizeof(double) * (size_t)runs);
  int rc = t ? 0 : -1;
  for (int i = 0; i < s->n && !rc; i++) {
    int nf = process(w, s->paths[i], min_score); /* warm-up */
    if (nf < 0) rc = -1;
    s->faces[i] = nf;
    fr__worker_stages_reset(w);
    decode_ms = 0;
    for (int r = 0; r < runs && !rc; r++) {
      double t0 = now_ms();
      if (process(w, s->paths[i], min_score) < 0) rc = -1;
      t[r] = now_ms() - t0;
    }
    if (!rc) out[i] = median(t, runs);
    if (!tp) { /* stage means of the 1T runs */
      const double *st = fr__worker_stages(w);
      s->stages[i][0] = decode_ms / runs;
      for (int k = 0; k < FR__ST_COUNT; k++) s->stages[i][k + 1] = st[k] / runs;
    }
  }
  free(t);
  fr_worker_free(w);
  return rc;
}

typedef struct pass_arg {
  fr_worker *w;
  const image_set *s;
  int first;
  float min_score;
  int rc;
} pass_arg;

static void *pass_thread(void *p) {
  pass_arg *a = p;
  for (int i = a->first; i < a->s->n; i += 2)
    if (process(a->w, a->s->paths[i], a->min_score) < 0) a->rc = -1;
  return NULL;
}

/* Two workers on two threads, images split between them: ms per image. */
static double time_two_workers(const fr_engine *e, const image_set *s, int runs) {
  pass_arg a[2] = {{0}};
  fr_error err;
  double res = -1;
  double *t = malloc(sizeof(double) * (size_t)(runs + 1));
  for (int k = 0; k < 2; k++) {
    a[k].s = s, a[k].first = k, a[k].min_score = fr_engine_config_of(e)->min_score;
    if (fr_worker_create(e, NULL, &a[k].w, &err)) {
      fprintf(stderr, "bench_pipeline: worker: %s\n", err.msg);
      goto out;
    }
  }
  if (!t) goto out;
  for (int r = 0; r <= runs; r++) { /* pass 0 is the warm-up */
    pthread_t th[2];
    double t0 = now_ms();
    int started = 0;
    for (int k = 0; k < 2; k++)
      if (pthread_create(&th[k], NULL, pass_thread, &a[k]) == 0) started |= 1 << k;
      else a[k].rc = -1;
    for (int k = 0; k < 2; k++)
      if (started & (1 << k)) pthread_join(th[k], NULL);
    t[r] = now_ms() - t0;
    if (a[0].rc || a[1].rc) goto out;
  }
  res = median(t + 1, runs) / s->n;
out:
  for (int k = 0; k < 2; k++) fr_worker_free(a[k].w);
  free(t);
  return res;
}

static int add_path(image_set *s, const char *dir, const char *name) {
  if (s->n >= MAX_IMAGES) return -1;
  size_t len = strlen(dir) + strlen(name) + 2;
  char *p = malloc(len);
  if (!p) return -1;
  snprintf(p, len, "%s/%s", dir, name);
  s->paths[s->n++] = p;
  return 0;
}

static void load_demo(image_set *s, const char *dir) {
  char name[32];
  struct stat st;
  for (int i = 1; i <= 6; i++) {
    snprintf(name, sizeof name, "sample%d.jpg", i);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (stat(p, &st) == 0) add_path(s, dir, name);
    else fprintf(stderr, "bench_pipeline: %s missing (run bench/peers/setup)\n", p);
  }
}

/* The first image (sorted) of each of the first `want` people (sorted). */
static void load_lfw(image_set *s, const char *dir, int want) {
  struct dirent **people = NULL;
  int np = scandir(dir, &people, NULL, alphasort);
  if (np < 0) {
    fprintf(stderr, "bench_pipeline: cannot read %s\n", dir);
    return;
  }
  for (int i = 0; i < np; i++) {
    if (s->n < want && people[i]->d_name[0] != '.') {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", dir, people[i]->d_name);
      struct dirent **files = NULL;
      int nfiles = scandir(sub, &files, NULL, alphasort);
      int done = 0;
      for (int j = 0; j < nfiles; j++) {
        const char *f = files[j]->d_name;
        size_t l = strlen(f);
        if (!done && l > 4 && strcmp(f + l - 4, ".jpg") == 0) done = add_path(s, sub, f) == 0;
        free(files[j]);
      }
      free(files);
    }
    free(people[i]);
  }
  free(people);
}

/* Runs a peer script on the set's files; fills ms (and faces) per image. */
static void run_peer(const char *script, image_set *s, int runs, double *ms, int *faces, double *dec) {
  for (int i = 0; i < s->n; i++) ms[i] = -1, faces[i] = -1, dec[i] = -1;
  size_t cap = 256;
  for (int i = 0; i < s->n; i++) cap += strlen(s->paths[i]) + 3;
  char *cmd = malloc(cap);
  if (!cmd) return;
  int off = snprintf(cmd, cap, "node bench/peers/%s --runs %d", script, runs);
  for (int i = 0; i < s->n; i++) off += snprintf(cmd + off, cap - (size_t)off, " '%s'", s->paths[i]);
  fprintf(stderr, "bench_pipeline: %s on %d %s images...\n", script, s->n, s->name);
  FILE *p = popen(cmd, "r");
  free(cmd);
  if (!p) return;
  char line[8192];
  while (fgets(line, sizeof line, p)) {
    const char *k = strstr(line, "\"index\":");
    const char *m = strstr(line, "\"median_ms\":");
    const char *f = strstr(line, "\"faces\":");
    const char *d = strstr(line, "\"decode_ms\":");
    if (!k || !m) continue;
    int i = atoi(k + 8);
    if (i < 0 || i >= s->n) continue;
    ms[i] = atof(m + 12);
    if (f) faces[i] = atoi(f + 8);
    if (d) dec[i] = atof(d + 12);
  }
  if (pclose(p) != 0) fprintf(stderr, "bench_pipeline: %s failed (see its messages above)\n", script);
}

static double mean_pos(const double *v, int n, int *count) {
  double sum = 0;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (v[i] >= 0) sum += v[i], k++;
  if (count) *count = k;
  return k ? sum / k : -1;
}

static void cell(double v) {
  if (v >= 0) printf(" %.1f |", v);
  else printf(" n/a |");
}

static void ratio(double peer, double ours) {
  if (peer >= 0 && ours > 0) printf(" %.1fx |", peer / ours);
  else printf(" n/a |");
}

static void print_row(const char *label, const char *res, int faces, int pf, int ph, double t1,
                      double t2, double w2, double fa, double hu, double fd, double hd) {
  printf("| %s | %s | %d |", label, res, faces);
  cell(t1), cell(t2), cell(w2), cell(fa), cell(hu), ratio(fa, t1), ratio(hu, t1);
  if (pf >= 0 || ph >= 0) printf(" %d / %d |", pf, ph);
  else printf(" - |");
  if (fd >= 0 || hd >= 0) printf(" %.1f / %.1f |\n", fd, hd);
  else printf(" - |\n");
}

int main(int argc, char **argv) {
  int runs = 10, peer_runs = 3, lfw_n = 50, peers = 1, group = 1;
  static image_set sets[3];
  const char *peers_env = getenv("FR_PEERS_DIR");
  const char *shared_env = getenv("FR_SHARED_DIR");
  char demo[4096], lfw[4096];
  snprintf(demo, sizeof demo, "%s/tfjs/node_modules/@vladmandic/face-api/demo",
           peers_env && *peers_env ? peers_env : ".cache/peers");
  snprintf(lfw, sizeof lfw, "%s/data/lfw-view1/images",
           shared_env && *shared_env ? shared_env : "../shared");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--peer-runs") == 0 && i + 1 < argc) peer_runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--lfw") == 0 && i + 1 < argc) lfw_n = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-peers") == 0) peers = 0;
    else if (strcmp(argv[i], "--demo") == 0 && i + 1 < argc) snprintf(demo, sizeof demo, "%s", argv[++i]);
    else if (strcmp(argv[i], "--lfw-dir") == 0 && i + 1 < argc) snprintf(lfw, sizeof lfw, "%s", argv[++i]);
    else if (strcmp(argv[i], "--no-group") == 0) group = 0;
    else if (strcmp(argv[i], "--image") == 0 && i + 1 < argc) {
      const char *f = argv[++i], *slash = strrchr(f, '/');
      char dir[4096];
      snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - f) : 1, slash ? f : ".");
      if (add_path(&sets[2], dir, slash ? slash + 1 : f)) return 2;
    } else {
      fprintf(stderr,
              "usage: bench_pipeline [--runs N] [--peer-runs N] [--lfw N] [--no-peers] [--demo DIR] "
              "[--lfw-dir DIR] [--no-group] [--image FILE]...\n");
      return 2;
    }
  }
  if (runs < 3) runs = 3;
  if (peer_runs < 1) peer_runs = 1;
  if (lfw_n < 0) lfw_n = 0;
  if (lfw_n > MAX_IMAGES) lfw_n = MAX_IMAGES;

  sets[0].name = "group";
  sets[1].name = "LFW";
  sets[2].name = "other";
  if (group) load_demo(&sets[0], demo);
  if (lfw_n > 0) load_lfw(&sets[1], lfw, lfw_n);

  fr_engine_config cfg = fr_engine_default_config();
  fr_engine *e;
  fr_error err;
  if (fr_engine_create(&cfg, &e, &err)) {
    fprintf(stderr, "bench_pipeline: %s\n", err.msg);
    return 1;
  }
  fr_threadpool *tp2 = fr_threadpool_create(2);
  for (int k = 0; k < 3; k++) {
    image_set *s = &sets[k];
    if (s->n == 0) continue;
    fprintf(stderr, "bench_pipeline: facerec on %d %s images...\n", s->n, s->name);
    if (time_set(e, NULL, s, s->t1, runs) || !tp2 || time_set(e, tp2, s, s->t2, runs)) {
      for (int i = 0; i < s->n; i++) s->t1[i] = s->t2[i] = -1;
    }
    s->workers2 = time_two_workers(e, s, runs);
    if (peers) {
      run_peer("pipeline_faceapi.js", s, peer_runs, s->faceapi, s->faceapi_faces, s->faceapi_dec);
      run_peer("pipeline_human.js", s, peer_runs, s->human, s->human_faces, s->human_dec);
    } else {
      for (int i = 0; i < s->n; i++) {
        s->faceapi[i] = s->human[i] = s->faceapi_dec[i] = s->human_dec[i] = -1;
        s->faceapi_faces[i] = s->human_faces[i] = -1;
      }
    }
  }
  fr_threadpool_free(tp2);
  fr_engine_free(e);

  printf("end-to-end ms per image (decode + detect + embed every face); facerec: %d timed runs per image "
         "after 1 warm-up, median; peers: TF.js wasm (SIMD, 1 thread), %d timed runs after 1 warm-up, median, "
         "jpeg-js decode included\n\n",
         runs, peer_runs);
  printf("| image | size | faces | facerec 1T ms | facerec 2T pool ms | facerec 2 workers ms/img | "
         "face-api ms | Human ms | face-api / facerec 1T | Human / facerec 1T | peer faces (face-api / Human) | "
         "of which jpeg-js decode ms (face-api / Human) |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
  for (int k = 0; k < 3; k++) {
    image_set *s = &sets[k];
    if (s->n == 0) continue;
    int faces = 0;
    for (int i = 0; i < s->n; i++) {
      faces += s->faces[i] > 0 ? s->faces[i] : 0;
      if (k != 1) {
        const char *b = strrchr(s->paths[i], '/');
        fr_image img;
        char res[32] = "?";
        if (fr_image_load(s->paths[i], NULL, &img, &err) == FR_OK) {
          snprintf(res, sizeof res, "%dx%d", img.w, img.h);
          fr_image_free(&img);
        }
        print_row(b ? b + 1 : s->paths[i], res, s->faces[i], s->faceapi_faces[i], s->human_faces[i],
                  s->t1[i], s->t2[i], -1, s->faceapi[i], s->human[i], s->faceapi_dec[i],
                  s->human_dec[i]);
      }
    }
    char label[64];
    snprintf(label, sizeof label, "**%s mean (%d images)**",
             k == 0 ? "group photos" : k == 1 ? "LFW 250x250" : "other images", s->n);
    int pf = 0, ph = 0;
    for (int i = 0; i < s->n; i++) {
      pf += s->faceapi_faces[i] > 0 ? s->faceapi_faces[i] : 0;
      ph += s->human_faces[i] > 0 ? s->human_faces[i] : 0;
    }
    print_row(label, k == 0 ? "1920 wide" : k == 1 ? "250x250" : "-", faces, peers ? pf : -1, peers ? ph : -1,
              mean_pos(s->t1, s->n, NULL), mean_pos(s->t2, s->n, NULL), s->workers2,
              mean_pos(s->faceapi, s->n, NULL), mean_pos(s->human, s->n, NULL),
              mean_pos(s->faceapi_dec, s->n, NULL), mean_pos(s->human_dec, s->n, NULL));
    if (k == 0) {
      double mx = 0;
      for (int i = 0; i < s->n; i++) mx = s->t1[i] > mx ? s->t1[i] : mx;
      fprintf(stderr, "bench_pipeline: slowest group photo 1T %.1f ms (target <= 40)\n", mx);
    }
  }
  static const char *const stage_names[FR__ST_COUNT + 1] = {
      "JPEG decode", "pyramid resize", "detector net", "head decoding", "NMS", "rnet+onet rescoring",
      "landmarks", "align", "fr_feature"};
  printf("\nper stage, 1T: mean over the set's images of the mean ms per call in the timed runs "
         "(\"rest\" = 1T median minus the stages: fr_detect's bookkeeping, frees, clock noise)\n\n");
  printf("| stage |");
  for (int k = 0; k < 3; k++)
    if (sets[k].n) printf(" %s (%d) |", k == 0 ? "group photos" : k == 1 ? "LFW 250x250" : "other", sets[k].n);
  printf("\n|---|");
  for (int k = 0; k < 3; k++)
    if (sets[k].n) printf("---:|");
  printf("\n");
  double sum[3] = {0, 0, 0};
  for (int j = 0; j <= FR__ST_COUNT + 2; j++) {
    printf("| %s |", j <= FR__ST_COUNT ? stage_names[j] : j == FR__ST_COUNT + 1 ? "rest" : "**1T median**");
    for (int k = 0; k < 3; k++) {
      const image_set *s = &sets[k];
      if (!s->n) continue;
      double v = 0;
      for (int i = 0; i < s->n; i++) v += j <= FR__ST_COUNT ? s->stages[i][j] : s->t1[i];
      v /= s->n;
      if (j <= FR__ST_COUNT) sum[k] += v;
      printf(" %.2f |", j == FR__ST_COUNT + 1 ? v - sum[k] : v);
    }
    printf("\n");
  }
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < sets[k].n; i++) free(sets[k].paths[i]);
  return 0;
}
