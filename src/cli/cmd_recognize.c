/*
 * facerec recognize IMAGE|DIR... : every face of every image matched against
 * the gallery (open set: below the threshold a face is unknown).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec recognize IMAGE|DIR... [--db PATH] [--threshold T]\n"
    "                         [--annotate OUTDIR] [--crops OUTDIR] [--json]\n"
    "                         [--min-score S] [--models DIR] [--threads N]\n"
    "\n"
    "Finds the faces in each image and names each one after the enrolled subject\n"
    "whose closest face is most similar (cosine similarity of the embeddings),\n"
    "when that similarity reaches the threshold; otherwise the face is unknown.\n"
    "Directories are walked recursively in name order (hidden entries skipped;\n"
    "image files detected by content, other files skipped with a note on stderr).\n"
    "\n"
    "  --db PATH         gallery file (default facerec.db; must exist)\n"
    "  --threshold T     similarity needed to name a face, -1 to 1 (default: the\n"
    "                    recognizer's, chosen on LFW View 1 DevTrain, FAR <= 1e-3)\n"
    "  --annotate OUTDIR write each image with boxes and names drawn to OUTDIR\n"
    "                    (JPEG, same name; the extension becomes .jpg unless it is\n"
    "                    .jpg/.jpeg; files found in a directory keep their\n"
    "                    sub-folders)\n"
    "  --crops OUTDIR    write the aligned 112x112 face of each recognized person\n"
    "                    to OUTDIR/<subject>/<image>_<n>.jpg (<image>: the file\n"
    "                    name without extension; <n>: the face's index in the\n"
    "                    image's list of faces)\n"
    "  --json            one JSON object per image (JSON Lines):\n"
    "                    {\"image\":P,\"width\":W,\"height\":H,\"faces\":[{\"box\":{\"x\":..,\n"
    "                    \"y\":..,\"w\":..,\"h\":..},\"score\":S,\"landmarks\":[[x,y],...],\n"
    "                    \"subject\":NAME|null,\"similarity\":C}]}\n"
    "                    C: the best match's similarity, also below the threshold\n"
    "                    (null when the gallery is empty). An image that cannot be\n"
    "                    read gives {\"image\":P,\"error\":MSG,\"faces\":[]}.\n"
    "  --min-score S     detection score threshold, 0.01 to 1 (default: the\n"
    "                    detector's)\n"
    "  --models DIR      model directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --threads N       images processed in parallel (default: cores, at most 4)\n"
    "\n"
    "Exit status: 0; 1 when an image could not be read or an output written (the\n"
    "others are still processed) or the gallery cannot be opened; 2 on usage errors.\n";

typedef struct match {
  bool known, any;
  float similarity;
  char subject[FR_NAME_MAX + 1];
} match;

typedef struct item {
  fr__cli_analysis a;
  match *m;         /* a.n matches */
  char err[2][600]; /* search / output problems */
} item;

typedef struct recognize_ctx {
  fr__cli c;
  const fr_engine *e;
  fr_gallery *g;
  fr__cli_inputs in;
  float min_score, threshold;
  const char *annotate, *crops;
  item *items;
  int failures;
} recognize_ctx;

static void save_crops(recognize_ctx *x, size_t i, const fr_image *img, item *it) {
  char stem[512], safe[FR_NAME_MAX + 1], path[4096];
  fr__cli_stem(x->in.v[i].path, stem, sizeof stem);
  for (int k = 0; k < it->a.n; k++) {
    if (!it->m[k].known) continue;
    fr__cli_safe_name(it->m[k].subject, safe, sizeof safe);
    fr_error err = {{0}};
    fr_image crop = {0};
    snprintf(path, sizeof path, "%s/%s", x->crops, safe);
    if (fr__cli_mkdirs(path) != 0) {
      snprintf(it->err[1], sizeof it->err[1], "cannot create %s: %s", path, strerror(errno));
      return;
    }
    snprintf(path, sizeof path, "%s/%s/%s_%d.jpg", x->crops, safe, stem, k);
    if (fr_face_align(img, &it->a.faces[k], &crop, &err) != FR_OK ||
        fr_image_save_jpeg(&crop, path, 92, &err) != FR_OK) {
      snprintf(it->err[1], sizeof it->err[1], "cannot write %s: %s", path, err.msg);
      fr_image_free(&crop);
      return;
    }
    fr_image_free(&crop);
  }
}

static void annotate(recognize_ctx *x, size_t i, fr_image *img, item *it) {
  static const uint8_t green[3] = {0, 170, 0}, red[3] = {210, 0, 0};
  char label[FR_NAME_MAX + 32], path[4096];
  for (int k = 0; k < it->a.n; k++) {
    const match *m = &it->m[k];
    if (m->any)
      snprintf(label, sizeof label, "%s %.2f", m->known ? m->subject : "unknown",
               (double)m->similarity);
    else
      snprintf(label, sizeof label, "unknown");
    fr__cli_draw_face(img, &it->a.faces[k], label, m->known ? green : red);
  }
  fr_error err = {{0}};
  if (fr__cli_annotated_path(x->annotate, &x->in.v[i], path, sizeof path, &err) != 0 ||
      fr_image_save_jpeg(img, path, 90, &err) != FR_OK)
    snprintf(it->err[1] + strlen(it->err[1]), sizeof it->err[1] - strlen(it->err[1]), "%s%s",
             it->err[1][0] ? "; " : "", err.msg);
}

static void work(void *p, fr_worker *w, size_t i) {
  recognize_ctx *x = p;
  item *it = &x->items[i];
  bool keep = x->annotate || x->crops;
  fr_image img = {0};
  fr__cli_analyze(w, x->e, x->in.v[i].path, x->min_score, true, keep ? &img : NULL, &it->a);
  if (it->a.st != FR_OK) return;
  int dim = fr_engine_embed_dim(x->e);
  if (it->a.n > 0 && !(it->m = calloc((size_t)it->a.n, sizeof *it->m))) {
    snprintf(it->err[0], sizeof it->err[0], "%s: out of memory", x->in.v[i].path);
    fr_image_free(&img);
    return;
  }
  for (int k = 0; k < it->a.n; k++) {
    fr_gallery_match gm;
    int n = 0;
    fr_error err = {{0}};
    if (fr_gallery_search(x->g, it->a.emb + (size_t)k * (size_t)dim, 1, &gm, &n, &err) != FR_OK) {
      snprintf(it->err[0], sizeof it->err[0], "%s: gallery search failed: %s", x->in.v[i].path,
               err.msg);
      break;
    }
    if (n > 0) {
      it->m[k].any = true;
      it->m[k].similarity = gm.similarity;
      it->m[k].known = gm.similarity >= x->threshold;
      snprintf(it->m[k].subject, sizeof it->m[k].subject, "%s", gm.subject);
    }
  }
  if (!it->err[0][0]) {
    if (x->crops) save_crops(x, i, &img, it);
    if (x->annotate) annotate(x, i, &img, it);
  }
  fr_image_free(&img);
}

static void emit(void *p, size_t i) {
  recognize_ctx *x = p;
  item *it = &x->items[i];
  const char *path = x->in.v[i].path;
  if (it->a.st != FR_OK || it->err[0][0]) {
    const char *msg = it->a.st != FR_OK ? it->a.msg : it->err[0];
    fprintf(stderr, "%s: %s\n", x->c.name, msg);
    x->failures++;
    if (x->c.json) fr__cli_print_json(fr__cli_error_json(path, msg));
  } else if (x->c.json) {
    json_t *o = fr__cli_image_json(path, &(fr_image){.w = it->a.w, .h = it->a.h});
    json_t *faces = json_array();
    for (int k = 0; k < it->a.n; k++) {
      json_t *f = fr__cli_face_json(&it->a.faces[k]);
      const match *m = &it->m[k];
      json_object_set_new(f, "subject", m->known ? fr__cli_str(m->subject) : json_null());
      json_object_set_new(f, "similarity", m->any ? fr__cli_real(m->similarity) : json_null());
      json_array_append_new(faces, f);
    }
    json_object_set_new(o, "faces", faces);
    fr__cli_print_json(o);
  } else {
    printf("%s  %dx%d  %d face%s\n", path, it->a.w, it->a.h, it->a.n, it->a.n == 1 ? "" : "s");
    for (int k = 0; k < it->a.n; k++) {
      const fr_face *f = &it->a.faces[k];
      const match *m = &it->m[k];
      char sim[32] = "-";
      if (m->any) snprintf(sim, sizeof sim, "%.3f", (double)m->similarity);
      printf("  #%-3d %-20s similarity %-6s  box %.0f,%.0f %.0fx%.0f  score %.3f\n", k,
             m->known ? m->subject : "unknown", sim, (double)f->x, (double)f->y, (double)f->w,
             (double)f->h, (double)f->score);
    }
    fflush(stdout);
  }
  if (it->err[1][0]) {
    fprintf(stderr, "%s: %s\n", x->c.name, it->err[1]);
    x->failures++;
  }
  fr__cli_analysis_free(&it->a);
  free(it->m);
  it->m = NULL;
}

int fr_cli_recognize(int argc, char **argv) {
  recognize_ctx x = {.min_score = -1, .threshold = -2};
  fr__cli_init(&x.c, "facerec recognize", usage,
               FR__CLI_JSON | FR__CLI_DB | FR__CLI_MODELS | FR__CLI_THREADS);
  const fr__cli_optdef defs[] = {
      {"--threshold", FR__OPT_FLOAT, &x.threshold, -1.0, 1.0},
      {"--min-score", FR__OPT_FLOAT, &x.min_score, 0.01, 1.0},
      {"--annotate", FR__OPT_STRING, &x.annotate, 0, 0},
      {"--crops", FR__OPT_STRING, &x.crops, 0, 0},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&x.c, argc, argv, defs, &ops, &n_ops);
  if (rc == 0 && n_ops == 0) rc = fr__cli_usage_error(&x.c, "no IMAGE or DIR given");
  for (int k = 0; k < n_ops && rc == 0; k++) rc = fr__cli_collect(&x.c, ops[k], NULL, &x.in);
  free(ops);
  if (rc == 0 && x.in.n == 0) rc = fr__cli_fail(&x.c, "no image files found");
  if (rc == 0 && x.annotate && fr__cli_mkdirs(x.annotate) != 0)
    rc = fr__cli_fail(&x.c, "cannot create %s: %s", x.annotate, strerror(errno));
  if (rc == 0 && x.crops && fr__cli_mkdirs(x.crops) != 0)
    rc = fr__cli_fail(&x.c, "cannot create %s: %s", x.crops, strerror(errno));
  if (rc) {
    fr__cli_inputs_free(&x.in);
    return rc == FR__CLI_HELP ? 0 : rc;
  }
  fr_engine *e = NULL;
  rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc == 0) {
    x.e = e;
    if (x.min_score < 0) x.min_score = fr_engine_config_of(e)->min_score;
    if (x.threshold < -1) x.threshold = fr_engine_default_threshold(e);
    rc = fr__cli_gallery_open(&x.c, e, false, &x.g);
  }
  if (rc == 0) {
    fr_gallery_stats gs = {0};
    fr_error err = {{0}};
    if (fr_gallery_stats_get(x.g, &gs, &err) == FR_OK && gs.faces == 0)
      fprintf(stderr, "%s: warning: %s holds no faces made by %s%s; every face will be unknown\n",
              x.c.name, x.c.db_path, fr_engine_model_id(e),
              gs.other_model_faces ? " (only faces of another recognizer)" : "");
    if (!(x.items = calloc(x.in.n, sizeof *x.items))) rc = fr__cli_fail(&x.c, "out of memory");
  }
  if (rc == 0) rc = fr__cli_run(&x.c, e, x.in.n, work, emit, &x);
  if (rc == 0 && x.failures) rc = 1;
  if (x.items)
    for (size_t i = 0; i < x.in.n; i++) {
      fr__cli_analysis_free(&x.items[i].a);
      free(x.items[i].m);
    }
  free(x.items);
  if (x.g) fr_gallery_close(x.g);
  if (e) fr_engine_free(e);
  fr__cli_inputs_free(&x.in);
  return rc;
}
