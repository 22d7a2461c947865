/*
 * fr_image core: limits, format sniffing, allocation, the decode dispatcher,
 * file loading and EXIF orientation.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"

#define FR__DEFAULT_MAX_BYTES ((size_t)20 * 1000 * 1000)
#define FR__DEFAULT_MAX_PIXELS ((uint64_t)40 * 1000 * 1000)
#define FR__DEFAULT_MAX_SIDE 16384
/* Hard ceiling whatever the caller's limits say: keeps 3*w and stride*h in range. */
#define FR__HARD_MAX_SIDE (1 << 24)

fr_image_limits fr_image_default_limits(void) {
  fr_image_limits l = {FR__DEFAULT_MAX_BYTES, FR__DEFAULT_MAX_PIXELS, FR__DEFAULT_MAX_SIDE};
  return l;
}

/* Zero fields mean "the default". */
static fr_image_limits effective_limits(const fr_image_limits *lim) {
  fr_image_limits d = fr_image_default_limits();
  if (!lim) return d;
  fr_image_limits l = *lim;
  if (l.max_bytes == 0) l.max_bytes = d.max_bytes;
  if (l.max_pixels == 0) l.max_pixels = d.max_pixels;
  if (l.max_side <= 0) l.max_side = d.max_side;
  if (l.max_side > FR__HARD_MAX_SIDE) l.max_side = FR__HARD_MAX_SIDE;
  return l;
}

fr_image_format fr_image_sniff(const void *data, size_t len) {
  const uint8_t *p = data;
  if (!p) return FR_IMAGE_UNKNOWN;
  if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return FR_IMAGE_JPEG;
  if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return FR_IMAGE_PNG;
  if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
    return FR_IMAGE_WEBP;
  if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
    return FR_IMAGE_GIF;
  if (len >= 2 && p[0] == 'B' && p[1] == 'M') return FR_IMAGE_BMP;
  return FR_IMAGE_UNKNOWN;
}

const char *fr_image_format_name(fr_image_format f) {
  switch (f) {
    case FR_IMAGE_JPEG: return "jpeg";
    case FR_IMAGE_PNG: return "png";
    case FR_IMAGE_WEBP: return "webp";
    case FR_IMAGE_GIF: return "gif";
    case FR_IMAGE_BMP: return "bmp";
    default: return "unknown";
  }
}

fr_status fr__image_check_dims(int64_t w, int64_t h, const fr_image_limits *lim, const char *fmt,
                               fr_error *err) {
  if (w <= 0 || h <= 0)
    return fr_error_set(err, FR_ERR_FORMAT, "%s: invalid image size %lldx%lld", fmt, (long long)w,
                        (long long)h);
  if (w > lim->max_side || h > lim->max_side)
    return fr_error_set(err, FR_ERR_TOO_LARGE,
                        "%s: image is %lldx%lld, over the limit of %d pixels per side", fmt,
                        (long long)w, (long long)h, lim->max_side);
  if ((uint64_t)w * (uint64_t)h > lim->max_pixels)
    return fr_error_set(err, FR_ERR_TOO_LARGE,
                        "%s: image is %lldx%lld = %llu pixels, over the limit of %llu pixels", fmt,
                        (long long)w, (long long)h, (unsigned long long)((uint64_t)w * (uint64_t)h),
                        (unsigned long long)lim->max_pixels);
  return FR_OK;
}

fr_status fr_image_alloc(fr_image *img, int w, int h, fr_error *err) {
  if (!img) return fr_error_set(err, FR_ERR_INVALID_ARG, "image: NULL image");
  memset(img, 0, sizeof *img);
  if (w <= 0 || h <= 0 || w > FR__HARD_MAX_SIDE || h > FR__HARD_MAX_SIDE)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "image: invalid size %dx%d", w, h);
  size_t stride = (size_t)w * 3, n;
  if (__builtin_mul_overflow(stride, (size_t)h, &n) || n > (size_t)PTRDIFF_MAX - 64)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "image: %dx%d is too large", w, h);
  /* 16 bytes of slack: SIMD loops may read a little past the last pixel. */
  uint8_t *px = malloc(n + 16);
  if (!px) return fr_error_set(err, FR_ERR_NOMEM, "image: out of memory for %dx%d", w, h);
  memset(px + n, 0, 16);
  img->w = w;
  img->h = h;
  img->stride = (int)stride;
  img->px = px;
  return FR_OK;
}

void fr_image_free(fr_image *img) {
  if (!img) return;
  free(img->px);
  memset(img, 0, sizeof *img);
}

static int image_valid(const fr_image *img) {
  return img && img->px && img->w > 0 && img->h > 0 && img->w <= FR__HARD_MAX_SIDE &&
         img->h <= FR__HARD_MAX_SIDE && img->stride >= 3 * img->w;
}

fr_status fr_image_copy(const fr_image *src, fr_image *dst, fr_error *err) {
  if (!image_valid(src) || !dst) return fr_error_set(err, FR_ERR_INVALID_ARG, "image copy: empty source");
  fr_image t;
  fr_status st = fr_image_alloc(&t, src->w, src->h, err);
  if (st) return st;
  for (int y = 0; y < src->h; y++)
    memcpy(t.px + (size_t)y * t.stride, src->px + (size_t)y * src->stride, (size_t)src->w * 3);
  *dst = t;
  return FR_OK;
}

void fr__rgba_over_white(const uint8_t *in, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned a = in[4 * i + 3], na = 255 - a;
    unsigned r = in[4 * i] * a + 255 * na, g = in[4 * i + 1] * a + 255 * na,
             b = in[4 * i + 2] * a + 255 * na;
    /* x/255 rounded for x in [0, 65025]: (x + 128 + ((x + 128) >> 8)) >> 8 */
    r += 128; g += 128; b += 128;
    out[3 * i] = (uint8_t)((r + (r >> 8)) >> 8);
    out[3 * i + 1] = (uint8_t)((g + (g >> 8)) >> 8);
    out[3 * i + 2] = (uint8_t)((b + (b >> 8)) >> 8);
  }
}

/* ---- EXIF ---------------------------------------------------------------- */

static unsigned rd16(const uint8_t *p, int be) { return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be) {
  return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
            : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int fr__exif_orientation(const uint8_t *t, size_t len) {
  if (!t) return 1;
  if (len >= 6 && memcmp(t, "Exif\0\0", 6) == 0) t += 6, len -= 6;
  if (len < 8) return 1;
  int be;
  if (memcmp(t, "II*\0", 4) == 0) be = 0;
  else if (memcmp(t, "MM\0*", 4) == 0) be = 1;
  else return 1;
  uint32_t ifd = rd32(t + 4, be);
  if (ifd < 8 || (uint64_t)ifd + 2 > len) return 1;
  unsigned count = rd16(t + ifd, be);
  if ((uint64_t)ifd + 2 + (uint64_t)count * 12 > len) return 1;
  for (unsigned i = 0; i < count; i++) {
    const uint8_t *e = t + ifd + 2 + (size_t)i * 12;
    if (rd16(e, be) != 0x0112) continue;
    unsigned type = rd16(e + 2, be);
    uint32_t n = rd32(e + 4, be);
    unsigned v;
    if (type == 3 && n >= 1) v = rd16(e + 8, be);        /* SHORT, stored inline */
    else if (type == 4 && n >= 1) v = rd32(e + 8, be);   /* LONG: seen from some writers */
    else return 1;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

fr_status fr__image_orient(fr_image *img, int o, fr_error *err) {
  if (o < 2 || o > 8) return FR_OK;
  const int W = img->w, H = img->h;
  const ptrdiff_t S = img->stride;
  int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
  fr_image t;
  fr_status st = fr_image_alloc(&t, ow, oh, err);
  if (st) return st;
  /* For output (x, y): source offset = base + y*ystep + x*xstep (bytes). */
  ptrdiff_t base, xstep, ystep;
  switch (o) {
    case 2: base = (ptrdiff_t)(W - 1) * 3; xstep = -3; ystep = S; break;             /* mirror */
    case 3: base = (ptrdiff_t)(H - 1) * S + (W - 1) * 3; xstep = -3; ystep = -S; break; /* 180 */
    case 4: base = (ptrdiff_t)(H - 1) * S; xstep = 3; ystep = -S; break;              /* flip */
    case 5: base = 0; xstep = S; ystep = 3; break;                                    /* transpose */
    case 6: base = (ptrdiff_t)(H - 1) * S; xstep = -S; ystep = 3; break;              /* 90 CW */
    case 7: base = (ptrdiff_t)(H - 1) * S + (W - 1) * 3; xstep = -S; ystep = -3; break; /* transverse */
    default: base = (ptrdiff_t)(W - 1) * 3; xstep = S; ystep = -3; break;            /* 8: 90 CCW */
  }
  if (o <= 4) { /* row to row */
    for (int y = 0; y < oh; y++) {
      const uint8_t *s = img->px + base + (ptrdiff_t)y * ystep;
      uint8_t *d = t.px + (size_t)y * t.stride;
      if (xstep == 3) {
        memcpy(d, s, (size_t)ow * 3);
      } else {
        for (int x = 0; x < ow; x++, s += xstep, d += 3) {
          d[0] = s[0];
          d[1] = s[1];
          d[2] = s[2];
        }
      }
    }
  } else { /* columns to rows: 32x32 tiles keep both sides in cache */
    enum { TILE = 32 };
    for (int ty = 0; ty < oh; ty += TILE)
      for (int tx = 0; tx < ow; tx += TILE) {
        int ye = ty + TILE < oh ? ty + TILE : oh, xe = tx + TILE < ow ? tx + TILE : ow;
        for (int y = ty; y < ye; y++) {
          const uint8_t *s = img->px + base + (ptrdiff_t)y * ystep + (ptrdiff_t)tx * xstep;
          uint8_t *d = t.px + (size_t)y * t.stride + (size_t)tx * 3;
          for (int x = tx; x < xe; x++, s += xstep, d += 3) {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
          }
        }
      }
  }
  fr_image_free(img);
  *img = t;
  return FR_OK;
}

/* ---- decode / load -------------------------------------------------------- */

fr_status fr_image_decode(const void *data, size_t len, const fr_image_limits *lim_in,
                          fr_image *out, fr_error *err) {
  if (!out) return fr_error_set(err, FR_ERR_INVALID_ARG, "image decode: NULL output");
  memset(out, 0, sizeof *out);
  fr_image_limits lim = effective_limits(lim_in);
  if (!data || len == 0) return fr_error_set(err, FR_ERR_FORMAT, "image: empty input (0 bytes)");
  if (len > lim.max_bytes)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "image: %zu bytes, over the limit of %zu bytes", len,
                        lim.max_bytes);
  const uint8_t *p = data;
  fr_image_format f = fr_image_sniff(p, len);
  int orientation = 1;
  fr_status st;
  switch (f) {
    case FR_IMAGE_JPEG: st = fr__decode_jpeg(p, len, &lim, out, &orientation, err); break;
    case FR_IMAGE_PNG: st = fr__decode_png(p, len, &lim, out, &orientation, err); break;
    case FR_IMAGE_WEBP: st = fr__decode_webp(p, len, &lim, out, &orientation, err); break;
    case FR_IMAGE_GIF: st = fr__decode_gif(p, len, &lim, out, &orientation, err); break;
    case FR_IMAGE_BMP: st = fr__decode_bmp(p, len, &lim, out, &orientation, err); break;
    default:
      return fr_error_set(err, FR_ERR_FORMAT,
                          "image: not a recognized image format (JPEG, PNG, WebP, GIF or BMP): "
                          "first bytes %02x %02x %02x %02x",
                          p[0], len > 1 ? p[1] : 0, len > 2 ? p[2] : 0, len > 3 ? p[3] : 0);
  }
  if (st != FR_OK) {
    fr_image_free(out);
    return st;
  }
  st = fr__image_orient(out, orientation, err);
  if (st != FR_OK) fr_image_free(out);
  return st;
}

/* Prefixes err->msg with the path. */
static fr_status with_path(fr_error *err, fr_status st, const char *path) {
  if (err && st != FR_OK) {
    char tmp[sizeof err->msg];
    snprintf(tmp, sizeof tmp, "%s: %s", path, err->msg);
    memcpy(err->msg, tmp, sizeof tmp);
  }
  return st;
}

fr_status fr_image_load(const char *path, const fr_image_limits *lim_in, fr_image *out,
                        fr_error *err) {
  if (!out) return fr_error_set(err, FR_ERR_INVALID_ARG, "image load: NULL output");
  memset(out, 0, sizeof *out);
  if (!path) return fr_error_set(err, FR_ERR_INVALID_ARG, "image load: NULL path");
  fr_image_limits lim = effective_limits(lim_in);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return fr_error_set(err, e == ENOENT || e == ENOTDIR ? FR_ERR_NOT_FOUND : FR_ERR_IO, "%s: %s",
                        path, strerror(e));
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return fr_error_set(err, FR_ERR_IO, "%s: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return fr_error_set(err, FR_ERR_IO, "%s: not a regular file", path);
  }
  if (sb.st_size <= 0) {
    close(fd);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: empty file (0 bytes)", path);
  }
  if ((uint64_t)sb.st_size > lim.max_bytes) {
    close(fd);
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %lld bytes, over the limit of %zu bytes", path,
                        (long long)sb.st_size, lim.max_bytes);
  }
  size_t n = (size_t)sb.st_size, got = 0;
  uint8_t *buf = malloc(n);
  if (!buf) {
    close(fd);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
  }
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return fr_error_set(err, FR_ERR_IO, "%s: read failed: %s", path, strerror(e));
    }
    if (r == 0) break; /* the file shrank while we read it: decode what is there */
    got += (size_t)r;
  }
  close(fd);
  fr_status st = fr_image_decode(buf, got, &lim, out, err);
  free(buf);
  return with_path(err, st, path);
}
