#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fr__arena_block {
  fr__arena_block *next;
  size_t size, used;
  _Alignas(64) unsigned char data[];
};

#define FR__ARENA_BLOCK (1u << 20)

void *fr__arena_alloc(fr__arena *a, size_t n) {
  if (n > SIZE_MAX / 2) return NULL;
  size_t need = (n + 63) & ~(size_t)63;
  if (need == 0) need = 64;
  fr__arena_block *b = a->head;
  if (!b || b->size - b->used < need) {
    size_t sz = need > FR__ARENA_BLOCK / 4 ? need : FR__ARENA_BLOCK;
    fr__arena_block *nb = aligned_alloc(64, (sizeof *nb + sz + 63) & ~(size_t)63);
    if (!nb) return NULL;
    nb->size = sz;
    nb->used = 0;
    if (b && sz != FR__ARENA_BLOCK) { /* big one-off block: keep the current head open */
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      a->head = nb;
    }
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += need;
  a->total += need;
  memset(p, 0, n);
  return p;
}

char *fr__arena_strndup(fr__arena *a, const char *s, size_t n) {
  if (!s) s = "", n = 0;
  char *d = fr__arena_alloc(a, n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *fr__arena_strdup(fr__arena *a, const char *s) { return fr__arena_strndup(a, s, s ? strlen(s) : 0); }

void fr__arena_free(fr__arena *a) {
  fr__arena_block *b = a->head;
  while (b) {
    fr__arena_block *n = b->next;
    free(b);
    b = n;
  }
  a->head = NULL;
  a->total = 0;
}
