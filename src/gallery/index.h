/*
 * In-memory embedding index (internal): exact cosine search over the faces of
 * one model.
 *
 * Layout: one contiguous row-major float matrix (the only copy of the
 * embeddings in memory), rows 64-byte aligned, each row `stride` floats = dim
 * rounded up to 16 with zero padding; per row the face's 16-byte image id and
 * its subject slot. Subjects live in dense slots (id, name, face count) found
 * by id through a small hash map. The matrix is an anonymous mapping grown
 * with mremap (no copy, untouched pages cost no RSS).
 *
 * No locking here: the gallery holds its rwlock (read for search/find, write
 * for every mutation). Mutations that the gallery applies after a committed
 * store write cannot fail: it calls fr__index_reserve() first.
 */
#ifndef FR_GALLERY_INDEX_H
#define FR_GALLERY_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/gallery.h"

typedef struct fr__index fr__index;

fr_status fr__index_create(int dim, fr__index **out, fr_error *err);
void fr__index_destroy(fr__index *ix);

int fr__index_stride(const fr__index *ix);
size_t fr__index_rows(const fr__index *ix);
/* Bytes held by the index (matrix capacity + row tables + subjects). */
size_t fr__index_bytes(const fr__index *ix);

/* Makes room for `rows` more faces and `subjects` more subjects, so the next
 * that many appends / subject_put calls cannot fail. */
fr_status fr__index_reserve(fr__index *ix, size_t rows, size_t subjects, fr_error *err);

/* Slot of subject `id`, creating it with `name` if missing (needs a reserved
 * subject). Takes ownership of name (malloc'ed) in every case. */
int fr__index_subject_put(fr__index *ix, int64_t id, char *name);
/* Slot of subject id, or -1. */
int fr__index_subject_slot(const fr__index *ix, int64_t id);
/* True when `rows` more faces and `subjects` more subjects fit without growing. */
bool fr__index_has_room(const fr__index *ix, size_t rows, size_t subjects);
/* Replaces the name of subject id (takes ownership of name). */
void fr__index_subject_rename(fr__index *ix, int64_t id, char *name);
/* Removes subject id and all its rows. */
void fr__index_subject_remove(fr__index *ix, int64_t id);

/* Appends a row (needs a reserved row); emb: dim floats. */
void fr__index_append(fr__index *ix, int slot, const uint8_t uuid[16], const float *emb);
/* Row of a face, or -1. */
ptrdiff_t fr__index_find(const fr__index *ix, const uint8_t uuid[16]);
const float *fr__index_row(const fr__index *ix, size_t row);
/* Swap-removes the face's row; false if absent. */
bool fr__index_remove(fr__index *ix, const uint8_t uuid[16]);

/* Top-k subjects by best row score. q: `stride` floats, 64-byte aligned, zero
 * padded. Fills out[0..*n) best first (ties: lower row first). */
fr_status fr__index_search(const fr__index *ix, const float *q, int k, fr_gallery_match *out,
                           int *n, fr_error *err);

/* Dot products of q with n rows (stride floats apart, 64-byte aligned, stride
 * a multiple of 16): out[i] = dot(m + i*stride, q) over stride floats. */
typedef void (*fr__dot_rows_fn)(const float *m, size_t stride, size_t n, const float *q,
                                float *out);
typedef struct fr__dot_kernel {
  const char *name;
  fr__dot_rows_fn fn;
} fr__dot_kernel;
/* Kernels this CPU can run, best first (the first is the one search uses);
 * returns the count. The last is always the plain C one. */
int fr__dot_kernels(fr__dot_kernel *out, int max);

/* UUID text <-> 16 bytes. Parse accepts the 8-4-4-4-12 hex form only. */
bool fr__uuid_parse(const char *text, uint8_t out[16]);
void fr__uuid_format(const uint8_t in[16], char out[FR_IMAGE_ID_LEN + 1]);

#endif
