/*
 * oneDNN convolutions (see dnnl_backend.h for the rule and the measurements).
 */
#include "nn/dnnl_backend.h"

#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

struct fr__dnnl_conv {
  dnnl_stream_t strm;
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bia, dst, scratch;
  float *zero_bias; /* when the node has none */
  /* bf16 from an f32 input: x (cvt_src, bound per run) -> src (own buffer) */
  dnnl_primitive_t cvt;
  dnnl_memory_t cvt_src;
  char impl[64];
};

/* One CPU engine for the process (engines are thread-safe). */
static pthread_once_t dn_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t dn_engine;

static void dn_init_once(void) {
  if (dnnl_engine_create(&dn_engine, dnnl_cpu, 0) != dnnl_success) dn_engine = NULL;
}

static pthread_once_t dn_env_once = PTHREAD_ONCE_INIT;
static bool dn_disabled;

static void dn_env_init(void) {
  const char *e = getenv("FR_DNNL");
  dn_disabled = e && strcmp(e, "off") == 0;
}

bool fr__dnnl_conv_rule(const fr__dnnl_conv_params *p, int threads) {
  if (threads != 1 || p->dh != 1 || p->dw != 1) return false;
  if (p->groups == 1) return p->cout >= 32;
  return p->groups == p->cin && p->cout == p->cin && p->cin >= 64; /* depthwise, multiplier 1 */
}

static pthread_once_t dn_isa_once = PTHREAD_ONCE_INIT;
static bool dn_bf16;

static void dn_isa_init(void) {
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  dn_bf16 = ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
            (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

bool fr__dnnl_bf16_native(void) {
  pthread_once(&dn_isa_once, dn_isa_init);
  return dn_bf16;
}

bool fr__dnnl_conv_wanted(const fr__dnnl_conv_params *p, int threads) {
  pthread_once(&dn_env_once, dn_env_init);
  return !dn_disabled && fr__dnnl_conv_rule(p, threads);
}

/* Runs oneDNN calls on this thread only: OpenMP's thread count for this
 * thread is 1 between dn_enter and dn_leave. */
static int dn_enter(void) {
  int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  return prev;
}

static void dn_leave(int prev) { omp_set_num_threads(prev); }

static fr_status dn_status(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return FR_OK;
    case dnnl_out_of_memory: return FR_ERR_NOMEM;
    case dnnl_unimplemented:
    case dnnl_invalid_arguments: return FR_ERR_UNSUPPORTED;
    default: return FR_ERR_BACKEND;
  }
}

void fr__dnnl_conv_destroy(fr__dnnl_conv *c) {
  if (!c) return;
  if (c->prim) dnnl_primitive_destroy(c->prim);
  if (c->cvt) dnnl_primitive_destroy(c->cvt);
  if (c->cvt_src) dnnl_memory_destroy(c->cvt_src);
  if (c->src) dnnl_memory_destroy(c->src);
  if (c->wei) dnnl_memory_destroy(c->wei);
  if (c->bia) dnnl_memory_destroy(c->bia);
  if (c->dst) dnnl_memory_destroy(c->dst);
  if (c->scratch) dnnl_memory_destroy(c->scratch);
  if (c->strm) dnnl_stream_destroy(c->strm);
  free(c->zero_bias);
  free(c);
}

#define DN_TRY(call)                 \
  do {                               \
    dnnl_status_t s_ = (call);       \
    if (s_ != dnnl_success) {        \
      st = dn_status(s_);            \
      goto done;                     \
    }                                \
  } while (0)

static bool dn_params_ok(const fr__dnnl_conv_params *p) {
  if (p->n < 1 || p->h < 1 || p->w < 1 || p->cin < 1 || p->cout < 1 || p->oh < 1 || p->ow < 1)
    return false;
  if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->dh < 1 || p->dw < 1 ||
      p->groups < 1 || p->cin % p->groups || p->cout % p->groups)
    return false;
  if (p->pt < 0 || p->pl < 0 || p->pb < 0 || p->pr < 0 || !p->weights) return false;
  if (p->lowp < 0 || p->lowp > 1 || (!p->lowp && (p->src_bf16 || p->dst_bf16))) return false;
  return !isnan(p->lo) && !isnan(p->hi) && p->lo < p->hi;
}

fr_status fr__dnnl_conv_create(const fr__dnnl_conv_params *p, fr__dnnl_conv **out) {
  *out = NULL;
  if (!dn_params_ok(p)) return FR_ERR_UNSUPPORTED;
  pthread_once(&dn_once, dn_init_once);
  if (!dn_engine) return FR_ERR_BACKEND;
  fr__dnnl_conv *c = calloc(1, sizeof *c);
  if (!c) return FR_ERR_NOMEM;
  fr_status st = FR_OK;
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_t rp = NULL;
  dnnl_memory_t wuser = NULL;
  int prev = dn_enter();

  dnnl_memory_desc_t smd, dmd, bmd, wmd_any, wmd_user, smd_f32;
  dnnl_dims_t sdims = {p->n, p->cin, p->h, p->w}, ddims = {p->n, p->cout, p->oh, p->ow};
  dnnl_dims_t bdims = {p->cout};
  const dnnl_data_type_t ct = p->lowp ? dnnl_bf16 : dnnl_f32; /* src / weights */
  DN_TRY(dnnl_memory_desc_init_by_tag(&smd, 4, sdims, ct, dnnl_nhwc));
  DN_TRY(dnnl_memory_desc_init_by_tag(&smd_f32, 4, sdims, dnnl_f32, dnnl_nhwc));
  DN_TRY(dnnl_memory_desc_init_by_tag(&dmd, 4, ddims, p->dst_bf16 ? dnnl_bf16 : dnnl_f32,
                                      dnnl_nhwc));
  DN_TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_x));
  if (p->groups == 1) {
    dnnl_dims_t wd = {p->cout, p->cin, p->kh, p->kw};
    DN_TRY(dnnl_memory_desc_init_by_tag(&wmd_user, 4, wd, dnnl_f32, dnnl_ohwi));
    DN_TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 4, wd, ct, dnnl_format_tag_any));
  } else {
    dnnl_dims_t wd = {p->groups, p->cout / p->groups, p->cin / p->groups, p->kh, p->kw};
    DN_TRY(dnnl_memory_desc_init_by_tag(&wmd_user, 5, wd, dnnl_f32, dnnl_gohwi));
    DN_TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 5, wd, ct, dnnl_format_tag_any));
  }
  dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1};
  dnnl_dims_t padl = {p->pt, p->pl}, padr = {p->pb, p->pr};
  dnnl_convolution_desc_t cd;
  DN_TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                    dnnl_convolution_direct, &smd, &wmd_any, &bmd,
                                                    &dmd, strides, dil, padl, padr));
  DN_TRY(dnnl_primitive_attr_create(&attr));
  DN_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
  if (p->lo > -INFINITY || p->hi < INFINITY) {
    DN_TRY(dnnl_post_ops_create(&po));
    if (p->lo == 0.0f && p->hi == INFINITY)
      DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    else /* clip_v2: lo < x <= hi passes x; the bounds themselves are exact */
      DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2,
                                          fmaxf(p->lo, -FLT_MAX), fminf(p->hi, FLT_MAX)));
    DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po));
  }
  DN_TRY(dnnl_primitive_desc_create(&pd, &cd, attr, dn_engine, NULL));
  /* src / dst must stay plain NHWC: we bind our buffers directly */
  if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &smd) ||
      !dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &dmd)) {
    st = FR_ERR_UNSUPPORTED;
    goto done;
  }
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
    snprintf(c->impl, sizeof c->impl, "%s", impl);
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *spmd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  DN_TRY(dnnl_stream_create(&c->strm, dn_engine, dnnl_stream_default_flags));
  DN_TRY(dnnl_primitive_create(&c->prim, pd));
  if (p->lowp && !p->src_bf16) { /* f32 input: converted into our own bf16 buffer per run */
    DN_TRY(dnnl_memory_create(&c->src, &smd, dn_engine, DNNL_MEMORY_ALLOCATE));
    DN_TRY(dnnl_memory_create(&c->cvt_src, &smd_f32, dn_engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_t cpd = NULL;
    DN_TRY(dnnl_reorder_primitive_desc_create(&cpd, &smd_f32, dn_engine, &smd, dn_engine, NULL));
    dnnl_status_t cs = dnnl_primitive_create(&c->cvt, cpd);
    dnnl_primitive_desc_destroy(cpd);
    DN_TRY(cs);
  } else {
    DN_TRY(dnnl_memory_create(&c->src, &smd, dn_engine, DNNL_MEMORY_NONE));
  }
  DN_TRY(dnnl_memory_create(&c->dst, &dmd, dn_engine, DNNL_MEMORY_NONE));
  DN_TRY(dnnl_memory_create(&c->bia, &bmd, dn_engine, DNNL_MEMORY_ALLOCATE));
  DN_TRY(dnnl_memory_create(&c->wei, wmd, dn_engine, DNNL_MEMORY_ALLOCATE));
  if (spmd && dnnl_memory_desc_get_size(spmd) > 0)
    DN_TRY(dnnl_memory_create(&c->scratch, spmd, dn_engine, DNNL_MEMORY_ALLOCATE));
  /* bias: copied into oneDNN's own buffer */
  void *bh = NULL;
  DN_TRY(dnnl_memory_get_data_handle(c->bia, &bh));
  if (p->bias) memcpy(bh, p->bias, (size_t)p->cout * sizeof(float));
  else memset(bh, 0, (size_t)p->cout * sizeof(float));
  /* weights: reordered once from our OHWI into the primitive's layout */
  DN_TRY(dnnl_memory_create(&wuser, &wmd_user, dn_engine, (void *)p->weights));
  DN_TRY(dnnl_reorder_primitive_desc_create(&rpd, &wmd_user, dn_engine, wmd, dn_engine, NULL));
  DN_TRY(dnnl_primitive_create(&rp, rpd));
  dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, wuser}, {DNNL_ARG_TO, c->wei}};
  DN_TRY(dnnl_primitive_execute(rp, c->strm, 2, ra));
  DN_TRY(dnnl_stream_wait(c->strm));
done:
  if (rp) dnnl_primitive_destroy(rp);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (wuser) dnnl_memory_destroy(wuser);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  dn_leave(prev);
  if (st != FR_OK) {
    fr__dnnl_conv_destroy(c);
    return st;
  }
  *out = c;
  return FR_OK;
}

const char *fr__dnnl_conv_impl(const fr__dnnl_conv *c) { return c->impl; }

fr_status fr__dnnl_conv_run(fr__dnnl_conv *c, const void *x, void *y) {
  fr_status st = FR_OK;
  int prev = dn_enter();
#if defined(__x86_64__) || defined(__i386__)
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ, as the XNNPACK path */
#endif
  if (c->cvt) {
    DN_TRY(dnnl_memory_set_data_handle(c->cvt_src, (void *)x));
    dnnl_exec_arg_t ca[2] = {{DNNL_ARG_FROM, c->cvt_src}, {DNNL_ARG_TO, c->src}};
    DN_TRY(dnnl_primitive_execute(c->cvt, c->strm, 2, ca));
  } else {
    DN_TRY(dnnl_memory_set_data_handle(c->src, (void *)x));
  }
  DN_TRY(dnnl_memory_set_data_handle(c->dst, y));
  dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, c->src},
                          {DNNL_ARG_WEIGHTS, c->wei},
                          {DNNL_ARG_BIAS, c->bia},
                          {DNNL_ARG_DST, c->dst},
                          {DNNL_ARG_SCRATCHPAD, c->scratch}};
  DN_TRY(dnnl_primitive_execute(c->prim, c->strm, c->scratch ? 5 : 4, a));
  DN_TRY(dnnl_stream_wait(c->strm));
done:
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(csr);
#endif
  dn_leave(prev);
  return st;
}
