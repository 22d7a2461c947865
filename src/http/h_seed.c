/*
 * The seed's API: POST /recognition (every face of an image named after the
 * closest enrolled subject, or "unknown" below the threshold) and
 * GET /recognition (service state).
 *
 *   200 {"result":[{"name":N|"unknown","similarity":C,"box":{"x","y","w","h"}}],
 *        "execution_time_ms":T}
 *   4xx/5xx {"result":"error during prediction","error":MESSAGE,"code":"<stable code>"}
 *
 * An image without faces is not an error: "result" is empty.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/handlers.h"

static void seed_error(fr_http_resp *resp, const fr__herr *e) {
  fr_http_json(resp, fr__herr_http(e->kind),
               json_pack("{s:s, s:o, s:s}", "result", "error during prediction", "error",
                         fr__json_str(e->msg), "code", fr__herr_code(e->kind)));
}

void fr__h_seed_recognize(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp) {
  static const char *const fields[] = {"image", "file", NULL};
  double t0 = fr__now_ms();
  fr__params p;
  fr__herr e;
  double thr, det;
  fr__params_init(&p, req);
  if (!fr__param_real(&p, "threshold", -1.0, 1.0, ctx->threshold, &thr, &e) ||
      !fr__param_real(&p, "det_prob_threshold", 0.0, 1.0, fr__default_min_score(ctx), &det, &e)) {
    seed_error(resp, &e);
    return;
  }
  fr__upload up;
  fr__analysis a = {0};
  fr__analyze_opts ao = {.min_score = (float)det, .limit = 0, .embed = true};
  bool ok = fr__upload_get(ctx, req, NULL, fields, true, &up, &e) &&
            fr__analyze(ctx, worker, up.data, up.len, &ao, &a, &e);
  fr__upload_free(&up);
  if (!ok) {
    fr__analysis_free(&a);
    seed_error(resp, &e);
    return;
  }
  json_t *result = json_array();
  for (int k = 0; k < a.n; k++) {
    fr_gallery_match m;
    int n = 0;
    fr_error err = {{0}};
    if (fr_gallery_search(ctx->gallery, a.emb + (size_t)k * (size_t)a.dim, 1, &m, &n, &err) !=
        FR_OK) {
      json_decref(result);
      fr__analysis_free(&a);
      fr__herr_set(&e, FR__HERR_INTERNAL, "gallery search failed: %s", err.msg);
      seed_error(resp, &e);
      return;
    }
    const fr_face *f = &a.faces[k];
    bool known = n > 0 && m.similarity >= thr;
    /* empty gallery: similarity 0 (clients compare numbers) */
    json_array_append_new(
        result, json_pack("{s:o, s:o, s:{s:i, s:i, s:i, s:i}}", "name",
                          known ? fr__json_str(m.subject) : json_string("unknown"), "similarity",
                          fr__json_round(n > 0 ? m.similarity : 0.0, 5), "box", "x",
                          (int)lroundf(f->x), "y", (int)lroundf(f->y), "w", (int)lroundf(f->w), "h",
                          (int)lroundf(f->h)));
  }
  fr__analysis_free(&a);
  fr_http_json(resp, 200,
               json_pack("{s:o, s:o}", "result", result, "execution_time_ms",
                         fr__json_round(fr__now_ms() - t0, 1)));
}

void fr__h_seed_state(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  (void)worker;
  (void)req;
  fr_gallery_stats st = {0};
  fr_error err = {{0}};
  if (fr_gallery_stats_get(ctx->gallery, &st, &err) != FR_OK) {
    fr__herr e;
    fr__herr_set(&e, FR__HERR_INTERNAL, "gallery: %s", err.msg);
    seed_error(resp, &e);
    return;
  }
  const fr_engine_config *cfg = fr_engine_config_of(ctx->engine);
  double uptime = 0;
  if (ctx->started_unix > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uptime = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - ctx->started_unix;
  }
  json_t *o = json_pack(
      "{s:s, s:{s:o, s:i, s:s}, s:{s:o, s:o}, s:I, s:I, s:I, s:i, s:o}", "status", "ok", "models",
      "recognizer", fr__json_str(fr_engine_model_id(ctx->engine)), "embedding_dim",
      fr_engine_embed_dim(ctx->engine), "detector", "facerec.detector", "thresholds", "similarity",
      fr__json_round(ctx->threshold, 6), "detection", fr__json_round(cfg->min_score, 6),
      "subjects", (json_int_t)st.subjects, "faces", (json_int_t)st.faces, "other_model_faces",
      (json_int_t)st.other_model_faces, "workers", ctx->n_workers, "uptime_s",
      fr__json_round(uptime, 1));
  fr_http_json(resp, 200, o);
}
