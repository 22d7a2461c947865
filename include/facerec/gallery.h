/*
 * facerec gallery: enrolled subjects and their faces (embeddings), persisted in
 * SQLite (WAL) by default, with an in-memory index for exact search.
 *
 * A gallery is opened for one recognizer (model id + embedding size). Faces made
 * by another model are never mixed in: they stay in the file but are invisible
 * (and counted in fr_gallery_stats.other_model_faces) until re-embedded.
 *
 *     fr_gallery *g; fr_error err;
 *     if (fr_gallery_open("facerec.db", fr_engine_model_id(e), fr_engine_embed_dim(e), &g, &err)) ...
 *     fr_gallery_face_in f = {.subject = "alice", .source = "alice/1.jpg", .embedding = emb, ...};
 *     fr_gallery_face out; bool existed;
 *     fr_gallery_add(g, &f, &out, &existed, &err);
 *     fr_gallery_match m[5]; int n;
 *     fr_gallery_search(g, query, 5, m, &n, &err);   // best face per subject, best first
 *     fr_gallery_close(g);
 *
 * Thread safety: one fr_gallery may be used from several threads; searches
 * run concurrently and block on writers only briefly (the index is swapped, not
 * rebuilt, under the lock). An add acknowledged with FR_OK is durable (committed).
 */
#ifndef FACEREC_GALLERY_H
#define FACEREC_GALLERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_NAME_MAX 256      /* subject name bytes, UTF-8, without NUL */
#define FR_IMAGE_ID_LEN 36   /* UUID text */

typedef struct fr_gallery fr_gallery;

typedef struct fr_gallery_face_in {
  const char *subject;          /* created if missing */
  const char *source;           /* file name or label the face came from (may be NULL) */
  const uint8_t *source_hash;   /* 32-byte SHA-256 of the source bytes, or NULL */
  int face_index;               /* which face of that source (0 for single-face enrollment) */
  float box[4];                 /* x, y, w, h in source pixels */
  const float *embedding;       /* dim floats, L2-normalized */
  const uint8_t *thumb_jpeg;    /* aligned face JPEG (may be NULL) */
  size_t thumb_len;
} fr_gallery_face_in;

typedef struct fr_gallery_face {
  int64_t id;
  char image_id[FR_IMAGE_ID_LEN + 1]; /* stable public id (UUID v4) */
  char subject[FR_NAME_MAX + 1];
  char source[FR_NAME_MAX + 1];
  float box[4];
  int64_t created_unix;
} fr_gallery_face;

typedef struct fr_gallery_match {
  char subject[FR_NAME_MAX + 1];
  char image_id[FR_IMAGE_ID_LEN + 1]; /* the best-matching face of that subject */
  float similarity;
} fr_gallery_match;

typedef struct fr_gallery_stats {
  int64_t subjects, faces, other_model_faces;
} fr_gallery_stats;

/* Opens (creating if needed) the gallery file; path ":memory:" for a private
 * in-memory gallery. Loads the index of faces made by model_id. */
fr_status fr_gallery_open(const char *path, const char *model_id, int dim, fr_gallery **out,
                          fr_error *err);
void fr_gallery_close(fr_gallery *g);

/* Adds a face. Idempotent: the same (subject, source_hash, face_index) adds
 * nothing and returns the existing face with *existed = true. Subject names:
 * 1..FR_NAME_MAX bytes of valid UTF-8 without control characters (else FR_ERR_INVALID_ARG).
 * The embedding must be finite and non-zero; it is stored scaled to unit length.
 * If that key holds a face made by ANOTHER model, the face is re-embedded in
 * place (same image_id; embedding, model, box, thumb and source replaced) and
 * *existed = false. source (may be NULL) follows the name rules but may be empty;
 * thumb_len is capped at 4 MiB (FR_ERR_TOO_LARGE). existed may be NULL. */
fr_status fr_gallery_add(fr_gallery *g, const fr_gallery_face_in *in, fr_gallery_face *out,
                         bool *existed, fr_error *err);

/* Top subjects by their best face's cosine similarity, best first; at most k
 * (k = 0: *n = 0; out may be NULL then). Ties go to the face stored first. */
fr_status fr_gallery_search(fr_gallery *g, const float *embedding, int k, fr_gallery_match *out,
                            int *n, fr_error *err);
/* Similarity of the query to one face (FR_ERR_NOT_FOUND if no such face). */
fr_status fr_gallery_similarity(fr_gallery *g, const char *image_id, const float *embedding,
                                float *similarity, fr_error *err);

/* Subjects. The list callbacks stop early when they return non-zero; they run
 * while the gallery's store lock is held, so they must not call into the gallery.
 * fr_gallery_subjects lists by name, with each subject's count of this model's faces. */
fr_status fr_gallery_subject_add(fr_gallery *g, const char *name, bool *existed, fr_error *err);
fr_status fr_gallery_subjects(fr_gallery *g, int (*cb)(void *ctx, const char *name, int64_t faces),
                              void *ctx, fr_error *err);
/* Renames old to new (FR_ERR_NOT_FOUND when old is missing). When new already
 * exists the subjects are merged, as CompreFace does: old's faces move to new,
 * except any new already has from the same file (those are deleted), and old
 * is deleted. */
fr_status fr_gallery_subject_rename(fr_gallery *g, const char *old_name, const char *new_name,
                                    fr_error *err);
/* Deletes a subject and its faces (of every model); *deleted_faces (may be NULL) = how many. */
fr_status fr_gallery_subject_delete(fr_gallery *g, const char *name, int64_t *deleted_faces,
                                    fr_error *err);

/* Faces: list (subject NULL = all; paging by offset/limit, ordered by id), get, delete.
 * Only this model's faces are visible. Listing an unknown subject is FR_ERR_NOT_FOUND;
 * limit < 0 = no limit; *total (may be NULL) counts all matching faces, cb may be NULL.
 * image_id: any case; an id that is not a UUID is simply FR_ERR_NOT_FOUND. */
fr_status fr_gallery_faces(fr_gallery *g, const char *subject, int64_t offset, int64_t limit,
                           int (*cb)(void *ctx, const fr_gallery_face *f), void *ctx,
                           int64_t *total, fr_error *err);
fr_status fr_gallery_face_get(fr_gallery *g, const char *image_id, fr_gallery_face *out,
                              fr_error *err);
/* The stored thumbnail (malloc'ed; caller frees). *jpeg = NULL, *len = 0 when
 * the face has none. */
fr_status fr_gallery_face_thumb(fr_gallery *g, const char *image_id, uint8_t **jpeg, size_t *len,
                                fr_error *err);
fr_status fr_gallery_face_delete(fr_gallery *g, const char *image_id, fr_gallery_face *deleted,
                                 fr_error *err);

fr_status fr_gallery_stats_get(fr_gallery *g, fr_gallery_stats *st, fr_error *err);

/* API keys of the HTTP service. Only a SHA-256 hash of each key is stored;
 * the key itself is shown once by whoever created it. role: "admin" or
 * "recognize". A gallery opened for any model id sees every key. */
typedef struct fr_gallery_key {
  int64_t id;
  uint8_t hash[32];
  char role[16];
  int64_t created_unix;
} fr_gallery_key;

/* Stores a key hash; *id (may be NULL) its id. FR_ERR_INVALID_ARG for another
 * role or a hash already stored. Durable when FR_OK. */
fr_status fr_gallery_key_add(fr_gallery *g, const uint8_t hash[32], const char *role, int64_t *id,
                             fr_error *err);
/* Every key, by id. cb returns non-zero to stop; it runs under the store lock
 * and must not call into the gallery. */
fr_status fr_gallery_keys(fr_gallery *g, int (*cb)(void *ctx, const fr_gallery_key *k), void *ctx,
                          fr_error *err);
/* Deletes a key (FR_ERR_NOT_FOUND if there is no such id). */
fr_status fr_gallery_key_delete(fr_gallery *g, int64_t id, fr_error *err);

/* SHA-256 (for source_hash). */
void fr_sha256(const void *data, size_t len, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif
