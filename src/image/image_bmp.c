/*
 * BMP decoding, by hand: every field is read with bounds checks and validated.
 * Supported: BITMAPCOREHEADER (12) and BITMAPINFOHEADER and its extensions
 * (40, 52, 56, 108, 124; OS/2 16/64 without compression); 1/4/8-bit palette,
 * 16/32-bit with default or BI_BITFIELDS / BI_ALPHABITFIELDS masks (alpha
 * composited over white), 24-bit; bottom-up and top-down rows. RLE and
 * embedded JPEG/PNG are refused as unsupported.
 */
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6 };

static uint32_t u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

typedef struct {
  uint32_t mask;
  int shift;
  uint32_t max; /* mask >> shift */
} channel;

static int channel_init(channel *c, uint32_t mask) {
  c->mask = mask;
  c->shift = mask ? __builtin_ctz(mask) : 0;
  c->max = mask ? mask >> c->shift : 0;
  /* the mask must be one run of bits */
  return !mask || (c->max & (c->max + 1)) == 0;
}

static inline uint8_t channel_get(const channel *c, uint32_t v) {
  if (!c->max) return 0;
  uint32_t x = (v & c->mask) >> c->shift;
  if (c->max == 255) return (uint8_t)x;
  return (uint8_t)(((uint64_t)x * 255 + c->max / 2) / c->max);
}

fr_status fr__decode_bmp(const uint8_t *d, size_t len, const fr_image_limits *lim, fr_image *out,
                         int *orientation, fr_error *err) {
  (void)orientation;
  if (len < 14 + 12) return fr_error_set(err, FR_ERR_FORMAT, "bmp: truncated file (no header)");
  uint32_t off_bits = u32(d + 10), hs = u32(d + 14);
  if (hs != 12 && hs != 16 && hs != 40 && hs != 52 && hs != 56 && hs != 64 && hs != 108 && hs != 124)
    return fr_error_set(err, FR_ERR_UNSUPPORTED, "bmp: unknown header size %u", hs);
  if (len < 14 + (size_t)hs) return fr_error_set(err, FR_ERR_FORMAT, "bmp: truncated file (header)");
  const uint8_t *h = d + 14;
  int64_t w, ht;
  unsigned planes, bpp;
  uint32_t comp = BI_RGB, clr_used = 0;
  if (hs == 12) {
    w = u16(h + 4);
    ht = u16(h + 6);
    planes = u16(h + 8);
    bpp = u16(h + 10);
  } else {
    w = (int32_t)u32(h + 4);
    ht = (int32_t)u32(h + 8);
    planes = u16(h + 12);
    bpp = u16(h + 14);
    if (hs >= 40) {
      comp = u32(h + 16);
      clr_used = u32(h + 32);
    }
  }
  int top_down = ht < 0;
  if (top_down) ht = -ht;
  if (planes != 1) return fr_error_set(err, FR_ERR_FORMAT, "bmp: %u planes (must be 1)", planes);
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return fr_error_set(err, FR_ERR_FORMAT, "bmp: invalid bit depth %u", bpp);
  if ((hs == 16 || hs == 64) && comp != BI_RGB)
    return fr_error_set(err, FR_ERR_UNSUPPORTED, "bmp: OS/2 compression %u", comp);
  if (comp == BI_RLE8 || comp == BI_RLE4)
    return fr_error_set(err, FR_ERR_UNSUPPORTED, "bmp: RLE compression is not supported");
  if (comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS) {
    if (bpp != 16 && bpp != 32)
      return fr_error_set(err, FR_ERR_FORMAT, "bmp: bit-field masks with %u bits per pixel", bpp);
  } else if (comp != BI_RGB) {
    return fr_error_set(err, FR_ERR_UNSUPPORTED, "bmp: compression %u is not supported", comp);
  }
  fr_status st = fr__image_check_dims(w, ht, lim, "bmp", err);
  if (st) return st;

  /* Masks for 16/32-bit. */
  channel ch[4];
  uint32_t mr = bpp == 16 ? 0x7C00 : 0xFF0000, mg = bpp == 16 ? 0x03E0 : 0xFF00,
           mb = bpp == 16 ? 0x001F : 0xFF, ma = 0;
  size_t pal_off = 14 + (size_t)hs;
  if (comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS) {
    size_t nm = comp == BI_ALPHABITFIELDS ? 4 : 3;
    const uint8_t *mp;
    if (hs == 40) { /* masks follow the header */
      if (len < pal_off + 4 * nm) return fr_error_set(err, FR_ERR_FORMAT, "bmp: truncated file (masks)");
      mp = d + pal_off;
      pal_off += 4 * nm;
    } else {
      mp = h + 40; /* inside V2+ headers; V3+ (56 and up) carry an alpha mask too */
      nm = hs >= 56 ? 4 : 3;
    }
    mr = u32(mp);
    mg = u32(mp + 4);
    mb = u32(mp + 8);
    ma = nm == 4 ? u32(mp + 12) : 0;
  }
  if (!channel_init(&ch[0], mr) || !channel_init(&ch[1], mg) || !channel_init(&ch[2], mb) ||
      !channel_init(&ch[3], ma))
    return fr_error_set(err, FR_ERR_FORMAT, "bmp: invalid colour masks");
  if (bpp == 16 && ((mr | mg | mb | ma) >> 16))
    return fr_error_set(err, FR_ERR_FORMAT, "bmp: colour masks wider than 16 bits");

  /* Palette. */
  uint8_t pal[256][3];
  memset(pal, 0, sizeof pal);
  if (bpp <= 8) {
    size_t entry = hs == 12 ? 3 : 4, maxn = (size_t)1 << bpp;
    size_t n = clr_used == 0 || clr_used > maxn ? maxn : clr_used;
    size_t pal_end = off_bits < len ? off_bits : len;
    if (pal_off > pal_end || (pal_end - pal_off) / entry < n) {
      /* Some writers declare more colours than they store: use what is there. */
      n = pal_off > pal_end ? 0 : (pal_end - pal_off) / entry;
      if (n > maxn) n = maxn;
    }
    if (n == 0) return fr_error_set(err, FR_ERR_FORMAT, "bmp: palette missing");
    for (size_t i = 0; i < n; i++) {
      const uint8_t *e = d + pal_off + i * entry;
      pal[i][0] = e[2];
      pal[i][1] = e[1];
      pal[i][2] = e[0];
    }
  }

  uint64_t row_bytes = (((uint64_t)bpp * (uint64_t)w + 31) / 32) * 4;
  if (off_bits < 14 + hs || off_bits > len)
    return fr_error_set(err, FR_ERR_FORMAT, "bmp: pixel data offset %u out of the file", off_bits);
  if (row_bytes * (uint64_t)ht > len - off_bits)
    return fr_error_set(err, FR_ERR_FORMAT,
                        "bmp: truncated file (pixel data needs %llu bytes, %zu present)",
                        (unsigned long long)(row_bytes * (uint64_t)ht), len - off_bits);
  st = fr_image_alloc(out, (int)w, (int)ht, err);
  if (st) return st;
  const int W = (int)w, H = (int)ht;
  const int simple32 = bpp == 32 && !ma && mr == 0xFF0000 && mg == 0xFF00 && mb == 0xFF;
  for (int y = 0; y < H; y++) {
    const uint8_t *s = d + off_bits + (size_t)row_bytes * (size_t)(top_down ? y : H - 1 - y);
    uint8_t *o = out->px + (size_t)y * out->stride;
    if (bpp == 24) {
      for (int x = 0; x < W; x++, s += 3, o += 3) {
        o[0] = s[2];
        o[1] = s[1];
        o[2] = s[0];
      }
    } else if (simple32) {
      for (int x = 0; x < W; x++, s += 4, o += 3) {
        o[0] = s[2];
        o[1] = s[1];
        o[2] = s[0];
      }
    } else if (bpp == 32 || bpp == 16) {
      for (int x = 0; x < W; x++, o += 3) {
        uint32_t v;
        if (bpp == 32) v = u32(s), s += 4;
        else v = u16(s), s += 2;
        unsigned r = channel_get(&ch[0], v), g = channel_get(&ch[1], v), b = channel_get(&ch[2], v);
        if (ma) {
          unsigned a = channel_get(&ch[3], v), na = 255 - a;
          r = (r * a + 255 * na + 127) / 255;
          g = (g * a + 255 * na + 127) / 255;
          b = (b * a + 255 * na + 127) / 255;
        }
        o[0] = (uint8_t)r;
        o[1] = (uint8_t)g;
        o[2] = (uint8_t)b;
      }
    } else { /* 1/4/8-bit palette */
      const unsigned per = 8 / bpp, mask = (1u << bpp) - 1;
      for (int x = 0; x < W; x++, o += 3) {
        unsigned byte = s[x / per], sh = 8 - bpp * (x % per + 1);
        const uint8_t *c = pal[(byte >> sh) & mask];
        o[0] = c[0];
        o[1] = c[1];
        o[2] = c[2];
      }
    }
  }
  return FR_OK;
}
