/*
 * Minimal test harness: each test program is a list of TEST functions run by
 * RUN_TESTS in main(). A failed CHECK prints file:line and the condition and
 * marks the test failed; the program exits non-zero if any test failed.
 */
#ifndef FR_TESTUTIL_H
#define FR_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fr_t_failed_checks __attribute__((unused));
static int fr_t_cur_failed __attribute__((unused));

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
      fr_t_failed_checks++;                                                         \
      fr_t_cur_failed = 1;                                                          \
    }                                                                               \
  } while (0)

#define CHECK_MSG(cond, ...)                                                        \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
      fprintf(stderr, __VA_ARGS__);                                                 \
      fputc('\n', stderr);                                                          \
      fr_t_failed_checks++;                                                         \
      fr_t_cur_failed = 1;                                                          \
    }                                                                               \
  } while (0)

#define CHECK_STATUS(expr, expected)                                                \
  do {                                                                              \
    int fr_t_st = (int)(expr);                                                      \
    CHECK_MSG(fr_t_st == (int)(expected), "%s returned %d, expected %d", #expr,     \
              fr_t_st, (int)(expected));                                            \
  } while (0)

typedef void (*fr_t_fn)(void);
typedef struct {
  const char *name;
  fr_t_fn fn;
} fr_t_case;

#define TEST(name) static void name(void)
#define T(name) {#name, name}

static inline int fr_t_run(const fr_t_case *cases, int n) {
  int passed = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    fr_t_cur_failed = 0;
    cases[i].fn();
    if (fr_t_cur_failed) {
      failed++;
      fprintf(stderr, "FAIL %s\n", cases[i].name);
    } else {
      passed++;
      printf("ok   %s\n", cases[i].name);
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define RUN_TESTS(...)                                                              \
  int main(void) {                                                                  \
    static const fr_t_case cases[] = {__VA_ARGS__};                                 \
    return fr_t_run(cases, (int)(sizeof cases / sizeof cases[0]));                  \
  }

/* Path helpers: FR_SHARED_DIR / FR_SOURCE_DIR from the environment (set by CTest). */
static inline const char *fr_t_env(const char *k, const char *dflt) {
  const char *v = getenv(k);
  return v && *v ? v : dflt;
}

/* Reads a whole file; caller frees. NULL on failure. */
static inline void *fr_t_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
  long n = ftell(f);
  if (n < 0) { fclose(f); return NULL; }
  rewind(f);
  void *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  fclose(f);
  if (buf) { ((char *)buf)[n] = 0; if (len) *len = (size_t)n; }
  return buf;
}

/* Deterministic PRNG for random shapes / data. */
static inline unsigned fr_t_rand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 8) & 0xffffff;
}
static inline float fr_t_randf(unsigned *s) { return (float)fr_t_rand(s) / 16777216.0f * 2.0f - 1.0f; }

#endif
