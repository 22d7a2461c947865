/*
 * oneDNN convolutions (see dnnl_backend.h for the rule and the measurements).
 */
#include "nn/dnnl_backend.h"

#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

/* Constant operands (reordered weights, bias) shared by every convolution
 * that needs the same bytes in the same layout, across sessions and threads:
 * identified by the caller's address, a hash of its contents and the source
 * and target memory descriptors; counted references, built once under
 * dn_cache_lock, destroyed with the last convolution using them. Read-only
 * after the build, so concurrent primitives may read them. */
typedef struct dn_shared {
  struct dn_shared *next;
  const void *data;           /* caller's f32 buffer (NULL: zeros) */
  uint64_t hash;              /* of its bytes */
  dnnl_memory_desc_t user, md;
  dnnl_memory_t mem;
  size_t bytes;
  long refs;
} dn_shared;

struct fr__dnnl_conv {
  dnnl_stream_t strm;
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst, scratch; /* handles bound per run */
  dn_shared *wei, *bia;
  /* a pooled scratch buffer (dn_buf_take) holds, per run, the bf16 copy of
   * an f32 input (cvt_bytes, first) then the primitive's scratchpad */
  size_t cvt_bytes, pad_bytes;
  /* bf16 from an f32 input: x (cvt_src, bound per run) -> src */
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

static pthread_mutex_t dn_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dn_shared *dn_cache;

/* FNV-1a over 8-byte words (then the tail): identifies contents, not a
 * cryptographic hash; the address is compared too. */
static uint64_t dn_hash(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 1469598103934665603ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = (h ^ w) * 1099511628211ull;
    h ^= h >> 29;
  }
  for (; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static void dn_shared_release(dn_shared *e) {
  if (!e) return;
  pthread_mutex_lock(&dn_cache_lock);
  bool last = --e->refs == 0;
  if (last)
    for (dn_shared **pp = &dn_cache; *pp; pp = &(*pp)->next)
      if (*pp == e) {
        *pp = e->next;
        break;
      }
  pthread_mutex_unlock(&dn_cache_lock);
  if (last) {
    dnnl_memory_destroy(e->mem);
    free(e);
  }
}

/* The shared memory holding data (f32, described by *user; NULL = zeros)
 * reordered into *md: found, or built with strm. */
static dnnl_status_t dn_shared_get(const void *data, const dnnl_memory_desc_t *user,
                                   const dnnl_memory_desc_t *md, dnnl_stream_t strm,
                                   dn_shared **out) {
  *out = NULL;
  size_t ubytes = dnnl_memory_desc_get_size(user);
  uint64_t h = data ? dn_hash(data, ubytes) : 0;
  pthread_mutex_lock(&dn_cache_lock);
  for (dn_shared *e = dn_cache; e; e = e->next)
    if (e->data == data && e->hash == h && dnnl_memory_desc_equal(&e->user, user) &&
        dnnl_memory_desc_equal(&e->md, md)) {
      e->refs++;
      *out = e;
      pthread_mutex_unlock(&dn_cache_lock);
      return dnnl_success;
    }
  /* built under the lock: each (data, layout) is reordered once */
  dnnl_status_t s = dnnl_out_of_memory;
  dn_shared *e = calloc(1, sizeof *e);
  void *zeros = data ? NULL : calloc(1, ubytes ? ubytes : 1);
  dnnl_memory_t umem = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t rp = NULL;
  if (!e || (!data && !zeros)) goto done;
  e->data = data;
  e->hash = h;
  e->user = *user;
  e->md = *md;
  e->bytes = dnnl_memory_desc_get_size(md);
  if ((s = dnnl_memory_create(&e->mem, md, dn_engine, DNNL_MEMORY_ALLOCATE)) != dnnl_success ||
      (s = dnnl_memory_create(&umem, user, dn_engine, data ? (void *)data : zeros)) !=
          dnnl_success ||
      (s = dnnl_reorder_primitive_desc_create(&rpd, user, dn_engine, md, dn_engine, NULL)) !=
          dnnl_success ||
      (s = dnnl_primitive_create(&rp, rpd)) != dnnl_success)
    goto done;
  dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, umem}, {DNNL_ARG_TO, e->mem}};
  if ((s = dnnl_primitive_execute(rp, strm, 2, ra)) != dnnl_success ||
      (s = dnnl_stream_wait(strm)) != dnnl_success)
    goto done;
  e->refs = 1;
  e->next = dn_cache;
  dn_cache = e;
  *out = e;
done:
  pthread_mutex_unlock(&dn_cache_lock);
  if (rp) dnnl_primitive_destroy(rp);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (umem) dnnl_memory_destroy(umem);
  free(zeros);
  if (!*out && e) {
    if (e->mem) dnnl_memory_destroy(e->mem);
    free(e);
  }
  return s;
}

void fr__dnnl_shared_stats(size_t *buffers, size_t *bytes) {
  size_t n = 0, b = 0;
  pthread_mutex_lock(&dn_cache_lock);
  for (const dn_shared *e = dn_cache; e; e = e->next) n++, b += e->bytes;
  pthread_mutex_unlock(&dn_cache_lock);
  if (buffers) *buffers = n;
  if (bytes) *bytes = b;
}

/* Scratch for runs (the primitive's scratchpad, the bf16 copy of an f32
 * input): a pool of buffers shared by all threads. A run takes one, grows it
 * if needed, and gives it back, so there are as many buffers as runs that
 * were ever concurrent (one per serving worker; a thread that only warmed
 * sessions up, or has finished, holds none), each as large as the largest
 * need seen. Kept for the process's lifetime. */
typedef struct dn_buf {
  struct dn_buf *next;
  unsigned char *p;
  size_t cap;
} dn_buf;

static pthread_mutex_t dn_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static dn_buf *dn_pool;

/* A buffer of at least `need` bytes (64-aligned), out of the pool; NULL when
 * out of memory. Give it back with dn_buf_give. */
static dn_buf *dn_buf_take(size_t need) {
  pthread_mutex_lock(&dn_pool_lock);
  dn_buf **fit = NULL, **big = NULL; /* the smallest that fits; the largest */
  for (dn_buf **pp = &dn_pool; *pp; pp = &(*pp)->next) {
    size_t c = (*pp)->cap;
    if (c >= need && (!fit || c < (*fit)->cap)) fit = pp;
    if (!big || c > (*big)->cap) big = pp;
  }
  dn_buf **best = fit ? fit : big;
  dn_buf *b = NULL;
  if (best) {
    b = *best;
    *best = b->next;
  }
  pthread_mutex_unlock(&dn_pool_lock);
  if (!b && !(b = calloc(1, sizeof *b))) return NULL;
  if (need > b->cap || !b->p) {
    size_t cap = (need + 63) & ~(size_t)63;
    unsigned char *p = aligned_alloc(64, cap ? cap : 64);
    if (!p) {
      free(b->p);
      free(b);
      return NULL;
    }
    free(b->p);
    b->p = p;
    b->cap = cap;
  }
  return b;
}

static void dn_buf_give(dn_buf *b) {
  pthread_mutex_lock(&dn_pool_lock);
  b->next = dn_pool;
  dn_pool = b;
  pthread_mutex_unlock(&dn_pool_lock);
}

void fr__dnnl_scratch_stats(size_t *buffers, size_t *bytes) {
  size_t n = 0, c = 0;
  pthread_mutex_lock(&dn_pool_lock);
  for (const dn_buf *b = dn_pool; b; b = b->next) n++, c += b->cap;
  pthread_mutex_unlock(&dn_pool_lock);
  if (buffers) *buffers = n;
  if (bytes) *bytes = c;
}

void fr__dnnl_conv_destroy(fr__dnnl_conv *c) {
  if (!c) return;
  if (c->prim) dnnl_primitive_destroy(c->prim);
  if (c->cvt) dnnl_primitive_destroy(c->cvt);
  if (c->cvt_src) dnnl_memory_destroy(c->cvt_src);
  if (c->src) dnnl_memory_destroy(c->src);
  dn_shared_release(c->wei);
  dn_shared_release(c->bia);
  if (c->dst) dnnl_memory_destroy(c->dst);
  if (c->scratch) dnnl_memory_destroy(c->scratch);
  if (c->strm) dnnl_stream_destroy(c->strm);
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

static fr_status dn_conv_create(const fr__dnnl_conv_params *p, fr__dnnl_conv **out) {
  *out = NULL;
  if (!dn_params_ok(p)) return FR_ERR_UNSUPPORTED;
  pthread_once(&dn_once, dn_init_once);
  if (!dn_engine) return FR_ERR_BACKEND;
  fr__dnnl_conv *c = calloc(1, sizeof *c);
  if (!c) return FR_ERR_NOMEM;
  fr_status st = FR_OK;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
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
  /* src: the caller's buffer, or (f32 input to a bf16 convolution) the
   * front of the thread's scratch, converted into per run */
  DN_TRY(dnnl_memory_create(&c->src, &smd, dn_engine, DNNL_MEMORY_NONE));
  if (p->lowp && !p->src_bf16) {
    c->cvt_bytes = (dnnl_memory_desc_get_size(&smd) + 63) & ~(size_t)63;
    DN_TRY(dnnl_memory_create(&c->cvt_src, &smd_f32, dn_engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_t cpd = NULL;
    DN_TRY(dnnl_reorder_primitive_desc_create(&cpd, &smd_f32, dn_engine, &smd, dn_engine, NULL));
    dnnl_status_t cs = dnnl_primitive_create(&c->cvt, cpd);
    dnnl_primitive_desc_destroy(cpd);
    DN_TRY(cs);
  }
  DN_TRY(dnnl_memory_create(&c->dst, &dmd, dn_engine, DNNL_MEMORY_NONE));
  if (spmd && (c->pad_bytes = dnnl_memory_desc_get_size(spmd)) > 0)
    DN_TRY(dnnl_memory_create(&c->scratch, spmd, dn_engine, DNNL_MEMORY_NONE));
  /* a pooled scratch buffer large enough for this one: sized now, not on
   * the first run (unless runs are more concurrent than creations were) */
  dn_buf *sb = dn_buf_take(c->cvt_bytes + c->pad_bytes);
  if (!sb) {
    st = FR_ERR_NOMEM;
    goto done;
  }
  dn_buf_give(sb);
  /* weights reordered from our OHWI into the primitive's layout, and the
   * bias: shared with every convolution that needs the same */
  DN_TRY(dn_shared_get(p->weights, &wmd_user, wmd, c->strm, &c->wei));
  DN_TRY(dn_shared_get(p->bias, &bmd, &bmd, c->strm, &c->bia));
done:
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

/* Primitives are created one at a time in the process. Debian's oneDNN 2.6.3
 * now and then builds a wrong primitive when two threads create primitives at
 * the same moment in a fresh process (its one-time set-up, the brgemm
 * kernels): `facerec recognize --threads 2` on the knn photos gave other boxes,
 * or embeddings 0.79 -> 0.39 similar, in 4 of 330 runs; in none of 400 with
 * this lock or of 300 without oneDNN. tests/face/test_face_threads.c: 3 of 100
 * fresh processes wrong without the lock, 0 of 250 with it. Creation happens
 * when a session plans a new shape, not per run. */
static pthread_mutex_t dn_create_lock = PTHREAD_MUTEX_INITIALIZER;

fr_status fr__dnnl_conv_create(const fr__dnnl_conv_params *p, fr__dnnl_conv **out) {
  pthread_mutex_lock(&dn_create_lock);
  fr_status st = dn_conv_create(p, out);
  pthread_mutex_unlock(&dn_create_lock);
  return st;
}

const char *fr__dnnl_conv_impl(const fr__dnnl_conv *c) { return c->impl; }

void fr__dnnl_cache_clear(void) {
  pthread_mutex_lock(&dn_create_lock);
  int cap = 0;
  if (dnnl_get_primitive_cache_capacity(&cap) == dnnl_success && cap > 0 &&
      dnnl_set_primitive_cache_capacity(0) == dnnl_success)
    dnnl_set_primitive_cache_capacity(cap);
  pthread_mutex_unlock(&dn_create_lock);
}

fr_status fr__dnnl_conv_run(fr__dnnl_conv *c, const void *x, void *y) {
  fr_status st = FR_OK;
  int prev = dn_enter();
#if defined(__x86_64__) || defined(__i386__)
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ, as the XNNPACK path */
#endif
  dn_buf *sb = NULL;
  unsigned char *tmp = NULL;
  if (c->cvt_bytes + c->pad_bytes > 0) {
    if (!(sb = dn_buf_take(c->cvt_bytes + c->pad_bytes))) {
      st = FR_ERR_NOMEM;
      goto done;
    }
    tmp = sb->p;
  }
  if (c->cvt) {
    DN_TRY(dnnl_memory_set_data_handle(c->cvt_src, (void *)x));
    DN_TRY(dnnl_memory_set_data_handle(c->src, tmp));
    dnnl_exec_arg_t ca[2] = {{DNNL_ARG_FROM, c->cvt_src}, {DNNL_ARG_TO, c->src}};
    DN_TRY(dnnl_primitive_execute(c->cvt, c->strm, 2, ca));
  } else {
    DN_TRY(dnnl_memory_set_data_handle(c->src, (void *)x));
  }
  DN_TRY(dnnl_memory_set_data_handle(c->dst, y));
  if (c->scratch) DN_TRY(dnnl_memory_set_data_handle(c->scratch, tmp + c->cvt_bytes));
  dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, c->src},
                          {DNNL_ARG_WEIGHTS, c->wei->mem},
                          {DNNL_ARG_BIAS, c->bia->mem},
                          {DNNL_ARG_DST, c->dst},
                          {DNNL_ARG_SCRATCHPAD, c->scratch}};
  DN_TRY(dnnl_primitive_execute(c->prim, c->strm, c->scratch ? 5 : 4, a));
  DN_TRY(dnnl_stream_wait(c->strm));
done:
  if (sb) dn_buf_give(sb);
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(csr);
#endif
  dn_leave(prev);
  return st;
}
