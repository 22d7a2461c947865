/*
 * facerec embed IMAGE|DIR... : every face's L2-normalized embedding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec embed IMAGE|DIR... [--json] [--min-score S] [--models DIR]\n"
    "                     [--threads N]\n"
    "\n"
    "Detects the faces in each image, aligns each onto the 112x112 ArcFace\n"
    "template and prints its L2-normalized embedding (the recognizer's output).\n"
    "Directories are walked as by detect (image files detected by content).\n"
    "\n"
    "  --json         one JSON object per image (JSON Lines):\n"
    "                 {\"image\":P,\"width\":W,\"height\":H,\"model\":ID,\"faces\":[{\"box\":\n"
    "                 {..},\"score\":S,\"landmarks\":[[x,y],...],\"embedding\":[...],\n"
    "                 \"model\":ID}]}\n"
    "                 Embedding values keep full float precision (9 significant\n"
    "                 digits). An image that cannot be read gives\n"
    "                 {\"image\":P,\"error\":MSG,\"faces\":[]}.\n"
    "  --min-score S  detection score threshold, 0.01 to 1 (default: the\n"
    "                 detector's)\n"
    "  --models DIR   model directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --threads N    images processed in parallel (default: cores, at most 4)\n"
    "\n"
    "Without --json: one line per face with its box and first embedding values.\n"
    "Exit status: 0; 1 when an image could not be read (the others are still\n"
    "processed); 2 on usage errors.\n";

typedef struct embed_ctx {
  fr__cli c;
  const fr_engine *e;
  fr__cli_inputs in;
  float min_score;
  fr__cli_analysis *res;
  int failures;
} embed_ctx;

static void work(void *p, fr_worker *w, size_t i) {
  embed_ctx *x = p;
  fr__cli_analyze(w, x->e, x->in.v[i].path, x->min_score, true, NULL, &x->res[i]);
}

static void emit(void *p, size_t i) {
  embed_ctx *x = p;
  fr__cli_analysis *a = &x->res[i];
  const char *path = x->in.v[i].path, *model = fr_engine_model_id(x->e);
  int dim = fr_engine_embed_dim(x->e);
  if (a->st != FR_OK) {
    fprintf(stderr, "%s: %s\n", x->c.name, a->msg);
    x->failures++;
    if (x->c.json) fr__cli_print_json(fr__cli_error_json(path, a->msg));
    return;
  }
  if (x->c.json) {
    json_t *o = fr__cli_image_json(path, &(fr_image){.w = a->w, .h = a->h});
    json_object_set_new(o, "model", json_string(model));
    json_t *faces = json_array();
    for (int k = 0; k < a->n; k++) {
      json_t *f = fr__cli_face_json(&a->faces[k]);
      json_t *v = json_array();
      const float *e = a->emb + (size_t)k * (size_t)dim;
      for (int d = 0; d < dim; d++) json_array_append_new(v, fr__cli_real(e[d]));
      json_object_set_new(f, "embedding", v);
      json_object_set_new(f, "model", json_string(model));
      json_array_append_new(faces, f);
    }
    json_object_set_new(o, "faces", faces);
    fr__cli_print_json(o);
  } else {
    printf("%s  %dx%d  %d face%s  model %s (%d-d)\n", path, a->w, a->h, a->n, a->n == 1 ? "" : "s",
           model, dim);
    for (int k = 0; k < a->n; k++) {
      const fr_face *f = &a->faces[k];
      const float *e = a->emb + (size_t)k * (size_t)dim;
      printf("  #%-3d box %.0f,%.0f %.0fx%.0f  score %.3f  embedding [", k, (double)f->x,
             (double)f->y, (double)f->w, (double)f->h, (double)f->score);
      for (int d = 0; d < dim && d < 4; d++) printf("%s%.4f", d ? ", " : "", (double)e[d]);
      printf("%s]\n", dim > 4 ? ", ..." : "");
    }
    fflush(stdout);
  }
  fr__cli_analysis_free(a);
}

int fr_cli_embed(int argc, char **argv) {
  embed_ctx x = {.min_score = -1};
  fr__cli_init(&x.c, "facerec embed", usage, FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const fr__cli_optdef defs[] = {
      {"--min-score", FR__OPT_FLOAT, &x.min_score, 0.01, 1.0},
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
  fr_engine *e = NULL;
  if (rc == 0) rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc == 0) {
    x.e = e;
    if (x.min_score < 0) x.min_score = fr_engine_config_of(e)->min_score;
    if (!(x.res = calloc(x.in.n, sizeof *x.res))) rc = fr__cli_fail(&x.c, "out of memory");
  }
  if (rc == 0) rc = fr__cli_run(&x.c, e, x.in.n, work, emit, &x);
  if (rc == 0 && x.failures) rc = 1;
  if (x.res)
    for (size_t i = 0; i < x.in.n; i++) fr__cli_analysis_free(&x.res[i]);
  free(x.res);
  fr__cli_inputs_free(&x.in);
  if (e) fr_engine_free(e);
  return rc;
}
