/*
 * Black-box tests of `facerec model run` and `facerec model inspect`: the real
 * binary ($FR_FACEREC) on fixture inputs, outputs read back from the files it
 * writes (names sanitized as the spec says, model layout), compared with the
 * reference tensors; and its errors (exit status and message) on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[256];

/* Runs a shell command, captures stdout+stderr into *out (caller frees); returns exit status. */
static int run(const char *cmd, char **out) {
  char full[8192];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  if (!p) return -1;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += r;
    if (cap - n < 2) buf = realloc(buf, cap *= 2);
  }
  buf[n] = 0;
  int st = pclose(p);
  if (out) *out = buf;
  else free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *bin(void) { return fr_t_env("FR_FACEREC", "./facerec"); }
static const char *shared(void) { return fr_t_env("FR_SHARED_DIR", "../shared"); }
static const char *models(void) {
  static char buf[2048];
  const char *m = getenv("FR_MODELS_DIR");
  if (m) return m;
  snprintf(buf, sizeof buf, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  return buf;
}

/* Compares a written file against the reference with the golden rule. */
static int same(const char *got_path, const char *ref_path) {
  size_t gl = 0, rl = 0;
  float *g = fr_t_read_file(got_path, &gl), *r = fr_t_read_file(ref_path, &rl);
  int ok = g && r && gl == rl && gl > 0;
  if (ok) {
    double mx = 0;
    for (size_t i = 0; i < rl / 4; i++)
      if (fabs(r[i]) > mx) mx = fabs(r[i]);
    for (size_t i = 0; i < rl / 4 && ok; i++)
      if (!(fabs(g[i] - r[i]) <= 1e-4 * mx + 1e-3 * fabs(r[i]))) ok = 0;
  }
  if (!ok) fprintf(stderr, "mismatch: %s vs %s (%zu vs %zu bytes)\n", got_path, ref_path, gl, rl);
  free(g);
  free(r);
  return ok;
}

static void check_case(const char *model, const char *fixture, const char *shape,
                       const char *const *nodes, const char *const *files, int n) {
  char cmd[8192], outdir[512];
  snprintf(outdir, sizeof outdir, "%s/out_%d", tmpdir, (int)(strlen(fixture) * 31 + n));
  int off = snprintf(cmd, sizeof cmd, "'%s' model run '%s/%s' --input '%s/fixtures/%s/input.f32' "
                     "--shape %s --output-dir '%s' --threads 1", bin(), models(), model, shared(),
                     fixture, shape, outdir);
  for (int i = 0; i < n; i++)
    if (nodes[i]) off += snprintf(cmd + off, sizeof cmd - (size_t)off, " --node '%s'", nodes[i]);
  char *out = NULL;
  int rc = run(cmd, &out);
  CHECK_MSG(rc == 0, "%s -> %d: %s", cmd, rc, out);
  free(out);
  for (int i = 0; i < n; i++) {
    char got[1024], ref[4096];
    snprintf(got, sizeof got, "%s/%s", outdir, files[i]);
    snprintf(ref, sizeof ref, "%s/fixtures/%s/%s", shared(), fixture, files[i]);
    CHECK_MSG(same(got, ref), "%s", files[i]);
  }
}

TEST(run_onnx_with_nodes) {
  const char *nodes[] = {NULL, "518", "507"};
  const char *files[] = {"output.f32", "518.f32", "507.f32"};
  check_case("faceplugin/fr_feature.onnx", "onnx/fr_feature/Aaron_Eckhart_0001", "1,3,112,112", nodes,
             files, 3);
}

TEST(run_tflite_sanitized_names) {
  const char *nodes[] = {NULL, "pnet/conv1/BiasAdd"};
  const char *files[] = {"pnet_prob1.f32", "pnet_conv1_BiasAdd.f32"};
  check_case("expo/pnet.tflite", "tflite/pnet/Aaron_Eckhart_0001", "1,120,120,3", nodes, files, 2);
}

TEST(run_tfjs_outputs) {
  const char *nodes[] = {NULL, NULL, NULL};
  const char *files[] = {"gender_pred_Sigmoid.f32", "global_pooling_Mean.f32", "age_pred_Softmax.f32"};
  check_case("human/faceres.json", "tfjs/faceres/Aaron_Eckhart_0001", "1,224,224,3", nodes, files, 3);
}

TEST(errors_are_clear) {
  char cmd[4096], *out = NULL;
  /* missing model file */
  snprintf(cmd, sizeof cmd, "'%s' model run /nonexistent.onnx --input x --shape 1 --output-dir %s/e",
           bin(), tmpdir);
  CHECK(run(cmd, &out) == 1);
  CHECK_MSG(strstr(out, "/nonexistent.onnx") != NULL, "%s", out);
  free(out);
  /* input size does not match the shape */
  snprintf(cmd, sizeof cmd,
           "'%s' model run '%s/faceplugin/fr_feature.onnx' --input '%s/fixtures/onnx/fr_feature/"
           "Aaron_Eckhart_0001/input.f32' --shape 1,3,112,111 --output-dir %s/e",
           bin(), models(), shared(), tmpdir);
  CHECK(run(cmd, &out) == 1);
  CHECK_MSG(strstr(out, "needs") != NULL, "%s", out);
  free(out);
  /* unknown node */
  snprintf(cmd, sizeof cmd,
           "'%s' model run '%s/faceplugin/fr_feature.onnx' --input '%s/fixtures/onnx/fr_feature/"
           "Aaron_Eckhart_0001/input.f32' --shape 1,3,112,112 --output-dir %s/e --node no_such_node",
           bin(), models(), shared(), tmpdir);
  CHECK(run(cmd, &out) == 1);
  CHECK_MSG(strstr(out, "no_such_node") != NULL, "%s", out);
  free(out);
  /* wrong input shape for a fixed-size model */
  snprintf(cmd, sizeof cmd,
           "'%s' model run '%s/faceplugin/fr_feature.onnx' --input '%s/fixtures/onnx/fr_feature/"
           "Aaron_Eckhart_0001/input.f32' --shape 1,3,56,448 --output-dir %s/e",
           bin(), models(), shared(), tmpdir);
  CHECK(run(cmd, &out) == 1);
  CHECK_MSG(strstr(out, "input") != NULL, "%s", out);
  free(out);
  /* usage errors exit 2 */
  snprintf(cmd, sizeof cmd, "'%s' model run", bin());
  CHECK(run(cmd, &out) == 2);
  free(out);
  snprintf(cmd, sizeof cmd, "'%s' frobnicate", bin());
  CHECK(run(cmd, &out) == 2);
  free(out);
  snprintf(cmd, sizeof cmd, "'%s' --help", bin());
  CHECK(run(cmd, &out) == 0);
  CHECK(strstr(out, "model run") != NULL && strstr(out, "--node") != NULL);
  free(out);
}

TEST(inspect) {
  char cmd[4096], *out = NULL;
  snprintf(cmd, sizeof cmd, "'%s' model inspect '%s/faceplugin/fr_feature.onnx'", bin(), models());
  CHECK(run(cmd, &out) == 0);
  CHECK_MSG(strstr(out, "CONV2D") && strstr(out, "FLOPs") && strstr(out, "output [1,512]"), "%s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "'%s' model inspect '%s/expo/pnet.tflite' --shape 1,240,320,3", bin(),
           models());
  CHECK(run(cmd, &out) == 0);
  CHECK_MSG(strstr(out, "planned at: [1,240,320,3]") != NULL, "%s", out);
  free(out);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/fr_cli_test_%d", (int)getpid());
  char cmd[512];
  snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
  if (system(cmd) != 0) return 1;
  static const fr_t_case cases[] = {T(run_onnx_with_nodes), T(run_tflite_sanitized_names),
                                    T(run_tfjs_outputs), T(errors_are_clear), T(inspect)};
  int rc = fr_t_run(cases, (int)(sizeof cases / sizeof cases[0]));
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) rc = 1;
  return rc;
}
