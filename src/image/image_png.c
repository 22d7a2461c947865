/*
 * PNG decoding with libspng: 1/2/4/8/16-bit grey, grey+alpha, RGB, RGBA and
 * palette images (tRNS applied), interlaced or not. libspng converts to 8-bit;
 * alpha is composited over white; gAMA is ignored (pixels as stored). The IHDR
 * size is checked against our limits (and handed to libspng as its own image
 * limits) before any pixel memory is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include <spng.h>

#include "image/image_internal.h"

/* Memory libspng may keep for ancillary chunks (text, ICC, EXIF...). */
#define FR__PNG_CHUNK_CACHE ((size_t)8 << 20)

static fr_status spng_fail(spng_ctx *ctx, int rc, const char *what, fr_error *err) {
  spng_ctx_free(ctx);
  fr_status st = FR_ERR_FORMAT;
  if (rc == SPNG_EMEM) st = FR_ERR_NOMEM;
  if (rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT || rc == SPNG_ECHUNK_LIMITS)
    st = FR_ERR_TOO_LARGE;
  const char *why = rc == SPNG_EOF ? "truncated file (unexpected end of data)" : spng_strerror(rc);
  return fr_error_set(err, st, "png: %s: %s", what, why);
}

fr_status fr__decode_png(const uint8_t *data, size_t len, const fr_image_limits *lim,
                         fr_image *out, int *orientation, fr_error *err) {
  spng_ctx *ctx = spng_ctx_new(0);
  if (!ctx) return fr_error_set(err, FR_ERR_NOMEM, "png: out of memory");
  int rc;
  uint32_t side = (uint32_t)lim->max_side;
  if ((rc = spng_set_image_limits(ctx, side, side)) ||
      (rc = spng_set_chunk_limits(ctx, len, FR__PNG_CHUNK_CACHE)) ||
      (rc = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD)) ||
      (rc = spng_set_png_buffer(ctx, data, len)))
    return spng_fail(ctx, rc, "setup", err);
  struct spng_ihdr ih;
  if ((rc = spng_get_ihdr(ctx, &ih))) {
    if (rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT) {
      /* libspng refused it against the side limit before we saw the size:
       * read the declared size ourselves for the message. */
      if (len >= 24) {
        uint32_t w = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 | data[23];
        spng_ctx_free(ctx);
        fr_status st = fr__image_check_dims(w, h, lim, "png", err);
        if (st) return st;
        return fr_error_set(err, FR_ERR_TOO_LARGE, "png: image over the size limit");
      }
    }
    return spng_fail(ctx, rc, "header", err);
  }
  fr_status st = fr__image_check_dims(ih.width, ih.height, lim, "png", err);
  if (st) {
    spng_ctx_free(ctx);
    return st;
  }
  /* Decode straight into RGB8 when there is no transparency to composite. */
  struct spng_trns trns;
  int has_trns = spng_get_trns(ctx, &trns) == 0;
  int alpha = ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
              ih.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA || has_trns;
  int fmt = alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
  size_t need = 0;
  if ((rc = spng_decoded_image_size(ctx, fmt, &need))) return spng_fail(ctx, rc, "size", err);
  st = fr_image_alloc(out, (int)ih.width, (int)ih.height, err);
  if (st) {
    spng_ctx_free(ctx);
    return st;
  }
  size_t rgb = (size_t)out->stride * out->h;
  uint8_t *buf = out->px;
  if (alpha) {
    buf = malloc(need);
    if (!buf) {
      spng_ctx_free(ctx);
      fr_image_free(out);
      return fr_error_set(err, FR_ERR_NOMEM, "png: out of memory");
    }
  } else if (need != rgb) {
    spng_ctx_free(ctx);
    fr_image_free(out);
    return fr_error_set(err, FR_ERR_INTERNAL, "png: unexpected decoded size");
  }
  rc = spng_decode_image(ctx, buf, need, fmt, SPNG_DECODE_TRNS);
  if (rc) {
    if (buf != out->px) free(buf);
    fr_image_free(out);
    return spng_fail(ctx, rc, "image data", err);
  }
  if (alpha) {
    fr__rgba_over_white(buf, out->px, (size_t)out->w * out->h);
    free(buf);
  }
  struct spng_exif ex;
  if (spng_get_exif(ctx, &ex) == 0 && ex.data)
    *orientation = fr__exif_orientation((const uint8_t *)ex.data, ex.length);
  spng_ctx_free(ctx);
  return FR_OK;
}
