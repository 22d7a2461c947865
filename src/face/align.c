/*
 * Alignment: least-squares similarity transform (rotation + uniform scale +
 * translation, no reflection; Umeyama's solution, in closed form for 2-D) of
 * the 5 landmarks onto the 112x112 ArcFace template, then a bilinear warp.
 */
#include <math.h>
#include <string.h>

#include "face/face_internal.h"

static const float k_template[5][2] = {{38.2946f, 51.6963f},
                                       {73.5318f, 51.5014f},
                                       {56.0252f, 71.7366f},
                                       {41.5493f, 92.3655f},
                                       {70.7299f, 92.2041f}};

/* Returns m mapping template (aligned) pixels to image pixels. The transform is
 * fitted from the landmarks to the template (errors measured in template
 * pixels, as insightface does) and inverted. Degenerate landmarks (all in one
 * point, or non-finite) fall back to the box. */
void fr_face_align_matrix(const fr_face *f, float m[6]) {
  double ma[2] = {0, 0}, mb[2] = {0, 0};
  int finite = 1;
  for (int i = 0; i < 5; i++) {
    finite &= isfinite(f->landmarks[i][0]) && isfinite(f->landmarks[i][1]);
    ma[0] += f->landmarks[i][0] / 5.0;
    ma[1] += f->landmarks[i][1] / 5.0;
    mb[0] += k_template[i][0] / 5.0;
    mb[1] += k_template[i][1] / 5.0;
  }
  double re = 0, im = 0, den = 0;
  for (int i = 0; finite && i < 5; i++) {
    double ax = f->landmarks[i][0] - ma[0], ay = f->landmarks[i][1] - ma[1];
    double bx = k_template[i][0] - mb[0], by = k_template[i][1] - mb[1];
    re += ax * bx + ay * by;
    im += ax * by - ay * bx;
    den += ax * ax + ay * ay;
  }
  double p, q; /* forward (image -> template): [p -q; q p] */
  if (!finite || den < 1e-9 || re * re + im * im < 1e-18) {
    /* box fallback: the template's extent (about 32..80 px) over the box */
    double s = (f->w > 0 ? f->w : 1) / 112.0 * 1.0;
    m[0] = (float)s, m[1] = 0, m[2] = f->x;
    m[3] = 0, m[4] = (float)s, m[5] = f->y;
    return;
  }
  p = re / den;
  q = im / den;
  /* inverse: image = M^-1 (template - t), M^-1 = [p q; -q p] / (p^2 + q^2) */
  double n = p * p + q * q;
  double a = p / n, b = q / n, c = -q / n, d = p / n;
  /* image = ma + M^-1 (template - mb) */
  m[0] = (float)a;
  m[1] = (float)b;
  m[2] = (float)(ma[0] - a * mb[0] - b * mb[1]);
  m[3] = (float)c;
  m[4] = (float)d;
  m[5] = (float)(ma[1] - c * mb[0] - d * mb[1]);
}

void fr__warp(const fr_image *img, const float m[6], uint8_t *dst, int w, int h) {
  for (int v = 0; v < h; v++) {
    for (int u = 0; u < w; u++) {
      float px[3];
      fr__sample_rgb_fast(img, m[0] * (float)u + m[1] * (float)v + m[2],
                          m[3] * (float)u + m[4] * (float)v + m[5], px);
      uint8_t *o = dst + ((size_t)v * (size_t)w + (size_t)u) * 3;
      for (int c = 0; c < 3; c++) {
        float x = px[c] + 0.5f;
        o[c] = (uint8_t)(x < 0 ? 0 : (x > 255 ? 255 : x));
      }
    }
  }
}

fr_status fr_face_align(const fr_image *img, const fr_face *f, fr_image *aligned, fr_error *err) {
  if (!img || !f || !aligned) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_face_align: NULL argument");
  if (!img->px || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_face_align: empty or malformed image");
  float m[6];
  fr_face_align_matrix(f, m);
  fr_image out = {0};
  fr_status st = fr_image_alloc(&out, 112, 112, err);
  if (st) return st;
  uint8_t tmp[112 * 112 * 3];
  fr__warp(img, m, tmp, 112, 112);
  for (int y = 0; y < 112; y++) memcpy(out.px + (size_t)y * (size_t)out.stride, tmp + (size_t)y * 336, 336);
  fr_image_free(aligned);
  *aligned = out;
  return FR_OK;
}
