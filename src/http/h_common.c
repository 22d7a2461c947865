/*
 * Shared handler helpers (handlers.h): error table, parameters, bodies,
 * base64, image extraction and the face pipeline.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/handlers.h"

/* ---- errors ---- */

static const struct {
  int http, cf;
  const char *code;
} herr_table[] = {
#define FR__HERR_ROW(kind, http, cf, code) {http, cf, code},
    FR__HERR_MAP(FR__HERR_ROW)
#undef FR__HERR_ROW
};
_Static_assert(sizeof herr_table / sizeof herr_table[0] == FR__HERR_COUNT,
               "one row per error kind");

bool fr__herr_set(fr__herr *e, fr__herr_kind kind, const char *fmt, ...) {
  e->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return false;
}

static fr__herr_kind clamp_kind(fr__herr_kind k) {
  return (unsigned)k < FR__HERR_COUNT ? k : FR__HERR_INTERNAL;
}
int fr__herr_http(fr__herr_kind k) { return herr_table[clamp_kind(k)].http; }
int fr__herr_compreface(fr__herr_kind k) { return herr_table[clamp_kind(k)].cf; }
const char *fr__herr_code(fr__herr_kind k) { return herr_table[clamp_kind(k)].code; }

void fr__reply_cf_error(fr_http_resp *resp, const fr__herr *e) {
  json_t *o = json_object();
  if (o) {
    json_object_set_new(o, "message", fr__json_str(e->msg));
    json_object_set_new(o, "code", json_integer(fr__herr_compreface(e->kind)));
  }
  fr_http_json(resp, fr__herr_http(e->kind), o);
}

/* ---- strings ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t left) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int n;
  unsigned min;
  if ((c & 0xE0) == 0xC0) n = 2, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000;
  else return 0;
  if ((size_t)n > left) return 0;
  unsigned cp = c & (0x7F >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

json_t *fr__json_str(const char *s) {
  if (!s) return json_null();
  size_t len = strlen(s);
  char *copy = malloc(len + 1);
  if (!copy) return NULL;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    int n = utf8_len(u + i, len - i);
    if (n == 0 || (n == 1 && u[i] == 0)) {
      copy[i++] = '?';
    } else {
      memcpy(copy + i, s + i, (size_t)n);
      i += (size_t)n;
    }
  }
  copy[len] = 0;
  json_t *j = json_string(copy);
  free(copy);
  return j;
}

bool fr__name_ok(const char *s) {
  if (!s) return false;
  size_t len = strlen(s);
  if (len == 0 || len > FR_NAME_MAX) return false;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    int n = utf8_len(u + i, len - i);
    if (n == 0) return false;
    if (n == 1 && (u[i] < 0x20 || u[i] == 0x7F)) return false;
    i += (size_t)n;
  }
  return true;
}

/* ---- parameters ---- */

/* "?name=" with name in [a-z_]+ starting at s[0] == '?'; returns name length or 0. */
static size_t sdk_param_at(const char *s) {
  if (s[0] != '?') return 0;
  size_t k = 1;
  while ((s[k] >= 'a' && s[k] <= 'z') || s[k] == '_') k++;
  return k > 1 && s[k] == '=' ? k - 1 : 0;
}

static void params_add(fr__params *p, const char *k, const char *v) {
  if (p->n < (int)(sizeof p->key / sizeof p->key[0])) {
    p->key[p->n] = k;
    p->val[p->n] = v;
    p->n++;
  }
}

void fr__params_init(fr__params *p, const fr_http_req *req) {
  p->n = 0;
  size_t used = 0;
  for (int i = 0; i < req->n_query && i < FR_HTTP_MAX_PARAMS; i++) {
    const char *k = req->query[i].key, *v = req->query[i].value;
    if (!k) continue;
    if (!v) v = "";
    const char *q = strchr(v, '?');
    if (!q || !sdk_param_at(q)) {
      params_add(p, k, v);
      continue;
    }
    /* Split "a?x=1?y=2" into a, x=1, y=2 (copies in buf). */
    size_t vlen = strlen(v);
    if (used + vlen + 1 > sizeof p->buf) {
      params_add(p, k, v);
      continue;
    }
    char *copy = p->buf + used;
    memcpy(copy, v, vlen + 1);
    used += vlen + 1;
    const char *cur_key = k;
    char *cur = copy;
    for (;;) {
      char *next = cur;
      size_t nl = 0;
      while ((next = strchr(next, '?')) != NULL && !(nl = sdk_param_at(next))) next++;
      if (!next) {
        params_add(p, cur_key, cur);
        break;
      }
      *next = 0;
      params_add(p, cur_key, cur);
      next[1 + nl] = 0; /* the '=' */
      cur_key = next + 1;
      cur = next + 2 + nl;
    }
  }
}

const char *fr__param(const fr__params *p, const char *key) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->key[i], key) == 0) return p->val[i];
  return NULL;
}

bool fr__param_int(const fr__params *p, const char *key, long lo, long hi, long dflt, long *out,
                   fr__herr *e) {
  const char *s = fr__param(p, key);
  *out = dflt;
  if (!s || !*s) return true;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s)
    return fr__herr_set(e, FR__HERR_BAD_ARG, "%s: '%s' is not an integer", key, s);
  if (v < lo || v > hi)
    return fr__herr_set(e, FR__HERR_BAD_ARG, "%s: must be between %ld and %ld", key, lo, hi);
  *out = v;
  return true;
}

bool fr__param_real(const fr__params *p, const char *key, double lo, double hi, double dflt,
                    double *out, fr__herr *e) {
  const char *s = fr__param(p, key);
  *out = dflt;
  if (!s || !*s) return true;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !isfinite(v))
    return fr__herr_set(e, FR__HERR_BAD_ARG, "%s: '%s' is not a number", key, s);
  if (v < lo || v > hi)
    return fr__herr_set(e, FR__HERR_BAD_ARG, "%s: must be between %g and %g", key, lo, hi);
  *out = v;
  return true;
}

bool fr__param_bool(const fr__params *p, const char *key, bool dflt) {
  const char *s = fr__param(p, key);
  if (!s || !*s) return dflt;
  return strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0;
}

/* ---- bodies ---- */

/* The media type of a Content-Type value: its length before ';' and spaces. */
static size_t media_len(const char *ct) {
  size_t n = 0;
  while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t') n++;
  return n;
}

bool fr__ctype_is(const fr_http_req *req, const char *type) {
  const char *ct = req->content_type;
  if (!ct) return false;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = media_len(ct);
  return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static bool ctype_prefix(const fr_http_req *req, const char *prefix) {
  const char *ct = req->content_type;
  if (!ct) return false;
  while (*ct == ' ' || *ct == '\t') ct++;
  return strncasecmp(ct, prefix, strlen(prefix)) == 0;
}

bool fr__body_json(const fr_http_req *req, json_t **out, fr__herr *e) {
  *out = NULL;
  if (!req->body || req->body_len == 0)
    return fr__herr_set(e, FR__HERR_BAD_JSON, "Required request body is missing");
  json_error_t je;
  json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_DECODE_ANY, &je);
  if (!j)
    return fr__herr_set(e, FR__HERR_BAD_JSON, "JSON parse error: %s (line %d, column %d)", je.text,
                        je.line, je.column);
  *out = j;
  return true;
}

/* ---- base64 ---- */

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool fr__base64_decode(const char *s, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
                       fr__herr *e) {
  *out = NULL;
  *out_len = 0;
  /* data URL prefix: "data:image/jpeg;base64," */
  if (len >= 5 && strncasecmp(s, "data:", 5) == 0) {
    const char *comma = memchr(s, ',', len);
    if (!comma || comma - s < 12 || strncasecmp(comma - 7, ";base64", 7) != 0)
      return fr__herr_set(e, FR__HERR_BAD_BASE64, "Provided value is not Base64");
    len -= (size_t)(comma + 1 - s);
    s = comma + 1;
  }
  /* Size the output from the significant characters before allocating. */
  size_t sig = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    sig += !(c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '=');
  }
  size_t cap = sig / 4 * 3 + 3;
  if (sig / 4 * 3 + (sig % 4 ? sig % 4 - 1 : 0) > max_out)
    return fr__herr_set(e, FR__HERR_IMAGE_TOO_LARGE,
                        "image is too large: more than %zu bytes after base64 decoding", max_out);
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return fr__herr_set(e, FR__HERR_INTERNAL, "out of memory");
  size_t n = 0, pad = 0, quad = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = b64_value(c);
    if (v < 0 || pad) { /* bad character, or data after padding */
      free(buf);
      return fr__herr_set(e, FR__HERR_BAD_BASE64, "Provided value is not Base64");
    }
    acc = (acc << 6) | (uint32_t)v;
    if (++quad == 4) {
      buf[n++] = (uint8_t)(acc >> 16);
      buf[n++] = (uint8_t)(acc >> 8);
      buf[n++] = (uint8_t)acc;
      acc = 0;
      quad = 0;
    }
  }
  /* Leftover characters: 2 -> 1 byte, 3 -> 2 bytes, 1 -> invalid; padding must complete the quad. */
  if (quad == 1 || pad > 2 || (pad && quad + pad != 4)) {
    free(buf);
    return fr__herr_set(e, FR__HERR_BAD_BASE64, "Provided value is not Base64");
  }
  if (quad == 2) buf[n++] = (uint8_t)(acc >> 4);
  if (quad == 3) {
    buf[n++] = (uint8_t)(acc >> 10);
    buf[n++] = (uint8_t)(acc >> 2);
  }
  if (n > max_out) {
    free(buf);
    return fr__herr_set(e, FR__HERR_IMAGE_TOO_LARGE,
                        "image is too large: %zu bytes (limit %zu)", n, max_out);
  }
  *out = buf;
  *out_len = n;
  return true;
}

/* ---- uploads ---- */

static size_t max_image_bytes(const fr_http_ctx *ctx) {
  return ctx->limits.max_bytes ? ctx->limits.max_bytes : fr_image_default_limits().max_bytes;
}

static bool upload_check(const fr_http_ctx *ctx, fr__upload *up, const char *field, fr__herr *e) {
  if (up->len == 0)
    return fr__herr_set(e, FR__HERR_EMPTY_IMAGE, "The uploaded file '%s' is empty", field);
  if (up->len > max_image_bytes(ctx))
    return fr__herr_set(e, FR__HERR_IMAGE_TOO_LARGE, "image is too large: %zu bytes (limit %zu)",
                        up->len, max_image_bytes(ctx));
  return true;
}

bool fr__upload_get(const fr_http_ctx *ctx, const fr_http_req *req, json_t *json,
                    const char *const *fields, bool allow_raw, fr__upload *up, fr__herr *e) {
  memset(up, 0, sizeof *up);
  /* multipart part */
  if (req->n_parts > 0 || ctype_prefix(req, "multipart/")) {
    for (const char *const *f = fields; *f; f++)
      for (int i = 0; i < req->n_parts && i < FR_HTTP_MAX_PARAMS; i++) {
        const fr_http_part *p = &req->parts[i];
        if (!p->name || strcmp(p->name, *f) != 0) continue;
        up->data = p->data;
        up->len = p->len;
        up->filename = p->filename;
        return upload_check(ctx, up, *f, e);
      }
    return fr__herr_set(e, FR__HERR_MISSING_FILE, "Required request part '%s' is not present",
                        fields[0]);
  }
  /* JSON with a base64 field */
  if (json || fr__ctype_is(req, "application/json")) {
    json_t *own = NULL;
    if (!json) {
      if (!fr__body_json(req, &own, e)) return false;
      json = own;
    }
    bool ok = false;
    if (!json_is_object(json)) {
      fr__herr_set(e, FR__HERR_BAD_JSON, "JSON body must be an object with a base64 '%s' field",
                   fields[0]);
      goto out;
    }
    for (const char *const *f = fields; *f; f++) {
      json_t *v = json_object_get(json, *f);
      if (!v) continue;
      if (!json_is_string(v)) {
        fr__herr_set(e, FR__HERR_BAD_BASE64, "Provided value is not Base64");
        goto out;
      }
      if (!fr__base64_decode(json_string_value(v), json_string_length(v), max_image_bytes(ctx),
                             &up->owned, &up->len, e))
        goto out;
      up->data = up->owned;
      ok = upload_check(ctx, up, *f, e);
      goto out;
    }
    fr__herr_set(e, FR__HERR_MISSING_FILE, "Required request field '%s' is not present",
                 fields[0]);
  out:
    json_decref(own);
    return ok;
  }
  /* raw image body (an empty request without a type is a missing file); a body
   * whose magic bytes are an image is taken whatever its declared type (curl
   * --data-binary sends application/x-www-form-urlencoded) */
  bool no_type = !req->content_type || !*req->content_type;
  bool sniffed = req->body_len > 0 && fr_image_sniff(req->body, req->body_len) != FR_IMAGE_UNKNOWN;
  if (allow_raw && !(no_type && req->body_len == 0) &&
      (no_type || sniffed || ctype_prefix(req, "image/") ||
       fr__ctype_is(req, "application/octet-stream"))) {
    up->data = req->body;
    up->len = req->body_len;
    return upload_check(ctx, up, "body", e);
  }
  if (no_type)
    return fr__herr_set(e, FR__HERR_MISSING_FILE, "Required request part '%s' is not present",
                        fields[0]);
  return fr__herr_set(e, FR__HERR_UNSUPPORTED_MEDIA,
                      "Content type '%.100s' not supported: send multipart/form-data with a '%s' "
                      "part, or application/json {\"%s\": \"<base64>\"}",
                      req->content_type, fields[0], fields[0]);
}

void fr__upload_free(fr__upload *up) {
  free(up->owned);
  memset(up, 0, sizeof *up);
}

/* ---- the pipeline ---- */

double fr__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

float fr__default_min_score(const fr_http_ctx *ctx) {
  return fr_engine_config_of(ctx->engine)->min_score;
}

json_t *fr__json_round(double v, int digits) {
  if (!isfinite(v)) return json_null();
  double s = pow(10.0, digits);
  return json_real(round(v * s) / s);
}

bool fr__analyze(const fr_http_ctx *ctx, int worker, const uint8_t *data, size_t len,
                 const fr__analyze_opts *o, fr__analysis *a, fr__herr *e) {
  memset(a, 0, sizeof *a);
  a->dim = fr_engine_embed_dim(ctx->engine);
  if (worker < 0 || worker >= ctx->n_workers || !ctx->workers[worker])
    return fr__herr_set(e, FR__HERR_INTERNAL, "no face worker for thread %d", worker);
  fr_worker *w = ctx->workers[worker];
  if (len == 0) return fr__herr_set(e, FR__HERR_EMPTY_IMAGE, "The uploaded file is empty");
  fr_error err = {{0}};
  fr_status st = fr_image_decode(data, len, &ctx->limits, &a->img, &err);
  if (st == FR_ERR_TOO_LARGE)
    return fr__herr_set(e, FR__HERR_IMAGE_TOO_LARGE, "image refused: %s", err.msg);
  if (st == FR_ERR_NOMEM) return fr__herr_set(e, FR__HERR_INTERNAL, "out of memory");
  if (st != FR_OK) return fr__herr_set(e, FR__HERR_BAD_IMAGE, "not a valid image: %s", err.msg);

  a->faces = malloc(FR_FACES_MAX * sizeof *a->faces);
  if (!a->faces) return fr__herr_set(e, FR__HERR_INTERNAL, "out of memory");
  double t0 = fr__now_ms();
  st = fr_detect(w, &a->img, o->min_score, a->faces, FR_FACES_MAX, &a->n, &err);
  a->detect_ms = fr__now_ms() - t0;
  if (st != FR_OK) return fr__herr_set(e, FR__HERR_INTERNAL, "face detection failed: %s", err.msg);
  if (a->n < 0) a->n = 0;
  if (a->n > FR_FACES_MAX) a->n = FR_FACES_MAX;
  fr_http_metrics_faces_detected(a->n);
  /* largest first, as CompreFace; `limit` keeps the largest */
  fr_faces_sort_largest_first(a->faces, a->n);
  if (o->limit > 0 && a->n > o->limit) a->n = o->limit;
  if (!o->embed || a->n == 0) return true;

  a->emb = malloc((size_t)a->n * (size_t)a->dim * sizeof *a->emb);
  if (!a->emb) return fr__herr_set(e, FR__HERR_INTERNAL, "out of memory");
  t0 = fr__now_ms();
  for (int k = 0; k < a->n; k++) {
    st = fr_embed_face(w, &a->img, &a->faces[k], a->emb + (size_t)k * (size_t)a->dim, NULL, &err);
    if (st != FR_OK)
      return fr__herr_set(e, FR__HERR_INTERNAL, "face embedding failed: %s", err.msg);
  }
  a->embed_ms = fr__now_ms() - t0;
  return true;
}

bool fr__embed_one(const fr_http_ctx *ctx, int worker, const fr__analysis *a, int k, float *emb,
                   fr_image *aligned, fr__herr *e) {
  if (worker < 0 || worker >= ctx->n_workers || !ctx->workers[worker] || k < 0 || k >= a->n)
    return fr__herr_set(e, FR__HERR_INTERNAL, "embed_one: bad worker or face index");
  fr_error err = {{0}};
  if (fr_embed_face(ctx->workers[worker], &a->img, &a->faces[k], emb, aligned, &err) != FR_OK)
    return fr__herr_set(e, FR__HERR_INTERNAL, "face embedding failed: %s", err.msg);
  return true;
}

void fr__analysis_free(fr__analysis *a) {
  fr_image_free(&a->img);
  free(a->faces);
  free(a->emb);
  memset(a, 0, sizeof *a);
}

#define FR__RIVAL_RATIO 0.6f

static float face_side(const fr_face *f) { return f->w < f->h ? f->w : f->h; }

bool fr__single_face(const fr__analysis *a, int *index, fr__herr *e) {
  if (a->n == 0) return fr__herr_set(e, FR__HERR_NO_FACE, "No face is found in the given image");
  int best = 0;
  for (int k = 1; k < a->n; k++)
    if (a->faces[k].w * a->faces[k].h > a->faces[best].w * a->faces[best].h) best = k;
  float side = face_side(&a->faces[best]);
  for (int k = 0; k < a->n; k++)
    if (k != best && face_side(&a->faces[k]) >= FR__RIVAL_RATIO * side)
      return fr__herr_set(e, FR__HERR_TOO_MANY_FACES, "More than one face in the source image");
  *index = best;
  return true;
}
