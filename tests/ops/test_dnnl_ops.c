/*
 * The oneDNN convolution path (src/nn/dnnl_backend.c) against the reference
 * CONV2D kernel, on random shapes of the class the rule selects: dense with
 * >= 32 output channels (1x1 .. 7x7, strides 1-2, asymmetric padding, batch
 * 1-2) and depthwise with >= 64 channels (3x3 .. 7x7). Each case runs
 *  - directly (fr__dnnl_conv_create must accept it: oneDNN really computes), and
 *  - through the backend (fr__backend_create / setup / run, single-threaded,
 *    so the rule picks oneDNN), with a second plan at another input size (the
 *    primitive is re-created), and once with a 2-thread pool (XNNPACK then).
 * Tolerance as test_backend_ops: |got - ref| <= 1e-4 * max|ref| + 1e-4 * |ref|.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdint.h>

#include "nn/backend.h"
#include "nn/dnnl_backend.h"
#include "testutil.h"

#define SLACK 64

static unsigned seed = 4242;
static pthreadpool_t pool2;
static int n_direct, n_backend;

static int rnd(int lo, int hi) { return lo + (int)(fr_t_rand(&seed) % (unsigned)(hi - lo + 1)); }

static float *rand_buf(int64_t n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float) + SLACK);
  if (!p) return NULL;
  for (int64_t i = 0; i < n; i++) p[i] = fr_t_randf(&seed);
  return p;
}

static fr__shape shp(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t dims[4] = {a, b, c, d};
  return fr__shape_make(rank, dims);
}

/* Counts elements outside the tolerance; *first = index of the first. */
static int64_t count_bad(const float *got, const float *ref, int64_t n, int64_t *first) {
  float mx = 0;
  for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(ref[i]));
  int64_t bad = 0;
  *first = -1;
  for (int64_t i = 0; i < n; i++)
    if (!(fabsf(got[i] - ref[i]) <= 1e-4f * mx + 1e-4f * fabsf(ref[i]))) {
      if (*first < 0) *first = i;
      bad++;
    }
  return bad;
}

typedef struct ccase {
  int n, h, w, cin, cout, kh, kw, sh, sw, groups;
  fr__pad_mode mode;
  int pt, pl, pb, pr;
  float lo, hi;
  bool bias;
} ccase;

static void rand_clamp(float *lo, float *hi) {
  switch (rnd(0, 3)) {
    case 0: *lo = 0, *hi = INFINITY; break;
    case 1: *lo = 0, *hi = 6; break;
    case 2: *lo = -0.5f, *hi = 0.5f; break;
    default: *lo = -INFINITY, *hi = INFINITY; break;
  }
}

static ccase rand_case(bool depthwise) {
  ccase c = {0};
  c.n = rnd(1, 2), c.h = rnd(1, 24), c.w = rnd(1, 24);
  int k = (int[]){1, 3, 3, 5, 7}[rnd(depthwise ? 1 : 0, 4)];
  c.kh = k, c.kw = rnd(0, 3) ? k : rnd(1, 4);
  c.sh = rnd(1, 2), c.sw = rnd(1, 2);
  if (depthwise) {
    c.cin = c.cout = c.groups = rnd(64, 160);
  } else {
    c.cin = rnd(0, 3) ? rnd(1, 80) : 3, c.cout = rnd(32, 96), c.groups = 1;
  }
  c.mode = (fr__pad_mode)rnd(0, 3);
  c.pt = rnd(0, c.kh - 1), c.pb = rnd(0, c.kh - 1), c.pl = rnd(0, c.kw - 1), c.pr = rnd(0, c.kw - 1);
  rand_clamp(&c.lo, &c.hi);
  c.bias = rnd(0, 3) != 0;
  return c;
}

/* One-node graph for case c: x (declared with unknown H, W), w, bias. */
static int build_graph(fr__graph *g, const ccase *c) {
  fr_error err = {{0}};
  fr__graph_init(g, "test", "test");
  fr__shape dx = shp(4, c->n, -1, -1, c->cin);
  fr__shape ws = shp(4, c->cout, c->kh, c->kw, c->cin / c->groups), bs = shp(1, c->cout, 0, 0, 0);
  int in[3] = {-1, -1, -1}, out = -1, ni = -1;
  float *w = rand_buf(fr__shape_elems(&ws)), *b = rand_buf(c->cout);
  fr__shape os = {0};
  CHECK_STATUS(fr__graph_add_value(g, "x", FR__F32, &dx, &in[0], &err), FR_OK);
  CHECK_STATUS(fr__graph_add_const(g, "w", FR__F32, &ws, w, &in[1], &err), FR_OK);
  if (c->bias) CHECK_STATUS(fr__graph_add_const(g, "b", FR__F32, &bs, b, &in[2], &err), FR_OK);
  CHECK_STATUS(fr__graph_add_value(g, "y", FR__F32, &os, &out, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(g, FR__OP_CONV2D, "conv", in, c->bias ? 3 : 2, &out, 1, &ni, &err),
               FR_OK);
  free(w);
  free(b);
  fr__conv_attrs *a = &g->nodes[ni].a.conv;
  a->kh = c->kh, a->kw = c->kw, a->stride_h = c->sh, a->stride_w = c->sw;
  a->dil_h = a->dil_w = 1, a->groups = c->groups;
  a->pad_mode = c->mode;
  a->pad_t = c->pt, a->pad_l = c->pl, a->pad_b = c->pb, a->pad_r = c->pr;
  a->out_min = c->lo, a->out_max = c->hi;
  return ni;
}

/* Reference output for input shape xs; 0 when the shape function rejects it. */
static int reference(const fr__graph *g, const fr__node *n, const fr__shape *xs, float **x,
                     fr__tensor *in, fr__tensor *out, float **ref) {
  fr_error err = {{0}};
  memset(in, 0, 3 * sizeof *in);
  memset(out, 0, sizeof *out);
  *x = rand_buf(fr__shape_elems(xs));
  in[0].dtype = FR__F32, in[0].shape = *xs, in[0].data = *x;
  for (int i = 1; i < n->n_in; i++) {
    const fr__value *v = &g->values[n->in[i]];
    in[i].dtype = FR__F32, in[i].shape = v->shape, in[i].data = v->data;
  }
  *ref = NULL;
  if (fr__op_table[n->op].shape(n, in, out, &err) != FR_OK) return 0;
  int64_t ne = fr__shape_elems(&out->shape);
  *ref = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(float) + SLACK);
  if (!*ref) return 0;
  out->data = *ref;
  CHECK_STATUS(fr__op_table[n->op].ref(n, in, out), FR_OK);
  return ne > 0;
}

static void run_case(const ccase *c, const char *what) {
  fr__graph g;
  int ni = build_graph(&g, c);
  const fr__node *n = &g.nodes[ni];
  fr_error err = {{0}};
  fr__backend_op *op = NULL;
  CHECK_STATUS(fr__backend_create(&g, n, &op, &err), FR_OK);
  CHECK_MSG(op != NULL, "%s: backend declined", what);
  for (int plan = 0; plan < 3 && op; plan++) {
    fr__shape xs = shp(4, c->n, c->h + (plan == 1 ? rnd(1, 6) : 0), c->w + (plan == 1 ? rnd(1, 6) : 0),
                       c->cin);
    pthreadpool_t pool = plan == 2 ? pool2 : NULL;
    fr__tensor in[3], out;
    float *x = NULL, *ref = NULL, *got = NULL;
    if (!reference(&g, n, &xs, &x, in, &out, &ref)) goto next;
    int64_t ne = fr__shape_elems(&out.shape), first;
    got = malloc((size_t)ne * sizeof(float) + SLACK);
    if (!got) goto next;

    /* direct: the rule selects it at 1 thread and oneDNN must take it */
    int t, l, b, r;
    fr__resolve_pads(c->mode, c->pt, c->pl, c->pb, c->pr, c->kh, c->kw, c->sh, c->sw, 1, 1,
                     xs.d[1], xs.d[2], &t, &l, &b, &r);
    fr__dnnl_conv_params p = {
        .n = xs.d[0], .h = xs.d[1], .w = xs.d[2], .cin = c->cin, .cout = c->cout,
        .oh = out.shape.d[1], .ow = out.shape.d[2], .kh = c->kh, .kw = c->kw, .sh = c->sh,
        .sw = c->sw, .dh = 1, .dw = 1, .groups = c->groups, .pt = t, .pl = l, .pb = b, .pr = r,
        .lo = c->lo, .hi = c->hi, .weights = in[1].data, .bias = c->bias ? in[2].data : NULL};
    CHECK_MSG(fr__dnnl_conv_rule(&p, 1), "%s: rule does not select it", what);
    CHECK_MSG(!fr__dnnl_conv_rule(&p, 2), "%s: rule selects it at 2 threads", what);
    fr__dnnl_conv *dc = NULL;
    fr_status st = fr__dnnl_conv_create(&p, &dc);
    CHECK_MSG(st == FR_OK, "%s: oneDNN declined (%s)", what, fr_strerror(st));
    if (dc) {
      for (int64_t i = 0; i < ne; i++) got[i] = NAN;
      CHECK_STATUS(fr__dnnl_conv_run(dc, x, got), FR_OK);
      int64_t bad = count_bad(got, ref, ne, &first);
      CHECK_MSG(bad == 0, "%s (direct, plan %d): %lld of %lld differ, first [%lld] got %g ref %g",
                what, plan, (long long)bad, (long long)ne, (long long)first,
                first >= 0 ? got[first] : 0.0, first >= 0 ? ref[first] : 0.0);
      fr__dnnl_conv_destroy(dc);
      n_direct++;
    }

    /* through the backend */
    for (int64_t i = 0; i < ne; i++) got[i] = NAN;
    out.data = got;
    st = fr__backend_setup(op, n, in, &out, pool, &err);
    CHECK_MSG(st == FR_OK, "%s: setup: %s", what, err.msg);
    if (st == FR_OK) {
      st = fr__backend_run(op, pool, &err);
      CHECK_MSG(st == FR_OK, "%s: run: %s", what, err.msg);
      int64_t bad = count_bad(got, ref, ne, &first);
      CHECK_MSG(bad == 0, "%s (backend, plan %d): %lld of %lld differ, first [%lld] got %g ref %g",
                what, plan, (long long)bad, (long long)ne, (long long)first,
                first >= 0 ? got[first] : 0.0, first >= 0 ? ref[first] : 0.0);
      n_backend++;
    }
  next:
    free(x);
    free(ref);
    free(got);
  }
  fr__backend_destroy(op);
  fr__graph_free(&g);
}

TEST(init) {
  fr_error err = {{0}};
  const char *sd = getenv("FR_TEST_SEED");
  if (sd && *sd) seed = (unsigned)strtoul(sd, NULL, 10);
  CHECK_MSG(fr__backend_init(&err) == FR_OK, "%s", err.msg);
  pool2 = pthreadpool_create(2);
  CHECK(pool2 != NULL);
}

TEST(dense) {
  for (int it = 0; it < 40; it++) {
    ccase c = rand_case(false);
    char what[160];
    snprintf(what, sizeof what, "dense #%d %dx%dx%dx%d->%d k=%dx%d s=%dx%d pad=%d clamp=[%g,%g]",
             it, c.n, c.h, c.w, c.cin, c.cout, c.kh, c.kw, c.sh, c.sw, (int)c.mode, c.lo, c.hi);
    run_case(&c, what);
  }
}

TEST(depthwise) {
  for (int it = 0; it < 30; it++) {
    ccase c = rand_case(true);
    char what[160];
    snprintf(what, sizeof what, "dw #%d %dx%dx%dx%d k=%dx%d s=%dx%d pad=%d clamp=[%g,%g]", it,
             c.n, c.h, c.w, c.cin, c.kh, c.kw, c.sh, c.sw, (int)c.mode, c.lo, c.hi);
    run_case(&c, what);
  }
}

/* Shapes outside the measured class stay on our kernels. */
TEST(rule) {
  fr__dnnl_conv_params p = {.n = 1, .h = 8, .w = 8, .cin = 16, .cout = 32, .oh = 8, .ow = 8,
                            .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
  CHECK(fr__dnnl_conv_rule(&p, 1));
  CHECK(!fr__dnnl_conv_rule(&p, 2));
  p.cout = 16;
  CHECK(!fr__dnnl_conv_rule(&p, 1)); /* few output channels */
  p.cout = 64, p.dh = 2;
  CHECK(!fr__dnnl_conv_rule(&p, 1)); /* dilated: not measured */
  p.dh = 1, p.cin = p.cout = p.groups = 32;
  CHECK(!fr__dnnl_conv_rule(&p, 1)); /* narrow depthwise: our 3x3 kernel */
  p.cin = p.cout = p.groups = 64;
  CHECK(fr__dnnl_conv_rule(&p, 1));
  p.cout = 128;
  CHECK(!fr__dnnl_conv_rule(&p, 1)); /* channel multiplier 2 */
  p.cin = 128, p.cout = 128, p.groups = 2;
  CHECK(!fr__dnnl_conv_rule(&p, 1)); /* grouped */
}

/* Parameters oneDNN cannot take are refused, not crashed on. */
TEST(rejects) {
  float w[27] = {0};
  fr__dnnl_conv_params p = {.n = 1, .h = 4, .w = 4, .cin = 3, .cout = 1, .oh = 4, .ow = 4,
                            .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1,
                            .pt = 1, .pl = 1, .pb = 1, .pr = 1, .lo = -INFINITY, .hi = INFINITY,
                            .weights = w};
  fr__dnnl_conv *c = NULL;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c), FR_OK);
  fr__dnnl_conv_destroy(c);
  c = NULL;
  p.oh = 7; /* does not match the convolution */
  CHECK(fr__dnnl_conv_create(&p, &c) != FR_OK && c == NULL);
  p.oh = 4, p.pt = -1;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c), FR_ERR_UNSUPPORTED);
  p.pt = 1, p.lo = NAN;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c), FR_ERR_UNSUPPORTED);
  p.lo = 1, p.hi = 0;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c), FR_ERR_UNSUPPORTED);
  p.lo = -INFINITY, p.hi = INFINITY, p.weights = NULL;
  CHECK_STATUS(fr__dnnl_conv_create(&p, &c), FR_ERR_UNSUPPORTED);
  CHECK(c == NULL);
  fr__dnnl_conv_destroy(NULL);
}

TEST(summary) {
  printf("%d direct oneDNN plans, %d backend plans compared\n", n_direct, n_backend);
  pthreadpool_destroy(pool2);
  CHECK(n_direct > 60 && n_backend > 100);
}

RUN_TESTS(T(init), T(dense), T(depthwise), T(rule), T(rejects), T(summary))
