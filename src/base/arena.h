/*
 * Bump allocator: many small allocations freed together. Used for everything a
 * loaded graph owns (names, attributes, constant data).
 */
#ifndef FR_BASE_ARENA_H
#define FR_BASE_ARENA_H

#include <stddef.h>

typedef struct fr__arena_block fr__arena_block;

typedef struct fr__arena {
  fr__arena_block *head;
  size_t total;  /* bytes handed out, for stats */
} fr__arena;

/* Zero-initialized fr__arena is valid and empty. */
/* Returns 64-byte aligned, zeroed memory, or NULL when out of memory / n too large. */
void *fr__arena_alloc(fr__arena *a, size_t n);
/* Copies s (NULL -> ""); NULL on out of memory. */
char *fr__arena_strdup(fr__arena *a, const char *s);
char *fr__arena_strndup(fr__arena *a, const char *s, size_t n);
void fr__arena_free(fr__arena *a);

#endif
