/*
 * API keys: SHA-256 hashes in memory, checked in constant time.
 *
 * Two sources: the gallery's api_keys table (reloaded by the server about once
 * a second, so `facerec keys create|revoke` take effect on a running server)
 * and an optional key file read once at start. A presented key is hashed and
 * compared with EVERY stored hash without an early exit, so the time taken
 * does not depend on which stored key (if any) shares a prefix with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http/server.h"

#define KEYS_MAX 4096      /* keys held in memory at most */
#define KEY_LINE_MAX 1024  /* bytes of one key file line */

typedef struct key_entry {
  uint8_t hash[32];
  fr_http_role role;
} key_entry;

typedef struct key_set {
  key_entry *v;
  int n, cap;
} key_set;

struct fr__auth {
  pthread_mutex_t mu;
  key_set file_keys; /* from --api-key-file, fixed */
  key_set db_keys;   /* from the gallery, replaced on reload */
};

static int set_push(key_set *s, const uint8_t hash[32], fr_http_role role) {
  if (s->n == s->cap) {
    if (s->cap >= KEYS_MAX) return -1;
    int cap = s->cap ? s->cap * 2 : 16;
    key_entry *v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  memcpy(s->v[s->n].hash, hash, 32);
  s->v[s->n].role = role;
  s->n++;
  return 0;
}

fr_status fr__auth_create(fr__auth **out, fr_error *err) {
  *out = NULL;
  fr__auth *a = calloc(1, sizeof *a);
  if (!a) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  if (pthread_mutex_init(&a->mu, NULL)) {
    free(a);
    return fr_error_set(err, FR_ERR_INTERNAL, "mutex init failed");
  }
  *out = a;
  return FR_OK;
}

void fr__auth_free(fr__auth *a) {
  if (!a) return;
  pthread_mutex_destroy(&a->mu);
  free(a->file_keys.v);
  free(a->db_keys.v);
  free(a);
}

static fr_http_role parse_role(const char *s, size_t n) {
  if (n == 5 && memcmp(s, "admin", 5) == 0) return FR_ROLE_ADMIN;
  if (n == 9 && memcmp(s, "recognize", 9) == 0) return FR_ROLE_RECOGNIZE;
  return FR_ROLE_NONE;
}

fr_status fr__auth_load_file(fr__auth *a, const char *path, fr_error *err) {
  FILE *f = fopen(path, "r");
  if (!f) return fr_error_set(err, FR_ERR_IO, "cannot open key file %s: %s", path, strerror(errno));
  char line[KEY_LINE_MAX + 2];
  int lineno = 0;
  fr_status st = FR_OK;
  key_set add = {0};
  while (st == FR_OK && fgets(line, sizeof line, f)) {
    lineno++;
    size_t n = strlen(line);
    if (n > KEY_LINE_MAX) {
      st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: line longer than %d bytes", path, lineno,
                        KEY_LINE_MAX);
      break;
    }
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t'))
      line[--n] = 0;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == 0 || *p == '#') continue;
    char *role = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    size_t role_len = (size_t)(p - role);
    while (*p == ' ' || *p == '\t') p++;
    char *key = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    fr_http_role r = parse_role(role, role_len);
    if (r == FR_ROLE_NONE || *key == 0 || *p != 0) {
      st = fr_error_set(err, FR_ERR_FORMAT,
                        "%s:%d: expected \"ROLE KEY\" with ROLE admin or recognize", path, lineno);
      break;
    }
    uint8_t h[32];
    fr_sha256(key, strlen(key), h);
    if (set_push(&add, h, r)) st = fr_error_set(err, FR_ERR_TOO_LARGE, "%s: too many keys", path);
  }
  if (st == FR_OK && ferror(f)) st = fr_error_set(err, FR_ERR_IO, "cannot read key file %s", path);
  fclose(f);
  if (st == FR_OK) {
    pthread_mutex_lock(&a->mu);
    for (int i = 0; st == FR_OK && i < add.n; i++)
      if (set_push(&a->file_keys, add.v[i].hash, add.v[i].role))
        st = fr_error_set(err, FR_ERR_TOO_LARGE, "%s: too many keys", path);
    pthread_mutex_unlock(&a->mu);
  }
  free(add.v);
  return st;
}

typedef struct reload_ctx {
  key_set set;
  bool full;
} reload_ctx;

static int reload_cb(void *ctx, const fr_gallery_key *k) {
  reload_ctx *c = ctx;
  fr_http_role r = parse_role(k->role, strlen(k->role));
  if (r == FR_ROLE_NONE) return 0; /* the schema allows no other role; skip defensively */
  if (set_push(&c->set, k->hash, r)) {
    c->full = true;
    return 1;
  }
  return 0;
}

fr_status fr__auth_reload(fr__auth *a, fr_gallery *g, fr_error *err) {
  reload_ctx c = {{0}, false};
  fr_status st = fr_gallery_keys(g, reload_cb, &c, err);
  if (st == FR_OK && c.full)
    st = fr_error_set(err, FR_ERR_TOO_LARGE, "more than %d api keys (or out of memory)", KEYS_MAX);
  if (st != FR_OK) { /* keep the keys we had: never fall open on a read error */
    free(c.set.v);
    return st;
  }
  pthread_mutex_lock(&a->mu);
  key_set old = a->db_keys;
  a->db_keys = c.set;
  pthread_mutex_unlock(&a->mu);
  free(old.v);
  return FR_OK;
}

int fr__auth_count(fr__auth *a) {
  pthread_mutex_lock(&a->mu);
  int n = a->file_keys.n + a->db_keys.n;
  pthread_mutex_unlock(&a->mu);
  return n;
}

/* Role of the matching entry (0 if none), touching every entry the same way. */
static unsigned match_set(const key_set *s, const uint8_t h[32]) {
  unsigned role = 0;
  for (int i = 0; i < s->n; i++) {
    unsigned diff = 0;
    for (int k = 0; k < 32; k++) diff |= (unsigned)(s->v[i].hash[k] ^ h[k]);
    /* mask = all ones when diff == 0 */
    unsigned mask = (unsigned)(((diff | (0u - diff)) >> 31) & 1u) - 1u;
    role |= mask & (unsigned)s->v[i].role;
  }
  return role;
}

fr_http_role fr__auth_check(fr__auth *a, const char *key, size_t len) {
  if (!key) return FR_ROLE_NONE;
  uint8_t h[32];
  fr_sha256(key, len, h);
  pthread_mutex_lock(&a->mu);
  unsigned role = match_set(&a->file_keys, h) | match_set(&a->db_keys, h);
  pthread_mutex_unlock(&a->mu);
  /* the same key stored with both roles: the stronger one */
  if (role & FR_ROLE_ADMIN) return FR_ROLE_ADMIN;
  if (role & FR_ROLE_RECOGNIZE) return FR_ROLE_RECOGNIZE;
  return FR_ROLE_NONE;
}

fr_status fr__auth_new_key(char key[65], uint8_t hash[32], fr_error *err) {
  uint8_t raw[32];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fr_error_set(err, FR_ERR_IO, "getrandom: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    key[2 * i] = hex[raw[i] >> 4];
    key[2 * i + 1] = hex[raw[i] & 15];
  }
  key[64] = 0;
  fr_sha256(key, 64, hash);
  memset(raw, 0, sizeof raw);
  return FR_OK;
}
