/*
 * facerec detect IMAGE|DIR... : faces (box, score, 5 landmarks) per image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec detect IMAGE|DIR... [--json] [--min-score S] [--annotate OUTDIR]\n"
    "                      [--models DIR] [--threads N]\n"
    "\n"
    "Detects the faces in each image: box, score and five landmarks (left eye,\n"
    "right eye, nose, left and right mouth corner), in image pixels, the largest\n"
    "face first (as in embed, recognize and the HTTP API; equal boxes: higher score\n"
    "first). Directories are walked recursively in name order (hidden entries\n"
    "skipped); their files are taken when their content is an image (JPEG, PNG,\n"
    "WebP, GIF, BMP), others are skipped with a note on stderr.\n"
    "\n"
    "  --json            one JSON object per image (JSON Lines):\n"
    "                    {\"image\":P,\"width\":W,\"height\":H,\"faces\":[{\"box\":{\"x\":X,\n"
    "                    \"y\":Y,\"w\":W,\"h\":H},\"score\":S,\"landmarks\":[[x,y],...]}]}\n"
    "                    An image that cannot be read gives\n"
    "                    {\"image\":P,\"error\":MSG,\"faces\":[]}.\n"
    "  --min-score S     detection score threshold, 0.01 to 1 (default: the\n"
    "                    detector's)\n"
    "  --annotate OUTDIR write each image with its boxes drawn to OUTDIR (JPEG, same\n"
    "                    name; the extension becomes .jpg unless it is .jpg/.jpeg;\n"
    "                    files found in a directory keep their sub-folders)\n"
    "  --models DIR      model directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --threads N       images processed in parallel (default: cores, at most 4)\n"
    "\n"
    "Exit status: 0; 1 when an image could not be read or written (the others are\n"
    "still processed); 2 on usage errors.\n";

typedef struct detect_ctx {
  fr__cli c;
  const fr_engine *e;
  fr__cli_inputs in;
  float min_score;
  const char *annotate;
  fr__cli_analysis *res;
  char (*annot_err)[512];
  int failures;
} detect_ctx;

static void work(void *p, fr_worker *w, size_t i) {
  detect_ctx *x = p;
  fr_image img = {0};
  fr__cli_analysis *a = &x->res[i];
  fr__cli_analyze(w, x->e, x->in.v[i].path, x->min_score, false, x->annotate ? &img : NULL, a);
  if (a->st != FR_OK || !x->annotate) return;
  static const uint8_t green[3] = {0, 200, 0};
  char label[32], out[4096];
  for (int k = 0; k < a->n; k++) {
    snprintf(label, sizeof label, "%.2f", (double)a->faces[k].score);
    fr__cli_draw_face(&img, &a->faces[k], label, green);
  }
  fr_error err = {{0}};
  if (fr__cli_annotated_path(x->annotate, &x->in.v[i], out, sizeof out, &err) == 0)
    (void)fr_image_save_jpeg(&img, out, 90, &err);
  if (err.msg[0]) snprintf(x->annot_err[i], sizeof x->annot_err[i], "%s", err.msg);
  fr_image_free(&img);
}

static void emit(void *p, size_t i) {
  detect_ctx *x = p;
  fr__cli_analysis *a = &x->res[i];
  const char *path = x->in.v[i].path;
  if (a->st != FR_OK) {
    fprintf(stderr, "%s: %s\n", x->c.name, a->msg);
    x->failures++;
    if (x->c.json) fr__cli_print_json(fr__cli_error_json(path, a->msg));
    return;
  }
  if (x->c.json) {
    json_t *o = fr__cli_image_json(path, &(fr_image){.w = a->w, .h = a->h});
    json_t *faces = json_array();
    for (int k = 0; k < a->n; k++) json_array_append_new(faces, fr__cli_face_json(&a->faces[k]));
    json_object_set_new(o, "faces", faces);
    fr__cli_print_json(o);
  } else {
    printf("%s  %dx%d  %d face%s\n", path, a->w, a->h, a->n, a->n == 1 ? "" : "s");
    for (int k = 0; k < a->n; k++) {
      const fr_face *f = &a->faces[k];
      printf("  #%-3d x %7.1f  y %7.1f  w %6.1f  h %6.1f  score %.3f\n", k, (double)f->x,
             (double)f->y, (double)f->w, (double)f->h, (double)f->score);
    }
    fflush(stdout);
  }
  if (x->annot_err[i][0]) {
    fprintf(stderr, "%s: %s\n", x->c.name, x->annot_err[i]);
    x->failures++;
  }
  fr__cli_analysis_free(a);
}

int fr_cli_detect(int argc, char **argv) {
  detect_ctx x = {.min_score = -1};
  fr__cli_init(&x.c, "facerec detect", usage, FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const fr__cli_optdef defs[] = {
      {"--min-score", FR__OPT_FLOAT, &x.min_score, 0.01, 1.0},
      {"--annotate", FR__OPT_STRING, &x.annotate, 0, 0},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&x.c, argc, argv, defs, &ops, &n_ops);
  if (rc == 0 && n_ops == 0) rc = fr__cli_usage_error(&x.c, "no IMAGE given");
  if (rc) {
    free(ops);
    return rc == FR__CLI_HELP ? 0 : rc;
  }
  for (int k = 0; k < n_ops && rc == 0; k++) rc = fr__cli_collect(&x.c, ops[k], NULL, &x.in);
  free(ops);
  if (rc == 0 && x.in.n == 0) rc = fr__cli_fail(&x.c, "no image files found");
  if (rc == 0 && x.annotate && fr__cli_mkdirs(x.annotate) != 0)
    rc = fr__cli_fail(&x.c, "cannot create %s: %s", x.annotate, strerror(errno));
  fr_engine *e = NULL;
  if (rc == 0) rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc == 0) {
    x.e = e;
    if (x.min_score < 0) x.min_score = fr_engine_config_of(e)->min_score;
    x.res = calloc(x.in.n, sizeof *x.res);
    x.annot_err = calloc(x.in.n, sizeof *x.annot_err);
    if (!x.res || !x.annot_err) rc = fr__cli_fail(&x.c, "out of memory");
  }
  if (rc == 0) rc = fr__cli_run(&x.c, e, x.in.n, work, emit, &x);
  if (rc == 0 && x.failures) rc = 1;
  if (x.res)
    for (size_t i = 0; i < x.in.n; i++) fr__cli_analysis_free(&x.res[i]);
  free(x.res);
  free(x.annot_err);
  fr__cli_inputs_free(&x.in);
  if (e) fr_engine_free(e);
  return rc;
}
