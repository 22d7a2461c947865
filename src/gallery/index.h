/*
 * In-memory embedding index (internal): exact cosine search over the faces of
 * one model, from a compact int8 copy of the embeddings.
 *
 * Layout: one contiguous row-major int8 matrix, rows `stride` bytes (dim
 * rounded up to 64, zero padded, so rows are 64-byte aligned); per row a scale
 * (the row is ~ scale * int8 values), an error bound (the L2 norm of what the
 * int8 row misses), the store's face id, the face's 16-byte image id and its
 * subject slot. 100,000 faces of 512 dims take ~55 MB (the float32 matrix was
 * 195 MiB). Subjects live in dense slots (id, name, face count) found by id
 * through a small hash map. The matrix is an anonymous mapping grown with
 * mremap (no copy, untouched pages cost no RSS).
 *
 * Exact search. The float32 embeddings are not kept in memory: they stay in the
 * store. A search scores every row approximately (int8 row x float32 query),
 * which with the row's error bound gives an interval that holds the exact
 * score; every row whose interval reaches the k-th best subject's lower bound
 * (and its own subject's) is a candidate, and only the candidates' float32
 * embeddings are fetched (a callback: the gallery reads them from the store)
 * and scored with the same float32 kernel as before. The result (subjects,
 * image ids, similarities, tie order) is therefore bit-identical to a search
 * over the float32 matrix; only the number of fetched rows depends on the data
 * (typically k to a few dozen).
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

/* Floats of a query vector (dim rounded up to 64; zero padded, 64-byte aligned). */
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
/* This model's faces of the subject called name in the index (0 when unknown). */
size_t fr__index_subject_faces_by_name(const fr__index *ix, const char *name);
/* Moves every row of subject from to subject into (both known) and removes from. */
void fr__index_subject_merge(fr__index *ix, int64_t from, int64_t into);
/* Removes subject id and all its rows. */
void fr__index_subject_remove(fr__index *ix, int64_t id);

/* Appends a row (needs a reserved row); emb: dim floats (unit length, finite);
 * face_id: the store's id of the face (what the fetch callback gets). */
void fr__index_append(fr__index *ix, int slot, const uint8_t uuid[16], int64_t face_id,
                      const float *emb);
/* Row of a face, or -1. */
ptrdiff_t fr__index_find(const fr__index *ix, const uint8_t uuid[16]);
/* Store face id of a row. */
int64_t fr__index_face_id(const fr__index *ix, size_t row);
/* Swap-removes the face's row; false if absent. */
bool fr__index_remove(fr__index *ix, const uint8_t uuid[16]);

/* Fetches the float32 embeddings of n faces for the exact re-scoring: row i
 * (dim floats) into out + i * out_stride (the caller zeroes the padding), and
 * found[i] = false for a face the store no longer has (deleted after the index
 * row was read). face_ids/image_ids as given to fr__index_append. */
typedef fr_status (*fr__index_fetch_fn)(void *ctx, size_t n, const int64_t *face_ids,
                                        const uint8_t (*image_ids)[16], float *out,
                                        size_t out_stride, bool *found, fr_error *err);

/* Search statistics (optional). */
typedef struct fr__index_search_info {
  size_t candidates; /* rows whose float32 embedding was fetched and scored */
  size_t missing;    /* of those, rows the fetch did not find */
} fr__index_search_info;

/* Top-k subjects by best row score (the float32 dot product of the stored
 * embedding with q, as the float kernel computes it). q: `stride` floats,
 * 64-byte aligned, zero padded, unit length. Fills out[0..*n) best first
 * (ties: lower row first). When the fetch reports a face missing and
 * drop_missing is false: *n = 0, info->missing > 0 and FR_OK, for the caller
 * to retry once the index caught up (a committed delete not yet applied); with
 * drop_missing the missing rows are left out (then the result is exact over
 * the rest only if they were not the bound that chose the candidates). */
fr_status fr__index_search(const fr__index *ix, const float *q, int k, fr__index_fetch_fn fetch,
                           void *fetch_ctx, bool drop_missing, fr_gallery_match *out, int *n,
                           fr__index_search_info *info, fr_error *err);

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

/* The same over int8 rows (stride a multiple of 64, rows 64-byte aligned):
 * out[i] = sum_j float(m[i*stride + j]) * q[j], summed in float. */
typedef void (*fr__dot8_rows_fn)(const int8_t *m, size_t stride, size_t n, const float *q,
                                 float *out);
typedef struct fr__dot8_kernel {
  const char *name;
  fr__dot8_rows_fn fn;
} fr__dot8_kernel;
int fr__dot8_kernels(fr__dot8_kernel *out, int max);

/* Quantizes one row: m[j] = round(v[j] / scale) with scale = max|v| / 127
 * (m zero padded to stride); returns the scale and *bound >= the L2 norm of
 * v - scale * m (rounded up). */
float fr__quantize_row(const float *v, int dim, int stride, int8_t *m, float *bound);

/* UUID text <-> 16 bytes. Parse accepts the 8-4-4-4-12 hex form only. */
bool fr__uuid_parse(const char *text, uint8_t out[16]);
void fr__uuid_format(const uint8_t in[16], char out[FR_IMAGE_ID_LEN + 1]);

#endif
