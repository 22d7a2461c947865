/* LFW pair lists (View 1 pairsDevTrain/pairsDevTest.txt, View 2 pairs.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/text.h"
#include "facerec/eval.h"

void fr_lfw_pairs_free(fr_lfw_pairs *p) {
  if (!p) return;
  free(p->pairs);
  free(p->storage_);
  memset(p, 0, sizeof *p);
}

/* Splits a line (NUL-terminated, no newline) into whitespace-separated tokens
 * in place. Returns the token count (may exceed max). */
static int split_ws(char *s, char **tok, int max) {
  int n = 0;
  for (;;) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s) return n;
    if (n < max) tok[n] = s;
    n++;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
    if (!*s) return n;
    *s++ = 0;
  }
}

static const char *check_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return "empty name";
  if (n > FR_LFW_NAME_MAX) return "name longer than 255 bytes";
  if (s[0] == '.') return "name starts with '.'";
  if (strchr(s, '/') || strchr(s, '\\')) return "name contains a path separator";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return "name contains a control character";
  return NULL;
}

static int parse_num(const char *s, int *out) {
  long v;
  if (fr__parse_int(s, 1, 9999, &v)) return -1;
  *out = (int)v;
  return 0;
}

fr_status fr_lfw_pairs_parse(const char *text, size_t len, const char *source, fr_lfw_pairs *out,
                             fr_error *err) {
  memset(out, 0, sizeof *out);
  if (!source) source = "pairs";
  if (len > FR_EVAL_MAX_FILE)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: larger than %u bytes", source,
                        (unsigned)FR_EVAL_MAX_FILE);
  char *buf;
  fr_status st = fr__eval_dup_text(text, len, source, &buf, err);
  if (st) return st;
  out->storage_ = buf;

  char *p = buf, *end = buf + len;
  int line = 0, have_header = 0;
  size_t expect = 0, got = 0;
  char *tok[5];
  while (p < end || (p == end && !have_header)) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *next = nl ? nl + 1 : end;
    if (nl) *nl = 0;
    line++;
    int nt = split_ws(p, tok, 5);
    int at_end = (next >= end);
    p = next;
    if (!have_header) {
      long a, b;
      if (nt == 1 && !fr__parse_int(tok[0], 1, FR_EVAL_MAX_PAIRS / 2, &a)) {
        out->folds = 1;
        out->per_fold = (int)a;
      } else if (nt == 2 && !fr__parse_int(tok[0], 1, FR_VERIF_MAX_FOLDS, &a) &&
                 !fr__parse_int(tok[1], 1, FR_EVAL_MAX_PAIRS / 2, &b) &&
                 a * b * 2 <= FR_EVAL_MAX_PAIRS) {
        out->folds = (int)a;
        out->per_fold = (int)b;
      } else {
        fr_lfw_pairs_free(out);
        return fr_error_set(err, FR_ERR_FORMAT,
                            "%s:%d: expected a header \"N\" (View 1) or \"FOLDS N\" (View 2, "
                            "at most %d folds), found %s",
                            source, line, FR_VERIF_MAX_FOLDS,
                            nt ? "something else" : "an empty line");
      }
      have_header = 1;
      expect = (size_t)out->folds * 2 * (size_t)out->per_fold;
      out->n = expect;
      out->pairs = calloc(expect, sizeof *out->pairs);
      if (!out->pairs) {
        fr_lfw_pairs_free(out);
        return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory for %zu pairs", source, expect);
      }
      if (at_end) break;
      continue;
    }
    if (nt == 0) {
      if (got < expect) {
        fr_lfw_pairs_free(out);
        return fr_error_set(err, FR_ERR_FORMAT, "%s:%d: empty line (pair %zu of %zu expected)",
                            source, line, got + 1, expect);
      }
      if (at_end) break;
      continue; /* trailing blank lines */
    }
    if (got >= expect) {
      fr_lfw_pairs_free(out);
      return fr_error_set(err, FR_ERR_FORMAT, "%s:%d: more pairs than the %zu the header announces",
                          source, line, expect);
    }
    fr_lfw_pair *q = &out->pairs[got];
    const char *bad = NULL;
    if (nt == 3) {
      q->same = 1;
      q->name_a = q->name_b = tok[0];
      if (parse_num(tok[1], &q->num_a) || parse_num(tok[2], &q->num_b))
        bad = "image numbers must be integers 1..9999";
    } else if (nt == 4) {
      q->same = 0;
      q->name_a = tok[0];
      q->name_b = tok[2];
      if (parse_num(tok[1], &q->num_a) || parse_num(tok[3], &q->num_b))
        bad = "image numbers must be integers 1..9999";
    } else {
      bad = "expected \"name n1 n2\" (same) or \"name1 n1 name2 n2\" (different)";
    }
    if (!bad) bad = check_name(q->name_a);
    if (!bad) bad = check_name(q->name_b);
    if (bad) {
      fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %s", source, line, bad);
      fr_lfw_pairs_free(out);
      return FR_ERR_FORMAT;
    }
    q->line = line;
    q->fold = (int)(got / (2 * (size_t)out->per_fold));
    got++;
    if (at_end) break;
  }
  if (got < expect) {
    fr_lfw_pairs_free(out);
    return fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %zu pairs, the header announces %zu", source,
                        line, got, expect);
  }
  /* every fold holds per_fold same and per_fold different pairs */
  for (int f = 0; f < out->folds; f++) {
    size_t same = 0, base = (size_t)f * 2 * (size_t)out->per_fold;
    for (size_t i = 0; i < 2 * (size_t)out->per_fold; i++)
      same += (size_t)out->pairs[base + i].same;
    if (same != (size_t)out->per_fold) {
      int first = out->pairs[base].line;
      fr_error_set(err, FR_ERR_FORMAT,
                   "%s:%d: fold %d (lines %d-%d) holds %zu same and %zu different pairs, expected "
                   "%d of each",
                   source, first, f + 1, first,
                   out->pairs[base + 2 * (size_t)out->per_fold - 1].line, same,
                   2 * (size_t)out->per_fold - same, out->per_fold);
      fr_lfw_pairs_free(out);
      return FR_ERR_FORMAT;
    }
  }
  return FR_OK;
}

fr_status fr_lfw_pairs_load(const char *path, fr_lfw_pairs *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  char *text;
  size_t len;
  fr_status st = fr__eval_read_file(path, FR_EVAL_MAX_FILE, &text, &len, err);
  if (st) return st;
  st = fr_lfw_pairs_parse(text, len, path, out, err);
  free(text);
  return st;
}

fr_status fr_lfw_image_path(const char *dir, const char *name, int num, char *buf, size_t size,
                            fr_error *err) {
  if (!dir || !name || !buf || num < 0 || num > 9999)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "LFW image path: bad arguments");
  size_t dl = strlen(dir);
  const char *sep = (dl && dir[dl - 1] == '/') ? "" : "/";
  int n = snprintf(buf, size, "%s%s%s/%s_%04d.jpg", dir, sep, name, name, num);
  if (n < 0 || (size_t)n >= size)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "LFW image path for %s %d is too long", name, num);
  return FR_OK;
}
