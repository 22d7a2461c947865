/*
 * JPEG decoding and encoding with libjpeg-turbo.
 *
 * libjpeg reports fatal errors through error_exit, which must not return: ours
 * longjmps back to the caller's setjmp, so corrupt input becomes an error
 * status instead of exit(). Warnings that mean lost pixel data (truncation,
 * bad entropy codes) are fatal too; benign ones (extraneous bytes, unknown
 * JFIF revision) are ignored like every browser does. The header is read and
 * the size checked against the limits before jpeg_start_decompress allocates.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image_internal.h"

/* Progressive files with thousands of tiny scans are a known CPU bomb. */
#define FR__JPEG_MAX_SCANS 1000

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
} jerr_mgr;

static void jerr_exit(j_common_ptr c) {
  jerr_mgr *e = (jerr_mgr *)c->err;
  c->err->format_message(c, e->msg);
  longjmp(e->jb, 1);
}

static void jerr_emit(j_common_ptr c, int level) {
  if (level >= 0) return; /* trace messages */
  switch (c->err->msg_code) {
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_JPEG_EOF:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
      jerr_exit(c); /* pixels would be wrong: refuse the file */
      break;
    default:
      c->err->num_warnings++;
  }
}

static void jerr_silent(j_common_ptr c) { (void)c; }

static void jprogress(j_common_ptr c) {
  if (c->is_decompressor) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > FR__JPEG_MAX_SCANS) {
      jerr_mgr *e = (jerr_mgr *)c->err;
      snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", FR__JPEG_MAX_SCANS);
      longjmp(e->jb, 1);
    }
  }
}

static void jerr_init(jerr_mgr *e) {
  jpeg_std_error(&e->pub);
  e->pub.error_exit = jerr_exit;
  e->pub.emit_message = jerr_emit;
  e->pub.output_message = jerr_silent;
  e->msg[0] = 0;
}

static int exif_from_markers(j_decompress_ptr d) {
  for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 14) continue;
    if (memcmp(m->data, "Exif\0\0", 6) != 0) continue;
    return fr__exif_orientation(m->data + 6, m->data_length - 6);
  }
  return 1;
}

/* CMYK as Adobe writes it (inverted: 0 = full ink) to RGB, in place over a row
 * of n pixels; in has 4 bytes per pixel, out 3. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int n, int inverted) {
  for (int i = 0; i < n; i++) {
    unsigned c = in[4 * i], m = in[4 * i + 1], y = in[4 * i + 2], k = in[4 * i + 3];
    if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
    out[3 * i] = (uint8_t)((c * k + 127) / 255);
    out[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
    out[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
  }
}

fr_status fr__decode_jpeg(const uint8_t *data, size_t len, const fr_image_limits *lim,
                          fr_image *out, int *orientation, fr_error *err) {
  struct jpeg_decompress_struct d;
  struct jpeg_progress_mgr prog;
  jerr_mgr je;
  /* volatile: modified between setjmp and longjmp */
  uint8_t *volatile cmyk = NULL;
  memset(&d, 0, sizeof d);
  jerr_init(&je);
  d.err = &je.pub;
  if (setjmp(je.jb)) {
    fr_status st = FR_ERR_FORMAT;
    const char *what = je.msg;
    if (je.pub.msg_code == JWRN_JPEG_EOF) what = "truncated file (premature end of JPEG data)";
    if (je.pub.msg_code == JERR_OUT_OF_MEMORY || je.pub.msg_code == JERR_NO_BACKING_STORE)
      st = FR_ERR_TOO_LARGE;
    jpeg_destroy_decompress(&d);
    free(cmyk);
    fr_image_free(out);
    return fr_error_set(err, st, "jpeg: %s", what);
  }
  jpeg_create_decompress(&d);
  /* A cap on libjpeg's own memory: coefficient buffers of progressive files
   * are 2 bytes per sample. Past it libjpeg fails cleanly (no backing store). */
  uint64_t cap = lim->max_pixels < ((uint64_t)1 << 40) ? lim->max_pixels * 8 + (64u << 20) : (uint64_t)1 << 43;
  d.mem->max_memory_to_use = (long)cap;
  prog.progress_monitor = jprogress;
  d.progress = &prog;
  jpeg_mem_src(&d, data, (unsigned long)len);
  jpeg_save_markers(&d, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&d, TRUE);
  fr_status st = fr__image_check_dims(d.image_width, d.image_height, lim, "jpeg", err);
  if (st) {
    jpeg_destroy_decompress(&d);
    return st;
  }
  *orientation = exif_from_markers(&d);
  int is_cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
  d.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&d);
  if ((int)d.output_width != (int)d.image_width || (int)d.output_height != (int)d.image_height ||
      d.output_components != (is_cmyk ? 4 : 3)) {
    jpeg_destroy_decompress(&d);
    return fr_error_set(err, FR_ERR_FORMAT, "jpeg: unexpected output layout");
  }
  st = fr_image_alloc(out, (int)d.output_width, (int)d.output_height, err);
  if (st) {
    jpeg_destroy_decompress(&d);
    return st;
  }
  if (is_cmyk) {
    cmyk = malloc((size_t)d.output_width * 4);
    if (!cmyk) {
      jpeg_destroy_decompress(&d);
      fr_image_free(out);
      return fr_error_set(err, FR_ERR_NOMEM, "jpeg: out of memory");
    }
  }
  while (d.output_scanline < d.output_height) {
    uint8_t *row = out->px + (size_t)d.output_scanline * out->stride;
    JSAMPROW rows[1] = {is_cmyk ? cmyk : row};
    if (jpeg_read_scanlines(&d, rows, 1) != 1) {
      jpeg_destroy_decompress(&d);
      free(cmyk);
      fr_image_free(out);
      return fr_error_set(err, FR_ERR_FORMAT, "jpeg: truncated file (no more scanlines)");
    }
    if (is_cmyk) cmyk_row_to_rgb(cmyk, row, (int)d.output_width, d.saw_Adobe_marker);
  }
  /* Not jpeg_finish_decompress: the pixels are complete; a missing EOI or
   * trailing bytes after it do not matter. */
  jpeg_destroy_decompress(&d);
  free(cmyk);
  return FR_OK;
}

static int image_ok(const fr_image *img) {
  return img && img->px && img->w > 0 && img->h > 0 && img->w <= JPEG_MAX_DIMENSION &&
         img->h <= JPEG_MAX_DIMENSION && img->stride >= 3 * img->w;
}

fr_status fr_image_encode_jpeg(const fr_image *img, int quality, uint8_t **out, size_t *len,
                               fr_error *err) {
  if (!out || !len) return fr_error_set(err, FR_ERR_INVALID_ARG, "jpeg encode: NULL output");
  *out = NULL;
  *len = 0;
  if (!image_ok(img))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "jpeg encode: empty image or over %d px per side",
                        (int)JPEG_MAX_DIMENSION);
  const volatile int q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
  struct jpeg_compress_struct c;
  jerr_mgr je;
  unsigned char *volatile buf = NULL;
  unsigned long blen = 0;
  memset(&c, 0, sizeof c);
  jerr_init(&je);
  c.err = &je.pub;
  if (setjmp(je.jb)) {
    jpeg_destroy_compress(&c);
    free(buf);
    return fr_error_set(err, FR_ERR_INTERNAL, "jpeg encode: %s", je.msg);
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, (unsigned char **)&buf, &blen);
  c.image_width = (JDIMENSION)img->w;
  c.image_height = (JDIMENSION)img->h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, q, TRUE);
  if (q >= 90) { /* no chroma subsampling for high-quality output */
    c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(img->px + (size_t)c.next_scanline * img->stride);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  *out = buf;
  *len = blen;
  return FR_OK;
}

fr_status fr_image_save_jpeg(const fr_image *img, const char *path, int quality, fr_error *err) {
  static _Atomic unsigned counter;
  if (!path) return fr_error_set(err, FR_ERR_INVALID_ARG, "jpeg save: NULL path");
  uint8_t *buf = NULL;
  size_t n = 0;
  fr_status st = fr_image_encode_jpeg(img, quality, &buf, &n, err);
  if (st) return st;
  size_t tlen = strlen(path) + 48;
  char *tmp = malloc(tlen);
  if (!tmp) {
    free(buf);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", path);
  }
  /* A unique name beside the target (same file system, so rename is atomic). */
  int fd = -1, e = 0;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    e = errno;
    free(buf);
    free(tmp);
    return fr_error_set(err, FR_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      e = w < 0 ? errno : EIO;
      break;
    }
    done += (size_t)w;
  }
  free(buf);
  if (close(fd) != 0 && !e) e = errno;
  if (!e && rename(tmp, path) != 0) e = errno;
  if (e) {
    unlink(tmp);
    free(tmp);
    return fr_error_set(err, FR_ERR_IO, "%s: cannot write: %s", path, strerror(e));
  }
  free(tmp);
  return FR_OK;
}
