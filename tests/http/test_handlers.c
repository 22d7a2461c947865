/*
 * Handler unit tests: every route's handler called directly with fabricated
 * requests (no sockets), on the real models and an in-memory gallery. Error
 * bodies are compared exactly; successes by their fields.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/handlers.h"
#include "testutil.h"

static fr_engine *engine;
static fr_worker *worker;
static fr_gallery *gallery;
static fr_http_ctx ctx;
static char samples[1024];

/* ---- fixtures ---- */

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

typedef struct blob {
  uint8_t *data;
  size_t len;
} blob;

static blob sample(const char *rel) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", samples, rel);
  blob b = {0};
  b.data = read_file(path, &b.len);
  if (!b.data) fprintf(stderr, "cannot read %s\n", path);
  return b;
}

static char *b64(const uint8_t *d, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                 (i + 2 < n ? d[i + 2] : 0);
    *p++ = t[v >> 18 & 63];
    *p++ = t[v >> 12 & 63];
    *p++ = i + 1 < n ? t[v >> 6 & 63] : '=';
    *p++ = i + 2 < n ? t[v & 63] : '=';
  }
  *p = 0;
  return o;
}

/* A request: "GET", path, "k=v&k2=v2" (already decoded; no escaping here). */
typedef struct treq {
  fr_http_req r;
  char qbuf[2048];
} treq;

static void mkreq(treq *t, const char *method, const char *path, const char *query) {
  memset(t, 0, sizeof *t);
  t->r.method = method;
  t->r.path = path;
  t->r.request_id = "test";
  t->r.role = FR_ROLE_ADMIN;
  if (query) {
    snprintf(t->qbuf, sizeof t->qbuf, "%s", query);
    char *save = NULL;
    for (char *kv = strtok_r(t->qbuf, "&", &save); kv && t->r.n_query < FR_HTTP_MAX_PARAMS;
         kv = strtok_r(NULL, "&", &save)) {
      char *eq = strchr(kv, '=');
      if (eq) *eq = 0;
      t->r.query[t->r.n_query].key = kv;
      t->r.query[t->r.n_query].value = eq ? eq + 1 : "";
      t->r.n_query++;
    }
  }
}

static void set_arg(treq *t, const char *a) { t->r.path_args[t->r.n_path_args++] = a; }

static void set_part(treq *t, const char *name, const void *data, size_t len) {
  t->r.content_type = "multipart/form-data; boundary=xyz";
  fr_http_part *p = &t->r.parts[t->r.n_parts++];
  p->name = name;
  p->filename = "upload.png";
  p->data = data;
  p->len = len;
}

static void set_body(treq *t, const char *ctype, const void *data, size_t len) {
  t->r.content_type = ctype;
  t->r.body = data;
  t->r.body_len = len;
}

typedef struct tresp {
  fr_http_resp r;
  char *text; /* compact JSON, sorted keys */
  json_t *j;
} tresp;

static void call(fr_http_handler h, treq *t, tresp *out) {
  memset(out, 0, sizeof *out);
  h(&ctx, 0, &t->r, &out->r);
  if (out->r.json) {
    out->j = out->r.json;
    out->text = json_dumps(out->j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(7));
  }
}

static void tresp_free(tresp *r) {
  free(r->text);
  json_decref(r->j);
  free(r->r.bytes);
  memset(r, 0, sizeof *r);
}

#define CHECK_REPLY(resp, want_st, want_body)                                               \
  do {                                                                                      \
    CHECK_MSG((resp).r.status == (want_st), "status %d, expected %d (%s)", (resp).r.status,  \
              (want_st), (resp).text ? (resp).text : "(no json)");                          \
    CHECK_MSG((resp).text && strcmp((resp).text, (want_body)) == 0,                          \
              "body %s\n  expected %s", (resp).text ? (resp).text : "(null)", (want_body));    \
  } while (0)

static const char *jstr(json_t *o, const char *path) {
  json_t *v = o;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *save = NULL;
  for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
    if (k[0] >= '0' && k[0] <= '9')
      v = json_array_get(v, (size_t)atoi(k));
    else
      v = json_object_get(v, k);
  }
  return json_string_value(v);
}

static json_t *jget(json_t *o, const char *path) {
  json_t *v = o;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *save = NULL;
  for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
    if (k[0] >= '0' && k[0] <= '9')
      v = json_array_get(v, (size_t)atoi(k));
    else
      v = json_object_get(v, k);
  }
  return v;
}

/* A uniform grey JPEG: an image without any face. */
static blob grey_jpeg(void) {
  fr_image img = {0};
  blob b = {0};
  if (fr_image_alloc(&img, 200, 160, NULL) != FR_OK) return b;
  for (int y = 0; y < img.h; y++) memset(img.px + (size_t)y * (size_t)img.stride, 128, (size_t)img.w * 3);
  fr_image_encode_jpeg(&img, 90, &b.data, &b.len, NULL);
  fr_image_free(&img);
  return b;
}

static uint32_t crc32_png(const uint8_t *d, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= d[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* PNG signature + IHDR of 100000 x 100000 RGB + IEND: a decompression bomb's header. */
static size_t bomb_png(uint8_t out[64]) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  memcpy(out, sig, 8);
  put32(out + 8, 13);
  memcpy(out + 12, "IHDR", 4);
  put32(out + 16, 100000);
  put32(out + 20, 100000);
  out[24] = 8, out[25] = 2, out[26] = 0, out[27] = 0, out[28] = 0;
  put32(out + 29, crc32_png(out + 12, 17));
  put32(out + 33, 0);
  memcpy(out + 37, "IEND", 4);
  put32(out + 41, crc32_png(out + 37, 4));
  return 45;
}

/* ---- unit pieces ---- */

TEST(base64_strict) {
  fr__herr e;
  uint8_t *o;
  size_t n;
  CHECK(fr__base64_decode("aGVsbG8=", 8, 100, &o, &n, &e) && n == 5 && memcmp(o, "hello", 5) == 0);
  free(o);
  CHECK(fr__base64_decode("aGVsbG8", 7, 100, &o, &n, &e) && n == 5 && memcmp(o, "hello", 5) == 0);
  free(o);
  CHECK(fr__base64_decode("aGVs\r\nbG8=\n", 11, 100, &o, &n, &e) && n == 5);
  free(o);
  const char *durl = "data:image/png;base64,aGk=";
  CHECK(fr__base64_decode(durl, strlen(durl), 100, &o, &n, &e) && n == 2 && memcmp(o, "hi", 2) == 0);
  free(o);
  CHECK(fr__base64_decode("", 0, 100, &o, &n, &e) && n == 0);
  free(o);
  const char *bad[] = {"a", "aGVsbG8=x", "aGV$bG8=", "aG===", "aGVsbG8-", "data:,aGk=", "aGVsb==="};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_MSG(!fr__base64_decode(bad[i], strlen(bad[i]), 100, &o, &n, &e) &&
                  e.kind == FR__HERR_BAD_BASE64 && o == NULL,
              "accepted '%s'", bad[i]);
  }
  /* the cap is checked before decoding */
  CHECK(!fr__base64_decode("aGVsbG8=", 8, 4, &o, &n, &e) && e.kind == FR__HERR_IMAGE_TOO_LARGE);
}

TEST(params_sdk_question_mark) {
  treq t;
  mkreq(&t, "POST", "/x", "limit=0?face_plugins=landmarks?status=true&subject=a?b");
  fr__params p;
  fr__params_init(&p, &t.r);
  CHECK(strcmp(fr__param(&p, "limit"), "0") == 0);
  CHECK(strcmp(fr__param(&p, "face_plugins"), "landmarks") == 0);
  CHECK(strcmp(fr__param(&p, "status"), "true") == 0);
  CHECK(strcmp(fr__param(&p, "subject"), "a?b") == 0); /* "?b" is not "?name=" */
  CHECK(fr__param(&p, "nothing") == NULL);
}

/* ---- errors, exact bodies ---- */

TEST(errors_uploads) {
  treq t;
  tresp r;
  /* no body at all */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":34,\"message\":\"Required request part 'file' is not present\"}");
  tresp_free(&r);
  /* multipart without the part */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  set_part(&t, "other", "x", 1);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":34,\"message\":\"Required request part 'file' is not present\"}");
  tresp_free(&r);
  /* 0-byte file */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  set_part(&t, "file", "", 0);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":21,\"message\":\"The uploaded file 'file' is empty\"}");
  tresp_free(&r);
  /* not an image */
  mkreq(&t, "POST", "/api/v1/detection/detect", NULL);
  set_part(&t, "file", "hello, world", 12);
  call(fr__h_cf_detect, &t, &r);
  CHECK(r.r.status == 400 && json_integer_value(jget(r.j, "code")) == 21 &&
        strncmp(jstr(r.j, "message"), "not a valid image", 17) == 0);
  tresp_free(&r);
  /* truncated JPEG */
  blob angry = sample("face-api.js/examples/images/angry.jpg");
  mkreq(&t, "POST", "/api/v1/detection/detect", NULL);
  set_body(&t, "image/jpeg", angry.data, angry.len / 3);
  call(fr__h_cf_detect, &t, &r);
  CHECK_MSG(r.r.status == 400 && json_integer_value(jget(r.j, "code")) == 21, "%s", r.text);
  tresp_free(&r);
  /* decompression bomb: refused from its header */
  uint8_t bomb[64];
  size_t bl = bomb_png(bomb);
  mkreq(&t, "POST", "/api/v1/detection/detect", NULL);
  set_part(&t, "file", bomb, bl);
  call(fr__h_cf_detect, &t, &r);
  CHECK_MSG(r.r.status == 413 && json_integer_value(jget(r.j, "code")) == 21, "%s", r.text);
  tresp_free(&r);
  /* invalid base64 */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  const char *bad64 = "{\"file\":\"@@not base64@@\"}";
  set_body(&t, "application/json", bad64, strlen(bad64));
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":21,\"message\":\"Provided value is not Base64\"}");
  tresp_free(&r);
  /* malformed JSON */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  set_body(&t, "application/json", "{\"file\":", 8);
  call(fr__h_cf_recognize, &t, &r);
  CHECK(r.r.status == 400 && json_integer_value(jget(r.j, "code")) == 36);
  tresp_free(&r);
  /* wrong content type */
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  set_body(&t, "text/plain", "hi", 2);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 415,
              "{\"code\":21,\"message\":\"Content type 'text/plain' not supported: send "
              "multipart/form-data with a 'file' part, or application/json {\\\"file\\\": "
              "\\\"<base64>\\\"}\"}");
  tresp_free(&r);
  /* no face */
  blob grey = grey_jpeg();
  mkreq(&t, "POST", "/api/v1/recognition/recognize", NULL);
  set_part(&t, "file", grey.data, grey.len);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":28,\"message\":\"No face is found in the given image\"}");
  tresp_free(&r);
  /* seed dialect */
  mkreq(&t, "POST", "/recognition", NULL);
  set_body(&t, "image/png", "garbage", 7);
  call(fr__h_seed_recognize, &t, &r);
  CHECK(r.r.status == 400 && strcmp(jstr(r.j, "result"), "error during prediction") == 0 &&
        strcmp(jstr(r.j, "code"), "bad_image") == 0 && jstr(r.j, "error"));
  tresp_free(&r);
  mkreq(&t, "POST", "/recognition", NULL);
  set_body(&t, "image/png", "", 0);
  call(fr__h_seed_recognize, &t, &r);
  CHECK_REPLY(r, 400,
              "{\"code\":\"empty_image\",\"error\":\"The uploaded file 'body' is empty\",\"result\":"
              "\"error during prediction\"}");
  tresp_free(&r);
  /* seed: no face is an empty result, not an error */
  mkreq(&t, "POST", "/recognition", NULL);
  set_body(&t, NULL, grey.data, grey.len);
  call(fr__h_seed_recognize, &t, &r);
  CHECK(r.r.status == 200 && json_array_size(jget(r.j, "result")) == 0);
  tresp_free(&r);
  free(grey.data);
  free(angry.data);
}

TEST(errors_parameters) {
  treq t;
  tresp r;
  blob amy = sample("face-api.js/examples/images/amy/amy1.png");
  mkreq(&t, "POST", "/api/v1/recognition/recognize", "prediction_count=0");
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400,
              "{\"code\":12,\"message\":\"Prediction count should be any positive number or -1\"}");
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/recognition/recognize", "limit=-1");
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":26,\"message\":\"limit: Limit should be equal or greater than 0\"}");
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/recognition/recognize", "det_prob_threshold=1.5");
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":26,\"message\":\"det_prob_threshold: must be between 0 and 1\"}");
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/recognition/faces", NULL);
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_face_add, &t, &r);
  CHECK_REPLY(r, 400,
              "{\"code\":33,\"message\":\"Required request parameter 'subject' for method parameter "
              "type String is not present\"}");
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/recognition/faces", "subject=");
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_face_add, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":26,\"message\":\"Subject name is empty\"}");
  tresp_free(&r);
  free(amy.data);
}

TEST(errors_not_found) {
  treq t;
  tresp r;
  const char *uuid = "00000000-0000-4000-8000-000000000000";
  mkreq(&t, "DELETE", "/api/v1/recognition/subjects/nobody", NULL);
  set_arg(&t, "nobody");
  call(fr__h_cf_subject_delete, &t, &r);
  CHECK_REPLY(r, 404, "{\"code\":42,\"message\":\"Subject nobody not found\"}");
  tresp_free(&r);
  mkreq(&t, "PUT", "/api/v1/recognition/subjects/nobody", NULL);
  set_arg(&t, "nobody");
  set_body(&t, "application/json", "{\"subject\":\"x\"}", 15);
  call(fr__h_cf_subject_rename, &t, &r);
  CHECK_REPLY(r, 404, "{\"code\":42,\"message\":\"Subject nobody not found\"}");
  tresp_free(&r);
  mkreq(&t, "DELETE", "/api/v1/recognition/faces/x", NULL);
  set_arg(&t, uuid);
  call(fr__h_cf_face_delete, &t, &r);
  CHECK_REPLY(r, 404,
              "{\"code\":44,\"message\":\"Image 00000000-0000-4000-8000-000000000000 not found\"}");
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/faces/x/img", NULL);
  set_arg(&t, "not-a-uuid");
  call(fr__h_cf_face_img, &t, &r);
  CHECK_REPLY(r, 404, "{\"code\":44,\"message\":\"Image not-a-uuid not found\"}");
  tresp_free(&r);
  blob amy = sample("face-api.js/examples/images/amy/amy1.png");
  mkreq(&t, "POST", "/api/v1/recognition/faces/x/verify", NULL);
  set_arg(&t, uuid);
  set_part(&t, "file", amy.data, amy.len);
  call(fr__h_cf_verify_face, &t, &r);
  CHECK(r.r.status == 404 && json_integer_value(jget(r.j, "code")) == 44);
  tresp_free(&r);
  free(amy.data);
  mkreq(&t, "POST", "/api/v1/recognition/subjects", NULL);
  set_body(&t, "application/json", "[1,2", 4);
  call(fr__h_cf_subject_add, &t, &r);
  CHECK(r.r.status == 400 && json_integer_value(jget(r.j, "code")) == 36);
  tresp_free(&r);
  /* unknown subject: deletes nothing, lists nothing */
  mkreq(&t, "DELETE", "/api/v1/recognition/faces", "subject=nobody");
  call(fr__h_cf_face_delete_by_subject, &t, &r);
  CHECK_REPLY(r, 200, "{\"deleted\":0}");
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/faces", "subject=nobody");
  call(fr__h_cf_face_list, &t, &r);
  CHECK_REPLY(r, 200,
              "{\"faces\":[],\"page_number\":0,\"page_size\":20,\"total_elements\":0,\"total_pages\":0}");
  tresp_free(&r);
}

/* ---- the whole CompreFace flow ---- */

static char amy_id[64], sheldon_id[64];

static void add_face(const char *subject, const char *rel, bool as_base64, char *id_out,
                     int want_status) {
  treq t;
  tresp r;
  blob b = sample(rel);
  char q[128];
  snprintf(q, sizeof q, "subject=%s", subject);
  mkreq(&t, "POST", "/api/v1/recognition/faces", q);
  char *body = NULL;
  if (as_base64) {
    char *enc = b64(b.data, b.len);
    size_t n = strlen(enc) + 32;
    body = malloc(n);
    snprintf(body, n, "{\"file\":\"%s\"}", enc);
    free(enc);
    set_body(&t, "application/json", body, strlen(body));
  } else {
    set_part(&t, "file", b.data, b.len);
  }
  call(fr__h_cf_face_add, &t, &r);
  CHECK_MSG(r.r.status == want_status, "add %s: %d %s", rel, r.r.status, r.text);
  if (r.r.status == 201) {
    CHECK(strcmp(jstr(r.j, "subject"), subject) == 0);
    CHECK(jstr(r.j, "image_id") && strlen(jstr(r.j, "image_id")) == 36);
    if (id_out) snprintf(id_out, 64, "%s", jstr(r.j, "image_id"));
  }
  tresp_free(&r);
  free(body);
  free(b.data);
}

TEST(subjects_and_faces) {
  treq t;
  tresp r;
  mkreq(&t, "POST", "/api/v1/recognition/subjects", NULL);
  set_body(&t, "application/json", "{\"subject\":\"amy\"}", 17);
  call(fr__h_cf_subject_add, &t, &r);
  CHECK_REPLY(r, 201, "{\"subject\":\"amy\"}");
  tresp_free(&r);
  call(fr__h_cf_subject_add, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":43,\"message\":\"Subject already exists\"}");
  tresp_free(&r);

  add_face("amy", "face-api.js/examples/images/amy/amy1.png", false, amy_id, 201);
  char again[64] = "";
  add_face("amy", "face-api.js/examples/images/amy/amy1.png", true, again, 201);
  CHECK_MSG(strcmp(again, amy_id) == 0, "re-upload gave %s, first %s", again, amy_id);
  add_face("sheldon", "face-api.js/examples/images/sheldon/sheldon1.png", true, sheldon_id, 201);
  /* a group photo is refused for enrollment */
  add_face("group", "face-api.js/examples/images/bbt1.jpg", false, NULL, 400);

  mkreq(&t, "GET", "/api/v1/recognition/subjects", NULL);
  call(fr__h_cf_subject_list, &t, &r);
  CHECK_REPLY(r, 200, "{\"subjects\":[\"amy\",\"sheldon\"]}");
  tresp_free(&r);

  mkreq(&t, "GET", "/api/v1/recognition/faces", NULL);
  call(fr__h_cf_face_list, &t, &r);
  CHECK(r.r.status == 200 && json_integer_value(jget(r.j, "total_elements")) == 2 &&
        json_integer_value(jget(r.j, "total_pages")) == 1 &&
        json_integer_value(jget(r.j, "page_size")) == 20 &&
        json_array_size(jget(r.j, "faces")) == 2);
  CHECK(strcmp(jstr(r.j, "faces.0.image_id"), amy_id) == 0 &&
        strcmp(jstr(r.j, "faces.0.subject"), "amy") == 0);
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/faces", "page=1&size=1");
  call(fr__h_cf_face_list, &t, &r);
  CHECK(json_integer_value(jget(r.j, "total_pages")) == 2 &&
        json_integer_value(jget(r.j, "page_number")) == 1 &&
        strcmp(jstr(r.j, "faces.0.subject"), "sheldon") == 0);
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/faces", "subject=sheldon");
  call(fr__h_cf_face_list, &t, &r);
  CHECK(json_integer_value(jget(r.j, "total_elements")) == 1 &&
        strcmp(jstr(r.j, "faces.0.image_id"), sheldon_id) == 0);
  tresp_free(&r);

  /* the stored thumbnail is a 112x112 JPEG */
  mkreq(&t, "GET", "/api/v1/recognition/faces/x/img", NULL);
  set_arg(&t, amy_id);
  call(fr__h_cf_face_img, &t, &r);
  CHECK(r.r.status == 200 && r.r.bytes && r.r.bytes_len > 100 && r.r.bytes[0] == 0xFF &&
        strcmp(r.r.content_type, "image/jpeg") == 0);
  fr_image thumb = {0};
  CHECK(fr_image_decode(r.r.bytes, r.r.bytes_len, NULL, &thumb, NULL) == FR_OK && thumb.w == 112 &&
        thumb.h == 112);
  fr_image_free(&thumb);
  tresp_free(&r);
}

TEST(recognize_detect_verify) {
  treq t;
  tresp r;
  blob amy2 = sample("face-api.js/examples/images/amy/amy2.png");
  blob amy3 = sample("face-api.js/examples/images/amy/amy3.png");
  blob sh2 = sample("face-api.js/examples/images/sheldon/sheldon2.png");
  blob bbt = sample("face-api.js/examples/images/bbt1.jpg");
  double thr = ctx.threshold;

  mkreq(&t, "POST", "/api/v1/recognition/recognize", "prediction_count=2");
  set_part(&t, "file", amy2.data, amy2.len);
  call(fr__h_cf_recognize, &t, &r);
  CHECK_MSG(r.r.status == 200, "%s", r.text);
  CHECK(json_array_size(jget(r.j, "result")) == 1);
  CHECK(jstr(r.j, "result.0.subjects.0.subject") &&
        strcmp(jstr(r.j, "result.0.subjects.0.subject"), "amy") == 0);
  CHECK(json_real_value(jget(r.j, "result.0.subjects.0.similarity")) >= thr);
  CHECK(json_array_size(jget(r.j, "result.0.subjects")) == 2);
  CHECK(json_integer_value(jget(r.j, "result.0.box.x_max")) > 0 && jget(r.j, "result.0.box.probability"));
  CHECK(!jget(r.j, "result.0.landmarks") && !jget(r.j, "result.0.embedding") &&
        !jget(r.j, "result.0.execution_time"));
  CHECK(jstr(r.j, "plugins_versions.calculator") != NULL);
  tresp_free(&r);

  /* plugins + status, with the SDK's '?' separator bug */
  mkreq(&t, "POST", "/api/v1/recognition/recognize",
        "limit=0?face_plugins=landmarks,calculator?status=true");
  char *enc = b64(amy2.data, amy2.len);
  size_t n = strlen(enc) + 32;
  char *body = malloc(n);
  snprintf(body, n, "{\"file\":\"%s\"}", enc);
  set_body(&t, "application/json", body, strlen(body));
  call(fr__h_cf_recognize, &t, &r);
  CHECK_MSG(r.r.status == 200, "%s", r.text);
  CHECK(json_array_size(jget(r.j, "result.0.landmarks")) == 5);
  CHECK(json_array_size(jget(r.j, "result.0.embedding")) == (size_t)fr_engine_embed_dim(engine));
  CHECK(jget(r.j, "result.0.execution_time.detector") != NULL);
  CHECK(json_array_size(jget(r.j, "result.0.subjects")) == 1);
  tresp_free(&r);
  free(body);
  free(enc);

  /* a group photo: 4 faces; limit keeps the largest */
  mkreq(&t, "POST", "/api/v1/detection/detect", NULL);
  set_part(&t, "file", bbt.data, bbt.len);
  call(fr__h_cf_detect, &t, &r);
  CHECK_MSG(r.r.status == 200 && json_array_size(jget(r.j, "result")) == 4, "%s", r.text);
  CHECK(!jget(r.j, "result.0.subjects"));
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/detection/detect", "limit=2&face_plugins=landmarks");
  set_part(&t, "file", bbt.data, bbt.len);
  call(fr__h_cf_detect, &t, &r);
  CHECK(json_array_size(jget(r.j, "result")) == 2 && json_array_size(jget(r.j, "result.1.landmarks")) == 5);
  tresp_free(&r);

  /* verify against a stored face */
  mkreq(&t, "POST", "/api/v1/recognition/faces/x/verify", NULL);
  set_arg(&t, amy_id);
  set_part(&t, "file", amy3.data, amy3.len);
  call(fr__h_cf_verify_face, &t, &r);
  CHECK_MSG(r.r.status == 200, "%s", r.text);
  CHECK(strcmp(jstr(r.j, "result.0.subject"), "amy") == 0);
  double same = json_real_value(jget(r.j, "result.0.similarity"));
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/recognition/faces/x/verify", NULL);
  set_arg(&t, amy_id);
  set_part(&t, "file", sh2.data, sh2.len);
  call(fr__h_cf_verify_face, &t, &r);
  double other = json_real_value(jget(r.j, "result.0.similarity"));
  CHECK_MSG(same >= thr && other < thr, "same %.4f other %.4f threshold %.4f", same, other, thr);
  tresp_free(&r);

  /* verification service: multipart and base64 */
  mkreq(&t, "POST", "/api/v1/verification/verify", NULL);
  set_part(&t, "source_image", amy2.data, amy2.len);
  set_part(&t, "target_image", bbt.data, bbt.len);
  call(fr__h_cf_verification, &t, &r);
  CHECK_MSG(r.r.status == 200, "%s", r.text);
  CHECK(jget(r.j, "result.0.source_image_face.box") &&
        json_array_size(jget(r.j, "result.0.face_matches")) == 4);
  tresp_free(&r);
  char *e1 = b64(amy2.data, amy2.len), *e2 = b64(amy3.data, amy3.len);
  n = strlen(e1) + strlen(e2) + 64;
  body = malloc(n);
  snprintf(body, n, "{\"source_image\":\"%s\",\"target_image\":\"%s\"}", e1, e2);
  mkreq(&t, "POST", "/api/v1/verification/verify", NULL);
  set_body(&t, "application/json", body, strlen(body));
  call(fr__h_cf_verification, &t, &r);
  CHECK_MSG(r.r.status == 200 && json_real_value(jget(r.j, "result.0.face_matches.0.similarity")) >= thr,
            "%s", r.text);
  tresp_free(&r);
  free(body);
  free(e1);
  free(e2);
  /* group photo as the source: ambiguous */
  mkreq(&t, "POST", "/api/v1/verification/verify", NULL);
  set_part(&t, "source_image", bbt.data, bbt.len);
  set_part(&t, "target_image", amy2.data, amy2.len);
  call(fr__h_cf_verification, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":31,\"message\":\"More than one face in the source image\"}");
  tresp_free(&r);
  mkreq(&t, "POST", "/api/v1/verification/verify", NULL);
  set_part(&t, "source_image", amy2.data, amy2.len);
  call(fr__h_cf_verification, &t, &r);
  CHECK_REPLY(r, 400, "{\"code\":34,\"message\":\"Required request part 'target_image' is not present\"}");
  tresp_free(&r);

  /* the seed's API: raw body and JSON base64 */
  mkreq(&t, "POST", "/recognition", NULL);
  set_body(&t, "image/png", amy3.data, amy3.len);
  call(fr__h_seed_recognize, &t, &r);
  CHECK_MSG(r.r.status == 200 && strcmp(jstr(r.j, "result.0.name"), "amy") == 0, "%s", r.text);
  CHECK(json_integer_value(jget(r.j, "result.0.box.w")) > 50 && jget(r.j, "execution_time_ms"));
  tresp_free(&r);
  enc = b64(sh2.data, sh2.len);
  n = strlen(enc) + 32;
  body = malloc(n);
  snprintf(body, n, "{\"image\":\"%s\"}", enc);
  mkreq(&t, "POST", "/recognition", NULL);
  set_body(&t, "application/json", body, strlen(body));
  call(fr__h_seed_recognize, &t, &r);
  CHECK_MSG(r.r.status == 200 && strcmp(jstr(r.j, "result.0.name"), "sheldon") == 0, "%s", r.text);
  tresp_free(&r);
  free(body);
  free(enc);
  mkreq(&t, "POST", "/recognition", NULL);
  set_part(&t, "image", bbt.data, bbt.len);
  call(fr__h_seed_recognize, &t, &r);
  CHECK(r.r.status == 200 && json_array_size(jget(r.j, "result")) == 4);
  tresp_free(&r);
  mkreq(&t, "GET", "/recognition", NULL);
  call(fr__h_seed_state, &t, &r);
  CHECK_MSG(r.r.status == 200 && json_integer_value(jget(r.j, "faces")) == 2 &&
                json_integer_value(jget(r.j, "subjects")) == 2 && jstr(r.j, "models.recognizer"),
            "%s", r.text);
  tresp_free(&r);

  free(amy2.data);
  free(amy3.data);
  free(sh2.data);
  free(bbt.data);
}

TEST(rename_and_delete) {
  treq t;
  tresp r;
  mkreq(&t, "PUT", "/api/v1/recognition/subjects/amy", NULL);
  set_arg(&t, "amy");
  set_body(&t, "application/json", "{\"subject\":\"Amy Farrah Fowler\"}", 31);
  call(fr__h_cf_subject_rename, &t, &r);
  CHECK_REPLY(r, 200, "{\"updated\":true}");
  tresp_free(&r);
  /* onto an existing subject: merged into it, as CompreFace does */
  mkreq(&t, "POST", "/api/v1/recognition/subjects", NULL);
  set_body(&t, "application/json", "{\"subject\":\"tmp\"}", 17);
  call(fr__h_cf_subject_add, &t, &r);
  CHECK_REPLY(r, 201, "{\"subject\":\"tmp\"}");
  tresp_free(&r);
  mkreq(&t, "PUT", "/api/v1/recognition/subjects/x", NULL);
  set_arg(&t, "tmp");
  set_body(&t, "application/json", "{\"subject\":\"sheldon\"}", 21);
  call(fr__h_cf_subject_rename, &t, &r);
  CHECK_REPLY(r, 200, "{\"updated\":true}");
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/subjects", NULL);
  call(fr__h_cf_subject_list, &t, &r);
  CHECK_REPLY(r, 200, "{\"subjects\":[\"Amy Farrah Fowler\",\"sheldon\"]}");
  tresp_free(&r);
  mkreq(&t, "PUT", "/api/v1/recognition/subjects/x", NULL);
  set_arg(&t, "sheldon");
  set_body(&t, "application/json", "{\"subject\":\"\"}", 14);
  call(fr__h_cf_subject_rename, &t, &r);
  CHECK_REPLY(r, 200, "{\"updated\":false}");
  tresp_free(&r);

  /* add a second face to sheldon, delete one by id, the rest by subject */
  char id2[64] = "";
  add_face("sheldon", "face-api.js/examples/images/sheldon/sheldon3.png", false, id2, 201);
  mkreq(&t, "DELETE", "/api/v1/recognition/faces/x", NULL);
  set_arg(&t, id2);
  call(fr__h_cf_face_delete, &t, &r);
  char want[256];
  snprintf(want, sizeof want, "{\"image_id\":\"%s\",\"subject\":\"sheldon\"}", id2);
  CHECK_REPLY(r, 200, want);
  tresp_free(&r);
  char body[256];
  snprintf(body, sizeof body, "[\"%s\",\"00000000-0000-4000-8000-000000000000\"]", amy_id);
  mkreq(&t, "POST", "/api/v1/recognition/faces/delete", NULL);
  set_body(&t, "application/json", body, strlen(body));
  call(fr__h_cf_face_delete_many, &t, &r);
  snprintf(want, sizeof want, "[{\"image_id\":\"%s\",\"subject\":\"Amy Farrah Fowler\"}]", amy_id);
  CHECK_REPLY(r, 200, want);
  tresp_free(&r);
  mkreq(&t, "DELETE", "/api/v1/recognition/faces", "subject=sheldon");
  call(fr__h_cf_face_delete_by_subject, &t, &r);
  CHECK_REPLY(r, 200, "{\"deleted\":1}");
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/subjects", NULL);
  call(fr__h_cf_subject_list, &t, &r);
  CHECK_REPLY(r, 200, "{\"subjects\":[\"Amy Farrah Fowler\"]}");
  tresp_free(&r);
  mkreq(&t, "DELETE", "/api/v1/recognition/subjects/x", NULL);
  set_arg(&t, "Amy Farrah Fowler");
  call(fr__h_cf_subject_delete, &t, &r);
  CHECK_REPLY(r, 200, "{\"subject\":\"Amy Farrah Fowler\"}");
  tresp_free(&r);
  /* delete all: subjects and faces */
  add_face("a", "face-api.js/examples/images/amy/amy4.png", false, NULL, 201);
  add_face("b", "face-api.js/examples/images/sheldon/sheldon4.png", false, NULL, 201);
  add_face("b", "face-api.js/examples/images/sheldon/sheldon5.png", false, NULL, 201);
  mkreq(&t, "DELETE", "/api/v1/recognition/faces", NULL);
  call(fr__h_cf_face_delete_by_subject, &t, &r);
  CHECK_REPLY(r, 200, "{\"deleted\":3}");
  tresp_free(&r);
  add_face("c", "face-api.js/examples/images/amy/amy4.png", false, NULL, 201);
  mkreq(&t, "POST", "/api/v1/recognition/subjects", NULL);
  set_body(&t, "application/json", "{\"subject\":\"d\"}", 15);
  call(fr__h_cf_subject_add, &t, &r);
  tresp_free(&r);
  mkreq(&t, "DELETE", "/api/v1/recognition/subjects", NULL);
  call(fr__h_cf_subject_delete_all, &t, &r);
  CHECK_REPLY(r, 200, "{\"deleted\":2}");
  tresp_free(&r);
  mkreq(&t, "GET", "/api/v1/recognition/faces", NULL);
  call(fr__h_cf_face_list, &t, &r);
  CHECK(json_integer_value(jget(r.j, "total_elements")) == 0);
  tresp_free(&r);
}

TEST(openapi_document) {
  treq t;
  tresp r;
  mkreq(&t, "GET", "/openapi.json", NULL);
  call(fr__h_openapi, &t, &r);
  CHECK(r.r.status == 200 && strcmp(jstr(r.j, "openapi"), "3.0.3") == 0);
  for (int i = 0; i < fr_http_n_routes; i++) {
    const fr_http_route *rt = &fr_http_routes[i];
    char m[16];
    size_t k = 0;
    for (; rt->method[k] && k < 15; k++) m[k] = (char)(rt->method[k] | 0x20);
    m[k] = 0;
    json_t *op = json_object_get(json_object_get(jget(r.j, "paths"), rt->pattern), m);
    CHECK_MSG(op && json_object_get(op, "responses") && json_object_get(op, "tags"),
              "%s %s undocumented", rt->method, rt->pattern);
  }
  CHECK(jget(r.j, "components.schemas.RecognizeResponse") && jget(r.j, "paths./healthz"));
  tresp_free(&r);
}

/* ---- main ---- */

static int setup(void) {
  const char *src = fr_t_env("FR_SOURCE_DIR", ".");
  const char *shared = fr_t_env("FR_SHARED_DIR", "../shared");
  snprintf(samples, sizeof samples, "%s/data/samples", shared);
  static char models[1024];
  snprintf(models, sizeof models, "%s/models", src);
  fr_engine_config cfg = fr_engine_default_config();
  if (!getenv("FR_MODELS_DIR")) cfg.models_dir = models;
  fr_error err = {{0}};
  if (fr_engine_create(&cfg, &engine, &err) != FR_OK ||
      fr_worker_create(engine, NULL, &worker, &err) != FR_OK ||
      fr_gallery_open(":memory:", fr_engine_model_id(engine), fr_engine_embed_dim(engine), &gallery,
                      &err) != FR_OK) {
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
  }
  static fr_worker *workers[1];
  workers[0] = worker;
  ctx.engine = engine;
  ctx.gallery = gallery;
  ctx.workers = workers;
  ctx.n_workers = 1;
  ctx.threshold = fr_engine_default_threshold(engine);
  ctx.limits = fr_image_default_limits();
  ctx.started_unix = (double)time(NULL);
  return 0;
}

int main(void) {
  if (setup() != 0) return 1;
  static const fr_t_case cases[] = {
      T(base64_strict),     T(params_sdk_question_mark), T(errors_uploads),
      T(errors_parameters), T(errors_not_found),         T(subjects_and_faces),
      T(recognize_detect_verify), T(rename_and_delete), T(openapi_document),
  };
  int rc = fr_t_run(cases, (int)(sizeof cases / sizeof cases[0]));
  fr_gallery_close(gallery);
  fr_worker_free(worker);
  fr_engine_free(engine);
  return rc;
}
