/*
 * The XNNPACK backend against the reference kernels, on random shapes:
 * for every op the backend takes, random sizes / strides / paddings /
 * dilations / groups / multipliers / batch sizes (seeded), one-node graphs,
 * the reference kernel from fr__op_table and the backend on the same data,
 * |got - ref| <= 1e-4 * max|ref| + 1e-4 * |ref| per element. Each case plans
 * twice with different input sizes (the second plan re-binds the operator,
 * and SAME padding re-creates it), some cases with a 2-thread pool.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdint.h>

#include "nn/backend.h"
#include "nn/optimize.h"
#include "testutil.h"

#define SLACK 64 /* XNNPACK may read XNN_EXTRA_BYTES past an input */

static unsigned seed = 12345;
static pthreadpool_t pool2;
static int n_cases, n_taken, n_plans;

static int rnd(int lo, int hi) { return lo + (int)(fr_t_rand(&seed) % (unsigned)(hi - lo + 1)); }

static float *rand_buf(int64_t n, float lo_abs) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float) + SLACK);
  if (!p) return NULL;
  for (int64_t i = 0; i < n; i++) {
    float v = fr_t_randf(&seed);
    if (lo_abs > 0) v = v < 0 ? v - lo_abs : v + lo_abs;
    p[i] = v;
  }
  return p;
}

static fr__shape shp(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t dims[4] = {a, b, c, d};
  return fr__shape_make(rank, dims);
}

/* One plan: random data for non-constant inputs with shapes xs[i], reference
 * vs backend. Returns 1 when compared, 0 when the shape function rejects the
 * shapes. Failures are CHECKed. */
static int plan_compare(const fr__graph *g, const fr__node *n, fr__backend_op *op,
                        const fr__shape *xs, pthreadpool_t pool, float lo_abs, const char *what) {
  fr__tensor in[4], out[1];
  float *own[4] = {0};
  memset(in, 0, sizeof in);
  memset(out, 0, sizeof out);
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) {
      in[i].shape.rank = -1;
      continue;
    }
    const fr__value *v = &g->values[n->in[i]];
    in[i].dtype = v->dtype;
    if (v->data) {
      in[i].shape = v->shape;
      in[i].data = v->data;
    } else {
      in[i].shape = xs[i];
      own[i] = rand_buf(fr__shape_elems(&xs[i]), i > 0 ? lo_abs : 0);
      in[i].data = own[i];
    }
  }
  fr_error err = {{0}};
  int ret = 0;
  float *ref = NULL, *got = NULL;
  if (fr__op_table[n->op].shape(n, in, out, &err) != FR_OK) goto done;
  ret = 1;
  int64_t ne = fr__shape_elems(&out[0].shape);
  CHECK(ne >= 0);
  ref = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(float) + SLACK);
  got = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(float) + SLACK);
  if (!ref || !got) {
    CHECK(!"out of memory");
    goto done;
  }
  for (int64_t i = 0; i < ne; i++) got[i] = NAN;
  out[0].data = ref;
  CHECK_STATUS(fr__op_table[n->op].ref(n, in, out), FR_OK);
  out[0].data = got;
  fr_status st = fr__backend_setup(op, n, in, out, pool, &err);
  CHECK_MSG(st == FR_OK, "%s: setup: %s", what, err.msg);
  if (st == FR_OK) {
    st = fr__backend_run(op, pool, &err);
    CHECK_MSG(st == FR_OK, "%s: run: %s", what, err.msg);
  }
  float mx = 0;
  for (int64_t i = 0; i < ne; i++) mx = fmaxf(mx, fabsf(ref[i]));
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < ne; i++) {
    float d = fabsf(got[i] - ref[i]);
    if (!(d <= 1e-4f * mx + 1e-4f * fabsf(ref[i]))) {
      if (first < 0) first = i;
      bad++;
    }
  }
  char b0[64], b1[64];
  CHECK_MSG(bad == 0, "%s: in %s out %s: %lld of %lld differ, first [%lld] got %g ref %g", what,
            fr__shape_str(&in[0].shape, b0, sizeof b0), fr__shape_str(&out[0].shape, b1, sizeof b1),
            (long long)bad, (long long)ne, (long long)first, first >= 0 ? got[first] : 0.0,
            first >= 0 ? ref[first] : 0.0);
  n_plans++;
done:
  free(ref);
  free(got);
  for (int i = 0; i < 4; i++) free(own[i]);
  return ret;
}

/* Builds the backend op for node 0 of g and runs two plans (xs_a, xs_b).
 * expect_take: CHECK that the backend takes the node. */
static void run_case(fr__graph *g, const fr__shape *xs_a, const fr__shape *xs_b, bool expect_take,
                     float lo_abs, const char *what) {
  fr_error err = {{0}};
  fr__backend_op *op = NULL;
  fr__node *n = &g->nodes[0];
  n_cases++;
  /* Sometimes make input 0 look like an intermediate value: its declared
   * shape is then meaningless (rank 0 here) and only setup knows it. */
  fr__value *x0 = &g->values[n->in[0]];
  if (!x0->data && rnd(0, 2) == 0) {
    x0->producer = g->n_nodes + 1;
    x0->shape.rank = 0;
  }
  CHECK_STATUS(fr__backend_create(g, n, &op, &err), FR_OK);
  if (expect_take) CHECK_MSG(op != NULL, "%s: backend declined", what);
  if (!op) return;
  n_taken++;
  pthreadpool_t pool = rnd(0, 2) == 0 ? pool2 : NULL;
  plan_compare(g, n, op, xs_a, pool, lo_abs, what);
  if (xs_b) plan_compare(g, n, op, xs_b, pool, lo_abs, what);
  fr__backend_destroy(op);
}

static int add_in(fr__graph *g, const fr__shape *s) {
  int idx = -1;
  fr_error err;
  CHECK_STATUS(fr__graph_add_value(g, NULL, FR__F32, s, &idx, &err), FR_OK);
  return idx;
}

static int add_rand_const(fr__graph *g, const fr__shape *s, float lo_abs) {
  int idx = -1;
  fr_error err;
  float *d = rand_buf(fr__shape_elems(s), lo_abs);
  CHECK_STATUS(fr__graph_add_const(g, NULL, FR__F32, s, d, &idx, &err), FR_OK);
  free(d);
  return idx;
}

static int add_node(fr__graph *g, fr__op op, const int *in, int n_in) {
  int out = -1, idx = -1;
  fr_error err;
  fr__shape s = {0};
  CHECK_STATUS(fr__graph_add_value(g, NULL, FR__F32, &s, &out, &err), FR_OK);
  CHECK_STATUS(fr__graph_add_node(g, op, "n", in, n_in, &out, 1, &idx, &err), FR_OK);
  return idx;
}

/* The declared input shape: exact, or with unknown H, W (and C). */
static fr__shape declared(const fr__shape *s) {
  fr__shape d = *s;
  int m = rnd(0, 2);
  if (m >= 1 && d.rank == 4) d.d[1] = d.d[2] = -1;
  if (m == 2 && d.rank >= 1) d.d[d.rank - 1] = -1;
  return d;
}

static void rand_clamp(float *lo, float *hi) {
  switch (rnd(0, 3)) {
    case 0: *lo = 0, *hi = INFINITY; break;
    case 1: *lo = 0, *hi = 6; break;
    case 2: *lo = -0.5f, *hi = 0.5f; break;
    default: *lo = -INFINITY, *hi = INFINITY; break;
  }
}

TEST(conv2d) {
  for (int it = 0; it < 80; it++) {
    int kind = rnd(0, 2); /* dense, grouped, depthwise */
    int groups = 1, cin, cout;
    bool big = it % 8 == 7; /* past XNNPACK's register tiles */
    if (kind == 0) {
      cin = big ? rnd(16, 70) : rnd(1, 9), cout = big ? rnd(16, 70) : rnd(1, 12);
    } else if (kind == 1) {
      groups = rnd(2, 4), cin = groups * rnd(1, big ? 20 : 3), cout = groups * rnd(1, big ? 20 : 3);
    } else {
      cin = big ? rnd(16, 80) : rnd(1, 12), groups = cin, cout = cin * (big ? 1 : rnd(1, 3));
    }
    int kh = rnd(1, 5), kw = rnd(1, 5), N = rnd(1, 2);
    int H = rnd(1, big ? 30 : 14), W = rnd(1, big ? 30 : 14);
    fr__shape xs[3] = {shp(4, N, H, W, cin)};
    fr__shape xb[3] = {shp(4, N, H + rnd(0, 5), W + rnd(0, 5), cin)};
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    fr__shape ws = shp(4, cout, kh, kw, cin / groups), bs = shp(1, cout, 0, 0, 0);
    int bias = rnd(0, 3) ? add_rand_const(&g, &bs, 0) : -1;
    int in[3] = {add_in(&g, &dx), add_rand_const(&g, &ws, 0), bias};
    int ni = add_node(&g, FR__OP_CONV2D, in, in[2] < 0 && rnd(0, 1) ? 2 : 3);
    fr__conv_attrs *a = &g.nodes[ni].a.conv;
    a->kh = kh, a->kw = kw;
    a->stride_h = rnd(1, 3), a->stride_w = rnd(1, 3);
    a->dil_h = rnd(0, 3) ? 1 : 2, a->dil_w = rnd(0, 3) ? 1 : 2;
    a->groups = groups;
    a->pad_mode = (fr__pad_mode)rnd(0, 3);
    a->pad_t = rnd(0, kh - 1), a->pad_b = rnd(0, kh - 1), a->pad_l = rnd(0, kw - 1),
    a->pad_r = rnd(0, kw - 1);
    rand_clamp(&a->out_min, &a->out_max);
    char what[128];
    snprintf(what, sizeof what, "conv #%d g=%d k=%dx%d s=%dx%d d=%dx%d pad=%d", it, groups, kh, kw,
             a->stride_h, a->stride_w, a->dil_h, a->dil_w, (int)a->pad_mode);
    run_case(&g, xs, xb, true, 0, what);
    fr__graph_free(&g);
  }
}

/* Depthwise 3x3 with multiplier 1: the backend's own kernel (dw3x3.c). Run
 * with FR_DW3X3_ISA=avx2 to check the AVX2 variant on an AVX-512 machine. */
TEST(depthwise3x3) {
  for (int it = 0; it < 40; it++) {
    int C = it % 4 == 0 ? rnd(1, 7) : rnd(8, 70), N = rnd(1, 2), H = rnd(1, 20), W = rnd(1, 20);
    fr__shape xs[3] = {shp(4, N, H, W, C)};
    fr__shape xb[3] = {shp(4, N, H + rnd(0, 5), W + rnd(0, 5), C)};
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    fr__shape ws = shp(4, C, 3, 3, 1), bs = shp(1, C, 0, 0, 0);
    int bias = rnd(0, 3) ? add_rand_const(&g, &bs, 0) : -1;
    int in[3] = {add_in(&g, &dx), add_rand_const(&g, &ws, 0), bias};
    int ni = add_node(&g, FR__OP_CONV2D, in, 3);
    fr__conv_attrs *a = &g.nodes[ni].a.conv;
    a->kh = a->kw = 3;
    a->stride_h = rnd(1, 2), a->stride_w = rnd(1, 2);
    a->dil_h = a->dil_w = 1;
    a->groups = C;
    a->pad_mode = (fr__pad_mode)rnd(0, 3);
    a->pad_t = rnd(0, 2), a->pad_b = rnd(0, 2), a->pad_l = rnd(0, 2), a->pad_r = rnd(0, 2);
    rand_clamp(&a->out_min, &a->out_max);
    char what[128];
    snprintf(what, sizeof what, "dw3x3 #%d C=%d s=%dx%d pad=%d", it, C, a->stride_h, a->stride_w,
             (int)a->pad_mode);
    run_case(&g, xs, xb, true, 0, what);
    fr__graph_free(&g);
  }
}

TEST(fully_connected) {
  for (int it = 0; it < 25; it++) {
    int K = rnd(1, 40), Nn = rnd(1, 30), rank = rnd(1, 3);
    fr__shape xs[3] = {shp(rank, 0, 0, 0, 0)}, xb[3];
    for (int i = 0; i < rank - 1; i++) xs[0].d[i] = rnd(1, 4);
    xs[0].d[rank - 1] = K;
    xb[0] = xs[0];
    if (rank > 1) xb[0].d[0] += rnd(1, 3);
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape ws = shp(2, Nn, K, 0, 0), bs = shp(1, Nn, 0, 0, 0);
    fr__shape dx = xs[0];
    if (rank > 1) dx.d[0] = -1;
    int bias = rnd(0, 2) ? add_rand_const(&g, &bs, 0) : -1;
    int in[3] = {add_in(&g, &dx), add_rand_const(&g, &ws, 0), bias};
    int ni = add_node(&g, FR__OP_FULLY_CONNECTED, in, 3);
    rand_clamp(&g.nodes[ni].a.fc.out_min, &g.nodes[ni].a.fc.out_max);
    char what[64];
    snprintf(what, sizeof what, "fc #%d K=%d N=%d", it, K, Nn);
    run_case(&g, xs, xb, true, 0, what);
    fr__graph_free(&g);
  }
}

static void pool_cases(fr__op op, int count) {
  for (int it = 0; it < count; it++) {
    int C = rnd(1, 20), N = rnd(1, 2), H = rnd(1, 12), W = rnd(1, 12);
    int kh = rnd(1, 4), kw = rnd(1, 4);
    fr__shape xs[1] = {shp(4, N, H, W, C)}, xb[1] = {shp(4, N, H + rnd(0, 4), W + rnd(0, 4), C)};
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    int in[1] = {add_in(&g, &dx)};
    int ni = add_node(&g, op, in, 1);
    fr__pool_attrs *a = &g.nodes[ni].a.pool;
    a->kh = kh, a->kw = kw;
    a->stride_h = rnd(1, 3), a->stride_w = rnd(1, 3);
    a->pad_mode = (fr__pad_mode)rnd(0, 3);
    a->pad_t = rnd(0, kh - 1), a->pad_b = rnd(0, kh - 1), a->pad_l = rnd(0, kw - 1),
    a->pad_r = rnd(0, kw - 1);
    a->ceil_mode = rnd(0, 1);
    a->count_include_pad = rnd(0, 2) == 0;
    char what[128];
    snprintf(what, sizeof what, "%s #%d k=%dx%d s=%dx%d pad=%d(%d,%d,%d,%d) ceil=%d incl=%d",
             fr__op_name(op), it, kh, kw, a->stride_h, a->stride_w, (int)a->pad_mode, a->pad_t,
             a->pad_l, a->pad_b, a->pad_r, a->ceil_mode, a->count_include_pad);
    /* 1x1 pools are refused by XNNPACK (the reference runs) */
    run_case(&g, xs, xb, kh * kw > 1, 0, what);
    fr__graph_free(&g);
  }
}

TEST(maxpool2d) { pool_cases(FR__OP_MAXPOOL2D, 30); }
TEST(avgpool2d) { pool_cases(FR__OP_AVGPOOL2D, 30); }

TEST(global_average_pool) {
  for (int it = 0; it < 10; it++) {
    fr__shape xs[1] = {shp(4, rnd(1, 2), rnd(1, 9), rnd(1, 9), rnd(1, 40))};
    fr__shape xb[1] = {xs[0]};
    xb[0].d[1] += 2;
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    int in[1] = {add_in(&g, &dx)};
    int ni = add_node(&g, FR__OP_REDUCE_MEAN, in, 1);
    fr__reduce_attrs *a = &g.nodes[ni].a.reduce;
    a->n_axes = 2;
    a->axes[0] = rnd(0, 1) ? 1 : -3;
    a->axes[1] = 2;
    a->keepdims = rnd(0, 1);
    run_case(&g, xs, xb, true, 0, "reduce_mean hw");
    fr__graph_free(&g);
  }
}

TEST(prelu) {
  for (int it = 0; it < 12; it++) {
    int C = rnd(1, 40);
    fr__shape xs[2] = {shp(4, rnd(1, 2), rnd(1, 6), rnd(1, 6), C)}, xb[2] = {xs[0]};
    xb[0].d[2] += 3;
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    int form = rnd(0, 2);
    fr__shape ss = form == 0   ? shp(1, C, 0, 0, 0)
                   : form == 1 ? shp(3, 1, 1, C, 0)
                               : shp(1, 1, 0, 0, 0);
    int in[2] = {add_in(&g, &dx), add_rand_const(&g, &ss, 0)};
    add_node(&g, FR__OP_PRELU, in, 2);
    run_case(&g, xs, xb, true, 0, "prelu");
    fr__graph_free(&g);
  }
}

/* Load-time rewrite (nn/optimize.c): relu(x) + c * -relu(-x), MTCNN's TFLite
 * PReLU, becomes PRELU(x, c); a chain on another value is left alone. */
static int node_out(fr__graph *g, fr__op op, const int *in, int n_in) {
  const int ni = add_node(g, op, in, n_in); /* before reading g->nodes: adding may move it */
  return g->nodes[ni].out[0];
}

TEST(prelu_rewrite_neg_form) {
  for (int variant = 0; variant < 3; variant++) {
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape xs = shp(4, 1, 5, 5, 7), cs = shp(1, 7, 0, 0, 0);
    const int x = add_in(&g, &xs), y = add_in(&g, &xs), c = add_rand_const(&g, &cs, 0.1f);
    /* variant 2: the negative branch reads y, not x (no rewrite) */
    const int n0 = node_out(&g, FR__OP_NEG, (int[]){variant == 2 ? y : x}, 1);
    const int r1 = node_out(&g, FR__OP_RELU, &n0, 1);
    const int n1 = node_out(&g, FR__OP_NEG, &r1, 1);
    /* variant 1: the constant first in the MUL and the ADD's operands swapped */
    const int m = node_out(&g, FR__OP_MUL, variant == 1 ? (int[]){c, n1} : (int[]){n1, c}, 2);
    const int p = node_out(&g, FR__OP_RELU, &x, 1);
    const int ai = add_node(&g, FR__OP_ADD, variant == 1 ? (int[]){m, p} : (int[]){p, m}, 2);
    fr_error err = {{0}};
    const int ins[2] = {x, y}, out = g.nodes[ai].out[0];
    CHECK_STATUS(fr__graph_set_io(&g, ins, 2, &out, 1, &err), FR_OK);
    CHECK_STATUS(fr__graph_optimize(&g, &err), FR_OK);
    const fr__node *a = NULL; /* finalize sorts the nodes: find the ADD's replacement by its output */
    for (int i = 0; i < g.n_nodes; i++)
      if (g.nodes[i].out[0] == out) a = &g.nodes[i];
    CHECK_MSG(a != NULL, "variant %d: %s", variant, err.msg);
    if (!a) {
      fr__graph_free(&g);
      continue;
    }
    if (variant == 2) {
      CHECK_MSG(a->op == FR__OP_ADD, "variant 2: rewritten although the chain reads another value");
    } else {
      CHECK_MSG(a->op == FR__OP_PRELU && a->n_in == 2 && a->in[0] == x, "variant %d: not PRELU(x, .)", variant);
      if (a->op == FR__OP_PRELU) {
        const float *slope = g.values[a->in[1]].data, *cd = g.values[c].data;
        for (int k = 0; k < 7; k++) CHECK_MSG(slope[k] == cd[k], "slope[%d] %g != c %g", k, slope[k], cd[k]);
      }
    }
    fr__graph_free(&g);
  }
}

TEST(unary) {
  static const fr__op ops[] = {FR__OP_RELU, FR__OP_CLIP, FR__OP_LEAKY_RELU, FR__OP_SIGMOID,
                               FR__OP_SOFTMAX};
  for (int it = 0; it < 25; it++) {
    fr__op o = ops[it % 5];
    int rank = rnd(1, 4);
    fr__shape xs[1] = {shp(rank, 0, 0, 0, 0)};
    for (int i = 0; i < rank; i++) xs[0].d[i] = rnd(1, 7);
    xs[0].d[rank - 1] = rnd(1, 50);
    fr__shape xb[1] = {xs[0]};
    xb[0].d[0] += 1;
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    fr__shape dx = declared(&xs[0]);
    int in[1] = {add_in(&g, &dx)};
    int ni = add_node(&g, o, in, 1);
    fr__attrs *a = &g.nodes[ni].a;
    if (o == FR__OP_CLIP) a->clip.min = -0.3f, a->clip.max = 0.6f;
    if (o == FR__OP_LEAKY_RELU) a->clip.alpha = 0.1f;
    if (o == FR__OP_SOFTMAX) a->axis.axis = rnd(0, 1) ? -1 : rank - 1;
    /* softmax over < 8 channels stays with the reference (faster) */
    run_case(&g, xs, xb, !(o == FR__OP_SOFTMAX && xs[0].d[rank - 1] < 8), 0, fr__op_name(o));
    fr__graph_free(&g);
  }
}

TEST(binary) {
  static const fr__op ops[] = {FR__OP_ADD, FR__OP_SUB, FR__OP_MUL, FR__OP_DIV,
                               FR__OP_MAXIMUM, FR__OP_MINIMUM, FR__OP_SQUARED_DIFF};
  for (int it = 0; it < 35; it++) {
    fr__op o = ops[it % 7];
    int ra = rnd(0, 4), rb = rnd(0, 4);
    fr__shape full = shp(4, rnd(1, 3), rnd(1, 5), rnd(1, 5), rnd(1, 9));
    fr__shape a = {ra, {0}}, b = {rb, {0}};
    for (int i = 0; i < ra; i++) a.d[i] = rnd(0, 2) ? full.d[4 - ra + i] : 1;
    for (int i = 0; i < rb; i++) b.d[i] = rnd(0, 2) ? full.d[4 - rb + i] : 1;
    fr__shape xs[2] = {a, b}, xb[2] = {a, b};
    if (ra > 0 && rb > 0 && a.d[0] == 1) xb[0].d[0] = 1; /* keep second plan simple */
    fr__graph g;
    fr__graph_init(&g, "test", "test");
    bool b_const = rnd(0, 2) == 0;
    int in[2] = {add_in(&g, &a), b_const ? add_rand_const(&g, &b, 0.5f) : add_in(&g, &b)};
    add_node(&g, o, in, 2);
    char what[64];
    snprintf(what, sizeof what, "%s #%d ranks %d,%d", fr__op_name(o), it, ra, rb);
    run_case(&g, xs, xb, true, 0.5f, what);
    fr__graph_free(&g);
  }
}

/* Setup with inputs that contradict the packed weights fails cleanly. */
TEST(setup_rejects_wrong_channels) {
  fr__graph g;
  fr__graph_init(&g, "test", "test");
  fr__shape dx = shp(4, 1, -1, -1, -1), ws = shp(4, 4, 3, 3, 3);
  int in[2] = {add_in(&g, &dx), add_rand_const(&g, &ws, 0)};
  int ni = add_node(&g, FR__OP_CONV2D, in, 2);
  fr__conv_attrs *a = &g.nodes[ni].a.conv;
  a->kh = a->kw = 3, a->stride_h = a->stride_w = 1, a->dil_h = a->dil_w = 1, a->groups = 1;
  a->out_min = -INFINITY, a->out_max = INFINITY;
  fr__backend_op *op = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr__backend_create(&g, &g.nodes[ni], &op, &err), FR_OK);
  CHECK(op != NULL);
  if (op) {
    float x[5 * 5 * 5 + 16] = {0}, y[3 * 3 * 4 + 16];
    fr__tensor tin[2] = {{FR__F32, shp(4, 1, 5, 5, 5), x}, {FR__F32, ws, g.values[in[1]].data}};
    fr__tensor tout[1] = {{FR__F32, shp(4, 1, 3, 3, 4), y}};
    CHECK_STATUS(fr__backend_setup(op, &g.nodes[ni], tin, tout, NULL, &err), FR_ERR_SHAPE);
    CHECK(strstr(err.msg, "channels") != NULL);
    fr__backend_destroy(op);
  }
  fr__graph_free(&g);
}

/* Non-constant weights, integer tensors and unknown ops stay with the reference. */
TEST(declines) {
  fr__graph g;
  fr__graph_init(&g, "test", "test");
  fr__shape dx = shp(4, 1, 4, 4, 3), ws = shp(4, 2, 1, 1, 3);
  int in[2] = {add_in(&g, &dx), add_in(&g, &ws)};
  int ni = add_node(&g, FR__OP_CONV2D, in, 2);
  fr__backend_op *op = NULL;
  fr_error err = {{0}};
  CHECK_STATUS(fr__backend_create(&g, &g.nodes[ni], &op, &err), FR_OK);
  CHECK(op == NULL);
  int in2[1] = {in[0]};
  ni = add_node(&g, FR__OP_TANH, in2, 1);
  CHECK_STATUS(fr__backend_create(&g, &g.nodes[ni], &op, &err), FR_OK);
  CHECK(op == NULL);
  fr__graph_free(&g);
}

static void setup_all(void) {
  fr_error err = {{0}};
  const char *sd = getenv("FR_TEST_SEED"); /* reproduce / explore other random cases */
  if (sd && *sd) seed = (unsigned)strtoul(sd, NULL, 10);
  CHECK_MSG(fr__backend_init(&err) == FR_OK, "%s", err.msg);
  pool2 = pthreadpool_create(2);
}

TEST(init) { setup_all(); }

TEST(summary) {
  printf("%d cases, %d taken by the backend, %d plans compared\n", n_cases, n_taken, n_plans);
  pthreadpool_destroy(pool2);
  CHECK(n_plans > 200);
}

RUN_TESTS(T(init), T(conv2d), T(depthwise3x3), T(fully_connected), T(maxpool2d), T(avgpool2d),
          T(global_average_pool), T(prelu), T(prelu_rewrite_neg_form), T(unary), T(binary), T(setup_rejects_wrong_channels),
          T(declines), T(summary))
