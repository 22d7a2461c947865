/*
 * bench/conv: every distinct CONV2D of the big models (at their natural input
 * sizes) on our backend (XNNPACK, or our own depthwise 3x3 kernel where the
 * backend uses it: exactly what sessions run) and on oneDNN (Debian
 * libdnnl 2.6), at 1 and 2 threads, interleaved run by run, medians of --runs
 * (>= 30) after warm-up. This is the measurement behind the decision of which
 * convolutions (if any) go to oneDNN; see docs/benchmarks.md.
 *
 * oneDNN setup: CPU engine and stream, src/dst in NHWC (`nhwc`, our layout, no
 * reorder per run), weights in the format the primitive asks for (`any`),
 * reordered once at creation, bias, and the node's clamp as a fused eltwise
 * post-op (relu or clip). Debian builds libdnnl with OpenMP (DNNL_CPU_RUNTIME
 * = OMP, links libgomp): its thread count is omp_set_num_threads() on the
 * calling thread, set before creating and before running each primitive.
 *
 * The "xnn" column is the backend with oneDNN switched off (FR_DNNL=off), the
 * "dnnl" column oneDNN set up here; "rule" says whether the backend's rule
 * (fr__dnnl_conv_rule, src/nn/dnnl_backend.h) sends the shape to oneDNN at
 * that thread count.
 *
 * bf16 columns (1 thread, CPUs with AVX512_BF16; src/nn/lowp.c): the same
 * convolution through fr__dnnl_conv with lowp = 1, "bf16 f32io" with f32 input
 * and output (the input converted to bf16 inside every run, as for a conv fed
 * by a non-conv op) and "bf16 io" with bf16 input and output (a conv between
 * two convs: what FR_PRECISION_BF16 runs inside conv chains).
 *
 * usage: bench_conv [--runs N] [--threads 1|2|12] [--models DIR] [FILTER...]
 * FILTER matches the model name. Prints Markdown tables. Never asserts; a
 * difference between the two outputs larger than the golden tolerance is
 * flagged in the table ("DIFF").
 */
#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facerec/nn.h"
#include "nn/backend.h"
#include "nn/dnnl_backend.h"
#include "nn/exec.h"

typedef struct bmodel {
  const char *name;
  const char *path; /* relative to the models dir */
  int64_t shape[4]; /* model layout */
  int dynamic_hw;   /* run at a size other than the declared one */
} bmodel;

static const bmodel models[] = {
    {"fr_feature", "faceplugin/fr_feature.onnx", {1, 3, 112, 112}, 0},
    {"fr_detect", "faceplugin/fr_detect.onnx", {1, 3, 240, 320}, 0},
    {"fr_detect640", "faceplugin/fr_detect.onnx", {1, 3, 512, 640}, 1}, /* pyramid level 0 */
    {"fr_expression", "faceplugin/fr_expression.onnx", {1, 3, 224, 224}, 0},
    {"FaceAntiSpoofing", "expo/FaceAntiSpoofing.tflite", {1, 256, 256, 3}, 0},
    {"faceres", "human/faceres.json", {1, 224, 224, 3}, 0},
};

/* One distinct convolution (NHWC, resolved padding). */
typedef struct cshape {
  int64_t n, h, w, cin, cout, oh, ow;
  int kh, kw, sh, sw, dh, dw, groups, pt, pl, pb, pr;
  float lo, hi;
  int count;          /* occurrences over the selected models */
  char where[64];     /* models it occurs in */
} cshape;

#define MAX_SHAPES 512
static cshape shapes[MAX_SHAPES];
static int n_shapes;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int norm1(int v) { return v == 0 ? 1 : v; }

static bool same_shape(const cshape *a, const cshape *b) {
  return a->n == b->n && a->h == b->h && a->w == b->w && a->cin == b->cin && a->cout == b->cout &&
         a->kh == b->kh && a->kw == b->kw && a->sh == b->sh && a->sw == b->sw && a->dh == b->dh &&
         a->dw == b->dw && a->groups == b->groups && a->pt == b->pt && a->pl == b->pl &&
         a->pb == b->pb && a->pr == b->pr && a->lo == b->lo && a->hi == b->hi;
}

static void add_shape(const cshape *c, const char *model) {
  for (int i = 0; i < n_shapes; i++)
    if (same_shape(&shapes[i], c)) {
      shapes[i].count++;
      if (!strstr(shapes[i].where, model) && strlen(shapes[i].where) + strlen(model) + 2 <
                                                 sizeof shapes[i].where) {
        strcat(shapes[i].where, ",");
        strcat(shapes[i].where, model);
      }
      return;
    }
  if (n_shapes == MAX_SHAPES) return;
  shapes[n_shapes] = *c;
  shapes[n_shapes].count = 1;
  snprintf(shapes[n_shapes].where, sizeof shapes[n_shapes].where, "%s", model);
  n_shapes++;
}

/* The clamp that runs with conv node ci: its own (fused at load), or that of
 * a RELU / CLIP that is the only consumer of its output (fused per session). */
static void node_clamp(const fr__graph *g, int ci, float *lo, float *hi) {
  const fr__node *n = &g->nodes[ci];
  *lo = n->a.conv.out_min, *hi = n->a.conv.out_max;
  int consumer = -1, uses = 0;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] == n->out[0]) consumer = i, uses++;
  for (int k = 0; k < g->n_outputs; k++)
    if (g->outputs[k] == n->out[0]) uses += 2;
  if (uses != 1) return;
  const fr__node *c = &g->nodes[consumer];
  if (c->op == FR__OP_RELU) *lo = fmaxf(*lo, 0.0f);
  if (c->op == FR__OP_CLIP) *lo = fmaxf(*lo, c->a.clip.min), *hi = fminf(*hi, c->a.clip.max);
}

/* Loads the model, keeps every conv input, runs once at the model's natural
 * size and records each conv's resolved NHWC shapes. */
static int collect(const char *mdir, const bmodel *bm) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", mdir, bm->path);
  fr_model *m = NULL;
  fr_session *s = NULL;
  fr_error err = {{0}};
  float *in = NULL;
  int ret = -1;
  fr_model_options mo = {.dynamic_hw = bm->dynamic_hw};
  if (fr_model_load(path, &mo, &m, &err) || fr_session_create(m, NULL, &s, &err)) goto out;
  const fr__graph *g = &m->g;
  if (bm->dynamic_hw) { /* fr_detect at another size: cut at the raw heads, as src/face does */
    const char *heads[2] = {"461", "462"};
    if (fr_session_select(s, heads, 2, &err)) goto out;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const fr__node *n = &g->nodes[i];
    if (n->op != FR__OP_CONV2D) continue;
    const fr__value *x = &g->values[n->in[0]];
    if (x->producer >= 0 && fr_session_keep(s, x->name, &err)) goto out;
  }
  size_t ne = (size_t)(bm->shape[0] * bm->shape[1] * bm->shape[2] * bm->shape[3]);
  in = calloc(ne, sizeof(float));
  if (!in || fr_session_set_input(s, 0, in, bm->shape, 4, &err) || fr_session_run(s, &err))
    goto out;
  for (int i = 0; i < g->n_nodes; i++) {
    const fr__node *n = &g->nodes[i];
    if (n->op != FR__OP_CONV2D) continue;
    const fr__value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
    fr_tensor_view v;
    if (fr_session_get(s, x->name, &v, &err)) goto out;
    if (v.rank != 4 || w->shape.rank != 4) continue;
    int64_t p[4];
    for (int k = 0; k < 4; k++) p[x->model_rank == 4 ? x->model_perm[k] : k] = v.shape[k];
    const fr__conv_attrs *a = &n->a.conv;
    cshape c = {0};
    c.n = p[0], c.h = p[1], c.w = p[2], c.cin = p[3];
    c.cout = w->shape.d[0], c.kh = (int)w->shape.d[1], c.kw = (int)w->shape.d[2];
    c.sh = norm1(a->stride_h), c.sw = norm1(a->stride_w);
    c.dh = norm1(a->dil_h), c.dw = norm1(a->dil_w), c.groups = norm1(a->groups);
    fr__resolve_pads(a->pad_mode, a->pad_t, a->pad_l, a->pad_b, a->pad_r, c.kh, c.kw, c.sh, c.sw,
                     c.dh, c.dw, c.h, c.w, &c.pt, &c.pl, &c.pb, &c.pr);
    c.oh = (c.h + c.pt + c.pb - ((int64_t)(c.kh - 1) * c.dh + 1)) / c.sh + 1;
    c.ow = (c.w + c.pl + c.pr - ((int64_t)(c.kw - 1) * c.dw + 1)) / c.sw + 1;
    node_clamp(g, i, &c.lo, &c.hi);
    add_shape(&c, bm->name);
  }
  ret = 0;
out:
  if (ret) fprintf(stderr, "bench_conv: %s: %s\n", bm->name, err.msg);
  free(in);
  fr_session_free(s);
  fr_model_free(m);
  return ret;
}

static double mflop(const cshape *c) {
  return 2.0 * (double)(c->n * c->oh * c->ow * c->cout) * (double)(c->cin / c->groups) * c->kh *
         c->kw / 1e6;
}

static const char *kind_str(const cshape *c) {
  if (c->groups == c->cin && c->groups > 1) return "dw";
  if (c->groups > 1) return "grouped";
  if (c->kh == 1 && c->kw == 1) return "1x1";
  return "dense";
}

/* ------------------------------------------------------------ our backend */

typedef struct xrun {
  fr__graph g;
  fr__backend_op *op;
} xrun;

static unsigned seed = 7;
static float frand(void) {
  seed = seed * 1103515245u + 12345u;
  return (float)((seed >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static int xnn_make(xrun *r, const cshape *c, const float *wt, const float *bias, const float *x,
                    float *y, pthreadpool_t pool) {
  fr_error err = {{0}};
  fr__graph_init(&r->g, "bench", "bench");
  int64_t xd[4] = {c->n, c->h, c->w, c->cin}, wd[4] = {c->cout, c->kh, c->kw, c->cin / c->groups};
  int64_t bd[1] = {c->cout}, yd[4] = {c->n, c->oh, c->ow, c->cout};
  fr__shape xs = fr__shape_make(4, xd), ws = fr__shape_make(4, wd), bs = fr__shape_make(1, bd);
  fr__shape ys = fr__shape_make(4, yd);
  int in[3], out, ni;
  if (fr__graph_add_value(&r->g, "x", FR__F32, &xs, &in[0], &err) ||
      fr__graph_add_const(&r->g, "w", FR__F32, &ws, wt, &in[1], &err) ||
      fr__graph_add_const(&r->g, "b", FR__F32, &bs, bias, &in[2], &err) ||
      fr__graph_add_value(&r->g, "y", FR__F32, &ys, &out, &err) ||
      fr__graph_add_node(&r->g, FR__OP_CONV2D, "conv", in, 3, &out, 1, &ni, &err))
    goto fail;
  fr__conv_attrs *a = &r->g.nodes[ni].a.conv;
  a->kh = c->kh, a->kw = c->kw, a->stride_h = c->sh, a->stride_w = c->sw;
  a->dil_h = c->dh, a->dil_w = c->dw, a->groups = c->groups;
  a->pad_mode = FR__PAD_EXPLICIT;
  a->pad_t = c->pt, a->pad_l = c->pl, a->pad_b = c->pb, a->pad_r = c->pr;
  a->out_min = c->lo, a->out_max = c->hi;
  if (fr__backend_create(&r->g, &r->g.nodes[ni], &r->op, &err)) goto fail;
  if (!r->op) {
    fprintf(stderr, "bench_conv: backend declined the conv\n");
    return -1;
  }
  fr__tensor ti[3] = {{.dtype = FR__F32, .shape = xs, .data = (void *)x},
                      {.dtype = FR__F32, .shape = ws, .data = r->g.values[in[1]].data},
                      {.dtype = FR__F32, .shape = bs, .data = r->g.values[in[2]].data}};
  fr__tensor to = {.dtype = FR__F32, .shape = ys, .data = y};
  if (fr__backend_setup(r->op, &r->g.nodes[ni], ti, &to, pool, &err)) goto fail;
  return 0;
fail:
  fprintf(stderr, "bench_conv: backend: %s\n", err.msg);
  return -1;
}

static void xnn_free(xrun *r) {
  fr__backend_destroy(r->op);
  fr__graph_free(&r->g);
}

/* ------------------------------------------------------------ oneDNN */

typedef struct drun {
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bia, dst;
  char impl[48];
} drun;

#define DN(call)                                                                   \
  do {                                                                             \
    dnnl_status_t s_ = (call);                                                     \
    if (s_ != dnnl_success) {                                                      \
      fprintf(stderr, "bench_conv: %s failed (%d)\n", #call, (int)s_);             \
      goto fail;                                                                   \
    }                                                                              \
  } while (0)

static int dnnl_make(drun *d, const cshape *c, const float *wt, const float *bias,
                     const float *x, float *y, int threads) {
  memset(d, 0, sizeof *d);
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_t rp = NULL;
  dnnl_memory_t wuser = NULL;
  int ret = -1;
  omp_set_num_threads(threads);
  DN(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
  DN(dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags));
  dnnl_memory_desc_t smd, dmd, bmd, wmd_any, wmd_user;
  dnnl_dims_t sdims = {c->n, c->cin, c->h, c->w}, ddims = {c->n, c->cout, c->oh, c->ow};
  dnnl_dims_t bdims = {c->cout};
  DN(dnnl_memory_desc_init_by_tag(&smd, 4, sdims, dnnl_f32, dnnl_nhwc));
  DN(dnnl_memory_desc_init_by_tag(&dmd, 4, ddims, dnnl_f32, dnnl_nhwc));
  DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_x));
  if (c->groups == 1) {
    dnnl_dims_t wd = {c->cout, c->cin, c->kh, c->kw};
    DN(dnnl_memory_desc_init_by_tag(&wmd_user, 4, wd, dnnl_f32, dnnl_ohwi));
    DN(dnnl_memory_desc_init_by_tag(&wmd_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
  } else {
    dnnl_dims_t wd = {c->groups, c->cout / c->groups, c->cin / c->groups, c->kh, c->kw};
    DN(dnnl_memory_desc_init_by_tag(&wmd_user, 5, wd, dnnl_f32, dnnl_gohwi));
    DN(dnnl_memory_desc_init_by_tag(&wmd_any, 5, wd, dnnl_f32, dnnl_format_tag_any));
  }
  dnnl_dims_t strides = {c->sh, c->sw}, dil = {c->dh - 1, c->dw - 1};
  dnnl_dims_t padl = {c->pt, c->pl}, padr = {c->pb, c->pr};
  dnnl_convolution_desc_t cd;
  DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                dnnl_convolution_direct, &smd, &wmd_any, &bmd,
                                                &dmd, strides, dil, padl, padr));
  DN(dnnl_primitive_attr_create(&attr));
  if (c->lo > -INFINITY || c->hi < INFINITY) {
    DN(dnnl_post_ops_create(&po));
    if (c->lo == 0 && c->hi == INFINITY)
      DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    else
      DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, fmaxf(c->lo, -FLT_MAX),
                                      fminf(c->hi, FLT_MAX)));
    DN(dnnl_primitive_attr_set_post_ops(attr, po));
  }
  DN(dnnl_primitive_desc_create(&pd, &cd, attr, d->eng, NULL));
  const char *impl = NULL;
  DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  snprintf(d->impl, sizeof d->impl, "%s", impl ? impl : "?");
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  DN(dnnl_primitive_create(&d->prim, pd));
  DN(dnnl_memory_create(&d->src, &smd, d->eng, (void *)x));
  DN(dnnl_memory_create(&d->dst, &dmd, d->eng, y));
  DN(dnnl_memory_create(&d->bia, &bmd, d->eng, (void *)bias));
  DN(dnnl_memory_create(&d->wei, wmd, d->eng, DNNL_MEMORY_ALLOCATE));
  DN(dnnl_memory_create(&wuser, &wmd_user, d->eng, (void *)wt));
  DN(dnnl_reorder_primitive_desc_create(&rpd, &wmd_user, d->eng, wmd, d->eng, NULL));
  DN(dnnl_primitive_create(&rp, rpd));
  dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, wuser}, {DNNL_ARG_TO, d->wei}};
  DN(dnnl_primitive_execute(rp, d->strm, 2, ra));
  DN(dnnl_stream_wait(d->strm));
  ret = 0;
fail:
  if (rp) dnnl_primitive_destroy(rp);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (wuser) dnnl_memory_destroy(wuser);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return ret;
}

static int dnnl_exec(drun *d, int threads) {
  omp_set_num_threads(threads);
  dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, d->src},
                          {DNNL_ARG_WEIGHTS, d->wei},
                          {DNNL_ARG_BIAS, d->bia},
                          {DNNL_ARG_DST, d->dst}};
  if (dnnl_primitive_execute(d->prim, d->strm, 4, a) != dnnl_success) return -1;
  return dnnl_stream_wait(d->strm) == dnnl_success ? 0 : -1;
}

static void dnnl_free(drun *d) {
  if (d->prim) dnnl_primitive_destroy(d->prim);
  if (d->src) dnnl_memory_destroy(d->src);
  if (d->wei) dnnl_memory_destroy(d->wei);
  if (d->bia) dnnl_memory_destroy(d->bia);
  if (d->dst) dnnl_memory_destroy(d->dst);
  if (d->strm) dnnl_stream_destroy(d->strm);
  if (d->eng) dnnl_engine_destroy(d->eng);
}

/* ------------------------------------------------------------ timing */

typedef struct result {
  double xms, dms;
  double bms, bbms; /* bf16 with f32 in/out, bf16 in/out; 0 = not run */
  bool diff;
  char impl[48];
} result;

static int time_shape(const cshape *c, int threads, int runs, result *res) {
  int64_t nx = c->n * c->h * c->w * c->cin, ny = c->n * c->oh * c->ow * c->cout;
  int64_t nw = c->cout * c->kh * c->kw * (c->cin / c->groups);
  float *x = malloc((size_t)nx * sizeof(float) + 64), *w = malloc((size_t)nw * sizeof(float));
  float *b = malloc((size_t)c->cout * sizeof(float));
  float *y1 = malloc((size_t)ny * sizeof(float) + 64), *y2 = malloc((size_t)ny * sizeof(float) + 64);
  double *tx = malloc(sizeof(double) * (size_t)runs), *td = malloc(sizeof(double) * (size_t)runs);
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  xrun xr = {0};
  drun dr = {0};
  fr__dnnl_conv *b1 = NULL, *b2 = NULL;
  uint16_t *xh = malloc((size_t)nx * 2 + 64), *yh = malloc((size_t)ny * 2 + 64);
  double *tb1 = malloc(sizeof(double) * (size_t)runs), *tb2 = malloc(sizeof(double) * (size_t)runs);
  int ret = -1;
  res->bms = res->bbms = 0;
  if (!x || !w || !b || !y1 || !y2 || !tx || !td || !xh || !yh || !tb1 || !tb2 ||
      (threads > 1 && !pool))
    goto out;
  for (int64_t i = 0; i < nx; i++) x[i] = frand();
  float ws = 1.0f / sqrtf((float)(nw / c->cout));
  for (int64_t i = 0; i < nw; i++) w[i] = frand() * ws;
  for (int64_t i = 0; i < c->cout; i++) b[i] = frand() * 0.1f;
  if (xnn_make(&xr, c, w, b, x, y1, pool) || dnnl_make(&dr, c, w, b, x, y2, threads)) goto out;
  snprintf(res->impl, sizeof res->impl, "%s", dr.impl);
  if (threads == 1 && fr__dnnl_bf16_native()) {
    fr__dnnl_conv_params p = {.n = c->n, .h = c->h, .w = c->w, .cin = c->cin, .cout = c->cout,
                              .oh = c->oh, .ow = c->ow, .kh = c->kh, .kw = c->kw, .sh = c->sh,
                              .sw = c->sw, .dh = c->dh, .dw = c->dw, .groups = c->groups,
                              .pt = c->pt, .pl = c->pl, .pb = c->pb, .pr = c->pr, .lo = c->lo,
                              .hi = c->hi, .weights = w, .bias = b, .lowp = 1};
    if (fr__dnnl_conv_create(&p, &b1) != FR_OK) b1 = NULL;
    p.src_bf16 = p.dst_bf16 = true;
    if (fr__dnnl_conv_create(&p, &b2) != FR_OK) b2 = NULL;
    for (int64_t i = 0; i < nx; i++) {
      uint32_t u;
      memcpy(&u, &x[i], 4);
      xh[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
  }
  fr_error err;
  for (int i = 0; i < 3; i++)
    if (fr__backend_run(xr.op, pool, &err) || dnnl_exec(&dr, threads)) goto out;
  /* same data, both outputs: the golden tolerance against each other */
  float mx = 0;
  for (int64_t i = 0; i < ny; i++) mx = fmaxf(mx, fabsf(y1[i]));
  res->diff = false;
  for (int64_t i = 0; i < ny; i++)
    if (!(fabsf(y1[i] - y2[i]) <= 1e-4f * mx + 1e-3f * fabsf(y1[i]))) res->diff = true;
  for (int r = 0; r < runs; r++) {
    /* alternate which goes first so neither always runs right after the other */
    for (int k = 0; k < 2; k++) {
      bool do_x = (k == 0) == (r % 2 == 0);
      double t0 = now_ms();
      if (do_x ? fr__backend_run(xr.op, pool, &err) != FR_OK : dnnl_exec(&dr, threads) != 0)
        goto out;
      double t = now_ms() - t0;
      if (do_x) tx[r] = t;
      else td[r] = t;
    }
    double t0 = now_ms();
    if (b1 && fr__dnnl_conv_run(b1, x, y2) != FR_OK) goto out;
    double t1 = now_ms();
    if (b2 && fr__dnnl_conv_run(b2, xh, yh) != FR_OK) goto out;
    tb1[r] = t1 - t0, tb2[r] = now_ms() - t1;
  }
  if (b1) {
    qsort(tb1, (size_t)runs, sizeof(double), cmp_d);
    res->bms = tb1[runs / 2];
  }
  if (b2) {
    qsort(tb2, (size_t)runs, sizeof(double), cmp_d);
    res->bbms = tb2[runs / 2];
  }
  qsort(tx, (size_t)runs, sizeof(double), cmp_d);
  qsort(td, (size_t)runs, sizeof(double), cmp_d);
  res->xms = tx[runs / 2];
  res->dms = td[runs / 2];
  ret = 0;
out:
  fr__dnnl_conv_destroy(b1);
  fr__dnnl_conv_destroy(b2);
  free(xh), free(yh), free(tb1), free(tb2);
  if (xr.op || xr.g.nodes) xnn_free(&xr);
  dnnl_free(&dr);
  if (pool) pthreadpool_destroy(pool);
  free(x), free(w), free(b), free(y1), free(y2), free(tx), free(td);
  return ret;
}

int main(int argc, char **argv) {
  int runs = 31, tsel = 12;
  const char *mdir = "models";
  const char *filters[16];
  int nf = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) tsel = atoi(argv[++i]);
    else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) mdir = argv[++i];
    else if (nf < 16) filters[nf++] = argv[i];
  }
  if (runs < 30) runs = 30;
  setenv("FR_DNNL", "off", 1); /* the backend column: our kernels only */
  fr_error err;
  if (fr__backend_init(&err)) {
    fprintf(stderr, "bench_conv: %s\n", err.msg);
    return 1;
  }
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    bool want = nf == 0;
    for (int f = 0; f < nf; f++) want |= strstr(models[i].name, filters[f]) != NULL;
    if (want) collect(mdir, &models[i]);
  }
  const dnnl_version_t *ver = dnnl_version();
  printf("oneDNN %d.%d.%d (cpu runtime %s), %d distinct convolutions, medians of %d runs\n\n",
         ver->major, ver->minor, ver->patch,
         ver->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", n_shapes, runs);
  for (int t = 1; t <= 2; t++) {
    if (!(tsel == 12 || tsel == t)) continue;
    printf("threads=%d\n\n| # | kind | in NHWC | out C | k | s | g | clamp | n | models | MFLOP "
           "| xnn ms | dnnl ms | dnnl/xnn | rule | bf16 f32io ms | bf16 io ms | bf16io/best f32 "
           "| oneDNN impl |\n"
           "|---|---|---|---:|---|---|---:|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:"
           "|---|\n",
           t);
    double sx = 0, sd = 0, sbest = 0, sb1 = 0, sb2 = 0;
    for (int i = 0; i < n_shapes; i++) {
      const cshape *c = &shapes[i];
      result r;
      if (time_shape(c, t, runs, &r)) {
        printf("| %d | failed |\n", i);
        continue;
      }
      sx += r.xms * c->count, sd += r.dms * c->count;
      fr__dnnl_conv_params p = {.n = c->n, .h = c->h, .w = c->w, .cin = c->cin,
                                .cout = c->cout, .oh = c->oh, .ow = c->ow, .kh = c->kh,
                                .kw = c->kw, .sh = c->sh, .sw = c->sw, .dh = c->dh, .dw = c->dw,
                                .groups = c->groups};
      bool rule = fr__dnnl_conv_rule(&p, t);
      double best = rule ? r.dms : r.xms; /* what the f32 session runs */
      sbest += best * c->count, sb1 += r.bms * c->count, sb2 += r.bbms * c->count;
      char clamp[32] = "-";
      if (c->lo == 0 && c->hi == INFINITY) snprintf(clamp, sizeof clamp, "relu");
      else if (c->lo > -INFINITY || c->hi < INFINITY) snprintf(clamp, sizeof clamp, "clip");
      printf("| %d | %s | %lldx%lldx%lldx%lld | %lld | %dx%d | %dx%d | %d | %s | %d | %s | %.2f | "
             "%.4f | %.4f | %.2f%s | %s | %.4f | %.4f | %.2f | %s |\n",
             i, kind_str(c), (long long)c->n, (long long)c->h, (long long)c->w, (long long)c->cin,
             (long long)c->cout, c->kh, c->kw, c->sh, c->sw, c->groups, clamp, c->count, c->where,
             mflop(c), r.xms, r.dms, r.dms / r.xms, r.diff ? " DIFF" : "", rule ? "dnnl" : "-",
             r.bms, r.bbms, r.bbms > 0 ? r.bbms / best : 0.0, r.impl);
      fflush(stdout);
    }
    printf("\nsum over all conv nodes (x occurrences): xnn %.3f ms, dnnl %.3f ms\n", sx, sd);
    if (t == 1)
      printf("f32 as sessions run it (rule) %.3f ms; bf16 f32io %.3f ms; bf16 io %.3f ms\n", sbest,
             sb1, sb2);
    printf("\n");
  }
  return 0;
}
