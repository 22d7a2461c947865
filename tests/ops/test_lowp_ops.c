/*
 * Reduced-precision (bf16) convolutions (src/nn/lowp.c, dnnl_backend.c with
 * lowp = 1) against a float64 reference of the float32 convolution.
 *
 * Bound: bf16 keeps 8 significant bits (unit roundoff u = 2^-8); x and w are
 * each rounded once, products accumulate in f32, so per output
 *     |got - ref| <= 2^-7 * sum_k |x_k * w_k| + 2^-8 * |ref| (bf16 dst) + 1e-5
 * where the sum runs over the taps of that output (the bias and the clamp add
 * no error: the bias stays f32 and clamping is 1-Lipschitz).
 *
 *  - direct: random dense / depthwise shapes (1-96 channels, 1x1 to
 *    5x5, strides 1-2, asymmetric padding, clamps), every combination of
 *    f32 / bf16 input and output buffers;
 *  - session: a conv -> conv -> conv -> grouped conv -> add chain run by the
 *    executor with FR_PRECISION_BF16 (bf16 activations between the first
 *    three convolutions, f32 into the grouped one, which stays on the f32
 *    path) against the same model in f32, at two input sizes; with a 2-thread
 *    pool the bf16 request is ignored (bit-identical to f32 with that pool);
 *  - precision_min_elems: below it a session runs f32 (bit-identical), above
 *    it bf16, one session switching sizes back and forth;
 *  - an unknown precision is refused at load.
 * On a CPU without AVX512_BF16 the bf16 parts are skipped (and the session
 * must then equal f32 exactly).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "facerec/nn.h"
#include "nn/dnnl_backend.h"
#include "nn/exec.h"
#include "nn/lowp.h"
#include "testutil.h"

static unsigned seed = 977;

static int rnd(int lo, int hi) { return lo + (int)(fr_t_rand(&seed) % (unsigned)(hi - lo + 1)); }

static uint16_t to_bf16(float f) { /* round to nearest even, as oneDNN */
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

typedef struct lcase {
  int n, h, w, cin, cout, groups, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow;
  float lo, hi;
} lcase;

static lcase rand_case(int kind) { /* 0 dense, 1 depthwise */
  lcase c = {0};
  c.n = rnd(1, 2), c.h = rnd(1, 20), c.w = rnd(1, 20);
  c.kh = (int[]){1, 3, 3, 5}[rnd(kind == 1 ? 1 : 0, 3)];
  c.kw = rnd(0, 3) ? c.kh : rnd(1, 3);
  c.sh = rnd(1, 2), c.sw = rnd(1, 2);
  if (kind == 0) c.groups = 1, c.cin = rnd(1, 64), c.cout = rnd(1, 96);
  else c.cin = c.cout = c.groups = rnd(1, 96);
  c.pt = rnd(0, c.kh - 1), c.pb = rnd(0, c.kh - 1);
  c.pl = rnd(0, c.kw - 1), c.pr = rnd(0, c.kw - 1);
  if (c.h + c.pt + c.pb < c.kh || c.w + c.pl + c.pr < c.kw) return rand_case(kind); /* invalid */
  c.oh = (c.h + c.pt + c.pb - c.kh) / c.sh + 1;
  c.ow = (c.w + c.pl + c.pr - c.kw) / c.sw + 1;
  switch (rnd(0, 2)) {
    case 0: c.lo = 0, c.hi = INFINITY; break;
    case 1: c.lo = -0.25f, c.hi = 0.5f; break;
    default: c.lo = -INFINITY, c.hi = INFINITY; break;
  }
  return c;
}

/* ref and sum|x*w| per output, in double; x NHWC, w OHWI. */
static void reference(const lcase *c, const float *x, const float *w, const float *b, double *ref,
                      double *mag) {
  int gi = c->cin / c->groups, go = c->cout / c->groups;
  for (int n = 0; n < c->n; n++)
    for (int oy = 0; oy < c->oh; oy++)
      for (int ox = 0; ox < c->ow; ox++)
        for (int o = 0; o < c->cout; o++) {
          double s = b[o], m = 0;
          int g = o / go;
          for (int ky = 0; ky < c->kh; ky++)
            for (int kx = 0; kx < c->kw; kx++) {
              int iy = oy * c->sh - c->pt + ky, ix = ox * c->sw - c->pl + kx;
              if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
              for (int i = 0; i < gi; i++) {
                double p = (double)x[((size_t)(n * c->h + iy) * c->w + ix) * c->cin + g * gi + i] *
                           w[(((size_t)o * c->kh + ky) * c->kw + kx) * gi + i];
                s += p;
                m += fabs(p);
              }
            }
          size_t k = ((size_t)(n * c->oh + oy) * c->ow + ox) * c->cout + o;
          ref[k] = fmin(fmax(s, c->lo), c->hi);
          mag[k] = m;
        }
}

static int n_direct, n_declined;

/* One-conv model (explicit pads) for case c, in the given precision. */
static fr_model *one_conv_model(const lcase *c, const float *w, const float *b, int precision) {
  fr_error err = {{0}};
  fr_model *m = calloc(1, sizeof *m);
  fr__graph *g = &m->g;
  fr__graph_init(g, "lowp-one", "test");
  int64_t xd[4] = {c->n, -1, -1, c->cin}, wd[4] = {c->cout, c->kh, c->kw, c->cin / c->groups};
  int64_t bd[1] = {c->cout};
  fr__shape xs = fr__shape_make(4, xd), ws = fr__shape_make(4, wd), bs = fr__shape_make(1, bd);
  int in[3], y, ni;
  CHECK_STATUS(fr__graph_add_value(g, "x", FR__F32, &xs, &in[0], &err), FR_OK);
  CHECK_STATUS(fr__graph_add_const(g, "w", FR__F32, &ws, w, &in[1], &err), FR_OK);
  CHECK_STATUS(fr__graph_add_const(g, "b", FR__F32, &bs, b, &in[2], &err), FR_OK);
  CHECK_STATUS(fr__graph_add_value(g, "y", FR__F32, NULL, &y, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(g, FR__OP_CONV2D, "conv", in, 3, &y, 1, &ni, &err), FR_OK);
  fr__conv_attrs *a = &g->nodes[ni].a.conv;
  a->kh = c->kh, a->kw = c->kw, a->stride_h = c->sh, a->stride_w = c->sw;
  a->dil_h = a->dil_w = 1, a->groups = c->groups;
  a->pad_mode = FR__PAD_EXPLICIT;
  a->pad_t = c->pt, a->pad_l = c->pl, a->pad_b = c->pb, a->pad_r = c->pr;
  a->out_min = c->lo, a->out_max = c->hi;
  CHECK_STATUS(fr__graph_set_io(g, &in[0], 1, &y, 1, &err), FR_OK);
  CHECK_STATUS(fr__graph_finalize(g, &err), FR_OK);
  m->precision = precision;
  return m;
}

static void run_direct(const lcase *c, const char *what) {
  size_t nx = (size_t)c->n * c->h * c->w * c->cin, ny = (size_t)c->n * c->oh * c->ow * c->cout;
  size_t nw = (size_t)c->cout * c->kh * c->kw * (c->cin / c->groups);
  float *x = malloc(nx * 4 + 64), *w = malloc(nw * 4), *b = malloc((size_t)c->cout * 4);
  uint16_t *xh = malloc(nx * 2 + 64), *yh = malloc(ny * 2 + 64);
  float *y = malloc(ny * 4 + 64);
  double *ref = malloc(ny * 8), *mag = malloc(ny * 8);
  CHECK(x && w && b && xh && yh && y && ref && mag);
  if (!(x && w && b && xh && yh && y && ref && mag)) goto out;
  for (size_t i = 0; i < nx; i++) x[i] = fr_t_randf(&seed) * 4.0f;
  for (size_t i = 0; i < nw; i++) w[i] = fr_t_randf(&seed);
  for (int i = 0; i < c->cout; i++) b[i] = fr_t_randf(&seed);
  for (size_t i = 0; i < nx; i++) xh[i] = to_bf16(x[i]);
  reference(c, x, w, b, ref, mag);
  for (int combo = 0; combo < 4; combo++) {
    bool sb = combo & 1, db = combo & 2;
    fr__dnnl_conv_params p = {.n = c->n, .h = c->h, .w = c->w, .cin = c->cin, .cout = c->cout,
                              .oh = c->oh, .ow = c->ow, .kh = c->kh, .kw = c->kw, .sh = c->sh,
                              .sw = c->sw, .dh = 1, .dw = 1, .groups = c->groups, .pt = c->pt,
                              .pl = c->pl, .pb = c->pb, .pr = c->pr, .lo = c->lo, .hi = c->hi,
                              .weights = w, .bias = b, .lowp = 1, .src_bf16 = sb, .dst_bf16 = db};
    fr__dnnl_conv *dc = NULL;
    fr_status st = fr__dnnl_conv_create(&p, &dc);
    if (st == FR_ERR_UNSUPPORTED && combo == 0) {
      /* declined (degenerate shapes): the bf16 session runs the f32
       * reference for it; check that path on the same data */
      n_declined++;
      fr_model *m = one_conv_model(c, w, b, FR_PRECISION_BF16);
      fr_session *s = NULL;
      fr_error err = {{0}};
      int64_t xd[4] = {c->n, c->h, c->w, c->cin};
      fr_tensor_view v = {0};
      CHECK_STATUS(fr_session_create(m, NULL, &s, &err), FR_OK);
      if (s && fr_session_set_input(s, 0, x, xd, 4, &err) == FR_OK &&
          fr_session_run(s, &err) == FR_OK && fr_session_output(s, 0, &v, &err) == FR_OK) {
        CHECK(v.count == ny);
        for (size_t i = 0; i < ny && v.count == ny; i++)
          CHECK_MSG(fabs(v.data[i] - ref[i]) <= 1e-4 * mag[i] + 1e-5,
                    "%s (declined, session): [%zu] got %g ref %g", what, i, v.data[i], ref[i]);
      } else {
        CHECK_MSG(0, "%s (declined, session): %s", what, err.msg);
      }
      fr_session_free(s);
      fr_model_free(m);
    }
    if (st == FR_ERR_UNSUPPORTED) continue;
    CHECK_MSG(st == FR_OK, "%s: oneDNN failed (%s)", what, fr_strerror(st));
    if (st != FR_OK) continue;
    CHECK_MSG(strstr(fr__dnnl_conv_impl(dc), "bf16") != NULL,
              "%s: implementation '%s' is not a native bf16 one", what, fr__dnnl_conv_impl(dc));
    memset(y, 0xff, ny * 4); /* NaN */
    memset(yh, 0xff, ny * 2);
    CHECK_STATUS(fr__dnnl_conv_run(dc, sb ? (const void *)xh : x, db ? (void *)yh : y), FR_OK);
    fr__dnnl_conv_destroy(dc);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ny; i++) {
      double got = db ? from_bf16(yh[i]) : y[i];
      double tol = 0x1p-7 * mag[i] + (db ? 0x1p-8 * fabs(ref[i]) : 0) + 1e-5;
      if (!(fabs(got - ref[i]) <= tol) && bad++ == 0) first = i;
    }
    CHECK_MSG(bad == 0, "%s src %s dst %s: %zu of %zu outside the bound, first [%zu] got %g ref %g",
              what, sb ? "bf16" : "f32", db ? "bf16" : "f32", bad, ny, first,
              db ? from_bf16(yh[first]) : y[first], ref[first]);
    n_direct++;
  }
out:
  free(x), free(w), free(b), free(xh), free(yh), free(y), free(ref), free(mag);
}

TEST(direct) {
  if (!fr__dnnl_bf16_native()) {
    fprintf(stderr, "no native bf16 on this CPU: direct bf16 cases skipped\n");
    return;
  }
  for (int it = 0; it < 45; it++) {
    lcase c = rand_case(it % 2);
    char what[160];
    snprintf(what, sizeof what, "#%d %dx%dx%dx%d->%d g=%d k=%dx%d s=%dx%d clamp=[%g,%g]", it, c.n,
             c.h, c.w, c.cin, c.cout, c.groups, c.kh, c.kw, c.sh, c.sw, c.lo, c.hi);
    run_direct(&c, what);
  }
  /* the random sizes include degenerate ones (kernel larger than the padded
   * input) that oneDNN declines; the realistic majority must be taken */
  CHECK_MSG(n_direct >= 4 * 35 && n_direct + 4 * n_declined == 4 * 45, "%d bf16 runs, %d declined",
            n_direct, n_declined);
  printf("direct: %d bf16 runs, %d shapes declined (reference path checked)\n", n_direct,
         n_declined);
}

/* ---- through the executor ---- */

static fr__shape S4(int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t v[4] = {a, b, c, d};
  return fr__shape_make(4, v);
}

static int add_conv(fr__graph *g, const char *name, int x, int cin, int cout, int groups, int k,
                    int stride, bool relu, fr_error *err) {
  fr__shape ws = S4(cout, k, k, cin / groups), bs = fr__shape_make(1, (int64_t[]){cout});
  int64_t nw = fr__shape_elems(&ws);
  float *w = malloc(sizeof(float) * (size_t)nw), *b = malloc(sizeof(float) * (size_t)cout);
  for (int64_t i = 0; i < nw; i++) w[i] = fr_t_randf(&seed) / sqrtf((float)(k * k * cin / groups));
  for (int i = 0; i < cout; i++) b[i] = fr_t_randf(&seed) * 0.1f;
  char nm[64];
  int in[3] = {x, -1, -1}, y = -1, ni = -1;
  snprintf(nm, sizeof nm, "%s_w", name);
  CHECK_STATUS(fr__graph_add_const(g, nm, FR__F32, &ws, w, &in[1], err), FR_OK);
  snprintf(nm, sizeof nm, "%s_b", name);
  CHECK_STATUS(fr__graph_add_const(g, nm, FR__F32, &bs, b, &in[2], err), FR_OK);
  CHECK_STATUS(fr__graph_add_value(g, name, FR__F32, NULL, &y, err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(g, FR__OP_CONV2D, name, in, 3, &y, 1, &ni, err), FR_OK);
  free(w);
  free(b);
  fr__conv_attrs *a = &g->nodes[ni].a.conv;
  a->kh = a->kw = k;
  a->stride_h = a->stride_w = stride;
  a->dil_h = a->dil_w = 1;
  a->groups = groups;
  a->pad_mode = FR__PAD_SAME_UPPER;
  a->out_min = relu ? 0.0f : -INFINITY;
  a->out_max = INFINITY;
  return y;
}

/* x[1,?,?,8] -> c1 3x3/2 8->32 relu -> c2 dw3x3 relu -> c3 1x1 32->32 -> c4 5x5 grouped
 * (g=4, 32->32: not taken by the bf16 path, f32 between c3 and c4) -> add(c1) */
static fr_model *chain_model(int precision) {
  fr_error err = {{0}};
  fr_model *m = calloc(1, sizeof *m);
  fr__graph *g = &m->g;
  seed = 31337; /* same weights for every precision */
  fr__graph_init(g, "lowp-chain", "test");
  fr__shape xs = S4(1, -1, -1, 8);
  int x, y;
  CHECK_STATUS(fr__graph_add_value(g, "x", FR__F32, &xs, &x, &err), FR_OK);
  int c1 = add_conv(g, "c1", x, 8, 32, 1, 3, 2, true, &err);
  int c2 = add_conv(g, "c2", c1, 32, 32, 32, 3, 1, true, &err);
  int c3 = add_conv(g, "c3", c2, 32, 32, 1, 1, 1, false, &err);
  int c4 = add_conv(g, "c4", c3, 32, 32, 4, 5, 1, false, &err);
  int in2[2] = {c4, c1};
  CHECK_STATUS(fr__graph_add_value(g, "y", FR__F32, NULL, &y, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(g, FR__OP_ADD, "add", in2, 2, &y, 1, NULL, &err), FR_OK);
  CHECK_STATUS(fr__graph_set_io(g, &x, 1, &y, 1, &err), FR_OK);
  CHECK_STATUS(fr__graph_finalize(g, &err), FR_OK);
  m->precision = precision;
  return m;
}

static float *run_model(fr_model *m, bool pool, const float *x, const int64_t *shape,
                        size_t *count) {
  fr_error err = {{0}};
  fr_session *s = NULL;
  fr_threadpool *tp = pool ? fr_threadpool_create(2) : NULL;
  CHECK_STATUS(fr_session_create(m, tp, &s, &err), FR_OK);
  float *out = NULL;
  if (s && fr_session_set_input(s, 0, x, shape, 4, &err) == FR_OK &&
      fr_session_run(s, &err) == FR_OK) {
    fr_tensor_view v;
    CHECK_STATUS(fr_session_output(s, 0, &v, &err), FR_OK);
    out = malloc(v.count * sizeof(float));
    memcpy(out, v.data, v.count * sizeof(float));
    *count = v.count;
  } else {
    CHECK_MSG(0, "session: %s", err.msg);
  }
  fr_session_free(s);
  fr_threadpool_free(tp);
  return out;
}

TEST(session_chain) {
  fr_model *m32 = chain_model(FR_PRECISION_F32), *m16 = chain_model(FR_PRECISION_BF16);
  bool native = fr__lowp_active(FR_PRECISION_BF16);
  for (int size = 0; size < 2; size++) {
    int64_t shape[4] = {1, size ? 37 : 24, size ? 29 : 40, 8};
    size_t nx = (size_t)(shape[1] * shape[2] * 8), n32 = 0, n16 = 0, n16p = 0;
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = fr_t_randf(&seed);
    float *a = run_model(m32, false, x, shape, &n32), *b = run_model(m16, false, x, shape, &n16);
    size_t n32p = 0;
    float *c = run_model(m16, true, x, shape, &n16p), *d = run_model(m32, true, x, shape, &n32p);
    CHECK(a && b && c && d && n32 == n16 && n32 == n16p && n32 == n32p);
    if (a && b && c && d && n32 == n16 && n32 == n16p && n32 == n32p) {
      double se = 0, sr = 0;
      bool same = true, same_pool = true;
      for (size_t i = 0; i < n32; i++) {
        se += (double)(a[i] - b[i]) * (a[i] - b[i]);
        sr += (double)a[i] * a[i];
        same &= a[i] == b[i];
        same_pool &= d[i] == c[i];
      }
      double nmse = se / (sr > 0 ? sr : 1);
      CHECK_MSG(same_pool, "a 2-thread session must run f32");
      if (native) {
        /* three bf16 layers: each rounding ~2^-8 relative; NMSE well under 1e-4 */
        CHECK_MSG(nmse < 1e-4, "bf16 chain NMSE %g vs f32", nmse);
        CHECK_MSG(!same, "bf16 session gave bit-identical f32 results: the path did not run");
      } else {
        CHECK_MSG(same, "without native bf16 the session must run f32");
      }
    }
    free(x), free(a), free(b), free(c), free(d);
  }
  fr_model_free(m32);
  fr_model_free(m16);
}

/* precision_min_elems: one session alternating between a small input (f32,
 * bit-identical to the f32 model) and a large one (bf16), re-preparing as the
 * size crosses the threshold. */
TEST(min_elems) {
  if (!fr__lowp_active(FR_PRECISION_BF16)) return;
  fr_model *m32 = chain_model(FR_PRECISION_F32), *m16 = chain_model(FR_PRECISION_BF16);
  m16->precision_min_elems = 8000; /* between 24x40x8 = 7680 and 37x29x8 = 8584 */
  fr_error err = {{0}};
  fr_session *s = NULL;
  CHECK_STATUS(fr_session_create(m16, NULL, &s, &err), FR_OK);
  for (int it = 0; it < 4 && s; it++) {
    int64_t shape[4] = {1, it % 2 ? 37 : 24, it % 2 ? 29 : 40, 8};
    size_t nx = (size_t)(shape[1] * shape[2] * 8), n32 = 0;
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = fr_t_randf(&seed);
    float *a = run_model(m32, false, x, shape, &n32);
    fr_tensor_view v = {0};
    CHECK_STATUS(fr_session_set_input(s, 0, x, shape, 4, &err), FR_OK);
    CHECK_STATUS(fr_session_run(s, &err), FR_OK);
    CHECK_STATUS(fr_session_output(s, 0, &v, &err), FR_OK);
    CHECK(a && v.count == n32);
    if (a && v.count == n32) {
      bool same = memcmp(a, v.data, n32 * sizeof(float)) == 0;
      CHECK_MSG(same == (it % 2 == 0), "run %d (%s input): %s f32", it, it % 2 ? "large" : "small",
                same ? "identical to" : "differs from");
    }
    free(x), free(a);
  }
  fr_session_free(s);
  fr_model_free(m32);
  fr_model_free(m16);
}

TEST(bad_precision) {
  fr_error err = {{0}};
  fr_model *m = (fr_model *)1;
  fr_model_options o = {.precision = 7};
  CHECK_STATUS(fr_model_load("/nonexistent.onnx", &o, &m, &err), FR_ERR_INVALID_ARG);
  CHECK(m == NULL);
  CHECK(strstr(err.msg, "precision") != NULL);
  fr_model_options o2 = {.precision = FR_PRECISION_BF16, .precision_min_elems = -1};
  CHECK_STATUS(fr_model_load("/nonexistent.onnx", &o2, &m, &err), FR_ERR_INVALID_ARG);
  CHECK(m == NULL);
}

RUN_TESTS(T(direct), T(session_chain), T(min_elems), T(bad_precision))
