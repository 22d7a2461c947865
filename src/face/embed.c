/*
 * Embedding with faceplugin's fr_feature.onnx (MobileFaceNet, 512-d):
 * NCHW 1x3x112x112, BGR, (p - 127) / 128 (the trained order, fixture README),
 * L2-normalized. The input is written in the runtime's NHWC layout directly
 * into the session (fr__session_input_nhwc).
 */
#include <math.h>
#include <string.h>

#include "face/face_internal.h"
#include "nn/exec.h"

/* Runs the network on one 112x112 RGB8 crop (rows of `stride` bytes), mirrored
 * if flip, and adds the raw output to acc. */
static fr_status embed_raw(fr_worker *w, const uint8_t *px, int stride, int flip, float *acc,
                           fr_error *err) {
  /* written in the runtime's NHWC layout straight into the session (no copy, no transpose) */
  static const int64_t shape[4] = {1, 3, 112, 112};
  float *in;
  fr_status st = fr__session_input_nhwc(w->feat, 0, shape, 4, &in, err);
  if (st) return st;
  for (int y = 0; y < 112; y++) {
    const uint8_t *row = px + (size_t)y * (size_t)stride;
    float *o = in + (size_t)y * 112 * 3;
    for (int x = 0; x < 112; x++, o += 3) {
      const uint8_t *p = row + 3 * (flip ? 111 - x : x);
      o[0] = ((float)p[2] - 127.0f) * (1.0f / 128.0f); /* B */
      o[1] = ((float)p[1] - 127.0f) * (1.0f / 128.0f); /* G */
      o[2] = ((float)p[0] - 127.0f) * (1.0f / 128.0f); /* R */
    }
  }
  if ((st = fr_session_run(w->feat, err))) return st;
  fr_tensor_view o;
  if ((st = fr_session_output(w->feat, 0, &o, err))) return st;
  if (o.count != 512) return fr_error_set(err, FR_ERR_INTERNAL, "fr_feature.onnx: %zu outputs", o.count);
  for (int i = 0; i < 512; i++) acc[i] += o.data[i];
  return FR_OK;
}

static fr_status embed_px(fr_worker *w, const uint8_t *px, int stride, float *emb, fr_error *err) {
  float acc[512];
  memset(acc, 0, sizeof acc);
  fr_status st = embed_raw(w, px, stride, 0, acc, err);
  if (!st && w->e->tun.flip_embed) st = embed_raw(w, px, stride, 1, acc, err);
  if (st) return st;
  double n = 0;
  for (int i = 0; i < 512; i++) n += (double)acc[i] * acc[i];
  if (!(n > 0) || !isfinite(n)) return fr_error_set(err, FR_ERR_INTERNAL, "fr_feature.onnx: zero embedding");
  float k = (float)(1.0 / sqrt(n));
  for (int i = 0; i < 512; i++) emb[i] = acc[i] * k;
  return FR_OK;
}

fr_status fr_embed_aligned(fr_worker *w, const fr_image *aligned, float *emb, fr_error *err) {
  if (!w || !aligned || !emb) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_embed_aligned: NULL argument");
  if (aligned->w != 112 || aligned->h != 112 || !aligned->px || aligned->stride < 336)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_embed_aligned: the face must be 112x112 (got %dx%d)",
                        aligned->w, aligned->h);
  return embed_px(w, aligned->px, aligned->stride, emb, err);
}

fr_status fr_embed_face(fr_worker *w, const fr_image *img, const fr_face *f, float *emb, fr_image *aligned,
                        fr_error *err) {
  if (!w || !img || !f || !emb) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_embed_face: NULL argument");
  if (!img->px || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_embed_face: empty or malformed image");
  float m[6];
  const double t0 = fr__face_ms();
  fr_face_align_matrix(f, m);
  fr__warp(img, m, w->crop, 112, 112);
  const double t1 = fr__face_ms();
  fr_status st = embed_px(w, w->crop, 336, emb, err);
  w->stage_ms[FR__ST_ALIGN] += t1 - t0;
  w->stage_ms[FR__ST_EMBED] += fr__face_ms() - t1;
  if (st) return st;
  if (aligned) {
    fr_image out = {0};
    if ((st = fr_image_alloc(&out, 112, 112, err))) return st;
    for (int y = 0; y < 112; y++) memcpy(out.px + (size_t)y * (size_t)out.stride, w->crop + (size_t)y * 336, 336);
    fr_image_free(aligned);
    *aligned = out;
  }
  return FR_OK;
}
