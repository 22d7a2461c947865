/*
 * The strict multipart/form-data parser (src/http/multipart.c): well-formed
 * bodies from real clients (curl, browsers, Node's form-data), every refusal,
 * and hostile inputs: every truncation and many random corruptions of a valid
 * body must either parse with every part inside the body or be refused with
 * FR_ERR_FORMAT (run under ASan in the sanitizer stage).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "testutil.h"

#define CT "multipart/form-data; boundary=----X7"

typedef struct parsed {
  fr_status st;
  fr_http_part parts[FR_HTTP_MAX_PARAMS];
  int n;
  char *strings;
  fr_error err;
} parsed;

static void parse(parsed *p, const char *ct, const void *body, size_t len) {
  memset(p, 0, sizeof *p);
  p->st = fr__multipart_parse(ct, body, len, p->parts, FR_HTTP_MAX_PARAMS, &p->n, &p->strings,
                              &p->err);
}

static void done(parsed *p) { free(p->strings); }

static bool data_is(const fr_http_part *part, const char *s) {
  return part->len == strlen(s) && memcmp(part->data, s, part->len) == 0;
}

TEST(curl_style_two_parts) {
  const char body[] = "------X7\r\n"
                      "Content-Disposition: form-data; name=\"file\"; filename=\"a b.jpg\"\r\n"
                      "Content-Type: image/jpeg\r\n"
                      "\r\n"
                      "\xff\xd8\r\n--not-a-delimiter\r\n\xff\xd9\r\n"
                      "------X7\r\n"
                      "Content-Disposition: form-data; name=subject\r\n"
                      "\r\n"
                      "alice\r\n"
                      "------X7--\r\n";
  parsed p;
  parse(&p, CT, body, sizeof body - 1);
  CHECK_STATUS(p.st, FR_OK);
  CHECK(p.n == 2);
  if (p.n == 2) {
    CHECK(strcmp(p.parts[0].name, "file") == 0);
    CHECK(strcmp(p.parts[0].filename, "a b.jpg") == 0);
    CHECK(strcmp(p.parts[0].content_type, "image/jpeg") == 0);
    CHECK(data_is(&p.parts[0], "\xff\xd8\r\n--not-a-delimiter\r\n\xff\xd9"));
    CHECK(strcmp(p.parts[1].name, "subject") == 0);
    CHECK(p.parts[1].filename == NULL && p.parts[1].content_type == NULL);
    CHECK(data_is(&p.parts[1], "alice"));
  }
  done(&p);
}

TEST(quoted_boundary_preamble_epilogue_escapes) {
  const char body[] = "preamble text\r\n"
                      "--b:1 2\r\n"
                      "content-disposition: FORM-DATA ; NAME=\"x\\\"y\" ; filename=\"\"\r\n"
                      "X-Other: ignored\r\n"
                      "\r\n"
                      "\r\n"
                      "--b:1 2--   epilogue";
  parsed p;
  parse(&p, "Multipart/Form-Data; charset=\"utf-8\"; boundary=\"b:1 2\"", body, sizeof body - 1);
  CHECK_STATUS(p.st, FR_OK);
  CHECK(p.n == 1);
  if (p.n == 1) {
    CHECK(strcmp(p.parts[0].name, "x\"y") == 0);
    CHECK(p.parts[0].filename && p.parts[0].filename[0] == 0);
    CHECK(p.parts[0].len == 0);
  }
  done(&p);
}

TEST(empty_form) {
  parsed p;
  parse(&p, CT, "------X7--\r\n", 12);
  CHECK_STATUS(p.st, FR_OK);
  CHECK(p.n == 0);
  done(&p);
}

TEST(refusals) {
  static const struct {
    const char *ct, *body;
  } bad[] = {
      {"multipart/form-data", "------X7--\r\n"},                       /* no boundary */
      {"multipart/form-data; boundary=", "------X7--\r\n"},            /* empty boundary */
      {"multipart/form-data; boundary=\"abc", "--abc--"},              /* unterminated quote */
      {"multipart/form-data; boundary=a; boundary=b", "--a--"},        /* two boundaries */
      {"multipart/form-data; boundary=12345678901234567890123456789012345678901234567890123456789012345678901",
       "--x--"},                                                       /* 71 characters */
      {"application/json; boundary=----X7", "------X7--"},             /* not multipart */
      {CT, ""},                                                        /* empty */
      {CT, "garbage"},                                                 /* no delimiter */
      {CT, "------X7\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata"}, /* truncated */
      {CT, "------X7\r\nContent-Disposition: form-data; name=\"f\"\r\n"},         /* no header end */
      {CT, "------X7\r\nContent-Type: text/plain\r\n\r\nx\r\n------X7--"},        /* no disposition */
      {CT, "------X7\r\nContent-Disposition: form-data\r\n\r\nx\r\n------X7--"},  /* no name */
      {CT, "------X7\r\nContent-Disposition: attachment; name=f\r\n\r\nx\r\n------X7--"},
      {CT, "------X7\r\nContent-Disposition: form-data; name=\"f\r\n\r\nx\r\n------X7--"},
      {CT, "------X7\r\nContent-Disposition: form-data; name=f; name=g\r\n\r\nx\r\n------X7--"},
      {CT, "------X7\r\nContent-Disposition: form-data;\r\n name=f\r\n\r\nx\r\n------X7--"}, /* folded */
      {CT, "------X7\nContent-Disposition: form-data; name=f\n\nx\n------X7--\n"},  /* LF only */
      {CT, "------X7\r\n\r\nx\r\n------X7--"},                                      /* no headers */
      {CT, "------X7junk\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n------X7--"},
      {CT, "------X7\r\nNo colon here\r\n\r\nx\r\n------X7--"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    parsed p;
    parse(&p, bad[i].ct, bad[i].body, strlen(bad[i].body));
    CHECK_MSG(p.st == FR_ERR_FORMAT, "case %zu accepted (status %d)", i, (int)p.st);
    CHECK_MSG(p.err.msg[0] != 0, "case %zu: no message", i);
    done(&p);
  }
}

TEST(part_and_header_limits) {
  /* FR_HTTP_MAX_PARAMS + 1 parts */
  size_t cap = 64 * 1024, len = 0;
  char *b = malloc(cap);
  for (int i = 0; i <= FR_HTTP_MAX_PARAMS; i++)
    len += (size_t)snprintf(b + len, cap - len,
                            "------X7\r\nContent-Disposition: form-data; name=p%d\r\n\r\nv\r\n", i);
  len += (size_t)snprintf(b + len, cap - len, "------X7--\r\n");
  parsed p;
  parse(&p, CT, b, len);
  CHECK_STATUS(p.st, FR_ERR_FORMAT);
  done(&p);
  /* a 5000-byte header section */
  len = (size_t)snprintf(b, cap, "------X7\r\nContent-Disposition: form-data; name=f\r\nX-Pad: ");
  memset(b + len, 'a', 5000);
  len += 5000;
  len += (size_t)snprintf(b + len, cap - len, "\r\n\r\nx\r\n------X7--\r\n");
  parse(&p, CT, b, len);
  CHECK_STATUS(p.st, FR_ERR_FORMAT);
  done(&p);
  free(b);
}

/* Parts of an accepted body must lie inside it. */
static void check_inside(const parsed *p, const uint8_t *body, size_t len) {
  for (int i = 0; i < p->n; i++) {
    const fr_http_part *q = &p->parts[i];
    CHECK(q->name != NULL);
    CHECK(q->data >= body && q->len <= len && q->data + q->len <= body + len);
  }
}

TEST(hostile_truncations_and_corruptions) {
  const char good[] = "------X7\r\n"
                      "Content-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
                      "Content-Type: image/jpeg\r\n\r\n"
                      "0123456789abcdef\r\n"
                      "------X7\r\n"
                      "Content-Disposition: form-data; name=\"k\"\r\n\r\n"
                      "v\r\n"
                      "------X7--\r\n";
  size_t n = sizeof good - 1;
  for (size_t cut = 0; cut < n; cut++) {
    /* exact-size heap copies: ASan catches any read past the end */
    uint8_t *b = malloc(cut ? cut : 1);
    memcpy(b, good, cut);
    parsed p;
    parse(&p, CT, b, cut);
    CHECK_MSG(p.st == FR_ERR_FORMAT || p.st == FR_OK, "cut %zu: status %d", cut, (int)p.st);
    /* only cuts inside the final delimiter's trailing CRLF may still parse */
    if (cut < n - 2) CHECK_MSG(p.st == FR_ERR_FORMAT, "cut %zu accepted", cut);
    check_inside(&p, b, cut);
    done(&p);
    free(b);
  }
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int it = 0; it < 20000; it++) {
    uint8_t *b = malloc(n);
    memcpy(b, good, n);
    int flips = 1 + (int)(x % 4);
    for (int f = 0; f < flips; f++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b[x % n] = (uint8_t)(x >> 24);
    }
    size_t len = n - (size_t)(x >> 40) % 8;
    parsed p;
    parse(&p, CT, b, len);
    CHECK(p.st == FR_ERR_FORMAT || p.st == FR_OK);
    check_inside(&p, b, len);
    done(&p);
    free(b);
  }
}

RUN_TESTS(T(curl_style_two_parts), T(quoted_boundary_preamble_epilogue_escapes), T(empty_form),
          T(refusals), T(part_and_header_limits), T(hostile_truncations_and_corruptions))
