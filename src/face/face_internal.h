/*
 * Internals of the face pipeline shared by the files of src/face (fr__ prefix).
 * Not a public API: the tunables below exist so that measurement tools can try
 * detector configurations without a rebuild; the defaults are the measured
 * choices documented in docs/models.md.
 */
#ifndef FR_FACE_INTERNAL_H
#define FR_FACE_INTERNAL_H

/* A face this many pixels tall at a pyramid level is found there reliably
 * (the detector's smallest anchors are 10-24 px): with a min_face, finer
 * levels are skipped down to this size (fr_detect). */
#define FR__DET_SKIP_PX 20.0f

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "facerec/face.h"

#define FR__DET_MAX_SCALES 4
#define FR__DET_MAX_CANDIDATES 8192 /* pre-NMS candidates kept (highest scores) */

typedef enum fr__landmarker {
  FR__LMK_ONET = 0,     /* MTCNN onet.tflite: 48x48 RGB, transposed, 5 points */
  FR__LMK_FR68 = 1,     /* faceplugin fr_landmark.onnx: 64x64 grey, 68 points */
  FR__LMK_GEOMETRY = 2  /* no network: mean 5-point shape placed in the box */
} fr__landmarker;

typedef struct fr__tunables {
  /* Detector pyramid: the image is scaled so that its longer side is
   * scale_side[i] (never above detector_max_side), both sides rounded to
   * multiples of 32 so that a few input shapes (and memory plans) recur.
   * 0 ends the list. A side larger than the image upsamples it. */
  int scale_side[FR__DET_MAX_SCALES];
  /* Valid box sizes per level, in that level's input pixels (longer box
   * side): a level's boxes outside [level_min, level_max] are dropped before
   * NMS (0 = no limit), so each face is found at the scale that sees it best. */
  float level_min[FR__DET_MAX_SCALES], level_max[FR__DET_MAX_SCALES];
  /* Largest level scale (level side / image's longer side), 0 = 1 (no
   * upsampling only); the cap is never below max_scale_floor pixels. */
  float max_scale;
  int max_scale_floor;
  float nms_iou;          /* greedy NMS IoU threshold */
  int box_vote;           /* 1: each kept box = score-weighted mean of the boxes it suppressed (IoU >= vote_iou) */
  float vote_iou;
  /* Verification (rescoring): a face with detector score s >= rnet_from gets
   * s^(1 - rnet_exp - onet_exp) * r^rnet_exp * o^onet_exp, where r is MTCNN
   * rnet's face probability and o onet's (faces with s >= onet_from and a box
   * side >= verify_min_side; otherwise o = r); below rnet_from the detector's
   * score stays. RFB-320 gives dog faces scores near 1, and its confident
   * non-faces and unsure faces are set apart (docs/models.md). 0: off. */
  int verify;
  float rnet_from, onet_from, verify_min_side, rnet_exp, onet_exp;
  /* rnet / onet see a square of verify_crop x the box's mean side: max(w,h)
   * took in too much around the detector's tall boxes (onet 0.08 on LFW's
   * Paul_Newman_0001) */
  float verify_crop;
  /* Boxes with a longer side below tiny_side pixels get their score times
   * tiny_factor: at that size a box rarely overlaps the face by IoU 0.5
   * (docs/models.md); 0 / 1: off. */
  float tiny_side, tiny_factor;
  fr__landmarker landmarker;
  float lmk_min_score;    /* faces below this score get geometric landmarks (no network run) */
  float lmk_min_side;     /* ... and so do faces with a box side below this (pixels) */
  float onet_pad;         /* onet crop: square of side max(w,h) * onet_pad around the box centre */
  int flip_embed;         /* 1: embedding of face + its mirror image */
  int det_sessions;       /* detector sessions a worker keeps (1..FR__DET_SESSIONS), see below */
} fr__tunables;

/* The engine's tunables (measurement tools may change them before creating workers). */
fr__tunables *fr__engine_tunables(fr_engine *e);

typedef struct fr__link {
  int kept, next;
} fr__link;

typedef struct fr__cand {
  float x1, y1, x2, y2, score;
} fr__cand;

struct fr_engine {
  fr_engine_config cfg;
  char models_dir[1024];
  fr_model *det, *rnet, *onet, *lmk68, *feat;
  fr__tunables tun;
};

/* Where a worker's time goes (bench/pipeline prints it): milliseconds
 * accumulated per stage since fr__worker_stages_reset; a handful of clock
 * reads per image. */
typedef enum fr__stage {
  FR__ST_RESIZE = 0, /* pyramid levels: box prefilter + bilinear resize into the canvas */
  FR__ST_NET,        /* detector network runs (a new canvas shape's planning included) */
  FR__ST_DECODE,     /* raw heads -> candidates, per-level size filter */
  FR__ST_NMS,        /* sort + NMS + box voting */
  FR__ST_VERIFY,     /* rnet / onet rescoring */
  FR__ST_LANDMARKS,  /* fr_landmark (crop + network) */
  FR__ST_ALIGN,      /* 112x112 warp */
  FR__ST_EMBED,      /* fr_feature (input + network) */
  FR__ST_COUNT
} fr__stage;
static inline double fr__face_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}
const double *fr__worker_stages(const fr_worker *w); /* FR__ST_COUNT values */
void fr__worker_stages_reset(fr_worker *w);

/* Detector sessions kept per input shape: planning a session for a new shape
 * costs far more than a run (~40-160 ms at 800 px the first time, 5-40 ms
 * for a shape oneDNN's primitive cache has seen), so a worker keeps one per
 * shape seen, up to tun.det_sessions (least recently used one re-planned),
 * and input shapes are quantized (detect.c) so that few occur: the 197 WIDER
 * dev images make 24 shapes over the 3 levels (8 slots thrashed: 211
 * re-plans). The sessions of a worker never run concurrently, so they plan
 * into one activation arena (det_pool, src/nn/exec.h) sized for the largest
 * shape seen, and the canvas is written into that arena
 * (fr__session_input_nhwc): a session holds no activation or input memory
 * of its own, only its plan and backend operators. Measured with
 * `facerec eval wider --threads 1` (docs/models.md): max RSS 381 MB before
 * the canvas moved into the arena, ~166 MB after, and 160-179 MB whether 4,
 * 8, 12 or 24 sessions are kept (the JIT code of each new shape, ~3 MB, stays
 * in oneDNN's global primitive cache either way), so the cap stays at 24. */
#define FR__DET_SESSIONS 24
typedef struct fr__det_session {
  fr_session *s;
  int in_w, in_h;
  unsigned long used;
} fr__det_session;

struct fr_worker {
  const fr_engine *e;
  fr_threadpool *tp;
  fr__det_session det[FR__DET_SESSIONS];
  struct fr__arena_pool *det_pool; /* the detector sessions' shared activation arena */
  unsigned long tick;
  fr_session *rnet, *onet, *lmk68, *feat;
  float *buf;       /* network input scratch, grown to the largest input seen */
  size_t buf_cap;   /* floats */
  uint8_t *bytes;   /* byte scratch (the detector's shrunk pyramid image), grown as needed */
  size_t bytes_cap;
  fr__cand *cand;   /* detection candidates */
  size_t cand_cap;
  fr__cand kept[FR_FACES_MAX]; /* NMS survivors */
  float kept_area[FR_FACES_MAX];
  int kept_seen[FR_FACES_MAX];  /* candidate index + 1 that last compared with it */
  fr__link *link;               /* NMS grid cell lists */
  size_t link_cap;
  fr_face out[FR_FACES_MAX];   /* NMS output before verification and the max_faces cut */
  float vote[FR_FACES_MAX][5]; /* box voting sums: score-weighted x1 y1 x2 y2, score */
  uint8_t crop[112 * 112 * 3 * 2]; /* aligned face (and its mirror) */
  double stage_ms[FR__ST_COUNT];
};

/* Grows w->buf to at least n floats. */
fr_status fr__worker_buf(fr_worker *w, size_t n, fr_error *err);
/* Grows w->bytes to at least n bytes (64-byte aligned start). */
fr_status fr__worker_bytes(fr_worker *w, size_t n, fr_error *err);

/* The detector's pyramid kernels (detect.c; tests compare them with naive
 * versions). fr__canvas_fill: img resized (bilinear, half-pixel centres,
 * edge-clamped) to rw x rh in the top-left corner of an in_w x in_h canvas,
 * RGB (v - 127) / 128 in NHWC order, the rest 0; scratch holds
 * fr__canvas_scratch(rw) floats. fr__box_shrink: dst (img->w / f x img->h / f,
 * allocated by the caller) = f x f block means of img, rounded
 * ((uint8_t)(sum / f^2 + 0.5f), computed as sum * (1.0f / f^2) + 0.5f);
 * colsum: room for dst->w * f * 3 + 4 uint32_t. */
size_t fr__canvas_scratch(int rw);
void fr__canvas_fill(const fr_image *img, int rw, int rh, int in_w, int in_h, float *dst, float *scratch);
void fr__box_shrink(const fr_image *img, int f, fr_image *dst, uint32_t *colsum);

/* Decodes fr_detect's raw heads for an in_w x in_h input (see detect.c) into
 * candidates with score >= thr in corner form scaled to W x H, appended to
 * w->cand[*n_cand...] in prior order. */
fr_status fr__detect_decode(fr_worker *w, const float *logits, const float *regs, int in_w, int in_h, float W,
                            float H, float thr, size_t *n_cand, fr_error *err);
/* Number of priors fr_detect has for an in_w x in_h input. */
size_t fr__detect_prior_count(int in_w, int in_h);

/* 5 landmarks for each face (in place), by the engine's landmarker. */
fr_status fr__landmarks(fr_worker *w, const fr_image *img, fr_face *faces, int n, fr_error *err);
/* MTCNN rnet on the square around f's box: its face probability. */
fr_status fr__rnet(fr_worker *w, const fr_image *img, const fr_face *f, float *prob, fr_error *err);
/* MTCNN onet on the square around f's box: face probability (prob may be
 * NULL) and, if set_landmarks, the 5 landmarks written into f. */
fr_status fr__onet(fr_worker *w, const fr_image *img, fr_face *f, int set_landmarks, float *prob,
                   fr_error *err);
/* Geometric landmarks: the mean face shape placed in the box. */
void fr__landmarks_from_box(fr_face *f);

/* Bilinear sample of an RGB8 image at (x, y) (pixel centres at integers),
 * outside pixels black; writes 3 floats. */
void fr__sample_rgb(const fr_image *img, float x, float y, float out[3]);
/* fr__sample_rgb with the common case inline: when all four taps are inside
 * the image, the same products and sums in the same order (bit-identical),
 * without the per-tap bounds checks; other points go to fr__sample_rgb. */
static inline void fr__sample_rgb_fast(const fr_image *img, float x, float y, float out[3]) {
  const float fx = floorf(x), fy = floorf(y);
  if (!(fx >= 0 && fy >= 0 && fx < (float)(img->w - 1) && fy < (float)(img->h - 1))) {
    fr__sample_rgb(img, x, y, out);
    return;
  }
  const int x0 = (int)fx, y0 = (int)fy;
  const float ax = x - fx, ay = y - fy;
  const float w00 = (1 - ay) * (1 - ax), w01 = (1 - ay) * ax, w10 = ay * (1 - ax), w11 = ay * ax;
  const uint8_t *p = img->px + (size_t)y0 * (size_t)img->stride + 3 * (size_t)x0;
  const uint8_t *q = p + img->stride;
  for (int c = 0; c < 3; c++) out[c] = w00 * p[c] + w01 * p[3 + c] + w10 * q[c] + w11 * q[3 + c];
}
/* dst (w x h RGB8, tight rows) = img warped by m (dst -> src pixel centres), bilinear. */
void fr__warp(const fr_image *img, const float m[6], uint8_t *dst, int w, int h);

#endif
