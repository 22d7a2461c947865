/*
 * facerec compare A B : cosine similarity of the main faces of two images and
 * the same/different decision at the threshold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec compare IMAGE_A IMAGE_B [--json] [--threshold T] [--models DIR]\n"
    "                       [--threads N]\n"
    "\n"
    "Compares the main face of two images: the largest detected face of each\n"
    "(ties: the higher detector score). Prints the cosine similarity of their\n"
    "embeddings and whether it reaches the threshold (same person).\n"
    "\n"
    "  --json         {\"similarity\":C,\"same\":true|false,\"threshold\":T}\n"
    "  --threshold T  decision threshold on the similarity, -1 to 1 (default: the\n"
    "                 recognizer's, chosen on LFW View 1 DevTrain at FAR <= 1e-3)\n"
    "  --models DIR   model directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --threads N    images processed in parallel (default: cores, at most 4)\n"
    "\n"
    "Exit status: 0 (same or different); 1 when an image cannot be read or has no\n"
    "face; 2 on usage errors.\n";

typedef struct compare_ctx {
  fr__cli c;
  const fr_engine *e;
  const char *paths[2];
  fr__cli_analysis a[2];
  float emb[2][FR_EMBED_MAX];
} compare_ctx;

static void work(void *p, fr_worker *w, size_t i) {
  compare_ctx *x = p;
  fr__cli_analysis *a = &x->a[i];
  fr_image img = {0};
  fr__cli_analyze(w, x->e, x->paths[i], fr_engine_config_of(x->e)->min_score, false, &img, a);
  if (a->st != FR_OK) return;
  int k = a->n > 0 ? 0 : -1; /* the largest face: fr__cli_analyze lists it first */
  fr_error err = {{0}};
  if (k < 0) {
    a->st = fr_error_set(&err, FR_ERR_NOT_FOUND, "no face found in %s", x->paths[i]);
  } else if ((a->st = fr_embed_face(w, &img, &a->faces[k], x->emb[i], NULL, &err)) != FR_OK) {
    char inner[sizeof err.msg];
    memcpy(inner, err.msg, sizeof inner);
    fr_error_set(&err, a->st, "%s: embedding failed: %s", x->paths[i], inner);
  }
  if (a->st != FR_OK) snprintf(a->msg, sizeof a->msg, "%s", err.msg);
  fr_image_free(&img);
}

static void emit(void *p, size_t i) {
  (void)p;
  (void)i;
}

int fr_cli_compare(int argc, char **argv) {
  compare_ctx x = {0};
  float threshold = -2;
  fr__cli_init(&x.c, "facerec compare", usage, FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const fr__cli_optdef defs[] = {
      {"--threshold", FR__OPT_FLOAT, &threshold, -1.0, 1.0},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&x.c, argc, argv, defs, &ops, &n_ops);
  if (rc == 0 && n_ops != 2)
    rc = fr__cli_usage_error(&x.c, "needs exactly two images, %d given", n_ops);
  if (rc) {
    free(ops);
    return rc == FR__CLI_HELP ? 0 : rc;
  }
  x.paths[0] = ops[0];
  x.paths[1] = ops[1];
  free(ops);
  fr_engine *e = NULL;
  rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc) return rc;
  x.e = e;
  if (threshold < -1) threshold = fr_engine_default_threshold(e);
  rc = fr__cli_run(&x.c, e, 2, work, emit, &x);
  for (int i = 0; i < 2 && rc == 0; i++)
    if (x.a[i].st != FR_OK) rc = fr__cli_fail(&x.c, "%s", x.a[i].msg);
  if (rc == 0) {
    float sim = fr_cosine(x.emb[0], x.emb[1], fr_engine_embed_dim(e));
    bool same = sim >= threshold;
    if (x.c.json) {
      json_t *o = json_object();
      json_object_set_new(o, "similarity", fr__cli_real(sim));
      json_object_set_new(o, "same", json_boolean(same));
      json_object_set_new(o, "threshold", fr__cli_real(threshold));
      fr__cli_print_json(o);
    } else {
      printf("similarity %.4f  threshold %.4f  %s\n", (double)sim, (double)threshold,
             same ? "same person" : "different people");
    }
  }
  for (int i = 0; i < 2; i++) fr__cli_analysis_free(&x.a[i]);
  fr_engine_free(e);
  return rc;
}
