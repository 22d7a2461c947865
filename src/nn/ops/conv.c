/*
 * CONV2D, MAXPOOL2D / AVGPOOL2D, FULLY_CONNECTED and MATMUL reference kernels.
 *
 * Accumulation is in float, in the natural order (kh, kw, ic for convolution,
 * k for FC / MATMUL), with the bias added last, like the reference runtimes'
 * GEMM-based kernels.
 */
#include <float.h>
#include <math.h>

#include "nn/ops/internal.h"

#define MAX_WINDOW (1 << 20) /* kernel, stride, dilation and padding caps */

/* Resolved geometry of a CONV2D or pool node. */
typedef struct spatial {
  int64_t n, h, w, c;      /* input */
  int64_t oh, ow, oc;      /* output */
  int kh, kw, sh, sw, dh, dw;
  int pt, pl, pb, pr;
  int groups;
} spatial;

static int norm1(int v) { return v == 0 ? 1 : v; }

/* out = floor-or-ceil((in + p0 + p1 - ek) / s) + 1, PyTorch/ONNX rule for ceil
 * mode (the last window must start inside the input or the begin padding). */
static fr_status out_size(const fr__node *n, const char *dim, int64_t in, int k, int s, int d,
                          int p0, int p1, bool ceil_mode, int64_t *out, fr_error *err) {
  int64_t ek = (int64_t)(k - 1) * d + 1;
  int64_t span = in + p0 + p1 - ek;
  if (span < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE,
                       "%s: input size %lld with padding %d+%d is smaller than the kernel extent "
                       "%lld",
                       dim, (long long)in, p0, p1, (long long)ek);
  int64_t o = span / s + 1;
  if (ceil_mode && span % s != 0) {
    o++;
    if ((o - 1) * s >= in + p0) o--;
  }
  *out = o;
  return FR_OK;
}

static fr_status check_window(const fr__node *n, int kh, int kw, int sh, int sw, int dh, int dw,
                              int pt, int pl, int pb, int pr, fr_error *err) {
  if (kh < 1 || kw < 1 || kh > MAX_WINDOW || kw > MAX_WINDOW)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "kernel %dx%d out of range", kh, kw);
  if (sh < 1 || sw < 1 || sh > MAX_WINDOW || sw > MAX_WINDOW)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "stride %dx%d out of range", sh, sw);
  if (dh < 1 || dw < 1 || dh > MAX_WINDOW || dw > MAX_WINDOW)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "dilation %dx%d out of range", dh, dw);
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0 || pt > MAX_WINDOW || pl > MAX_WINDOW ||
      pb > MAX_WINDOW || pr > MAX_WINDOW)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "padding %d,%d,%d,%d out of range", pt, pl, pb, pr);
  return FR_OK;
}

static fr_status conv_geometry(const fr__node *n, const fr__tensor *in, spatial *g,
                               fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_F32, err)))
    return st;
  const fr__conv_attrs *a = &n->a.conv;
  const fr__shape *x = &in[0].shape, *w = &in[1].shape;
  if (x->rank != 4)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input must be 4-D NHWC, has rank %d", x->rank);
  if (w->rank != 4)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "weights must be 4-D OHWI, have rank %d", w->rank);
  g->n = x->d[0], g->h = x->d[1], g->w = x->d[2], g->c = x->d[3];
  g->oc = w->d[0];
  if (w->d[1] > MAX_WINDOW || w->d[2] > MAX_WINDOW)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "kernel too large");
  g->kh = (int)w->d[1], g->kw = (int)w->d[2];
  if ((a->kh && a->kh != g->kh) || (a->kw && a->kw != g->kw))
    return fr__ops_err(err, n, FR_ERR_SHAPE, "attrs say kernel %dx%d but weights are %dx%d",
                       a->kh, a->kw, g->kh, g->kw);
  g->groups = norm1(a->groups);
  if (g->groups < 1 || g->c % g->groups != 0 || g->oc % g->groups != 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE,
                       "groups=%d must divide input channels %lld and output channels %lld",
                       g->groups, (long long)g->c, (long long)g->oc);
  if (w->d[3] != g->c / g->groups)
    return fr__ops_err(err, n, FR_ERR_SHAPE,
                       "input has %lld channels (groups=%d) but weights [%lld,%lld,%lld,%lld] "
                       "expect %lld per group",
                       (long long)g->c, g->groups, (long long)w->d[0], (long long)w->d[1],
                       (long long)w->d[2], (long long)w->d[3], (long long)(g->c / g->groups));
  if (fr__ops_present(n, in, 2)) {
    if ((st = fr__ops_check_in(n, in, 2, FR__OPS_F32, err))) return st;
    if (fr__ops_elems(&in[2].shape) != g->oc)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "bias has %lld elements, expected %lld",
                         (long long)fr__ops_elems(&in[2].shape), (long long)g->oc);
  }
  g->sh = norm1(a->stride_h), g->sw = norm1(a->stride_w);
  g->dh = norm1(a->dil_h), g->dw = norm1(a->dil_w);
  if ((st = check_window(n, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw, a->pad_t, a->pad_l,
                         a->pad_b, a->pad_r, err)))
    return st;
  fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, g->kh, g->kw, g->sh,
                   g->sw, g->dh, g->dw, g->h, g->w, &g->pt, &g->pl, &g->pb, &g->pr);
  if ((st = out_size(n, "height", g->h, g->kh, g->sh, g->dh, g->pt, g->pb, false, &g->oh, err)) ||
      (st = out_size(n, "width", g->w, g->kw, g->sw, g->dw, g->pl, g->pr, false, &g->ow, err)))
    return st;
  return FR_OK;
}

fr_status fr__ops_conv2d_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  spatial g;
  fr_status st = conv_geometry(n, in, &g, err);
  if (st) return st;
  fr__shape s = {4, {g.n, g.oh, g.ow, g.oc}};
  return fr__ops_set_out(n, out, FR__F32, &s, err);
}

static inline float clampf(float v, float lo, float hi) {
  /* written so that NaN bounds (never set by loaders) leave v unchanged */
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

fr_status fr__ops_conv2d_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  spatial g;
  if (conv_geometry(n, in, &g, NULL)) return FR_ERR_SHAPE;
  const float *x = in[0].data, *w = in[1].data;
  const float *bias = fr__ops_present(n, in, 2) ? in[2].data : NULL;
  float *y = out->data;
  const float lo = n->a.conv.out_min, hi = n->a.conv.out_max;
  const int64_t icg = g.c / g.groups, ocg = g.oc / g.groups;
  const int64_t kk = (int64_t)g.kh * g.kw;
  for (int64_t b = 0; b < g.n; b++) {
    const float *xb = x + b * g.h * g.w * g.c;
    for (int64_t oy = 0; oy < g.oh; oy++) {
      for (int64_t ox = 0; ox < g.ow; ox++) {
        float *yo = y + ((b * g.oh + oy) * g.ow + ox) * g.oc;
        const int64_t iy0 = oy * g.sh - g.pt, ix0 = ox * g.sw - g.pl;
        if (icg == 1) {
          /* depthwise (and channel-multiplier) path: accumulate all output
           * channels of the pixel at once; per channel the order is still kh, kw */
          for (int64_t o = 0; o < g.oc; o++) yo[o] = 0.0f;
          for (int ky = 0; ky < g.kh; ky++) {
            int64_t iy = iy0 + (int64_t)ky * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int kx = 0; kx < g.kw; kx++) {
              int64_t ix = ix0 + (int64_t)kx * g.dw;
              if (ix < 0 || ix >= g.w) continue;
              const float *xp = xb + (iy * g.w + ix) * g.c;
              const float *wp = w + (int64_t)ky * g.kw + kx;
              if (ocg == 1) {
                for (int64_t o = 0; o < g.oc; o++) yo[o] += xp[o] * wp[o * kk];
              } else {
                for (int64_t o = 0; o < g.oc; o++) yo[o] += xp[o / ocg] * wp[o * kk];
              }
            }
          }
        } else {
          for (int64_t o = 0; o < g.oc; o++) {
            const int64_t grp = o / ocg;
            const float *wo = w + o * kk * icg;
            const float *xg = xb + grp * icg;
            float acc = 0.0f;
            for (int ky = 0; ky < g.kh; ky++) {
              int64_t iy = iy0 + (int64_t)ky * g.dh;
              if (iy < 0 || iy >= g.h) continue;
              for (int kx = 0; kx < g.kw; kx++) {
                int64_t ix = ix0 + (int64_t)kx * g.dw;
                if (ix < 0 || ix >= g.w) continue;
                const float *xp = xg + (iy * g.w + ix) * g.c;
                const float *wp = wo + ((int64_t)ky * g.kw + kx) * icg;
                for (int64_t i = 0; i < icg; i++) acc += xp[i] * wp[i];
              }
            }
            yo[o] = acc;
          }
        }
        for (int64_t o = 0; o < g.oc; o++) yo[o] = clampf(yo[o] + (bias ? bias[o] : 0.0f), lo, hi);
      }
    }
  }
  return FR_OK;
}

double fr__ops_conv2d_flops(const fr__node *n, const fr__tensor *in, const fr__tensor *out) {
  (void)n;
  if (in[1].shape.rank != 4 || out[0].shape.rank != 4) return 0;
  const fr__shape *w = &in[1].shape, *o = &out[0].shape;
  return 2.0 * (double)o->d[0] * (double)o->d[1] * (double)o->d[2] * (double)o->d[3] *
         (double)w->d[1] * (double)w->d[2] * (double)w->d[3];
}

/* ---- pools ---- */

static fr_status pool_geometry(const fr__node *n, const fr__tensor *in, spatial *g,
                               fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err);
  if (st) return st;
  const fr__pool_attrs *a = &n->a.pool;
  const fr__shape *x = &in[0].shape;
  if (x->rank != 4)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input must be 4-D NHWC, has rank %d", x->rank);
  g->n = x->d[0], g->h = x->d[1], g->w = x->d[2], g->c = g->oc = x->d[3];
  g->kh = a->kh, g->kw = a->kw;
  g->sh = norm1(a->stride_h), g->sw = norm1(a->stride_w);
  g->dh = g->dw = 1;
  g->groups = 1;
  if ((st = check_window(n, g->kh, g->kw, g->sh, g->sw, 1, 1, a->pad_t, a->pad_l, a->pad_b,
                         a->pad_r, err)))
    return st;
  fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, g->kh, g->kw, g->sh,
                   g->sw, 1, 1, g->h, g->w, &g->pt, &g->pl, &g->pb, &g->pr);
  bool ceil_mode = a->ceil_mode && a->pad_mode == FR__PAD_EXPLICIT;
  if ((st = out_size(n, "height", g->h, g->kh, g->sh, 1, g->pt, g->pb, ceil_mode, &g->oh, err)) ||
      (st = out_size(n, "width", g->w, g->kw, g->sw, 1, g->pl, g->pr, ceil_mode, &g->ow, err)))
    return st;
  return FR_OK;
}

fr_status fr__ops_pool_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                             fr_error *err) {
  spatial g;
  fr_status st = pool_geometry(n, in, &g, err);
  if (st) return st;
  fr__shape s = {4, {g.n, g.oh, g.ow, g.c}};
  return fr__ops_set_out(n, out, FR__F32, &s, err);
}

static fr_status pool_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out, bool is_max) {
  spatial g;
  if (pool_geometry(n, in, &g, NULL)) return FR_ERR_SHAPE;
  const float *x = in[0].data;
  float *y = out->data;
  const bool incl = n->a.pool.count_include_pad;
  const int64_t C = g.c;
  for (int64_t b = 0; b < g.n; b++) {
    const float *xb = x + b * g.h * g.w * C;
    for (int64_t oy = 0; oy < g.oh; oy++) {
      int64_t y0 = oy * g.sh - g.pt, y1 = y0 + g.kh;
      /* padded window (for count_include_pad) is clipped to the padded input */
      int64_t py1 = y1 < g.h + g.pb ? y1 : g.h + g.pb;
      int64_t vy0 = y0 > 0 ? y0 : 0, vy1 = y1 < g.h ? y1 : g.h;
      for (int64_t ox = 0; ox < g.ow; ox++) {
        int64_t x0 = ox * g.sw - g.pl, x1 = x0 + g.kw;
        int64_t px1 = x1 < g.w + g.pr ? x1 : g.w + g.pr;
        int64_t vx0 = x0 > 0 ? x0 : 0, vx1 = x1 < g.w ? x1 : g.w;
        float *yo = y + ((b * g.oh + oy) * g.ow + ox) * C;
        for (int64_t c = 0; c < C; c++) yo[c] = is_max ? -FLT_MAX : 0.0f;
        for (int64_t iy = vy0; iy < vy1; iy++) {
          for (int64_t ix = vx0; ix < vx1; ix++) {
            const float *xp = xb + (iy * g.w + ix) * C;
            if (is_max) {
              for (int64_t c = 0; c < C; c++) yo[c] = xp[c] > yo[c] ? xp[c] : yo[c];
            } else {
              for (int64_t c = 0; c < C; c++) yo[c] += xp[c];
            }
          }
        }
        if (!is_max) {
          int64_t cnt = incl ? (py1 - y0) * (px1 - x0) : (vy1 - vy0) * (vx1 - vx0);
          if (cnt <= 0) {
            for (int64_t c = 0; c < C; c++) yo[c] = 0.0f;
          } else {
            for (int64_t c = 0; c < C; c++) yo[c] = yo[c] / (float)cnt;
          }
        }
      }
    }
  }
  return FR_OK;
}

fr_status fr__ops_maxpool_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  return pool_ref(n, in, out, true);
}

fr_status fr__ops_avgpool_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  return pool_ref(n, in, out, false);
}

double fr__ops_pool_flops(const fr__node *n, const fr__tensor *in, const fr__tensor *out) {
  (void)in;
  int64_t e = fr__ops_elems(&out[0].shape);
  return e < 0 ? 0 : (double)e * n->a.pool.kh * n->a.pool.kw;
}

/* ---- FULLY_CONNECTED ---- */

fr_status fr__ops_fc_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                           fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_F32, err)))
    return st;
  const fr__shape *x = &in[0].shape, *w = &in[1].shape;
  if (x->rank < 1)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input must have rank >= 1");
  if (w->rank != 2)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "weights must be 2-D [N,K], have rank %d", w->rank);
  if (x->d[x->rank - 1] != w->d[1])
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input has K=%lld but weights [%lld,%lld] expect %lld",
                       (long long)x->d[x->rank - 1], (long long)w->d[0], (long long)w->d[1],
                       (long long)w->d[1]);
  if (fr__ops_present(n, in, 2)) {
    if ((st = fr__ops_check_in(n, in, 2, FR__OPS_F32, err))) return st;
    if (fr__ops_elems(&in[2].shape) != w->d[0])
      return fr__ops_err(err, n, FR_ERR_SHAPE, "bias has %lld elements, expected %lld",
                         (long long)fr__ops_elems(&in[2].shape), (long long)w->d[0]);
  }
  fr__shape s = *x;
  s.d[s.rank - 1] = w->d[0];
  return fr__ops_set_out(n, out, FR__F32, &s, err);
}

fr_status fr__ops_fc_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *w = &in[1].shape;
  const int64_t N = w->d[0], K = w->d[1];
  int64_t rows = 1;
  for (int i = 0; i < in[0].shape.rank - 1; i++) rows *= in[0].shape.d[i];
  const float *x = in[0].data, *wt = in[1].data;
  const float *bias = fr__ops_present(n, in, 2) ? in[2].data : NULL;
  float *y = out->data;
  const float lo = n->a.fc.out_min, hi = n->a.fc.out_max;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * K;
    for (int64_t j = 0; j < N; j++) {
      const float *wr = wt + j * K;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) acc += xr[k] * wr[k];
      y[r * N + j] = clampf(acc + (bias ? bias[j] : 0.0f), lo, hi);
    }
  }
  return FR_OK;
}

double fr__ops_fc_flops(const fr__node *n, const fr__tensor *in, const fr__tensor *out) {
  (void)n;
  int64_t e = fr__ops_elems(&out[0].shape);
  if (e < 0 || in[1].shape.rank != 2) return 0;
  return 2.0 * (double)e * (double)in[1].shape.d[1];
}

/* ---- MATMUL ---- */

typedef struct mm_geom {
  int64_t M, K, N;
  int64_t batch;               /* product of the output batch dims */
  fr__shape ob;                /* output batch shape */
  int64_t sa[FR__MAX_DIMS];    /* per output batch dim: stride of a's matrix index (0 = bcast) */
  int64_t sb[FR__MAX_DIMS];
  fr__shape out;
} mm_geom;

static fr_status mm_geometry(const fr__node *n, const fr__tensor *in, mm_geom *g,
                             fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_F32, err)))
    return st;
  const fr__shape *a = &in[0].shape, *b = &in[1].shape;
  const bool ta = n->a.matmul.transpose_a, tb = n->a.matmul.transpose_b;
  if (a->rank < 1 || b->rank < 1)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "operands must have rank >= 1 (have %d, %d)",
                       a->rank, b->rank);
  /* numpy: a 1-D a is [1,K] (row dim dropped), a 1-D b is [K,1] (col dim dropped) */
  int64_t am, ak, bk, bn;
  if (a->rank == 1) {
    am = 1, ak = a->d[0];
  } else {
    am = a->d[a->rank - (ta ? 1 : 2)], ak = a->d[a->rank - (ta ? 2 : 1)];
  }
  if (b->rank == 1) {
    bk = b->d[0], bn = 1;
  } else {
    bk = b->d[b->rank - (tb ? 1 : 2)], bn = b->d[b->rank - (tb ? 2 : 1)];
  }
  if (ak != bk)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "inner dims differ: a has K=%lld, b has K=%lld",
                       (long long)ak, (long long)bk);
  g->M = am, g->K = ak, g->N = bn;
  fr__shape ba = {a->rank > 2 ? a->rank - 2 : 0, {0}}, bb = {b->rank > 2 ? b->rank - 2 : 0, {0}};
  for (int i = 0; i < ba.rank; i++) ba.d[i] = a->d[i];
  for (int i = 0; i < bb.rank; i++) bb.d[i] = b->d[i];
  if (fr__broadcast_shape(&ba, &bb, &g->ob) != FR_OK)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "batch dims of a and b do not broadcast");
  /* matrix-index strides per output batch dim */
  int64_t acc_a = 1, acc_b = 1;
  for (int i = g->ob.rank - 1; i >= 0; i--) {
    int ia = i - (g->ob.rank - ba.rank), ib = i - (g->ob.rank - bb.rank);
    int64_t da = ia >= 0 ? ba.d[ia] : 1, db = ib >= 0 ? bb.d[ib] : 1;
    g->sa[i] = da == 1 ? 0 : acc_a;
    g->sb[i] = db == 1 ? 0 : acc_b;
    acc_a *= da, acc_b *= db;
  }
  g->batch = 1;
  for (int i = 0; i < g->ob.rank; i++) g->batch *= g->ob.d[i];
  g->out = g->ob;
  if (a->rank > 1) g->out.d[g->out.rank++] = am;
  if (b->rank > 1) g->out.d[g->out.rank++] = bn;
  return FR_OK;
}

fr_status fr__ops_matmul_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  mm_geom g;
  fr_status st = mm_geometry(n, in, &g, err);
  if (st) return st;
  return fr__ops_set_out(n, out, FR__F32, &g.out, err);
}

fr_status fr__ops_matmul_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  mm_geom g;
  if (mm_geometry(n, in, &g, NULL)) return FR_ERR_SHAPE;
  const bool ta = n->a.matmul.transpose_a && in[0].shape.rank > 1;
  const bool tb = n->a.matmul.transpose_b && in[1].shape.rank > 1;
  const int64_t M = g.M, K = g.K, N = g.N;
  const float *A = in[0].data, *B = in[1].data;
  float *Y = out->data;
  int64_t idx[FR__MAX_DIMS] = {0};
  int64_t oa = 0, ob = 0;
  for (int64_t bt = 0; bt < g.batch; bt++) {
    const float *a = A + oa * M * K, *b = B + ob * K * N;
    float *y = Y + bt * M * N;
    for (int64_t m = 0; m < M; m++) {
      float *yr = y + m * N;
      if (!tb) {
        /* y[m,:] += a[m,k] * b[k,:]: each element still sums k in order */
        for (int64_t j = 0; j < N; j++) yr[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
          const float av = ta ? a[k * M + m] : a[m * K + k];
          const float *br = b + k * N;
          for (int64_t j = 0; j < N; j++) yr[j] += av * br[j];
        }
      } else {
        for (int64_t j = 0; j < N; j++) {
          const float *br = b + j * K;
          float acc = 0.0f;
          if (!ta) {
            const float *ar = a + m * K;
            for (int64_t k = 0; k < K; k++) acc += ar[k] * br[k];
          } else {
            for (int64_t k = 0; k < K; k++) acc += a[k * M + m] * br[k];
          }
          yr[j] = acc;
        }
      }
    }
    /* advance the batch odometer */
    for (int i = g.ob.rank - 1; i >= 0; i--) {
      oa += g.sa[i], ob += g.sb[i];
      if (++idx[i] < g.ob.d[i]) break;
      oa -= g.sa[i] * g.ob.d[i], ob -= g.sb[i] * g.ob.d[i];
      idx[i] = 0;
    }
  }
  return FR_OK;
}

double fr__ops_matmul_flops(const fr__node *n, const fr__tensor *in, const fr__tensor *out) {
  mm_geom g;
  (void)out;
  if (mm_geometry(n, in, &g, NULL)) return 0;
  return 2.0 * (double)g.batch * (double)g.M * (double)g.N * (double)g.K;
}
