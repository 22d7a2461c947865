#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/exec.h"
#include "nn/optimize.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

fr_status fr_model_load(const char *path, const fr_model_options *opt, fr_model **out,
                        fr_error *err) {
  *out = NULL;
  if (!path || !*path) return fr_error_set(err, FR_ERR_INVALID_ARG, "no model path given");
  if (opt && opt->precision != FR_PRECISION_F32 && opt->precision != FR_PRECISION_BF16)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: unknown precision %d", path, opt->precision);
  if (opt && opt->precision_min_elems < 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: negative precision_min_elems", path);
  FILE *f = fopen(path, "rb");
  if (!f) return fr_error_set(err, FR_ERR_IO, "%s: cannot open the model file", path);
  unsigned char head[16] = {0};
  size_t got = fread(head, 1, sizeof head, f);
  fclose(f);
  if (got == 0) return fr_error_set(err, FR_ERR_FORMAT, "%s: the file is empty", path);
  const char *format;
  size_t skip = 0;
  while (skip < got && (head[skip] == ' ' || head[skip] == '\n' || head[skip] == '\r' ||
                        head[skip] == '\t'))
    skip++;
  if (got >= 8 && memcmp(head + 4, "TFL3", 4) == 0) format = "tflite";
  else if ((skip < got && head[skip] == '{') || ends_with(path, ".json")) format = "tfjs";
  else if (ends_with(path, ".tflite")) format = "tflite";
  else format = "onnx"; /* protobuf has no magic; the loader validates */
  fr_model *m = calloc(1, sizeof *m);
  if (!m) return fr_error_set(err, FR_ERR_NOMEM, "out of memory");
  fr__graph_init(&m->g, path, format);
  fr_status st;
  if (strcmp(format, "tflite") == 0) st = fr__tflite_load(path, &m->g, err);
  else if (strcmp(format, "tfjs") == 0) st = fr__tfjs_load(path, &m->g, err);
  else st = fr__onnx_load(path, &m->g, err);
  if (!st) st = fr__graph_optimize(&m->g, err);
  if (!st && opt && opt->dynamic_hw) {
    /* spatial dims of 4-D inputs, in the model's layout */
    int h = strcmp(format, "onnx") == 0 ? 2 : 1;
    for (int i = 0; i < m->g.n_inputs; i++) {
      fr__value *v = &m->g.values[m->g.inputs[i]];
      if (v->shape.rank == 4) v->shape.d[h] = v->shape.d[h + 1] = -1;
    }
  }
  if (opt) m->precision = opt->precision, m->precision_min_elems = opt->precision_min_elems;
  if (st) {
    fr__graph_free(&m->g);
    free(m);
    return st;
  }
  *out = m;
  return FR_OK;
}

void fr_model_free(fr_model *m) {
  if (!m) return;
  fr__graph_free(&m->g);
  free(m);
}
