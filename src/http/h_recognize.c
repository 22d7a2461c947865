/*
 * CompreFace 1.x: recognize, detect, verify against a stored face, and the
 * verification service (source image vs target image).
 *
 * Response shapes follow CompreFace: every face is
 *   {"box":{"probability","x_max","y_max","x_min","y_min"},
 *    "landmarks":[[x,y]x5]     (face_plugins contains "landmarks"),
 *    "embedding":[...]         (face_plugins contains "calculator"),
 *    "execution_time":{...}    (status=true), ...}
 * with probabilities and similarities rounded to 5 decimals. Similarities are
 * cosine similarities of the embeddings, clamped to [0, 1] (CompreFace's range).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"

#define FR__MAX_PREDICTIONS 1000 /* prediction_count=-1 ("all") is capped here */

static const char *const file_fields[] = {"file", "image", NULL};

typedef struct cf_opts {
  float min_score;
  long limit;
  long prediction_count;
  bool landmarks, calculator, status;
} cf_opts;

/* limit, det_prob_threshold, face_plugins, status (+ prediction_count). */
static bool cf_opts_parse(const fr_http_ctx *ctx, const fr__params *p, bool predictions,
                          cf_opts *o, fr__herr *e) {
  memset(o, 0, sizeof *o);
  double thr;
  if (!fr__param_int(p, "limit", -(1L << 30), 1L << 30, 0, &o->limit, e)) return false;
  if (o->limit < 0) /* CompreFace's wording */
    return fr__herr_set(e, FR__HERR_BAD_ARG, "limit: Limit should be equal or greater than 0");
  if (!fr__param_real(p, "det_prob_threshold", 0.0, 1.0, fr__default_min_score(ctx), &thr, e))
    return false;
  o->min_score = (float)thr;
  if (predictions) {
    if (!fr__param_int(p, "prediction_count", -1000000, 1000000, 1, &o->prediction_count, e))
      return false;
    if (o->prediction_count == 0 || o->prediction_count < -1)
      return fr__herr_set(e, FR__HERR_BAD_PREDICTION_COUNT,
                          "Prediction count should be any positive number or -1");
    if (o->prediction_count == -1 || o->prediction_count > FR__MAX_PREDICTIONS)
      o->prediction_count = FR__MAX_PREDICTIONS;
  }
  const char *plugins = fr__param(p, "face_plugins");
  if (plugins) {
    const char *s = plugins;
    while (*s) {
      while (*s == ',' || *s == ' ') s++;
      size_t n = strcspn(s, ", ");
      if (n == 9 && strncmp(s, "landmarks", 9) == 0) o->landmarks = true;
      if (n == 10 && strncmp(s, "calculator", 10) == 0) o->calculator = true;
      s += n;
    }
  }
  o->status = fr__param_bool(p, "status", false);
  return true;
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static int clampi(double v, int lo, int hi) {
  if (!(v >= lo)) return lo; /* also NaN */
  if (v > hi) return hi;
  return (int)lround(v);
}

/* One face in CompreFace's shape (without subjects / similarity). */
static json_t *cf_face(const fr__analysis *a, int k, const cf_opts *o) {
  const fr_face *f = &a->faces[k];
  int W = a->img.w, H = a->img.h;
  json_t *face = json_object();
  json_object_set_new(face, "box",
                      json_pack("{s:o, s:i, s:i, s:i, s:i}", "probability",
                                fr__json_round(f->score, 5), "x_max",
                                clampi(f->x + f->w, 0, W), "y_max", clampi(f->y + f->h, 0, H),
                                "x_min", clampi(f->x, 0, W), "y_min", clampi(f->y, 0, H)));
  if (o->landmarks) {
    json_t *lm = json_array();
    for (int i = 0; i < 5; i++)
      json_array_append_new(lm, json_pack("[i, i]", (int)lroundf(f->landmarks[i][0]),
                                          (int)lroundf(f->landmarks[i][1])));
    json_object_set_new(face, "landmarks", lm);
  }
  if (o->calculator && a->emb) {
    json_t *em = json_array();
    const float *v = a->emb + (size_t)k * (size_t)a->dim;
    for (int i = 0; i < a->dim; i++) json_array_append_new(em, json_real(v[i]));
    json_object_set_new(face, "embedding", em);
  }
  if (o->status) {
    json_t *t = json_object();
    json_object_set_new(t, "detector", json_real(round(a->detect_ms)));
    if (a->emb) json_object_set_new(t, "calculator", json_real(round(a->embed_ms / a->n)));
    json_object_set_new(face, "execution_time", t);
  }
  return face;
}

static json_t *cf_plugins_versions(const fr_http_ctx *ctx, const cf_opts *o, bool calculator) {
  json_t *pv = json_object();
  json_object_set_new(pv, "detector", json_string("facerec.detector"));
  if (calculator) json_object_set_new(pv, "calculator", fr__json_str(fr_engine_model_id(ctx->engine)));
  if (o->landmarks) json_object_set_new(pv, "landmarks", json_string("facerec.landmarks5"));
  return pv;
}

/* Upload + analysis shared by recognize, detect and verify; replies on failure. */
static bool cf_run(fr_http_ctx *ctx, int worker, const fr_http_req *req, const cf_opts *o,
                   bool embed, fr__analysis *a, fr_http_resp *resp) {
  fr__herr e;
  fr__upload up;
  memset(a, 0, sizeof *a);
  if (!fr__upload_get(ctx, req, NULL, file_fields, true, &up, &e)) {
    fr__reply_cf_error(resp, &e);
    return false;
  }
  fr__analyze_opts ao = {.min_score = o->min_score, .limit = (int)o->limit, .embed = embed};
  bool ok = fr__analyze(ctx, worker, up.data, up.len, &ao, a, &e);
  fr__upload_free(&up);
  if (ok && a->n == 0) ok = fr__herr_set(&e, FR__HERR_NO_FACE, "No face is found in the given image");
  if (!ok) {
    fr__analysis_free(a);
    fr__reply_cf_error(resp, &e);
  }
  return ok;
}

void fr__h_cf_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  fr__params p;
  fr__herr e;
  cf_opts o;
  fr__params_init(&p, req);
  if (!cf_opts_parse(ctx, &p, true, &o, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr__analysis a;
  if (!cf_run(ctx, worker, req, &o, true, &a, resp)) return;
  fr_gallery_match *m = malloc((size_t)o.prediction_count * sizeof *m);
  if (!m) {
    fr__analysis_free(&a);
    fr__herr_set(&e, FR__HERR_INTERNAL, "out of memory");
    fr__reply_cf_error(resp, &e);
    return;
  }
  json_t *result = json_array();
  for (int k = 0; k < a.n; k++) {
    int n = 0;
    fr_error err = {{0}};
    if (fr_gallery_search(ctx->gallery, a.emb + (size_t)k * (size_t)a.dim, (int)o.prediction_count,
                          m, &n, &err) != FR_OK) {
      json_decref(result);
      free(m);
      fr__analysis_free(&a);
      fr__herr_set(&e, FR__HERR_INTERNAL, "gallery search failed: %s", err.msg);
      fr__reply_cf_error(resp, &e);
      return;
    }
    json_t *face = cf_face(&a, k, &o), *subjects = json_array();
    for (int i = 0; i < n; i++)
      json_array_append_new(subjects, json_pack("{s:o, s:o}", "subject", fr__json_str(m[i].subject),
                                                "similarity",
                                                fr__json_round(clamp01(m[i].similarity), 5)));
    json_object_set_new(face, "subjects", subjects);
    json_array_append_new(result, face);
  }
  free(m);
  fr_http_json(resp, 200,
               json_pack("{s:o, s:o}", "result", result, "plugins_versions",
                         cf_plugins_versions(ctx, &o, true)));
  fr__analysis_free(&a);
}

void fr__h_cf_detect(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  fr__params p;
  fr__herr e;
  cf_opts o;
  fr__params_init(&p, req);
  if (!cf_opts_parse(ctx, &p, false, &o, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr__analysis a;
  if (!cf_run(ctx, worker, req, &o, o.calculator, &a, resp)) return;
  json_t *result = json_array();
  for (int k = 0; k < a.n; k++) json_array_append_new(result, cf_face(&a, k, &o));
  fr_http_json(resp, 200,
               json_pack("{s:o, s:o}", "result", result, "plugins_versions",
                         cf_plugins_versions(ctx, &o, o.calculator)));
  fr__analysis_free(&a);
}

/* POST /api/v1/recognition/faces/{image_id}/verify */
void fr__h_cf_verify_face(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp) {
  fr__params p;
  fr__herr e;
  cf_opts o;
  fr__params_init(&p, req);
  const char *id = req->n_path_args > 0 ? req->path_args[0] : "";
  if (!cf_opts_parse(ctx, &p, false, &o, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr_gallery_face face;
  fr_error err = {{0}};
  fr_status st = fr_gallery_face_get(ctx->gallery, id, &face, &err);
  if (st != FR_OK) {
    if (st == FR_ERR_NOT_FOUND)
      fr__herr_set(&e, FR__HERR_IMAGE_NOT_FOUND, "Image %s not found", id);
    else
      fr__herr_set(&e, FR__HERR_INTERNAL, "gallery: %s", err.msg);
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr__analysis a;
  if (!cf_run(ctx, worker, req, &o, true, &a, resp)) return;
  json_t *result = json_array();
  for (int k = 0; k < a.n; k++) {
    float sim = 0;
    st = fr_gallery_similarity(ctx->gallery, id, a.emb + (size_t)k * (size_t)a.dim, &sim, &err);
    if (st != FR_OK) { /* deleted meanwhile */
      json_decref(result);
      fr__analysis_free(&a);
      if (st == FR_ERR_NOT_FOUND)
        fr__herr_set(&e, FR__HERR_IMAGE_NOT_FOUND, "Image %s not found", id);
      else
        fr__herr_set(&e, FR__HERR_INTERNAL, "gallery: %s", err.msg);
      fr__reply_cf_error(resp, &e);
      return;
    }
    json_t *f = cf_face(&a, k, &o);
    json_object_set_new(f, "subject", fr__json_str(face.subject));
    json_object_set_new(f, "similarity", fr__json_round(clamp01(sim), 5));
    json_array_append_new(result, f);
  }
  fr_http_json(resp, 200,
               json_pack("{s:o, s:o}", "result", result, "plugins_versions",
                         cf_plugins_versions(ctx, &o, true)));
  fr__analysis_free(&a);
}

/* POST /api/v1/verification/verify: source_image (exactly one person) against
 * every face of target_image. */
void fr__h_cf_verification(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp) {
  static const char *const src_fields[] = {"source_image", NULL};
  static const char *const dst_fields[] = {"target_image", NULL};
  fr__params p;
  fr__herr e;
  cf_opts o;
  fr__params_init(&p, req);
  if (!cf_opts_parse(ctx, &p, false, &o, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  json_t *json = NULL;
  if (req->n_parts == 0 && fr__ctype_is(req, "application/json") &&
      !fr__body_json(req, &json, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr__upload us = {0}, ut = {0};
  fr__analysis as = {0}, at = {0};
  int s = 0;
  fr__analyze_opts src_o = {.min_score = o.min_score, .limit = 0, .embed = false};
  fr__analyze_opts dst_o = {.min_score = o.min_score, .limit = (int)o.limit, .embed = true};
  float *src_emb = NULL;
  bool ok = fr__upload_get(ctx, req, json, src_fields, false, &us, &e) &&
            fr__upload_get(ctx, req, json, dst_fields, false, &ut, &e) &&
            fr__analyze(ctx, worker, us.data, us.len, &src_o, &as, &e) &&
            fr__single_face(&as, &s, &e);
  if (ok && !(src_emb = malloc((size_t)as.dim * sizeof *src_emb)))
    ok = fr__herr_set(&e, FR__HERR_INTERNAL, "out of memory");
  ok = ok && fr__embed_one(ctx, worker, &as, s, src_emb, NULL, &e) &&
       fr__analyze(ctx, worker, ut.data, ut.len, &dst_o, &at, &e);
  if (ok && at.n == 0) ok = fr__herr_set(&e, FR__HERR_NO_FACE, "No face is found in the given image");
  if (ok) {
    /* the source face alone, in an analysis view of one face */
    fr__analysis one = as;
    one.faces = &as.faces[s];
    one.n = 1;
    one.emb = src_emb;
    json_t *source = cf_face(&one, 0, &o), *matches = json_array();
    for (int k = 0; k < at.n; k++) {
      json_t *f = cf_face(&at, k, &o);
      float sim = fr_cosine(src_emb, at.emb + (size_t)k * (size_t)at.dim, at.dim);
      json_object_set_new(f, "similarity", fr__json_round(clamp01(sim), 5));
      json_array_append_new(matches, f);
    }
    json_t *item = json_pack("{s:o, s:o, s:o}", "source_image_face", source, "face_matches", matches,
                             "plugins_versions", cf_plugins_versions(ctx, &o, true));
    fr_http_json(resp, 200, json_pack("{s:[o]}", "result", item));
  } else {
    fr__reply_cf_error(resp, &e);
  }
  free(src_emb);
  fr__analysis_free(&as);
  fr__analysis_free(&at);
  fr__upload_free(&us);
  fr__upload_free(&ut);
  json_decref(json);
}
