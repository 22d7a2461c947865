/*
 * Drawing for annotated output: rectangle outlines and text labels.
 *
 * Text uses FreeType with DejaVu Sans (Debian's fonts-dejavu-core; FR_FONT in
 * the environment names another TrueType/OpenType file). The face is loaded
 * once per process (pthread_once) and kept for its lifetime; an FT_Face is not
 * thread-safe, so rendering holds a mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "image/image_internal.h"

#define FR__FONT_DEFAULT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define FR__LABEL_MAX_BYTES 4096

static pthread_once_t font_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t font_mu = PTHREAD_MUTEX_INITIALIZER;
static FT_Library font_lib;
static FT_Face font_face; /* NULL when no font could be loaded */
static char font_msg[256];

static void font_init(void) {
  const char *path = getenv("FR_FONT");
  if (!path || !*path) path = FR__FONT_DEFAULT;
  if (FT_Init_FreeType(&font_lib)) {
    snprintf(font_msg, sizeof font_msg, "FreeType initialization failed");
    return;
  }
  if (FT_New_Face(font_lib, path, 0, &font_face)) {
    font_face = NULL;
    snprintf(font_msg, sizeof font_msg, "cannot load font %s (install fonts-dejavu-core)", path);
  }
}

static int image_ok(const fr_image *img) {
  return img && img->px && img->w > 0 && img->h > 0 && img->stride >= 3 * img->w;
}

/* Fills [x0, x1) x [y0, y1) clipped to the image. */
static void fill(fr_image *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t c[3]) {
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > img->w) x1 = img->w;
  if (y1 > img->h) y1 = img->h;
  if (x0 >= x1 || y0 >= y1) return;
  for (int64_t y = y0; y < y1; y++) {
    uint8_t *p = img->px + (size_t)y * img->stride + (size_t)x0 * 3;
    for (int64_t x = x0; x < x1; x++, p += 3) {
      p[0] = c[0];
      p[1] = c[1];
      p[2] = c[2];
    }
  }
}

void fr_image_draw_rect(fr_image *img, int x, int y, int w, int h, const uint8_t rgb[3],
                        int thickness) {
  if (!image_ok(img) || !rgb || w <= 0 || h <= 0) return;
  int64_t t = thickness < 1 ? 1 : thickness;
  int64_t x0 = x, y0 = y, x1 = (int64_t)x + w, y1 = (int64_t)y + h;
  if (2 * t >= w || 2 * t >= h) { /* the outline covers the box */
    fill(img, x0, y0, x1, y1, rgb);
    return;
  }
  fill(img, x0, y0, x1, y0 + t, rgb);          /* top */
  fill(img, x0, y1 - t, x1, y1, rgb);          /* bottom */
  fill(img, x0, y0 + t, x0 + t, y1 - t, rgb);  /* left */
  fill(img, x1 - t, y0 + t, x1, y1 - t, rgb);  /* right */
}

/* Next code point of UTF-8 text; invalid or truncated sequences give U+FFFD
 * and consume one byte. Overlong forms, surrogates and values past U+10FFFF
 * are invalid. */
static uint32_t utf8_next(const unsigned char **ps, const unsigned char *end) {
  const unsigned char *s = *ps;
  unsigned c = s[0];
  int n;
  uint32_t cp, min;
  if (c < 0x80) {
    *ps = s + 1;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    *ps = s + 1;
    return 0xFFFD;
  }
  if (end - s <= n) {
    *ps = s + 1;
    return 0xFFFD;
  }
  for (int i = 1; i <= n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *ps = s + 1;
      return 0xFFFD;
    }
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *ps = s + 1;
    return 0xFFFD;
  }
  *ps = s + 1 + n;
  return cp;
}

static FT_UInt glyph_for(uint32_t cp) {
  FT_UInt gi = FT_Get_Char_Index(font_face, cp);
  if (!gi) gi = FT_Get_Char_Index(font_face, 0xFFFD);
  if (!gi) gi = FT_Get_Char_Index(font_face, '?');
  return gi;
}

fr_status fr_image_draw_label(fr_image *img, int x, int y, const char *utf8, int px,
                              const uint8_t fg[3], const uint8_t bg[3], fr_error *err) {
  if (!image_ok(img) || !utf8 || !fg || !bg)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "draw label: empty image or NULL argument");
  if (px < 4 || px > 512)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "draw label: text height %d px (4..512)", px);
  pthread_once(&font_once, font_init);
  if (!font_face) return fr_error_set(err, FR_ERR_UNSUPPORTED, "draw label: %s", font_msg);
  size_t len = strnlen(utf8, FR__LABEL_MAX_BYTES);
  const unsigned char *s0 = (const unsigned char *)utf8, *end = s0 + len;

  pthread_mutex_lock(&font_mu);
  if (FT_Set_Pixel_Sizes(font_face, 0, (FT_UInt)px)) {
    pthread_mutex_unlock(&font_mu);
    return fr_error_set(err, FR_ERR_INTERNAL, "draw label: cannot set font size %d", px);
  }
  const int asc = (int)((font_face->size->metrics.ascender + 63) >> 6);
  const int desc = (int)((-font_face->size->metrics.descender + 63) >> 6);
  const int pad = px / 6 > 1 ? px / 6 : 1;
  /* Width of the text: sum of advances. */
  int64_t text_w = 0;
  for (const unsigned char *s = s0; s < end;) {
    FT_UInt gi = glyph_for(utf8_next(&s, end));
    if (FT_Load_Glyph(font_face, gi, FT_LOAD_DEFAULT) == 0) text_w += font_face->glyph->advance.x >> 6;
  }
  fill(img, x, y, (int64_t)x + text_w + 2 * pad, (int64_t)y + asc + desc + 2 * pad, bg);
  int64_t pen = (int64_t)x + pad, base = (int64_t)y + pad + asc;
  for (const unsigned char *s = s0; s < end && pen < img->w;) {
    FT_UInt gi = glyph_for(utf8_next(&s, end));
    if (FT_Load_Glyph(font_face, gi, FT_LOAD_RENDER)) continue;
    FT_GlyphSlot g = font_face->glyph;
    const FT_Bitmap *bm = &g->bitmap;
    if (bm->pixel_mode == FT_PIXEL_MODE_GRAY && bm->buffer) {
      int64_t gx = pen + g->bitmap_left, gy = base - g->bitmap_top;
      for (unsigned r = 0; r < bm->rows; r++) {
        int64_t yy = gy + r;
        if (yy < 0 || yy >= img->h) continue;
        const unsigned char *a = bm->buffer + (ptrdiff_t)r * bm->pitch;
        int64_t c0 = gx < 0 ? -gx : 0, c1 = bm->width;
        if (gx + c1 > img->w) c1 = img->w - gx;
        uint8_t *o = img->px + (size_t)yy * img->stride;
        for (int64_t c = c0; c < c1; c++) {
          unsigned al = a[c];
          if (!al) continue;
          uint8_t *p = o + (size_t)(gx + c) * 3;
          for (int k = 0; k < 3; k++) p[k] = (uint8_t)((fg[k] * al + p[k] * (255 - al) + 127) / 255);
        }
      }
    }
    pen += g->advance.x >> 6;
  }
  pthread_mutex_unlock(&font_mu);
  return FR_OK;
}
