/*
 * ONNX loader layout paths: the loader stores conv outputs NHWC and remaps the
 * axes of layout-neutral ops (Slice, Pad, Split, Concat, ReduceMean, Softmax,
 * Transpose, elementwise with per-channel constants, ...) or transposes back to
 * NCHW. Each case builds two models that apply the same ONNX op to the same
 * tensor: once stored NHWC (after a 1x1 identity Conv) and once in the model
 * layout (after a Reshape), and requires identical outputs. A few cases also
 * check against values computed here.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facerec/nn.h"
#include "onnx/onnx.pb-c.h"
#include "testutil.h"

#define N_ 1
#define C_ 4
#define H_ 5
#define W_ 6

/* ------------------------------------------------------------ model builder */

typedef struct mb {
  Onnx__ModelProto m;
  Onnx__OperatorSetIdProto os, *osp[1];
  Onnx__GraphProto g;
  Onnx__NodeProto *nodes[64];
  Onnx__TensorProto *inits[64];
  Onnx__ValueInfoProto *outs[8], *ins[1], in_vi;
  Onnx__TypeProto tp;
  Onnx__TypeProto__Tensor tt;
  Onnx__TensorShapeProto sh;
  Onnx__TensorShapeProto__Dimension dims[4], *dimp[4];
  void *allocs[1024];
  int na;
} mb;

static void *mb_alloc(mb *b, size_t n) {
  void *p = calloc(1, n + 1);
  if (b->na < 1024) b->allocs[b->na++] = p;
  return p;
}
static char *mb_str(mb *b, const char *s) {
  char *p = mb_alloc(b, strlen(s));
  strcpy(p, s);
  return p;
}
/* "a,b,c" -> array of strings ("" entries allowed) */
static char **mb_list(mb *b, const char *s, size_t *n) {
  *n = 0;
  if (!s || !*s) return NULL;
  char **v = mb_alloc(b, sizeof(char *) * 16);
  const char *p = s;
  for (;;) {
    const char *q = strchr(p, ',');
    size_t l = q ? (size_t)(q - p) : strlen(p);
    char *e = mb_alloc(b, l);
    memcpy(e, p, l);
    v[(*n)++] = e;
    if (!q) break;
    p = q + 1;
  }
  return v;
}

static void mb_init(mb *b, int opset) {
  memset(b, 0, sizeof *b);
  Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
  Onnx__OperatorSetIdProto o = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
  Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
  Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT;
  Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
  Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
  b->m = m;
  b->m.has_ir_version = 1;
  b->m.ir_version = 7;
  b->os = o;
  b->os.has_version = 1;
  b->os.version = opset;
  b->osp[0] = &b->os;
  b->m.opset_import = b->osp;
  b->m.n_opset_import = 1;
  b->g = g;
  b->g.name = (char *)"t";
  b->m.graph = &b->g;
  b->in_vi = vi;
  b->in_vi.name = (char *)"x";
  b->tp = tp;
  b->tt = tt;
  b->sh = sh;
  int64_t d[4] = {N_, C_, H_, W_};
  for (int i = 0; i < 4; i++) {
    Onnx__TensorShapeProto__Dimension z = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    b->dims[i] = z;
    b->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    b->dims[i].dim_value = d[i];
    b->dimp[i] = &b->dims[i];
  }
  b->sh.dim = b->dimp;
  b->sh.n_dim = 4;
  b->tt.has_elem_type = 1;
  b->tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  b->tt.shape = &b->sh;
  b->tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  b->tp.tensor_type = &b->tt;
  b->in_vi.type = &b->tp;
  b->ins[0] = &b->in_vi;
  b->g.input = b->ins;
  b->g.n_input = 1;
  b->g.node = b->nodes;
  b->g.initializer = b->inits;
  b->g.output = b->outs;
}

static void mb_free(mb *b) {
  for (int i = 0; i < b->na; i++) free(b->allocs[i]);
}

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *ins, const char *outs) {
  Onnx__NodeProto z = ONNX__NODE_PROTO__INIT;
  Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
  *n = z;
  char nm[64];
  snprintf(nm, sizeof nm, "%s_%zu", op, b->g.n_node);
  n->name = mb_str(b, nm);
  n->op_type = mb_str(b, op);
  n->input = mb_list(b, ins, &n->n_input);
  n->output = mb_list(b, outs, &n->n_output);
  n->attribute = mb_alloc(b, sizeof(Onnx__AttributeProto *) * 8);
  b->nodes[b->g.n_node++] = n;
  return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name, int type) {
  Onnx__AttributeProto z = ONNX__ATTRIBUTE_PROTO__INIT;
  Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
  *a = z;
  a->name = mb_str(b, name);
  a->has_type = 1;
  a->type = (Onnx__AttributeProto__AttributeType)type;
  n->attribute[n->n_attribute++] = a;
  return a;
}
static void mb_ai(mb *b, Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = v;
}
static void mb_af(mb *b, Onnx__NodeProto *n, const char *name, float v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  a->has_f = 1;
  a->f = v;
}
static void mb_as(mb *b, Onnx__NodeProto *n, const char *name, const char *v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  a->has_s = 1;
  a->s.data = (uint8_t *)mb_str(b, v);
  a->s.len = strlen(v);
}
static void mb_aints(mb *b, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t k) {
  Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->ints = mb_alloc(b, sizeof(int64_t) * k);
  memcpy(a->ints, v, sizeof(int64_t) * k);
  a->n_ints = k;
}

static void mb_init_t(mb *b, const char *name, const int64_t *dims, size_t nd, const void *data,
                      int dtype) {
  Onnx__TensorProto z = ONNX__TENSOR_PROTO__INIT;
  Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
  *t = z;
  t->name = mb_str(b, name);
  t->dims = mb_alloc(b, sizeof(int64_t) * (nd + 1));
  if (nd) memcpy(t->dims, dims, sizeof(int64_t) * nd);
  t->n_dims = nd;
  size_t n = 1;
  for (size_t i = 0; i < nd; i++) n *= (size_t)dims[i];
  size_t esz = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4 : 8;
  t->has_data_type = 1;
  t->data_type = dtype;
  t->has_raw_data = 1;
  t->raw_data.data = mb_alloc(b, n * esz);
  memcpy(t->raw_data.data, data, n * esz);
  t->raw_data.len = n * esz;
  b->inits[b->g.n_initializer++] = t;
}
static void mb_f(mb *b, const char *name, const int64_t *dims, size_t nd, const float *v) {
  mb_init_t(b, name, dims, nd, v, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
}
static void mb_i(mb *b, const char *name, const int64_t *v, size_t n) {
  int64_t d = (int64_t)n;
  mb_init_t(b, name, &d, 1, v, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
}
static void mb_out(mb *b, const char *name) {
  Onnx__ValueInfoProto z = ONNX__VALUE_INFO_PROTO__INIT;
  Onnx__ValueInfoProto *v = mb_alloc(b, sizeof *v);
  *v = z;
  v->name = mb_str(b, name);
  b->outs[b->g.n_output++] = v;
}

/* Source tensor "s" = x, either NHWC-stored (1x1 identity conv) or plain (reshape). */
static void mb_source(mb *b, bool nhwc) {
  if (nhwc) {
    float w[C_ * C_] = {0};
    for (int i = 0; i < C_; i++) w[i * C_ + i] = 1.0f;
    int64_t wd[4] = {C_, C_, 1, 1};
    mb_f(b, "Wid", wd, 4, w);
    Onnx__NodeProto *n = mb_node(b, "Conv", "x,Wid", "s");
    int64_t k[2] = {1, 1};
    mb_aints(b, n, "kernel_shape", k, 2);
  } else {
    int64_t s[4] = {N_, C_, H_, W_};
    mb_i(b, "xshape", s, 4);
    mb_node(b, "Reshape", "x,xshape", "s");
  }
}

typedef void (*case_fn)(mb *b);

typedef struct result {
  int n;
  int rank[8];
  int64_t shape[8][8];
  float *data[8];
  size_t count[8];
} result;

static void result_free(result *r) {
  for (int i = 0; i < r->n; i++) free(r->data[i]);
}

static fr_status run_case(case_fn fn, int opset, bool nhwc, const float *x, result *r, fr_error *err) {
  mb b;
  mb_init(&b, opset);
  mb_source(&b, nhwc);
  fn(&b);
  size_t len = onnx__model_proto__get_packed_size(&b.m);
  uint8_t *buf = malloc(len);
  onnx__model_proto__pack(&b.m, buf);
  mb_free(&b);
  char path[] = "/tmp/fr_onnx_layout_XXXXXX.onnx";
  int fd = mkstemps(path, 5);
  fr_status st = FR_ERR_IO;
  if (fd >= 0) {
    if (write(fd, buf, len) == (ssize_t)len) st = FR_OK;
    close(fd);
  }
  free(buf);
  memset(r, 0, sizeof *r);
  fr_model *m = NULL;
  fr_session *s = NULL;
  if (!st) st = fr_model_load(path, NULL, &m, err);
  unlink(path);
  if (!st) st = fr_session_create(m, NULL, &s, err);
  int64_t shape[4] = {N_, C_, H_, W_};
  if (!st) st = fr_session_set_input(s, 0, x, shape, 4, err);
  if (!st) st = fr_session_run(s, err);
  for (int i = 0; !st && i < fr_model_num_outputs(m); i++) {
    fr_tensor_view v;
    st = fr_session_output(s, i, &v, err);
    if (st) break;
    r->rank[i] = v.rank;
    memcpy(r->shape[i], v.shape, sizeof(int64_t) * (size_t)v.rank);
    r->data[i] = malloc(v.count * sizeof(float) + 4);
    memcpy(r->data[i], v.data, v.count * sizeof(float));
    r->count[i] = v.count;
    r->n = i + 1;
  }
  fr_session_free(s);
  fr_model_free(m);
  return st;
}

static float g_x[N_ * C_ * H_ * W_];

/* Runs both variants; returns the NHWC one in *out (caller frees) when requested. */
static void diff_case(const char *label, case_fn fn, int opset, result *keep) {
  result a, b;
  fr_error ea = {{0}}, eb = {{0}};
  fr_status sa = run_case(fn, opset, true, g_x, &a, &ea);
  fr_status sb = run_case(fn, opset, false, g_x, &b, &eb);
  CHECK_MSG(sa == FR_OK, "%s (NHWC source): %s", label, ea.msg);
  CHECK_MSG(sb == FR_OK, "%s (plain source): %s", label, eb.msg);
  if (!sa && !sb) {
    CHECK_MSG(a.n == b.n, "%s: %d vs %d outputs", label, a.n, b.n);
    for (int i = 0; i < a.n && i < b.n; i++) {
      bool same = a.rank[i] == b.rank[i] && a.count[i] == b.count[i];
      for (int k = 0; same && k < a.rank[i]; k++) same = a.shape[i][k] == b.shape[i][k];
      CHECK_MSG(same, "%s: output %d shapes differ", label, i);
      double worst = 0;
      for (size_t k = 0; same && k < a.count[i]; k++) {
        double d = fabs((double)a.data[i][k] - b.data[i][k]);
        if (d > worst) worst = d;
      }
      CHECK_MSG(worst <= 1e-5, "%s: output %d differs by %g", label, i, worst);
    }
  }
  if (keep && !sa) *keep = a;
  else result_free(&a);
  result_free(&b);
}

static float X(int c, int h, int w) { return g_x[(c * H_ + h) * W_ + w]; }

/* ------------------------------------------------------------------ cases */

static void c_slice9(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Slice", "s", "y");
  int64_t ax[2] = {1, 3}, st[2] = {1, 0}, en[2] = {3, -1};
  mb_aints(b, n, "axes", ax, 2);
  mb_aints(b, n, "starts", st, 2);
  mb_aints(b, n, "ends", en, 2);
  mb_out(b, "y");
}
static void c_slice10(mb *b) {
  int64_t st[2] = {-4, 1}, en[2] = {INT64_MAX, 4}, ax[2] = {-1, 2}, sp[2] = {2, 1};
  mb_i(b, "st", st, 2);
  mb_i(b, "en", en, 2);
  mb_i(b, "ax", ax, 2);
  mb_i(b, "sp", sp, 2);
  mb_node(b, "Slice", "s,st,en,ax,sp", "y");
  mb_out(b, "y");
}
static void c_pad2(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Pad", "s", "y");
  int64_t p[8] = {0, 1, 2, 0, 0, 2, 1, 3};
  mb_aints(b, n, "pads", p, 8);
  mb_af(b, n, "value", 0.5f);
  mb_out(b, "y");
}
static void c_pad11_reflect(mb *b) {
  int64_t p[8] = {0, 0, 1, 2, 0, 0, 2, 1};
  mb_i(b, "pads", p, 8);
  Onnx__NodeProto *n = mb_node(b, "Pad", "s,pads", "y");
  mb_as(b, n, "mode", "reflect");
  mb_out(b, "y");
}
static void c_split(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Split", "s", "y1,y2");
  int64_t sp[2] = {1, 3};
  mb_aints(b, n, "split", sp, 2);
  mb_ai(b, n, "axis", 1);
  Onnx__NodeProto *m = mb_node(b, "Split", "s", "z1,z2,z3");
  mb_ai(b, m, "axis", -1);
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "z3");
}
static void c_split13(mb *b) {
  int64_t sp[2] = {2, 3};
  mb_i(b, "sp", sp, 2);
  Onnx__NodeProto *n = mb_node(b, "Split", "s,sp", "y1,y2");
  mb_ai(b, n, "axis", 2);
  mb_out(b, "y1");
  mb_out(b, "y2");
}
static void c_reduce(mb *b) {
  int64_t a1[2] = {2, 3}, a2[1] = {1}, a3[1] = {2}, a4[2] = {1, -1};
  Onnx__NodeProto *n = mb_node(b, "ReduceMean", "s", "y1");
  mb_aints(b, n, "axes", a1, 2);
  mb_ai(b, n, "keepdims", 0);
  n = mb_node(b, "ReduceMean", "s", "y2");
  mb_aints(b, n, "axes", a2, 1);
  mb_ai(b, n, "keepdims", 0);
  n = mb_node(b, "ReduceMean", "s", "y3");
  mb_aints(b, n, "axes", a3, 1);
  mb_ai(b, n, "keepdims", 0);
  n = mb_node(b, "ReduceMean", "s", "y4");
  mb_aints(b, n, "axes", a4, 2);
  n = mb_node(b, "ReduceMax", "s", "y5");
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
  mb_out(b, "y4");
  mb_out(b, "y5");
}
static void c_softmax(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Softmax", "s", "y1");
  mb_ai(b, n, "axis", 1);
  n = mb_node(b, "Softmax", "s", "y2");
  mb_ai(b, n, "axis", 3);
  n = mb_node(b, "Softmax", "s", "y3");
  mb_ai(b, n, "axis", -2);
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
}
static void c_softmax13(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Softmax", "s", "y1");
  mb_ai(b, n, "axis", 1);
  mb_out(b, "y1");
}
static void c_transpose(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Transpose", "s", "y1");
  int64_t p1[4] = {0, 2, 1, 3}, p2[4] = {0, 2, 3, 1};
  mb_aints(b, n, "perm", p1, 4);
  n = mb_node(b, "Transpose", "s", "y2");
  mb_aints(b, n, "perm", p2, 4);
  mb_node(b, "Transpose", "s", "y3"); /* default: reversed */
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
}
static void c_shape_flatten(mb *b) {
  mb_node(b, "Shape", "s", "sh");
  mb_node(b, "Cast", "sh", "y1");
  Onnx__NodeProto *n = b->nodes[b->g.n_node - 1];
  mb_ai(b, n, "to", 1);
  n = mb_node(b, "Flatten", "s", "y2");
  mb_ai(b, n, "axis", 2);
  n = mb_node(b, "Flatten", "s", "y3");
  mb_ai(b, n, "axis", 0);
  n = mb_node(b, "Flatten", "s", "y4");
  mb_ai(b, n, "axis", -1);
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
  mb_out(b, "y4");
}
static void c_squeeze(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Unsqueeze", "s", "u");
  int64_t a1[2] = {0, 3}, a2[2] = {0, 3};
  mb_aints(b, n, "axes", a1, 2);
  n = mb_node(b, "Squeeze", "u", "y1");
  mb_aints(b, n, "axes", a2, 2);
  n = mb_node(b, "Unsqueeze", "s", "y2");
  int64_t a3[1] = {-1};
  mb_aints(b, n, "axes", a3, 1);
  mb_out(b, "u");
  mb_out(b, "y1");
  mb_out(b, "y2");
}
static void c_squeeze13(mb *b) {
  int64_t a1[2] = {0, 3}, a2[1] = {3};
  mb_i(b, "a1", a1, 2);
  mb_i(b, "a2", a2, 1);
  mb_node(b, "Unsqueeze", "s,a1", "u");
  mb_node(b, "Squeeze", "u,a2", "y1");
  mb_out(b, "y1");
}
static void c_eltwise(mb *b) {
  float cc[C_], cw[W_], chw[C_ * H_ * W_], s1 = 0.5f;
  for (int i = 0; i < C_; i++) cc[i] = 0.25f * (float)i - 0.3f;
  for (int i = 0; i < W_; i++) cw[i] = 0.1f * (float)i + 1.0f;
  for (int i = 0; i < C_ * H_ * W_; i++) chw[i] = (float)(i % 7) * 0.125f;
  int64_t dc[3] = {C_, 1, 1}, dc4[4] = {1, C_, 1, 1}, dw[1] = {W_}, dchw[3] = {C_, H_, W_};
  mb_f(b, "cc", dc, 3, cc);
  mb_f(b, "cc4", dc4, 4, cc);
  mb_f(b, "cw", dw, 1, cw);
  mb_f(b, "chw", dchw, 3, chw);
  mb_f(b, "s1", NULL, 0, &s1);
  mb_node(b, "Add", "s,cc", "a1");
  mb_node(b, "Mul", "cc4,a1", "a2");
  mb_node(b, "Sub", "a2,cw", "a3");
  mb_node(b, "Div", "a3,s1", "a4");
  mb_node(b, "PRelu", "a4,cc", "a5");
  mb_node(b, "Add", "a5,chw", "a6");
  mb_node(b, "Sigmoid", "a6", "a7");
  Onnx__NodeProto *n = mb_node(b, "Clip", "a6", "a8");
  mb_af(b, n, "min", -0.2f);
  mb_af(b, n, "max", 0.4f);
  n = mb_node(b, "LeakyRelu", "a6", "a9");
  mb_af(b, n, "alpha", 0.2f);
  mb_node(b, "Max", "a7,a8,a9", "y");
  mb_out(b, "y");
  mb_out(b, "a5");
}
static void c_concat_mixed(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Concat", "s,x", "y1");
  mb_ai(b, n, "axis", 1);
  n = mb_node(b, "Concat", "x,s,s", "y2");
  mb_ai(b, n, "axis", -1);
  mb_node(b, "Relu", "y2", "y3");
  mb_out(b, "y1");
  mb_out(b, "y3");
}
static void c_batchnorm(mb *b) {
  float sc[C_], bi[C_], mu[C_], var[C_];
  for (int i = 0; i < C_; i++) {
    sc[i] = 1.0f + 0.1f * (float)i;
    bi[i] = 0.2f - 0.05f * (float)i;
    mu[i] = 0.01f * (float)i;
    var[i] = 0.5f + 0.25f * (float)i;
  }
  int64_t d[1] = {C_};
  mb_f(b, "sc", d, 1, sc);
  mb_f(b, "bi", d, 1, bi);
  mb_f(b, "mu", d, 1, mu);
  mb_f(b, "var", d, 1, var);
  Onnx__NodeProto *n = mb_node(b, "BatchNormalization", "s,sc,bi,mu,var", "y");
  mb_af(b, n, "epsilon", 1e-3f);
  mb_out(b, "y");
}
static void c_matmul_gemm(mb *b) {
  float w[W_ * 3], g[3 * C_ * H_ * W_ / 2];
  for (int i = 0; i < W_ * 3; i++) w[i] = 0.1f * (float)(i % 5) - 0.2f;
  for (int i = 0; i < 3 * C_ * H_ * W_ / 2; i++) g[i] = 0.01f * (float)(i % 11) - 0.05f;
  int64_t dw[2] = {W_, 3}, dg[2] = {C_ * H_ * W_ / 2, 3};
  mb_f(b, "w", dw, 2, w);
  mb_f(b, "g", dg, 2, g);
  float cb[3] = {1, 2, 3};
  int64_t dcb[1] = {3};
  mb_f(b, "cb", dcb, 1, cb);
  mb_node(b, "MatMul", "s,w", "y1");
  int64_t rs[2] = {2, -1};
  mb_i(b, "rs", rs, 2);
  mb_node(b, "Reshape", "s,rs", "r");
  Onnx__NodeProto *n = mb_node(b, "Gemm", "r,g,cb", "y2");
  mb_af(b, n, "alpha", 0.5f);
  mb_af(b, n, "beta", 2.0f);
  float c0 = 0.75f;
  mb_f(b, "c0", NULL, 0, &c0);
  n = mb_node(b, "Gemm", "r,r,c0", "y3"); /* dynamic B: r * rᵀ */
  mb_ai(b, n, "transB", 1);
  mb_af(b, n, "alpha", 0.25f);
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
}
static void c_spatial(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "MaxPool", "s", "y1");
  int64_t k[2] = {2, 2}, st[2] = {2, 2};
  mb_aints(b, n, "kernel_shape", k, 2);
  mb_aints(b, n, "strides", st, 2);
  mb_ai(b, n, "ceil_mode", 1);
  n = mb_node(b, "AveragePool", "s", "y2");
  int64_t k3[2] = {3, 3}, p[4] = {1, 1, 1, 1};
  mb_aints(b, n, "kernel_shape", k3, 2);
  mb_aints(b, n, "pads", p, 4);
  mb_ai(b, n, "count_include_pad", 1);
  mb_node(b, "GlobalAveragePool", "s", "y3");
  float sc[4] = {1, 1, 2, 2};
  int64_t d4[1] = {4};
  mb_f(b, "scales", d4, 1, sc);
  n = mb_node(b, "Upsample", "s,scales", "y4");
  mb_as(b, n, "mode", "nearest");
  mb_out(b, "y1");
  mb_out(b, "y2");
  mb_out(b, "y3");
  mb_out(b, "y4");
}

static void c_const12(mb *b) {
  Onnx__NodeProto *n = mb_node(b, "Constant", "", "shp");
  int64_t v[2] = {0, -1};
  mb_aints(b, n, "value_ints", v, 2);
  mb_node(b, "Reshape", "s,shp", "y1");
  n = mb_node(b, "Constant", "", "two");
  mb_af(b, n, "value_float", 2.0f);
  mb_node(b, "Mul", "s,two", "y2");
  mb_out(b, "y1");
  mb_out(b, "y2");
}

/* ------------------------------------------------------------------ tests */

TEST(slice) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("slice9", c_slice9, 9, &r);
  /* y = s[:, 1:3, :, 0:-1] */
  if (r.n == 1) {
    CHECK(r.rank[0] == 4 && r.shape[0][1] == 2 && r.shape[0][2] == H_ && r.shape[0][3] == W_ - 1);
    if (r.count[0] == (size_t)(2 * H_ * (W_ - 1)))
      CHECK(r.data[0][0] == X(1, 0, 0) && r.data[0][(H_ * (W_ - 1)) + 1] == X(2, 0, 1));
  }
  result_free(&r);
  diff_case("slice10", c_slice10, 10, NULL);
}

TEST(pad) {
  diff_case("pad2", c_pad2, 9, NULL);
  diff_case("pad11_reflect", c_pad11_reflect, 11, NULL);
}

TEST(split) {
  diff_case("split", c_split, 9, NULL);
  diff_case("split13", c_split13, 13, NULL);
}

TEST(reduce) { diff_case("reduce", c_reduce, 9, NULL); }

TEST(softmax) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("softmax9", c_softmax, 9, &r);
  /* axis=1 at opset 9: one softmax over all C*H*W values */
  if (r.n == 3) {
    double sum = 0, ref = 0;
    for (int i = 0; i < C_ * H_ * W_; i++) sum += exp(g_x[i]);
    ref = exp(g_x[7]) / sum;
    CHECK_MSG(fabs(r.data[0][7] - ref) < 1e-6, "%g vs %g", r.data[0][7], ref);
  }
  result_free(&r);
  memset(&r, 0, sizeof r);
  diff_case("softmax13", c_softmax13, 13, &r);
  /* axis=1 at opset 13: over C only */
  if (r.n == 1) {
    double sum = 0;
    for (int c = 0; c < C_; c++) sum += exp(X(c, 1, 2));
    double ref = exp(X(2, 1, 2)) / sum;
    CHECK_MSG(fabs(r.data[0][(2 * H_ + 1) * W_ + 2] - ref) < 1e-6, "softmax13 mismatch");
  }
  result_free(&r);
}

TEST(transpose) { diff_case("transpose", c_transpose, 9, NULL); }

TEST(shape_flatten) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("shape_flatten", c_shape_flatten, 9, &r);
  if (r.n == 4) {
    CHECK(r.count[0] == 4 && r.data[0][0] == N_ && r.data[0][1] == C_ && r.data[0][2] == H_ &&
          r.data[0][3] == W_);
    CHECK(r.rank[1] == 2 && r.shape[1][0] == N_ * C_ && r.shape[1][1] == H_ * W_);
    CHECK(r.rank[2] == 2 && r.shape[2][0] == 1);
    CHECK(r.rank[3] == 2 && r.shape[3][1] == W_);
  }
  result_free(&r);
}

TEST(squeeze) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("squeeze", c_squeeze, 9, &r);
  if (r.n == 3) {
    CHECK(r.rank[0] == 6 && r.shape[0][0] == 1 && r.shape[0][1] == N_ && r.shape[0][3] == 1 &&
          r.shape[0][5] == W_);
    CHECK(r.rank[1] == 4 && r.shape[1][1] == C_);
    CHECK(r.rank[2] == 5 && r.shape[2][4] == 1);
  }
  result_free(&r);
  diff_case("squeeze13", c_squeeze13, 13, NULL);
}

TEST(constant_value_attrs) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("const12", c_const12, 13, &r);
  if (r.n == 2) {
    CHECK(r.rank[0] == 2 && r.shape[0][0] == N_ && r.shape[0][1] == C_ * H_ * W_);
    CHECK(r.count[1] == (size_t)(C_ * H_ * W_) && r.data[1][9] == 2.0f * g_x[9]);
  }
  result_free(&r);
}

TEST(eltwise) { diff_case("eltwise", c_eltwise, 9, NULL); }
TEST(concat_mixed) { diff_case("concat", c_concat_mixed, 9, NULL); }
TEST(batchnorm) { diff_case("batchnorm", c_batchnorm, 9, NULL); }
TEST(matmul_gemm) { diff_case("matmul_gemm", c_matmul_gemm, 9, NULL); }

TEST(spatial) {
  result r;
  memset(&r, 0, sizeof r);
  diff_case("spatial", c_spatial, 9, &r);
  if (r.n == 4) {
    /* maxpool 2x2/2 ceil: [1,4,3,3]; upsample nearest x2: y[c][i][j] = x[c][i/2][j/2] */
    CHECK(r.shape[0][2] == (H_ + 1) / 2 && r.shape[0][3] == W_ / 2);
    CHECK(r.shape[3][2] == 2 * H_ && r.shape[3][3] == 2 * W_);
    if (r.count[3] == (size_t)(C_ * 4 * H_ * W_))
      CHECK(r.data[3][((1 * 2 * H_) + 3) * 2 * W_ + 5] == X(1, 1, 2));
    /* global average pool of channel 2 */
    double m = 0;
    for (int h = 0; h < H_; h++)
      for (int w = 0; w < W_; w++) m += X(2, h, w);
    m /= H_ * W_;
    CHECK_MSG(r.count[2] == C_ && fabs(r.data[2][2] - m) < 1e-5, "gap %g vs %g", r.data[2][2], m);
  }
  result_free(&r);
}

static void init_x(void) {
  unsigned seed = 2024;
  for (int i = 0; i < N_ * C_ * H_ * W_; i++) g_x[i] = fr_t_randf(&seed) * 2.0f;
}

TEST(setup) { init_x(); }

RUN_TESTS(T(setup), T(slice), T(pad), T(split), T(reduce), T(softmax), T(transpose),
          T(shape_flatten), T(squeeze), T(constant_value_attrs), T(eltwise), T(concat_mixed), T(batchnorm), T(matmul_gemm),
          T(spatial))
