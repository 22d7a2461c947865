#include "eval/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

fr_status fr__eval_read_file(const char *path, size_t max, char **out, size_t *len, fr_error *err) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return fr_error_set(err, FR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return fr_error_set(err, FR_ERR_IO, "%s: not a regular file", path);
  }
  if ((unsigned long long)st.st_size > max) {
    fclose(f);
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %lld bytes, more than the %zu allowed", path,
                        (long long)st.st_size, max);
  }
  size_t n = (size_t)st.st_size;
  char *buf = malloc(n + 1);
  if (!buf) {
    fclose(f);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", path);
  }
  size_t got = fread(buf, 1, n, f);
  int bad = ferror(f) || got != n;
  fclose(f);
  if (bad) {
    free(buf);
    return fr_error_set(err, FR_ERR_IO, "%s: read error", path);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return FR_OK;
}

fr_status fr__eval_dup_text(const char *text, size_t len, const char *source, char **out,
                            fr_error *err) {
  *out = NULL;
  if (!text && len) return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: NULL text", source);
  if (len && memchr(text, 0, len))
    return fr_error_set(err, FR_ERR_FORMAT, "%s: holds a NUL byte (not a text file)", source);
  char *buf = malloc(len + 1);
  if (!buf) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", source);
  if (len) memcpy(buf, text, len);
  buf[len] = 0;
  *out = buf;
  return FR_OK;
}

void fr__csv_init(fr__csv *c, char *buf, size_t len) {
  c->p = buf;
  c->end = buf + len;
  c->line = 1;
  /* UTF-8 byte order mark */
  if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
      (unsigned char)buf[2] == 0xBF)
    c->p += 3;
}

int fr__csv_next(fr__csv *c, char **fields, int max_fields, int *n_fields, int *rec_line,
                 const char **problem) {
  *n_fields = 0;
  *rec_line = c->line;
  if (c->p >= c->end) return 0;
  char *r = c->p;
  int nf = 0;
  for (;;) { /* one field per iteration */
    char *start = r, *w = r;
    if (r < c->end && *r == '"') {
      r++;
      for (;;) {
        if (r >= c->end) {
          *problem = "unterminated quoted field";
          return -1;
        }
        if (*r == '"') {
          if (r + 1 < c->end && r[1] == '"') {
            *w++ = '"';
            r += 2;
            continue;
          }
          r++;
          break;
        }
        if (*r == '\n') c->line++;
        *w++ = *r++;
      }
      if (r < c->end && *r != ',' && *r != '\n' &&
          !(*r == '\r' && (r + 1 == c->end || r[1] == '\n'))) {
        *problem = "text after a closing quote";
        return -1;
      }
    } else {
      while (r < c->end && *r != ',' && *r != '\n') r++;
      w = r;
      if (w > start && w[-1] == '\r' && (r >= c->end || *r == '\n')) w--;
    }
    if (nf < max_fields) fields[nf] = start;
    nf++;
    if (r < c->end && *r == '\r') r++; /* only reached after a closing quote */
    int more = r < c->end && *r == ',';
    int eol = r < c->end && *r == '\n';
    *w = 0; /* w <= r: the delimiter (or the buffer's NUL) is overwritten last */
    if (more) {
      r++;
      continue;
    }
    if (eol) {
      r++;
      c->line++;
    }
    break;
  }
  c->p = r;
  *n_fields = nf;
  return 1;
}

char *fr__trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

int fr__parse_int(const char *s, long lo, long hi, long *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  while (*end == ' ' || *end == '\t') end++;
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int fr__parse_float(const char *s, float *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  while (*end == ' ' || *end == '\t') end++;
  if (errno || *end || !isfinite(v) || fabs(v) > 1e30) return -1;
  *out = (float)v;
  return 0;
}

int fr__parse_bool(const char *s) {
  static const char *yes[] = {"1", "true", "yes", "t", "y"};
  static const char *no[] = {"0", "false", "no", "f", "n"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(s, yes[i]) == 0) return 1;
    if (strcasecmp(s, no[i]) == 0) return 0;
  }
  return -1;
}
