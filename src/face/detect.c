/*
 * Face detection with faceplugin's fr_detect.onnx (Ultra-Light-Fast-Generic-
 * Face-Detector-1MB, RFB-320 layout) run fully convolutionally at several input
 * sizes (an image pyramid), merged by NMS.
 *
 * The file's own tail (softmax + prior decoding) only works at 320x240, so the
 * session is cut at the raw heads: "461" = class logits [1,N,2] and "462" = box
 * regressions [1,N,4] (concatenated over the 4 feature maps, each in (row,
 * column, anchor) order). The priors are recomputed here for each input size
 * exactly as the model's generator does (Ultra-Light's generate_priors:
 * strides 8/16/32/64, min sizes {10,16,24} {32,48} {64,96} {128,192,256},
 * feature map = ceil(size / stride), centre (i + 0.5) / feature map size,
 * everything clamped to [0,1]) and decoded with
 * centre variance 0.1 and size variance 0.2. At 320x240 this reproduces the
 * graph's own `scores`/`boxes` outputs (tests/face/test_face.c checks it on the
 * golden fixture).
 *
 * Preprocessing (fixture README): RGB, (v - 127) / 128, NCHW, bilinear resize on
 * the half-pixel grid.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/face_internal.h"
#include "nn/exec.h"

static const int k_strides[4] = {8, 16, 32, 64};
static const int k_nmin[4] = {3, 2, 2, 3};
static const float k_min_sizes[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};

static float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

/* Number of priors for an input of in_w x in_h (feature map = ceil(in / stride)). */
size_t fr__detect_prior_count(int in_w, int in_h) {
  size_t n = 0;
  for (int k = 0; k < 4; k++) {
    size_t fw = (size_t)((in_w + k_strides[k] - 1) / k_strides[k]);
    size_t fh = (size_t)((in_h + k_strides[k] - 1) / k_strides[k]);
    n += fw * fh * (size_t)k_nmin[k];
  }
  return n;
}

/* Resizes img (bilinear, half-pixel centres, edge-clamped) to rw x rh into the
 * top-left corner of an in_w x in_h canvas and writes RGB (v - 127) / 128 NCHW
 * into dst; the rest of the canvas is 0 (grey 127). */
static void fill_input(const fr_image *img, int rw, int rh, int in_w, int in_h, float *dst, int *xi,
                       float *xf) {
  const float sx = (float)img->w / (float)rw, sy = (float)img->h / (float)rh;
  const size_t plane = (size_t)in_w * (size_t)in_h;
  for (int x = 0; x < rw; x++) {
    float fx = ((float)x + 0.5f) * sx - 0.5f;
    if (fx < 0) fx = 0;
    int x0 = (int)fx;
    if (x0 > img->w - 1) x0 = img->w - 1;
    xi[x] = x0;
    xf[x] = fx - (float)x0;
  }
  const int xmax = img->w - 1;
  for (int y = 0; y < in_h; y++) {
    float *o0 = dst + (size_t)y * (size_t)in_w, *o1 = o0 + plane, *o2 = o1 + plane;
    if (y >= rh) {
      memset(o0, 0, (size_t)in_w * sizeof *o0);
      memset(o1, 0, (size_t)in_w * sizeof *o1);
      memset(o2, 0, (size_t)in_w * sizeof *o2);
      continue;
    }
    float fy = ((float)y + 0.5f) * sy - 0.5f;
    if (fy < 0) fy = 0;
    int y0 = (int)fy;
    if (y0 > img->h - 1) y0 = img->h - 1;
    int y1 = y0 + 1 < img->h ? y0 + 1 : img->h - 1;
    float wy = fy - (float)y0;
    const uint8_t *r0 = img->px + (size_t)y0 * (size_t)img->stride;
    const uint8_t *r1 = img->px + (size_t)y1 * (size_t)img->stride;
    for (int x = 0; x < rw; x++) {
      int a = xi[x], b = a + 1 <= xmax ? a + 1 : xmax;
      float wx = xf[x];
      const uint8_t *p00 = r0 + 3 * a, *p01 = r0 + 3 * b, *p10 = r1 + 3 * a, *p11 = r1 + 3 * b;
      float w00 = (1 - wy) * (1 - wx), w01 = (1 - wy) * wx, w10 = wy * (1 - wx), w11 = wy * wx;
      o0[x] = (w00 * p00[0] + w01 * p01[0] + w10 * p10[0] + w11 * p11[0] - 127.0f) * (1.0f / 128.0f);
      o1[x] = (w00 * p00[1] + w01 * p01[1] + w10 * p10[1] + w11 * p11[1] - 127.0f) * (1.0f / 128.0f);
      o2[x] = (w00 * p00[2] + w01 * p01[2] + w10 * p10[2] + w11 * p11[2] - 127.0f) * (1.0f / 128.0f);
    }
    for (int x = rw; x < in_w; x++) o0[x] = o1[x] = o2[x] = 0;
  }
}

/* Box-filters img by an integer factor f (f x f block means) into dst (w/f x h/f).
 * Each output row sums its f source rows into a per-channel column buffer
 * (integers, so the result is exactly the block sum), then f columns at a time. */
static void box_shrink(const fr_image *img, int f, fr_image *dst, uint32_t *colsum) {
  const float inv = 1.0f / (float)(f * f);
  const size_t n = (size_t)dst->w * (size_t)f * 3;
  for (int y = 0; y < dst->h; y++) {
    const uint8_t *p = img->px + (size_t)(y * f) * (size_t)img->stride;
    for (size_t i = 0; i < n; i++) colsum[i] = p[i];
    for (int dy = 1; dy < f; dy++) {
      p = img->px + (size_t)(y * f + dy) * (size_t)img->stride;
      for (size_t i = 0; i < n; i++) colsum[i] += p[i];
    }
    uint8_t *o = dst->px + (size_t)y * (size_t)dst->stride;
    const uint32_t *c = colsum;
    for (int x = 0; x < dst->w; x++) {
      unsigned s0 = 0, s1 = 0, s2 = 0;
      for (int dx = 0; dx < f; dx++, c += 3) {
        s0 += c[0];
        s1 += c[1];
        s2 += c[2];
      }
      o[3 * x] = (uint8_t)(s0 * inv + 0.5f);
      o[3 * x + 1] = (uint8_t)(s1 * inv + 0.5f);
      o[3 * x + 2] = (uint8_t)(s2 * inv + 0.5f);
    }
  }
}

static fr_status push_cand(fr_worker *w, size_t *n, const fr__cand *c, fr_error *err) {
  if (*n == w->cand_cap) {
    size_t cap = w->cand_cap ? w->cand_cap * 2 : 4096;
    if (cap > (size_t)1 << 22) return FR_OK; /* absurd numbers of boxes: drop the rest */
    fr__cand *p = realloc(w->cand, cap * sizeof *p);
    if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (detection candidates)");
    w->cand = p;
    w->cand_cap = cap;
  }
  w->cand[(*n)++] = *c;
  return FR_OK;
}

/* Decodes raw heads (logits [N,2], regressions [N,4]) for an in_w x in_h
 * input into candidates with score >= thr, in corner form scaled to W x H,
 * appended to w->cand in prior order. */
fr_status fr__detect_decode(fr_worker *w, const float *logits, const float *regs, int in_w, int in_h, float W,
                            float H, float thr, size_t *n_cand, fr_error *err) {
  fr_status st;
  /* logit threshold: p1 = 1 / (1 + exp(l0 - l1)) >= thr  <=>  l1 - l0 >= log(thr / (1 - thr)) */
  const float t = thr <= 0 ? -INFINITY : (thr >= 1 ? INFINITY : logf(thr / (1 - thr)));
  size_t p = 0;
  for (int k = 0; k < 4; k++) {
    const int s = k_strides[k];
    const int fw = (in_w + s - 1) / s, fh = (in_h + s - 1) / s;
    for (int j = 0; j < fh; j++) {
      const float cy = clamp01(((float)j + 0.5f) / (float)fh);
      for (int i = 0; i < fw; i++) {
        const float cx = clamp01(((float)i + 0.5f) / (float)fw);
        for (int a = 0; a < k_nmin[k]; a++, p++) {
          const float *l = logits + 2 * p;
          const float d = l[1] - l[0];
          if (!(d >= t)) continue;
          const float pw = clamp01(k_min_sizes[k][a] / (float)in_w);
          const float ph = clamp01(k_min_sizes[k][a] / (float)in_h);
          const float *r = regs + 4 * p;
          const float bx = cx + r[0] * 0.1f * pw, by = cy + r[1] * 0.1f * ph;
          const float bw = pw * expf(r[2] * 0.2f), bh = ph * expf(r[3] * 0.2f);
          fr__cand c = {(bx - bw * 0.5f) * W, (by - bh * 0.5f) * H, (bx + bw * 0.5f) * W,
                        (by + bh * 0.5f) * H, 1.0f / (1.0f + expf(-d))};
          if (!(c.x2 > c.x1 && c.y2 > c.y1)) continue;
          if ((st = push_cand(w, n_cand, &c, err))) return st;
        }
      }
    }
  }
  return FR_OK;
}

/* The worker's detector session for this input shape (created on first use,
 * least recently used one replaced). */
static fr_status det_session(fr_worker *w, int in_w, int in_h, fr_session **out, fr_error *err) {
  fr__det_session *slot = &w->det[0];
  for (int i = 0; i < FR__DET_SESSIONS; i++) {
    fr__det_session *d = &w->det[i];
    if (d->s && d->in_w == in_w && d->in_h == in_h) {
      d->used = ++w->tick;
      *out = d->s;
      return FR_OK;
    }
    if (!d->s || (slot->s && d->used < slot->used)) slot = d;
  }
  if (slot->s) { /* reuse the least recently used session: it re-plans for the new shape */
    slot->in_w = in_w;
    slot->in_h = in_h;
    slot->used = ++w->tick;
    *out = slot->s;
    return FR_OK;
  }
  static const char *const heads[2] = {"461", "462"}; /* raw logits, raw box regressions */
  fr_session *s = NULL;
  fr_status st = fr_session_create(w->e->det, w->tp, &s, err);
  if (!st) st = fr_session_select(s, heads, 2, err);
  if (!st) fr__session_use_pool(s, w->det_pool);
  if (st) {
    fr_session_free(s);
    return st;
  }
  slot->s = s;
  slot->in_w = in_w;
  slot->in_h = in_h;
  slot->used = ++w->tick;
  *out = s;
  return FR_OK;
}

/* Runs the detector on img resized to rw x rh in the corner of an in_w x in_h
 * canvas and appends candidates with score >= thr, in image pixel corner form,
 * to w->cand. */
static fr_status detect_raw(fr_worker *w, const fr_image *img, int rw, int rh, int in_w, int in_h, float thr,
                            size_t *n_cand, fr_error *err) {
  const size_t plane = (size_t)in_w * (size_t)in_h;
  fr_session *s;
  fr_status st = det_session(w, in_w, in_h, &s, err);
  if (st) return st;
  if ((st = fr__worker_buf(w, 3 * plane + (size_t)in_w * 2 + 16, err))) return st;
  float *xf = w->buf + 3 * plane;
  int *xi = (int *)(xf + in_w);
  _Static_assert(sizeof(int) == sizeof(float), "int scratch shares the float buffer");
  fill_input(img, rw, rh, in_w, in_h, w->buf, xi, xf);
  int64_t shape[4] = {1, 3, in_h, in_w};
  if ((st = fr_session_set_input(s, 0, w->buf, shape, 4, err)) || (st = fr_session_run(s, err))) return st;
  fr_tensor_view lg, rg;
  if ((st = fr_session_get(s, "461", &lg, err)) || (st = fr_session_get(s, "462", &rg, err))) return st;
  const size_t np = fr__detect_prior_count(in_w, in_h);
  if (lg.count != np * 2 || rg.count != np * 4)
    return fr_error_set(err, FR_ERR_INTERNAL,
                        "fr_detect.onnx at %dx%d: %zu logits / %zu regressions, expected %zu priors",
                        in_w, in_h, lg.count, rg.count, np);
  /* canvas coordinates -> image pixels */
  const float W = (float)in_w * (float)img->w / (float)rw, H = (float)in_h * (float)img->h / (float)rh;
  return fr__detect_decode(w, lg.data, rg.data, in_w, in_h, W, H, thr, n_cand, err);
}

static int cand_cmp(const void *a, const void *b) {
  float x = ((const fr__cand *)a)->score, y = ((const fr__cand *)b)->score;
  return (x < y) - (x > y);
}

/* Geometry of one pyramid level whose longer side is `side` pixels: the image
 * is resized (aspect kept) to rw x rh and placed in an in_w x in_h canvas.
 * The canvas' longer side is side rounded up to 32; its shorter side is
 * rounded up to a multiple of q = 32 * max(2, side / 256) (8 steps at 1024),
 * so only a few canvas shapes (and detector plans) occur across photos. */
static void level_geometry(const fr_image *img, int side, int *rw, int *rh, int *in_w, int *in_h) {
  const int land = img->w >= img->h;
  const int longer = land ? img->w : img->h, shorter = land ? img->h : img->w;
  const int lc = (side + 31) / 32 * 32;
  int q = 32 * (lc / 256 > 2 ? lc / 256 : 2);
  long rs = lroundf((float)shorter * (float)side / (float)longer);
  if (rs < 1) rs = 1;
  int sc = (int)((rs + q - 1) / q * q);
  if (sc > lc) sc = lc;
  *rw = land ? side : (int)rs;
  *rh = land ? (int)rs : side;
  *in_w = land ? lc : sc;
  *in_h = land ? sc : lc;
}

/* fr_detect with the pyramid limited to levels whose side is at most max_side
 * (the engine's detector_max_side when 0) and to the first max_levels levels
 * (0 = all); the last level kept accepts every face size up. */
static fr_status detect_impl(fr_worker *w, const fr_image *img, float min_score, int max_side,
                             int max_levels, fr_face *faces, int max_faces, int *n_faces,
                             fr_error *err) {
  if (n_faces) *n_faces = 0;
  if (!w || !img || !n_faces || (max_faces > 0 && !faces))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect: NULL argument");
  if (!img->px || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect: empty or malformed image (%dx%d)", img->w,
                        img->h);
  if (!(min_score >= 0.0f && min_score <= 1.0f))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "min_score %g is outside [0, 1]", (double)min_score);
  if (max_faces > FR_FACES_MAX) max_faces = FR_FACES_MAX;
  if (max_faces <= 0) return FR_OK;
  const fr_engine *e = w->e;
  const fr__tunables *tun = &e->tun;
  const int longer = img->w > img->h ? img->w : img->h;
  fr_status st = FR_OK;
  size_t nc = 0;
  /* Distinct levels: sides clamped to detector_max_side and to the image (no
   * upsampling: it costs and gained nothing measurable); a level within 0.7x of
   * the previous one is merged into it (on small images the levels collapse);
   * merged levels take the lower size limit of the first and the upper of the last,
   * and the smallest level keeps every size up, the largest every size down. */
  int lv_side[FR__DET_MAX_SCALES];
  float lv_min[FR__DET_MAX_SCALES], lv_max[FR__DET_MAX_SCALES];
  int nl = 0;
  /* Mid-size images: no level sees the image at more than max_scale of its
   * size (the scale the 800-px level has on a 1024-px WIDER photo), but never
   * below max_scale_floor pixels (small images such as LFW's 250x250 keep
   * their single full-size level). */
  int cap = longer;
  if (tun->max_scale > 0) {
    const long c = lroundf((float)longer * tun->max_scale);
    cap = c > tun->max_scale_floor ? (int)c : tun->max_scale_floor;
    if (cap > longer) cap = longer;
  }
  for (int i = 0; i < FR__DET_MAX_SCALES && tun->scale_side[i] > 0; i++) {
    int side = tun->scale_side[i];
    if (side > e->cfg.detector_max_side) side = e->cfg.detector_max_side;
    if (max_side > 0 && side > max_side) side = max_side;
    if (side > cap) side = cap;
    if (nl > 0 && (float)side > 0.7f * (float)lv_side[nl - 1]) { /* too close to the previous level */
      lv_max[nl - 1] = tun->level_max[i];
      continue;
    }
    lv_side[nl] = side;
    lv_min[nl] = tun->level_min[i];
    lv_max[nl] = tun->level_max[i];
    nl++;
  }
  if (max_levels > 0 && nl > max_levels) nl = max_levels;
  if (nl > 0) {
    lv_min[0] = 0;
    lv_max[nl - 1] = 0;
  }
  for (int i = 0; i < nl; i++) {
    const int side = lv_side[i];
    int rw, rh, in_w, in_h;
    level_geometry(img, side, &rw, &rh, &in_w, &in_h);
    const size_t before = nc;
    /* Shrinking by 2x or more: box-filter first (integer factor) so the bilinear
     * sampler does not alias. */
    int f = (int)((float)longer / (float)side * 0.75f);
    if (f >= 2 && img->w / f >= 1 && img->h / f >= 1) {
      fr_image small = {img->w / f, img->h / f, 0, NULL};
      small.stride = small.w * 3;
      /* the shrunk image, then the column sums of one output row (kept by the worker) */
      const size_t bytes = (size_t)small.stride * (size_t)small.h;
      const size_t sums = (size_t)small.w * (size_t)f * 3 * sizeof(uint32_t);
      if ((st = fr__worker_bytes(w, bytes + sums + 64, err))) return st;
      small.px = w->bytes;
      box_shrink(img, f, &small, (uint32_t *)(void *)(w->bytes + (bytes + 63) / 64 * 64));
      /* boxes come back in `small` pixels: scale them */
      st = detect_raw(w, &small, rw, rh, in_w, in_h, min_score, &nc, err);
      const float kx = (float)img->w / (float)small.w, ky = (float)img->h / (float)small.h;
      for (size_t c = before; c < nc; c++) {
        w->cand[c].x1 *= kx;
        w->cand[c].x2 *= kx;
        w->cand[c].y1 *= ky;
        w->cand[c].y2 *= ky;
      }
    } else {
      st = detect_raw(w, img, rw, rh, in_w, in_h, min_score, &nc, err);
    }
    if (st) return st;
    /* keep this level's boxes within its valid size range */
    const float lmin = lv_min[i], lmax = lv_max[i];
    if (lmin > 0 || lmax > 0) {
      const float s = (float)side / (float)longer; /* image -> level input pixels */
      size_t o = before;
      for (size_t c = before; c < nc; c++) {
        const fr__cand *q = &w->cand[c];
        const float sz = fmaxf(q->x2 - q->x1, q->y2 - q->y1) * s;
        if ((lmin > 0 && sz < lmin) || (lmax > 0 && sz > lmax)) continue;
        w->cand[o++] = *q;
      }
      nc = o;
    }
  }
  if (nc > 1) qsort(w->cand, nc, sizeof *w->cand, cand_cmp);
  if (nc > FR__DET_MAX_CANDIDATES) nc = FR__DET_MAX_CANDIDATES;

  /* Greedy NMS in score order: each candidate is compared only with the kept
   * boxes that share a cell of a G x G grid over the image with it (overlap
   * implies a shared cell), so crowds at low score thresholds stay cheap.
   * With box voting, each kept box becomes the score-weighted mean of the
   * candidates overlapping it by >= vote_iou. */
  enum { G = 16 };
  int head[G * G];
  for (int c = 0; c < G * G; c++) head[c] = -1;
  size_t nlink = 0;
  const float gx = (float)G / (float)img->w, gy = (float)G / (float)img->h;
  int nk = 0;
  for (size_t i = 0; i < nc && nk < FR_FACES_MAX; i++) {
    const fr__cand *a = &w->cand[i];
    const float area = (a->x2 - a->x1) * (a->y2 - a->y1);
    int cx0 = (int)fmaxf(a->x1 * gx, 0), cx1 = (int)fminf(a->x2 * gx, G - 1);
    int cy0 = (int)fmaxf(a->y1 * gy, 0), cy1 = (int)fminf(a->y2 * gy, G - 1);
    if (cx1 < cx0 || cy1 < cy0) continue; /* entirely outside the image */
    int keep = 1;
    for (int cy = cy0; cy <= cy1 && (keep || tun->box_vote); cy++)
      for (int cx = cx0; cx <= cx1 && (keep || tun->box_vote); cx++)
        for (int l = head[cy * G + cx]; l >= 0; l = w->link[l].next) {
          const int k = w->link[l].kept;
          if (w->kept_seen[k] == (int)i + 1) continue; /* already compared through another cell */
          w->kept_seen[k] = (int)i + 1;
          const fr__cand *b = &w->kept[k];
          const float iw = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
          if (iw <= 0) continue;
          const float ih = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
          if (ih <= 0) continue;
          const float in = iw * ih, o = in / (area + w->kept_area[k] - in);
          if (tun->box_vote && o >= tun->vote_iou) {
            float *v = w->vote[k];
            v[0] += a->x1 * a->score;
            v[1] += a->y1 * a->score;
            v[2] += a->x2 * a->score;
            v[3] += a->y2 * a->score;
            v[4] += a->score;
          }
          if (o > tun->nms_iou) {
            keep = 0;
            if (!tun->box_vote) break;
          }
        }
    if (!keep) continue;
    size_t need = nlink + (size_t)(cx1 - cx0 + 1) * (size_t)(cy1 - cy0 + 1);
    if (need > w->link_cap) {
      size_t cap = need * 2 > 4096 ? need * 2 : 4096;
      fr__link *p = realloc(w->link, cap * sizeof *p);
      if (!p) return fr_error_set(err, FR_ERR_NOMEM, "out of memory (NMS grid)");
      w->link = p;
      w->link_cap = cap;
    }
    for (int cy = cy0; cy <= cy1; cy++)
      for (int cx = cx0; cx <= cx1; cx++) {
        w->link[nlink].kept = nk;
        w->link[nlink].next = head[cy * G + cx];
        head[cy * G + cx] = (int)nlink++;
      }
    w->kept[nk] = *a;
    w->kept_area[nk] = area;
    w->kept_seen[nk] = 0;
    float *v = w->vote[nk];
    v[0] = a->x1 * a->score;
    v[1] = a->y1 * a->score;
    v[2] = a->x2 * a->score;
    v[3] = a->y2 * a->score;
    v[4] = a->score;
    nk++;
  }
  int n = 0;
  for (int k = 0; k < nk; k++) {
    fr__cand c = w->kept[k];
    if (tun->box_vote) {
      const float *v = w->vote[k];
      c.x1 = v[0] / v[4];
      c.y1 = v[1] / v[4];
      c.x2 = v[2] / v[4];
      c.y2 = v[3] / v[4];
    }
    float x1 = fmaxf(c.x1, 0), y1 = fmaxf(c.y1, 0);
    float x2 = fminf(c.x2, (float)img->w), y2 = fminf(c.y2, (float)img->h);
    if (!(x2 > x1 && y2 > y1)) continue;
    if (e->cfg.min_face > 0 && fmaxf(x2 - x1, y2 - y1) < e->cfg.min_face) continue;
    fr_face *f = &w->out[n++];
    memset(f, 0, sizeof *f);
    f->x = x1;
    f->y = y1;
    f->w = x2 - x1;
    f->h = y2 - y1;
    f->score = c.score;
  }
  if (tun->verify) {
    int m = 0;
    for (int i = 0; i < n; i++) {
      fr_face *f = &w->out[i];
      /* verification only lowers scores: a face already below min_score needs no onet run */
      if (f->score >= min_score && f->score >= tun->verify_from &&
          fmaxf(f->w, f->h) >= tun->verify_min_side) {
        float p = 0;
        if ((st = fr__onet(w, img, f, 0, &p, err))) return st;
        if (p < tun->verify_p) f->score *= (p > 0 ? p : 0) / tun->verify_p;
      }
      if (f->score >= min_score) w->out[m++] = *f;
    }
    n = m;
    /* re-sort by the new scores (insertion sort: n is small and nearly sorted) */
    for (int i = 1; i < n; i++) {
      fr_face t = w->out[i];
      int j = i - 1;
      while (j >= 0 && w->out[j].score < t.score) {
        w->out[j + 1] = w->out[j];
        j--;
      }
      w->out[j + 1] = t;
    }
  }
  if (n > max_faces) n = max_faces;
  memcpy(faces, w->out, (size_t)n * sizeof *faces);
  if ((st = fr__landmarks(w, img, faces, n, err))) return st;
  *n_faces = n;
  return FR_OK;
}

fr_status fr_detect(fr_worker *w, const fr_image *img, float min_score, fr_face *faces,
                    int max_faces, int *n_faces, fr_error *err) {
  return detect_impl(w, img, min_score, 0, 0, faces, max_faces, n_faces, err);
}

fr_status fr_detect_ex(fr_worker *w, const fr_image *img, const fr_detect_options *o,
                       fr_face *faces, int max_faces, int *n_faces, fr_error *err) {
  if (!o) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect_ex: NULL options");
  if (o->max_side < 0 || o->max_levels < 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_detect_ex: negative max_side or max_levels");
  return detect_impl(w, img, o->min_score, o->max_side, o->max_levels, faces, max_faces, n_faces,
                     err);
}
