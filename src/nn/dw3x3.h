/*
 * Depthwise 3x3 convolution (channel multiplier 1, dilation 1, any stride and
 * padding) on NHWC float tensors, with AVX-512 / AVX2+FMA kernels chosen at
 * run time. Part of the fast backend (xnn_backend.c): XNNPACK's 2022 depthwise
 * kernels spend most of their time on per-pixel indirection at the small
 * channel counts of face detectors; these keep the 9 weight vectors in
 * registers and walk a row of output pixels.
 *
 * Accumulation order per output: the 9 taps in (ky, kx) order, then bias,
 * then the clamp -- the reference kernel's order.
 */
#ifndef FR_NN_DW3X3_H
#define FR_NN_DW3X3_H

#include <pthreadpool.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fr__dw3x3 {
  const float *x;        /* [n, h, w, c] */
  float *y;              /* [n, oh, ow, c] */
  const float *wp;       /* packed weights [9][cp] (zero beyond c), from fr__dw3x3_pack */
  const float *bp;       /* packed bias [cp] */
  int64_t n, h, w, c, cp, oh, ow;
  int sh, sw, pt, pl;
  float lo, hi;
} fr__dw3x3;

/* True when this CPU has a kernel (AVX2+FMA or AVX-512F). The environment
 * variable FR_DW3X3_ISA=avx2 forces the AVX2 kernel (tests), =none disables. */
bool fr__dw3x3_available(void);

/* Packs OHWI weights w[c][3][3][1] and bias[c] (NULL = zeros) into a new
 * 64-byte aligned buffer: [9][cp] weights then [cp] bias, cp = c rounded up
 * to 16. *cp_out receives cp. Caller frees with free(). NULL on out of memory. */
float *fr__dw3x3_pack(const float *w, const float *bias, int64_t c, int64_t *cp_out);

/* Computes the convolution described by p (pool may be NULL). */
void fr__dw3x3_run(const fr__dw3x3 *p, pthreadpool_t pool);

#endif
