/*
 * The detector's pyramid kernels and the inline bilinear sampler against
 * naive per-pixel versions (the loops they replaced), bit for bit, on random
 * images of awkward sizes (odd widths, padded rows, up- and downscaling,
 * identity, every box factor up to past the 16-bit fast path's limit), with
 * the canvas pre-filled with NaN so a value not written shows.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/face_internal.h"
#include "testutil.h"

static uint32_t g_rng = 12345u;
static uint32_t rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}

/* w x h RGB8 with `pad` extra bytes per row, random content. */
static fr_image random_image(int w, int h, int pad) {
  fr_image img = {w, h, 3 * w + pad, NULL};
  img.px = malloc((size_t)img.stride * (size_t)h);
  for (size_t i = 0; i < (size_t)img.stride * (size_t)h; i++) img.px[i] = (uint8_t)rnd();
  return img;
}

/* The NCHW loop fr__canvas_fill replaced, writing NHWC. */
static void naive_fill(const fr_image *img, int rw, int rh, int in_w, int in_h, float *dst) {
  const float sx = (float)img->w / (float)rw, sy = (float)img->h / (float)rh;
  for (int y = 0; y < in_h; y++)
    for (int x = 0; x < in_w; x++) {
      float *o = dst + ((size_t)y * (size_t)in_w + (size_t)x) * 3;
      if (y >= rh || x >= rw) {
        o[0] = o[1] = o[2] = 0;
        continue;
      }
      float fx = ((float)x + 0.5f) * sx - 0.5f, fy = ((float)y + 0.5f) * sy - 0.5f;
      if (fx < 0) fx = 0;
      if (fy < 0) fy = 0;
      int x0 = (int)fx, y0 = (int)fy;
      if (x0 > img->w - 1) x0 = img->w - 1;
      if (y0 > img->h - 1) y0 = img->h - 1;
      int x1 = x0 + 1 <= img->w - 1 ? x0 + 1 : img->w - 1, y1 = y0 + 1 < img->h ? y0 + 1 : img->h - 1;
      float wx = fx - (float)x0, wy = fy - (float)y0;
      const uint8_t *r0 = img->px + (size_t)y0 * (size_t)img->stride;
      const uint8_t *r1 = img->px + (size_t)y1 * (size_t)img->stride;
      const uint8_t *p00 = r0 + 3 * x0, *p01 = r0 + 3 * x1, *p10 = r1 + 3 * x0, *p11 = r1 + 3 * x1;
      float w00 = (1 - wy) * (1 - wx), w01 = (1 - wy) * wx, w10 = wy * (1 - wx), w11 = wy * wx;
      for (int c = 0; c < 3; c++)
        o[c] = (w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c] - 127.0f) * (1.0f / 128.0f);
    }
}

TEST(canvas_fill_matches_naive) {
  /* {image w, h, row padding, rw, rh, canvas w, h} */
  static const int cases[][7] = {
      {640, 480, 0, 640, 480, 640, 512},  /* scale 1 (level 0 of a 640x480 photo) */
      {641, 479, 5, 641, 479, 672, 480},  /* scale 1, odd sizes, padded rows */
      {640, 480, 0, 400, 300, 416, 320},  /* downscale 1.6 */
      {1920, 1280, 0, 800, 533, 800, 544}, /* downscale 2.4 */
      {333, 251, 7, 200, 151, 224, 192},
      {250, 250, 0, 251, 251, 256, 256},  /* upscale by a hair */
      {37, 23, 1, 121, 75, 128, 96},      /* upscale 3.3: source rows repeat */
      {5, 3, 0, 1, 1, 8, 8},              /* tiny */
      {1, 1, 0, 7, 3, 8, 8},              /* one pixel */
      {3, 300, 2, 1, 100, 32, 128},       /* narrow portrait */
      {300, 3, 0, 100, 1, 128, 32},       /* narrow landscape */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int *c = cases[k];
    fr_image img = random_image(c[0], c[1], c[2]);
    const size_t n = (size_t)c[5] * (size_t)c[6] * 3;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    float *scratch = malloc(fr__canvas_scratch(c[3]) * sizeof *scratch);
    for (size_t i = 0; i < n; i++) a[i] = NAN;
    naive_fill(&img, c[3], c[4], c[5], c[6], b);
    fr__canvas_fill(&img, c[3], c[4], c[5], c[6], a, scratch);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
      if (memcmp(&a[i], &b[i], sizeof *a) != 0 && !bad++) first = i;
    CHECK_MSG(bad == 0, "%dx%d -> %dx%d in %dx%d: %zu values differ, first at %zu (%g vs %g)", c[0], c[1],
              c[3], c[4], c[5], c[6], bad, first, (double)a[first], (double)b[first]);
    free(a);
    free(b);
    free(scratch);
    free(img.px);
  }
}

TEST(box_shrink_matches_naive) {
  static const int cases[][4] = {/* w, h, pad, f */
                                 {640, 480, 0, 2}, {1920, 1280, 0, 3}, {1920, 1280, 3, 7},
                                 {101, 77, 1, 5},  {64, 48, 0, 16},    {70, 50, 2, 17},
                                 {200, 90, 0, 20}, {5, 5, 0, 2},       {47, 33, 0, 3}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int *c = cases[k], f = c[3];
    fr_image img = random_image(c[0], c[1], c[2]);
    if (k == 0) memset(img.px, 255, (size_t)img.stride * (size_t)img.h); /* the largest sums */
    fr_image dst = {c[0] / f, c[1] / f, 0, NULL};
    dst.stride = 3 * dst.w;
    dst.px = malloc((size_t)dst.stride * (size_t)dst.h);
    uint32_t *colsum = malloc(((size_t)dst.w * (size_t)f * 3 + 4) * sizeof *colsum);
    fr__box_shrink(&img, f, &dst, colsum);
    const float inv = 1.0f / (float)(f * f);
    size_t bad = 0;
    for (int y = 0; y < dst.h; y++)
      for (int x = 0; x < dst.w; x++)
        for (int ch = 0; ch < 3; ch++) {
          unsigned s = 0;
          for (int dy = 0; dy < f; dy++)
            for (int dx = 0; dx < f; dx++)
              s += img.px[(size_t)(y * f + dy) * (size_t)img.stride + 3 * (size_t)(x * f + dx) + (size_t)ch];
          const uint8_t got = dst.px[(size_t)y * (size_t)dst.stride + 3 * (size_t)x + (size_t)ch];
          bad += got != (uint8_t)(s * inv + 0.5f);
        }
    CHECK_MSG(bad == 0, "%dx%d f=%d: %zu values differ", c[0], c[1], f, bad);
    free(colsum);
    free(dst.px);
    free(img.px);
  }
}

TEST(sample_rgb_fast_matches_generic) {
  fr_image img = random_image(61, 43, 4);
  size_t bad = 0;
  for (int i = 0; i < 20000; i++) {
    /* points inside, on the last row / column, and outside */
    float x = (float)(rnd() % 70000) / 1000.0f - 3.0f, y = (float)(rnd() % 50000) / 1000.0f - 3.0f;
    if (i % 7 == 0) x = (float)(img.w - 1);
    if (i % 11 == 0) y = (float)(img.h - 1) - 1e-3f;
    float a[3], b[3];
    fr__sample_rgb_fast(&img, x, y, a);
    fr__sample_rgb(&img, x, y, b);
    bad += memcmp(a, b, sizeof a) != 0;
  }
  CHECK_MSG(bad == 0, "%zu samples differ", bad);
  free(img.px);
}

RUN_TESTS(T(canvas_fill_matches_naive), T(box_shrink_matches_naive), T(sample_rgb_fast_matches_generic))
