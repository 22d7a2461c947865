/*
 * Workers on different threads give the results of one worker alone, bit for
 * bit, also while they create their sessions at the same moment: in rounds
 * that start from an empty oneDNN primitive cache and fresh workers, and in
 * fresh processes (oneDNN's one-time set-up included), as a fresh
 * `facerec recognize --threads 2` does. Regression: concurrent creation of
 * oneDNN primitives built wrong ones now and then (nn/dnnl_backend.c).
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/face.h"
#include "facerec/image.h"
#include "nn/dnnl_backend.h"
#include "testutil.h"

enum { MAXF = 16, DIM = 512, THREADS = 2, ROUNDS = 4, MAXIMG = 8 };

typedef struct result {
  int n;
  fr_face faces[MAXF];
  float emb[MAXF][DIM];
  fr_status st;
  char msg[256];
} result;

static fr_engine *g_engine;
static fr_image g_img[MAXIMG];
static int g_nimg;
static result g_ref[MAXIMG];

/* What a worker does for one photo: detect, then embed each face. */
static void analyze(fr_worker *w, const fr_image *img, result *r) {
  fr_error err = {0};
  memset(r, 0, sizeof *r);
  r->st = fr_detect(w, img, 0.6f, r->faces, MAXF, &r->n, &err);
  for (int i = 0; r->st == FR_OK && i < r->n; i++)
    r->st = fr_embed_face(w, img, &r->faces[i], r->emb[i], NULL, &err);
  if (r->st != FR_OK) snprintf(r->msg, sizeof r->msg, "%s", err.msg);
}

static int same(const result *a, const result *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (memcmp(&a->faces[i], &b->faces[i], sizeof a->faces[i]) ||
        memcmp(a->emb[i], b->emb[i], sizeof a->emb[i]))
      return 0;
  return 1;
}

typedef struct job {
  int first;                 /* the photo this thread starts with */
  pthread_barrier_t *start;
  int bad, failed;
  char msg[256];
} job;

/* A fresh worker goes through every photo, starting at job->first, and
 * compares each result with the one a worker alone gave. */
static void *job_main(void *arg) {
  job *j = arg;
  fr_error err = {0};
  fr_worker *w = NULL;
  fr_status st = fr_worker_create(g_engine, NULL, &w, &err);
  pthread_barrier_wait(j->start);
  static _Thread_local result r;
  for (int k = 0; st == FR_OK && k < g_nimg; k++) {
    const int i = (j->first + k) % g_nimg;
    analyze(w, &g_img[i], &r);
    if ((st = r.st) != FR_OK) snprintf(j->msg, sizeof j->msg, "%s", r.msg);
    else if (!same(&r, &g_ref[i])) j->bad++;
  }
  if (st != FR_OK && !j->msg[0]) snprintf(j->msg, sizeof j->msg, "%s", err.msg);
  j->failed = st != FR_OK;
  fr_worker_free(w);
  return NULL;
}

static fr_status engine(fr_engine **out, fr_error *err) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = dir;
  return fr_engine_create(&cfg, out, err);
}

/* The photos (decoded only: nothing has run a network yet). */
static int load_images(void) {
  if (g_nimg) return 1;
  char path[1400];
  fr_error err;
  fr_status st;
  /* face_recognition's knn test photos (500x700 to 2000x1428: one to three
   * pyramid levels, bf16 on the large ones); without ../shared, the committed ones */
  static const char *const knn[] = {"alex_lacamoire1.jpg", "johnsnow_test1.jpg", "kit_with_rose.jpg",
                                    "obama1.jpg", "obama_and_biden.jpg"};
  static const char *const own[] = {"angry.jpg", "face_rectangular.png", "face1.png"};
  for (size_t i = 0; i < sizeof knn / sizeof *knn; i++) {
    snprintf(path, sizeof path, "%s/data/samples/face_recognition/examples/knn_examples/test/%s",
             fr_t_env("FR_SHARED_DIR", "../shared"), knn[i]);
    if (fr_image_load(path, NULL, &g_img[g_nimg], &err) == FR_OK) g_nimg++;
  }
  if (g_nimg == 0)
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
      snprintf(path, sizeof path, "%s/tests/data/images/%s", fr_t_env("FR_SOURCE_DIR", "."), own[i]);
      st = fr_image_load(path, NULL, &g_img[g_nimg], &err);
      CHECK_MSG(st == FR_OK, "%s: %s", path, err.msg);
      if (st) return 0;
      g_nimg++;
    }
  return 1;
}

static int setup(void) {
  if (g_engine) return 1;
  if (!load_images()) return 0;
  fr_error err;
  fr_status st = engine(&g_engine, &err);
  CHECK_MSG(st == FR_OK, "engine: %s", err.msg);
  return st == FR_OK;
}

/* Runs the threads of one round on g_engine; returns the photos that differ
 * from g_ref (-1: an error, in msg). */
static int round_on_threads(int round, char *msg, size_t msg_len) {
  job jobs[THREADS];
  pthread_t tid[THREADS];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, THREADS);
  int started = 0;
  for (int t = 0; t < THREADS; t++) {
    memset(&jobs[t], 0, sizeof jobs[t]);
    jobs[t].first = (t * 2 + round) % g_nimg;
    jobs[t].start = &start;
    if (pthread_create(&tid[t], NULL, job_main, &jobs[t]) != 0) break;
    started++;
  }
  if (started < THREADS) abort(); /* the started ones wait at the barrier for ever */
  for (int t = 0; t < THREADS; t++) pthread_join(tid[t], NULL);
  pthread_barrier_destroy(&start);
  int bad = 0;
  for (int t = 0; t < THREADS; t++) {
    if (jobs[t].failed) {
      snprintf(msg, msg_len, "thread %d: %s", t, jobs[t].msg);
      return -1;
    }
    bad += jobs[t].bad;
  }
  return bad;
}

/* Fresh processes: a first child computes the reference with one worker,
 * then each child creates the engine and runs one round on THREADS threads
 * from oneDNN's very first primitive on. */
TEST(fresh_processes_match_one_worker) {
  if (!load_images()) return;
  const int procs = atoi(fr_t_env("FR_TEST_FRESH_PROCS", "10"));
  result *shared_ref = mmap(NULL, sizeof(result) * MAXIMG, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(shared_ref != MAP_FAILED);
  if (shared_ref == MAP_FAILED) return;
  int bad = 0, errors = 0;
  for (int p = -1; p < procs; p++) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) break;
    if (pid == 0) {
      fr_error err;
      if (engine(&g_engine, &err) != FR_OK) {
        fprintf(stderr, "engine: %s\n", err.msg);
        _exit(255);
      }
      int rc = 0;
      if (p < 0) { /* the reference */
        fr_worker *w = NULL;
        if (fr_worker_create(g_engine, NULL, &w, &err) != FR_OK) _exit(255);
        for (int i = 0; i < g_nimg; i++) {
          analyze(w, &g_img[i], &shared_ref[i]);
          if (shared_ref[i].st != FR_OK) rc = 255;
        }
        fr_worker_free(w);
      } else {
        memcpy(g_ref, shared_ref, sizeof(result) * (size_t)g_nimg);
        char msg[300] = "";
        rc = round_on_threads(p, msg, sizeof msg);
        if (rc < 0) fprintf(stderr, "process %d: %s\n", p, msg);
        rc = rc < 0 ? 255 : rc > 254 ? 254 : rc;
      }
      fr_engine_free(g_engine);
      _exit(rc);
    }
    int ws = 0;
    CHECK(waitpid(pid, &ws, 0) == pid);
    const int rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 255;
    if (rc == 255) errors++;
    else if (rc > 0) {
      fprintf(stderr, "process %d: %d photos differ\n", p, rc);
      bad += rc;
    }
    if (p < 0 && rc != 0) break; /* no reference */
  }
  CHECK_MSG(errors == 0, "%d processes failed", errors);
  CHECK_MSG(bad == 0, "%d photos analyzed on %d threads in %d fresh processes differ from one worker alone",
            bad, THREADS, procs);
  munmap(shared_ref, sizeof(result) * MAXIMG);
}

TEST(threads_match_one_worker) {
  if (!setup()) return;
  fr_error err = {0};
  fr_worker *w = NULL;
  CHECK(fr_worker_create(g_engine, NULL, &w, &err) == FR_OK);
  if (!w) return;
  int faces = 0;
  for (int i = 0; i < g_nimg; i++) {
    analyze(w, &g_img[i], &g_ref[i]);
    CHECK_MSG(g_ref[i].st == FR_OK, "alone, photo %d: %s", i, g_ref[i].msg);
    faces += g_ref[i].n;
  }
  fr_worker_free(w); /* every primitive and shared weight is created again below */
  CHECK(faces >= g_nimg);
  int bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    fr__dnnl_cache_clear();
    char msg[300] = "";
    const int b = round_on_threads(round, msg, sizeof msg);
    CHECK_MSG(b >= 0, "round %d: %s", round, msg);
    if (b > 0) fprintf(stderr, "round %d: %d photos differ\n", round, b);
    if (b > 0) bad += b;
  }
  CHECK_MSG(bad == 0, "%d of %d photos analyzed on %d threads differ from one worker alone", bad,
            ROUNDS * THREADS * g_nimg, THREADS);
  for (int i = 0; i < g_nimg; i++) fr_image_free(&g_img[i]);
  fr_engine_free(g_engine);
  g_engine = NULL;
}

RUN_TESTS(T(fresh_processes_match_one_worker), T(threads_match_one_worker))
