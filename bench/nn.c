/*
 * bench/nn: per model, the median ms per inference (>= 20 runs after warm-up)
 * at 1 and 2 threads, achieved GFLOP/s, and the same model on the peer runtime
 * (onnxruntime-node, TFLite wasm, TF.js wasm from ../shared/peers, set up by
 * bench/peers/setup) measured in the same run, as a ratio peer / facerec.
 *
 * usage: bench_nn [--runs N] [--no-peers] [--models DIR] [FILTER...]
 * Prints a Markdown table (paste into docs/benchmarks.md). Never asserts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facerec/nn.h"

typedef struct bench_model {
  const char *name;
  const char *path;   /* relative to the models dir */
  int rank;
  int64_t shape[4];
  const char *peer;   /* peer runner script in bench/peers, or NULL */
  const char *peer_args; /* extra arguments for the peer runner */
} bench_model;

static const bench_model models[] = {
    {"fr_feature", "faceplugin/fr_feature.onnx", 4, {1, 3, 112, 112}, "ort_bench.js", NULL},
    {"fr_detect 320x240", "faceplugin/fr_detect.onnx", 4, {1, 3, 240, 320}, "ort_bench.js", NULL},
    {"fr_landmark", "faceplugin/fr_landmark.onnx", 4, {1, 1, 64, 64}, "ort_bench.js", NULL},
    {"fr_liveness", "faceplugin/fr_liveness.onnx", 4, {1, 3, 128, 128}, "ort_bench.js", NULL},
    {"fr_expression", "faceplugin/fr_expression.onnx", 4, {1, 3, 224, 224}, "ort_bench.js", NULL},
    {"fr_pose", "faceplugin/fr_pose.onnx", 4, {1, 3, 224, 224}, "ort_bench.js", NULL},
    {"MobileFaceNet", "expo/MobileFaceNet.tflite", 4, {1, 112, 112, 3}, "tflite_bench.js",
     "--patch MobileFaceNet/Logits/SpatialSqueeze_shape=1,192"}, /* batch-1 copy */
    {"onet", "expo/onet.tflite", 4, {1, 48, 48, 3}, "tflite_bench.js", NULL},
    {"FaceAntiSpoofing", "expo/FaceAntiSpoofing.tflite", 4, {1, 256, 256, 3}, "tflite_bench.js", NULL},
    {"faceres", "human/faceres.json", 4, {1, 224, 224, 3}, "tfjs_bench.js", NULL},
    {"blazeface-back", "human/blazeface-back.json", 4, {1, 256, 256, 3}, "tfjs_bench.js", NULL},
    {"facemesh", "human/facemesh.json", 4, {1, 192, 192, 3}, "tfjs_bench.js", NULL},
    {"mobilefacenet (human)", "human/mobilefacenet.json", 4, {1, 112, 112, 3}, "tfjs_bench.js", NULL},
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median ms of `runs` inferences after 5 warm-up runs; <0 on error. */
static double time_model(const fr_model *m, const bench_model *bm, int threads, int runs,
                         double *flops) {
  fr_threadpool *tp = fr_threadpool_create(threads);
  fr_session *s = NULL;
  fr_error err;
  double med = -1;
  size_t n = 1;
  for (int k = 0; k < bm->rank; k++) n *= (size_t)bm->shape[k];
  float *in = malloc(n * sizeof(float));
  double *t = malloc(sizeof(double) * (size_t)runs);
  if (!tp || !in || !t) goto out;
  unsigned seed = 1;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    in[i] = (float)((seed >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
  }
  if (fr_session_create(m, tp, &s, &err) ||
      fr_session_set_input(s, 0, in, bm->shape, bm->rank, &err)) {
    fprintf(stderr, "bench_nn: %s: %s\n", bm->name, err.msg);
    goto out;
  }
  for (int i = 0; i < 5; i++)
    if (fr_session_run(s, &err)) {
      fprintf(stderr, "bench_nn: %s: %s\n", bm->name, err.msg);
      goto out;
    }
  for (int i = 0; i < runs; i++) {
    double t0 = now_ms();
    fr_session_run(s, &err);
    t[i] = now_ms() - t0;
  }
  qsort(t, (size_t)runs, sizeof(double), cmp_d);
  med = t[runs / 2];
  *flops = fr_session_flops(s);
out:
  fr_session_free(s);
  fr_threadpool_free(tp);
  free(in);
  free(t);
  return med;
}

/* Runs the peer script; returns its median ms or <0. */
static double peer_ms(const char *script, const char *model_path, const bench_model *bm, int threads,
                      int runs) {
  char cmd[4096], shape[128] = "";
  for (int k = 0; k < bm->rank; k++)
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "," : "",
             (long long)bm->shape[k]);
  snprintf(cmd, sizeof cmd,
           "node bench/peers/%s --model '%s' --shape %s --threads %d --runs %d %s 2>/dev/null",
           script, model_path, shape, threads, runs, bm->peer_args ? bm->peer_args : "");
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[4096];
  double ms = -1;
  while (fgets(line, sizeof line, p)) {
    const char *k = strstr(line, "\"median_ms\":");
    if (k) ms = atof(k + 12);
  }
  pclose(p);
  return ms;
}

int main(int argc, char **argv) {
  int runs = 30, peers = 1;
  const char *mdir = "models";
  const char *filters[32];
  int nf = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-peers") == 0) peers = 0;
    else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) mdir = argv[++i];
    else if (nf < 32) filters[nf++] = argv[i];
  }
  if (runs < 20) runs = 20;
  printf("| model | input | MFLOP | facerec 1T ms | GFLOP/s | facerec 2T ms | peer | peer 1T ms | "
         "peer/facerec 1T | peer 2T ms | peer/facerec 2T |\n");
  printf("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    const bench_model *bm = &models[i];
    int want = nf == 0;
    for (int f = 0; f < nf; f++) want |= strstr(bm->name, filters[f]) != NULL;
    if (!want) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", mdir, bm->path);
    fr_model *m;
    fr_error err;
    if (fr_model_load(path, NULL, &m, &err)) {
      fprintf(stderr, "bench_nn: %s\n", err.msg);
      continue;
    }
    double flops = 0;
    double t1 = time_model(m, bm, 1, runs, &flops);
    double t2 = time_model(m, bm, 2, runs, &flops);
    fr_model_free(m);
    double p1 = -1, p2 = -1;
    if (peers && bm->peer) {
      p1 = peer_ms(bm->peer, path, bm, 1, runs);
      /* only onnxruntime runs threads in Node; the wasm peers are single-threaded */
      p2 = strcmp(bm->peer, "ort_bench.js") == 0 ? peer_ms(bm->peer, path, bm, 2, runs) : -1;
    }
    char shape[64] = "";
    for (int k = 0; k < bm->rank; k++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "x" : "",
               (long long)bm->shape[k]);
    printf("| %s | %s | %.1f | %.3f | %.1f | %.3f | %s |", bm->name, shape, flops / 1e6, t1,
           t1 > 0 ? flops / t1 / 1e6 : 0, t2, bm->peer ? bm->peer : "-");
    if (p1 > 0) printf(" %.3f | %.2fx |", p1, p1 / t1);
    else printf(" n/a | n/a |");
    if (p2 > 0) printf(" %.3f | %.2fx |\n", p2, p2 / t2);
    else printf(" n/a | n/a |\n");
    fflush(stdout);
  }
  return 0;
}
