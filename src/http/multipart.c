/*
 * Strict multipart/form-data parser (RFC 7578 on RFC 2046), bounds-checked.
 *
 * The body is in memory (the server buffered it under the route's cap), so
 * this is a plain scan: find "--boundary", then per part a header section
 * ending in an empty line, then data up to "\r\n--boundary". Anything that
 * does not follow the grammar is refused (FR_ERR_FORMAT): missing or
 * malformed boundary, LF-only line ends, folded or oversized headers, a part
 * without Content-Disposition: form-data; name=..., a missing closing
 * delimiter (truncated upload). A preamble before the first delimiter and an
 * epilogue after the last are allowed, as the RFC says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server.h"

#define BOUNDARY_MAX 70
#define PART_HEADERS_MAX 4096 /* bytes of one part's header section */
#define PART_HEADER_LINES_MAX 16

static bool is_space(int c) { return c == ' ' || c == '\t'; }

/* RFC 2045 tspecials excluded from tokens. */
static bool is_token_char(int c) {
  return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

bool fr__is_multipart(const char *ct) {
  if (!ct) return false;
  while (is_space(*ct)) ct++;
  size_t n = strlen("multipart/form-data");
  return strncasecmp(ct, "multipart/form-data", n) == 0 &&
         (ct[n] == 0 || ct[n] == ';' || is_space(ct[n]));
}

/* Output strings: copies go into one buffer sized for the worst case up front,
 * so pointers handed out stay valid. */
typedef struct strbuf {
  char *p;
  size_t len, cap;
} strbuf;

static const char *sb_put(strbuf *sb, const char *s, size_t n) {
  if (n + 1 > sb->cap - sb->len) return NULL; /* sized in advance: cannot happen */
  char *d = sb->p + sb->len;
  memcpy(d, s, n);
  d[n] = 0;
  sb->len += n + 1;
  return d;
}

/* Parses one parameter value at *p (token or quoted-string) in [*p, end);
 * writes the unquoted value into out (cap bytes, NUL-terminated). Returns the
 * value length or -1 when malformed. */
static long param_value(const char **pp, const char *end, char *out, size_t cap) {
  const char *p = *pp;
  size_t n = 0;
  if (p < end && *p == '"') {
    p++;
    for (;;) {
      if (p >= end) return -1; /* unterminated */
      char c = *p++;
      if (c == '"') break;
      if (c == '\\') {
        if (p >= end) return -1;
        c = *p++;
      }
      if ((unsigned char)c < 0x20 && c != '\t') return -1;
      if (n + 1 >= cap) return -1;
      out[n++] = c;
    }
  } else {
    while (p < end && is_token_char((unsigned char)*p)) {
      if (n + 1 >= cap) return -1;
      out[n++] = *p++;
    }
    if (n == 0) return -1;
  }
  out[n] = 0;
  *pp = p;
  return (long)n;
}

/* The boundary parameter of a multipart/form-data Content-Type. */
static fr_status get_boundary(const char *ct, char out[BOUNDARY_MAX + 1], fr_error *err) {
  if (!fr__is_multipart(ct))
    return fr_error_set(err, FR_ERR_FORMAT, "content type is not multipart/form-data");
  const char *p = strchr(ct, ';');
  const char *end = ct + strlen(ct);
  bool found = false;
  while (p && p < end) {
    p++; /* past ';' */
    while (p < end && is_space(*p)) p++;
    if (p == end) break;
    const char *name = p;
    while (p < end && is_token_char((unsigned char)*p)) p++;
    size_t name_len = (size_t)(p - name);
    while (p < end && is_space(*p)) p++;
    if (name_len == 0 || p >= end || *p != '=')
      return fr_error_set(err, FR_ERR_FORMAT, "malformed Content-Type parameters");
    p++;
    while (p < end && is_space(*p)) p++;
    char val[BOUNDARY_MAX + 2];
    long n = param_value(&p, end, val, sizeof val);
    bool is_boundary = name_len == 8 && strncasecmp(name, "boundary", 8) == 0;
    if (is_boundary) {
      if (n < 1 || n > BOUNDARY_MAX || val[n - 1] == ' ')
        return fr_error_set(err, FR_ERR_FORMAT, "multipart boundary must be 1..%d characters",
                            BOUNDARY_MAX);
      for (long i = 0; i < n; i++)
        if ((unsigned char)val[i] < 0x20 || (unsigned char)val[i] > 0x7e)
          return fr_error_set(err, FR_ERR_FORMAT, "multipart boundary has a bad character");
      if (found) return fr_error_set(err, FR_ERR_FORMAT, "two multipart boundaries");
      memcpy(out, val, (size_t)n + 1);
      found = true;
    } else if (n < 0) {
      /* other parameters (charset=...) may be long; skip a well-formed one */
      if (*p == '"') {
        p++;
        while (p < end && *p != '"') p += (*p == '\\' && p + 1 < end) ? 2 : 1;
        if (p >= end) return fr_error_set(err, FR_ERR_FORMAT, "malformed Content-Type parameters");
        p++;
      } else {
        while (p < end && is_token_char((unsigned char)*p)) p++;
      }
    }
    while (p < end && is_space(*p)) p++;
    if (p < end && *p != ';')
      return fr_error_set(err, FR_ERR_FORMAT, "malformed Content-Type parameters");
  }
  if (!found) return fr_error_set(err, FR_ERR_FORMAT, "multipart Content-Type without a boundary");
  return FR_OK;
}

/* Content-Disposition: form-data; name="x"; filename="y". */
static fr_status parse_disposition(const char *v, const char *end, strbuf *sb, fr_http_part *part,
                                   int index, fr_error *err) {
  const char *p = v;
  const char *type = p;
  while (p < end && is_token_char((unsigned char)*p)) p++;
  if ((size_t)(p - type) != 9 || strncasecmp(type, "form-data", 9) != 0)
    return fr_error_set(err, FR_ERR_FORMAT, "part %d: Content-Disposition is not form-data", index);
  bool have_name = false, have_file = false;
  while (p < end) {
    while (p < end && is_space(*p)) p++;
    if (p == end) break;
    if (*p != ';') return fr_error_set(err, FR_ERR_FORMAT, "part %d: malformed Content-Disposition", index);
    p++;
    while (p < end && is_space(*p)) p++;
    const char *name = p;
    while (p < end && is_token_char((unsigned char)*p)) p++;
    size_t nl = (size_t)(p - name);
    while (p < end && is_space(*p)) p++;
    if (nl == 0 || p >= end || *p != '=')
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: malformed Content-Disposition", index);
    p++;
    while (p < end && is_space(*p)) p++;
    char val[PART_HEADERS_MAX];
    long n = param_value(&p, end, val, sizeof val);
    if (n < 0)
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: malformed Content-Disposition value", index);
    if (memchr(val, 0, (size_t)n))
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: NUL in a Content-Disposition value", index);
    if (nl == 4 && strncasecmp(name, "name", 4) == 0) {
      if (have_name) return fr_error_set(err, FR_ERR_FORMAT, "part %d: two names", index);
      part->name = sb_put(sb, val, (size_t)n);
      if (!part->name) return fr_error_set(err, FR_ERR_FORMAT, "part %d: headers too long", index);
      have_name = true;
    } else if (nl == 8 && strncasecmp(name, "filename", 8) == 0) {
      if (have_file) return fr_error_set(err, FR_ERR_FORMAT, "part %d: two file names", index);
      part->filename = sb_put(sb, val, (size_t)n);
      if (!part->filename) return fr_error_set(err, FR_ERR_FORMAT, "part %d: headers too long", index);
      have_file = true;
    } /* other parameters (filename*, size, ...) are ignored */
  }
  if (!have_name)
    return fr_error_set(err, FR_ERR_FORMAT, "part %d: Content-Disposition without a name", index);
  return FR_OK;
}

/* Parses the header section [p, end) (lines ending in CRLF, the empty line excluded). */
static fr_status parse_headers(const char *p, const char *end, strbuf *sb, fr_http_part *part,
                               int index, fr_error *err) {
  bool have_disp = false, have_type = false;
  int lines = 0;
  while (p < end) {
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) return fr_error_set(err, FR_ERR_FORMAT, "part %d: header line without CRLF", index);
    if (++lines > PART_HEADER_LINES_MAX)
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: more than %d header lines", index,
                          PART_HEADER_LINES_MAX);
    if (is_space(*p))
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: folded header line", index);
    for (const char *q = p; q < eol; q++)
      if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
        return fr_error_set(err, FR_ERR_FORMAT, "part %d: control character in a header", index);
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p)
      return fr_error_set(err, FR_ERR_FORMAT, "part %d: header line without a name", index);
    for (const char *q = p; q < colon; q++)
      if (!is_token_char((unsigned char)*q))
        return fr_error_set(err, FR_ERR_FORMAT, "part %d: bad header name", index);
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *ve = eol;
    while (v < ve && is_space(*v)) v++;
    while (ve > v && is_space(ve[-1])) ve--;
    if (nl == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
      if (have_disp) return fr_error_set(err, FR_ERR_FORMAT, "part %d: two Content-Dispositions", index);
      have_disp = true;
      fr_status st = parse_disposition(v, ve, sb, part, index, err);
      if (st != FR_OK) return st;
    } else if (nl == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
      if (have_type) return fr_error_set(err, FR_ERR_FORMAT, "part %d: two Content-Types", index);
      have_type = true;
      part->content_type = sb_put(sb, v, (size_t)(ve - v));
      if (!part->content_type)
        return fr_error_set(err, FR_ERR_FORMAT, "part %d: headers too long", index);
    }
    p = eol + 2;
  }
  if (!have_disp)
    return fr_error_set(err, FR_ERR_FORMAT, "part %d: no Content-Disposition header", index);
  return FR_OK;
}

fr_status fr__multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                              fr_http_part *parts, int max_parts, int *n_parts, char **strings,
                              fr_error *err) {
  *n_parts = 0;
  *strings = NULL;
  char boundary[BOUNDARY_MAX + 1];
  fr_status st = get_boundary(content_type, boundary, err);
  if (st != FR_OK) return st;
  if (!body) len = 0;
  /* "\r\n--" + boundary */
  char delim[BOUNDARY_MAX + 5];
  size_t blen = strlen(boundary);
  memcpy(delim, "\r\n--", 4);
  memcpy(delim + 4, boundary, blen);
  size_t dlen = blen + 4;

  /* Every string copied comes from a part's header section (at most
   * PART_HEADERS_MAX bytes, 3 strings each): this bounds the buffer. */
  size_t per_part = PART_HEADERS_MAX + 8;
  size_t cap = (size_t)max_parts * per_part;
  if (len + (size_t)max_parts * 3 < cap) cap = len + (size_t)max_parts * 3;
  strbuf sb = {malloc(cap + 1), 0, cap + 1};
  if (!sb.p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory parsing multipart");
  *strings = sb.p;

  const char *b = (const char *)body, *end = b + len;
  const char *p;
  /* First delimiter: at the very start, or after a preamble line. */
  if (len >= dlen - 2 && memcmp(b, delim + 2, dlen - 2) == 0) {
    p = b + dlen - 2;
  } else {
    const char *d = len ? memmem(b, len, delim, dlen) : NULL;
    if (!d) return fr_error_set(err, FR_ERR_FORMAT, "multipart body without its boundary");
    p = d + dlen;
  }
  for (int index = 0;; index++) {
    /* after a delimiter: "--" closes, else transport padding then CRLF */
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
    while (p < end && is_space(*p)) p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      return fr_error_set(err, FR_ERR_FORMAT, "multipart delimiter not followed by CRLF");
    p += 2;
    if (index >= max_parts)
      return fr_error_set(err, FR_ERR_FORMAT, "more than %d multipart parts", max_parts);
    /* header section: up to the first empty line, at most PART_HEADERS_MAX bytes */
    const char *hend;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      hend = p; /* no headers at all: refused below (no Content-Disposition) */
    } else {
      size_t room = (size_t)(end - p);
      if (room > PART_HEADERS_MAX + 4) room = PART_HEADERS_MAX + 4;
      const char *e = memmem(p, room, "\r\n\r\n", 4);
      if (!e && room < (size_t)(end - p))
        return fr_error_set(err, FR_ERR_FORMAT, "part %d: header section over %d bytes", index,
                            PART_HEADERS_MAX);
      if (!e) return fr_error_set(err, FR_ERR_FORMAT, "part %d: truncated header section", index);
      hend = e + 2; /* keep the last header's CRLF */
    }
    fr_http_part *part = &parts[index];
    memset(part, 0, sizeof *part);
    st = parse_headers(p, hend, &sb, part, index, err);
    if (st != FR_OK) return st;
    const char *data = hend + 2;
    const char *d = memmem(data, (size_t)(end - data), delim, dlen);
    if (!d) return fr_error_set(err, FR_ERR_FORMAT, "part %d: no closing boundary (truncated?)", index);
    part->data = (const uint8_t *)data;
    part->len = (size_t)(d - data);
    *n_parts = index + 1;
    p = d + dlen;
  }
  return FR_OK;
}
