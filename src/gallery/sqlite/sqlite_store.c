/*
 * SQLite gallery store (the default; embedded, one file).
 *
 * Durability: journal_mode=WAL + synchronous=FULL. In WAL mode a commit appends
 * the transaction's pages and a commit frame to the -wal file. With FULL, SQLite
 * fsyncs the WAL at every commit before sqlite3_step() returns, so an add that
 * returned FR_OK survives kill -9 AND an OS crash / power loss. (NORMAL would
 * skip that fsync: the frames are already in the OS page cache when the commit
 * returns, so they survive kill -9 of the process, but the last commits can be
 * lost on power loss, which is weaker than "acknowledged = durable".) One fsync
 * costs ~0.4 ms on this machine's disk; see bench/gallery.c for add throughput.
 *
 * Writes use BEGIN IMMEDIATE (take the write lock up front, so busy_timeout
 * applies instead of a deadlock-prone lock upgrade). Every statement is
 * prepared once at open. Schema version in PRAGMA user_version; migrate()
 * brings older files forward, refuses newer ones.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gallery/store.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 10000

/* Prepared statements: X(name, sql). */
#define STMT_MAP(X)                                                                              \
  X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
  X(BEGIN_READ, "BEGIN")                                                                         \
  X(COMMIT, "COMMIT")                                                                            \
  X(ROLLBACK, "ROLLBACK")                                                                        \
  X(SUBJECT_INSERT, "INSERT INTO subjects(name, created) VALUES(?1, ?2) "                        \
                    "ON CONFLICT(name) DO NOTHING")                                              \
  X(SUBJECT_ID, "SELECT id FROM subjects WHERE name = ?1")                                       \
  X(SUBJECT_RENAME, "UPDATE subjects SET name = ?2 WHERE id = ?1")                               \
  X(SUBJECT_DELETE, "DELETE FROM subjects WHERE id = ?1")                                        \
  X(SUBJECT_ALL, "SELECT id, name FROM subjects ORDER BY id")                                    \
  X(SUBJECT_LIST, "SELECT s.name, (SELECT count(*) FROM faces f WHERE f.subject_id = s.id "      \
                  "AND f.model_id = ?1) FROM subjects s ORDER BY s.name")                        \
  X(FACE_COUNT_SUBJECT_ALL, "SELECT count(*) FROM faces WHERE subject_id = ?1")                  \
  X(FACE_BY_KEY, "SELECT " FACE_COLS ", f.model_id FROM faces f JOIN subjects s "                \
                 "ON s.id = f.subject_id WHERE f.subject_id = ?1 AND f.source_hash = ?2 "        \
                 "AND f.face_index = ?3")                                                        \
  X(FACE_INSERT, "INSERT INTO faces(image_id, subject_id, model_id, dim, source, source_hash, "  \
                 "face_index, box_x, box_y, box_w, box_h, created, embedding, thumb) "           \
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")          \
  X(FACE_REEMBED, "UPDATE faces SET model_id = ?2, dim = ?3, embedding = ?4, box_x = ?5, "       \
                  "box_y = ?6, box_w = ?7, box_h = ?8, thumb = ?9, source = ?10 WHERE id = ?1")  \
  X(FACE_GET, "SELECT " FACE_COLS " FROM faces f JOIN subjects s ON s.id = f.subject_id "        \
              "WHERE f.image_id = ?1 AND f.model_id = ?2")                                       \
  X(FACE_THUMB, "SELECT thumb FROM faces WHERE image_id = ?1 AND model_id = ?2")                 \
  X(FACE_DELETE, "DELETE FROM faces WHERE id = ?1")                                              \
  X(FACE_LOAD, "SELECT subject_id, image_id, dim, embedding, id FROM faces NOT INDEXED "            \
               "WHERE model_id = ?1 "                                                            \
               "ORDER BY id")                                                                    \
  X(FACE_PAGE_ALL, "SELECT " FACE_COLS " FROM faces f JOIN subjects s ON s.id = f.subject_id "   \
                   "WHERE f.model_id = ?1 ORDER BY f.id LIMIT ?2 OFFSET ?3")                     \
  X(FACE_PAGE_SUBJECT, "SELECT " FACE_COLS " FROM faces f JOIN subjects s "                      \
                       "ON s.id = f.subject_id WHERE f.model_id = ?1 AND f.subject_id = ?4 "     \
                       "ORDER BY f.id LIMIT ?2 OFFSET ?3")                                       \
  X(SUBJECT_MERGE_DUPS, "SELECT f.image_id FROM faces f WHERE f.subject_id = ?1 AND EXISTS ("      \
                       "SELECT 1 FROM faces g WHERE g.subject_id = ?2 AND "                      \
                       "g.source_hash = f.source_hash AND g.face_index = f.face_index)")         \
  X(SUBJECT_MERGE_MOVE, "UPDATE OR IGNORE faces SET subject_id = ?2 WHERE subject_id = ?1")      \
  X(FACE_TOTAL_ALL, "SELECT count(*) FROM faces WHERE model_id = ?1")                            \
  X(FACE_TOTAL_SUBJECT, "SELECT count(*) FROM faces WHERE model_id = ?1 AND subject_id = ?2")    \
  X(KEY_INSERT, "INSERT INTO api_keys(hash, role, created) VALUES(?1, ?2, ?3) "                 \
                "ON CONFLICT(hash) DO NOTHING")                                                  \
  X(KEY_LIST, "SELECT id, hash, role, created FROM api_keys ORDER BY id")                        \
  X(KEY_DELETE, "DELETE FROM api_keys WHERE id = ?1")                                            \
  X(FACE_EMB, FACE_EMB_SQL)                                                                      \
  X(STATS, "SELECT (SELECT count(*) FROM subjects), "                                            \
           "(SELECT count(*) FROM faces WHERE model_id = ?1), "                                  \
           "(SELECT count(*) FROM faces WHERE model_id <> ?1)")

/* Embedding of one face for the index's exact re-scoring (rowid lookup; the
 * image id guards against a row id reused after a delete). */
#define FACE_EMB_SQL                                                                             \
  "SELECT embedding FROM faces WHERE id = ?1 AND image_id = ?2 AND model_id = ?3 AND dim = ?4"

/* Columns read into an fr_gallery_face by read_face(). */
#define FACE_COLS                                                                                \
  "f.id, f.image_id, s.name, f.source, f.box_x, f.box_y, f.box_w, f.box_h, f.created, "          \
  "f.subject_id"

enum {
#define STMT_ENUM(name, sql) S_##name,
  STMT_MAP(STMT_ENUM)
#undef STMT_ENUM
      S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
#define STMT_SQL(name, sql) sql,
    STMT_MAP(STMT_SQL)
#undef STMT_SQL
};

typedef struct sqlite_store {
  fr__store base;
  sqlite3 *db;
  sqlite3_stmt *st[S_COUNT];
  char *path;
  char *model_id;
  int dim;
  /* Read-only second connection for embeddings(reader = true): WAL readers
   * never wait for the writer, so searches do not queue behind commits. NULL
   * for ":memory:" (a private database has one connection). */
  sqlite3 *rdb;
  sqlite3_stmt *rq;
  pthread_mutex_t rmu;
} sqlite_store;

/* Every SQLite failure becomes FR_ERR_IO naming the file and SQLite's message. */
static fr_status db_err(sqlite_store *s, fr_error *err, const char *what) {
  return fr_error_set(err, FR_ERR_IO, "gallery %s: %s: %s", s->path, what,
                      s->db ? sqlite3_errmsg(s->db) : "cannot open");
}

/* Resets a statement (clears bindings too) so it holds no read lock. */
static sqlite3_stmt *stmt(sqlite_store *s, int i) {
  sqlite3_stmt *q = s->st[i];
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return q;
}

static fr_status exec1(sqlite_store *s, int i, fr_error *err) {
  sqlite3_stmt *q = stmt(s, i);
  int rc = sqlite3_step(q);
  fr_status st = rc == SQLITE_DONE || rc == SQLITE_ROW ? FR_OK : db_err(s, err, stmt_sql[i]);
  sqlite3_reset(q);
  return st;
}

static fr_status begin(sqlite_store *s, fr_error *err) { return exec1(s, S_BEGIN, err); }
static fr_status commit(sqlite_store *s, fr_error *err) {
  fr_status st = exec1(s, S_COMMIT, err);
  if (st != FR_OK && !sqlite3_get_autocommit(s->db)) exec1(s, S_ROLLBACK, NULL);
  return st;
}
/* Ends a failed transaction; keeps the first error in err. */
static fr_status rollback(sqlite_store *s, fr_status st) {
  if (!sqlite3_get_autocommit(s->db)) exec1(s, S_ROLLBACK, NULL);
  return st;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
  snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* Reads FACE_COLS starting at column 0. */
static void read_face(sqlite3_stmt *q, fr_gallery_face *f, int64_t *subject_id) {
  memset(f, 0, sizeof *f);
  f->id = sqlite3_column_int64(q, 0);
  copy_text(f->image_id, sizeof f->image_id, sqlite3_column_text(q, 1));
  copy_text(f->subject, sizeof f->subject, sqlite3_column_text(q, 2));
  copy_text(f->source, sizeof f->source, sqlite3_column_text(q, 3));
  for (int i = 0; i < 4; i++) f->box[i] = (float)sqlite3_column_double(q, 4 + i);
  f->created_unix = sqlite3_column_int64(q, 8);
  if (subject_id) *subject_id = sqlite3_column_int64(q, 9);
}

/* Looks a subject up by name: FR_OK with *id, FR_ERR_NOT_FOUND, or FR_ERR_IO. */
static fr_status subject_id(sqlite_store *s, const char *name, int64_t *id, fr_error *err) {
  sqlite3_stmt *q = stmt(s, S_SUBJECT_ID);
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  fr_status st = FR_OK;
  if (rc == SQLITE_ROW)
    *id = sqlite3_column_int64(q, 0);
  else if (rc == SQLITE_DONE)
    st = fr_error_set(err, FR_ERR_NOT_FOUND, "subject \"%s\" not found", name);
  else
    st = db_err(s, err, "look up subject");
  sqlite3_reset(q);
  return st;
}

/* ---- schema ---- */

static const char schema_v1[] =
    "CREATE TABLE subjects("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE faces("
    "  id INTEGER PRIMARY KEY,"
    "  image_id TEXT NOT NULL UNIQUE,"
    "  subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,"
    "  model_id TEXT NOT NULL,"
    "  dim INTEGER NOT NULL CHECK(dim > 0),"
    "  source TEXT,"
    "  source_hash BLOB CHECK(source_hash IS NULL OR length(source_hash) = 32),"
    "  face_index INTEGER NOT NULL DEFAULT 0,"
    "  box_x REAL NOT NULL DEFAULT 0, box_y REAL NOT NULL DEFAULT 0,"
    "  box_w REAL NOT NULL DEFAULT 0, box_h REAL NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    /* large columns last: queries that stop before them never read their overflow pages */
    "  embedding BLOB NOT NULL CHECK(length(embedding) = 4 * dim),"
    "  thumb BLOB,"
    "  UNIQUE(subject_id, source_hash, face_index));"
    "CREATE INDEX faces_subject ON faces(subject_id, id);"
    "CREATE INDEX faces_model ON faces(model_id, id);"
    /* API keys for the HTTP service (issue 4): only a hash of each key is kept. */
    "CREATE TABLE api_keys("
    "  id INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK(role IN ('admin', 'recognize')),"
    "  created INTEGER NOT NULL);";

/* Migration steps: migrations[v] takes a file from user_version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {schema_v1};

static fr_status exec_sql(sqlite_store *s, const char *sql, const char *what, fr_error *err) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fr_status st = fr_error_set(err, FR_ERR_IO, "gallery %s: %s: %s", s->path, what,
                                msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return st;
  }
  return FR_OK;
}

static fr_status pragma_int(sqlite_store *s, const char *sql, int64_t *v, fr_error *err) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) return db_err(s, err, sql);
  int rc = sqlite3_step(q);
  fr_status st = FR_OK;
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int64(q, 0);
  else
    st = db_err(s, err, sql);
  sqlite3_finalize(q);
  return st;
}

/* Brings the file to SCHEMA_VERSION in one transaction (all steps or none). */
static fr_status migrate(sqlite_store *s, fr_error *err) {
  fr_status st = exec_sql(s, "BEGIN IMMEDIATE", "begin migration", err);
  if (st != FR_OK) return st;
  int64_t v = 0;
  st = pragma_int(s, "PRAGMA user_version", &v, err);
  if (st == FR_OK && (v < 0 || v > SCHEMA_VERSION))
    st = fr_error_set(err, FR_ERR_FORMAT,
                      "gallery %s: schema version %lld is newer than this facerec (%d)", s->path,
                      (long long)v, SCHEMA_VERSION);
  for (; st == FR_OK && v < SCHEMA_VERSION; v++) {
    st = exec_sql(s, migrations[v], "migrate schema", err);
    if (st == FR_OK) {
      char sql[64];
      snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)v + 1);
      st = exec_sql(s, sql, "set schema version", err);
    }
  }
  if (st != FR_OK) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
  }
  return exec_sql(s, "COMMIT", "commit migration", err);
}

/* ---- operations ---- */

static void sq_close(fr__store *base) {
  sqlite_store *s = (sqlite_store *)base;
  if (!s) return;
  if (s->rdb) {
    sqlite3_finalize(s->rq);
    sqlite3_close(s->rdb);
    pthread_mutex_destroy(&s->rmu);
  }
  for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db); /* all statements finalized: closes now, checkpoints the WAL */
  free(s->path);
  free(s->model_id);
  free(s);
}

static fr_status sq_load(fr__store *base, void *ctx,
                         fr_status (*subject_cb)(void *, int64_t, const char *),
                         fr_status (*face_cb)(void *, int64_t, int64_t, const char *,
                                              const float *),
                         fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  float *emb = malloc((size_t)s->dim * sizeof(float));
  if (!emb) return fr_error_set(err, FR_ERR_NOMEM, "gallery %s: out of memory", s->path);
  fr_status st = exec1(s, S_BEGIN_READ, err); /* one snapshot for both queries */
  if (st != FR_OK) {
    free(emb);
    return st;
  }
  sqlite3_stmt *q = stmt(s, S_SUBJECT_ALL);
  int rc;
  while (st == FR_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
    st = subject_cb(ctx, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1));
  if (st == FR_OK && rc != SQLITE_DONE) st = db_err(s, err, "load subjects");
  sqlite3_reset(q);
  if (st == FR_OK) {
    q = stmt(s, S_FACE_LOAD);
    sqlite3_bind_text(q, 1, s->model_id, -1, SQLITE_STATIC);
    while (st == FR_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
      int dim = sqlite3_column_int(q, 2);
      const void *blob = sqlite3_column_blob(q, 3);
      int bytes = sqlite3_column_bytes(q, 3);
      const char *image_id = (const char *)sqlite3_column_text(q, 1);
      if (dim != s->dim || bytes != 4 * s->dim || !blob) {
        st = fr_error_set(err, FR_ERR_INVALID_ARG,
                          "gallery %s: face %s of model %s has %d dims (%d bytes), but the "
                          "gallery was opened with %d",
                          s->path, image_id ? image_id : "?", s->model_id, dim, bytes, s->dim);
        break;
      }
      fr__f32le_decode(blob, s->dim, emb);
      st = face_cb(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 4),
                   image_id ? image_id : "", emb);
    }
    if (st == FR_OK && rc != SQLITE_DONE) st = db_err(s, err, "load faces");
    sqlite3_reset(q);
  }
  free(emb);
  fr_status cst = exec1(s, S_COMMIT, st == FR_OK ? err : NULL);
  return st != FR_OK ? st : cst;
}

static fr_status sq_stats(fr__store *base, fr_gallery_stats *out, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_STATS);
  sqlite3_bind_text(q, 1, s->model_id, -1, SQLITE_STATIC);
  fr_status st = FR_OK;
  if (sqlite3_step(q) == SQLITE_ROW) {
    out->subjects = sqlite3_column_int64(q, 0);
    out->faces = sqlite3_column_int64(q, 1);
    out->other_model_faces = sqlite3_column_int64(q, 2);
  } else {
    st = db_err(s, err, "count subjects and faces");
  }
  sqlite3_reset(q);
  return st;
}

/* Inside a transaction: get-or-create. */
static fr_status subject_ensure(sqlite_store *s, const char *name, int64_t now, int64_t *id,
                                bool *existed, fr_error *err) {
  sqlite3_stmt *q = stmt(s, S_SUBJECT_INSERT);
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, now);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return db_err(s, err, "insert subject");
  if (existed) *existed = sqlite3_changes(s->db) == 0;
  return subject_id(s, name, id, err);
}

static fr_status sq_subject_add(fr__store *base, const char *name, int64_t now, int64_t *id,
                                bool *existed, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  fr_status st = begin(s, err);
  if (st != FR_OK) return st;
  st = subject_ensure(s, name, now, id, existed, err);
  if (st != FR_OK) return rollback(s, st);
  return commit(s, err);
}

static fr_status sq_subject_rename(fr__store *base, const char *old_name, const char *new_name,
                                   int64_t *id, int64_t *into,
                                   void (*dropped)(void *ctx, const char *image_id), void *ctx,
                                   fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  *into = 0;
  fr_status st = begin(s, err);
  if (st != FR_OK) return st;
  st = subject_id(s, old_name, id, err);
  if (st != FR_OK) return rollback(s, st);
  if (strcmp(old_name, new_name) == 0) return commit(s, err);
  int64_t other;
  st = subject_id(s, new_name, &other, NULL);
  if (st != FR_OK && st != FR_ERR_NOT_FOUND) return rollback(s, db_err(s, err, "look up subject"));
  int rc;
  if (st == FR_ERR_NOT_FOUND) {
    sqlite3_stmt *q = stmt(s, S_SUBJECT_RENAME);
    sqlite3_bind_int64(q, 1, *id);
    sqlite3_bind_text(q, 2, new_name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "rename subject"));
    return commit(s, err);
  }
  /* merge: faces new already has (same file, same face) go with old */
  sqlite3_stmt *q = stmt(s, S_SUBJECT_MERGE_DUPS);
  sqlite3_bind_int64(q, 1, *id);
  sqlite3_bind_int64(q, 2, other);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (dropped) dropped(ctx, (const char *)sqlite3_column_text(q, 0));
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "merge subjects"));
  q = stmt(s, S_SUBJECT_MERGE_MOVE);
  sqlite3_bind_int64(q, 1, *id);
  sqlite3_bind_int64(q, 2, other);
  rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "merge subjects"));
  q = stmt(s, S_SUBJECT_DELETE); /* cascades to the duplicates left behind */
  sqlite3_bind_int64(q, 1, *id);
  rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "merge subjects"));
  *into = other;
  return commit(s, err);
}

static fr_status count_query(sqlite_store *s, sqlite3_stmt *q, int64_t *n, fr_error *err) {
  int rc = sqlite3_step(q);
  fr_status st = FR_OK;
  if (rc == SQLITE_ROW)
    *n = sqlite3_column_int64(q, 0);
  else
    st = db_err(s, err, "count faces");
  sqlite3_reset(q);
  return st;
}

static fr_status sq_subject_delete(fr__store *base, const char *name, int64_t *id,
                                   int64_t *faces, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  fr_status st = begin(s, err);
  if (st != FR_OK) return st;
  st = subject_id(s, name, id, err);
  if (st != FR_OK) return rollback(s, st);
  sqlite3_stmt *q = stmt(s, S_FACE_COUNT_SUBJECT_ALL);
  sqlite3_bind_int64(q, 1, *id);
  st = count_query(s, q, faces, err);
  if (st != FR_OK) return rollback(s, st);
  q = stmt(s, S_SUBJECT_DELETE);
  sqlite3_bind_int64(q, 1, *id);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "delete subject"));
  return commit(s, err);
}

static fr_status sq_subjects(fr__store *base, int (*cb)(void *, const char *, int64_t),
                             void *ctx, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_SUBJECT_LIST);
  sqlite3_bind_text(q, 1, s->model_id, -1, SQLITE_STATIC);
  int rc;
  fr_status st = FR_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1))) break;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_err(s, err, "list subjects");
  sqlite3_reset(q);
  return st;
}

static fr_status sq_face_add(fr__store *base, const fr__store_face_add *in, fr_gallery_face *out,
                             int64_t *subject_id_out, fr__store_add_result *res, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  size_t emb_bytes = (size_t)s->dim * 4;
  void *blob = malloc(emb_bytes);
  if (!blob) return fr_error_set(err, FR_ERR_NOMEM, "gallery %s: out of memory", s->path);
  fr__f32le_encode(in->embedding, s->dim, blob);
  int64_t sid = 0;
  fr_status st = begin(s, err);
  if (st == FR_OK) st = subject_ensure(s, in->subject, in->now, &sid, NULL, err);
  *res = FR__STORE_ADDED;
  if (st == FR_OK && in->source_hash) {
    sqlite3_stmt *q = stmt(s, S_FACE_BY_KEY);
    sqlite3_bind_int64(q, 1, sid);
    sqlite3_bind_blob(q, 2, in->source_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, in->face_index);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
      read_face(q, out, NULL);
      const char *model = (const char *)sqlite3_column_text(q, 10);
      *res = model && strcmp(model, s->model_id) == 0 ? FR__STORE_EXISTED : FR__STORE_REEMBEDDED;
    } else if (rc != SQLITE_DONE) {
      st = db_err(s, err, "look up face");
    }
    sqlite3_reset(q);
  }
  if (st == FR_OK && *res == FR__STORE_REEMBEDDED) {
    sqlite3_stmt *q = stmt(s, S_FACE_REEMBED);
    sqlite3_bind_int64(q, 1, out->id);
    sqlite3_bind_text(q, 2, s->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, s->dim);
    sqlite3_bind_blob(q, 4, blob, (int)emb_bytes, SQLITE_STATIC);
    for (int i = 0; i < 4; i++) sqlite3_bind_double(q, 5 + i, in->box[i]);
    if (in->thumb) sqlite3_bind_blob64(q, 9, in->thumb, in->thumb_len, SQLITE_STATIC);
    if (in->source) sqlite3_bind_text(q, 10, in->source, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) st = db_err(s, err, "re-embed face");
    sqlite3_reset(q);
    if (st == FR_OK) {
      snprintf(out->source, sizeof out->source, "%s", in->source ? in->source : "");
      memcpy(out->box, in->box, sizeof out->box);
    }
  } else if (st == FR_OK && *res == FR__STORE_ADDED) {
    sqlite3_stmt *q = stmt(s, S_FACE_INSERT);
    sqlite3_bind_text(q, 1, in->image_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, sid);
    sqlite3_bind_text(q, 3, s->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, s->dim);
    if (in->source) sqlite3_bind_text(q, 5, in->source, -1, SQLITE_STATIC);
    if (in->source_hash) sqlite3_bind_blob(q, 6, in->source_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int(q, 7, in->face_index);
    for (int i = 0; i < 4; i++) sqlite3_bind_double(q, 8 + i, in->box[i]);
    sqlite3_bind_int64(q, 12, in->now);
    sqlite3_bind_blob(q, 13, blob, (int)emb_bytes, SQLITE_STATIC);
    if (in->thumb) sqlite3_bind_blob64(q, 14, in->thumb, in->thumb_len, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) st = db_err(s, err, "insert face");
    sqlite3_reset(q);
    if (st == FR_OK) {
      memset(out, 0, sizeof *out);
      out->id = sqlite3_last_insert_rowid(s->db);
      snprintf(out->image_id, sizeof out->image_id, "%s", in->image_id);
      snprintf(out->subject, sizeof out->subject, "%s", in->subject);
      snprintf(out->source, sizeof out->source, "%s", in->source ? in->source : "");
      memcpy(out->box, in->box, sizeof out->box);
      out->created_unix = in->now;
    }
  }
  free(blob);
  if (st != FR_OK) return rollback(s, st);
  *subject_id_out = sid;
  return commit(s, err);
}

/* Runs FACE_GET for image_id: FR_OK with the statement on its row (caller resets). */
static fr_status face_row(sqlite_store *s, const char *image_id, sqlite3_stmt **qo,
                          fr_error *err) {
  sqlite3_stmt *q = stmt(s, S_FACE_GET);
  sqlite3_bind_text(q, 1, image_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, s->model_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    *qo = q;
    return FR_OK;
  }
  sqlite3_reset(q);
  if (rc == SQLITE_DONE)
    return fr_error_set(err, FR_ERR_NOT_FOUND, "face %s not found", image_id);
  return db_err(s, err, "look up face");
}

static fr_status sq_face_get(fr__store *base, const char *image_id, fr_gallery_face *out,
                             fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q;
  fr_status st = face_row(s, image_id, &q, err);
  if (st != FR_OK) return st;
  read_face(q, out, NULL);
  sqlite3_reset(q);
  return FR_OK;
}

static fr_status sq_face_thumb(fr__store *base, const char *image_id, uint8_t **jpeg,
                               size_t *len, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_FACE_THUMB);
  sqlite3_bind_text(q, 1, image_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, s->model_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  fr_status st = FR_OK;
  *jpeg = NULL;
  *len = 0;
  if (rc == SQLITE_ROW) {
    const void *b = sqlite3_column_blob(q, 0);
    int n = sqlite3_column_bytes(q, 0);
    if (b && n > 0) {
      *jpeg = malloc((size_t)n);
      if (!*jpeg)
        st = fr_error_set(err, FR_ERR_NOMEM, "gallery %s: out of memory", s->path);
      else {
        memcpy(*jpeg, b, (size_t)n);
        *len = (size_t)n;
      }
    }
  } else if (rc == SQLITE_DONE) {
    st = fr_error_set(err, FR_ERR_NOT_FOUND, "face %s not found", image_id);
  } else {
    st = db_err(s, err, "read thumbnail");
  }
  sqlite3_reset(q);
  return st;
}

static fr_status sq_face_delete(fr__store *base, const char *image_id, fr_gallery_face *out,
                                fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  fr_status st = begin(s, err);
  if (st != FR_OK) return st;
  sqlite3_stmt *q;
  st = face_row(s, image_id, &q, err);
  if (st != FR_OK) return rollback(s, st);
  read_face(q, out, NULL);
  sqlite3_reset(q);
  q = stmt(s, S_FACE_DELETE);
  sqlite3_bind_int64(q, 1, out->id);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return rollback(s, db_err(s, err, "delete face"));
  return commit(s, err);
}

static fr_status sq_faces(fr__store *base, const char *subject, int64_t offset, int64_t limit,
                          int (*cb)(void *, const fr_gallery_face *), void *ctx, int64_t *total,
                          fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  /* One read transaction: the total and the page come from the same snapshot. */
  fr_status st = exec1(s, S_BEGIN_READ, err);
  if (st != FR_OK) return st;
  int64_t sid = 0;
  if (subject) st = subject_id(s, subject, &sid, err);
  sqlite3_stmt *q;
  if (st == FR_OK) {
    q = stmt(s, subject ? S_FACE_TOTAL_SUBJECT : S_FACE_TOTAL_ALL);
    sqlite3_bind_text(q, 1, s->model_id, -1, SQLITE_STATIC);
    if (subject) sqlite3_bind_int64(q, 2, sid);
    int64_t n = 0;
    st = count_query(s, q, &n, err);
    if (total) *total = n;
  }
  if (st == FR_OK) {
    q = stmt(s, subject ? S_FACE_PAGE_SUBJECT : S_FACE_PAGE_ALL);
    sqlite3_bind_text(q, 1, s->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, limit < 0 ? -1 : limit); /* SQLite: negative LIMIT = none */
    sqlite3_bind_int64(q, 3, offset);
    if (subject) sqlite3_bind_int64(q, 4, sid);
    int rc;
    fr_gallery_face f;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      read_face(q, &f, NULL);
      if (cb && cb(ctx, &f)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_err(s, err, "list faces");
    sqlite3_reset(q);
  }
  exec1(s, S_COMMIT, NULL);
  return st;
}

static fr_status sq_key_add(fr__store *base, const uint8_t hash[32], const char *role,
                            int64_t now, int64_t *id, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_KEY_INSERT);
  sqlite3_bind_blob(q, 1, hash, 32, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, now);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return db_err(s, err, "insert api key");
  if (sqlite3_changes(s->db) == 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "gallery %s: that api key is already stored",
                        s->path);
  *id = sqlite3_last_insert_rowid(s->db);
  return FR_OK;
}

static fr_status sq_keys(fr__store *base, int (*cb)(void *, const fr_gallery_key *), void *ctx,
                         fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_KEY_LIST);
  int rc;
  fr_status st = FR_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    fr_gallery_key k;
    memset(&k, 0, sizeof k);
    k.id = sqlite3_column_int64(q, 0);
    const void *h = sqlite3_column_blob(q, 1);
    if (h && sqlite3_column_bytes(q, 1) == 32) memcpy(k.hash, h, 32);
    else continue; /* not a SHA-256: matches nothing */
    copy_text(k.role, sizeof k.role, sqlite3_column_text(q, 2));
    k.created_unix = sqlite3_column_int64(q, 3);
    if (cb(ctx, &k)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_err(s, err, "list api keys");
  sqlite3_reset(q);
  return st;
}

static fr_status sq_key_delete(fr__store *base, int64_t id, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  sqlite3_stmt *q = stmt(s, S_KEY_DELETE);
  sqlite3_bind_int64(q, 1, id);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return db_err(s, err, "delete api key");
  if (sqlite3_changes(s->db) == 0)
    return fr_error_set(err, FR_ERR_NOT_FOUND, "api key %lld not found", (long long)id);
  return FR_OK;
}

/* Steps q (FACE_EMB) for each face; q's connection is the caller's to hold. */
static fr_status emb_rows(sqlite_store *s, sqlite3 *db, sqlite3_stmt *q, size_t n,
                          const int64_t *ids, const char (*image_ids)[FR_IMAGE_ID_LEN + 1],
                          float *out, size_t out_stride, bool *found, fr_error *err) {
  for (size_t i = 0; i < n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, ids[i]);
    sqlite3_bind_text(q, 2, image_ids[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, s->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, s->dim);
    int rc = sqlite3_step(q);
    found[i] = false;
    if (rc == SQLITE_ROW) {
      const void *blob = sqlite3_column_blob(q, 0);
      if (blob && sqlite3_column_bytes(q, 0) == 4 * s->dim) {
        fr__f32le_decode(blob, s->dim, out + i * out_stride);
        found[i] = true;
      }
    } else if (rc != SQLITE_DONE) {
      fr_status st = fr_error_set(err, FR_ERR_IO, "gallery %s: read embeddings: %s", s->path,
                                  sqlite3_errmsg(db));
      sqlite3_reset(q);
      return st;
    }
  }
  sqlite3_reset(q);
  return FR_OK;
}

static fr_status sq_embeddings(fr__store *base, bool reader, size_t n, const int64_t *ids,
                               const char (*image_ids)[FR_IMAGE_ID_LEN + 1], float *out,
                               size_t out_stride, bool *found, fr_error *err) {
  sqlite_store *s = (sqlite_store *)base;
  if (!reader) return emb_rows(s, s->db, stmt(s, S_FACE_EMB), n, ids, image_ids, out, out_stride,
                               found, err);
  if (!s->rdb) return fr_error_set(err, FR_ERR_UNSUPPORTED, "gallery %s: no read connection", s->path);
  pthread_mutex_lock(&s->rmu);
  /* one read transaction: one snapshot and one lock for the batch */
  fr_status st = FR_OK;
  if (sqlite3_exec(s->rdb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    st = fr_error_set(err, FR_ERR_IO, "gallery %s: read embeddings: %s", s->path,
                      sqlite3_errmsg(s->rdb));
  if (st == FR_OK) {
    st = emb_rows(s, s->rdb, s->rq, n, ids, image_ids, out, out_stride, found, err);
    sqlite3_exec(s->rdb, "COMMIT", NULL, NULL, NULL); /* read-only: cannot lose anything */
  }
  pthread_mutex_unlock(&s->rmu);
  return st;
}

static bool sq_has_reader(fr__store *base) { return ((sqlite_store *)base)->rdb != NULL; }

/* Opens the read connection (file galleries only). */
static fr_status open_reader(sqlite_store *s, fr_error *err) {
  if (strcmp(s->path, ":memory:") == 0) return FR_OK;
  if (pthread_mutex_init(&s->rmu, NULL))
    return fr_error_set(err, FR_ERR_INTERNAL, "gallery %s: mutex init failed", s->path);
  int rc = sqlite3_open_v2(s->path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(s->rdb, BUSY_TIMEOUT_MS);
    /* the index asks for a few rows per search: a small page cache is enough */
    rc = sqlite3_exec(s->rdb, "PRAGMA cache_size = -512", NULL, NULL, NULL);
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v3(s->rdb, FACE_EMB_SQL, -1, SQLITE_PREPARE_PERSISTENT, &s->rq, NULL);
  if (rc != SQLITE_OK) {
    fr_status st = fr_error_set(err, FR_ERR_IO, "gallery %s: open read connection: %s", s->path,
                                s->rdb ? sqlite3_errmsg(s->rdb) : "cannot open");
    sqlite3_close(s->rdb);
    s->rdb = NULL;
    pthread_mutex_destroy(&s->rmu);
    return st;
  }
  return FR_OK;
}

static const fr__store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .load = sq_load,
    .stats = sq_stats,
    .subject_add = sq_subject_add,
    .subject_rename = sq_subject_rename,
    .subject_delete = sq_subject_delete,
    .subjects = sq_subjects,
    .face_add = sq_face_add,
    .face_get = sq_face_get,
    .face_thumb = sq_face_thumb,
    .face_delete = sq_face_delete,
    .faces = sq_faces,
    .key_add = sq_key_add,
    .keys = sq_keys,
    .key_delete = sq_key_delete,
    .embeddings = sq_embeddings,
    .has_reader = sq_has_reader,
};

fr_status fr__store_sqlite_open(const char *path, const char *model_id, int dim, fr__store **out,
                                fr_error *err) {
  *out = NULL;
  sqlite_store *s = calloc(1, sizeof *s);
  if (!s) return fr_error_set(err, FR_ERR_NOMEM, "gallery %s: out of memory", path);
  s->base.ops = &sqlite_ops;
  s->path = strdup(path);
  s->model_id = strdup(model_id);
  s->dim = dim;
  if (!s->path || !s->model_id) {
    sq_close(&s->base);
    return fr_error_set(err, FR_ERR_NOMEM, "gallery %s: out of memory", path);
  }
  /* NOMUTEX: the gallery serializes every call on this connection itself. */
  int rc = sqlite3_open_v2(path, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    fr_status st = db_err(s, err, "open");
    sq_close(&s->base);
    return st;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  int64_t fk = 0;
  char *mode = NULL;
  /* page_size only takes effect on a new file: 8 KiB pages hold three 512-d
   * faces (or one with its thumbnail) where 4 KiB pages held one. */
  fr_status st = exec_sql(s,
                          "PRAGMA page_size = 8192;"
                          "PRAGMA foreign_keys = ON;"
                          "PRAGMA synchronous = FULL;"
                          "PRAGMA secure_delete = OFF;",
                          "configure", err);
  if (st == FR_OK) {
    /* journal_mode answers the mode it got (":memory:" stays "memory"). */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW)
      st = db_err(s, err, "set WAL journal mode");
    else
      mode = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (st == FR_OK && mode && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
      st = fr_error_set(err, FR_ERR_IO, "gallery %s: cannot use WAL journal mode (got %s)",
                        path, mode);
    free(mode);
  }
  if (st == FR_OK) st = pragma_int(s, "PRAGMA foreign_keys", &fk, err);
  if (st == FR_OK && fk != 1)
    st = fr_error_set(err, FR_ERR_IO, "gallery %s: SQLite without foreign key support", path);
  if (st == FR_OK) st = migrate(s, err);
  for (int i = 0; st == FR_OK && i < S_COUNT; i++)
    if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
        SQLITE_OK)
      st = db_err(s, err, "prepare statement");
  /* After migrate(): the schema exists. Without a read connection (it could not
   * be opened) searches read on the main connection under the gallery's lock. */
  if (st == FR_OK) open_reader(s, NULL);
  if (st != FR_OK) {
    sq_close(&s->base);
    return st;
  }
  *out = &s->base;
  return FR_OK;
}
