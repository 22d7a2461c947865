/*
 * Face detection with faceplugin's fr_detect.onnx (Ultra-Light-Fast-Generic-
 * Face-Detector-1MB, RFB-320 layout) run fully convolutionally at several input
 * sizes (an image pyramid), merged by NMS.
 *
 * The file's own tail (softmax + prior decoding) only works at 320x240, so the
 * session is cut at the raw heads: "461" = class logits [1,N,2] and "462" = box
 * regressions [1,N,4] (concatenated over the 4 feature maps, each in (row,
 * column, anchor) order). The priors are recomputed here for each input size
 * exactly as the model's generator does (Ultra-Light's generate_priors:
 * strides 8/16/32/64, min sizes {10,16,24} {32,48} {64,96} {128,192,256},
 * feature map = ceil(size / stride), centre (i + 0.5) / feature map size,
 * everything clamped to [0,1]) and decoded with
 * centre variance 0.1 and size variance 0.2. At 320x240 this reproduces the
 * graph's own `scores`/`boxes` outputs (tests/face/test_face.c checks it on the
 * golden fixture).
 *
 * Preprocessing (fixture README): RGB, (v - 127) / 128, bilinear resize on the
 * half-pixel grid; the model takes NCHW, but the canvas is written in the
 * runtime's NHWC layout straight into the session (fr__session_input_nhwc),
 * which skips the session's copy and its NCHW->NHWC transpose.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/face_internal.h"
#include "nn/exec.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FR__LITTLE_ENDIAN 1
#else
#define FR__LITTLE_ENDIAN 0
#endif

static const int k_strides[4] = {8, 16, 32, 64};
static const int k_nmin[4] = {3, 2, 2, 3};
static const float k_min_sizes[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};

static float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

/* Number of priors for an input of in_w x in_h (feature map = ceil(in / stride)). */
size_t fr__detect_prior_count(int in_w, int in_h) {
  size_t n = 0;
  for (int k = 0; k < 4; k++) {
    size_t fw = (size_t)((in_w + k_strides[k] - 1) / k_strides[k]);
    size_t fh = (size_t)((in_h + k_strides[k] - 1) / k_strides[k]);
    n += fw * fh * (size_t)k_nmin[k];
  }
  return n;
}

/* Box-filters img by an integer factor f (f x f block means) into dst (w/f x h/f).
 * Each output row sums its f source rows into a per-channel column buffer
 * (integers, so the result is exactly the block sum), then f columns at a time.
 * Any f; fr__box_shrink is the fast version for f <= 16 (little-endian hosts). */
static void box_shrink_u32(const fr_image *img, int f, fr_image *dst, uint32_t *colsum) {
  const float inv = 1.0f / (float)(f * f);
  const size_t n = (size_t)dst->w * (size_t)f * 3;
  for (int y = 0; y < dst->h; y++) {
    const uint8_t *p = img->px + (size_t)(y * f) * (size_t)img->stride;
    for (size_t i = 0; i < n; i++) colsum[i] = p[i];
    for (int dy = 1; dy < f; dy++) {
      p = img->px + (size_t)(y * f + dy) * (size_t)img->stride;
      for (size_t i = 0; i < n; i++) colsum[i] += p[i];
    }
    uint8_t *o = dst->px + (size_t)y * (size_t)dst->stride;
    const uint32_t *c = colsum;
    for (int x = 0; x < dst->w; x++) {
      unsigned s0 = 0, s1 = 0, s2 = 0;
      for (int dx = 0; dx < f; dx++, c += 3) {
        s0 += c[0];
        s1 += c[1];
        s2 += c[2];
      }
      o[3 * x] = (uint8_t)(s0 * inv + 0.5f);
      o[3 * x + 1] = (uint8_t)(s1 * inv + 0.5f);
      o[3 * x + 2] = (uint8_t)(s2 * inv + 0.5f);
    }
  }
}

#if defined(__AVX2__)
/* 8 bytes -> 8 floats */
static inline __m256 u8f(const uint8_t *p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}
#endif

size_t fr__canvas_scratch(int rw) { return (size_t)rw * 10 + 64; }

/* ga[3x + c] = row[3 a[x] + c], gb[3x + c] = row[3 b[x] + c] for x < rw, where
 * b = a + 1 except at the right edge (b = a); fast8: pixels x < fast8 may read
 * 8 bytes at row + 3 a[x] (inside the row). ga, gb have one byte of slack. */
static void gather_row(const uint8_t *row, const int *a, int rw, int fast8, int xmax, uint8_t *ga,
                       uint8_t *gb) {
  int x = 0;
  for (; x < fast8; x++) {
    uint64_t v;
    memcpy(&v, row + 3 * a[x], 8);
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 24);
    memcpy(ga + 3 * x, &lo, 4); /* the 4th byte is overwritten by the next pixel (or is slack) */
    memcpy(gb + 3 * x, &hi, 4);
  }
  for (; x < rw; x++) {
    const uint8_t *p = row + 3 * a[x], *q = row + 3 * (a[x] + 1 <= xmax ? a[x] + 1 : xmax);
    ga[3 * x] = p[0], ga[3 * x + 1] = p[1], ga[3 * x + 2] = p[2];
    gb[3 * x] = q[0], gb[3 * x + 1] = q[1], gb[3 * x + 2] = q[2];
  }
}

/* Resizes img (bilinear, half-pixel centres, edge-clamped) to rw x rh into the
 * top-left corner of an in_w x in_h canvas and writes RGB (v - 127) / 128 in
 * NHWC order (the runtime's internal layout: fr__session_input_nhwc) into dst;
 * the rest of the canvas is 0 (grey 127). scratch: fr__canvas_scratch(rw) floats.
 * Each value is (w00 p00 + w01 p01 + w10 p10 + w11 p11 - 127) / 128 with
 * w00 = (1 - wy)(1 - wx) ..., evaluated in this order without FMA both in
 * the AVX2 loop and in the scalar one, so the canvas is bit-identical to the
 * per-pixel NCHW loop this replaced (and to the scalar build). The two
 * source rows of an output row are first gathered per column (byte copies,
 * kept for the next output row when it reads the same source rows), so the
 * arithmetic runs 8 values at a time. */
void fr__canvas_fill(const fr_image *img, int rw, int rh, int in_w, int in_h, float *dst,
                     float *scratch) {
  const size_t row = (size_t)in_w * 3, used = (size_t)rw * 3;
  const float k = 1.0f / 128.0f;
  if (rw == img->w && rh == img->h) {
    for (int y = 0; y < rh; y++) {
      const uint8_t *p = img->px + (size_t)y * (size_t)img->stride;
      float *o = dst + (size_t)y * row;
      size_t i = 0;
#if defined(__AVX2__)
      const __m256 c127 = _mm256_set1_ps(127.0f), ck = _mm256_set1_ps(k);
      for (; i + 8 <= used; i += 8)
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_sub_ps(u8f(p + i), c127), ck));
#endif
      for (; i < used; i++) o[i] = ((float)p[i] - 127.0f) * k;
      memset(o + used, 0, (row - used) * sizeof *o);
    }
    memset(dst + (size_t)rh * row, 0, (size_t)(in_h - rh) * row * sizeof *dst);
    return;
  }
  float *omx = scratch, *wxe = omx + used;
  int *xa = (int *)(wxe + used);
  uint8_t *g8 = (uint8_t *)(xa + rw); /* 4 gathered rows of used + 8 bytes */
  const size_t gstride = used + 8;
  const float sx = (float)img->w / (float)rw, sy = (float)img->h / (float)rh;
  const int xmax = img->w - 1;
  int fast8 = 0; /* gather_row's 8-byte loads need a little-endian host */
  for (int x = 0; x < rw; x++) {
    float fx = ((float)x + 0.5f) * sx - 0.5f;
    if (fx < 0) fx = 0;
    int x0 = (int)fx;
    if (x0 > img->w - 1) x0 = img->w - 1;
    xa[x] = x0;
    float wx = fx - (float)x0;
    omx[3 * x] = omx[3 * x + 1] = omx[3 * x + 2] = 1 - wx;
    wxe[3 * x] = wxe[3 * x + 1] = wxe[3 * x + 2] = wx;
    if (FR__LITTLE_ENDIAN && 3 * x0 + 8 <= 3 * img->w) fast8 = x + 1; /* x0 is non-decreasing in x */
  }
  int held[2] = {-1, -1}; /* source row in each gathered slot */
  for (int y = 0; y < rh; y++) {
    float fy = ((float)y + 0.5f) * sy - 0.5f;
    if (fy < 0) fy = 0;
    int y0 = (int)fy;
    if (y0 > img->h - 1) y0 = img->h - 1;
    int y1 = y0 + 1 < img->h ? y0 + 1 : img->h - 1;
    const float wy = fy - (float)y0, omy = 1 - wy;
    const uint8_t *g[2][2];
    const int want[2] = {y0, y1};
    int slot_of[2] = {held[0] == y0 ? 0 : held[1] == y0 ? 1 : -1, held[0] == y1 ? 0 : held[1] == y1 ? 1 : -1};
    for (int r = 0; r < 2; r++) {
      if (slot_of[r] < 0) {
        int sl = slot_of[1 - r] == 0 ? 1 : 0; /* the slot the other row does not use */
        if (r == 1 && y1 == y0) sl = slot_of[0];
        else {
          gather_row(img->px + (size_t)want[r] * (size_t)img->stride, xa, rw, fast8, xmax,
                     g8 + (size_t)(2 * sl) * gstride, g8 + (size_t)(2 * sl + 1) * gstride);
          held[sl] = want[r];
        }
        slot_of[r] = sl;
      }
      g[r][0] = g8 + (size_t)(2 * slot_of[r]) * gstride;
      g[r][1] = g8 + (size_t)(2 * slot_of[r] + 1) * gstride;
    }
    float *o = dst + (size_t)y * row;
    size_t e = 0;
#if defined(__AVX2__)
    const __m256 vomy = _mm256_set1_ps(omy), vwy = _mm256_set1_ps(wy);
    const __m256 c127 = _mm256_set1_ps(127.0f), ck = _mm256_set1_ps(k);
    for (; e + 8 <= used; e += 8) {
      const __m256 mx = _mm256_loadu_ps(omx + e), wx = _mm256_loadu_ps(wxe + e);
      /* the scalar expression below, operation by operation (no FMA) */
      __m256 v = _mm256_mul_ps(_mm256_mul_ps(vomy, mx), u8f(g[0][0] + e));
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(vomy, wx), u8f(g[0][1] + e)));
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(vwy, mx), u8f(g[1][0] + e)));
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(vwy, wx), u8f(g[1][1] + e)));
      _mm256_storeu_ps(o + e, _mm256_mul_ps(_mm256_sub_ps(v, c127), ck));
    }
#endif
    for (; e < used; e++) {
      const float w00 = omy * omx[e], w01 = omy * wxe[e], w10 = wy * omx[e], w11 = wy * wxe[e];
      o[e] = (w00 * g[0][0][e] + w01 * g[0][1][e] + w10 * g[1][0][e] + w11 * g[1][1][e] - 127.0f) * k;
    }
    memset(o + used, 0, (row - used) * sizeof *o);
  }
  memset(dst + (size_t)rh * row, 0, (size_t)(in_h - rh) * row * sizeof *dst);
}

/* box_shrink_u32 for f <= 16 (exact integer block sums as well): the f rows
 * are summed 16 bytes at a time in 16-bit lanes, then each output pixel adds
 * f 64-bit words holding 4 lanes (R, G, B and the next pixel's R, ignored):
 * a channel's sum is at most 16 * 16 * 255 < 65536, so no lane carries into
 * the next. colsum32: room for dst->w * f * 3 + 4 16-bit sums. */
void fr__box_shrink(const fr_image *img, int f, fr_image *dst, uint32_t *colsum32) {
  if (f > 16 || !FR__LITTLE_ENDIAN) {
    box_shrink_u32(img, f, dst, colsum32);
    return;
  }
  const float inv = 1.0f / (float)(f * f);
  const size_t n = (size_t)dst->w * (size_t)f * 3;
  uint16_t *cs = (uint16_t *)colsum32;
  for (int y = 0; y < dst->h; y++) {
    const uint8_t *p = img->px + (size_t)(y * f) * (size_t)img->stride;
    size_t i = 0;
#if defined(__AVX2__)
    for (; i + 16 <= n; i += 16) {
      __m256i s = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
      for (int dy = 1; dy < f; dy++) {
        const uint8_t *q = p + (size_t)dy * (size_t)img->stride + i;
        s = _mm256_add_epi16(s, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)q)));
      }
      _mm256_storeu_si256((__m256i *)(void *)(cs + i), s);
    }
#endif
    for (; i < n; i++) {
      unsigned s = p[i];
      for (int dy = 1; dy < f; dy++) s += p[(size_t)dy * (size_t)img->stride + i];
      cs[i] = (uint16_t)s;
    }
    cs[n] = 0; /* the last pixel's 4th lane reads it */
    uint8_t *o = dst->px + (size_t)y * (size_t)dst->stride;
    for (int x = 0; x < dst->w; x++) {
      const uint16_t *c = cs + (size_t)3 * (size_t)f * (size_t)x;
      uint64_t s = 0;
      for (int dx = 0; dx < f; dx++) {
        uint64_t v;
        memcpy(&v, c + 3 * dx, 8);
        s += v; /* 4 lanes of 16 bits: channel sums <= 16 * 16 * 255 never carry */
      }
      o[3 * x] = (uint8_t)((float)(unsigned)(s & 0xffff) * inv + 0.5f);
      o[3 * x + 1] = (uint8_t)((float)(unsigned)((s >> 16) & 0xffff) * inv + 0.5f);
      o[3 * x + 2] = (uint8_t)((float)(unsigned)((s >> 32) & 0xffff) * inv + 0.5f);
    }
  }
}

static fr_status push_cand(fr_worker *w, size_t *n, const fr__cand *c, fr_error *err) {
  if (*n == w->cand_cap) {
    size_t cap = w->cand_cap ? w->cand_cap * 2 : 4096;
    if (cap > (size_t)1 << 22) return FR_OK; /* absurd numbers of boxes: drop the rest */
    fr__cand *p = realloc(w->cand, cap * sizeof *p);
    if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (detection candidates)");
    w->cand = p;
    w->cand_cap = cap;
  }
  w->cand[(*n)++] = *c;
  return FR_OK;
}

/* Decodes raw heads (logits [N,2], regressions [N,4]) for an in_w x in_h
 * input into candidates with score >= thr, in corner form scaled to W x H,
 * appended to w->cand in prior order. */
fr_status fr__detect_decode(fr_worker *w, const float *logits, const float *regs, int in_w, int in_h, float W,
                            float H, float thr, size_t *n_cand, fr_error *err) {
  fr_status st;
  /* logit threshold: p1 = 1 / (1 + exp(l0 - l1)) >= thr  <=>  l1 - l0 >= log(thr / (1 - thr)) */
  const float t = thr <= 0 ? -INFINITY : (thr >= 1 ? INFINITY : logf(thr / (1 - thr)));
  size_t p = 0;
  for (int k = 0; k < 4; k++) {
    const int s = k_strides[k];
    const int fw = (in_w + s - 1) / s, fh = (in_h + s - 1) / s;
    for (int j = 0; j < fh; j++) {
      const float cy = clamp01(((float)j + 0.5f) / (float)fh);
      for (int i = 0; i < fw; i++) {
        const float cx = clamp01(((float)i + 0.5f) / (float)fw);
        for (int a = 0; a < k_nmin[k]; a++, p++) {
          const float *l = logits + 2 * p;
          const float d = l[1] - l[0];
          if (!(d >= t)) continue;
          const float pw = clamp01(k_min_sizes[k][a] / (float)in_w);
          const float ph = clamp01(k_min_sizes[k][a] / (float)in_h);
          const float *r = regs + 4 * p;
          const float bx = cx + r[0] * 0.1f * pw, by = cy + r[1] * 0.1f * ph;
          const float bw = pw * expf(r[2] * 0.2f), bh = ph * expf(r[3] * 0.2f);
          fr__cand c = {(bx - bw * 0.5f) * W, (by - bh * 0.5f) * H, (bx + bw * 0.5f) * W,
                        (by + bh * 0.5f) * H, 1.0f / (1.0f + expf(-d))};
          if (!(c.x2 > c.x1 && c.y2 > c.y1)) continue;
          if ((st = push_cand(w, n_cand, &c, err))) return st;
        }
      }
    }
  }
  return FR_OK;
}

/* The worker's detector session for this input shape (created on first use,
 * least recently used one replaced). */
static fr_status det_session(fr_worker *w, int in_w, int in_h, fr_session **out, fr_error *err) {
  fr__det_session *slot = &w->det[0];
  int keep = w->e->tun.det_sessions;
  if (keep < 1) keep = 1;
  if (keep > FR__DET_SESSIONS) keep = FR__DET_SESSIONS;
  for (int i = 0; i < keep; i++) {
    fr__det_session *d = &w->det[i];
    if (d->s && d->in_w == in_w && d->in_h == in_h) {
      d->used = ++w->tick;
      *out = d->s;
      return FR_OK;
    }
    if (!d->s || (slot->s && d->used < slot->used)) slot = d;
  }
  if (slot->s) { /* reuse the least recently used session: it re-plans for the new shape */
    slot->in_w = in_w;
    slot->in_h = in_h;
    slot->used = ++w->tick;
    *out = slot->s;
    return FR_OK;
  }
  static const char *const heads[2] = {"461", "462"}; /* raw logits, raw box regressions */
  fr_session *s = NULL;
  fr_status st = fr_session_create(w->e->det, w->tp, &s, err);
  if (!st) st = fr_session_select(s, heads, 2, err);
  if (!st) fr__session_use_pool(s, w->det_pool);
  if (st) {
    fr_session_free(s);
    return st;
  }
  slot->s = s;
  slot->in_w = in_w;
  slot->in_h = in_h;
  slot->used = ++w->tick;
  *out = s;
  return FR_OK;
}

/* Runs the detector on img resized to rw x rh in the corner of an in_w x in_h
 * canvas and appends candidates with score >= thr, in image pixel corner form,
 * to w->cand. */
static fr_status detect_raw(fr_worker *w, const fr_image *img, int rw, int rh, int in_w, int in_h, float thr,
                            size_t *n_cand, fr_error *err) {
  fr_session *s;
  fr_status st = det_session(w, in_w, in_h, &s, err);
  if (st) return st;
  if ((st = fr__worker_buf(w, fr__canvas_scratch(rw), err))) return st;
  /* the canvas is written straight into the session's input, in its NHWC layout */
  const int64_t shape[4] = {1, 3, in_h, in_w};
  float *in;
  if ((st = fr__session_input_nhwc(s, 0, shape, 4, &in, err))) return st;
  double t0 = fr__face_ms();
  fr__canvas_fill(img, rw, rh, in_w, in_h, in, w->buf);
  double t1 = fr__face_ms();
  w->stage_ms[FR__ST_RESIZE] += t1 - t0;
  st = fr_session_run(s, err);
  double t2 = fr__face_ms();
  w->stage_ms[FR__ST_NET] += t2 - t1;
  if (st) return st;
  fr_tensor_view lg, rg;
  if ((st = fr_session_get(s, "461", &lg, err)) || (st = fr_session_get(s, "462", &rg, err))) return st;
  const size_t np = fr__detect_prior_count(in_w, in_h);
  if (lg.count != np * 2 || rg.count != np * 4)
    return fr_error_set(err, FR_ERR_INTERNAL,
                        "fr_detect.onnx at %dx%d: %zu logits / %zu regressions, expected %zu priors",
                        in_w, in_h, lg.count, rg.count, np);
  /* canvas coordinates -> image pixels */
  const float W = (float)in_w * (float)img->w / (float)rw, H = (float)in_h * (float)img->h / (float)rh;
  st = fr__detect_decode(w, lg.data, rg.data, in_w, in_h, W, H, thr, n_cand, err);
  w->stage_ms[FR__ST_DECODE] += fr__face_ms() - t2;
  return st;
}

static int cand_cmp(const void *a, const void *b) {
  float x = ((const fr__cand *)a)->score, y = ((const fr__cand *)b)->score;
  return (x < y) - (x > y);
}

/* Geometry of one pyramid level whose longer side is `side` pixels: the image
 * is resized (aspect kept) to rw x rh and placed in an in_w x in_h canvas.
 * The canvas' longer side is side rounded up to 32; its shorter side is
 * rounded up to a multiple of q = 32 * max(2, side / 256) (8 steps at 1024),
 * so only a few canvas shapes (and detector plans) occur across photos. */
static void level_geometry(const fr_image *img, int side, int *rw, int *rh, int *in_w, int *in_h) {
  const int land = img->w >= img->h;
  const int longer = land ? img->w : img->h, shorter = land ? img->h : img->w;
  const int lc = (side + 31) / 32 * 32;
  int q = 32 * (lc / 256 > 2 ? lc / 256 : 2);
  long rs = lroundf((float)shorter * (float)side / (float)longer);
  if (rs < 1) rs = 1;
  int sc = (int)((rs + q - 1) / q * q);
  if (sc > lc) sc = lc;
  *rw = land ? side : (int)rs;
  *rh = land ? (int)rs : side;
  *in_w = land ? lc : sc;
  *in_h = land ? sc : lc;
}

/* fr_detect with the pyramid limited to levels whose side is at most max_side
 * (the engine's detector_max_side when 0) and to the first max_levels levels
 * (0 = all); the last level kept accepts every face size up. */
static fr_status detect_impl(fr_worker *w, const fr_image *img, float min_score, int max_side,
                             int max_levels, fr_face *faces, int max_faces, int *n_faces,
                             fr_error *err) {
  if (n_faces) *n_faces = 0;
  if (!w || !img || !n_faces || (max_faces > 0 && !faces))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect: NULL argument");
  if (!img->px || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect: empty or malformed image (%dx%d)", img->w,
                        img->h);
  if (!(min_score >= 0.0f && min_score <= 1.0f))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "min_score %g is outside [0, 1]", (double)min_score);
  if (max_faces > FR_FACES_MAX) max_faces = FR_FACES_MAX;
  if (max_faces <= 0) return FR_OK;
  const fr_engine *e = w->e;
  const fr__tunables *tun = &e->tun;
  const int longer = img->w > img->h ? img->w : img->h;
  fr_status st = FR_OK;
  size_t nc = 0;
  /* Distinct levels: sides clamped to detector_max_side and to the image (no
   * upsampling: it costs and gained nothing measurable); a level within 0.7x of
   * the previous one is merged into it (on small images the levels collapse);
   * merged levels take the lower size limit of the first and the upper of the last,
   * and the smallest level keeps every size up, the largest every size down. */
  int lv_side[FR__DET_MAX_SCALES];
  float lv_min[FR__DET_MAX_SCALES], lv_max[FR__DET_MAX_SCALES];
  int nl = 0;
  /* Mid-size images: no level sees the image at more than max_scale of its
   * size (the scale the 800-px level has on a 1024-px WIDER photo), but never
   * below max_scale_floor pixels (small images such as LFW's 250x250 keep
   * their single full-size level). */
  int cap = longer;
  if (tun->max_scale > 0) {
    const long c = lroundf((float)longer * tun->max_scale);
    cap = c > tun->max_scale_floor ? (int)c : tun->max_scale_floor;
    if (cap > longer) cap = longer;
  }
  for (int i = 0; i < FR__DET_MAX_SCALES && tun->scale_side[i] > 0; i++) {
    int side = tun->scale_side[i];
    if (side > e->cfg.detector_max_side) side = e->cfg.detector_max_side;
    if (max_side > 0 && side > max_side) side = max_side;
    if (side > cap) side = cap;
    if (nl > 0 && (float)side > 0.7f * (float)lv_side[nl - 1]) { /* too close to the previous level */
      lv_max[nl - 1] = tun->level_max[i];
      continue;
    }
    lv_side[nl] = side;
    lv_min[nl] = tun->level_min[i];
    lv_max[nl] = tun->level_max[i];
    nl++;
  }
  /* min_face: the finest levels exist for faces smaller than the next level can
   * see; when even a min_face face is >= FR__DET_SKIP_PX pixels at the next
   * level, the finer one is skipped (faces under min_face are not reported
   * anyway). Measured on WIDER dev at 640 px, min_face 40: recall of faces >= 40 px
   * at the default threshold 0.873 -> 0.848, detection 3.4x faster (docs/models.md). */
  if (e->cfg.min_face > 0)
    while (nl > 1 && e->cfg.min_face * (float)lv_side[1] / (float)longer >= FR__DET_SKIP_PX) {
      for (int k = 0; k + 1 < nl; k++) {
        lv_side[k] = lv_side[k + 1];
        lv_min[k] = lv_min[k + 1];
        lv_max[k] = lv_max[k + 1];
      }
      nl--;
    }
  if (max_levels > 0 && nl > max_levels) nl = max_levels;
  if (nl > 0) {
    lv_min[0] = 0;
    lv_max[nl - 1] = 0;
  }
  /* the detector's own threshold: rescoring can raise a score from
   * min_score^(1/(1-a-b)) up to min_score (r = o = 1), never one below rnet_from */
  float cand_score = min_score;
  if (tun->verify) {
    const float lo = powf(min_score, 1.0f / (1.0f - tun->rnet_exp - tun->onet_exp));
    const float v = lo > tun->rnet_from ? lo : tun->rnet_from;
    if (v < cand_score) cand_score = v;
  }
  for (int i = 0; i < nl; i++) {
    const int side = lv_side[i];
    int rw, rh, in_w, in_h;
    level_geometry(img, side, &rw, &rh, &in_w, &in_h);
    const size_t before = nc;
    /* Shrinking by 2x or more: box-filter first (integer factor) so the bilinear
     * sampler does not alias. */
    int f = (int)((float)longer / (float)side * 0.75f);
    if (f >= 2 && img->w / f >= 1 && img->h / f >= 1) {
      fr_image small = {img->w / f, img->h / f, 0, NULL};
      small.stride = small.w * 3;
      /* the shrunk image, then the column sums of one output row (kept by the worker) */
      const size_t bytes = (size_t)small.stride * (size_t)small.h;
      const size_t sums = ((size_t)small.w * (size_t)f * 3 + 4) * sizeof(uint32_t);
      if ((st = fr__worker_bytes(w, bytes + sums + 64, err))) return st;
      small.px = w->bytes;
      const double t0 = fr__face_ms();
      fr__box_shrink(img, f, &small, (uint32_t *)(void *)(w->bytes + (bytes + 63) / 64 * 64));
      w->stage_ms[FR__ST_RESIZE] += fr__face_ms() - t0;
      /* boxes come back in `small` pixels: scale them */
      st = detect_raw(w, &small, rw, rh, in_w, in_h, cand_score, &nc, err);
      const float kx = (float)img->w / (float)small.w, ky = (float)img->h / (float)small.h;
      for (size_t c = before; c < nc; c++) {
        w->cand[c].x1 *= kx;
        w->cand[c].x2 *= kx;
        w->cand[c].y1 *= ky;
        w->cand[c].y2 *= ky;
      }
    } else {
      st = detect_raw(w, img, rw, rh, in_w, in_h, cand_score, &nc, err);
    }
    if (st) return st;
    /* keep this level's boxes within its valid size range */
    const float lmin = lv_min[i], lmax = lv_max[i];
    if (lmin > 0 || lmax > 0) {
      const float s = (float)side / (float)longer; /* image -> level input pixels */
      size_t o = before;
      for (size_t c = before; c < nc; c++) {
        const fr__cand *q = &w->cand[c];
        const float sz = fmaxf(q->x2 - q->x1, q->y2 - q->y1) * s;
        if ((lmin > 0 && sz < lmin) || (lmax > 0 && sz > lmax)) continue;
        w->cand[o++] = *q;
      }
      nc = o;
    }
  }
  const double t_nms = fr__face_ms();
  if (nc > 1) qsort(w->cand, nc, sizeof *w->cand, cand_cmp);
  if (nc > FR__DET_MAX_CANDIDATES) nc = FR__DET_MAX_CANDIDATES;

  /* Greedy NMS in score order: each candidate is compared only with the kept
   * boxes that share a cell of a G x G grid over the image with it (overlap
   * implies a shared cell), so crowds at low score thresholds stay cheap.
   * With box voting, each kept box becomes the score-weighted mean of the
   * candidates overlapping it by >= vote_iou. */
  enum { G = 16 };
  int head[G * G];
  for (int c = 0; c < G * G; c++) head[c] = -1;
  size_t nlink = 0;
  const float gx = (float)G / (float)img->w, gy = (float)G / (float)img->h;
  int nk = 0;
  for (size_t i = 0; i < nc && nk < FR_FACES_MAX; i++) {
    const fr__cand *a = &w->cand[i];
    const float area = (a->x2 - a->x1) * (a->y2 - a->y1);
    int cx0 = (int)fmaxf(a->x1 * gx, 0), cx1 = (int)fminf(a->x2 * gx, G - 1);
    int cy0 = (int)fmaxf(a->y1 * gy, 0), cy1 = (int)fminf(a->y2 * gy, G - 1);
    if (cx1 < cx0 || cy1 < cy0) continue; /* entirely outside the image */
    int keep = 1;
    for (int cy = cy0; cy <= cy1 && (keep || tun->box_vote); cy++)
      for (int cx = cx0; cx <= cx1 && (keep || tun->box_vote); cx++)
        for (int l = head[cy * G + cx]; l >= 0; l = w->link[l].next) {
          const int k = w->link[l].kept;
          if (w->kept_seen[k] == (int)i + 1) continue; /* already compared through another cell */
          w->kept_seen[k] = (int)i + 1;
          const fr__cand *b = &w->kept[k];
          const float iw = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
          if (iw <= 0) continue;
          const float ih = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
          if (ih <= 0) continue;
          const float in = iw * ih, o = in / (area + w->kept_area[k] - in);
          if (tun->box_vote && o >= tun->vote_iou) {
            float *v = w->vote[k];
            v[0] += a->x1 * a->score;
            v[1] += a->y1 * a->score;
            v[2] += a->x2 * a->score;
            v[3] += a->y2 * a->score;
            v[4] += a->score;
          }
          if (o > tun->nms_iou) {
            keep = 0;
            if (!tun->box_vote) break;
          }
        }
    if (!keep) continue;
    size_t need = nlink + (size_t)(cx1 - cx0 + 1) * (size_t)(cy1 - cy0 + 1);
    if (need > w->link_cap) {
      size_t cap = need * 2 > 4096 ? need * 2 : 4096;
      fr__link *p = realloc(w->link, cap * sizeof *p);
      if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (NMS grid)");
      w->link = p;
      w->link_cap = cap;
    }
    for (int cy = cy0; cy <= cy1; cy++)
      for (int cx = cx0; cx <= cx1; cx++) {
        w->link[nlink].kept = nk;
        w->link[nlink].next = head[cy * G + cx];
        head[cy * G + cx] = (int)nlink++;
      }
    w->kept[nk] = *a;
    w->kept_area[nk] = area;
    w->kept_seen[nk] = 0;
    float *v = w->vote[nk];
    v[0] = a->x1 * a->score;
    v[1] = a->y1 * a->score;
    v[2] = a->x2 * a->score;
    v[3] = a->y2 * a->score;
    v[4] = a->score;
    nk++;
  }
  int n = 0;
  for (int k = 0; k < nk; k++) {
    fr__cand c = w->kept[k];
    if (tun->box_vote) {
      const float *v = w->vote[k];
      c.x1 = v[0] / v[4];
      c.y1 = v[1] / v[4];
      c.x2 = v[2] / v[4];
      c.y2 = v[3] / v[4];
    }
    float x1 = fmaxf(c.x1, 0), y1 = fmaxf(c.y1, 0);
    float x2 = fminf(c.x2, (float)img->w), y2 = fminf(c.y2, (float)img->h);
    if (!(x2 > x1 && y2 > y1)) continue;
    if (e->cfg.min_face > 0 && fmaxf(x2 - x1, y2 - y1) < e->cfg.min_face) continue;
    fr_face *f = &w->out[n++];
    memset(f, 0, sizeof *f);
    f->x = x1;
    f->y = y1;
    f->w = x2 - x1;
    f->h = y2 - y1;
    f->score = c.score;
  }
  const double t_verify = fr__face_ms();
  w->stage_ms[FR__ST_NMS] += t_verify - t_nms;
  const float a = tun->rnet_exp, b = tun->onet_exp, c = 1.0f - a - b;
  int m = 0;
  for (int i = 0; i < n; i++) {
    fr_face *f = &w->out[i];
    const float s = f->score;
    /* rescoring (face_internal.h): s^(1-a-b) r^a o^b from rnet_from up; a face
     * whose bound s^(1-a-b) (r = o = 1) is below min_score is dropped unseen */
    if (tun->verify && s >= tun->rnet_from) {
      const float sc = powf(s, c);
      if (sc < min_score) continue;
      float r, o;
      if ((st = fr__rnet(w, img, f, &r, err))) return st;
      o = r = fmaxf(r, 1e-6f);
      if (b > 0 && s >= tun->onet_from && fmaxf(f->w, f->h) >= tun->verify_min_side) {
        if ((st = fr__onet(w, img, f, 0, &o, err))) return st;
        o = fmaxf(o, 1e-6f);
      }
      f->score = sc * powf(r, a) * powf(o, b);
    }
    if (fmaxf(f->w, f->h) < tun->tiny_side) f->score *= tun->tiny_factor;
    if (f->score >= min_score) w->out[m++] = *f;
  }
  n = m;
  /* re-sort by the new scores (insertion sort: n is small and nearly sorted) */
  for (int i = 1; i < n; i++) {
    fr_face t = w->out[i];
    int j = i - 1;
    while (j >= 0 && w->out[j].score < t.score) {
      w->out[j + 1] = w->out[j];
      j--;
    }
    w->out[j + 1] = t;
  }
  if (n > max_faces) n = max_faces;
  memcpy(faces, w->out, (size_t)n * sizeof *faces);
  const double t_lmk = fr__face_ms();
  w->stage_ms[FR__ST_VERIFY] += t_lmk - t_verify;
  st = fr__landmarks(w, img, faces, n, err);
  w->stage_ms[FR__ST_LANDMARKS] += fr__face_ms() - t_lmk;
  if (st) return st;
  *n_faces = n;
  return FR_OK;
}

static int cmp_largest_first(const void *a, const void *b) {
  const fr_face *x = a, *y = b;
  const float ax = x->w * x->h, ay = y->w * y->h;
  if (ax != ay) return ax < ay ? 1 : -1;
  return (x->score < y->score) - (x->score > y->score);
}

void fr_faces_sort_largest_first(fr_face *faces, int n) {
  if (faces && n > 1) qsort(faces, (size_t)n, sizeof *faces, cmp_largest_first);
}

fr_status fr_detect(fr_worker *w, const fr_image *img, float min_score, fr_face *faces,
                    int max_faces, int *n_faces, fr_error *err) {
  return detect_impl(w, img, min_score, 0, 0, faces, max_faces, n_faces, err);
}

fr_status fr_detect_ex(fr_worker *w, const fr_image *img, const fr_detect_options *o,
                       fr_face *faces, int max_faces, int *n_faces, fr_error *err) {
  if (!o) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect_ex: NULL options");
  if (o->max_side < 0 || o->max_levels < 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect_ex: negative max_side or max_levels");
  return detect_impl(w, img, o->min_score, o->max_side, o->max_levels, faces, max_faces, n_faces,
                     err);
}
