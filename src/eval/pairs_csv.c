/* Verification pairs in CSV: path_a,path_b,same (optional header, RFC 4180 quoting). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/text.h"
#include "facerec/eval.h"

#define MAX_FIELDS 64

void fr_pair_rows_free(fr_pair_rows *p) {
  if (!p) return;
  free(p->rows);
  free(p->storage_);
  memset(p, 0, sizeof *p);
}

static int is_blank_record(char **f, int nf) { return nf == 1 && fr__trim(f[0])[0] == 0; }

fr_status fr_pair_rows_parse(const char *text, size_t len, const char *source, fr_pair_rows *out,
                             fr_error *err) {
  memset(out, 0, sizeof *out);
  if (!source) source = "pairs.csv";
  if (len > FR_EVAL_MAX_FILE)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: larger than %u bytes", source,
                        (unsigned)FR_EVAL_MAX_FILE);
  char *buf;
  fr_status st = fr__eval_dup_text(text, len, source, &buf, err);
  if (st) return st;
  out->storage_ = buf;
  /* every record ends with a newline or the end: at most (newlines + 1) records */
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += (size_t)(buf[i] == '\n');
  if (cap > FR_EVAL_MAX_PAIRS + 2) cap = FR_EVAL_MAX_PAIRS + 2;
  out->rows = malloc(cap * sizeof *out->rows);
  if (!out->rows) {
    fr_pair_rows_free(out);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", source);
  }
  fr__csv c;
  fr__csv_init(&c, buf, len);
  char *f[MAX_FIELDS];
  int nf, line, col_a = 0, col_b = 1, col_s = 2, first = 1;
  const char *problem = NULL;
  for (;;) {
    int r = fr__csv_next(&c, f, MAX_FIELDS, &nf, &line, &problem);
    if (r == 0) break;
    if (r < 0) {
      fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %s", source, line, problem);
      fr_pair_rows_free(out);
      return FR_ERR_FORMAT;
    }
    if (is_blank_record(f, nf)) continue;
    int stored = nf < MAX_FIELDS ? nf : MAX_FIELDS;
    if (first) {
      first = 0;
      int ha = -1, hb = -1, hs = -1;
      for (int i = 0; i < stored; i++) {
        const char *h = fr__trim(f[i]);
        if (strcasecmp(h, "path_a") == 0 && ha < 0)
          ha = i;
        else if (strcasecmp(h, "path_b") == 0 && hb < 0)
          hb = i;
        else if (strcasecmp(h, "same") == 0 && hs < 0)
          hs = i;
      }
      if (ha >= 0 || hb >= 0 || hs >= 0) {
        if (ha < 0 || hb < 0 || hs < 0) {
          fr_error_set(err, FR_ERR_FORMAT,
                       "%s:%d: the header must name the columns path_a, path_b and same", source,
                       line);
          fr_pair_rows_free(out);
          return FR_ERR_FORMAT;
        }
        col_a = ha, col_b = hb, col_s = hs;
        continue;
      }
      if (nf >= 3 && fr__parse_bool(fr__trim(f[2])) < 0) {
        fr_error_set(err, FR_ERR_FORMAT,
                     "%s:%d: neither a header (path_a,path_b,same) nor a pair (third field '%.40s' "
                     "is not 1/0/true/false)",
                     source, line, f[2]);
        fr_pair_rows_free(out);
        return FR_ERR_FORMAT;
      }
    }
    int need = col_a > col_b ? col_a : col_b;
    if (col_s > need) need = col_s;
    if (nf <= need) {
      fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %d field%s, expected at least %d", source, line, nf,
                   nf == 1 ? "" : "s", need + 1);
      fr_pair_rows_free(out);
      return FR_ERR_FORMAT;
    }
    if (out->n >= cap || out->n >= FR_EVAL_MAX_PAIRS) {
      fr_error_set(err, FR_ERR_TOO_LARGE, "%s:%d: more than %d pairs", source, line,
                   FR_EVAL_MAX_PAIRS);
      fr_pair_rows_free(out);
      return FR_ERR_TOO_LARGE;
    }
    fr_pair_row *row = &out->rows[out->n];
    row->path_a = fr__trim(f[col_a]);
    row->path_b = fr__trim(f[col_b]);
    row->same = fr__parse_bool(fr__trim(f[col_s]));
    row->line = line;
    const char *bad = NULL;
    if (!row->path_a[0] || !row->path_b[0])
      bad = "empty path";
    else if (row->same < 0)
      bad = "'same' must be 1, 0, true or false";
    if (bad) {
      fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %s", source, line, bad);
      fr_pair_rows_free(out);
      return FR_ERR_FORMAT;
    }
    out->n++;
  }
  return FR_OK;
}

fr_status fr_pair_rows_load(const char *path, fr_pair_rows *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  char *text;
  size_t len;
  fr_status st = fr__eval_read_file(path, FR_EVAL_MAX_FILE, &text, &len, err);
  if (st) return st;
  st = fr_pair_rows_parse(text, len, path, out, err);
  free(text);
  return st;
}
