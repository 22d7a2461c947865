/*
 * Gallery store interface (internal): the persistent half of a gallery.
 *
 * A store holds subjects and faces for every model; one opened store is bound
 * to one model id + dim and filters every face query by that model (faces of
 * other models are only counted). The generic layer (gallery.c) validates all
 * input, generates image ids, serializes calls (a store is NOT thread-safe:
 * callers hold one mutex around every call) and keeps the in-memory index in
 * step with what the store committed.
 *
 * Each write is one transaction: when it returns FR_OK the change is committed
 * and durable; on error nothing changed. Implementations: sqlite/ (embedded,
 * the default). A PostgreSQL store for several API nodes plugs in here later:
 * nothing outside a store's folder knows SQL.
 *
 * Embeddings cross this interface as host floats; on disk they are float32
 * little-endian (fr__f32le_* below), dim values per face.
 */
#ifndef FR_GALLERY_STORE_H
#define FR_GALLERY_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "facerec/gallery.h"

typedef struct fr__store fr__store;

/* A face to add: validated by the caller (names, finite values, sizes). */
typedef struct fr__store_face_add {
  const char *subject;
  const char *image_id;         /* new UUID text, used only when a row is inserted */
  const char *source;           /* may be NULL */
  const uint8_t *source_hash;   /* 32 bytes or NULL (then no idempotency key) */
  int face_index;
  float box[4];
  const float *embedding;       /* dim floats (normalized by the caller) */
  const uint8_t *thumb;         /* may be NULL */
  size_t thumb_len;
  int64_t now;                  /* unix seconds */
} fr__store_face_add;

/* What a face add did. */
typedef enum fr__store_add_result {
  FR__STORE_ADDED,     /* new row */
  FR__STORE_EXISTED,   /* same (subject, source_hash, face_index) with this model: nothing changed */
  FR__STORE_REEMBEDDED /* same key made by another model: embedding + model replaced, image_id kept */
} fr__store_add_result;

typedef struct fr__store_ops {
  const char *name;
  void (*close)(fr__store *s);
  /* Loads the subjects, then every face of the store's model, in one
   * consistent snapshot. A callback returning non-FR_OK stops the load with it. */
  fr_status (*load)(fr__store *s, void *ctx,
                    fr_status (*subject_cb)(void *ctx, int64_t id, const char *name),
                    fr_status (*face_cb)(void *ctx, int64_t subject_id, int64_t face_id,
                                         const char *image_id, const float *embedding),
                    fr_error *err);
  fr_status (*stats)(fr__store *s, fr_gallery_stats *st, fr_error *err);
  /* Creates the subject if missing; *id its row id. */
  fr_status (*subject_add)(fr__store *s, const char *name, int64_t now, int64_t *id,
                           bool *existed, fr_error *err);
  /* FR_ERR_NOT_FOUND if old is missing. When new exists the two are merged (as
   * CompreFace does): old's faces move to new, except those new already has
   * (same source file and face index), which are deleted (dropped is called
   * with each one's image id, in the transaction), and old is deleted.
   * *id = old's id; *into = new's id when merged, else 0. */
  fr_status (*subject_rename)(fr__store *s, const char *old_name, const char *new_name,
                              int64_t *id, int64_t *into,
                              void (*dropped)(void *ctx, const char *image_id), void *ctx,
                              fr_error *err);
  /* Deletes the subject and (cascade) all its faces, of every model. */
  fr_status (*subject_delete)(fr__store *s, const char *name, int64_t *id, int64_t *faces,
                              fr_error *err);
  /* Subjects by name, with their count of this model's faces. */
  fr_status (*subjects)(fr__store *s, int (*cb)(void *ctx, const char *name, int64_t faces),
                        void *ctx, fr_error *err);
  /* *out is the face as stored (existing one when not ADDED); *subject_id its subject. */
  fr_status (*face_add)(fr__store *s, const fr__store_face_add *in, fr_gallery_face *out,
                        int64_t *subject_id, fr__store_add_result *res, fr_error *err);
  fr_status (*face_get)(fr__store *s, const char *image_id, fr_gallery_face *out, fr_error *err);
  /* *jpeg malloc'ed (NULL with *len 0 when the face has no thumbnail). */
  fr_status (*face_thumb)(fr__store *s, const char *image_id, uint8_t **jpeg, size_t *len,
                          fr_error *err);
  fr_status (*face_delete)(fr__store *s, const char *image_id, fr_gallery_face *out,
                           fr_error *err);
  /* subject NULL = all; FR_ERR_NOT_FOUND for an unknown subject; limit < 0 = no limit. */
  fr_status (*faces)(fr__store *s, const char *subject, int64_t offset, int64_t limit,
                     int (*cb)(void *ctx, const fr_gallery_face *f), void *ctx, int64_t *total,
                     fr_error *err);
  /* API keys (hashes only). key_add: FR_ERR_INVALID_ARG if the hash exists;
   * key_delete: FR_ERR_NOT_FOUND if no such id. */
  fr_status (*key_add)(fr__store *s, const uint8_t hash[32], const char *role, int64_t now,
                       int64_t *id, fr_error *err);
  fr_status (*keys)(fr__store *s, int (*cb)(void *ctx, const fr_gallery_key *k), void *ctx,
                    fr_error *err);
  fr_status (*key_delete)(fr__store *s, int64_t id, fr_error *err);
  /* The float32 embeddings of n of this model's faces (for the index's exact
   * re-scoring): face i (row id face_ids[i], UUID text image_ids[i]) into
   * out + i * out_stride, found[i] = false when no such face (of this model)
   * exists now. reader = true: on the store's own read connection, safe to call
   * from any thread without the caller's lock, concurrently with every other
   * call (it sees the last committed state); FR_ERR_UNSUPPORTED when the store
   * has none (":memory:"). reader = false: like every other call. */
  fr_status (*embeddings)(fr__store *s, bool reader, size_t n, const int64_t *face_ids,
                          const char (*image_ids)[FR_IMAGE_ID_LEN + 1], float *out,
                          size_t out_stride, bool *found, fr_error *err);
  /* Whether embeddings(reader = true) is available. */
  bool (*has_reader)(fr__store *s);
} fr__store_ops;

struct fr__store {
  const fr__store_ops *ops;
};

/* Implementations. */
fr_status fr__store_sqlite_open(const char *path, const char *model_id, int dim, fr__store **out,
                                fr_error *err);

/* float32 little-endian (de)serialization of embeddings: memcpy on LE hosts. */
static inline void fr__f32le_encode(const float *v, int n, void *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint8_t *o = (uint8_t *)out;
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    o[4 * i] = (uint8_t)u, o[4 * i + 1] = (uint8_t)(u >> 8);
    o[4 * i + 2] = (uint8_t)(u >> 16), o[4 * i + 3] = (uint8_t)(u >> 24);
  }
#else
  memcpy(out, v, (size_t)n * 4);
#endif
}
static inline void fr__f32le_decode(const void *in, int n, float *v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const uint8_t *p = (const uint8_t *)in;
  for (int i = 0; i < n; i++) {
    uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                 (uint32_t)p[4 * i + 3] << 24;
    memcpy(&v[i], &u, 4);
  }
#else
  memcpy(v, in, (size_t)n * 4);
#endif
}

#endif
