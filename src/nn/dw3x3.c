/*
 * Depthwise 3x3 kernels (see dw3x3.h). One task = one output row of one
 * channel block (16 channels for AVX-512, 8 for AVX2); the weight vectors of
 * the block stay in registers while the task walks the row. Pixels whose
 * window lies inside the input take the unrolled path; border pixels skip the
 * taps that fall into the padding.
 */
#include "nn/dw3x3.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FR__DW_X86 1
#endif

enum { DW_NONE = 0, DW_AVX2, DW_AVX512 };
static int dw_isa = DW_NONE;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;

static void dw_detect(void) {
#ifdef FR__DW_X86
  __builtin_cpu_init();
  const char *force = getenv("FR_DW3X3_ISA");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = __builtin_cpu_supports("avx512f");
  if (force && strcmp(force, "none") == 0) return;
  if (avx512 && !(force && strcmp(force, "avx2") == 0)) dw_isa = DW_AVX512;
  else if (avx2) dw_isa = DW_AVX2;
#endif
}

bool fr__dw3x3_available(void) {
  pthread_once(&dw_once, dw_detect);
  return dw_isa != DW_NONE;
}

float *fr__dw3x3_pack(const float *w, const float *bias, int64_t c, int64_t *cp_out) {
  if (c < 1 || c > ((int64_t)1 << 24)) return NULL;
  int64_t cp = (c + 15) & ~(int64_t)15;
  size_t bytes = (size_t)(10 * cp) * sizeof(float);
  float *p = aligned_alloc(64, bytes);
  if (!p) return NULL;
  memset(p, 0, bytes);
  for (int64_t ch = 0; ch < c; ch++) {
    for (int k = 0; k < 9; k++) p[k * cp + ch] = w[ch * 9 + k];
    p[9 * cp + ch] = bias ? bias[ch] : 0.0f;
  }
  *cp_out = cp;
  return p;
}

#ifdef FR__DW_X86

/* The row walk, written once for both ISAs. V: vector type; LD(ptr): load of
 * the block's channels; ST(ptr, v): store; FMA(a, b, c) = a*b + c. */
#define DW_ROW_BODY(V, LD, ST, FMA, ADD, MAX, MIN, ZERO)                                    \
  do {                                                                                     \
    const int64_t C = p->c, W = p->w, H = p->h;                                            \
    const int64_t b = (int64_t)(row / (size_t)p->oh), oy = (int64_t)(row % (size_t)p->oh);  \
    const int64_t iy0 = oy * p->sh - p->pt;                                                \
    const float *rows[3];                                                                  \
    bool rv[3];                                                                            \
    for (int k = 0; k < 3; k++) {                                                          \
      int64_t iy = iy0 + k;                                                                \
      rv[k] = iy >= 0 && iy < H;                                                           \
      rows[k] = rv[k] ? p->x + ((b * H + iy) * W) * C + c0 : NULL;                         \
    }                                                                                      \
    const bool all_rows = rv[0] && rv[1] && rv[2];                                         \
    float *yo = p->y + ((b * p->oh + oy) * p->ow) * C + c0;                                \
    const float *wq = p->wp + c0;                                                          \
    const V w0 = LDW(wq), w1 = LDW(wq + p->cp), w2 = LDW(wq + 2 * p->cp);                   \
    const V w3 = LDW(wq + 3 * p->cp), w4 = LDW(wq + 4 * p->cp), w5 = LDW(wq + 5 * p->cp);   \
    const V w6 = LDW(wq + 6 * p->cp), w7 = LDW(wq + 7 * p->cp), w8 = LDW(wq + 8 * p->cp);   \
    const V wk[9] = {w0, w1, w2, w3, w4, w5, w6, w7, w8};                                  \
    const V bias = LDW(wq + 9 * p->cp);                                                    \
    for (int64_t ox = 0; ox < p->ow; ox++) {                                               \
      const int64_t ix0 = ox * p->sw - p->pl;                                              \
      V acc;                                                                               \
      if (all_rows && ix0 >= 0 && ix0 + 2 < W) {                                           \
        const float *q0 = rows[0] + ix0 * C, *q1 = rows[1] + ix0 * C,                      \
                    *q2 = rows[2] + ix0 * C;                                               \
        acc = FMA(LD(q0), w0, ZERO);                                                       \
        acc = FMA(LD(q0 + C), w1, acc);                                                    \
        acc = FMA(LD(q0 + 2 * C), w2, acc);                                                \
        acc = FMA(LD(q1), w3, acc);                                                        \
        acc = FMA(LD(q1 + C), w4, acc);                                                    \
        acc = FMA(LD(q1 + 2 * C), w5, acc);                                                \
        acc = FMA(LD(q2), w6, acc);                                                        \
        acc = FMA(LD(q2 + C), w7, acc);                                                    \
        acc = FMA(LD(q2 + 2 * C), w8, acc);                                                \
      } else {                                                                             \
        acc = ZERO;                                                                        \
        for (int ky = 0; ky < 3; ky++) {                                                   \
          if (!rv[ky]) continue;                                                           \
          for (int kx = 0; kx < 3; kx++) {                                                 \
            int64_t ix = ix0 + kx;                                                         \
            if (ix < 0 || ix >= W) continue;                                               \
            acc = FMA(LD(rows[ky] + ix * C), wk[ky * 3 + kx], acc);                        \
          }                                                                                \
        }                                                                                  \
      }                                                                                    \
      acc = MIN(MAX(ADD(acc, bias), lo), hi);                                              \
      ST(yo + ox * C, acc);                                                                \
    }                                                                                      \
  } while (0)

__attribute__((target("avx512f"))) static void dw_task_avx512(void *ctx, size_t row,
                                                              size_t blk) {
  const fr__dw3x3 *p = ctx;
  const int64_t c0 = (int64_t)blk * 16;
  const int64_t rem = p->c - c0;
  const __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
  const __m512 lo = _mm512_set1_ps(p->lo), hi = _mm512_set1_ps(p->hi);
#define LDW(q) _mm512_load_ps(q)
#define LD(q) _mm512_maskz_loadu_ps(m, (q))
#define ST(q, v) _mm512_mask_storeu_ps((q), m, (v))
  DW_ROW_BODY(__m512, LD, ST, _mm512_fmadd_ps, _mm512_add_ps, _mm512_max_ps, _mm512_min_ps,
              _mm512_setzero_ps());
#undef LD
#undef ST
#undef LDW
}

__attribute__((target("avx2,fma"))) static void dw_task_avx2(void *ctx, size_t row, size_t blk) {
  const fr__dw3x3 *p = ctx;
  const int64_t c0 = (int64_t)blk * 8;
  const int64_t rem = p->c - c0;
  const __m256 lo = _mm256_set1_ps(p->lo), hi = _mm256_set1_ps(p->hi);
#define LDW(q) _mm256_load_ps(q)
  if (rem >= 8) {
#define LD(q) _mm256_loadu_ps(q)
#define ST(q, v) _mm256_storeu_ps((q), (v))
    DW_ROW_BODY(__m256, LD, ST, _mm256_fmadd_ps, _mm256_add_ps, _mm256_max_ps, _mm256_min_ps,
                _mm256_setzero_ps());
#undef LD
#undef ST
  } else {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#define LD(q) _mm256_maskload_ps((q), m)
#define ST(q, v) _mm256_maskstore_ps((q), m, (v))
    DW_ROW_BODY(__m256, LD, ST, _mm256_fmadd_ps, _mm256_add_ps, _mm256_max_ps, _mm256_min_ps,
                _mm256_setzero_ps());
#undef LD
#undef ST
  }
#undef LDW
}

#endif /* FR__DW_X86 */

void fr__dw3x3_run(const fr__dw3x3 *p, pthreadpool_t pool) {
#ifdef FR__DW_X86
  size_t rows = (size_t)(p->n * p->oh);
  if (dw_isa == DW_AVX512) {
    pthreadpool_parallelize_2d(pool, dw_task_avx512, (void *)p, rows, (size_t)((p->c + 15) / 16),
                               PTHREADPOOL_FLAG_DISABLE_DENORMALS);
  } else if (dw_isa == DW_AVX2) {
    pthreadpool_parallelize_2d(pool, dw_task_avx2, (void *)p, rows, (size_t)((p->c + 7) / 8),
                               PTHREADPOOL_FLAG_DISABLE_DENORMALS);
  }
#else
  (void)p;
  (void)pool;
#endif
}
