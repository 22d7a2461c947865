/*
 * facerec face pipeline: detect -> 5 landmarks -> align (112x112 ArcFace
 * template) -> embed (L2-normalized) -> compare.
 *
 * An fr_engine holds the loaded models (immutable, shared by threads). Each
 * thread uses its own fr_worker (inference sessions and scratch memory).
 *
 *     fr_engine *e; fr_worker *w; fr_error err;
 *     fr_engine_config cfg = fr_engine_default_config();   // models in ./models
 *     if (fr_engine_create(&cfg, &e, &err)) fail(err.msg);
 *     if (fr_worker_create(e, NULL, &w, &err)) fail(err.msg);
 *     fr_face faces[64]; int n;
 *     fr_detect(w, &img, cfg.min_score, faces, 64, &n, &err);
 *     float emb[FR_EMBED_MAX];
 *     for (int i = 0; i < n; i++) fr_embed_face(w, &img, &faces[i], emb, NULL, &err);
 *     float sim = fr_cosine(a, b, fr_engine_embed_dim(e));
 */
#ifndef FACEREC_FACE_H
#define FACEREC_FACE_H

#include <stddef.h>

#include "facerec/image.h"
#include "facerec/nn.h"
#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_EMBED_MAX 512
#define FR_FACES_MAX 1024 /* faces reported per image at most */

typedef struct fr_face {
  float x, y, w, h;        /* box in image pixels */
  float score;             /* detector confidence 0..1 */
  float landmarks[5][2];   /* left eye, right eye, nose, left mouth, right mouth (image-left first) */
} fr_face;

typedef struct fr_engine_config {
  const char *models_dir;  /* default "models" (or $FR_MODELS_DIR) */
  float min_score;         /* default detection threshold */
  float min_face;          /* faces smaller than this (pixels, box side) are not reported, and the
                            * pyramid skips the levels only such faces need (faster); default 0 */
  int detector_max_side;   /* detection works on the image scaled so that its longer side is at most this */
} fr_engine_config;

typedef struct fr_engine fr_engine;
typedef struct fr_worker fr_worker;

fr_engine_config fr_engine_default_config(void);
/* Loads the models. The engine owns them; free with fr_engine_free after all workers. */
fr_status fr_engine_create(const fr_engine_config *cfg, fr_engine **out, fr_error *err);
void fr_engine_free(fr_engine *e);
const fr_engine_config *fr_engine_config_of(const fr_engine *e);
int fr_engine_embed_dim(const fr_engine *e);
/* Recognizer id stored with every embedding ("fr_feature.onnx@faceplugin-0.0.1", ...). */
const char *fr_engine_model_id(const fr_engine *e);
/* Default open-set threshold on cosine similarity (chosen on LFW View 1 DevTrain, FAR <= 1e-3). */
float fr_engine_default_threshold(const fr_engine *e);

/* A per-thread context. tp may be NULL (single thread). */
fr_status fr_worker_create(const fr_engine *e, fr_threadpool *tp, fr_worker **out, fr_error *err);
void fr_worker_free(fr_worker *w);

/* Detects faces (with landmarks), sorted by score, at most max_faces. */
fr_status fr_detect(fr_worker *w, const fr_image *img, float min_score, fr_face *faces,
                    int max_faces, int *n_faces, fr_error *err);

/* Reorders faces largest box first (area; equal areas: higher score first), the
 * order the CLI and the HTTP API report them in (CompreFace lists the biggest
 * faces first; the first face is then the one `compare` and `enroll` use). */
void fr_faces_sort_largest_first(fr_face *faces, int n);

/* Detection with a lighter pyramid (video frames, where speed matters and
 * faces worth recognizing are not tiny): levels whose longer side would exceed
 * max_side are capped to it (0: the engine's detector_max_side) and only the
 * first max_levels levels run (0: all), largest first; the smallest level kept
 * accepts every face size up. {min_score, 0, 0} is exactly fr_detect. */
typedef struct fr_detect_options {
  float min_score;
  int max_side;
  int max_levels;
} fr_detect_options;
fr_status fr_detect_ex(fr_worker *w, const fr_image *img, const fr_detect_options *o,
                       fr_face *faces, int max_faces, int *n_faces, fr_error *err);

/* 2x3 matrix mapping the 112x112 aligned face to image pixels (similarity
 * transform, least squares over the 5 landmarks onto the ArcFace template). */
void fr_face_align_matrix(const fr_face *f, float m[6]);
/* The aligned 112x112 face crop. */
fr_status fr_face_align(const fr_image *img, const fr_face *f, fr_image *aligned, fr_error *err);

/* L2-normalized embedding (fr_engine_embed_dim floats) of one detected face;
 * aligned (may be NULL) receives the 112x112 crop that was embedded. */
fr_status fr_embed_face(fr_worker *w, const fr_image *img, const fr_face *f, float *emb,
                        fr_image *aligned, fr_error *err);
/* Embedding of an already aligned 112x112 face. */
fr_status fr_embed_aligned(fr_worker *w, const fr_image *aligned, float *emb, fr_error *err);

/* Cosine similarity of two L2-normalized vectors (their dot product). */
float fr_cosine(const float *a, const float *b, int dim);

#ifdef __cplusplus
}
#endif
#endif
