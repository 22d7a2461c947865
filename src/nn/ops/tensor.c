/*
 * Data-movement reference kernels: RESHAPE (and IDENTITY's copy), TRANSPOSE,
 * CONCAT, SPLIT, SLICE, GATHER, PAD, RESIZE, DEPTH_TO_SPACE, SHAPE.
 *
 * These work on raw elements of 4 (F32) or 8 (I64) bytes, so every op here
 * handles both dtypes (RESIZE is F32 only).
 */
#include <math.h>

#include "nn/ops/internal.h"

/* Element i of an integer-valued tensor (I64, or F32 truncated). */
static int64_t int_at(const fr__tensor *t, int64_t i) {
  if (t->dtype == FR__I64) return ((const int64_t *)t->data)[i];
  float f = ((const float *)t->data)[i];
  if (!(f > -9.0e18f && f < 9.0e18f)) return 0;
  return (int64_t)f;
}

/* Copies one element of size es. */
static inline void copy_elem(char *dst, const char *src, size_t es) {
  if (es == 4)
    memcpy(dst, src, 4);
  else
    memcpy(dst, src, 8);
}

fr_status fr__ops_copy_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  (void)n;
  int64_t e = fr__ops_elems(&out->shape);
  if (e > 0 && out->data != in[0].data)
    memcpy(out->data, in[0].data, (size_t)e * fr__ops_esize(out->dtype));
  return FR_OK;
}

/* ---- RESHAPE ---- */

fr_status fr__ops_reshape_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                                fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_ANY, err)))
    return st;
  if (in[1].shape.rank > 1)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "target shape must be 1-D, has rank %d",
                       in[1].shape.rank);
  int64_t v[FR__MAX_DIMS];
  int cnt;
  if ((st = fr__ops_read_ints(n, in, 1, "target shape", v, FR__MAX_DIMS, &cnt, err))) return st;
  const fr__shape *x = &in[0].shape;
  const int64_t total = fr__ops_elems(x);
  fr__shape s = {cnt, {0}};
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < cnt; i++) {
    int64_t d = v[i];
    if (d == 0 && !n->a.reshape.allowzero) {
      if (i >= x->rank)
        return fr__ops_err(err, n, FR_ERR_SHAPE,
                           "target dim %d is 0 (copy input dim) but the input has rank %d", i,
                           x->rank);
      d = x->d[i];
    }
    if (d == -1) {
      if (infer >= 0)
        return fr__ops_err(err, n, FR_ERR_SHAPE, "more than one -1 in the target shape");
      infer = i;
      continue;
    }
    if (d < 0 || d > FR__MAX_TENSOR_ELEMS)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "invalid target dim %d: %lld", i, (long long)d);
    s.d[i] = d;
    known *= d;
    if (known > FR__MAX_TENSOR_ELEMS)
      return fr__ops_err(err, n, FR_ERR_TOO_LARGE, "target shape too large");
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      char b[200];
      return fr__ops_err(err, n, FR_ERR_SHAPE,
                         "cannot infer the -1 dim: %lld elements (input %s) do not divide by %lld",
                         (long long)total, fr__ops_shape_str(x, b, sizeof b), (long long)known);
    }
    s.d[infer] = total / known;
    known = total;
  }
  if (known != total) {
    char b1[200], b2[200];
    return fr__ops_err(err, n, FR_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s",
                       fr__ops_shape_str(x, b1, sizeof b1), (long long)total,
                       fr__ops_shape_str(&s, b2, sizeof b2));
  }
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

/* ---- TRANSPOSE ---- */

static fr_status transpose_perm(const fr__node *n, const fr__tensor *in, int *perm,
                                fr_error *err) {
  const int r = in[0].shape.rank;
  int64_t v[FR__MAX_DIMS];
  int cnt;
  if (fr__ops_present(n, in, 1)) {
    fr_status st = fr__ops_read_ints(n, in, 1, "perm", v, FR__MAX_DIMS, &cnt, err);
    if (st) return st;
  } else {
    cnt = n->a.transpose.n;
    if (cnt < 0 || cnt > FR__MAX_DIMS)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "perm length %d out of range", cnt);
    for (int i = 0; i < cnt; i++) v[i] = n->a.transpose.perm[i];
  }
  if (cnt == 0) { /* reverse */
    for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    return FR_OK;
  }
  if (cnt != r)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "perm has %d entries but the input has rank %d",
                       cnt, r);
  unsigned seen = 0;
  for (int i = 0; i < r; i++) {
    int64_t p = v[i] < 0 ? v[i] + r : v[i];
    if (p < 0 || p >= r || (seen & (1u << p)))
      return fr__ops_err(err, n, FR_ERR_SHAPE, "perm is not a permutation of 0..%d", r - 1);
    seen |= 1u << p;
    perm[i] = (int)p;
  }
  return FR_OK;
}

fr_status fr__ops_transpose_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                                  fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  int perm[FR__MAX_DIMS];
  if ((st = transpose_perm(n, in, perm, err))) return st;
  fr__shape s = {in[0].shape.rank, {0}};
  for (int i = 0; i < s.rank; i++) s.d[i] = in[0].shape.d[perm[i]];
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

/* Generic strided gather: out (contiguous, shape d[0..rank)) from src with
 * element strides st[] (may be negative) starting at base. */
static void strided_copy(char *dst, const char *src, size_t es, int rank, const int64_t *d,
                         const int64_t *st) {
  if (rank == 0) {
    copy_elem(dst, src, es);
    return;
  }
  const int last = rank - 1;
  int64_t rows = 1, idx[FR__MAX_DIMS] = {0}, off = 0;
  for (int i = 0; i < last; i++) rows *= d[i];
  const int64_t L = d[last], sl = st[last];
  if (L == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const char *s = src + off * (int64_t)es;
    if (sl == 1) {
      memcpy(dst, s, (size_t)L * es);
    } else if (es == 4) {
      for (int64_t i = 0; i < L; i++) memcpy(dst + i * 4, s + i * sl * 4, 4);
    } else {
      for (int64_t i = 0; i < L; i++) memcpy(dst + i * 8, s + i * sl * 8, 8);
    }
    dst += L * (int64_t)es;
    for (int i = last - 1; i >= 0; i--) {
      off += st[i];
      if (++idx[i] < d[i]) break;
      off -= st[i] * d[i];
      idx[i] = 0;
    }
  }
}

/* Batched 2-D transpose of 4-byte elements: out[b][j][i] = in[b][i][j], in blocks
 * so that both sides stay in cache. */
static void transpose2d_f32(uint32_t *dst, const uint32_t *src, int64_t batch, int64_t rows,
                            int64_t cols) {
  enum { BLK = 16 };
  for (int64_t b = 0; b < batch; b++, src += rows * cols, dst += rows * cols)
    for (int64_t i0 = 0; i0 < rows; i0 += BLK)
      for (int64_t j0 = 0; j0 < cols; j0 += BLK) {
        int64_t i1 = i0 + BLK < rows ? i0 + BLK : rows, j1 = j0 + BLK < cols ? j0 + BLK : cols;
        for (int64_t j = j0; j < j1; j++)
          for (int64_t i = i0; i < i1; i++) dst[j * rows + i] = src[i * cols + j];
      }
}

/* Collapses the permutation: merges input dims that stay adjacent and in order
 * in the output and drops size-1 dims. Returns the reduced rank, with reduced
 * input dims rd[] and reduced perm rp[]. */
static int reduce_perm(const fr__shape *x, const int *perm, int64_t *rd, int *rp) {
  int keep[FR__MAX_DIMS], nk = 0; /* output order of input dims with size > 1 */
  for (int i = 0; i < x->rank; i++)
    if (x->d[perm[i]] != 1) keep[nk++] = perm[i];
  /* group runs of consecutive input dims */
  int group_of[FR__MAX_DIMS], ng = 0, start[FR__MAX_DIMS];
  for (int i = 0; i < nk; i++) {
    if (i > 0 && keep[i] == keep[i - 1] + 1) {
      group_of[i] = ng - 1;
    } else {
      start[ng] = keep[i];
      group_of[i] = ng++;
    }
  }
  /* reduced input dims: groups ordered by their first input dim */
  int order[FR__MAX_DIMS];
  for (int gi = 0; gi < ng; gi++) order[gi] = gi;
  for (int a = 1; a < ng; a++)
    for (int b = a; b > 0 && start[order[b]] < start[order[b - 1]]; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  int pos_of_group[FR__MAX_DIMS];
  for (int k = 0; k < ng; k++) {
    pos_of_group[order[k]] = k;
    rd[k] = 1;
  }
  for (int i = 0; i < nk; i++) rd[pos_of_group[group_of[i]]] *= x->d[keep[i]];
  for (int gi = 0; gi < ng; gi++) rp[gi] = pos_of_group[gi];
  return ng;
}

fr_status fr__ops_transpose_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  int perm[FR__MAX_DIMS];
  if (transpose_perm(n, in, perm, NULL)) return FR_ERR_SHAPE;
  if (fr__ops_elems(&out->shape) <= 0) return FR_OK;
  size_t es = fr__ops_esize(out->dtype);
  int64_t rd[FR__MAX_DIMS];
  int rp[FR__MAX_DIMS];
  int rr = reduce_perm(&in[0].shape, perm, rd, rp);
  if (rr <= 1) { /* a pure copy */
    memcpy(out->data, in[0].data, (size_t)fr__ops_elems(&out->shape) * es);
    return FR_OK;
  }
  if (es == 4 && rr == 2 && rp[0] == 1 && rp[1] == 0) {
    transpose2d_f32(out->data, in[0].data, 1, rd[0], rd[1]);
    return FR_OK;
  }
  if (es == 4 && rr == 3 && rp[0] == 0 && rp[1] == 2 && rp[2] == 1) { /* NCHW <-> NHWC */
    transpose2d_f32(out->data, in[0].data, rd[0], rd[1], rd[2]);
    return FR_OK;
  }
  int64_t ist[FR__MAX_DIMS], st[FR__MAX_DIMS];
  fr__ops_strides(&in[0].shape, ist);
  for (int i = 0; i < out->shape.rank; i++) st[i] = ist[perm[i]];
  strided_copy(out->data, in[0].data, es, out->shape.rank, out->shape.d, st);
  return FR_OK;
}

/* ---- CONCAT ---- */

fr_status fr__ops_concat_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st;
  for (int k = 0; k < n->n_in; k++)
    if ((st = fr__ops_check_in(n, in, k, FR__OPS_ANY, err))) return st;
  const fr__shape *s0 = &in[0].shape;
  int ax = fr__ops_axis(n->a.axis.axis, s0->rank);
  if (ax < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %d out of range for rank %d", n->a.axis.axis,
                       s0->rank);
  fr__shape s = *s0;
  for (int k = 1; k < n->n_in; k++) {
    const fr__shape *sk = &in[k].shape;
    if (in[k].dtype != in[0].dtype)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d dtype differs from input 0", k);
    bool ok = sk->rank == s0->rank;
    for (int i = 0; ok && i < s0->rank; i++)
      if (i != ax && sk->d[i] != s0->d[i]) ok = false;
    if (!ok) {
      char b0[200], b1[200];
      return fr__ops_err(err, n, FR_ERR_SHAPE, "input %d %s does not match input 0 %s off axis %d",
                         k, fr__ops_shape_str(sk, b1, sizeof b1),
                         fr__ops_shape_str(s0, b0, sizeof b0), ax);
    }
    s.d[ax] += sk->d[ax];
    if (s.d[ax] > FR__MAX_TENSOR_ELEMS)
      return fr__ops_err(err, n, FR_ERR_TOO_LARGE, "concatenated dim too large");
  }
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

fr_status fr__ops_concat_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *s = &out->shape;
  int ax = fr__ops_axis(n->a.axis.axis, s->rank);
  if (ax < 0) return FR_ERR_SHAPE;
  const size_t es = fr__ops_esize(out->dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; i++) outer *= s->d[i];
  for (int i = ax + 1; i < s->rank; i++) inner *= s->d[i];
  char *dst = out->data;
  const size_t row = (size_t)(s->d[ax] * inner) * es;
  size_t col = 0;
  for (int k = 0; k < n->n_in; k++) {
    const size_t chunk = (size_t)(in[k].shape.d[ax] * inner) * es;
    const char *src = in[k].data;
    if (chunk)
      for (int64_t o = 0; o < outer; o++) memcpy(dst + (size_t)o * row + col, src + (size_t)o * chunk, chunk);
    col += chunk;
  }
  return FR_OK;
}

/* ---- SPLIT ---- */

/* Raw requested size of output k (-1 = infer), from in[1], attrs, or equal. */
static int64_t split_raw(const fr__node *n, const fr__tensor *in, int k, int64_t dim) {
  if (fr__ops_present(n, in, 1)) return int_at(&in[1], k);
  if (n->a.split.sizes) return n->a.split.sizes[k];
  return dim / n->n_out;
}

static fr_status split_check(const fr__node *n, const fr__tensor *in, int *axis, int64_t *inferred,
                             fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  const fr__shape *x = &in[0].shape;
  int ax = fr__ops_axis(n->a.split.axis, x->rank);
  if (ax < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %d out of range for rank %d", n->a.split.axis,
                       x->rank);
  if (n->a.split.n && n->a.split.n != n->n_out)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "attrs say %d outputs but the node has %d",
                       n->a.split.n, n->n_out);
  const int64_t dim = x->d[ax];
  if (fr__ops_present(n, in, 1)) {
    if ((st = fr__ops_check_in(n, in, 1, FR__OPS_ANY, err))) return st;
    if (!in[1].data)
      return fr__ops_err(err, n, FR_ERR_UNSUPPORTED,
                         "split sizes (input 1) must be constant or computable at plan time");
    if (fr__ops_elems(&in[1].shape) != n->n_out)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "%lld split sizes for %d outputs",
                         (long long)fr__ops_elems(&in[1].shape), n->n_out);
  } else if (!n->a.split.sizes && dim % n->n_out != 0) {
    return fr__ops_err(err, n, FR_ERR_SHAPE, "dim %lld does not split into %d equal parts",
                       (long long)dim, n->n_out);
  }
  int64_t sum = 0;
  int infer = -1;
  for (int k = 0; k < n->n_out; k++) {
    int64_t v = split_raw(n, in, k, dim);
    if (v == -1 && infer < 0) {
      infer = k;
      continue;
    }
    if (v < 0 || v > dim)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "split size %d is invalid: %lld", k, (long long)v);
    sum += v;
    if (sum > dim) break;
  }
  if (infer >= 0 ? sum > dim : sum != dim)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "split sizes add up to %lld, dim %d is %lld",
                       (long long)sum, ax, (long long)dim);
  *axis = ax;
  *inferred = infer >= 0 ? dim - sum : 0;
  return FR_OK;
}

static int64_t split_size(const fr__node *n, const fr__tensor *in, int k, int64_t dim,
                          int64_t inferred) {
  int64_t v = split_raw(n, in, k, dim);
  return v == -1 ? inferred : v;
}

fr_status fr__ops_split_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                              fr_error *err) {
  int ax;
  int64_t inferred;
  fr_status st = split_check(n, in, &ax, &inferred, err);
  if (st) return st;
  for (int k = 0; k < n->n_out; k++) {
    fr__shape s = in[0].shape;
    s.d[ax] = split_size(n, in, k, s.d[ax], inferred);
    if ((st = fr__ops_set_out(n, &out[k], in[0].dtype, &s, err))) return st;
  }
  return FR_OK;
}

fr_status fr__ops_split_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  int ax;
  int64_t inferred;
  if (split_check(n, in, &ax, &inferred, NULL)) return FR_ERR_SHAPE;
  const fr__shape *s = &in[0].shape;
  const size_t es = fr__ops_esize(in[0].dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; i++) outer *= s->d[i];
  for (int i = ax + 1; i < s->rank; i++) inner *= s->d[i];
  const size_t row = (size_t)(s->d[ax] * inner) * es;
  size_t col = 0;
  const char *src = in[0].data;
  for (int k = 0; k < n->n_out; k++) {
    const size_t chunk = (size_t)(split_size(n, in, k, s->d[ax], inferred) * inner) * es;
    char *dst = out[k].data;
    if (chunk)
      for (int64_t o = 0; o < outer; o++) memcpy(dst + (size_t)o * chunk, src + (size_t)o * row + col, chunk);
    col += chunk;
  }
  return FR_OK;
}

/* ---- SLICE ---- */

typedef struct slice_plan {
  int64_t start[FR__MAX_DIMS], step[FR__MAX_DIMS], len[FR__MAX_DIMS];
  unsigned shrink; /* bit per input dim */
} slice_plan;

static fr_status slice_resolve(const fr__node *n, const fr__tensor *in, slice_plan *p,
                               fr_error *err) {
  const fr__shape *x = &in[0].shape;
  const int r = x->rank;
  const fr__slice_attrs *a = &n->a.slice;
  int64_t starts[FR__MAX_DIMS], ends[FR__MAX_DIMS], axes[FR__MAX_DIMS], steps[FR__MAX_DIMS];
  int cnt;
  fr_status st;
  if (fr__ops_present(n, in, 1)) {
    int c2, c3, c4;
    if ((st = fr__ops_read_ints(n, in, 1, "starts", starts, FR__MAX_DIMS, &cnt, err)) ||
        (st = fr__ops_read_ints(n, in, 2, "ends", ends, FR__MAX_DIMS, &c2, err)))
      return st;
    if (c2 != cnt)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "%d starts but %d ends", cnt, c2);
    if (fr__ops_present(n, in, 3)) {
      if ((st = fr__ops_read_ints(n, in, 3, "axes", axes, FR__MAX_DIMS, &c3, err))) return st;
      if (c3 != cnt) return fr__ops_err(err, n, FR_ERR_SHAPE, "%d starts but %d axes", cnt, c3);
    } else {
      for (int i = 0; i < cnt; i++) axes[i] = i;
    }
    if (fr__ops_present(n, in, 4)) {
      if ((st = fr__ops_read_ints(n, in, 4, "steps", steps, FR__MAX_DIMS, &c4, err))) return st;
      if (c4 != cnt) return fr__ops_err(err, n, FR_ERR_SHAPE, "%d starts but %d steps", cnt, c4);
    } else {
      for (int i = 0; i < cnt; i++) steps[i] = 1;
    }
  } else {
    cnt = a->n;
    if (cnt < 0 || cnt > FR__MAX_DIMS)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "%d slice axes out of range", cnt);
    for (int i = 0; i < cnt; i++) {
      starts[i] = a->starts[i], ends[i] = a->ends[i], axes[i] = a->axes[i];
      steps[i] = a->steps[i] ? a->steps[i] : 1; /* zeroed attrs mean step 1 */
    }
  }
  for (int i = 0; i < r; i++) p->start[i] = 0, p->step[i] = 1, p->len[i] = x->d[i];
  p->shrink = 0;
  unsigned seen = 0;
  for (int i = 0; i < cnt; i++) {
    int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
    if (ax < 0 || ax >= r)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "slice axis %lld out of range for rank %d",
                         (long long)axes[i], r);
    if (seen & (1u << ax))
      return fr__ops_err(err, n, FR_ERR_SHAPE, "slice axis %lld repeated", (long long)ax);
    seen |= 1u << ax;
    const int64_t d = x->d[ax];
    int64_t s = steps[i];
    if (s == 0) return fr__ops_err(err, n, FR_ERR_SHAPE, "slice step is 0 on axis %lld", (long long)ax);
    if (a->shrink_mask & (1u << i)) {
      int64_t b = starts[i] < 0 ? starts[i] + d : starts[i];
      if (b < 0 || b >= d)
        return fr__ops_err(err, n, FR_ERR_SHAPE, "shrink index %lld out of range for dim %lld",
                           (long long)starts[i], (long long)d);
      p->start[ax] = b, p->step[ax] = 1, p->len[ax] = 1;
      p->shrink |= 1u << ax;
      continue;
    }
    /* |step| beyond the dim selects the same elements as |step| = dim */
    int64_t lim = d > 1 ? d : 1;
    if (s > lim) s = lim;
    if (s < -lim) s = -lim;
    int64_t b, e, len;
    if (s > 0) {
      if (a->begin_mask & (1u << i)) {
        b = 0;
      } else {
        b = starts[i] < 0 ? starts[i] + d : starts[i];
        b = b < 0 ? 0 : b > d ? d : b;
      }
      if (a->end_mask & (1u << i)) {
        e = d;
      } else {
        e = ends[i] < 0 ? ends[i] + d : ends[i];
        e = e < 0 ? 0 : e > d ? d : e;
      }
      len = e > b ? (e - b + s - 1) / s : 0;
    } else {
      if (a->begin_mask & (1u << i)) {
        b = d - 1;
      } else {
        b = starts[i] < 0 ? starts[i] + d : starts[i];
        b = b < -1 ? -1 : b > d - 1 ? d - 1 : b;
      }
      if (a->end_mask & (1u << i)) {
        e = -1;
      } else {
        e = ends[i] < 0 ? ends[i] + d : ends[i];
        e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
      }
      len = b > e ? (b - e + (-s) - 1) / (-s) : 0;
    }
    p->start[ax] = len > 0 ? b : 0, p->step[ax] = s, p->len[ax] = len;
  }
  return FR_OK;
}

fr_status fr__ops_slice_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                              fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  slice_plan p;
  if ((st = slice_resolve(n, in, &p, err))) return st;
  fr__shape s = {0, {0}};
  for (int i = 0; i < in[0].shape.rank; i++)
    if (!(p.shrink & (1u << i))) s.d[s.rank++] = p.len[i];
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

fr_status fr__ops_slice_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  slice_plan p;
  if (slice_resolve(n, in, &p, NULL)) return FR_ERR_SHAPE;
  if (fr__ops_elems(&out->shape) <= 0) return FR_OK;
  const fr__shape *x = &in[0].shape;
  const size_t es = fr__ops_esize(in[0].dtype);
  int64_t ist[FR__MAX_DIMS], st[FR__MAX_DIMS];
  fr__ops_strides(x, ist);
  int64_t base = 0;
  for (int i = 0; i < x->rank; i++) {
    base += p.start[i] * ist[i];
    st[i] = p.step[i] * ist[i];
  }
  strided_copy(out->data, (const char *)in[0].data + base * (int64_t)es, es, x->rank, p.len, st);
  return FR_OK;
}

/* ---- GATHER ---- */

fr_status fr__ops_gather_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st;
  if ((st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err)) ||
      (st = fr__ops_check_in(n, in, 1, FR__OPS_I64, err)))
    return st;
  const fr__shape *x = &in[0].shape, *ix = &in[1].shape;
  int ax = fr__ops_axis(n->a.axis.axis, x->rank);
  if (ax < 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "axis %d out of range for rank %d", n->a.axis.axis,
                       x->rank);
  if (x->rank - 1 + ix->rank > FR__MAX_DIMS)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "output rank %d exceeds %d", x->rank - 1 + ix->rank,
                       FR__MAX_DIMS);
  const int64_t D = x->d[ax];
  if (in[1].data) {
    const int64_t *idx = in[1].data;
    const int64_t ni = fr__ops_elems(ix);
    for (int64_t i = 0; i < ni; i++)
      if (idx[i] < -D || idx[i] >= D)
        return fr__ops_err(err, n, FR_ERR_SHAPE, "index %lld out of range for dim %lld",
                           (long long)idx[i], (long long)D);
  }
  fr__shape s = {0, {0}};
  for (int i = 0; i < ax; i++) s.d[s.rank++] = x->d[i];
  for (int i = 0; i < ix->rank; i++) s.d[s.rank++] = ix->d[i];
  for (int i = ax + 1; i < x->rank; i++) s.d[s.rank++] = x->d[i];
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

fr_status fr__ops_gather_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *x = &in[0].shape;
  int ax = fr__ops_axis(n->a.axis.axis, x->rank);
  if (ax < 0) return FR_ERR_SHAPE;
  const size_t es = fr__ops_esize(in[0].dtype);
  int64_t outer = 1, inner = 1;
  const int64_t D = x->d[ax], ni = fr__ops_elems(&in[1].shape);
  for (int i = 0; i < ax; i++) outer *= x->d[i];
  for (int i = ax + 1; i < x->rank; i++) inner *= x->d[i];
  const int64_t *idx = in[1].data;
  for (int64_t j = 0; j < ni; j++) /* validate first: never read out of bounds */
    if (idx[j] < -D || idx[j] >= D) return FR_ERR_INVALID_ARG;
  const size_t chunk = (size_t)inner * es;
  const char *src = in[0].data;
  char *dst = out->data;
  if (!chunk) return FR_OK;
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t j = 0; j < ni; j++) {
      int64_t k = idx[j] < 0 ? idx[j] + D : idx[j];
      memcpy(dst, src + (size_t)((o * D + k) * inner) * es, chunk);
      dst += chunk;
    }
  }
  return FR_OK;
}

/* ---- PAD ---- */

typedef struct pad_plan {
  int64_t b[FR__MAX_DIMS], e[FR__MAX_DIMS];
} pad_plan;

static fr_status pad_resolve(const fr__node *n, const fr__tensor *in, pad_plan *p, fr_error *err) {
  const fr__shape *x = &in[0].shape;
  const int r = x->rank;
  const fr__pad_attrs *a = &n->a.pad;
  if (fr__ops_present(n, in, 1)) {
    int64_t v[2 * FR__MAX_DIMS];
    int cnt;
    fr_status st = fr__ops_read_ints(n, in, 1, "pads", v, 2 * FR__MAX_DIMS, &cnt, err);
    if (st) return st;
    if (cnt != 2 * r)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "%d pads for rank %d (need %d)", cnt, r, 2 * r);
    const bool rows = in[1].shape.rank == 2; /* TF [rank,2] vs ONNX [begins..., ends...] */
    for (int i = 0; i < r; i++) {
      p->b[i] = rows ? v[2 * i] : v[i];
      p->e[i] = rows ? v[2 * i + 1] : v[r + i];
    }
  } else {
    if (a->n != 0 && a->n != r)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "pads describe rank %d but the input has rank %d",
                         a->n, r);
    for (int i = 0; i < r; i++) {
      p->b[i] = a->n ? a->begin[i] : 0;
      p->e[i] = a->n ? a->end[i] : 0;
    }
  }
  if (a->kind != FR__PADK_CONSTANT && a->kind != FR__PADK_REFLECT && a->kind != FR__PADK_EDGE)
    return fr__ops_err(err, n, FR_ERR_UNSUPPORTED, "pad mode %d not supported", (int)a->kind);
  for (int i = 0; i < r; i++) {
    const int64_t d = x->d[i], b = p->b[i], e = p->e[i];
    if (b < -FR__MAX_TENSOR_ELEMS || b > FR__MAX_TENSOR_ELEMS || e < -FR__MAX_TENSOR_ELEMS ||
        e > FR__MAX_TENSOR_ELEMS || d + b + e < 0)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "pads %lld,%lld invalid for dim %d of size %lld",
                         (long long)b, (long long)e, i, (long long)d);
    if (a->kind == FR__PADK_REFLECT && (b > d - 1 || e > d - 1) && (b > 0 || e > 0))
      return fr__ops_err(err, n, FR_ERR_SHAPE,
                         "reflect pads %lld,%lld must be smaller than dim %d (%lld)", (long long)b,
                         (long long)e, i, (long long)d);
    if (a->kind == FR__PADK_EDGE && d == 0 && (b > 0 || e > 0))
      return fr__ops_err(err, n, FR_ERR_SHAPE, "edge padding of the empty dim %d", i);
  }
  return FR_OK;
}

fr_status fr__ops_pad_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                            fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  if (fr__ops_present(n, in, 2)) {
    if ((st = fr__ops_check_in(n, in, 2, FR__OPS_ANY, err))) return st;
    if (fr__ops_elems(&in[2].shape) != 1)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "constant value (input 2) must be a scalar");
  }
  pad_plan p;
  if ((st = pad_resolve(n, in, &p, err))) return st;
  fr__shape s = in[0].shape;
  for (int i = 0; i < s.rank; i++) s.d[i] += p.b[i] + p.e[i];
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

/* Source index for padded position s of a dim of size d; -1 = constant. */
static int64_t pad_src(int64_t s, int64_t d, fr__pad_kind kind) {
  if (s >= 0 && s < d) return s;
  if (kind == FR__PADK_CONSTANT || d == 0) return -1;
  if (kind == FR__PADK_EDGE || d == 1) return s < 0 ? 0 : d - 1;
  const int64_t per = 2 * (d - 1);
  s %= per;
  if (s < 0) s += per;
  return s < d ? s : per - s;
}

fr_status fr__ops_pad_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  pad_plan p;
  if (pad_resolve(n, in, &p, NULL)) return FR_ERR_SHAPE;
  const fr__pad_kind kind = n->a.pad.kind;
  const fr__shape *x = &in[0].shape, *o = &out->shape;
  const size_t es = fr__ops_esize(in[0].dtype);
  if (fr__ops_elems(o) <= 0) return FR_OK;
  /* constant value as raw element bytes */
  float vf = n->a.pad.value;
  if (fr__ops_present(n, in, 2) && in[2].data)
    vf = in[2].dtype == FR__F32 ? ((const float *)in[2].data)[0]
                                : (float)((const int64_t *)in[2].data)[0];
  int64_t vi = 0;
  if (fr__ops_present(n, in, 2) && in[2].data && in[2].dtype == FR__I64)
    vi = ((const int64_t *)in[2].data)[0];
  else if (vf == vf && vf > -9.0e18f && vf < 9.0e18f)
    vi = (int64_t)vf;
  char val[8];
  if (es == 4)
    memcpy(val, &vf, 4);
  else
    memcpy(val, &vi, 8);
  if (o->rank == 0) {
    memcpy(out->data, in[0].data, es);
    return FR_OK;
  }
  int64_t ist[FR__MAX_DIMS];
  fr__ops_strides(x, ist);
  const int last = o->rank - 1;
  const int64_t L = o->d[last], dl = x->d[last], bl = p.b[last];
  int64_t rows = 1, idx[FR__MAX_DIMS] = {0};
  for (int i = 0; i < last; i++) rows *= o->d[i];
  const char *src = in[0].data;
  char *dst = out->data;
  for (int64_t r = 0; r < rows; r++, dst += L * (int64_t)es) {
    int64_t off = 0;
    bool inside = true;
    for (int i = 0; i < last; i++) {
      int64_t s = pad_src(idx[i] - p.b[i], x->d[i], kind);
      if (s < 0) {
        inside = false;
        break;
      }
      off += s * ist[i];
    }
    if (!inside) {
      for (int64_t j = 0; j < L; j++) memcpy(dst + j * (int64_t)es, val, es);
    } else {
      /* contiguous middle part, mapped edges */
      int64_t j0 = bl > 0 ? bl : 0, j1 = bl + dl < L ? bl + dl : L;
      for (int64_t j = 0; j < j0 && j < L; j++) {
        int64_t s = pad_src(j - bl, dl, kind);
        memcpy(dst + j * (int64_t)es, s < 0 ? val : src + (off + s) * (int64_t)es, es);
      }
      if (j1 > j0) memcpy(dst + j0 * (int64_t)es, src + (off + j0 - bl) * (int64_t)es, (size_t)(j1 - j0) * es);
      for (int64_t j = j1 > j0 ? j1 : j0; j < L; j++) {
        int64_t s = pad_src(j - bl, dl, kind);
        memcpy(dst + j * (int64_t)es, s < 0 ? val : src + (off + s) * (int64_t)es, es);
      }
    }
    for (int i = last - 1; i >= 0; i--) {
      if (++idx[i] < o->d[i]) break;
      idx[i] = 0;
    }
  }
  return FR_OK;
}

/* ---- RESIZE ---- */

static fr_status resize_size(const fr__node *n, const fr__tensor *in, int64_t *oh, int64_t *ow,
                             fr_error *err) {
  const fr__resize_attrs *a = &n->a.resize;
  const fr__shape *x = &in[0].shape;
  if (fr__ops_present(n, in, 1)) {
    int64_t v[2];
    int cnt;
    fr_status st = fr__ops_read_ints(n, in, 1, "output size", v, 2, &cnt, err);
    if (st) return st;
    if (cnt != 2)
      return fr__ops_err(err, n, FR_ERR_SHAPE, "output size (input 1) needs 2 values, has %d",
                         cnt);
    *oh = v[0], *ow = v[1];
  } else if (a->out_h > 0 && a->out_w > 0) {
    *oh = a->out_h, *ow = a->out_w;
  } else {
    if (!(a->scale_h > 0.0f) || !(a->scale_w > 0.0f) || !(a->scale_h < 1e6f) ||
        !(a->scale_w < 1e6f))
      return fr__ops_err(err, n, FR_ERR_SHAPE, "no output size and invalid scales %g, %g",
                         (double)a->scale_h, (double)a->scale_w);
    *oh = (int64_t)floor((double)x->d[1] * a->scale_h);
    *ow = (int64_t)floor((double)x->d[2] * a->scale_w);
  }
  if (*oh < 0 || *ow < 0 || *oh > FR__MAX_TENSOR_ELEMS || *ow > FR__MAX_TENSOR_ELEMS)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "invalid output size %lldx%lld", (long long)*oh,
                       (long long)*ow);
  if ((*oh > 0 && x->d[1] == 0) || (*ow > 0 && x->d[2] == 0))
    return fr__ops_err(err, n, FR_ERR_SHAPE, "cannot resize an empty image");
  return FR_OK;
}

fr_status fr__ops_resize_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                               fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_F32, err);
  if (st) return st;
  const fr__shape *x = &in[0].shape;
  if (x->rank != 4)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input must be 4-D NHWC, has rank %d", x->rank);
  if ((unsigned)n->a.resize.coord > FR__RC_PYTORCH_HALF_PIXEL)
    return fr__ops_err(err, n, FR_ERR_UNSUPPORTED, "coordinate mode %d not supported",
                       (int)n->a.resize.coord);
  int64_t oh = 0, ow = 0;
  if ((st = resize_size(n, in, &oh, &ow, err))) return st;
  fr__shape s = {4, {x->d[0], oh, ow, x->d[3]}};
  return fr__ops_set_out(n, out, FR__F32, &s, err);
}

/* Source coordinate of output index o (double, as TF.js computes it). */
static double resize_src(fr__resize_coord c, int64_t o, int64_t in, int64_t out) {
  switch (c) {
  case FR__RC_ALIGN_CORNERS:
    return out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
  case FR__RC_HALF_PIXEL:
    return ((double)o + 0.5) * (double)in / (double)out - 0.5;
  case FR__RC_PYTORCH_HALF_PIXEL:
    return out > 1 ? ((double)o + 0.5) * (double)in / (double)out - 0.5 : 0.0;
  default:
    return (double)o * (double)in / (double)out;
  }
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Nearest source index, ONNX rules: floor for ASYMMETRIC (Upsample, PyTorch
 * "nearest"), round_prefer_floor for the other modes; clamped. */
static int64_t nearest_idx(fr__resize_coord c, int64_t o, int64_t in, int64_t out) {
  double s = resize_src(c, o, in, out);
  double v = c == FR__RC_ASYMMETRIC ? floor(s) : ceil(s - 0.5);
  if (!(v >= 0.0)) return 0;
  if (v >= (double)(in - 1)) return in - 1;
  return (int64_t)v;
}

/* TF.js resizeBilinear: lo = max(0, floor(s)), hi = min(in-1, ceil(s)), frac = s - lo. */
static void bilinear_idx(fr__resize_coord c, int64_t o, int64_t in, int64_t out, int64_t *lo,
                         int64_t *hi, double *frac) {
  double s = resize_src(c, o, in, out);
  double f = floor(s);
  *lo = clampi(f > 0.0 ? (int64_t)f : 0, 0, in - 1);
  *frac = s - (double)*lo;
  double cl = ceil(s);
  *hi = clampi(cl > 0.0 ? (int64_t)cl : 0, 0, in - 1);
}

fr_status fr__ops_resize_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__resize_attrs *a = &n->a.resize;
  const fr__shape *x = &in[0].shape;
  const int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3];
  const int64_t OH = out->shape.d[1], OW = out->shape.d[2];
  const float *src = in[0].data;
  float *dst = out->data;
  if (fr__ops_elems(&out->shape) <= 0) return FR_OK;
  for (int64_t b = 0; b < N; b++) {
    const float *xb = src + b * H * W * C;
    for (int64_t oy = 0; oy < OH; oy++) {
      if (a->nearest) {
        const int64_t iy = nearest_idx(a->coord, oy, H, OH);
        for (int64_t ox = 0; ox < OW; ox++) {
          const int64_t ix = nearest_idx(a->coord, ox, W, OW);
          memcpy(dst, xb + (iy * W + ix) * C, (size_t)C * sizeof(float));
          dst += C;
        }
        continue;
      }
      int64_t y0, y1;
      double fy;
      bilinear_idx(a->coord, oy, H, OH, &y0, &y1, &fy);
      for (int64_t ox = 0; ox < OW; ox++) {
        int64_t x0, x1;
        double fx;
        bilinear_idx(a->coord, ox, W, OW, &x0, &x1, &fx);
        const float *tl = xb + (y0 * W + x0) * C, *tr = xb + (y0 * W + x1) * C;
        const float *bl = xb + (y1 * W + x0) * C, *br = xb + (y1 * W + x1) * C;
        for (int64_t c = 0; c < C; c++) {
          double top = tl[c] + ((double)tr[c] - tl[c]) * fx;
          double bot = bl[c] + ((double)br[c] - bl[c]) * fx;
          dst[c] = (float)(top + (bot - top) * fy);
        }
        dst += C;
      }
    }
  }
  return FR_OK;
}

/* ---- DEPTH_TO_SPACE ---- */

fr_status fr__ops_d2s_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                            fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, FR__OPS_ANY, err);
  if (st) return st;
  const fr__shape *x = &in[0].shape;
  const int b = n->a.d2s.block;
  if (x->rank != 4)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "input must be 4-D NHWC, has rank %d", x->rank);
  if (b < 1 || b > 65536)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "block size %d out of range", b);
  if (x->d[3] % ((int64_t)b * b) != 0)
    return fr__ops_err(err, n, FR_ERR_SHAPE, "channels %lld not divisible by block^2 = %lld",
                       (long long)x->d[3], (long long)b * b);
  fr__shape s = {4, {x->d[0], x->d[1] * b, x->d[2] * b, x->d[3] / ((int64_t)b * b)}};
  return fr__ops_set_out(n, out, in[0].dtype, &s, err);
}

fr_status fr__ops_d2s_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  const fr__shape *x = &in[0].shape;
  const int64_t b = n->a.d2s.block;
  const int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], OC = C / (b * b);
  const size_t es = fr__ops_esize(in[0].dtype), chunk = (size_t)OC * es;
  const char *src = in[0].data;
  char *dst = out->data;
  if (!chunk) return FR_OK;
  for (int64_t nb = 0; nb < N; nb++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < b; i++)
        for (int64_t w = 0; w < W; w++)
          for (int64_t j = 0; j < b; j++) {
            memcpy(dst, src + (size_t)(((nb * H + h) * W + w) * C + (i * b + j) * OC) * es, chunk);
            dst += chunk;
          }
  return FR_OK;
}

/* ---- SHAPE ---- */

fr_status fr__ops_shape_shape(const fr__node *n, const fr__tensor *in, fr__tensor *out,
                              fr_error *err) {
  fr_status st = fr__ops_check_in(n, in, 0, 0, err);
  if (st) return st;
  fr__shape s = {1, {in[0].shape.rank}};
  return fr__ops_set_out(n, out, FR__I64, &s, err);
}

fr_status fr__ops_shape_ref(const fr__node *n, const fr__tensor *in, fr__tensor *out) {
  (void)n;
  int64_t *y = out->data;
  for (int i = 0; i < in[0].shape.rank; i++) y[i] = in[0].shape.d[i];
  return FR_OK;
}
