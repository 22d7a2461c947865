/*
 * Internals shared by the files of src/image: one decoder per format, the
 * EXIF orientation parser and the limit checks every decoder runs before it
 * allocates pixels.
 *
 * Decoder contract (fr__decode_<fmt>): data/len is the whole encoded file
 * (len > 0, len <= lim->max_bytes already checked); lim is complete (no zero
 * fields). On FR_OK *out holds a new RGB8 image owned by the caller and
 * *orientation the EXIF orientation (1..8; 1 when absent or unreadable). On
 * error *out is untouched-or-empty (nothing to free) and err says why.
 */
#ifndef FR_IMAGE_INTERNAL_H
#define FR_IMAGE_INTERNAL_H

#include <stdint.h>

#include "facerec/image.h"

/* Checks declared dimensions against the limits; fmt names the format in the
 * message. FR_ERR_FORMAT for zero/negative sizes, FR_ERR_TOO_LARGE otherwise. */
fr_status fr__image_check_dims(int64_t w, int64_t h, const fr_image_limits *lim, const char *fmt,
                               fr_error *err);

fr_status fr__decode_jpeg(const uint8_t *data, size_t len, const fr_image_limits *lim,
                          fr_image *out, int *orientation, fr_error *err);
fr_status fr__decode_png(const uint8_t *data, size_t len, const fr_image_limits *lim,
                         fr_image *out, int *orientation, fr_error *err);
fr_status fr__decode_webp(const uint8_t *data, size_t len, const fr_image_limits *lim,
                          fr_image *out, int *orientation, fr_error *err);
fr_status fr__decode_gif(const uint8_t *data, size_t len, const fr_image_limits *lim,
                         fr_image *out, int *orientation, fr_error *err);
fr_status fr__decode_bmp(const uint8_t *data, size_t len, const fr_image_limits *lim,
                         fr_image *out, int *orientation, fr_error *err);

/* EXIF orientation (tag 0x0112 of IFD0) from a TIFF structure ("II*\0" or
 * "MM\0*" header). A leading "Exif\0\0" is skipped. Returns 1..8, or 1 when
 * the data is absent, malformed or the value is out of range. Every offset is
 * bounds-checked against len. */
int fr__exif_orientation(const uint8_t *tiff, size_t len);

/* Rotates/flips img in place (a new buffer replaces the old) so that it shows
 * upright for EXIF orientation o (1..8; other values do nothing). */
fr_status fr__image_orient(fr_image *img, int o, fr_error *err);

/* out = (c*a + 255*(255-a)) / 255, rounded: alpha composited over white, for
 * n RGBA pixels into n RGB pixels (out may not overlap in but may equal it
 * when converting in place front to back). */
void fr__rgba_over_white(const uint8_t *in, uint8_t *out, size_t n);

#endif
