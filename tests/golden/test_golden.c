/*
 * Golden tensors: every case in $FR_SHARED_DIR/fixtures/{onnx,tflite,tfjs}/<model>/<case>/
 * must reproduce every saved tensor (outputs and intermediates) with
 *     |c - ref| <= 1e-4 * max|ref| + 1e-3 * |ref|     (element-wise, per tensor)
 * and the model outputs must come in the reference runtime's order.
 *
 * usage: test_golden [FILTER]    FILTER: substring of "<format>/<model>/<case>"
 * Each case runs with 1 thread and with a 2-thread pool, twice per session (the
 * second run reuses the plan and must give identical results).
 * Models come from $FR_MODELS_DIR (default $FR_SOURCE_DIR/models).
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/nn.h"
#include "testutil.h"

static int n_pass, n_fail;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted subdirectory names of dir; caller frees each and the array. */
static int list_dirs(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0, cap = 16;
  char **v = malloc(sizeof(char *) * (size_t)cap);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    DIR *sub = opendir(p);
    if (!sub) continue;
    closedir(sub);
    if (n == cap) v = realloc(v, sizeof(char *) * (size_t)(cap *= 2));
    v[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(v, (size_t)n, sizeof(char *), cmp_str);
  *out = v;
  return n;
}

static void sanitize(const char *name, char *out, size_t n) {
  size_t i = 0;
  for (; name[i] && i + 1 < n; i++) {
    char c = name[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
    out[i] = ok ? c : '_';
  }
  out[i] = 0;
}

/* Compares one tensor; returns 1 when it passes. */
static int compare(const char *label, const char *tname, const fr_tensor_view *tv, json_t *shape,
                   const float *ref, size_t ref_n) {
  size_t want = 1;
  int rank = (int)json_array_size(shape);
  int shape_ok = rank == tv->rank;
  for (int k = 0; k < rank; k++) {
    int64_t d = json_integer_value(json_array_get(shape, (size_t)k));
    want *= (size_t)d;
    if (k < tv->rank && tv->shape[k] != d) shape_ok = 0;
  }
  if (!shape_ok || want != ref_n || tv->count != ref_n) {
    fprintf(stderr, "%s: tensor '%s': shape mismatch (got rank %d, %zu elements; want %zu)\n", label,
            tname, tv->rank, tv->count, ref_n);
    return 0;
  }
  double maxref = 0;
  for (size_t i = 0; i < ref_n; i++)
    if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
  double worst = 0; /* worst |c-ref| / (bound) */
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < ref_n; i++) {
    double c = tv->data[i], r = ref[i];
    double bound = 1e-4 * maxref + 1e-3 * fabs(r);
    double diff = fabs(c - r);
    if (!(diff <= bound)) bad++;
    double q = bound > 0 ? diff / bound : (diff > 0 ? INFINITY : 0);
    if (!(q <= worst)) {
      worst = q;
      worst_i = i;
    }
  }
  if (bad) {
    fprintf(stderr,
            "%s: tensor '%s': %zu of %zu elements out of tolerance; worst at %zu: got %.9g want %.9g "
            "(max|ref| %.6g)\n",
            label, tname, bad, ref_n, worst_i, tv->data[worst_i], ref[worst_i], maxref);
    return 0;
  }
  return 1;
}

static void run_case(const char *fmt, const char *model, const char *casedir, const char *label) {
  char path[8192], mpath[8192];
  snprintf(path, sizeof path, "%s/meta.json", casedir);
  json_error_t jerr;
  json_t *meta = json_load_file(path, 0, &jerr);
  if (!meta) {
    fprintf(stderr, "%s: cannot parse %s: %s\n", label, path, jerr.text);
    n_fail++;
    return;
  }
  const char *models = fr_t_env("FR_MODELS_DIR", NULL);
  char mdir[2048];
  if (!models) {
    snprintf(mdir, sizeof mdir, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
    models = mdir;
  }
  json_t *jm = json_object_get(meta, "model");
  const char *file = json_string_value(json_object_get(jm, "file"));
  if (strcmp(fmt, "onnx") == 0) snprintf(mpath, sizeof mpath, "%s/faceplugin/%s", models, file);
  else if (strcmp(fmt, "tflite") == 0) snprintf(mpath, sizeof mpath, "%s/expo/%s", models, file);
  else snprintf(mpath, sizeof mpath, "%s/human/%s.json", models, model);

  json_t *jin = json_object_get(meta, "input");
  json_t *jshape = json_object_get(jin, "shape");
  int64_t dims[FR_MAX_DIMS];
  int rank = (int)json_array_size(jshape);
  for (int k = 0; k < rank && k < FR_MAX_DIMS; k++)
    dims[k] = json_integer_value(json_array_get(jshape, (size_t)k));
  snprintf(path, sizeof path, "%s/%s", casedir, json_string_value(json_object_get(jin, "file")));
  size_t in_len = 0;
  float *input = fr_t_read_file(path, &in_len);
  json_t *tensors = json_object_get(meta, "tensors");

  fr_error err = {{0}};
  fr_model *m = NULL;
  int ok = 1;
  if (!input) {
    fprintf(stderr, "%s: cannot read %s\n", label, path);
    ok = 0;
  } else if (fr_model_load(mpath, NULL, &m, &err)) {
    fprintf(stderr, "%s: load failed: %s\n", label, err.msg);
    ok = 0;
  }
  for (int threads = 1; ok && threads <= 2; threads++) {
    fr_threadpool *tp = fr_threadpool_create(threads);
    fr_session *s = NULL;
    if (!tp || fr_session_create(m, tp, &s, &err)) {
      fprintf(stderr, "%s: session: %s\n", label, err.msg);
      ok = 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tensors, i, t) {
      if (!ok) break;
      const char *tn = json_string_value(json_object_get(t, strcmp(fmt, "tfjs") == 0 ? "node" : "name"));
      if (fr_session_keep(s, tn, &err)) {
        fprintf(stderr, "%s: keep '%s': %s\n", label, tn, err.msg);
        ok = 0;
      }
    }
    float *first = NULL;
    size_t first_n = 0;
    for (int rep = 0; ok && rep < 2; rep++) {
      if (fr_session_set_input(s, 0, input, dims, rank, &err) || fr_session_run(s, &err)) {
        fprintf(stderr, "%s: run (%d threads): %s\n", label, threads, err.msg);
        ok = 0;
        break;
      }
      json_array_foreach(tensors, i, t) {
        const char *tn = json_string_value(json_object_get(t, strcmp(fmt, "tfjs") == 0 ? "node" : "name"));
        fr_tensor_view tv;
        if (fr_session_get(s, tn, &tv, &err)) {
          fprintf(stderr, "%s: get '%s': %s\n", label, tn, err.msg);
          ok = 0;
          continue;
        }
        if (rep == 0 && threads == 1) {
          char fname[1024];
          const char *f = json_string_value(json_object_get(t, "file"));
          if (!f) {
            sanitize(tn, fname, sizeof fname);
            strcat(fname, ".f32");
            f = fname;
          }
          snprintf(path, sizeof path, "%s/%s", casedir, f);
          size_t rl = 0;
          float *ref = fr_t_read_file(path, &rl);
          if (!ref) {
            fprintf(stderr, "%s: cannot read %s\n", label, path);
            ok = 0;
            continue;
          }
          if (!compare(label, tn, &tv, json_object_get(t, "shape"), ref, rl / 4)) ok = 0;
          free(ref);
          /* output order */
          json_t *oi = json_object_get(t, "output_index");
          if (json_is_integer(oi)) {
            const char *on = fr_model_output_name(m, (int)json_integer_value(oi));
            if (!on || strcmp(on, tn) != 0) {
              fprintf(stderr, "%s: output %d is '%s', reference has '%s'\n", label,
                      (int)json_integer_value(oi), on ? on : "(none)", tn);
              ok = 0;
            }
          }
        }
        /* determinism across runs of one session: compare the first tensor */
        if (i == 0) {
          if (rep == 0) {
            first = malloc(tv.count * sizeof(float) + 4);
            memcpy(first, tv.data, tv.count * sizeof(float));
            first_n = tv.count;
          } else if (first_n != tv.count || memcmp(first, tv.data, tv.count * sizeof(float)) != 0) {
            fprintf(stderr, "%s: second run of the same session differs\n", label);
            ok = 0;
          }
        }
      }
    }
    free(first);
    fr_session_free(s);
    fr_threadpool_free(tp);
  }
  fr_model_free(m);
  free(input);
  json_decref(meta);
  if (ok) {
    n_pass++;
    printf("ok   %s\n", label);
  } else {
    n_fail++;
    printf("FAIL %s\n", label);
  }
}

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : NULL;
  const char *shared = fr_t_env("FR_SHARED_DIR", "../shared");
  static const char *formats[] = {"onnx", "tflite", "tfjs"};
  int found = 0;
  for (int f = 0; f < 3; f++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/%s", shared, formats[f]);
    char **models;
    int nm = list_dirs(dir, &models);
    if (nm < 0) continue;
    for (int i = 0; i < nm; i++) {
      char mdir[4096];
      snprintf(mdir, sizeof mdir, "%s/%s", dir, models[i]);
      char **cases;
      int nc = list_dirs(mdir, &cases);
      for (int c = 0; c < nc; c++) {
        char label[512], cdir[8192];
        snprintf(label, sizeof label, "%s/%s/%s", formats[f], models[i], cases[c]);
        snprintf(cdir, sizeof cdir, "%s/%s", mdir, cases[c]);
        if (!filter || strstr(label, filter)) {
          found++;
          run_case(formats[f], models[i], cdir, label);
        }
        free(cases[c]);
      }
      if (nc >= 0) free(cases);
      free(models[i]);
    }
    free(models);
  }
  if (!found) {
    fprintf(stderr, "no golden cases found under %s/fixtures%s%s\n", shared, filter ? " matching " : "",
            filter ? filter : "");
    return 1;
  }
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
