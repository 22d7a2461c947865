/*
 * GIF decoding with giflib, first frame only. Records are read one by one
 * (not DGifSlurp, which would decode every frame of an animation): extensions
 * are skipped except the graphic control block of the first image (its
 * transparent colour becomes white), then the first image is decoded onto a
 * white canvas of the logical screen size. Screen and frame sizes are checked
 * against the limits before any pixel memory is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "image/image_internal.h"

typedef struct {
  const uint8_t *d;
  size_t n, off;
} memsrc;

static int mem_read(GifFileType *g, GifByteType *buf, int want) {
  memsrc *m = g->UserData;
  if (want <= 0) return 0;
  size_t left = m->n - m->off, k = (size_t)want < left ? (size_t)want : left;
  memcpy(buf, m->d + m->off, k);
  m->off += k;
  return (int)k;
}

static fr_status gif_fail(GifFileType *g, int code, const char *what, fr_error *err) {
  if (g) {
    if (!code) code = g->Error;
    DGifCloseFile(g, NULL);
  }
  const char *s = GifErrorString(code);
  fr_status st = code == D_GIF_ERR_NOT_ENOUGH_MEM ? FR_ERR_NOMEM : FR_ERR_FORMAT;
  if (code == D_GIF_ERR_READ_FAILED) s = "truncated file (unexpected end of data)";
  return fr_error_set(err, st, "gif: %s: %s", what, s ? s : "decoding failed");
}

fr_status fr__decode_gif(const uint8_t *data, size_t len, const fr_image_limits *lim,
                         fr_image *out, int *orientation, fr_error *err) {
  (void)orientation;
  memsrc m = {data, len, 0};
  int code = 0;
  GifFileType *g = DGifOpen(&m, mem_read, &code);
  if (!g) return gif_fail(NULL, code, "header", err);
  /* Some writers leave the screen size 0: the first frame's size is used then. */
  int sw = g->SWidth, sh = g->SHeight;
  if (sw != 0 || sh != 0) {
    fr_status st = fr__image_check_dims(sw, sh, lim, "gif", err);
    if (st) {
      DGifCloseFile(g, NULL);
      return st;
    }
  }
  int transparent = -1;
  for (;;) {
    GifRecordType rt;
    if (DGifGetRecordType(g, &rt) == GIF_ERROR) return gif_fail(g, 0, "record", err);
    if (rt == TERMINATE_RECORD_TYPE) {
      DGifCloseFile(g, NULL);
      return fr_error_set(err, FR_ERR_FORMAT, "gif: no image in the file");
    }
    if (rt == EXTENSION_RECORD_TYPE) {
      int ecode;
      GifByteType *ext;
      if (DGifGetExtension(g, &ecode, &ext) == GIF_ERROR) return gif_fail(g, 0, "extension", err);
      if (ecode == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4)
        transparent = (ext[1] & 1) ? ext[4] : -1;
      while (ext) {
        if (DGifGetExtensionNext(g, &ext) == GIF_ERROR) return gif_fail(g, 0, "extension", err);
      }
      continue;
    }
    if (rt != IMAGE_DESC_RECORD_TYPE) return gif_fail(g, D_GIF_ERR_WRONG_RECORD, "record", err);
    break;
  }
  if (DGifGetImageDesc(g) == GIF_ERROR) return gif_fail(g, 0, "image descriptor", err);
  GifImageDesc *im = &g->Image;
  int fw = im->Width, fh = im->Height, fx = im->Left, fy = im->Top;
  fr_status st = fr__image_check_dims(fw, fh, lim, "gif frame", err);
  if (st) {
    DGifCloseFile(g, NULL);
    return st;
  }
  if (sw == 0 && sh == 0) sw = fw, sh = fh, fx = fy = 0;
  const ColorMapObject *cm = im->ColorMap ? im->ColorMap : g->SColorMap;
  if (!cm || !cm->Colors || cm->ColorCount <= 0) {
    DGifCloseFile(g, NULL);
    return fr_error_set(err, FR_ERR_FORMAT, "gif: image has no colour table");
  }
  /* Palette -> RGB, 256 entries; indices past the table are black. */
  uint8_t pal[256][3];
  memset(pal, 0, sizeof pal);
  for (int i = 0; i < cm->ColorCount && i < 256; i++) {
    pal[i][0] = cm->Colors[i].Red;
    pal[i][1] = cm->Colors[i].Green;
    pal[i][2] = cm->Colors[i].Blue;
  }
  if (transparent >= 0) pal[transparent][0] = pal[transparent][1] = pal[transparent][2] = 255;
  st = fr_image_alloc(out, sw, sh, err);
  if (st) {
    DGifCloseFile(g, NULL);
    return st;
  }
  memset(out->px, 255, (size_t)out->stride * sh);
  GifPixelType *line = malloc((size_t)fw);
  if (!line) {
    fr_image_free(out);
    DGifCloseFile(g, NULL);
    return fr_error_set(err, FR_ERR_NOMEM, "gif: out of memory");
  }
  /* Visible part of the frame on the canvas. */
  int x0 = fx < sw ? fx : sw, x1 = fx + fw < sw ? fx + fw : sw;
  static const int ipass_start[4] = {0, 4, 2, 1}, ipass_step[4] = {8, 8, 4, 2};
  int passes = im->Interlace ? 4 : 1;
  for (int p = 0; p < passes; p++) {
    int y0 = im->Interlace ? ipass_start[p] : 0, dy = im->Interlace ? ipass_step[p] : 1;
    for (int y = y0; y < fh; y += dy) {
      if (DGifGetLine(g, line, fw) == GIF_ERROR) {
        free(line);
        fr_image_free(out);
        return gif_fail(g, 0, "image data", err);
      }
      int cy = fy + y;
      if (cy >= sh) continue;
      uint8_t *d = out->px + (size_t)cy * out->stride + (size_t)x0 * 3;
      const GifPixelType *s = line + (x0 - fx);
      for (int x = x0; x < x1; x++, s++, d += 3) {
        const uint8_t *c = pal[*s];
        d[0] = c[0];
        d[1] = c[1];
        d[2] = c[2];
      }
    }
  }
  free(line);
  DGifCloseFile(g, NULL);
  return FR_OK;
}
