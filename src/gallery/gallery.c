/*
 * Gallery: validation, ids, locking; the store (store.h) persists, the index
 * (index.h) searches.
 *
 * Locking. store_mu serializes every store call (one connection, shared
 * prepared statements) and every mutation end to end: a writer holds it across
 * "commit to the store, then apply to the index", so the index sees the
 * commits in commit order (a face add racing a subject delete cannot leave an
 * orphan row). ix_lock (rwlock, writer-preferring so a stream of searches
 * cannot starve writers) guards the index: searches and similarity take it
 * shared and never touch the store; writers take it exclusively only to apply
 * an already-committed change (append / swap-remove / rename: microseconds),
 * or to grow the index BEFORE the commit, so applying cannot fail after it.
 * Every field of the index is written only with both locks held and read only
 * with at least one of them, so there is no unsynchronized access (TSan-clean
 * by construction; no atomics, no lock-free reads).
 *
 * Search re-scores its candidates from the float32 embeddings in the store
 * (the index keeps int8 rows only; see index.h). A file gallery reads them on
 * the store's own read connection while holding ix_lock shared (lock order
 * ix_lock -> the store's read mutex; writers never take that one), so searches
 * still never wait for a commit. A committed delete whose index update is still
 * waiting for ix_lock shows as a missing candidate: the search drops the lock
 * (the writer goes first: the lock prefers writers) and runs again. A ":memory:"
 * gallery has a single connection: its searches take store_mu before ix_lock
 * (the writers' order), so they wait for writers there.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "facerec/gallery.h"
#include "gallery/index.h"
#include "gallery/store.h"

#define MODEL_ID_MAX 128
#define DIM_MAX 8192
#define THUMB_MAX (4u << 20) /* bytes */

struct fr_gallery {
  fr__store *store;
  fr__index *ix;
  pthread_mutex_t store_mu;
  pthread_rwlock_t ix_lock;
  int dim, stride;
  bool reader; /* the store has a read connection (file galleries) */
};

/* ---- validation ---- */

/* Valid UTF-8 (no overlongs, surrogates or > U+10FFFF) without C0/C1 control
 * characters or DEL; 1..FR_NAME_MAX bytes (0 allowed when allow_empty). */
static fr_status check_text(const char *what, const char *s, bool allow_empty, fr_error *err) {
  if (!s) return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is missing", what);
  size_t n = strnlen(s, FR_NAME_MAX + 1);
  if (n == 0 && !allow_empty) return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is empty", what);
  if (n > FR_NAME_MAX)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is longer than %d bytes", what, FR_NAME_MAX);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        return fr_error_set(err, FR_ERR_INVALID_ARG, "%s has a control character at byte %zu",
                            what, i);
      i++;
      continue;
    }
    int len;
    unsigned lo = 0x80, hi = 0xbf, cp;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3, cp = c & 0x0f;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is not valid UTF-8 (byte %zu)", what, i);
    }
    if (i + (size_t)len > n)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is not valid UTF-8 (truncated at byte %zu)",
                          what, i);
    for (int k = 1; k < len; k++) {
      unsigned b = p[i + (size_t)k];
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
        return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is not valid UTF-8 (byte %zu)", what,
                            i + (size_t)k);
      cp = cp << 6 | (b & 0x3f);
    }
    if (cp >= 0x80 && cp <= 0x9f)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "%s has a control character at byte %zu", what,
                          i);
    i += (size_t)len;
  }
  return FR_OK;
}

static fr_status check_name(const char *s, fr_error *err) {
  return check_text("subject name", s, false, err);
}

/* Copies emb into out (dim floats, zero-padded to stride) scaled to unit length.
 * FR_ERR_INVALID_ARG for NULL, non-finite or zero vectors. */
static fr_status normalize(const fr_gallery *g, const float *emb, float *out, fr_error *err) {
  if (!emb) return fr_error_set(err, FR_ERR_INVALID_ARG, "embedding is missing");
  double ss = 0;
  for (int i = 0; i < g->dim; i++) {
    if (!isfinite(emb[i]))
      return fr_error_set(err, FR_ERR_INVALID_ARG, "embedding value %d is not finite", i);
    ss += (double)emb[i] * emb[i];
  }
  if (!(ss > 0) || !isfinite(ss))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "embedding has zero or infinite length");
  double inv = 1.0 / sqrt(ss);
  for (int i = 0; i < g->dim; i++) out[i] = (float)(emb[i] * inv);
  for (int i = g->dim; i < g->stride; i++) out[i] = 0;
  return FR_OK;
}

static float *vec_alloc(const fr_gallery *g) {
  return aligned_alloc(64, (size_t)g->stride * sizeof(float)); /* stride*4 is a multiple of 64 */
}

/* Parses an image id given by a caller; a malformed one names no face. */
static fr_status parse_image_id(const char *image_id, uint8_t uuid[16], char canon[FR_IMAGE_ID_LEN + 1],
                                fr_error *err) {
  if (!fr__uuid_parse(image_id, uuid))
    return fr_error_set(err, FR_ERR_NOT_FOUND, "face %.64s not found (not an image id)",
                        image_id ? image_id : "(null)");
  fr__uuid_format(uuid, canon);
  return FR_OK;
}

static fr_status new_uuid(uint8_t u[16], fr_error *err) {
  size_t got = 0;
  while (got < 16) {
    ssize_t r = getrandom(u + got, 16 - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fr_error_set(err, FR_ERR_IO, "getrandom: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
  u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  return FR_OK;
}

/* ---- open / close ---- */

typedef struct load_ctx {
  fr_gallery *g;
  fr_error *err;
} load_ctx;

static fr_status load_subject(void *ctx, int64_t id, const char *name) {
  load_ctx *c = ctx;
  fr_status st = fr__index_reserve(c->g->ix, 0, 1, c->err);
  if (st != FR_OK) return st;
  char *copy = strdup(name ? name : "");
  if (!copy) return fr_error_set(c->err, FR_ERR_NOMEM, "out of memory loading subjects");
  fr__index_subject_put(c->g->ix, id, copy);
  return FR_OK;
}

static fr_status load_face(void *ctx, int64_t subject_id, int64_t face_id, const char *image_id,
                           const float *emb) {
  load_ctx *c = ctx;
  uint8_t u[16];
  if (!fr__uuid_parse(image_id, u))
    return fr_error_set(c->err, FR_ERR_FORMAT, "gallery face has a malformed image id \"%.40s\"",
                        image_id);
  int slot = fr__index_subject_slot(c->g->ix, subject_id);
  if (slot < 0)
    return fr_error_set(c->err, FR_ERR_FORMAT, "gallery face %s has no subject", image_id);
  for (int i = 0; i < c->g->dim; i++)
    if (!isfinite(emb[i]))
      return fr_error_set(c->err, FR_ERR_FORMAT, "gallery face %s has a non-finite embedding",
                          image_id);
  fr_status st = fr__index_reserve(c->g->ix, 1, 0, c->err);
  if (st != FR_OK) return st;
  fr__index_append(c->g->ix, slot, u, face_id, emb);
  return FR_OK;
}

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

fr_status fr_gallery_open(const char *path, const char *model_id, int dim, fr_gallery **out,
                          fr_error *err) {
  if (!out) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_open: out is NULL");
  *out = NULL;
  if (!path || !*path) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery path is empty");
  if (!model_id || !*model_id || strnlen(model_id, MODEL_ID_MAX + 1) > MODEL_ID_MAX)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "model id must be 1..%d bytes", MODEL_ID_MAX);
  for (const char *p = model_id; *p; p++)
    if (*p < 0x21 || *p > 0x7e)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "model id must be printable ASCII");
  if (dim <= 0 || dim > DIM_MAX)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "embedding size %d out of range 1..%d", dim,
                        DIM_MAX);
  if (has_prefix(path, "postgres://") || has_prefix(path, "postgresql://"))
    return fr_error_set(err, FR_ERR_UNSUPPORTED, "gallery %s: PostgreSQL store not built", path);

  fr_gallery *g = calloc(1, sizeof *g);
  if (!g) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  g->dim = dim;
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int lock_rc = pthread_rwlock_init(&g->ix_lock, &ra);
  pthread_rwlockattr_destroy(&ra);
  if (lock_rc) {
    free(g);
    return fr_error_set(err, FR_ERR_INTERNAL, "rwlock init failed");
  }
  if (pthread_mutex_init(&g->store_mu, NULL)) {
    pthread_rwlock_destroy(&g->ix_lock);
    free(g);
    return fr_error_set(err, FR_ERR_INTERNAL, "mutex init failed");
  }
  fr_status st = fr__index_create(dim, &g->ix, err);
  if (st == FR_OK) {
    g->stride = fr__index_stride(g->ix);
    st = fr__store_sqlite_open(path, model_id, dim, &g->store, err);
  }
  if (st == FR_OK) g->reader = g->store->ops->has_reader(g->store);
  fr_gallery_stats hint = {0};
  if (st == FR_OK) st = g->store->ops->stats(g->store, &hint, err);
  if (st == FR_OK && hint.faces > 0) /* a hint: the load below reserves as it goes */
    st = fr__index_reserve(g->ix, (size_t)hint.faces, (size_t)hint.subjects, err);
  if (st == FR_OK) {
    load_ctx c = {g, err};
    st = g->store->ops->load(g->store, &c, load_subject, load_face, err);
  }
  if (st != FR_OK) {
    fr_gallery_close(g);
    return st;
  }
  *out = g;
  return FR_OK;
}

void fr_gallery_close(fr_gallery *g) {
  if (!g) return;
  if (g->store) g->store->ops->close(g->store);
  fr__index_destroy(g->ix);
  pthread_mutex_destroy(&g->store_mu);
  pthread_rwlock_destroy(&g->ix_lock);
  free(g);
}

/* Under store_mu: grows the index (exclusively) unless the room is there. */
static fr_status reserve(fr_gallery *g, size_t rows, size_t subjects, fr_error *err) {
  if (fr__index_has_room(g->ix, rows, subjects)) return FR_OK;
  pthread_rwlock_wrlock(&g->ix_lock);
  fr_status st = fr__index_reserve(g->ix, rows, subjects, err);
  pthread_rwlock_unlock(&g->ix_lock);
  return st;
}

/* ---- faces ---- */

fr_status fr_gallery_add(fr_gallery *g, const fr_gallery_face_in *in, fr_gallery_face *out,
                         bool *existed, fr_error *err) {
  if (!g || !in || !out) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_add: NULL argument");
  if (existed) *existed = false;
  fr_status st = check_name(in->subject, err);
  if (st != FR_OK) return st;
  if (in->source && (st = check_text("source", in->source, true, err)) != FR_OK) return st;
  if (in->face_index < 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "face index %d is negative", in->face_index);
  for (int i = 0; i < 4; i++)
    if (!isfinite(in->box[i])) return fr_error_set(err, FR_ERR_INVALID_ARG, "face box is not finite");
  if (in->thumb_len > THUMB_MAX)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "thumbnail of %zu bytes (limit %u)", in->thumb_len,
                        THUMB_MAX);
  if (in->thumb_len > 0 && !in->thumb_jpeg)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "thumbnail length without data");

  float *emb = vec_alloc(g);
  char *name = strdup(in->subject);
  uint8_t u[16];
  char image_id[FR_IMAGE_ID_LEN + 1];
  if (!emb || !name) {
    free(emb), free(name);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  st = normalize(g, in->embedding, emb, err);
  if (st == FR_OK) st = new_uuid(u, err);
  if (st != FR_OK) {
    free(emb), free(name);
    return st;
  }
  fr__uuid_format(u, image_id);
  fr__store_face_add rec = {
      .subject = in->subject, .image_id = image_id, .source = in->source,
      .source_hash = in->source_hash, .face_index = in->face_index, .embedding = emb,
      .thumb = in->thumb_len ? in->thumb_jpeg : NULL, .thumb_len = in->thumb_len,
      .now = (int64_t)time(NULL)};
  memcpy(rec.box, in->box, sizeof rec.box);

  pthread_mutex_lock(&g->store_mu);
  st = reserve(g, 1, 1, err);
  int64_t sid = 0;
  fr__store_add_result res = FR__STORE_EXISTED;
  if (st == FR_OK) st = g->store->ops->face_add(g->store, &rec, out, &sid, &res, err);
  if (st == FR_OK && res != FR__STORE_EXISTED) {
    if (res == FR__STORE_REEMBEDDED) fr__uuid_parse(out->image_id, u); /* keeps its id */
    pthread_rwlock_wrlock(&g->ix_lock);
    int slot = fr__index_subject_put(g->ix, sid, name);
    name = NULL;
    fr__index_append(g->ix, slot, u, out->id, emb);
    pthread_rwlock_unlock(&g->ix_lock);
  }
  pthread_mutex_unlock(&g->store_mu);
  if (st == FR_OK && existed) *existed = res == FR__STORE_EXISTED;
  free(name);
  free(emb);
  return st;
}

/* Index fetch callback: the candidates' float32 embeddings from the store. */
static fr_status fetch_embeddings(void *ctx, size_t n, const int64_t *face_ids,
                                  const uint8_t (*uuids)[16], float *out, size_t out_stride,
                                  bool *found, fr_error *err) {
  fr_gallery *g = ctx;
  enum { CHUNK = 64 };
  char ids[CHUNK][FR_IMAGE_ID_LEN + 1];
  for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
    size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
    for (size_t i = 0; i < m; i++) fr__uuid_format(uuids[i0 + i], ids[i]);
    fr_status st = g->store->ops->embeddings(g->store, g->reader, m, face_ids + i0,
                                             (const char(*)[FR_IMAGE_ID_LEN + 1])ids,
                                             out + i0 * out_stride, out_stride, found + i0, err);
    if (st != FR_OK) return st;
  }
  return FR_OK;
}

/* A search that finds a candidate deleted under it (committed, not yet applied
 * to the index) runs again; after this many tries the missing rows are left
 * out (a face deleted at the same moment, or re-embedded by another process). */
#define SEARCH_TRIES 8

fr_status fr_gallery_search(fr_gallery *g, const float *embedding, int k, fr_gallery_match *out,
                            int *n, fr_error *err) {
  if (!g || !n) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_search: NULL argument");
  *n = 0;
  if (k < 0) return fr_error_set(err, FR_ERR_INVALID_ARG, "k = %d is negative", k);
  if (k > 0 && !out) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_search: out is NULL");
  float *q = vec_alloc(g);
  if (!q) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  fr_status st = normalize(g, embedding, q, err);
  for (int t = 0; st == FR_OK && k > 0; t++) {
    if (!g->reader) pthread_mutex_lock(&g->store_mu);
    pthread_rwlock_rdlock(&g->ix_lock);
    fr__index_search_info info;
    st = fr__index_search(g->ix, q, k, fetch_embeddings, g, t + 1 == SEARCH_TRIES, out, n, &info,
                          err);
    pthread_rwlock_unlock(&g->ix_lock);
    if (!g->reader) pthread_mutex_unlock(&g->store_mu);
    if (st != FR_OK || info.missing == 0 || t + 1 == SEARCH_TRIES) break;
  }
  free(q);
  return st;
}

fr_status fr_gallery_similarity(fr_gallery *g, const char *image_id, const float *embedding,
                                float *similarity, fr_error *err) {
  if (!g || !similarity)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_similarity: NULL argument");
  uint8_t u[16];
  char canon[FR_IMAGE_ID_LEN + 1];
  fr_status st = parse_image_id(image_id, u, canon, err);
  if (st != FR_OK) return st;
  float *q = vec_alloc(g), *row = vec_alloc(g);
  if (!q || !row) {
    free(q), free(row);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  st = normalize(g, embedding, q, err);
  if (st == FR_OK) {
    if (!g->reader) pthread_mutex_lock(&g->store_mu);
    pthread_rwlock_rdlock(&g->ix_lock);
    ptrdiff_t r = fr__index_find(g->ix, u);
    bool found = false;
    if (r >= 0) {
      int64_t fid = fr__index_face_id(g->ix, (size_t)r);
      st = fetch_embeddings(g, 1, &fid, (const uint8_t(*)[16])&u, row, (size_t)g->stride, &found,
                            err);
    }
    pthread_rwlock_unlock(&g->ix_lock);
    if (!g->reader) pthread_mutex_unlock(&g->store_mu);
    if (st == FR_OK && !found) {
      st = fr_error_set(err, FR_ERR_NOT_FOUND, "face %s not found", canon);
    } else if (st == FR_OK) {
      double s = 0;
      for (int i = 0; i < g->dim; i++) s += (double)row[i] * q[i];
      *similarity = (float)s;
    }
  }
  free(q), free(row);
  return st;
}

fr_status fr_gallery_faces(fr_gallery *g, const char *subject, int64_t offset, int64_t limit,
                           int (*cb)(void *ctx, const fr_gallery_face *f), void *ctx,
                           int64_t *total, fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_faces: NULL gallery");
  if (offset < 0) return fr_error_set(err, FR_ERR_INVALID_ARG, "offset %lld is negative", (long long)offset);
  if (subject) {
    fr_status st = check_name(subject, err);
    if (st != FR_OK) return st;
  }
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->faces(g->store, subject, offset, limit, cb, ctx, total, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

fr_status fr_gallery_face_get(fr_gallery *g, const char *image_id, fr_gallery_face *out,
                              fr_error *err) {
  if (!g || !out) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_face_get: NULL argument");
  uint8_t u[16];
  char canon[FR_IMAGE_ID_LEN + 1];
  fr_status st = parse_image_id(image_id, u, canon, err);
  if (st != FR_OK) return st;
  pthread_mutex_lock(&g->store_mu);
  st = g->store->ops->face_get(g->store, canon, out, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

fr_status fr_gallery_face_thumb(fr_gallery *g, const char *image_id, uint8_t **jpeg, size_t *len,
                                fr_error *err) {
  if (!g || !jpeg || !len)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_face_thumb: NULL argument");
  *jpeg = NULL;
  *len = 0;
  uint8_t u[16];
  char canon[FR_IMAGE_ID_LEN + 1];
  fr_status st = parse_image_id(image_id, u, canon, err);
  if (st != FR_OK) return st;
  pthread_mutex_lock(&g->store_mu);
  st = g->store->ops->face_thumb(g->store, canon, jpeg, len, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

fr_status fr_gallery_face_delete(fr_gallery *g, const char *image_id, fr_gallery_face *deleted,
                                 fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_face_delete: NULL gallery");
  uint8_t u[16];
  char canon[FR_IMAGE_ID_LEN + 1];
  fr_status st = parse_image_id(image_id, u, canon, err);
  if (st != FR_OK) return st;
  fr_gallery_face f;
  pthread_mutex_lock(&g->store_mu);
  st = g->store->ops->face_delete(g->store, canon, &f, err);
  if (st == FR_OK) {
    pthread_rwlock_wrlock(&g->ix_lock);
    fr__index_remove(g->ix, u);
    pthread_rwlock_unlock(&g->ix_lock);
  }
  pthread_mutex_unlock(&g->store_mu);
  if (st == FR_OK && deleted) *deleted = f;
  return st;
}

/* ---- subjects ---- */

fr_status fr_gallery_subject_add(fr_gallery *g, const char *name, bool *existed, fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_subject_add: NULL gallery");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  char *copy = strdup(name);
  if (!copy) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  bool ex = false;
  int64_t id = 0;
  pthread_mutex_lock(&g->store_mu);
  st = reserve(g, 0, 1, err);
  if (st == FR_OK) st = g->store->ops->subject_add(g->store, name, (int64_t)time(NULL), &id, &ex, err);
  if (st == FR_OK) {
    pthread_rwlock_wrlock(&g->ix_lock);
    fr__index_subject_put(g->ix, id, copy); /* frees copy if the slot exists */
    copy = NULL;
    pthread_rwlock_unlock(&g->ix_lock);
  }
  pthread_mutex_unlock(&g->store_mu);
  free(copy);
  if (st == FR_OK && existed) *existed = ex;
  return st;
}

fr_status fr_gallery_subjects(fr_gallery *g, int (*cb)(void *ctx, const char *name, int64_t faces),
                              void *ctx, fr_error *err) {
  if (!g || !cb) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_subjects: NULL argument");
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->subjects(g->store, cb, ctx, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

/* Faces a merge drops (new already had them), as index rows to remove. */
typedef struct merge_drops {
  const fr__index *ix;
  uint8_t (*uuid)[16];
  size_t n, cap;
} merge_drops;

static void merge_dropped(void *ctx, const char *image_id) {
  merge_drops *d = ctx;
  uint8_t u[16];
  /* only this model's faces are in the index; each is a distinct row of the old
   * subject, so cap (its face count) is never exceeded */
  if (image_id && fr__uuid_parse(image_id, u) && fr__index_find(d->ix, u) >= 0 && d->n < d->cap)
    memcpy(d->uuid[d->n++], u, 16);
}

fr_status fr_gallery_subject_rename(fr_gallery *g, const char *old_name, const char *new_name,
                                    fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_subject_rename: NULL gallery");
  fr_status st = check_name(old_name, err);
  if (st == FR_OK) st = check_name(new_name, err);
  if (st != FR_OK) return st;
  char *copy = strdup(new_name);
  merge_drops d = {.ix = g->ix};
  int64_t id = 0, into = 0;
  pthread_mutex_lock(&g->store_mu);
  /* under store_mu nothing else mutates the index, so reading it here is safe;
   * the old subject's rows bound how many faces a merge can drop */
  d.cap = fr__index_subject_faces_by_name(g->ix, old_name);
  if (!copy || (d.cap && !(d.uuid = malloc(d.cap * sizeof *d.uuid))))
    st = fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  else
    st = reserve(g, 0, 1, err); /* a merge may need new's slot in the index */
  if (st == FR_OK)
    st = g->store->ops->subject_rename(g->store, old_name, new_name, &id, &into, merge_dropped, &d,
                                       err);
  if (st == FR_OK) {
    pthread_rwlock_wrlock(&g->ix_lock);
    if (into) {
      for (size_t i = 0; i < d.n; i++) fr__index_remove(g->ix, d.uuid[i]);
      fr__index_subject_put(g->ix, into, copy); /* existing slot, or a new one (reserved) */
      fr__index_subject_merge(g->ix, id, into);
    } else {
      fr__index_subject_rename(g->ix, id, copy);
    }
    copy = NULL;
    pthread_rwlock_unlock(&g->ix_lock);
  }
  pthread_mutex_unlock(&g->store_mu);
  free(copy);
  free(d.uuid);
  return st;
}

fr_status fr_gallery_subject_delete(fr_gallery *g, const char *name, int64_t *deleted_faces,
                                    fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_subject_delete: NULL gallery");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  int64_t id = 0, faces = 0;
  pthread_mutex_lock(&g->store_mu);
  st = g->store->ops->subject_delete(g->store, name, &id, &faces, err);
  if (st == FR_OK) {
    pthread_rwlock_wrlock(&g->ix_lock);
    fr__index_subject_remove(g->ix, id);
    pthread_rwlock_unlock(&g->ix_lock);
  }
  pthread_mutex_unlock(&g->store_mu);
  if (st == FR_OK && deleted_faces) *deleted_faces = faces;
  return st;
}

fr_status fr_gallery_stats_get(fr_gallery *g, fr_gallery_stats *st_out, fr_error *err) {
  if (!g || !st_out) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_stats_get: NULL argument");
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->stats(g->store, st_out, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

/* ---- API keys ---- */

fr_status fr_gallery_key_add(fr_gallery *g, const uint8_t hash[32], const char *role, int64_t *id,
                             fr_error *err) {
  if (!g || !hash || !role)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_key_add: NULL argument");
  if (strcmp(role, "admin") != 0 && strcmp(role, "recognize") != 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "api key role must be admin or recognize");
  int64_t kid = 0;
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->key_add(g->store, hash, role, (int64_t)time(NULL), &kid, err);
  pthread_mutex_unlock(&g->store_mu);
  if (st == FR_OK && id) *id = kid;
  return st;
}

fr_status fr_gallery_keys(fr_gallery *g, int (*cb)(void *ctx, const fr_gallery_key *k), void *ctx,
                          fr_error *err) {
  if (!g || !cb) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_keys: NULL argument");
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->keys(g->store, cb, ctx, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}

fr_status fr_gallery_key_delete(fr_gallery *g, int64_t id, fr_error *err) {
  if (!g) return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery_key_delete: NULL gallery");
  pthread_mutex_lock(&g->store_mu);
  fr_status st = g->store->ops->key_delete(g->store, id, err);
  pthread_mutex_unlock(&g->store_mu);
  return st;
}
