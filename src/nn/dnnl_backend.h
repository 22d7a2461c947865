/*
 * oneDNN (Debian libdnnl 2.6, OpenMP build) convolutions for the fast backend
 * (xnn_backend.c): the convolutions where oneDNN measured clearly faster than
 * XNNPACK / our depthwise kernel (bench/conv.c, docs/benchmarks.md) run here.
 *
 * The rule (fr__dnnl_conv_wanted), measured at 1 and 2 threads on the
 * convolutions of fr_feature, fr_detect, fr_expression, FaceAntiSpoofing and
 * faceres (medians of 3 bench runs, oneDNN time / ours):
 *  - single-threaded sessions only. With 2 threads oneDNN's OpenMP team and
 *    XNNPACK's pthreadpool fight over the cores (spinning workers: 4-8 ms per
 *    convolution instead of 0.05 ms; with OMP_WAIT_POLICY=passive still
 *    1.4-9x slower than ours);
 *  - dense (groups 1) with >= 32 output channels, dilation 1: 0.66-0.87
 *    (1x1 ~0.81, 3x3 0.74-0.83, the 7x7 stem 0.67). Below 32 output channels
 *    it is 0.75-1.08: not taken;
 *  - depthwise with multiplier 1, >= 64 channels, dilation 1: 0.09-0.86
 *    (3x3 at 256-1024 channels 0.4-0.6; the 7x7 global depthwise 0.09). At
 *    16-32 channels our own 3x3 kernel is within 10 %: not taken.
 *
 * One fr__dnnl_conv is one primitive for one input shape: src/dst are NHWC
 * (our layout, bound per run without copies), weights are reordered once into
 * the layout oneDNN chooses, bias and the clamp (relu / clip post-op) fused.
 * It runs on the calling thread only (OpenMP thread count 1 around every
 * oneDNN call, the caller's setting restored), so different ops may run
 * concurrently on different threads. Not thread-safe per object. Creations
 * are serialized process-wide: oneDNN 2.6.3 built wrong primitives now and
 * then when two threads created them at once in a fresh process
 * (dnnl_backend.c, tests/face/test_face_threads.c).
 *
 * Memory (docs/benchmarks.md, "Fourth run"): the reordered (and, for bf16,
 * rounded) weights and the bias are shared by every convolution that needs
 * the same bytes in the same layout — all sessions of a model, on every
 * thread, and the detector's sessions of different input shapes whenever
 * oneDNN picks the same weight layout for them. They are identified by the
 * caller's address plus a hash of the contents, built once under a lock and
 * freed with the last convolution that uses them. The primitive's scratchpad
 * and the bf16 copy of an f32 input (lowp, src_bf16 false) are not kept per
 * convolution: a run borrows a buffer from a process-wide pool and gives it
 * back, so there are as many as runs were ever concurrent (one per serving
 * worker), each grown to the largest need seen, kept for the process.
 */
#ifndef FR_NN_DNNL_BACKEND_H
#define FR_NN_DNNL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

typedef struct fr__dnnl_conv fr__dnnl_conv;

typedef struct fr__dnnl_conv_params {
  int64_t n, h, w, cin, cout, oh, ow;  /* NHWC input [n,h,w,cin] -> [n,oh,ow,cout] */
  int kh, kw, sh, sw, dh, dw, groups;  /* dilation 1 = dense taps */
  int pt, pl, pb, pr;                  /* resolved padding */
  float lo, hi;                        /* clamp; -INFINITY / INFINITY = none */
  const float *weights;                /* OHWI [cout, kh, kw, cin/groups] */
  const float *bias;                   /* [cout], NULL = zeros */
  /* Reduced precision (src/nn/lowp.c; zero = the f32 convolution above).
   * lowp 1 = bf16: weights rounded to bf16 once, bf16 x bf16 products with
   * f32 accumulation, bias and clamp in f32. src_bf16: x holds bf16 NHWC
   * (else f32, converted into an internal bf16 buffer on every run);
   * dst_bf16: y receives bf16 NHWC (else f32). */
  int lowp;
  bool src_bf16, dst_bf16;
} fr__dnnl_conv_params;

/* True when oneDNN runs bf16 convolutions natively on this CPU
 * (avx512_core_bf16 or later: AVX512_BF16 dot products). */
bool fr__dnnl_bf16_native(void);

/* The measured rule above; threads = the session's thread count. */
bool fr__dnnl_conv_rule(const fr__dnnl_conv_params *p, int threads);
/* The rule, unless the environment variable FR_DNNL=off disables oneDNN (read
 * once; A/B benchmarks). The backend asks this one. */
bool fr__dnnl_conv_wanted(const fr__dnnl_conv_params *p, int threads);

/* Creates the primitive and packs the weights (copied, or shared with a live
 * convolution that packed the same contents from the same address into the
 * same layout: p->weights and p->bias need not outlive it). A scratch buffer
 * of the pool grows to what this convolution needs. FR_ERR_UNSUPPORTED when oneDNN declines the parameters
 * (the caller uses another kernel), FR_ERR_NOMEM, or FR_ERR_BACKEND. The caller
 * frees *out with fr__dnnl_conv_destroy. */
fr_status fr__dnnl_conv_create(const fr__dnnl_conv_params *p, fr__dnnl_conv **out);
/* y = conv(x) for the shape given at creation. x/y: NHWC buffers (float, or
 * bf16 where the params said so). Borrows a scratch buffer from the pool
 * for the run (grown here only when more runs are concurrent than buffers
 * were sized at creation). */
fr_status fr__dnnl_conv_run(fr__dnnl_conv *c, const void *x, void *y);
/* oneDNN's implementation name of the primitive (e.g. "brgconv:avx512_core_bf16"). */
const char *fr__dnnl_conv_impl(const fr__dnnl_conv *c);
void fr__dnnl_conv_destroy(fr__dnnl_conv *c);

/* Empties oneDNN's primitive cache (tests: the next creations build their
 * primitives again, as in a fresh process). */
void fr__dnnl_cache_clear(void);

/* Tests and benchmarks: the shared constant buffers alive now (weights and
 * biases, each counted once however many convolutions use it) and their
 * bytes; the scratch pool's idle buffers (all of them when no run is in
 * progress) and their bytes. */
void fr__dnnl_shared_stats(size_t *buffers, size_t *bytes);
void fr__dnnl_scratch_stats(size_t *buffers, size_t *bytes);

#endif
