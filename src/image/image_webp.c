/*
 * WebP decoding with libwebp: lossy, lossless, with alpha (composited over
 * white) and animated files (first frame, placed on its canvas). The RIFF
 * container is walked by hand, every chunk bounds-checked, to find the EXIF
 * chunk and the first ANMF frame; sizes are checked against the limits
 * (WebPGetFeatures) before pixels are allocated.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "image/image_internal.h"

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t le24(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }

static const char *vp8_status_str(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated file (not enough data)";
    default: return "decoding failed";
  }
}

static fr_status vp8_fail(VP8StatusCode s, const char *what, fr_error *err) {
  fr_status st = s == VP8_STATUS_OUT_OF_MEMORY ? FR_ERR_NOMEM
                 : s == VP8_STATUS_UNSUPPORTED_FEATURE ? FR_ERR_UNSUPPORTED
                                                       : FR_ERR_FORMAT;
  return fr_error_set(err, st, "webp: %s: %s", what, vp8_status_str(s));
}

/* Finds the first top-level chunk with this fourcc; 1 and its payload if found. */
static int find_chunk(const uint8_t *d, size_t len, const char *cc, const uint8_t **pl, size_t *pn) {
  if (len < 12) return 0;
  size_t end = (size_t)le32(d + 4);
  end = end > len - 8 ? len : end + 8;
  size_t off = 12;
  while (off + 8 <= end) {
    size_t n = le32(d + off + 4);
    if (n > end - off - 8) return 0; /* chunk runs past the file */
    if (memcmp(d + off, cc, 4) == 0) {
      *pl = d + off + 8;
      *pn = n;
      return 1;
    }
    off += 8 + n + (n & 1);
  }
  return 0;
}

/* Decodes a (single-frame) bitstream into an RGB image of exactly w x h. */
static fr_status decode_frame(const uint8_t *d, size_t n, int w, int h, int alpha, fr_image *out,
                              fr_error *err) {
  WebPDecoderConfig cfg;
  if (!WebPInitDecoderConfig(&cfg)) return fr_error_set(err, FR_ERR_INTERNAL, "webp: ABI mismatch");
  fr_status st = fr_image_alloc(out, w, h, err);
  if (st) return st;
  uint8_t *rgba = NULL;
  size_t rgba_n = (size_t)w * h * 4;
  cfg.output.is_external_memory = 1;
  if (alpha) {
    rgba = malloc(rgba_n);
    if (!rgba) {
      fr_image_free(out);
      return fr_error_set(err, FR_ERR_NOMEM, "webp: out of memory");
    }
    cfg.output.colorspace = MODE_RGBA;
    cfg.output.u.RGBA.rgba = rgba;
    cfg.output.u.RGBA.stride = w * 4;
    cfg.output.u.RGBA.size = rgba_n;
  } else {
    cfg.output.colorspace = MODE_RGB;
    cfg.output.u.RGBA.rgba = out->px;
    cfg.output.u.RGBA.stride = out->stride;
    cfg.output.u.RGBA.size = (size_t)out->stride * h;
  }
  VP8StatusCode s = WebPDecode(d, n, &cfg);
  WebPFreeDecBuffer(&cfg.output);
  if (s == VP8_STATUS_OK && (cfg.input.width != w || cfg.input.height != h))
    s = VP8_STATUS_BITSTREAM_ERROR;
  if (s != VP8_STATUS_OK) {
    free(rgba);
    fr_image_free(out);
    return vp8_fail(s, "image data", err);
  }
  if (alpha) {
    fr__rgba_over_white(rgba, out->px, (size_t)w * h);
    free(rgba);
  }
  return FR_OK;
}

/* First frame of an animation, on a white canvas of the declared size. */
static fr_status decode_first_frame(const uint8_t *data, size_t len, int cw, int ch,
                                    const fr_image_limits *lim, fr_image *out, fr_error *err) {
  const uint8_t *pl;
  size_t pn;
  if (!find_chunk(data, len, "ANMF", &pl, &pn) || pn < 16 + 8)
    return fr_error_set(err, FR_ERR_FORMAT, "webp: animation without a readable first frame");
  int fx = 2 * (int)le24(pl), fy = 2 * (int)le24(pl + 3);
  int fw = (int)le24(pl + 6) + 1, fh = (int)le24(pl + 9) + 1;
  fr_status st = fr__image_check_dims(fw, fh, lim, "webp frame", err);
  if (st) return st;
  WebPBitstreamFeatures f;
  VP8StatusCode s = WebPGetFeatures(pl + 16, pn - 16, &f);
  if (s != VP8_STATUS_OK) return vp8_fail(s, "first frame header", err);
  if (f.width != fw || f.height != fh)
    return fr_error_set(err, FR_ERR_FORMAT, "webp: first frame is %dx%d, declared %dx%d", f.width,
                        f.height, fw, fh);
  fr_image frame = {0};
  st = decode_frame(pl + 16, pn - 16, fw, fh, f.has_alpha, &frame, err);
  if (st) return st;
  st = fr_image_alloc(out, cw, ch, err);
  if (st) {
    fr_image_free(&frame);
    return st;
  }
  memset(out->px, 255, (size_t)out->stride * ch);
  for (int y = 0; y < fh && fy + y < ch; y++) {
    int n = fw < cw - fx ? fw : cw - fx;
    if (n > 0)
      memcpy(out->px + (size_t)(fy + y) * out->stride + (size_t)fx * 3,
             frame.px + (size_t)y * frame.stride, (size_t)n * 3);
  }
  fr_image_free(&frame);
  return FR_OK;
}

fr_status fr__decode_webp(const uint8_t *data, size_t len, const fr_image_limits *lim,
                          fr_image *out, int *orientation, fr_error *err) {
  WebPBitstreamFeatures f;
  VP8StatusCode s = WebPGetFeatures(data, len, &f);
  if (s != VP8_STATUS_OK) return vp8_fail(s, "header", err);
  fr_status st = fr__image_check_dims(f.width, f.height, lim, "webp", err);
  if (st) return st;
  const uint8_t *pl;
  size_t pn;
  if (find_chunk(data, len, "EXIF", &pl, &pn)) *orientation = fr__exif_orientation(pl, pn);
  if (f.has_animation) return decode_first_frame(data, len, f.width, f.height, lim, out, err);
  return decode_frame(data, len, f.width, f.height, f.has_alpha, out, err);
}
