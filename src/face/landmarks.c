/*
 * Five landmarks (left eye, right eye, nose, left mouth corner, right mouth
 * corner; image-left first) for detected faces.
 *
 * - MTCNN onet.tflite (default, chosen by LFW accuracy, docs/models.md): a
 *   48x48 crop of the square around the box, RGB (v - 127.5) / 128, fed
 *   TRANSPOSED (tensor[x][y] = crop[y][x], as MTCNN.kt does); output conv6-3
 *   holds 5 x's then 5 y's as fractions of the crop side.
 * - faceplugin fr_landmark.onnx: the box resized to 64x64, grey
 *   (.299R + .587G + .114B) / 256; 68 (x, y) pairs as fractions of the box;
 *   eyes = mean of points 36-41 / 42-47, nose 30, mouth corners 48 / 54.
 * - geometry: the mean 5-point shape placed in the box (no network) for faces
 *   too small or too unlikely to be worth a network run.
 */
#include <math.h>
#include <string.h>

#include "face/face_internal.h"
#include "nn/exec.h"

void fr__sample_rgb(const fr_image *img, float x, float y, float out[3]) {
  float fx = floorf(x), fy = floorf(y);
  int x0 = (int)fx, y0 = (int)fy;
  float ax = x - fx, ay = y - fy;
  float acc[3] = {0, 0, 0};
  if (!(x > -1.0f && y > -1.0f && x < (float)img->w && y < (float)img->h)) {
    out[0] = out[1] = out[2] = 0;
    return;
  }
  for (int dy = 0; dy < 2; dy++) {
    int yy = y0 + dy;
    if (yy < 0 || yy >= img->h) continue;
    float wy = dy ? ay : 1 - ay;
    const uint8_t *row = img->px + (size_t)yy * (size_t)img->stride;
    for (int dx = 0; dx < 2; dx++) {
      int xx = x0 + dx;
      if (xx < 0 || xx >= img->w) continue;
      float wgt = wy * (dx ? ax : 1 - ax);
      const uint8_t *p = row + 3 * xx;
      acc[0] += wgt * p[0];
      acc[1] += wgt * p[1];
      acc[2] += wgt * p[2];
    }
  }
  out[0] = acc[0];
  out[1] = acc[1];
  out[2] = acc[2];
}

/* Edge-clamped bilinear sample (crops that reach past the image border repeat the edge). */
static void sample_clamped(const fr_image *img, float x, float y, float out[3]) {
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  if (x > (float)(img->w - 1)) x = (float)(img->w - 1);
  if (y > (float)(img->h - 1)) y = (float)(img->h - 1);
  fr__sample_rgb_fast(img, x, y, out);
}

/* Mean positions of the 5 points in an fr_detect box (fractions of w, h),
 * measured on LFW (onet landmarks relative to the detector's boxes). */
static const float k_mean5[5][2] = {
    {0.315f, 0.415f}, {0.685f, 0.415f}, {0.500f, 0.580f}, {0.345f, 0.755f}, {0.655f, 0.755f}};

void fr__landmarks_from_box(fr_face *f) {
  for (int i = 0; i < 5; i++) {
    f->landmarks[i][0] = f->x + k_mean5[i][0] * f->w;
    f->landmarks[i][1] = f->y + k_mean5[i][1] * f->h;
  }
}

/* MTCNN input: a square around f's centre, sampled at n x n, (p - 127.5) /
 * 128, transposed ([x][y]: the Caffe models' order), into w->buf; its side is
 * verify_crop times the box's mean side for verification, max(w,h) * onet_pad
 * for landmarks. Returns the square's corner and side. */
static fr_status mtcnn_crop(fr_worker *w, const fr_image *img, const fr_face *f, int n, int verify,
                            float *x0, float *y0, float *side, fr_error *err) {
  const fr__tunables *t = &w->e->tun;
  *side = verify ? t->verify_crop * 0.5f * (f->w + f->h) : fmaxf(f->w, f->h) * t->onet_pad;
  *x0 = f->x + f->w * 0.5f - *side * 0.5f;
  *y0 = f->y + f->h * 0.5f - *side * 0.5f;
  const float step = *side / (float)n;
  fr_status st = fr__worker_buf(w, (size_t)n * (size_t)n * 3, err);
  if (st) return st;
  float *in = w->buf;
  for (int v = 0; v < n; v++) {
    for (int u = 0; u < n; u++) {
      float px[3];
      sample_clamped(img, *x0 + ((float)u + 0.5f) * step - 0.5f, *y0 + ((float)v + 0.5f) * step - 0.5f, px);
      float *o = in + ((size_t)u * (size_t)n + (size_t)v) * 3;
      o[0] = (px[0] - 127.5f) * (1.0f / 128.0f);
      o[1] = (px[1] - 127.5f) * (1.0f / 128.0f);
      o[2] = (px[2] - 127.5f) * (1.0f / 128.0f);
    }
  }
  return FR_OK;
}

fr_status fr__rnet(fr_worker *w, const fr_image *img, const fr_face *f, float *prob, fr_error *err) {
  float x0, y0, side;
  fr_status st = mtcnn_crop(w, img, f, 24, 1, &x0, &y0, &side, err);
  if (st) return st;
  static const int64_t shape[4] = {1, 24, 24, 3};
  if ((st = fr_session_set_input(w->rnet, 0, w->buf, shape, 4, err)) || (st = fr_session_run(w->rnet, err)))
    return st;
  /* outputs: the face probabilities (2) and the box offsets (4), in either order */
  fr_tensor_view p = {0};
  for (int i = 0; i < 2; i++)
    if ((st = fr_session_output(w->rnet, i, &p, err)) || p.count == 2) break;
  if (st) return st;
  if (p.count != 2) return fr_error_set(err, FR_ERR_INTERNAL, "rnet.tflite: no 2-value score output");
  *prob = p.data[1];
  return FR_OK;
}

/* Runs onet on the square around f's box: face probability into *prob and,
 * if set_landmarks, the 5 points into f (the landmarker's crop; otherwise the
 * verification's). */
fr_status fr__onet(fr_worker *w, const fr_image *img, fr_face *f, int set_landmarks, float *prob,
                   fr_error *err) {
  float x0, y0, side;
  fr_status st = mtcnn_crop(w, img, f, 48, !set_landmarks, &x0, &y0, &side, err);
  if (st) return st;
  static const int64_t shape[4] = {1, 48, 48, 3};
  if ((st = fr_session_set_input(w->onet, 0, w->buf, shape, 4, err)) || (st = fr_session_run(w->onet, err)))
    return st;
  fr_tensor_view l, p;
  if ((st = fr_session_output(w->onet, 0, &p, err)) || (st = fr_session_output(w->onet, 2, &l, err))) return st;
  if (l.count != 10 || p.count != 2)
    return fr_error_set(err, FR_ERR_INTERNAL, "onet.tflite: %zu landmark values, %zu scores", l.count, p.count);
  if (prob) *prob = p.data[1];
  for (int i = 0; set_landmarks && i < 5; i++) {
    f->landmarks[i][0] = x0 + l.data[i] * side;
    f->landmarks[i][1] = y0 + l.data[i + 5] * side;
  }
  return FR_OK;
}

static fr_status fr68_one(fr_worker *w, const fr_image *img, fr_face *f, fr_error *err) {
  /* one channel: the NHWC buffer has the NCHW layout; written in place (no copy, no transpose) */
  static const int64_t shape[4] = {1, 1, 64, 64};
  float *in;
  fr_status st = fr__session_input_nhwc(w->lmk68, 0, shape, 4, &in, err);
  if (st) return st;
  const float sx = f->w / 64.0f, sy = f->h / 64.0f;
  for (int v = 0; v < 64; v++)
    for (int u = 0; u < 64; u++) {
      float px[3];
      sample_clamped(img, f->x + ((float)u + 0.5f) * sx - 0.5f, f->y + ((float)v + 0.5f) * sy - 0.5f, px);
      in[v * 64 + u] = (0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2]) * (1.0f / 256.0f);
    }
  if ((st = fr_session_run(w->lmk68, err))) return st;
  fr_tensor_view o;
  if ((st = fr_session_output(w->lmk68, 0, &o, err))) return st;
  if (o.count != 136) return fr_error_set(err, FR_ERR_INTERNAL, "fr_landmark.onnx: %zu values", o.count);
  const float *p = o.data;
  float le[2] = {0, 0}, re[2] = {0, 0};
  for (int i = 36; i < 42; i++) {
    le[0] += p[2 * i] / 6;
    le[1] += p[2 * i + 1] / 6;
    re[0] += p[2 * (i + 6)] / 6;
    re[1] += p[2 * (i + 6) + 1] / 6;
  }
  const float pts[5][2] = {{le[0], le[1]}, {re[0], re[1]}, {p[60], p[61]}, {p[96], p[97]}, {p[108], p[109]}};
  for (int i = 0; i < 5; i++) {
    f->landmarks[i][0] = f->x + pts[i][0] * f->w;
    f->landmarks[i][1] = f->y + pts[i][1] * f->h;
  }
  return FR_OK;
}

fr_status fr__landmarks(fr_worker *w, const fr_image *img, fr_face *faces, int n, fr_error *err) {
  const fr__tunables *t = &w->e->tun;
  for (int i = 0; i < n; i++) {
    fr_face *f = &faces[i];
    fr_status st = FR_OK;
    if (t->landmarker == FR__LMK_GEOMETRY || f->score < t->lmk_min_score ||
        fmaxf(f->w, f->h) < t->lmk_min_side)
      fr__landmarks_from_box(f);
    else if (t->landmarker == FR__LMK_FR68)
      st = fr68_one(w, img, f, err);
    else
      st = fr__onet(w, img, f, 1, NULL, err);
    if (st) return st;
  }
  return FR_OK;
}
