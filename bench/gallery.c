/*
 * Gallery benchmark: exact search latency (median of 50 queries, k = 5) at
 * 1,000 / 10,000 / 100,000 faces of 512 dims, the RSS the index adds when a
 * gallery file is opened (and the time to load it), each dot-product kernel
 * (float32 rows: the exact re-scoring; int8 rows: the index pass) on each
 * matrix, the cost of reading candidates' float32 embeddings from the store,
 * and add throughput (fsync'ed file vs in-memory).
 *
 *   bench_gallery [DIR]     (DIR for the temporary gallery files; default /tmp)
 *
 * The large galleries are written straight with SQLite in one transaction
 * (fr_gallery_add commits, and fsyncs, once per face), into the schema that
 * fr_gallery_open created. Prints numbers; asserts nothing about timings.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facerec/gallery.h"
#include "gallery/index.h"
#include "gallery/store.h"

#define DIM 512
#define QUERIES 50

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static unsigned rng = 12345;
static float randf(void) {
  rng = rng * 1103515245u + 12345u;
  return (float)((rng >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}
static void rand_unit(float *v, int n) {
  double ss = 0;
  for (int i = 0; i < n; i++) v[i] = randf(), ss += (double)v[i] * v[i];
  for (int i = 0; i < n; i++) v[i] = (float)(v[i] / sqrt(ss));
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void rm_db(const char *path) {
  char p[600];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

/* n faces, 4 per subject, random unit embeddings, in one transaction. */
static int fill(const char *path, int n) {
  rm_db(path);
  fr_gallery *g;
  fr_error err;
  if (fr_gallery_open(path, "bench-model", DIM, &g, &err) != FR_OK) {
    fprintf(stderr, "open %s: %s\n", path, err.msg);
    return -1;
  }
  fr_gallery_close(g); /* schema created */
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
  sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL);
  sqlite3_stmt *s1, *s2;
  sqlite3_prepare_v2(db, "INSERT INTO subjects(id, name, created) VALUES(?1, ?2, 0)", -1, &s1, NULL);
  sqlite3_prepare_v2(db,
                     "INSERT INTO faces(image_id, subject_id, model_id, dim, source, face_index, "
                     "created, embedding) VALUES(?1, ?2, 'bench-model', ?3, 'bench.jpg', 0, 0, ?4)",
                     -1, &s2, NULL);
  float v[DIM];
  char name[32], id[40];
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    if (i % 4 == 0) {
      snprintf(name, sizeof name, "subject%07d", i / 4);
      sqlite3_bind_int64(s1, 1, i / 4 + 1);
      sqlite3_bind_text(s1, 2, name, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(s1) != SQLITE_DONE) rc = -1;
      sqlite3_reset(s1);
    }
    rand_unit(v, DIM);
    snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", (unsigned)i, (unsigned)i);
    sqlite3_bind_text(s2, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s2, 2, i / 4 + 1);
    sqlite3_bind_int(s2, 3, DIM);
    sqlite3_bind_blob(s2, 4, v, sizeof v, SQLITE_TRANSIENT); /* x86: already little-endian */
    if (sqlite3_step(s2) != SQLITE_DONE) rc = -1;
    sqlite3_reset(s2);
  }
  sqlite3_finalize(s1);
  sqlite3_finalize(s2);
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = -1;
  if (rc) fprintf(stderr, "fill %s: %s\n", path, sqlite3_errmsg(db));
  sqlite3_close(db);
  return rc;
}

/* The re-scoring's store read: 64 random faces' float32 embeddings per call on
 * the read connection (what one search batch asks for), median of 30 calls. */
static void bench_fetch(const char *path, int n) {
  fr__store *s;
  fr_error err;
  if (fr__store_sqlite_open(path, "bench-model", DIM, &s, &err) != FR_OK) {
    fprintf(stderr, "store open: %s\n", err.msg);
    return;
  }
  enum { B = 64, CALLS = 30 };
  int64_t ids[B];
  char uuids[B][FR_IMAGE_ID_LEN + 1];
  bool found[B];
  float *out = malloc((size_t)B * DIM * 4);
  double lat[CALLS];
  int missing = 0;
  for (int c = 0; c < CALLS; c++) {
    for (int i = 0; i < B; i++) {
      rng = rng * 1103515245u + 12345u;
      unsigned f = (rng >> 4) % (unsigned)n; /* fill(): face f has row id f + 1 */
      ids[i] = (int64_t)f + 1;
      snprintf(uuids[i], sizeof uuids[i], "%08x-0000-4000-8000-%012x", f, f);
    }
    double t0 = now_ms();
    if (s->ops->embeddings(s, true, B, ids, (const char(*)[FR_IMAGE_ID_LEN + 1])uuids, out, DIM,
                           found, &err) != FR_OK) {
      fprintf(stderr, "embeddings: %s\n", err.msg);
      break;
    }
    lat[c] = now_ms() - t0;
    for (int i = 0; i < B; i++) missing += !found[i];
  }
  qsort(lat, CALLS, sizeof lat[0], cmp_d);
  printf("%7d faces: float32 embeddings from the store (read connection): %.1f us per face "
         "(median of %d batches of %d random faces)%s\n",
         n, lat[CALLS / 2] * 1e3 / B, CALLS, B, missing ? " SOME MISSING" : "");
  free(out);
  s->ops->close(s);
}

static void bench_search(const char *dir, int n) {
  char path[512];
  snprintf(path, sizeof path, "%s/bench_gallery_%d.db", dir, n);
  double t0 = now_ms();
  if (fill(path, n)) return;
  double t_fill = now_ms() - t0;
  double rss0 = rss_mb();
  fr_gallery *g;
  fr_error err;
  t0 = now_ms();
  if (fr_gallery_open(path, "bench-model", DIM, &g, &err) != FR_OK) {
    fprintf(stderr, "open: %s\n", err.msg);
    return;
  }
  double t_open = now_ms() - t0;
  double rss1 = rss_mb();
  float q[DIM];
  fr_gallery_match m[5];
  int k = 0;
  double lat[QUERIES];
  rand_unit(q, DIM);
  fr_gallery_search(g, q, 5, m, &k, NULL); /* warm-up */
  for (int i = 0; i < QUERIES; i++) {
    rand_unit(q, DIM);
    t0 = now_ms();
    fr_gallery_search(g, q, 5, m, &k, NULL);
    lat[i] = now_ms() - t0;
  }
  qsort(lat, QUERIES, sizeof lat[0], cmp_d);
  double med = lat[QUERIES / 2];
  double matrix_mb = (double)n * DIM / 1048576.0; /* int8 */
  printf("%7d faces x %d: search median %7.3f ms (min %.3f, max %.3f; %.1f GB/s of int8 rows), "
         "index RSS +%.1f MB (int8 matrix %.1f MB; float32 would be %.1f MB), open/load %.0f ms, "
         "process RSS %.1f MB [fill %.0f ms]\n",
         n, DIM, med, lat[0], lat[QUERIES - 1], matrix_mb / 1024.0 / (med / 1e3), rss1 - rss0,
         matrix_mb, matrix_mb * 4, t_open, rss1, t_fill);
  fflush(stdout);
  fr_gallery_close(g);
  bench_fetch(path, n);
  rm_db(path);
}

static void bench_kernels(int n) {
  fr__dot_kernel ks[4];
  int nk = fr__dot_kernels(ks, 4);
  float *mat = aligned_alloc(64, (size_t)n * DIM * 4), *q = aligned_alloc(64, DIM * 4);
  float *out = malloc((size_t)n * 4);
  for (size_t i = 0; i < (size_t)n * DIM; i++) mat[i] = randf();
  rand_unit(q, DIM);
  for (int ki = 0; ki < nk; ki++) {
    double lat[31];
    for (int r = 0; r < 31; r++) {
      double t0 = now_ms();
      for (int b = 0; b < n; b += 1024)
        ks[ki].fn(mat + (size_t)b * DIM, DIM, (size_t)(n - b < 1024 ? n - b : 1024), q, out + b);
      lat[r] = now_ms() - t0;
    }
    qsort(lat, 31, sizeof lat[0], cmp_d);
    printf("kernel float32 %-6s %6d x %d: median %7.3f ms (%.1f GB/s)%s\n", ks[ki].name, n, DIM,
           lat[15], (double)n * DIM * 4 / 1e9 / (lat[15] / 1e3),
           ki == 0 ? "  <- re-scores candidates" : "");
  }
  free(mat);
  fr__dot8_kernel k8[4];
  int nk8 = fr__dot8_kernels(k8, 4);
  int8_t *m8 = aligned_alloc(64, (size_t)n * DIM);
  for (size_t i = 0; i < (size_t)n * DIM; i++) m8[i] = (int8_t)(randf() * 127);
  for (int ki = 0; ki < nk8; ki++) {
    double lat[31];
    for (int r = 0; r < 31; r++) {
      double t0 = now_ms();
      for (int b = 0; b < n; b += 1024)
        k8[ki].fn(m8 + (size_t)b * DIM, DIM, (size_t)(n - b < 1024 ? n - b : 1024), q, out + b);
      lat[r] = now_ms() - t0;
    }
    qsort(lat, 31, sizeof lat[0], cmp_d);
    printf("kernel int8    %-6s %6d x %d: median %7.3f ms (%.1f GB/s)%s\n", k8[ki].name, n, DIM,
           lat[15], (double)n * DIM / 1e9 / (lat[15] / 1e3), ki == 0 ? "  <- index pass" : "");
  }
  free(m8), free(q), free(out);
}

static void bench_add(const char *path, int n) {
  if (strcmp(path, ":memory:")) rm_db(path);
  fr_gallery *g;
  fr_error err;
  if (fr_gallery_open(path, "bench-model", DIM, &g, &err) != FR_OK) {
    fprintf(stderr, "open: %s\n", err.msg);
    return;
  }
  float v[DIM];
  uint8_t thumb[4000];
  memset(thumb, 0x55, sizeof thumb);
  char name[32];
  double t0 = now_ms();
  for (int i = 0; i < n; i++) {
    rand_unit(v, DIM);
    snprintf(name, sizeof name, "s%d", i % 100);
    fr_gallery_face_in in = {.subject = name, .source = "x.jpg", .embedding = v,
                             .thumb_jpeg = thumb, .thumb_len = sizeof thumb};
    fr_gallery_face f;
    if (fr_gallery_add(g, &in, &f, NULL, &err) != FR_OK) {
      fprintf(stderr, "add: %s\n", err.msg);
      break;
    }
  }
  double ms = now_ms() - t0;
  printf("add %-28s %6d faces (512-d + 4 kB thumb): %8.1f adds/s (%.3f ms each)\n", path, n,
         n / (ms / 1e3), ms / n);
  fr_gallery_close(g);
  if (strcmp(path, ":memory:")) rm_db(path);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  printf("gallery bench: %d-d, int8 index + exact float32 re-scoring, k = 5, median of %d queries, "
         "single thread\n", DIM, QUERIES);
  static const int sizes[] = {1000, 10000, 100000};
  for (int i = 0; i < 3; i++) bench_search(dir, sizes[i]);
  for (int i = 0; i < 3; i++) bench_kernels(sizes[i]);
  char path[512];
  snprintf(path, sizeof path, "%s/bench_gallery_add.db", dir);
  bench_add(path, 300);
  bench_add(":memory:", 5000);
  return 0;
}
