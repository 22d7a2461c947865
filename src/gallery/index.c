/*
 * In-memory embedding index: see index.h. Search is one pass over the int8
 * matrix (memory-bound: 100,000 x 512 = 51 MB per query) giving each row an
 * interval [approx - bound, approx + bound] that holds its exact score, the
 * best lower bound per subject slot, the k-th best of those (T), then the exact
 * float32 scores of the rows whose upper bound reaches max(T, their subject's
 * best lower bound), the best exact row per slot, and a top-k heap over slots.
 */
#include "gallery/index.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct subject {
  int64_t id;
  char *name;       /* NULL = free slot */
  int64_t faces;
} subject;

struct fr__index {
  int dim, stride;
  /* rows */
  int8_t *mat;         /* mmap'ed, map_bytes; rows of stride bytes */
  size_t map_bytes;
  float *scale;        /* row ~ scale * mat row */
  float *bound;        /* >= L2 norm of (row - scale * mat row) */
  int64_t *fid;        /* store face id */
  uint8_t (*uuid)[16];
  int32_t *slot;
  size_t rows, cap;
  /* subjects: dense slots + free list + id -> slot hash (open addressing) */
  subject *subj;
  int32_t nslots, slot_cap;
  int32_t *free_slots;
  int32_t nfree;
  int64_t *hkeys;      /* 0 = empty (SQLite row ids are >= 1) */
  int32_t *hvals;
  size_t hcap;         /* power of two; load <= 1/2 */
  size_t hcount;
};

/* ---- dot-product kernels ---- */

static void dot_rows_c(const float *m, size_t stride, size_t n, const float *q, float *out) {
  /* 16 independent lanes: GCC vectorizes this at -O2 without reassociating a reduction. */
  for (size_t r = 0; r < n; r++) {
    const float *a = m + r * stride;
    float acc[16] = {0};
    for (size_t j = 0; j < stride; j += 16)
      for (int l = 0; l < 16; l++) acc[l] += a[j + l] * q[j + l];
    float s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    out[r] = s;
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* One row at a time, two accumulators: a single sequential stream is what the
 * hardware prefetcher follows best (interleaving 4 rows measured slower at
 * 100,000 x 512, where search is memory-bound). */
__attribute__((target("avx2,fma"))) static void dot_rows_avx2(const float *m, size_t stride,
                                                              size_t n, const float *q,
                                                              float *out) {
  for (size_t r = 0; r < n; r++) {
    const float *a = m + r * stride;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (size_t j = 0; j < stride; j += 16) {
      s0 = _mm256_fmadd_ps(_mm256_load_ps(a + j), _mm256_load_ps(q + j), s0);
      s1 = _mm256_fmadd_ps(_mm256_load_ps(a + j + 8), _mm256_load_ps(q + j + 8), s1);
    }
    out[r] = hsum256(_mm256_add_ps(s0, s1));
  }
}

__attribute__((target("avx512f"))) static void dot_rows_avx512(const float *m, size_t stride,
                                                               size_t n, const float *q,
                                                               float *out) {
  for (size_t r = 0; r < n; r++) {
    const float *a = m + r * stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t j = 0;
    for (; j + 32 <= stride; j += 32) {
      s0 = _mm512_fmadd_ps(_mm512_load_ps(a + j), _mm512_load_ps(q + j), s0);
      s1 = _mm512_fmadd_ps(_mm512_load_ps(a + j + 16), _mm512_load_ps(q + j + 16), s1);
    }
    if (j < stride) s0 = _mm512_fmadd_ps(_mm512_load_ps(a + j), _mm512_load_ps(q + j), s0);
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  }
}
#endif

/* int8 rows x float query: the rows are 4x smaller than float32, so the pass
 * over the matrix reads 4x fewer bytes; the widening costs a few instructions
 * per 16 values, hidden behind the memory stream. */
static void dot8_rows_c(const int8_t *m, size_t stride, size_t n, const float *q, float *out) {
  for (size_t r = 0; r < n; r++) {
    const int8_t *a = m + r * stride;
    float acc[16] = {0};
    for (size_t j = 0; j < stride; j += 16)
      for (int l = 0; l < 16; l++) acc[l] += (float)a[j + l] * q[j + l];
    float s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    out[r] = s;
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void dot8_rows_avx2(const int8_t *m, size_t stride,
                                                               size_t n, const float *q,
                                                               float *out) {
  for (size_t r = 0; r < n; r++) {
    const int8_t *a = m + r * stride;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0; /* 4 chains: FMA latency */
    for (size_t j = 0; j < stride; j += 32) {
#define CVT8(o) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(a + j + (o)))))
      s0 = _mm256_fmadd_ps(CVT8(0), _mm256_load_ps(q + j), s0);
      s1 = _mm256_fmadd_ps(CVT8(8), _mm256_load_ps(q + j + 8), s1);
      s2 = _mm256_fmadd_ps(CVT8(16), _mm256_load_ps(q + j + 16), s2);
      s3 = _mm256_fmadd_ps(CVT8(24), _mm256_load_ps(q + j + 24), s3);
#undef CVT8
    }
    out[r] = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  }
}

__attribute__((target("avx512f"))) static void dot8_rows_avx512(const int8_t *m, size_t stride,
                                                                size_t n, const float *q,
                                                                float *out) {
  for (size_t r = 0; r < n; r++) {
    const int8_t *a = m + r * stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t j = 0; j < stride; j += 64) {
      s0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(a + j)))),
                           _mm512_load_ps(q + j), s0);
      s1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(a + j + 16)))),
                           _mm512_load_ps(q + j + 16), s1);
      s2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(a + j + 32)))),
                           _mm512_load_ps(q + j + 32), s2);
      s3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(a + j + 48)))),
                           _mm512_load_ps(q + j + 48), s3);
    }
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  }
}
#endif

int fr__dot8_kernels(fr__dot8_kernel *out, int max) {
  int n = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (n < max && __builtin_cpu_supports("avx512f")) out[n++] = (fr__dot8_kernel){"avx512", dot8_rows_avx512};
  if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    out[n++] = (fr__dot8_kernel){"avx2", dot8_rows_avx2};
#endif
  if (n < max) out[n++] = (fr__dot8_kernel){"c", dot8_rows_c};
  return n;
}

float fr__quantize_row(const float *v, int dim, int stride, int8_t *m, float *bound) {
  float mx = 0;
  for (int j = 0; j < dim; j++) mx = fmaxf(mx, fabsf(v[j]));
  float scale = mx > 0 ? mx / 127.0f : 1.0f;
  double err2 = 0, norm2 = 0;
  for (int j = 0; j < dim; j++) {
    norm2 += (double)v[j] * v[j];
    long x = lrintf(v[j] / scale);
    x = x > 127 ? 127 : x < -127 ? -127 : x;
    m[j] = (int8_t)x;
    double e = (double)v[j] - (double)scale * (double)x;
    err2 += e * e;
  }
  memset(m + dim, 0, (size_t)(stride - dim));
  /* Plus the rounding of the float sums: the approximate score (int8 kernel)
   * and the exact one (float kernel) each round by at most ~(terms per lane +
   * log2 lanes) * 2^-24 * |v| * |q|, well under 1e-5 + 4e-8 * stride times
   * |v| * |q|. Rounded up: the square root and the conversion may round down. */
  double slack = (1e-5 + 4e-8 * (double)stride) * sqrt(norm2);
  *bound = (float)((sqrt(err2) + slack) * (1 + 1e-6) + 1e-30);
  return scale;
}

int fr__dot_kernels(fr__dot_kernel *out, int max) {
  int n = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (n < max && __builtin_cpu_supports("avx512f")) out[n++] = (fr__dot_kernel){"avx512", dot_rows_avx512};
  if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    out[n++] = (fr__dot_kernel){"avx2", dot_rows_avx2};
#endif
  if (n < max) out[n++] = (fr__dot_kernel){"c", dot_rows_c};
  return n;
}

static fr__dot_rows_fn dot_rows;
static fr__dot8_rows_fn dot8_rows;
static pthread_once_t dot_once = PTHREAD_ONCE_INIT;
static void dot_init(void) {
  fr__dot_kernel k[1];
  fr__dot_kernels(k, 1);
  dot_rows = k[0].fn;
  fr__dot8_kernel k8[1];
  fr__dot8_kernels(k8, 1);
  dot8_rows = k8[0].fn;
}

/* ---- uuid text ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool fr__uuid_parse(const char *t, uint8_t out[16]) {
  if (!t || strlen(t) != FR_IMAGE_ID_LEN) return false;
  int b = 0;
  for (int i = 0; i < FR_IMAGE_ID_LEN;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (t[i] != '-') return false;
      i++;
      continue;
    }
    int hi = hexval(t[i]), lo = hexval(t[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[b++] = (uint8_t)(hi << 4 | lo);
    i += 2;
  }
  return b == 16;
}

void fr__uuid_format(const uint8_t u[16], char out[FR_IMAGE_ID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  int o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[u[i] >> 4];
    out[o++] = hex[u[i] & 15];
  }
  out[o] = 0;
}

/* ---- subject hash ---- */

static size_t hslot(const fr__index *ix, int64_t key) {
  uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 17) & (ix->hcap - 1);
}

static int32_t hget(const fr__index *ix, int64_t key) {
  if (!ix->hcap) return -1;
  for (size_t i = hslot(ix, key);; i = (i + 1) & (ix->hcap - 1)) {
    if (ix->hkeys[i] == key) return ix->hvals[i];
    if (ix->hkeys[i] == 0) return -1;
  }
}

static void hput(fr__index *ix, int64_t key, int32_t val) { /* key absent, capacity reserved */
  size_t i = hslot(ix, key);
  while (ix->hkeys[i] != 0) i = (i + 1) & (ix->hcap - 1);
  ix->hkeys[i] = key;
  ix->hvals[i] = val;
  ix->hcount++;
}

static void hdel(fr__index *ix, int64_t key) { /* backward-shift deletion */
  if (!ix->hcap) return;
  size_t mask = ix->hcap - 1, i = hslot(ix, key);
  while (ix->hkeys[i] != key) {
    if (ix->hkeys[i] == 0) return;
    i = (i + 1) & mask;
  }
  for (size_t j = (i + 1) & mask; ix->hkeys[j] != 0; j = (j + 1) & mask) {
    size_t home = hslot(ix, ix->hkeys[j]);
    /* move j into the hole at i if its home is not in (i, j] cyclically */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      ix->hkeys[i] = ix->hkeys[j];
      ix->hvals[i] = ix->hvals[j];
      i = j;
    }
  }
  ix->hkeys[i] = 0;
  ix->hcount--;
}

static fr_status hreserve(fr__index *ix, size_t more, fr_error *err) {
  size_t need = ix->hcount + more;
  if (need <= ix->hcap / 2) return FR_OK;
  size_t cap = ix->hcap ? ix->hcap : 64;
  while (need > cap / 2) {
    if (cap > SIZE_MAX / 4 / sizeof(int64_t)) return fr_error_set(err, FR_ERR_NOMEM, "subject map too large");
    cap *= 2;
  }
  int64_t *k = calloc(cap, sizeof *k);
  int32_t *v = calloc(cap, sizeof *v);
  if (!k || !v) {
    free(k), free(v);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory (subject map of %zu)", cap);
  }
  int64_t *ok = ix->hkeys;
  int32_t *ov = ix->hvals;
  size_t ocap = ix->hcap;
  ix->hkeys = k, ix->hvals = v, ix->hcap = cap, ix->hcount = 0;
  for (size_t i = 0; i < ocap; i++)
    if (ok[i]) hput(ix, ok[i], ov[i]);
  free(ok), free(ov);
  return FR_OK;
}

/* ---- create / destroy ---- */

fr_status fr__index_create(int dim, fr__index **out, fr_error *err) {
  *out = NULL;
  if (dim <= 0 || dim > (1 << 16)) return fr_error_set(err, FR_ERR_INVALID_ARG, "bad dim %d", dim);
  fr__index *ix = calloc(1, sizeof *ix);
  if (!ix) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  ix->dim = dim;
  ix->stride = (dim + 63) / 64 * 64;
  pthread_once(&dot_once, dot_init);
  *out = ix;
  return FR_OK;
}

void fr__index_destroy(fr__index *ix) {
  if (!ix) return;
  if (ix->mat) munmap(ix->mat, ix->map_bytes);
  free(ix->scale);
  free(ix->bound);
  free(ix->fid);
  free(ix->uuid);
  free(ix->slot);
  for (int32_t i = 0; i < ix->nslots; i++) free(ix->subj[i].name);
  free(ix->subj);
  free(ix->free_slots);
  free(ix->hkeys);
  free(ix->hvals);
  free(ix);
}

int fr__index_stride(const fr__index *ix) { return ix->stride; }
size_t fr__index_rows(const fr__index *ix) { return ix->rows; }
size_t fr__index_bytes(const fr__index *ix) {
  return ix->map_bytes + ix->cap * (16 + 2 * sizeof(float) + sizeof(int64_t) + sizeof(int32_t)) +
         (size_t)ix->slot_cap * (sizeof(subject) + sizeof(int32_t)) +
         ix->hcap * (sizeof(int64_t) + sizeof(int32_t));
}

/* ---- reserve ---- */

static fr_status grow_rows(fr__index *ix, size_t cap, fr_error *err) {
  size_t row_bytes = (size_t)ix->stride;
  if (cap > SIZE_MAX / row_bytes / 2) return fr_error_set(err, FR_ERR_TOO_LARGE, "index too large");
  long page = sysconf(_SC_PAGESIZE);
  size_t ps = page > 0 ? (size_t)page : 4096;
  size_t bytes = (cap * row_bytes + ps - 1) / ps * ps;
  void *m;
  if (!ix->mat)
    m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  else
    m = mremap(ix->mat, ix->map_bytes, bytes, MREMAP_MAYMOVE);
  if (m == MAP_FAILED)
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces, %zu bytes)", cap, bytes);
  /* Transparent huge pages where the kernel allows them: 2 MB pages mean a few
   * hundred page faults instead of ~50,000 when 100,000 rows load, and fewer
   * TLB misses while search streams the matrix. Advisory: failure is fine. */
  madvise(m, bytes, MADV_HUGEPAGE);
  ix->mat = m;
  ix->map_bytes = bytes;
  float *sc = realloc(ix->scale, cap * sizeof *sc);
  if (!sc) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces)", cap);
  ix->scale = sc;
  float *bd = realloc(ix->bound, cap * sizeof *bd);
  if (!bd) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces)", cap);
  ix->bound = bd;
  int64_t *fi = realloc(ix->fid, cap * sizeof *fi);
  if (!fi) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces)", cap);
  ix->fid = fi;
  uint8_t(*u)[16] = realloc(ix->uuid, cap * 16);
  if (!u) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces)", cap);
  ix->uuid = u;
  int32_t *s = realloc(ix->slot, cap * sizeof *s);
  if (!s) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (index of %zu faces)", cap);
  ix->slot = s;
  ix->cap = cap;
  return FR_OK;
}

fr_status fr__index_reserve(fr__index *ix, size_t rows, size_t subjects, fr_error *err) {
  if (rows > SIZE_MAX / 4 - ix->rows || subjects > INT32_MAX / 4 - (size_t)ix->nslots)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "index too large");
  if (ix->rows + rows > ix->cap) {
    size_t cap = ix->cap ? ix->cap : 256;
    while (cap < ix->rows + rows) cap *= 2;
    fr_status st = grow_rows(ix, cap, err);
    if (st != FR_OK) return st;
  }
  /* free slots are reused first; new ones come from the high-water mark */
  size_t need_new = subjects > (size_t)ix->nfree ? subjects - (size_t)ix->nfree : 0;
  if ((size_t)ix->nslots + need_new > (size_t)ix->slot_cap) {
    int32_t cap = ix->slot_cap ? ix->slot_cap : 64;
    while ((size_t)cap < (size_t)ix->nslots + need_new) cap *= 2;
    subject *s = realloc(ix->subj, (size_t)cap * sizeof *s);
    if (!s) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (%d subjects)", cap);
    ix->subj = s;
    int32_t *f = realloc(ix->free_slots, (size_t)cap * sizeof *f);
    if (!f) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (%d subjects)", cap);
    ix->free_slots = f;
    ix->slot_cap = cap;
  }
  return hreserve(ix, subjects, err);
}

/* ---- mutations ---- */

int fr__index_subject_put(fr__index *ix, int64_t id, char *name) {
  int32_t s = hget(ix, id);
  if (s >= 0) {
    free(name);
    return s;
  }
  s = ix->nfree ? ix->free_slots[--ix->nfree] : ix->nslots++;
  ix->subj[s] = (subject){id, name, 0};
  hput(ix, id, s);
  return s;
}

void fr__index_subject_rename(fr__index *ix, int64_t id, char *name) {
  int32_t s = hget(ix, id);
  if (s < 0) {
    free(name);
    return;
  }
  free(ix->subj[s].name);
  ix->subj[s].name = name;
}

size_t fr__index_subject_faces_by_name(const fr__index *ix, const char *name) {
  for (int32_t s = 0; s < ix->nslots; s++)
    if (ix->subj[s].name && strcmp(ix->subj[s].name, name) == 0) return (size_t)ix->subj[s].faces;
  return 0;
}

void fr__index_subject_merge(fr__index *ix, int64_t from, int64_t into) {
  int32_t a = hget(ix, from), b = hget(ix, into);
  if (a < 0 || b < 0 || a == b) return;
  for (size_t r = 0; r < ix->rows; r++)
    if (ix->slot[r] == a) {
      ix->slot[r] = b;
      ix->subj[a].faces--;
      ix->subj[b].faces++;
    }
  fr__index_subject_remove(ix, from); /* no rows left: frees the slot */
}

static void remove_row(fr__index *ix, size_t r) {
  size_t last = ix->rows - 1;
  ix->subj[ix->slot[r]].faces--;
  if (r != last) {
    memcpy(ix->mat + r * ix->stride, ix->mat + last * ix->stride, (size_t)ix->stride);
    ix->scale[r] = ix->scale[last];
    ix->bound[r] = ix->bound[last];
    ix->fid[r] = ix->fid[last];
    memcpy(ix->uuid[r], ix->uuid[last], 16);
    ix->slot[r] = ix->slot[last];
  }
  ix->rows = last;
}

void fr__index_subject_remove(fr__index *ix, int64_t id) {
  int32_t s = hget(ix, id);
  if (s < 0) return;
  for (size_t r = ix->rows; r-- > 0;) /* from the end: a swapped-in row was already checked */
    if (ix->slot[r] == s) remove_row(ix, r);
  free(ix->subj[s].name);
  ix->subj[s] = (subject){0, NULL, 0};
  ix->free_slots[ix->nfree++] = s;
  hdel(ix, id);
}

void fr__index_append(fr__index *ix, int slot, const uint8_t uuid[16], int64_t face_id,
                      const float *emb) {
  size_t r = ix->rows++;
  ix->scale[r] = fr__quantize_row(emb, ix->dim, ix->stride, ix->mat + r * ix->stride, &ix->bound[r]);
  ix->fid[r] = face_id;
  memcpy(ix->uuid[r], uuid, 16);
  ix->slot[r] = slot;
  ix->subj[slot].faces++;
}

int fr__index_subject_slot(const fr__index *ix, int64_t id) { return hget(ix, id); }

ptrdiff_t fr__index_find(const fr__index *ix, const uint8_t uuid[16]) {
  for (size_t r = 0; r < ix->rows; r++)
    if (memcmp(ix->uuid[r], uuid, 16) == 0) return (ptrdiff_t)r;
  return -1;
}

int64_t fr__index_face_id(const fr__index *ix, size_t row) { return ix->fid[row]; }

bool fr__index_remove(fr__index *ix, const uint8_t uuid[16]) {
  ptrdiff_t r = fr__index_find(ix, uuid);
  if (r < 0) return false;
  remove_row(ix, (size_t)r);
  return true;
}

/* ---- search ---- */

typedef struct cand {
  float score;
  int32_t row;
} cand;

/* a ranks before b: higher score, then lower row */
static bool better(cand a, cand b) { return a.score > b.score || (a.score == b.score && a.row < b.row); }

static void heap_down(cand *h, int n, int i) { /* min-heap by rank: h[0] is the worst kept */
  for (;;) {
    int l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && better(h[w], h[l])) w = l;
    if (r < n && better(h[w], h[r])) w = r;
    if (w == i) return;
    cand t = h[i];
    h[i] = h[w], h[w] = t;
    i = w;
  }
}

static int cmp_cand(const void *a, const void *b) {
  cand x = *(const cand *)a, y = *(const cand *)b;
  return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

#define BLOCK 1024
#define FETCH_BATCH 64

/* k-th largest of v[0..n) (n >= k >= 1), via a min-heap of the k largest. */
static float kth_largest(const float *v, size_t n, int k, float *heap) {
  int h = 0;
  for (size_t i = 0; i < n; i++) {
    float x = v[i];
    if (h < k) {
      int c = h++; /* sift up */
      while (c > 0 && heap[(c - 1) / 2] > x) heap[c] = heap[(c - 1) / 2], c = (c - 1) / 2;
      heap[c] = x;
    } else if (x > heap[0]) {
      int c = 0; /* replace the root, sift down */
      for (;;) {
        int l = 2 * c + 1, r = l + 1, w = c;
        float wv = x;
        if (l < h && heap[l] < wv) w = l, wv = heap[l];
        if (r < h && heap[r] < wv) w = r;
        if (w == c) break;
        heap[c] = heap[w];
        c = w;
      }
      heap[c] = x;
    }
  }
  return heap[0];
}

fr_status fr__index_search(const fr__index *ix, const float *q, int k, fr__index_fetch_fn fetch,
                           void *fetch_ctx, bool drop_missing, fr_gallery_match *out, int *n,
                           fr__index_search_info *info, fr_error *err) {
  *n = 0;
  fr__index_search_info local;
  if (!info) info = &local;
  *info = (fr__index_search_info){0, 0};
  if (k <= 0 || ix->rows == 0) return FR_OK;
  int32_t ns = ix->nslots;
  size_t rows = ix->rows, stride = (size_t)ix->stride;
  /* |exact - approx| = |(row - scale * int8 row) . q| <= bound * |q| (Cauchy-Schwarz) */
  double qn = 0;
  for (size_t j = 0; j < stride; j++) qn += (double)q[j] * q[j];
  float qnorm = (float)(sqrt(qn) * (1 + 1e-6));

  float *ub = malloc(rows * sizeof *ub);         /* per row: upper bound of the exact score */
  float *lb = malloc((size_t)ns * sizeof *lb);   /* per slot: best lower bound */
  float *lbc = malloc((size_t)ns * sizeof *lbc);  /* lb of the slots with faces */
  float *tmp = malloc((size_t)(k < ns ? k : ns) * sizeof *tmp);
  cand *best = malloc((size_t)ns * sizeof *best);
  cand *heap = malloc((size_t)(k < ns ? k : ns) * sizeof *heap);
  int64_t *cfid = malloc(FETCH_BATCH * sizeof *cfid);
  uint8_t(*cuuid)[16] = malloc(FETCH_BATCH * 16);
  int32_t *crow = malloc(FETCH_BATCH * sizeof *crow);
  bool *found = malloc(FETCH_BATCH * sizeof *found);
  float *vec = aligned_alloc(64, FETCH_BATCH * stride * sizeof(float));
  float scores[BLOCK];
  fr_status st = FR_OK;
  if (!ub || !lb || !lbc || !tmp || !best || !heap || !cfid || !cuuid || !crow || !found || !vec) {
    st = fr_error_set(err, FR_ERR_NOMEM, "out of memory (search over %zu faces)", rows);
    goto done;
  }
  /* 1. approximate pass */
  for (int32_t s = 0; s < ns; s++) lb[s] = -INFINITY, best[s] = (cand){-INFINITY, -1};
  for (size_t r0 = 0; r0 < rows; r0 += BLOCK) {
    size_t nb = rows - r0 < BLOCK ? rows - r0 : BLOCK;
    dot8_rows(ix->mat + r0 * stride, stride, nb, q, scores);
    for (size_t i = 0; i < nb; i++) {
      size_t r = r0 + i;
      float a = scores[i] * ix->scale[r], e = ix->bound[r] * qnorm * (1 + 1e-6f);
      ub[r] = a + e;
      float l = a - e;
      int32_t s = ix->slot[r];
      if (l > lb[s]) lb[s] = l;
    }
  }
  /* 2. threshold: the k-th best subject's lower bound (-inf with fewer than k
   * subjects); a subject below it cannot be in the top k */
  size_t with_faces = 0;
  for (int32_t s = 0; s < ns; s++)
    if (ix->subj[s].faces > 0) lbc[with_faces++] = lb[s];
  float thr = -INFINITY;
  if (with_faces >= (size_t)k) thr = kth_largest(lbc, with_faces, k, tmp);
  /* 3. exact scores of the candidates, in batches, best row per slot */
  size_t nc = 0;
  for (size_t r = 0; r <= rows; r++) {
    if (r < rows) {
      int32_t s = ix->slot[r];
      float need = lb[s] > thr ? lb[s] : thr;
      if (!(ub[r] >= need)) continue;
      crow[nc] = (int32_t)r;
      cfid[nc] = ix->fid[r];
      memcpy(cuuid[nc], ix->uuid[r], 16);
      nc++;
      if (nc < FETCH_BATCH) continue;
    }
    if (nc == 0) break;
    for (size_t i = 0; i < nc; i++) memset(vec + i * stride, 0, stride * sizeof(float));
    st = fetch(fetch_ctx, nc, cfid, (const uint8_t(*)[16])cuuid, vec, stride, found, err);
    if (st != FR_OK) goto done;
    dot_rows(vec, stride, nc, q, scores);
    info->candidates += nc;
    for (size_t i = 0; i < nc; i++) {
      if (!found[i]) {
        info->missing++;
        continue;
      }
      cand c = {scores[i], crow[i]};
      cand *b = &best[ix->slot[crow[i]]];
      if (b->row < 0 || c.score > b->score) *b = c; /* rows ascend: ties keep the lower row */
    }
    nc = 0;
  }
  if (info->missing && !drop_missing) goto done;
  /* 4. top-k over slots */
  int kk = 0, cap = k < ns ? k : ns;
  for (int32_t s = 0; s < ns; s++) {
    if (best[s].row < 0) continue;
    if (kk < cap) {
      heap[kk++] = best[s];
      if (kk == cap)
        for (int i = kk / 2; i-- > 0;) heap_down(heap, kk, i);
    } else if (better(best[s], heap[0])) {
      heap[0] = best[s];
      heap_down(heap, kk, 0);
    }
  }
  qsort(heap, (size_t)kk, sizeof *heap, cmp_cand);
  for (int i = 0; i < kk; i++) {
    size_t r = (size_t)heap[i].row;
    snprintf(out[i].subject, sizeof out[i].subject, "%s", ix->subj[ix->slot[r]].name);
    fr__uuid_format(ix->uuid[r], out[i].image_id);
    out[i].similarity = heap[i].score;
  }
  *n = kk;
done:
  free(ub), free(lb), free(lbc), free(tmp), free(best), free(heap);
  free(cfid), free(cuuid), free(crow), free(found), free(vec);
  return st;
}

bool fr__index_has_room(const fr__index *ix, size_t rows, size_t subjects) {
  size_t new_slots = subjects > (size_t)ix->nfree ? subjects - (size_t)ix->nfree : 0;
  return ix->rows + rows <= ix->cap && (size_t)ix->nslots + new_slots <= (size_t)ix->slot_cap &&
         ix->hcount + subjects <= ix->hcap / 2;
}
