/*
 * Gallery: store + index behaviour through the public API (gallery.h), the
 * SIMD kernels against a double-precision reference, SHA-256 vectors,
 * concurrency and crash durability (a child killed with SIGKILL mid-stream).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "facerec/gallery.h"
#include "gallery/index.h"
#include "testutil.h"

/* ---- helpers ---- */

static unsigned long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long)t.tv_sec * 1000000ul + (unsigned long)t.tv_nsec / 1000;
}

static char tmpdir[256];

static const char *tmp_path(const char *name) {
  static char buf[4][512];
  static int i;
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fr_gallery_test_XXXXXX");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      exit(1);
    }
  }
  char *b = buf[i++ & 3];
  snprintf(b, 512, "%s/%s", tmpdir, name);
  return b;
}

static void rm_db(const char *path) {
  char p[600];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

static void rand_unit(unsigned *seed, int dim, float *v) {
  double ss = 0;
  for (int i = 0; i < dim; i++) v[i] = fr_t_randf(seed), ss += (double)v[i] * v[i];
  for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(ss));
}

/* v = normalize(base + eps * noise) */
static void near(unsigned *seed, int dim, const float *base, float eps, float *v) {
  double ss = 0;
  for (int i = 0; i < dim; i++) v[i] = base[i] + eps * fr_t_randf(seed), ss += (double)v[i] * v[i];
  for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(ss));
}

static double dot_d(const float *a, const float *b, int n) {
  double na = 0, nb = 0, s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
  return s / sqrt(na * nb);
}

static fr_gallery *open_g(const char *path, const char *model, int dim) {
  fr_gallery *g = NULL;
  fr_error err = {{0}};
  fr_status st = fr_gallery_open(path, model, dim, &g, &err);
  CHECK_MSG(st == FR_OK, "open %s: %s", path, err.msg);
  return g;
}

static fr_status add(fr_gallery *g, const char *subject, const float *emb, fr_gallery_face *out) {
  fr_gallery_face_in in = {.subject = subject, .source = "src.jpg", .embedding = emb,
                           .box = {1, 2, 3, 4}};
  fr_gallery_face tmp;
  fr_error err = {{0}};
  bool existed;
  fr_status st = fr_gallery_add(g, &in, out ? out : &tmp, &existed, &err);
  CHECK_MSG(st == FR_OK, "add %s: %s", subject, err.msg);
  return st;
}

static int64_t nfaces(fr_gallery *g) {
  fr_gallery_stats s = {0};
  CHECK_STATUS(fr_gallery_stats_get(g, &s, NULL), FR_OK);
  return s.faces;
}

/* ---- SHA-256 ---- */

static void hex(const uint8_t *d, int n, char *out) {
  for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

TEST(sha256_vectors) {
  static const struct {
    const char *msg;
    const char *hash;
  } v[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
       "nopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
  };
  uint8_t d[32];
  char h[65];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    fr_sha256(v[i].msg, strlen(v[i].msg), d);
    hex(d, 32, h);
    CHECK_MSG(strcmp(h, v[i].hash) == 0, "sha256(\"%.20s...\") = %s", v[i].msg, h);
  }
  char *a = malloc(1000000);
  memset(a, 'a', 1000000);
  fr_sha256(a, 1000000, d);
  hex(d, 32, h);
  CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
  free(a);
  /* padding boundaries against coreutils sha256sum */
  static const int lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    uint8_t buf[200];
    for (int j = 0; j < lens[i]; j++) buf[j] = (uint8_t)(j * 7 + 3);
    const char *p = tmp_path("sha.bin");
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(buf, 1, (size_t)lens[i], f) == (size_t)lens[i]);
    if (f) fclose(f);
    char cmd[600], ref[65] = {0};
    snprintf(cmd, sizeof cmd, "sha256sum %s", p);
    FILE *pp = popen(cmd, "r");
    CHECK(pp && fscanf(pp, "%64s", ref) == 1);
    if (pp) pclose(pp);
    fr_sha256(buf, (size_t)lens[i], d);
    hex(d, 32, h);
    CHECK_MSG(strcmp(h, ref) == 0, "len %d: %s vs %s", lens[i], h, ref);
    unlink(p);
  }
}

/* ---- kernels ---- */

TEST(dot_kernels_match_reference) {
  fr__dot_kernel k[4];
  int nk = fr__dot_kernels(k, 4);
  CHECK(nk >= 1 && strcmp(k[nk - 1].name, "c") == 0);
  unsigned seed = 7;
  static const int strides[] = {16, 32, 112, 512, 528};
  static const int rows[] = {1, 3, 4, 5, 17, 64};
  for (size_t si = 0; si < sizeof strides / sizeof strides[0]; si++)
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
      int s = strides[si], n = rows[ri];
      float *m = aligned_alloc(64, (size_t)s * n * 4), *q = aligned_alloc(64, (size_t)s * 4);
      float out[64];
      for (int i = 0; i < s * n; i++) m[i] = fr_t_randf(&seed);
      for (int i = 0; i < s; i++) q[i] = fr_t_randf(&seed);
      for (int ki = 0; ki < nk; ki++) {
        k[ki].fn(m, (size_t)s, (size_t)n, q, out);
        for (int r = 0; r < n; r++) {
          double ref = 0, mag = 0;
          for (int j = 0; j < s; j++) ref += (double)m[r * s + j] * q[j], mag += fabs((double)m[r * s + j] * q[j]);
          CHECK_MSG(fabs(out[r] - ref) <= 1e-5 * mag + 1e-6, "%s stride %d row %d: %g vs %g",
                    k[ki].name, s, r, out[r], ref);
        }
      }
      free(m);
      free(q);
    }
}

TEST(dot8_kernels_match_reference) {
  fr__dot8_kernel k[4];
  int nk = fr__dot8_kernels(k, 4);
  CHECK(nk >= 1 && strcmp(k[nk - 1].name, "c") == 0);
  unsigned seed = 8;
  static const int strides[] = {64, 128, 512, 576};
  static const int rows[] = {1, 3, 17, 64};
  for (size_t si = 0; si < sizeof strides / sizeof strides[0]; si++)
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
      int s = strides[si], n = rows[ri];
      int8_t *m = aligned_alloc(64, (size_t)s * n);
      float *q = aligned_alloc(64, (size_t)s * 4), out[64];
      for (int i = 0; i < s * n; i++) m[i] = (int8_t)((int)(fr_t_rand(&seed) % 255) - 127);
      for (int i = 0; i < s; i++) q[i] = fr_t_randf(&seed);
      for (int ki = 0; ki < nk; ki++) {
        k[ki].fn(m, (size_t)s, (size_t)n, q, out);
        for (int r = 0; r < n; r++) {
          double ref = 0, mag = 0;
          for (int j = 0; j < s; j++) ref += m[r * s + j] * (double)q[j], mag += fabs(m[r * s + j] * (double)q[j]);
          CHECK_MSG(fabs(out[r] - ref) <= 1e-5 * mag + 1e-6, "%s stride %d row %d: %g vs %g",
                    k[ki].name, s, r, out[r], ref);
        }
      }
      free(m);
      free(q);
    }
  /* quantization: the bound holds the true residual, the scale maps max|v| to 127 */
  float v[100], dq[100];
  int8_t m8[128];
  rand_unit(&seed, 100, v);
  float bound = 0, sc = fr__quantize_row(v, 100, 128, m8, &bound);
  double res = 0, mx = 0;
  int maxq = 0;
  for (int j = 0; j < 100; j++) {
    dq[j] = sc * m8[j];
    res += ((double)v[j] - dq[j]) * ((double)v[j] - dq[j]);
    mx = fmax(mx, fabs(v[j]));
    maxq = abs(m8[j]) > maxq ? abs(m8[j]) : maxq;
  }
  CHECK(maxq == 127 && fabs(sc - mx / 127) < 1e-9);
  CHECK(sqrt(res) <= bound && bound < 0.02);
  for (int j = 100; j < 128; j++) CHECK(m8[j] == 0);
}

/* ---- compact index vs brute force float32 ---- */

typedef struct vecs_ctx {
  const float *v; /* row i of the index = v + i * dim (face id i) */
  int dim;
  int64_t missing; /* face id the fetch reports missing, or -1 */
  size_t fetched;
} vecs_ctx;

static fr_status fetch_vecs(void *ctx, size_t n, const int64_t *ids, const uint8_t (*u)[16],
                            float *out, size_t out_stride, bool *found, fr_error *err) {
  (void)u, (void)err;
  vecs_ctx *c = ctx;
  for (size_t i = 0; i < n; i++) {
    memcpy(out + i * out_stride, c->v + ids[i] * c->dim, (size_t)c->dim * 4);
    found[i] = ids[i] != c->missing;
  }
  c->fetched += n;
  return FR_OK;
}

typedef struct bf_m {
  float score;
  int row;
} bf_m;
static int cmp_bf(const void *a, const void *b) {
  const bf_m *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

/* n rows of dim in nsub subjects (row i -> subject subj[i]); random unit
 * vectors, or (clustered) tight groups around a few centres, with exact
 * duplicates across subjects; search k with the index and with brute force
 * float32 (the float kernel the index re-scores with): same subjects, same
 * image ids, same similarities bit for bit (and within 1e-6 of double). */
static void index_vs_bruteforce(int dim, int n, int nsub, bool clustered, unsigned seed) {
  fr__index *ix = NULL;
  CHECK_STATUS(fr__index_create(dim, &ix, NULL), FR_OK);
  if (!ix) return;
  int stride = fr__index_stride(ix);
  float *v = malloc((size_t)n * dim * 4);
  int *subj = malloc((size_t)n * sizeof *subj);
  CHECK_STATUS(fr__index_reserve(ix, (size_t)n, (size_t)nsub, NULL), FR_OK);
  int slots[1000];
  char name[16];
  for (int s = 0; s < nsub; s++) {
    snprintf(name, sizeof name, "s%04d", s);
    slots[s] = fr__index_subject_put(ix, s + 1, strdup(name));
  }
  float centres[8][1024];
  for (int c = 0; c < 8; c++) rand_unit(&seed, dim, centres[c]);
  for (int i = 0; i < n; i++) {
    float *row = v + (size_t)i * dim;
    subj[i] = (int)(fr_t_rand(&seed) % (unsigned)nsub);
    if (!clustered) rand_unit(&seed, dim, row);
    else if (i > 0 && i % 50 == 0) memcpy(row, row - dim, (size_t)dim * 4); /* duplicate */
    else near(&seed, dim, centres[fr_t_rand(&seed) % 8], 0.03f, row);
    uint8_t u[16] = {0};
    memcpy(u, &i, sizeof i);
    fr__index_append(ix, slots[subj[i]], u, i, row);
  }
  fr__dot_kernel fk[1];
  fr__dot_kernels(fk, 1);
  float *pad = aligned_alloc(64, (size_t)n * stride * 4), *q = aligned_alloc(64, (size_t)stride * 4);
  float *sc = malloc((size_t)n * 4);
  memset(pad, 0, (size_t)n * stride * 4);
  for (int i = 0; i < n; i++) memcpy(pad + (size_t)i * stride, v + (size_t)i * dim, (size_t)dim * 4);
  bf_m *best = malloc((size_t)nsub * sizeof *best);
  fr_gallery_match m[64];
  vecs_ctx ctx = {v, dim, -1, 0};
  size_t total_cand = 0;
  for (int t = 0; t < 12; t++) {
    memset(q, 0, (size_t)stride * 4);
    if (clustered && t % 2) near(&seed, dim, centres[t % 8], 0.03f, q);
    else if (t == 11) memcpy(q, v + (size_t)(n / 2) * dim, (size_t)dim * 4); /* an exact row */
    else rand_unit(&seed, dim, q);
    int k = t % 3 == 0 ? 1 : t % 3 == 1 ? 5 : 40;
    fk[0].fn(pad, (size_t)stride, (size_t)n, q, sc);
    for (int s = 0; s < nsub; s++) best[s] = (bf_m){-INFINITY, -1};
    for (int i = 0; i < n; i++) {
      bf_m *b = &best[subj[i]];
      if (b->row < 0 || sc[i] > b->score) *b = (bf_m){sc[i], i};
    }
    qsort(best, (size_t)nsub, sizeof *best, cmp_bf);
    int nn = 0;
    while (nn < nsub && best[nn].row >= 0) nn++;
    if (nn > k) nn = k;
    int got = -1;
    fr__index_search_info info;
    CHECK_STATUS(fr__index_search(ix, q, k, fetch_vecs, &ctx, false, m, &got, &info, NULL), FR_OK);
    CHECK_MSG(got == nn, "%d vs %d", got, nn);
    CHECK(info.missing == 0 && info.candidates >= (size_t)got);
    total_cand += info.candidates;
    for (int i = 0; i < got && i < nn; i++) {
      snprintf(name, sizeof name, "s%04d", subj[best[i].row]);
      int row = -1;
      sscanf(m[i].image_id, "%8x", (unsigned *)&row);
      row = (int)__builtin_bswap32((uint32_t)row);
      CHECK_MSG(strcmp(m[i].subject, name) == 0 && row == best[i].row && m[i].similarity == best[i].score,
                "%s dim %d k %d rank %d: %s row %d %.9g vs %s row %d %.9g", clustered ? "clustered" : "random",
                dim, k, i, m[i].subject, row, m[i].similarity, name, best[i].row, best[i].score);
      double d = 0;
      for (int j = 0; j < dim; j++) d += (double)q[j] * v[(size_t)best[i].row * dim + j];
      CHECK(fabs(m[i].similarity - d) <= 1e-6);
    }
  }
  /* re-scoring reads few rows: on random data about k each (clusters need more) */
  printf("     %s %d x %d, %d subjects: %zu rows re-scored in 12 searches\n",
         clustered ? "clustered" : "random", n, dim, nsub, total_cand);
  if (!clustered) CHECK(total_cand < (size_t)n);
  /* a candidate the store no longer has: retry signal, or left out */
  memset(q, 0, (size_t)stride * 4);
  memcpy(q, v + 7 * (size_t)dim, (size_t)dim * 4);
  ctx.missing = 7;
  int got = -1;
  fr__index_search_info info;
  CHECK_STATUS(fr__index_search(ix, q, 3, fetch_vecs, &ctx, false, m, &got, &info, NULL), FR_OK);
  CHECK(got == 0 && info.missing == 1);
  CHECK_STATUS(fr__index_search(ix, q, 3, fetch_vecs, &ctx, true, m, &got, &info, NULL), FR_OK);
  CHECK(got >= 1 && info.missing == 1);
  for (int i = 0; i < got; i++) CHECK(strncmp(m[i].image_id, "07000000", 8) != 0);
  /* swap-removal keeps the rows' codes, scales and face ids together */
  uint8_t u7[16] = {7};
  CHECK(fr__index_remove(ix, u7));
  ctx.missing = -1;
  CHECK_STATUS(fr__index_search(ix, q, 3, fetch_vecs, &ctx, false, m, &got, &info, NULL), FR_OK);
  CHECK(got >= 1 && info.missing == 0 && m[0].similarity < 0.9999f);
  memcpy(q, v + (size_t)(n - 2) * dim, (size_t)dim * 4);
  CHECK_STATUS(fr__index_search(ix, q, 1, fetch_vecs, &ctx, false, m, &got, &info, NULL), FR_OK);
  CHECK(got == 1 && m[0].similarity > 0.9999f);
  free(v), free(subj), free(pad), free(q), free(sc), free(best);
  fr__index_destroy(ix);
}

TEST(compact_index_equals_float32_bruteforce) {
  index_vs_bruteforce(512, 3000, 700, false, 21);
  index_vs_bruteforce(512, 3000, 300, true, 22);
  index_vs_bruteforce(100, 2000, 500, true, 23);
  index_vs_bruteforce(7, 1000, 200, false, 24);
}

/* The store path of the re-scoring: a file gallery (read connection) and an
 * in-memory one (main connection) give the same results as brute force, and
 * fr_gallery_similarity reads the float32 embedding too. */
TEST(rerank_from_store_file_and_memory) {
  enum { D = 512, N = 240 };
  const char *path = tmp_path("rerank.db");
  rm_db(path);
  fr_gallery *gf = open_g(path, "m", D), *gm = open_g(":memory:", "m", D);
  if (!gf || !gm) return;
  unsigned seed = 31;
  float *e = malloc((size_t)N * D * 4), centre[D], q[D];
  rand_unit(&seed, D, centre);
  char ids[N][37], name[16];
  for (int i = 0; i < N; i++) {
    near(&seed, D, centre, 0.05f, e + (size_t)i * D); /* one tight cluster */
    snprintf(name, sizeof name, "c%d", i % 60);
    fr_gallery_face f;
    add(gf, name, e + (size_t)i * D, &f);
    memcpy(ids[i], f.image_id, 37);
    add(gm, name, e + (size_t)i * D, NULL);
  }
  for (int t = 0; t < 5; t++) {
    near(&seed, D, centre, 0.05f, q);
    fr_gallery_match a[10], b[10];
    int na = 0, nb = 0;
    CHECK_STATUS(fr_gallery_search(gf, q, 10, a, &na, NULL), FR_OK);
    CHECK_STATUS(fr_gallery_search(gm, q, 10, b, &nb, NULL), FR_OK);
    CHECK(na == 10 && nb == 10);
    /* brute force, float kernel order differs from double only in the last bits */
    double bestd[60];
    int bestr[60];
    for (int s = 0; s < 60; s++) bestd[s] = -2, bestr[s] = -1;
    for (int i = 0; i < N; i++) {
      double d = dot_d(q, e + (size_t)i * D, D);
      if (d > bestd[i % 60]) bestd[i % 60] = d, bestr[i % 60] = i;
    }
    for (int i = 0; i < na && i < nb; i++) {
      CHECK(strcmp(a[i].subject, b[i].subject) == 0 && a[i].similarity == b[i].similarity);
      int s = atoi(a[i].subject + 1);
      CHECK(strcmp(a[i].image_id, ids[bestr[s]]) == 0 && fabs(a[i].similarity - bestd[s]) < 1e-6);
      if (i > 0) CHECK(a[i].similarity <= a[i - 1].similarity);
      float sim = 0;
      CHECK_STATUS(fr_gallery_similarity(gf, a[i].image_id, q, &sim, NULL), FR_OK);
      CHECK(fabs(sim - bestd[s]) < 1e-6);
    }
  }
  /* a deleted face is gone from both paths */
  fr_gallery_match a[1];
  int na = 0;
  memcpy(q, e + 5 * (size_t)D, sizeof q);
  CHECK_STATUS(fr_gallery_search(gf, q, 1, a, &na, NULL), FR_OK);
  CHECK(na == 1 && strcmp(a[0].image_id, ids[5]) == 0);
  CHECK_STATUS(fr_gallery_face_delete(gf, ids[5], NULL, NULL), FR_OK);
  CHECK_STATUS(fr_gallery_search(gf, q, 1, a, &na, NULL), FR_OK);
  CHECK(na == 1 && strcmp(a[0].image_id, ids[5]) != 0);
  float sim = 0;
  CHECK_STATUS(fr_gallery_similarity(gf, ids[5], q, &sim, NULL), FR_ERR_NOT_FOUND);
  free(e);
  fr_gallery_close(gf);
  fr_gallery_close(gm);
  rm_db(path);
}

/* ---- basic add / search ---- */

TEST(add_search_topk_dedup) {
  enum { D = 100 }; /* not a multiple of 16: exercises row padding */
  fr_gallery *g = open_g(":memory:", "test-model", D);
  if (!g) return;
  unsigned seed = 1;
  float base[3][D], f[6][D];
  const char *names[3] = {"alice", "bob", "carol"};
  const int per[3] = {3, 2, 1};
  fr_gallery_face faces[6];
  int fi = 0;
  for (int s = 0; s < 3; s++) {
    rand_unit(&seed, D, base[s]);
    for (int j = 0; j < per[s]; j++, fi++) {
      near(&seed, D, base[s], 0.3f, f[fi]);
      add(g, names[s], f[fi], &faces[fi]);
      CHECK(strcmp(faces[fi].subject, names[s]) == 0);
      CHECK(strcmp(faces[fi].source, "src.jpg") == 0);
      CHECK(faces[fi].box[2] == 3);
      CHECK(faces[fi].created_unix > 1600000000);
    }
  }
  /* image ids: UUID v4, distinct */
  for (int i = 0; i < 6; i++) {
    CHECK(strlen(faces[i].image_id) == 36 && faces[i].image_id[14] == '4');
    CHECK(strchr("89ab", faces[i].image_id[19]) != NULL);
    for (int j = 0; j < i; j++) CHECK(strcmp(faces[i].image_id, faces[j].image_id) != 0);
  }
  float q[D];
  near(&seed, D, f[1], 0.02f, q); /* alice's second face */
  fr_gallery_match m[10];
  int n = -1;
  fr_error err = {{0}};
  CHECK_STATUS(fr_gallery_search(g, q, 10, m, &n, &err), FR_OK);
  CHECK(n == 3);
  CHECK(strcmp(m[0].subject, "alice") == 0 && strcmp(m[0].image_id, faces[1].image_id) == 0);
  CHECK(fabs(m[0].similarity - dot_d(q, f[1], D)) < 1e-5);
  for (int i = 1; i < n; i++) CHECK(m[i].similarity <= m[i - 1].similarity);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) CHECK(strcmp(m[i].subject, m[j].subject) != 0);
  CHECK_STATUS(fr_gallery_search(g, q, 2, m, &n, NULL), FR_OK);
  CHECK(n == 2 && strcmp(m[0].subject, "alice") == 0);
  CHECK_STATUS(fr_gallery_search(g, q, 0, NULL, &n, NULL), FR_OK);
  CHECK(n == 0);
  CHECK_STATUS(fr_gallery_search(g, q, -1, m, &n, NULL), FR_ERR_INVALID_ARG);
  /* similarity to one face */
  float sim = 0;
  CHECK_STATUS(fr_gallery_similarity(g, faces[4].image_id, q, &sim, NULL), FR_OK);
  CHECK(fabs(sim - dot_d(q, f[4], D)) < 1e-5);
  CHECK_STATUS(fr_gallery_similarity(g, "00000000-0000-4000-8000-000000000000", q, &sim, NULL),
               FR_ERR_NOT_FOUND);
  CHECK_STATUS(fr_gallery_similarity(g, "nonsense", q, &sim, NULL), FR_ERR_NOT_FOUND);
  /* unnormalized embeddings are normalized (cosine) */
  float q2[D];
  for (int i = 0; i < D; i++) q2[i] = q[i] * 5.0f;
  CHECK_STATUS(fr_gallery_search(g, q2, 1, m, &n, NULL), FR_OK);
  CHECK(n == 1 && fabs(m[0].similarity - dot_d(q, f[1], D)) < 1e-5);
  /* a subject without faces is not a match */
  CHECK_STATUS(fr_gallery_subject_add(g, "dave", NULL, NULL), FR_OK);
  CHECK_STATUS(fr_gallery_search(g, q, 10, m, &n, NULL), FR_OK);
  CHECK(n == 3);
  fr_gallery_close(g);
}

/* naive double-precision search: best face per subject, sorted */
typedef struct naive_m {
  int subject, face;
  double sim;
} naive_m;
static int cmp_naive(const void *a, const void *b) {
  double x = ((const naive_m *)a)->sim, y = ((const naive_m *)b)->sim;
  return x > y ? -1 : x < y ? 1 : 0;
}

static void search_vs_naive(int dim, int nsub, int nfaces_, unsigned seed) {
  fr_gallery *g = open_g(":memory:", "m", dim);
  if (!g) return;
  float *emb = malloc((size_t)nfaces_ * dim * 4);
  int *subj = malloc((size_t)nfaces_ * sizeof(int));
  char (*ids)[37] = malloc((size_t)nfaces_ * 37);
  char name[32];
  for (int i = 0; i < nfaces_; i++) {
    subj[i] = (int)(fr_t_rand(&seed) % (unsigned)nsub);
    rand_unit(&seed, dim, emb + (size_t)i * dim);
    snprintf(name, sizeof name, "s%03d", subj[i]);
    fr_gallery_face f;
    add(g, name, emb + (size_t)i * dim, &f);
    memcpy(ids[i], f.image_id, 37);
  }
  naive_m *best = malloc((size_t)nsub * sizeof *best);
  fr_gallery_match *m = malloc((size_t)nsub * sizeof *m);
  float *q = malloc((size_t)dim * 4);
  for (int t = 0; t < 20; t++) {
    rand_unit(&seed, dim, q);
    for (int s = 0; s < nsub; s++) best[s] = (naive_m){s, -1, -2};
    for (int i = 0; i < nfaces_; i++) {
      double d = dot_d(q, emb + (size_t)i * dim, dim);
      if (d > best[subj[i]].sim) best[subj[i]].sim = d, best[subj[i]].face = i;
    }
    qsort(best, (size_t)nsub, sizeof *best, cmp_naive);
    int nn = 0;
    while (nn < nsub && best[nn].face >= 0) nn++;
    int n = 0;
    CHECK_STATUS(fr_gallery_search(g, q, nsub, m, &n, NULL), FR_OK);
    CHECK_MSG(n == nn, "dim %d: %d matches, naive %d", dim, n, nn);
    for (int i = 0; i < n && i < nn; i++) {
      CHECK_MSG(fabs(m[i].similarity - best[i].sim) < 1e-5, "dim %d rank %d: %g vs %g", dim, i,
                m[i].similarity, best[i].sim);
      bool near_tie = (i > 0 && best[i - 1].sim - best[i].sim < 1e-5) ||
                      (i + 1 < nn && best[i].sim - best[i + 1].sim < 1e-5);
      if (!near_tie) {
        snprintf(name, sizeof name, "s%03d", best[i].subject);
        CHECK_MSG(strcmp(m[i].subject, name) == 0, "dim %d rank %d: %s vs %s", dim, i,
                  m[i].subject, name);
        CHECK(strcmp(m[i].image_id, ids[best[i].face]) == 0);
      }
    }
  }
  free(emb), free(subj), free(ids), free(best), free(m), free(q);
  fr_gallery_close(g);
}

TEST(simd_search_equals_naive_double) {
  search_vs_naive(512, 60, 700, 11);
  search_vs_naive(100, 40, 300, 12);
  search_vs_naive(7, 25, 200, 13);
}

/* ---- idempotency ---- */

TEST(idempotent_add) {
  enum { D = 32 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 3;
  float e[D], e2[D];
  rand_unit(&seed, D, e);
  rand_unit(&seed, D, e2);
  uint8_t h[32];
  fr_sha256("image bytes", 11, h);
  fr_gallery_face_in in = {.subject = "alice", .source = "a.jpg", .source_hash = h,
                           .face_index = 0, .embedding = e};
  fr_gallery_face a, b, c;
  bool ex = true;
  fr_error err = {{0}};
  CHECK_STATUS(fr_gallery_add(g, &in, &a, &ex, &err), FR_OK);
  CHECK(!ex);
  in.embedding = e2; /* same key: nothing changes, even with another embedding */
  CHECK_STATUS(fr_gallery_add(g, &in, &b, &ex, &err), FR_OK);
  CHECK(ex && strcmp(a.image_id, b.image_id) == 0 && a.id == b.id);
  CHECK(strcmp(b.subject, "alice") == 0 && strcmp(b.source, "a.jpg") == 0);
  CHECK(nfaces(g) == 1);
  fr_gallery_match m[2];
  int n;
  CHECK_STATUS(fr_gallery_search(g, e, 2, m, &n, NULL), FR_OK);
  CHECK(n == 1 && m[0].similarity > 0.9999f); /* still the first embedding */
  in.face_index = 1;                          /* another face of the same image */
  CHECK_STATUS(fr_gallery_add(g, &in, &c, &ex, &err), FR_OK);
  CHECK(!ex && strcmp(c.image_id, a.image_id) != 0);
  in.face_index = 0; /* same image under another subject is another face */
  in.subject = "bob";
  CHECK_STATUS(fr_gallery_add(g, &in, &c, &ex, &err), FR_OK);
  CHECK(!ex);
  in.source_hash = NULL; /* no key: every add is new */
  CHECK_STATUS(fr_gallery_add(g, &in, &c, &ex, &err), FR_OK);
  CHECK_STATUS(fr_gallery_add(g, &in, &c, &ex, &err), FR_OK);
  CHECK(!ex);
  CHECK(nfaces(g) == 5);
  fr_gallery_close(g);
}

/* ---- subjects ---- */

typedef struct subj_list {
  int n;
  char names[16][FR_NAME_MAX + 1];
  int64_t faces[16];
} subj_list;
static int subj_cb(void *ctx, const char *name, int64_t faces) {
  subj_list *l = ctx;
  if (l->n < 16) {
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->faces[l->n++] = faces;
  }
  return 0;
}

TEST(rename_subject) {
  enum { D = 16 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 4;
  float e[D], e2[D];
  rand_unit(&seed, D, e);
  rand_unit(&seed, D, e2);
  fr_gallery_face fa;
  add(g, "alice", e, &fa);
  add(g, "bob", e2, NULL);
  fr_error err = {{0}};
  CHECK_STATUS(fr_gallery_subject_rename(g, "alice", "alicia", &err), FR_OK);
  fr_gallery_match m[2];
  int n;
  CHECK_STATUS(fr_gallery_search(g, e, 1, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "alicia") == 0);
  fr_gallery_face f;
  CHECK_STATUS(fr_gallery_face_get(g, fa.image_id, &f, NULL), FR_OK);
  CHECK(strcmp(f.subject, "alicia") == 0);
  CHECK_STATUS(fr_gallery_subject_rename(g, "nobody", "x", NULL), FR_ERR_NOT_FOUND);
  CHECK_STATUS(fr_gallery_subject_rename(g, "alicia", "", NULL), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_gallery_subject_rename(g, "alicia", "alicia", NULL), FR_OK);
  subj_list l = {0};
  CHECK_STATUS(fr_gallery_subjects(g, subj_cb, &l, NULL), FR_OK);
  CHECK(l.n == 2 && strcmp(l.names[0], "alicia") == 0 && strcmp(l.names[1], "bob") == 0);
  CHECK(l.faces[0] == 1 && l.faces[1] == 1);
  bool ex = true;
  CHECK_STATUS(fr_gallery_subject_add(g, "carol", &ex, NULL), FR_OK);
  CHECK(!ex);
  CHECK_STATUS(fr_gallery_subject_add(g, "carol", &ex, NULL), FR_OK);
  CHECK(ex);
  fr_gallery_close(g);
}

/* Renaming onto an existing subject merges, as CompreFace does: the old
 * subject's faces move (except the ones the target already has from the same
 * file, which go), the old subject is gone, index and store agree. */
static void merge_case(const char *path) {
  enum { D = 32 };
  fr_gallery *g = open_g(path, "m", D);
  if (!g) return;
  unsigned seed = 21;
  float a1[D], a2[D], b1[D], b2[D];
  rand_unit(&seed, D, a1);
  rand_unit(&seed, D, a2);
  rand_unit(&seed, D, b1);
  rand_unit(&seed, D, b2);
  uint8_t h1[32], h2[32];
  fr_sha256("file one", 8, h1);
  fr_sha256("file two", 8, h2);
  fr_gallery_face fa1, fa2, fb1, fb2, tmp;
  bool ex;
  fr_error err = {{0}};
  fr_gallery_face_in in = {.subject = "alice", .source = "one.jpg", .source_hash = h1,
                           .embedding = a1};
  CHECK_STATUS(fr_gallery_add(g, &in, &fa1, &ex, &err), FR_OK);
  in.source = "two.jpg", in.source_hash = h2, in.embedding = a2;
  CHECK_STATUS(fr_gallery_add(g, &in, &fa2, &ex, &err), FR_OK);
  in.subject = "bob", in.source = "one.jpg", in.source_hash = h1, in.embedding = b1;
  CHECK_STATUS(fr_gallery_add(g, &in, &fb1, &ex, &err), FR_OK); /* same file as alice's first */
  add(g, "bob", b2, &fb2);
  CHECK_STATUS(fr_gallery_subject_add(g, "carol", &ex, NULL), FR_OK);
  CHECK(nfaces(g) == 4);

  CHECK_STATUS(fr_gallery_subject_rename(g, "alice", "bob", &err), FR_OK);
  subj_list l = {0};
  CHECK_STATUS(fr_gallery_subjects(g, subj_cb, &l, NULL), FR_OK);
  CHECK(l.n == 2 && strcmp(l.names[0], "bob") == 0 && strcmp(l.names[1], "carol") == 0);
  CHECK(l.faces[0] == 3 && l.faces[1] == 0);
  CHECK(nfaces(g) == 3);
  CHECK_STATUS(fr_gallery_face_get(g, fa1.image_id, &tmp, NULL), FR_ERR_NOT_FOUND); /* duplicate: gone */
  CHECK_STATUS(fr_gallery_face_get(g, fa2.image_id, &tmp, NULL), FR_OK);
  CHECK(strcmp(tmp.subject, "bob") == 0);
  fr_gallery_match m[3];
  int n;
  CHECK_STATUS(fr_gallery_search(g, a2, 3, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "bob") == 0 && strcmp(m[0].image_id, fa2.image_id) == 0 &&
        m[0].similarity > 0.9999f);
  CHECK_STATUS(fr_gallery_search(g, a1, 3, m, &n, NULL), FR_OK); /* a1's row left the index */
  CHECK(n == 1 && strcmp(m[0].image_id, fa1.image_id) != 0 && m[0].similarity < 0.999f);
  int64_t total = -1;
  CHECK_STATUS(fr_gallery_faces(g, "alice", 0, 10, NULL, NULL, &total, NULL), FR_ERR_NOT_FOUND);

  /* onto a subject without faces: all move */
  CHECK_STATUS(fr_gallery_subject_rename(g, "bob", "carol", &err), FR_OK);
  CHECK_STATUS(fr_gallery_faces(g, "carol", 0, 10, NULL, NULL, &total, NULL), FR_OK);
  CHECK(total == 3);
  CHECK_STATUS(fr_gallery_search(g, b2, 3, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "carol") == 0 && m[0].similarity > 0.9999f);
  fr_gallery_close(g);
  if (strcmp(path, ":memory:") == 0) return;
  /* the reopened gallery (index rebuilt from the store) says the same */
  g = open_g(path, "m", D);
  if (!g) return;
  CHECK(nfaces(g) == 3);
  CHECK_STATUS(fr_gallery_search(g, a2, 3, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "carol") == 0 && m[0].similarity > 0.9999f);
  fr_gallery_close(g);
}

TEST(merge_subjects) {
  merge_case(":memory:");
  const char *path = tmp_path("merge.db");
  rm_db(path);
  merge_case(path);
  rm_db(path);
}

TEST(delete_subject_cascades) {
  enum { D = 48 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 5;
  float a[3][D], b[D];
  fr_gallery_face fa[3];
  for (int i = 0; i < 3; i++) rand_unit(&seed, D, a[i]), add(g, "alice", a[i], &fa[i]);
  rand_unit(&seed, D, b);
  add(g, "bob", b, NULL);
  int64_t del = -1;
  CHECK_STATUS(fr_gallery_subject_delete(g, "alice", &del, NULL), FR_OK);
  CHECK(del == 3);
  fr_gallery_match m[4];
  int n;
  CHECK_STATUS(fr_gallery_search(g, a[0], 4, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "bob") == 0);
  fr_gallery_face f;
  CHECK_STATUS(fr_gallery_face_get(g, fa[1].image_id, &f, NULL), FR_ERR_NOT_FOUND);
  float s;
  CHECK_STATUS(fr_gallery_similarity(g, fa[2].image_id, a[2], &s, NULL), FR_ERR_NOT_FOUND);
  int64_t total = -1;
  CHECK_STATUS(fr_gallery_faces(g, "alice", 0, 10, NULL, NULL, &total, NULL), FR_ERR_NOT_FOUND);
  CHECK_STATUS(fr_gallery_subject_delete(g, "alice", NULL, NULL), FR_ERR_NOT_FOUND);
  fr_gallery_stats st;
  CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
  CHECK(st.subjects == 1 && st.faces == 1 && st.other_model_faces == 0);
  /* the name is free again, and a new alice starts empty */
  add(g, "alice", a[0], NULL);
  CHECK_STATUS(fr_gallery_faces(g, "alice", 0, 10, NULL, NULL, &total, NULL), FR_OK);
  CHECK(total == 1);
  fr_gallery_close(g);
}

TEST(delete_face) {
  enum { D = 32 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 6;
  float base[D], e[3][D], other[D];
  rand_unit(&seed, D, base);
  fr_gallery_face f[3];
  for (int i = 0; i < 3; i++) near(&seed, D, base, 0.5f, e[i]), add(g, "alice", e[i], &f[i]);
  rand_unit(&seed, D, other);
  add(g, "bob", other, NULL);
  fr_gallery_face d;
  CHECK_STATUS(fr_gallery_face_delete(g, f[0].image_id, &d, NULL), FR_OK);
  CHECK(strcmp(d.image_id, f[0].image_id) == 0 && strcmp(d.subject, "alice") == 0);
  CHECK_STATUS(fr_gallery_face_delete(g, f[0].image_id, &d, NULL), FR_ERR_NOT_FOUND);
  CHECK_STATUS(fr_gallery_face_get(g, f[0].image_id, &d, NULL), FR_ERR_NOT_FOUND);
  fr_gallery_match m[3];
  int n;
  CHECK_STATUS(fr_gallery_search(g, e[0], 3, m, &n, NULL), FR_OK);
  CHECK(n == 2 && strcmp(m[0].subject, "alice") == 0);
  CHECK(strcmp(m[0].image_id, f[0].image_id) != 0);
  double s1 = dot_d(e[0], e[1], D), s2 = dot_d(e[0], e[2], D);
  CHECK(strcmp(m[0].image_id, s1 > s2 ? f[1].image_id : f[2].image_id) == 0);
  CHECK(nfaces(g) == 3);
  /* the swapped-in last row (bob) is still found exactly */
  CHECK_STATUS(fr_gallery_search(g, other, 1, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].subject, "bob") == 0 && m[0].similarity > 0.9999f);
  fr_gallery_close(g);
}

/* ---- paging, thumbs, stats ---- */

typedef struct page {
  int n;
  int64_t ids[64];
  char image_ids[64][37];
  int stop_after;
} page;
static int page_cb(void *ctx, const fr_gallery_face *f) {
  page *p = ctx;
  if (p->n < 64) p->ids[p->n] = f->id, memcpy(p->image_ids[p->n], f->image_id, 37);
  p->n++;
  return p->stop_after && p->n >= p->stop_after;
}

TEST(paging) {
  enum { D = 16 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 8;
  float e[D];
  for (int i = 0; i < 25; i++) rand_unit(&seed, D, e), add(g, i % 5 == 0 ? "five" : "other", e, NULL);
  page all = {0}, p;
  int64_t total = -1;
  for (int off = 0; off < 30; off += 10) {
    p = (page){0};
    CHECK_STATUS(fr_gallery_faces(g, NULL, off, 10, page_cb, &p, &total, NULL), FR_OK);
    CHECK(total == 25);
    CHECK(p.n == (off < 20 ? 10 : 5));
    for (int i = 0; i < p.n; i++) all.ids[all.n++] = p.ids[i];
  }
  CHECK(all.n == 25);
  for (int i = 1; i < all.n; i++) CHECK(all.ids[i] > all.ids[i - 1]);
  p = (page){0};
  CHECK_STATUS(fr_gallery_faces(g, "five", 0, 3, page_cb, &p, &total, NULL), FR_OK);
  CHECK(total == 5 && p.n == 3);
  p = (page){0};
  CHECK_STATUS(fr_gallery_faces(g, "five", 3, 100, page_cb, &p, &total, NULL), FR_OK);
  CHECK(total == 5 && p.n == 2);
  p = (page){0};
  CHECK_STATUS(fr_gallery_faces(g, NULL, 0, -1, page_cb, &p, &total, NULL), FR_OK);
  CHECK(p.n == 25);
  p = (page){.stop_after = 4};
  CHECK_STATUS(fr_gallery_faces(g, NULL, 0, -1, page_cb, &p, &total, NULL), FR_OK);
  CHECK(p.n == 4);
  p = (page){0};
  CHECK_STATUS(fr_gallery_faces(g, NULL, 100, 10, page_cb, &p, &total, NULL), FR_OK);
  CHECK(p.n == 0 && total == 25);
  CHECK_STATUS(fr_gallery_faces(g, NULL, -1, 10, page_cb, &p, &total, NULL), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_gallery_faces(g, "nobody", 0, 10, page_cb, &p, &total, NULL), FR_ERR_NOT_FOUND);
  fr_gallery_close(g);
}

TEST(thumbs_and_stats) {
  enum { D = 16 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  unsigned seed = 9;
  float e[D];
  rand_unit(&seed, D, e);
  uint8_t jpeg[3000];
  for (int i = 0; i < 3000; i++) jpeg[i] = (uint8_t)(i * 31);
  fr_gallery_face_in in = {.subject = "alice", .embedding = e, .thumb_jpeg = jpeg,
                           .thumb_len = sizeof jpeg};
  fr_gallery_face f, f2;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, NULL), FR_OK);
  CHECK(f.source[0] == 0); /* NULL source */
  in.thumb_jpeg = NULL, in.thumb_len = 0;
  CHECK_STATUS(fr_gallery_add(g, &in, &f2, NULL, NULL), FR_OK);
  uint8_t *t = NULL;
  size_t len = 0;
  CHECK_STATUS(fr_gallery_face_thumb(g, f.image_id, &t, &len, NULL), FR_OK);
  CHECK(t && len == sizeof jpeg && memcmp(t, jpeg, len) == 0);
  free(t);
  CHECK_STATUS(fr_gallery_face_thumb(g, f2.image_id, &t, &len, NULL), FR_OK);
  CHECK(t == NULL && len == 0);
  CHECK_STATUS(fr_gallery_face_thumb(g, "00000000-0000-4000-8000-000000000000", &t, &len, NULL),
               FR_ERR_NOT_FOUND);
  /* image ids are accepted in upper case too */
  char up[37];
  for (int i = 0; i < 37; i++) up[i] = (char)(f.image_id[i] >= 'a' && f.image_id[i] <= 'f' ? f.image_id[i] - 32 : f.image_id[i]);
  fr_gallery_face got;
  CHECK_STATUS(fr_gallery_face_get(g, up, &got, NULL), FR_OK);
  CHECK(strcmp(got.image_id, f.image_id) == 0);
  in.thumb_jpeg = jpeg, in.thumb_len = (8u << 20);
  fr_error err = {{0}};
  CHECK_STATUS(fr_gallery_add(g, &in, &f2, NULL, &err), FR_ERR_TOO_LARGE);
  CHECK_STATUS(fr_gallery_subject_add(g, "empty", NULL, NULL), FR_OK);
  fr_gallery_stats st = {0};
  CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
  CHECK(st.subjects == 2 && st.faces == 2 && st.other_model_faces == 0);
  fr_gallery_close(g);
}

/* ---- models, persistence ---- */

TEST(model_id_separation) {
  const char *path = tmp_path("models.db");
  rm_db(path);
  unsigned seed = 10;
  float e1[64], e2[32];
  fr_gallery_face f[3];
  uint8_t h[32];
  fr_sha256("img", 3, h);
  fr_gallery *g = open_g(path, "model-one", 64);
  if (!g) return;
  for (int i = 0; i < 3; i++) {
    rand_unit(&seed, 64, e1);
    fr_gallery_face_in in = {.subject = i < 2 ? "alice" : "bob", .embedding = e1,
                             .source_hash = i == 0 ? h : NULL};
    CHECK_STATUS(fr_gallery_add(g, &in, &f[i], NULL, NULL), FR_OK);
  }
  fr_gallery_close(g);
  g = open_g(path, "model-two", 32);
  if (!g) return;
  fr_gallery_stats st = {0};
  CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
  CHECK(st.faces == 0 && st.other_model_faces == 3 && st.subjects == 2);
  rand_unit(&seed, 32, e2);
  fr_gallery_match m[4];
  int n = -1;
  CHECK_STATUS(fr_gallery_search(g, e2, 4, m, &n, NULL), FR_OK);
  CHECK(n == 0);
  fr_gallery_face got;
  CHECK_STATUS(fr_gallery_face_get(g, f[1].image_id, &got, NULL), FR_ERR_NOT_FOUND);
  int64_t total = -1;
  CHECK_STATUS(fr_gallery_faces(g, NULL, 0, 10, NULL, NULL, &total, NULL), FR_OK);
  CHECK(total == 0);
  subj_list l = {0};
  CHECK_STATUS(fr_gallery_subjects(g, subj_cb, &l, NULL), FR_OK);
  CHECK(l.n == 2 && l.faces[0] == 0 && l.faces[1] == 0);
  /* enrolling the same source again with the new model re-embeds that face (same image id) */
  fr_gallery_face_in in = {.subject = "alice", .embedding = e2, .source_hash = h};
  bool ex = true;
  fr_gallery_face re;
  CHECK_STATUS(fr_gallery_add(g, &in, &re, &ex, NULL), FR_OK);
  CHECK(!ex && strcmp(re.image_id, f[0].image_id) == 0);
  CHECK_STATUS(fr_gallery_search(g, e2, 4, m, &n, NULL), FR_OK);
  CHECK(n == 1 && strcmp(m[0].image_id, f[0].image_id) == 0 && m[0].similarity > 0.9999f);
  CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
  CHECK(st.faces == 1 && st.other_model_faces == 2);
  /* deleting a subject removes its faces of every model */
  int64_t del = 0;
  CHECK_STATUS(fr_gallery_subject_delete(g, "alice", &del, NULL), FR_OK);
  CHECK(del == 2);
  fr_gallery_close(g);
  /* same model id with another size: refused, naming the problem */
  fr_error err = {{0}};
  g = NULL;
  CHECK_STATUS(fr_gallery_open(path, "model-one", 48, &g, &err), FR_ERR_INVALID_ARG);
  CHECK(g == NULL && strstr(err.msg, "48") != NULL);
  g = open_g(path, "model-one", 64);
  if (g) {
    CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
    CHECK(st.faces == 1 && st.other_model_faces == 0 && st.subjects == 1);
    fr_gallery_close(g);
  }
  rm_db(path);
}

TEST(persistence) {
  enum { D = 128 };
  const char *path = tmp_path("persist.db");
  rm_db(path);
  fr_gallery *g = open_g(path, "m", D);
  if (!g) return;
  unsigned seed = 11;
  float e[D], q[D];
  char name[16];
  for (int i = 0; i < 60; i++) {
    rand_unit(&seed, D, e);
    snprintf(name, sizeof name, "p%d", i % 13);
    add(g, name, e, NULL);
  }
  CHECK_STATUS(fr_gallery_subject_rename(g, "p3", "renamed", NULL), FR_OK);
  CHECK_STATUS(fr_gallery_subject_delete(g, "p4", NULL, NULL), FR_OK);
  rand_unit(&seed, D, q);
  fr_gallery_match a[20], b[20];
  int na = 0, nb = 0;
  CHECK_STATUS(fr_gallery_search(g, q, 20, a, &na, NULL), FR_OK);
  fr_gallery_close(g);
  g = open_g(path, "m", D);
  if (!g) return;
  CHECK_STATUS(fr_gallery_search(g, q, 20, b, &nb, NULL), FR_OK);
  CHECK(na == 12 && nb == na);
  for (int i = 0; i < na && i < nb; i++) {
    CHECK(strcmp(a[i].subject, b[i].subject) == 0 && strcmp(a[i].image_id, b[i].image_id) == 0);
    CHECK(a[i].similarity == b[i].similarity);
  }
  int64_t total = 0;
  CHECK_STATUS(fr_gallery_faces(g, "renamed", 0, 10, NULL, NULL, &total, NULL), FR_OK);
  CHECK(total > 0);
  fr_gallery_close(g);
  /* errors name the file */
  fr_error err = {{0}};
  g = NULL;
  CHECK_STATUS(fr_gallery_open("/nonexistent-dir/x.db", "m", D, &g, &err), FR_ERR_IO);
  CHECK(strstr(err.msg, "/nonexistent-dir/x.db") != NULL);
  const char *junk = tmp_path("junk.db");
  FILE *f = fopen(junk, "wb");
  for (int i = 0; f && i < 4096; i++) fputc(i * 7, f);
  if (f) fclose(f);
  CHECK_STATUS(fr_gallery_open(junk, "m", D, &g, &err), FR_ERR_IO);
  CHECK(strstr(err.msg, "junk.db") != NULL);
  rm_db(junk);
  rm_db(path);
}

/* ---- validation ---- */

TEST(invalid_input) {
  enum { D = 16 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  char longname[FR_NAME_MAX + 2];
  memset(longname, 'x', FR_NAME_MAX + 1);
  longname[FR_NAME_MAX + 1] = 0;
  static const char *bad[] = {"", "\xff", "\xc0\x80", "a\x01" "b", "tab\there", "del\x7f",
                              "\xc2\x85", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
                              "\xf0\x80\x80\x80", "new\nline"};
  fr_error err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err.msg[0] = 0;
    CHECK_MSG(fr_gallery_subject_add(g, bad[i], NULL, &err) == FR_ERR_INVALID_ARG, "bad name %zu", i);
    CHECK(strstr(err.msg, "subject name") != NULL);
  }
  CHECK_STATUS(fr_gallery_subject_add(g, longname, NULL, &err), FR_ERR_INVALID_ARG);
  CHECK(strstr(err.msg, "256") != NULL);
  CHECK_STATUS(fr_gallery_subject_add(g, NULL, NULL, &err), FR_ERR_INVALID_ARG);
  longname[FR_NAME_MAX] = 0; /* exactly 256 bytes */
  static const char *good[] = {"Jos\xc3\xa9", "\xe6\x9d\x8e", "\xf0\x9f\x98\x80", "a b-c_d.e"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECK_MSG(fr_gallery_subject_add(g, good[i], NULL, &err) == FR_OK, "good name %zu: %s", i, err.msg);
  CHECK_STATUS(fr_gallery_subject_add(g, longname, NULL, &err), FR_OK);
  fr_gallery_stats st;
  CHECK_STATUS(fr_gallery_stats_get(g, &st, NULL), FR_OK);
  CHECK(st.subjects == 5);
  /* embeddings */
  float e[D] = {0}, q[D];
  fr_gallery_face f;
  fr_gallery_face_in in = {.subject = "alice", .embedding = e};
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG); /* zero vector */
  unsigned seed = 12;
  rand_unit(&seed, D, e);
  memcpy(q, e, sizeof q);
  e[3] = NAN;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  CHECK(strstr(err.msg, "finite") != NULL);
  e[3] = INFINITY;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  in.embedding = NULL;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  in.embedding = q;
  in.box[1] = NAN;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  in.box[1] = 0;
  in.source = "bad\x01source";
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  in.source = NULL;
  in.face_index = -1;
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  in.face_index = 0;
  in.subject = "\xff";
  CHECK_STATUS(fr_gallery_add(g, &in, &f, NULL, &err), FR_ERR_INVALID_ARG);
  CHECK(nfaces(g) == 0);
  fr_gallery_match m[1];
  int n;
  CHECK_STATUS(fr_gallery_search(g, e, 1, m, &n, &err), FR_ERR_INVALID_ARG); /* inf in query */
  fr_gallery_close(g);
  /* open */
  g = NULL;
  CHECK_STATUS(fr_gallery_open(":memory:", "", D, &g, &err), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_gallery_open(":memory:", "m", 0, &g, &err), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_gallery_open(":memory:", "m", 1 << 20, &g, &err), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_gallery_open("postgres://x/y", "m", D, &g, &err), FR_ERR_UNSUPPORTED);
  CHECK(g == NULL);
}

/* randomized operations against a shadow model: swap-remove, slot reuse, hash deletes */
TEST(random_ops_match_shadow) {
  enum { D = 24, MAXF = 400, NS = 30 };
  fr_gallery *g = open_g(":memory:", "m", D);
  if (!g) return;
  static float emb[MAXF][D];
  static char ids[MAXF][37];
  static int subj[MAXF];
  static bool live[MAXF];
  static char names[NS][32];
  int gen[NS] = {0};
  int nf = 0;
  unsigned seed = 13;
  for (int s = 0; s < NS; s++) snprintf(names[s], sizeof names[s], "n%d_0", s);
  for (int op = 0; op < 900; op++) {
    unsigned r = fr_t_rand(&seed) % 100;
    if (r < 60 && nf < MAXF) {
      int s = (int)(fr_t_rand(&seed) % NS);
      rand_unit(&seed, D, emb[nf]);
      fr_gallery_face f;
      if (add(g, names[s], emb[nf], &f) != FR_OK) break;
      memcpy(ids[nf], f.image_id, 37);
      subj[nf] = s, live[nf] = true, nf++;
    } else if (r < 80 && nf) {
      int i = (int)(fr_t_rand(&seed) % (unsigned)nf);
      CHECK_STATUS(fr_gallery_face_delete(g, ids[i], NULL, NULL), live[i] ? FR_OK : FR_ERR_NOT_FOUND);
      live[i] = false;
    } else if (r < 90) {
      int s = (int)(fr_t_rand(&seed) % NS);
      fr_status st = fr_gallery_subject_delete(g, names[s], NULL, NULL);
      CHECK(st == FR_OK || st == FR_ERR_NOT_FOUND);
      for (int i = 0; i < nf; i++)
        if (subj[i] == s) live[i] = false;
    } else {
      int s = (int)(fr_t_rand(&seed) % NS);
      char nn[32];
      snprintf(nn, sizeof nn, "n%d_%d", s, ++gen[s]);
      fr_status st = fr_gallery_subject_rename(g, names[s], nn, NULL);
      CHECK(st == FR_OK || st == FR_ERR_NOT_FOUND);
      memcpy(names[s], nn, sizeof nn);
    }
    if (op % 25 == 0) {
      float q[D];
      rand_unit(&seed, D, q);
      double best[NS];
      int bi[NS];
      for (int s = 0; s < NS; s++) best[s] = -9, bi[s] = -1;
      int live_subj = 0, live_faces = 0;
      for (int i = 0; i < nf; i++)
        if (live[i]) {
          live_faces++;
          double d = dot_d(q, emb[i], D);
          if (bi[subj[i]] < 0) live_subj++;
          if (d > best[subj[i]]) best[subj[i]] = d, bi[subj[i]] = i;
        }
      fr_gallery_match m[NS];
      int n = 0;
      CHECK_STATUS(fr_gallery_search(g, q, NS, m, &n, NULL), FR_OK);
      CHECK_MSG(n == live_subj, "op %d: %d vs %d subjects", op, n, live_subj);
      CHECK(nfaces(g) == live_faces);
      for (int i = 0; i < n; i++) {
        int s = -1;
        for (int k = 0; k < NS; k++)
          if (strcmp(names[k], m[i].subject) == 0) s = k;
        CHECK_MSG(s >= 0 && bi[s] >= 0 && strcmp(ids[bi[s]], m[i].image_id) == 0 &&
                      fabs(best[s] - m[i].similarity) < 1e-5,
                  "op %d rank %d %s", op, i, m[i].subject);
      }
    }
  }
  fr_gallery_close(g);
}

/* ---- concurrency ---- */

enum { CD = 64, ANCHORS = 8, WRITES = 1000, READERS = 4 };
typedef struct conc {
  fr_gallery *g;
  float anchors[ANCHORS][CD];
  float written[WRITES][CD];
  pthread_mutex_t mu; /* guards done, errors, searches */
  int done;
  int errors, searches;
  int writes;   /* <= WRITES */
  bool deletes; /* the writer also deletes every 4th face it adds (from the 100th on) */
} conc;

static int conc_done(conc *c) {
  pthread_mutex_lock(&c->mu);
  int d = c->done;
  pthread_mutex_unlock(&c->mu);
  return d;
}

static void *reader(void *arg) {
  conc *c = arg;
  int errors = 0, searches = 0, last_n = 0;
  char want[32];
  while (!conc_done(c)) {
    int a = searches % ANCHORS;
    fr_gallery_match m[5];
    int n = 0;
    if (fr_gallery_search(c->g, c->anchors[a], 5, m, &n, NULL) != FR_OK) errors++;
    snprintf(want, sizeof want, "anchor%d", a);
    if (n < 1 || n > 5 || strcmp(m[0].subject, want) != 0 || m[0].similarity < 0.9999f) errors++;
    if (n < last_n) errors++; /* subjects only ever grow during this test */
    last_n = n;
    for (int i = 1; i < n; i++) {
      if (m[i].similarity > m[i - 1].similarity) errors++;
      for (int j = 0; j < i; j++)
        if (strcmp(m[i].subject, m[j].subject) == 0) errors++;
    }
    searches++;
  }
  pthread_mutex_lock(&c->mu);
  c->errors += errors;
  c->searches += searches;
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static void *writer(void *arg) {
  conc *c = arg;
  char name[32];
  for (int i = 0; i < c->writes; i++) {
    snprintf(name, sizeof name, "w%d", i % 100);
    fr_gallery_face_in in = {.subject = name, .embedding = c->written[i]};
    fr_gallery_face f;
    fr_status st = fr_gallery_add(c->g, &in, &f, NULL, NULL);
    if (st == FR_OK && c->deletes && i >= 100 && i % 4 == 0)
      st = fr_gallery_face_delete(c->g, f.image_id, NULL, NULL);
    if (st != FR_OK) {
      pthread_mutex_lock(&c->mu);
      c->errors++;
      pthread_mutex_unlock(&c->mu);
    }
  }
  pthread_mutex_lock(&c->mu);
  c->done = 1;
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Readers search anchors while a writer adds (and deletes) far-away faces. */
static void concurrent_run(const char *path, int writes, bool deletes) {
  conc *c = calloc(1, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  c->writes = writes;
  c->deletes = deletes;
  c->g = open_g(path, "m", CD);
  if (!c->g) return;
  unsigned seed = 14;
  char name[32];
  for (int a = 0; a < ANCHORS; a++) {
    rand_unit(&seed, CD, c->anchors[a]);
    snprintf(name, sizeof name, "anchor%d", a);
    add(c->g, name, c->anchors[a], NULL);
  }
  /* written faces stay far from the anchors: orthogonalize against them */
  for (int i = 0; i < writes; i++) {
    rand_unit(&seed, CD, c->written[i]);
    for (int a = 0; a < ANCHORS; a++) {
      double d = dot_d(c->written[i], c->anchors[a], CD);
      for (int j = 0; j < CD; j++) c->written[i][j] -= (float)(d * c->anchors[a][j]);
    }
  }
  pthread_t rt[READERS], wt;
  for (int i = 0; i < READERS; i++) pthread_create(&rt[i], NULL, reader, c);
  pthread_create(&wt, NULL, writer, c);
  pthread_join(wt, NULL);
  for (int i = 0; i < READERS; i++) pthread_join(rt[i], NULL);
  CHECK_MSG(c->errors == 0, "%d errors in %d searches", c->errors, c->searches);
  CHECK(c->searches >= READERS);
  printf("     concurrent (%s): %d searches during %d adds%s\n", path, c->searches, writes,
         deletes ? " and deletes" : "");
  int deleted = deletes && writes > 100 ? (writes - 100 + 3) / 4 : 0;
  CHECK(nfaces(c->g) == ANCHORS + writes - deleted);
  for (int i = 0; i < writes; i += 37) {
    fr_gallery_match m[1];
    int n = 0;
    CHECK_STATUS(fr_gallery_search(c->g, c->written[i], 1, m, &n, NULL), FR_OK);
    snprintf(name, sizeof name, "w%d", i % 100);
    bool gone = deletes && i >= 100 && i % 4 == 0;
    CHECK(n == 1 && (gone || (strcmp(m[0].subject, name) == 0 && m[0].similarity > 0.9999f)));
    CHECK(!gone || m[0].similarity < 0.9999f);
  }
  fr_gallery_close(c->g);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

TEST(concurrent_search_while_adding) {
  /* in memory: the point is the index under contention, not fsync (tested below) */
  concurrent_run(":memory:", WRITES, false);
  /* a file: searches re-score on the store's read connection while the writer
   * commits; deletes exercise a candidate missing from the store */
  const char *path = tmp_path("concurrent.db");
  rm_db(path);
  concurrent_run(path, 300, true);
  rm_db(path);
}

/* ---- crash durability ---- */

TEST(acknowledged_adds_survive_kill9) {
  enum { D = 128, WAIT_FOR = 60 };
  const char *path = tmp_path("crash.db");
  rm_db(path);
  int fds[2];
  CHECK(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    fr_gallery *g = NULL;
    if (fr_gallery_open(path, "m", D, &g, NULL) != FR_OK) _exit(2);
    unsigned seed = 15;
    float e[D];
    char name[32], line[64];
    for (int i = 0; i < 1000000; i++) {
      rand_unit(&seed, D, e);
      snprintf(name, sizeof name, "c%d", i % 50);
      fr_gallery_face_in in = {.subject = name, .embedding = e};
      fr_gallery_face f;
      if (fr_gallery_add(g, &in, &f, NULL, NULL) != FR_OK) _exit(3);
      int len = snprintf(line, sizeof line, "%s\n", f.image_id); /* acknowledged */
      if (write(fds[1], line, (size_t)len) != len) _exit(4);
    }
    _exit(5);
  }
  close(fds[1]);
  FILE *r = fdopen(fds[0], "r");
  char (*ids)[40] = calloc(200000, 40);
  int n = 0;
  char line[64];
  while (n < 200000 && fgets(line, sizeof line, r)) {
    if (strlen(line) == 37) line[36] = 0, memcpy(ids[n++], line, 37);
    if (n == WAIT_FOR) {
      usleep((useconds_t)(now_us() % 3000)); /* land anywhere in the next add */
      kill(pid, SIGKILL);
    }
  }
  fclose(r);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
  CHECK(n >= WAIT_FOR);
  fr_gallery *g = open_g(path, "m", D);
  if (g) {
    int missing = 0;
    for (int i = 0; i < n; i++) {
      fr_gallery_face f;
      if (fr_gallery_face_get(g, ids[i], &f, NULL) != FR_OK) missing++;
    }
    CHECK_MSG(missing == 0, "%d of %d acknowledged faces lost", missing, n);
    CHECK(nfaces(g) >= n);
    printf("     kill -9 after %d acknowledged adds: all present (%lld in file)\n", n,
           (long long)nfaces(g));
    fr_gallery_close(g);
  }
  free(ids);
  rm_db(path);
}

static void cleanup(void) {
  if (tmpdir[0]) rmdir(tmpdir);
}

static const fr_t_case cases[] = {
    T(sha256_vectors),
    T(dot_kernels_match_reference),
    T(add_search_topk_dedup),
    T(simd_search_equals_naive_double),
    T(dot8_kernels_match_reference),
    T(compact_index_equals_float32_bruteforce),
    T(rerank_from_store_file_and_memory),
    T(idempotent_add),
    T(rename_subject),
    T(merge_subjects),
    T(delete_subject_cascades),
    T(delete_face),
    T(paging),
    T(thumbs_and_stats),
    T(model_id_separation),
    T(persistence),
    T(invalid_input),
    T(random_ops_match_shadow),
    T(concurrent_search_while_adding),
    T(acknowledged_adds_survive_kill9),
};

int main(int argc, char **argv) {
  /* optional: run only the tests named on the command line */
  fr_t_case sel[sizeof cases / sizeof cases[0]];
  int nsel = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool want = argc < 2;
    for (int a = 1; a < argc; a++) want |= strcmp(argv[a], cases[i].name) == 0;
    if (want) sel[nsel++] = cases[i];
  }
  int rc = fr_t_run(sel, nsel);
  cleanup();
  return rc;
}
