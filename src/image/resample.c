/*
 * Resampling: region resize (separable: bilinear, or area averaging when an
 * axis shrinks by more than 2x) and affine warps (bilinear, black outside).
 *
 * Coordinates: pixel i covers [i, i+1) and its centre is at i + 0.5 in
 * "area" coordinates; the warp's matrix works in "centre" coordinates where
 * pixel i's centre is at i (as in OpenCV's warpAffine).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

/* Largest output side and pixel count the resamplers produce. */
#define FR__MAX_OUT_SIDE 65536
#define FR__MAX_OUT_PIXELS ((uint64_t)1 << 28)

/* Taps of one axis: output i reads n[i] consecutive source indices starting at
 * start[i], with weights wt[off[i] ...]. Indices are clamped to the image, so
 * pixels outside the image take the nearest edge. */
typedef struct {
  int *start, *n, *off;
  float *wt;
  int lo, hi; /* union of source indices read: [lo, hi) */
} taps;

static void taps_free(taps *t) {
  free(t->start);
  free(t->n);
  free(t->off);
  free(t->wt);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Region [x0, x0+len) of a source axis of size size, to out outputs. */
static int taps_build(taps *t, int x0, int len, int out, int size) {
  memset(t, 0, sizeof *t);
  double s = (double)len / out;
  int area = s > 2.0;
  int maxn = area ? (int)ceil(s) + 2 : 2;
  t->start = malloc(sizeof(int) * (size_t)out);
  t->n = malloc(sizeof(int) * (size_t)out);
  t->off = malloc(sizeof(int) * (size_t)out);
  t->wt = malloc(sizeof(float) * (size_t)out * (size_t)maxn);
  if (!t->start || !t->n || !t->off || !t->wt) return 0;
  t->lo = size;
  t->hi = 0;
  int pos = 0;
  for (int i = 0; i < out; i++) {
    float *w = t->wt + pos;
    int first, cnt = 0;
    if (area) {
      double a = x0 + i * s, b = x0 + (i + 1) * s;
      int ia = (int)floor(a), ib = (int)ceil(b);
      first = clampi(ia, 0, size - 1);
      for (int k = ia; k < ib; k++) {
        double lo = k > a ? k : a, hi = k + 1 < b ? k + 1 : b;
        double wk = (hi - lo) / s;
        if (wk <= 0) continue;
        int idx = clampi(k, 0, size - 1) - first;
        while (cnt <= idx) w[cnt++] = 0.f;
        w[idx] += (float)wk;
      }
    } else {
      double c = x0 + (i + 0.5) * s - 0.5;
      int i0 = (int)floor(c);
      float f = (float)(c - i0);
      int a = clampi(i0, 0, size - 1), b = clampi(i0 + 1, 0, size - 1);
      first = a;
      w[cnt++] = 1.f - f;
      if (b != a) {
        if (f > 0) w[cnt++] = f;
      } else {
        w[0] = 1.f;
      }
    }
    if (cnt == 0) w[cnt++] = 1.f; /* cannot happen for len > 0; keeps the table valid */
    t->start[i] = first;
    t->n[i] = cnt;
    t->off[i] = pos;
    pos += cnt;
    if (first < t->lo) t->lo = first;
    if (first + cnt > t->hi) t->hi = first + cnt;
  }
  return 1;
}

static inline uint8_t to_u8(float v) {
  v += 0.5f;
  return v <= 0.f ? 0 : v >= 255.f ? 255 : (uint8_t)v;
}

static int image_valid(const fr_image *img) {
  return img && img->px && img->w > 0 && img->h > 0 && img->stride >= 3 * img->w;
}

static fr_status check_out(int ow, int oh, const char *fn, fr_error *err) {
  if (ow <= 0 || oh <= 0 || ow > FR__MAX_OUT_SIDE || oh > FR__MAX_OUT_SIDE ||
      (uint64_t)ow * (uint64_t)oh > FR__MAX_OUT_PIXELS)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: invalid output size %dx%d", fn, ow, oh);
  return FR_OK;
}

fr_status fr_image_resize(const fr_image *src, int x, int y, int w, int h, int out_w, int out_h,
                          fr_image *dst, fr_error *err) {
  if (!image_valid(src) || !dst) return fr_error_set(err, FR_ERR_INVALID_ARG, "resize: empty image");
  fr_status st = check_out(out_w, out_h, "resize", err);
  if (st) return st;
  if (w <= 0 || h <= 0 || w > FR__MAX_OUT_SIDE * 4 || h > FR__MAX_OUT_SIDE * 4 ||
      x < -FR__MAX_OUT_SIDE * 4 || x > FR__MAX_OUT_SIDE * 4 || y < -FR__MAX_OUT_SIDE * 4 ||
      y > FR__MAX_OUT_SIDE * 4)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "resize: invalid region %d,%d %dx%d", x, y, w, h);
  taps tx, ty;
  int okx = taps_build(&tx, x, w, out_w, src->w), oky = taps_build(&ty, y, h, out_h, src->h);
  fr_image t = {0};
  float *acc = NULL;
  if (!okx || !oky) goto nomem;
  st = fr_image_alloc(&t, out_w, out_h, err);
  if (st) {
    taps_free(&tx);
    taps_free(&ty);
    return st;
  }
  /* Vertical pass into a float row over the source columns the horizontal taps read. */
  const int c0 = tx.lo, span = (tx.hi - tx.lo) * 3;
  acc = malloc(sizeof(float) * (size_t)span + 16);
  if (!acc) goto nomem;
  for (int v = 0; v < out_h; v++) {
    const float *wv = ty.wt + ty.off[v];
    const int nv = ty.n[v];
    const uint8_t *r0 = src->px + (size_t)ty.start[v] * src->stride + (size_t)c0 * 3;
    {
      const float w0 = wv[0];
      for (int i = 0; i < span; i++) acc[i] = w0 * r0[i];
    }
    for (int k = 1; k < nv; k++) {
      const uint8_t *r = r0 + (size_t)k * src->stride;
      const float wk = wv[k];
      for (int i = 0; i < span; i++) acc[i] += wk * r[i];
    }
    uint8_t *o = t.px + (size_t)v * t.stride;
    for (int u = 0; u < out_w; u++, o += 3) {
      const float *wu = tx.wt + tx.off[u];
      const float *a = acc + (size_t)(tx.start[u] - c0) * 3;
      float r = 0.f, g = 0.f, b = 0.f;
      for (int k = 0; k < tx.n[u]; k++, a += 3) {
        r += wu[k] * a[0];
        g += wu[k] * a[1];
        b += wu[k] * a[2];
      }
      o[0] = to_u8(r);
      o[1] = to_u8(g);
      o[2] = to_u8(b);
    }
  }
  free(acc);
  taps_free(&tx);
  taps_free(&ty);
  *dst = t;
  return FR_OK;
nomem:
  free(acc);
  fr_image_free(&t);
  taps_free(&tx);
  taps_free(&ty);
  return fr_error_set(err, FR_ERR_NOMEM, "resize: out of memory");
}

fr_status fr_image_warp_affine(const fr_image *src, const float m[6], int out_w, int out_h,
                               fr_image *dst, fr_error *err) {
  if (!image_valid(src) || !dst || !m)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "warp: empty image or matrix");
  fr_status st = check_out(out_w, out_h, "warp", err);
  if (st) return st;
  for (int i = 0; i < 6; i++)
    if (!isfinite(m[i])) return fr_error_set(err, FR_ERR_INVALID_ARG, "warp: matrix is not finite");
  fr_image t;
  st = fr_image_alloc(&t, out_w, out_h, err);
  if (st) return st;
  const int W = src->w, H = src->h;
  const size_t S = (size_t)src->stride;
  const double m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];
  for (int v = 0; v < out_h; v++) {
    uint8_t *o = t.px + (size_t)v * t.stride;
    const double bx = m1 * v + m2, by = m4 * v + m5;
    for (int u = 0; u < out_w; u++, o += 3) {
      const double sx = m0 * u + bx, sy = m3 * u + by;
      /* Entirely outside (including NaN-free huge values): black. */
      if (!(sx > -1.0 && sy > -1.0 && sx < W && sy < H)) {
        o[0] = o[1] = o[2] = 0;
        continue;
      }
      const int x0 = (int)floor(sx), y0 = (int)floor(sy);
      const float fx = (float)(sx - x0), fy = (float)(sy - y0);
      const float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
      float r, g, b;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const uint8_t *p = src->px + (size_t)y0 * S + (size_t)x0 * 3, *q = p + S;
        r = w00 * p[0] + w01 * p[3] + w10 * q[0] + w11 * q[3];
        g = w00 * p[1] + w01 * p[4] + w10 * q[1] + w11 * q[4];
        b = w00 * p[2] + w01 * p[5] + w10 * q[2] + w11 * q[5];
      } else { /* border: neighbours outside the image count as black */
        r = g = b = 0.f;
        const float wts[4] = {w00, w01, w10, w11};
        for (int k = 0; k < 4; k++) {
          int xx = x0 + (k & 1), yy = y0 + (k >> 1);
          if (xx < 0 || yy < 0 || xx >= W || yy >= H || wts[k] == 0.f) continue;
          const uint8_t *p = src->px + (size_t)yy * S + (size_t)xx * 3;
          r += wts[k] * p[0];
          g += wts[k] * p[1];
          b += wts[k] * p[2];
        }
      }
      o[0] = to_u8(r);
      o[1] = to_u8(g);
      o[2] = to_u8(b);
    }
  }
  *dst = t;
  return FR_OK;
}
