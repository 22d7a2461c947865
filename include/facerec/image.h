/*
 * facerec images: decoding with caps, EXIF orientation, resampling, affine
 * warps, JPEG encoding and drawing.
 *
 * Images are 8-bit RGB, interleaved, rows of `stride` bytes (stride >= 3*w).
 * The caller owns an fr_image filled by any function here and releases it with
 * fr_image_free(); a zero-initialized fr_image is empty and may be freed.
 * Functions that fill an output image (`out`, `dst`, `img` of fr_image_alloc)
 * overwrite it without freeing what it held: pass an empty one (or one whose
 * buffer you still own elsewhere). On failure the output is left empty, except
 * for resize/warp/copy, which leave it untouched. All functions are thread-safe.
 *
 *     fr_image img = {0};
 *     fr_error err;
 *     if (fr_image_load("photo.jpg", NULL, &img, &err)) fail(err.msg);   // default limits
 *     fr_image face = {0};
 *     float m[6];  // dst -> src affine map from fr_face_align_matrix()
 *     fr_image_warp_affine(&img, m, 112, 112, &face, &err);
 *     fr_image_free(&face); fr_image_free(&img);
 *
 * Decoding never trusts the input: the byte size, the declared width and height
 * and their product are checked against the limits BEFORE any pixel buffer is
 * allocated, so a decompression bomb is refused, not decoded. The format is
 * detected from magic bytes, never from a file name.
 */
#ifndef FACEREC_IMAGE_H
#define FACEREC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_image {
  int w, h;
  int stride;  /* bytes per row */
  uint8_t *px; /* RGB8 */
} fr_image;

typedef enum fr_image_format {
  FR_IMAGE_UNKNOWN = 0,
  FR_IMAGE_JPEG,
  FR_IMAGE_PNG,
  FR_IMAGE_WEBP,
  FR_IMAGE_GIF,
  FR_IMAGE_BMP
} fr_image_format;

typedef struct fr_image_limits {
  size_t max_bytes;    /* encoded size; default 20 MB */
  uint64_t max_pixels; /* w*h; default 40 MP */
  int max_side;        /* each of w, h; default 16384 */
} fr_image_limits;      /* a zero field means its default */

/* The defaults above. */
fr_image_limits fr_image_default_limits(void);

/* Format from the first bytes (needs up to 12). */
fr_image_format fr_image_sniff(const void *data, size_t len);
const char *fr_image_format_name(fr_image_format f); /* "jpeg", "png", ... "unknown" */

/* Decodes an encoded image (JPEG, PNG 8/16-bit incl. palette/grey/alpha, WebP,
 * GIF first frame, BMP) into RGB8 and applies its EXIF orientation (JPEG, WebP,
 * PNG eXIf). Alpha is composited over white. lim == NULL: defaults.
 * Errors: FR_ERR_FORMAT (not an image, corrupt, truncated: message says which),
 * FR_ERR_TOO_LARGE (over a limit: message names it), FR_ERR_UNSUPPORTED. */
fr_status fr_image_decode(const void *data, size_t len, const fr_image_limits *lim, fr_image *out,
                          fr_error *err);
/* Reads a file (refusing it before reading if it is over lim->max_bytes) and
 * decodes it. Messages start with the path. FR_ERR_NOT_FOUND when it does not
 * exist, FR_ERR_IO when it cannot be read (or is not a regular file). */
fr_status fr_image_load(const char *path, const fr_image_limits *lim, fr_image *out, fr_error *err);

fr_status fr_image_alloc(fr_image *img, int w, int h, fr_error *err);
void fr_image_free(fr_image *img);
fr_status fr_image_copy(const fr_image *src, fr_image *dst, fr_error *err);

/* Bilinear resize of the region (x, y, w, h) of src (clipped to the image;
 * pixels outside are treated as the nearest edge) to out_w x out_h, with
 * area-averaging when shrinking by more than 2x so small faces stay sharp.
 * Exactly: in src pixel-area coordinates (pixel i covers [i, i+1)), output
 * pixel u covers [x + u*w/out_w, x + (u+1)*w/out_w). Per axis, when w/out_w
 * <= 2 it is the bilinear sample at that interval's centre (pixel centres at
 * i + 0.5, as OpenCV INTER_LINEAR); above 2 it is the mean over the interval
 * with fractional edge weights (INTER_AREA). The region may extend past the
 * image: samples there take the nearest edge pixel. w, h, out_w, out_h > 0;
 * outputs up to 65536 per side. dst may be src only if src's buffer is kept
 * elsewhere (it is overwritten, not freed). */
fr_status fr_image_resize(const fr_image *src, int x, int y, int w, int h, int out_w, int out_h,
                          fr_image *dst, fr_error *err);

/* dst(u, v) = src(m[0]*u + m[1]*v + m[2], m[3]*u + m[4]*v + m[5]), bilinear,
 * outside pixels black. m maps destination to source pixel centres: pixel
 * (i, j) has its centre at integer (i, j) in both images (OpenCV warpAffine
 * with WARP_INVERSE_MAP and a black constant border), so the identity matrix
 * copies exactly and a sample half a pixel outside is half black.
 * FR_ERR_INVALID_ARG for a non-finite matrix or a bad output size. */
fr_status fr_image_warp_affine(const fr_image *src, const float m[6], int out_w, int out_h,
                               fr_image *dst, fr_error *err);

/* JPEG encoding (libjpeg-turbo). *out is malloc'ed; the caller frees it.
 * quality is clamped to 1..100; at 90 and above chroma is not subsampled. */
fr_status fr_image_encode_jpeg(const fr_image *img, int quality, uint8_t **out, size_t *len,
                               fr_error *err);
/* Writes a JPEG file (atomically: a temp file beside it + rename). */
fr_status fr_image_save_jpeg(const fr_image *img, const char *path, int quality, fr_error *err);

/* Drawing for annotated output. Coordinates may lie partly outside the image.
 * The outline is thickness pixels wide (at least 1), drawn inside the box
 * [x, x+w) x [y, y+h). */
void fr_image_draw_rect(fr_image *img, int x, int y, int w, int h, const uint8_t rgb[3],
                        int thickness);
/* Text with FreeType and a Debian font (DejaVu Sans; FR_FONT in the environment
 * names another font file); (x, y) is the top-left of the label box, drawn on a
 * filled background. px: text height in pixels (4..512). Invalid UTF-8 bytes
 * draw as U+FFFD; the text is clipped to the image.
 * Returns FR_ERR_UNSUPPORTED when no font is available (the caller may ignore it). */
fr_status fr_image_draw_label(fr_image *img, int x, int y, const char *utf8, int px,
                              const uint8_t fg[3], const uint8_t bg[3], fr_error *err);

#ifdef __cplusplus
}
#endif
#endif
