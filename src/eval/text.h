/*
 * Internal helpers of the eval parsers: reading a whole text file with a cap,
 * and an in-place RFC 4180 CSV record reader.
 */
#ifndef FR_EVAL_TEXT_H
#define FR_EVAL_TEXT_H

#include <stddef.h>

#include "facerec/status.h"

/* Reads a whole file (at most max bytes) into a malloc'ed, NUL-terminated
 * buffer; *len excludes the NUL. The caller frees *out. */
fr_status fr__eval_read_file(const char *path, size_t max, char **out, size_t *len, fr_error *err);

/* A copy of text[0..len) with a NUL appended; NULL on out of memory.
 * FR_ERR_FORMAT if the text holds a NUL byte (not a text file). */
fr_status fr__eval_dup_text(const char *text, size_t len, const char *source, char **out,
                            fr_error *err);

typedef struct fr__csv {
  char *p, *end; /* unread part of a mutable, NUL-terminated buffer */
  int line;      /* 1-based line number at p */
} fr__csv;

void fr__csv_init(fr__csv *c, char *buf, size_t len);

/* Reads the next record and decodes its fields in place (NUL-terminated).
 * Stores at most max_fields field pointers; *n_fields is the real count (may
 * exceed max_fields). *rec_line: the line where the record starts.
 * Returns 1 for a record, 0 at the end of the buffer, -1 on malformed quoting
 * (*problem says what). */
int fr__csv_next(fr__csv *c, char **fields, int max_fields, int *n_fields, int *rec_line,
                 const char **problem);

/* Strict number parsing of a whole (trimmed of spaces) field. 0 on success. */
int fr__parse_int(const char *s, long lo, long hi, long *out);
int fr__parse_float(const char *s, float *out);
/* 1/0/true/false/yes/no, case-insensitive: 1 or 0; -1 if none. */
int fr__parse_bool(const char *s);
/* Trims leading and trailing spaces/tabs in place; returns s. */
char *fr__trim(char *s);

#endif
