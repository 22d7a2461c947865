/*
 * Engine (loaded models, shared) and worker (sessions and scratch, per thread).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/face_internal.h"
#include "nn/exec.h"

/* Default open-set threshold on cosine similarity, measured on LFW View 1
 * pairsDevTrain.txt (1,100 same / 1,100 different pairs) through the whole
 * default pipeline from the raw deep-funneled images: the smallest threshold
 * t (accept when similarity >= t) with at most 1 false accept among the 1,100
 * different-person pairs (FAR <= 1/1100 < 1e-3), i.e. just above the second
 * highest different-person similarity (0.3508 with the bf16 recognizer),
 * rounded up to 0.01. See docs/models.md; tests/cli/test_eval_lfw.sh checks
 * the rule. */
#define FR__DEFAULT_THRESHOLD 0.36f

#define FR__MODEL_ID "fr_feature.onnx@faceplugin-face-recognition-js-0.0.1"

fr_engine_config fr_engine_default_config(void) {
  fr_engine_config c;
  memset(&c, 0, sizeof c);
  const char *d = getenv("FR_MODELS_DIR");
  c.models_dir = d && *d ? d : "models";
  c.min_score = 0.6f;
  c.min_face = 0;
  c.detector_max_side = 1280;
  return c;
}

static void default_tunables(fr__tunables *t) {
  memset(t, 0, sizeof *t);
  t->scale_side[0] = 800;
  t->scale_side[1] = 400;
  t->scale_side[2] = 200;
  t->level_max[0] = 100;
  t->level_max[1] = 100;
  t->max_scale = 0; /* measured, not taken: docs/models.md */
  t->max_scale_floor = 400;
  t->nms_iou = 0.45f;
  t->box_vote = 1;
  t->vote_iou = 0.5f;
  t->verify = 1;
  t->rnet_from = 0.2f;
  t->onet_from = 0.6f;
  t->verify_min_side = 80.0f;
  t->rnet_exp = 0.3f;
  t->onet_exp = 0.2f;
  t->verify_crop = 1.1f;
  t->tiny_side = 10.0f;
  t->tiny_factor = 0.5f;
  t->landmarker = FR__LMK_FR68;
  t->lmk_min_score = 0.3f;
  t->lmk_min_side = 16.0f;
  t->onet_pad = 1.0f;
  t->flip_embed = 0;
  t->det_sessions = FR__DET_SESSIONS; /* all 24 WIDER dev shapes: see face_internal.h */
}

fr__tunables *fr__engine_tunables(fr_engine *e) { return &e->tun; }

static fr_status load_one(fr_engine *e, const char *rel, int dynamic_hw, fr_model **out,
                          fr_error *err) {
  char path[1200];
  int n = snprintf(path, sizeof path, "%s/%s", e->models_dir, rel);
  if (n < 0 || (size_t)n >= sizeof path)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "models directory path too long: %s", e->models_dir);
  /* bf16 convolutions for detector canvases of >= 320x320 pixels (levels 0-1 of a
   * 640x480 photo; a 250x250 LFW image's one 256x256 level stays f32): WIDER AP
   * unchanged, 0.57-0.66x the network time; and for the recognizer: 0.7x its time,
   * LFW unchanged (docs/models.md, "Reduced precision"). FR_PRECISION=f32 in the
   * environment turns both off. */
  const int det = strstr(rel, "fr_detect") != NULL, feat = strstr(rel, "fr_feature") != NULL;
  fr_model_options opt = {.dynamic_hw = dynamic_hw,
                          .precision = det || feat ? FR_PRECISION_BF16 : FR_PRECISION_F32,
                          .precision_min_elems = det ? 3 * 320 * 320 : 0};
  return fr_model_load(path, &opt, out, err);
}

fr_status fr_engine_create(const fr_engine_config *cfg, fr_engine **out, fr_error *err) {
  if (!out) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_engine_create: out is NULL");
  *out = NULL;
  fr_engine_config c = cfg ? *cfg : fr_engine_default_config();
  if (!c.models_dir || !*c.models_dir) c.models_dir = "models";
  if (!(c.min_score >= 0.0f && c.min_score <= 1.0f))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "min_score %g is outside [0, 1]", (double)c.min_score);
  if (!(c.min_face >= 0.0f) || c.min_face > 1e6f)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "min_face %g is invalid", (double)c.min_face);
  if (c.detector_max_side <= 0) c.detector_max_side = fr_engine_default_config().detector_max_side;
  if (c.detector_max_side < 64 || c.detector_max_side > 8192)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "detector_max_side %d is outside [64, 8192]",
                        c.detector_max_side);
  if (strlen(c.models_dir) >= sizeof((fr_engine *)0)->models_dir)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "models directory path too long");

  fr_engine *e = calloc(1, sizeof *e);
  if (!e) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  strcpy(e->models_dir, c.models_dir);
  e->cfg = c;
  e->cfg.models_dir = e->models_dir;
  default_tunables(&e->tun);
  fr_status st;
  if ((st = load_one(e, "faceplugin/fr_detect.onnx", 1, &e->det, err)) ||
      (st = load_one(e, "expo/rnet.tflite", 0, &e->rnet, err)) ||
      (st = load_one(e, "expo/onet.tflite", 0, &e->onet, err)) ||
      (st = load_one(e, "faceplugin/fr_landmark.onnx", 0, &e->lmk68, err)) ||
      (st = load_one(e, "faceplugin/fr_feature.onnx", 0, &e->feat, err))) {
    fr_engine_free(e);
    return st;
  }
  *out = e;
  return FR_OK;
}

void fr_engine_free(fr_engine *e) {
  if (!e) return;
  fr_model_free(e->det);
  fr_model_free(e->rnet);
  fr_model_free(e->onet);
  fr_model_free(e->lmk68);
  fr_model_free(e->feat);
  free(e);
}

const fr_engine_config *fr_engine_config_of(const fr_engine *e) { return &e->cfg; }
int fr_engine_embed_dim(const fr_engine *e) {
  (void)e;
  return 512;
}
const char *fr_engine_model_id(const fr_engine *e) {
  (void)e;
  return FR__MODEL_ID;
}
float fr_engine_default_threshold(const fr_engine *e) {
  (void)e;
  return FR__DEFAULT_THRESHOLD;
}

fr_status fr_worker_create(const fr_engine *e, fr_threadpool *tp, fr_worker **out, fr_error *err) {
  if (!e || !out) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_worker_create: NULL argument");
  *out = NULL;
  fr_worker *w = calloc(1, sizeof *w);
  if (!w) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  w->e = e;
  w->tp = tp;
  fr_status st;
  if (!(w->det_pool = fr__arena_pool_create())) {
    fr_worker_free(w);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  }
  if ((st = fr_session_create(e->rnet, tp, &w->rnet, err)) ||
      (st = fr_session_create(e->onet, tp, &w->onet, err)) ||
      (st = fr_session_create(e->lmk68, tp, &w->lmk68, err)) ||
      (st = fr_session_create(e->feat, tp, &w->feat, err))) {
    fr_worker_free(w);
    return st;
  }
  /* every session of the worker runs in one activation arena: a stage reads its
   * outputs (views into the arena) before the next stage runs */
  fr__session_use_pool(w->rnet, w->det_pool);
  fr__session_use_pool(w->onet, w->det_pool);
  fr__session_use_pool(w->lmk68, w->det_pool);
  fr__session_use_pool(w->feat, w->det_pool);
  *out = w;
  return FR_OK;
}

void fr_worker_free(fr_worker *w) {
  if (!w) return;
  for (int i = 0; i < FR__DET_SESSIONS; i++) fr_session_free(w->det[i].s);
  fr_session_free(w->rnet);
  fr_session_free(w->onet);
  fr_session_free(w->lmk68);
  fr_session_free(w->feat);
  fr__arena_pool_free(w->det_pool); /* after its sessions */
  free(w->buf);
  free(w->bytes);
  free(w->cand);
  free(w->link);
  free(w);
}

fr_status fr__worker_buf(fr_worker *w, size_t n, fr_error *err) {
  if (n <= w->buf_cap) return FR_OK;
  if (n > ((size_t)1 << 28)) return fr_error_set(err, FR_ERR_TOO_LARGE, "network input of %zu floats", n);
  float *p = realloc(w->buf, n * sizeof *p);
  if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (%zu floats)", n);
  w->buf = p;
  w->buf_cap = n;
  return FR_OK;
}

fr_status fr__worker_bytes(fr_worker *w, size_t n, fr_error *err) {
  if (n <= w->bytes_cap) return FR_OK;
  if (n > ((size_t)1 << 30)) return fr_error_set(err, FR_ERR_TOO_LARGE, "scratch image of %zu bytes", n);
  const size_t cap = (n + 63) / 64 * 64;
  uint8_t *p = aligned_alloc(64, cap);
  if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (%zu bytes)", n);
  free(w->bytes);
  w->bytes = p;
  w->bytes_cap = cap;
  return FR_OK;
}

const double *fr__worker_stages(const fr_worker *w) { return w->stage_ms; }
void fr__worker_stages_reset(fr_worker *w) { memset(w->stage_ms, 0, sizeof w->stage_ms); }

float fr_cosine(const float *a, const float *b, int dim) {
  float s = 0;
  for (int i = 0; i < dim; i++) s += a[i] * b[i];
  return s;
}
