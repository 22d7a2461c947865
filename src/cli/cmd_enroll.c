/*
 * facerec enroll DIR... | enroll --subject NAME IMAGE|DIR... : adds one face
 * per image to the gallery. Images are processed in parallel; the gallery is
 * written on the calling thread, in input order, so the outcome is the same
 * at any thread count.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec enroll DIR... [--db PATH] [--json] [--min-face PX]\n"
    "                      [--models DIR] [--threads N]\n"
    "       facerec enroll --subject NAME IMAGE|DIR... [--db PATH] [--json] ...\n"
    "\n"
    "Adds faces of known people to the gallery. DIR holds one folder per person,\n"
    "named after them: DIR/<person>/<images> (folders below a person's folder\n"
    "belong to that person; files directly in DIR are skipped). With --subject,\n"
    "every IMAGE (directories walked recursively) is a photo of NAME. Files found\n"
    "in directories are taken when their content is an image, whatever their name.\n"
    "\n"
    "The face enrolled from an image is its largest one. An image is rejected, with\n"
    "its reason, when it is\n"
    "  unreadable      missing, empty, not an image, corrupt, over the size limits;\n"
    "  no_face         no face found;\n"
    "  several_faces   another face of at least --min-face pixels is 60% or more\n"
    "                  of the largest one's size: which one is the person is\n"
    "                  ambiguous (smaller faces are ignored);\n"
    "  face_too_small  the largest face's shorter box side is under --min-face\n"
    "                  pixels (default 40): too little detail for a reference.\n"
    "Re-running is idempotent: the same file (same SHA-256 of its bytes) for the\n"
    "same person is reported as already present, not added again.\n"
    "\n"
    "  --db PATH      gallery file (default facerec.db; created if missing)\n"
    "  --subject NAME enroll the given images as NAME\n"
    "  --min-face PX  smallest accepted face side in pixels (default 40)\n"
    "  --json         one JSON object per image, then a summary:\n"
    "                 {\"image\":P,\"subject\":S,\"outcome\":\"added\"|\"already_present\",\n"
    "                  \"face_id\":ID,\"face\":{\"box\":..,\"score\":..,\"landmarks\":..}}\n"
    "                 {\"image\":P,\"subject\":S,\"outcome\":\"rejected\",\"reason\":R,\n"
    "                  \"message\":M}   (R: unreadable, no_face, several_faces,\n"
    "                  face_too_small or invalid_subject)\n"
    "                 {\"summary\":{\"images\":N,\"added\":A,\"already_present\":P,\n"
    "                  \"rejected\":R,\"subjects\":S,\"faces\":F}}  (S, F: gallery totals)\n"
    "  --models DIR   model directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --threads N    images processed in parallel (default: cores, at most 4)\n"
    "\n"
    "A progress bar is drawn on stderr when it is a terminal. Without --json,\n"
    "each rejected image is listed (\"rejected (REASON) MESSAGE\"), then a summary.\n"
    "Exit status: 0 when at least one image was enrolled or already present (even\n"
    "if others were rejected); 1 when none was, or the gallery or models failed;\n"
    "2 on usage errors.\n";

/* See work(): a second face this large relative to the largest is a rival. */
#define FR__CLI_RIVAL_RATIO 0.6f

typedef enum outcome { ADDED, PRESENT, REJECTED } outcome;

typedef struct item {
  fr__cli_analysis a;
  const char *reason; /* rejection reason code, NULL if accepted */
  char msg[600];
  int face;       /* chosen face index */
  float *emb;     /* dim floats */
  uint8_t *thumb; /* aligned face JPEG */
  size_t thumb_len;
} item;

typedef struct enroll_ctx {
  fr__cli c;
  const fr_engine *e;
  fr_gallery *g;
  fr__cli_inputs in;
  int min_face;
  item *items;
  size_t added, present, rejected;
  int failures; /* gallery errors */
  fr__cli_progress progress;
} enroll_ctx;

__attribute__((format(printf, 3, 4))) static void reject(item *it, const char *reason,
                                                         const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  it->reason = reason;
  vsnprintf(it->msg, sizeof it->msg, fmt, ap);
  va_end(ap);
}

static void work(void *p, fr_worker *w, size_t i) {
  enroll_ctx *x = p;
  item *it = &x->items[i];
  const char *path = x->in.v[i].path;
  fr_image img = {0};
  fr__cli_analyze(w, x->e, path, fr_engine_config_of(x->e)->min_score, false, &img, &it->a);
  if (it->a.st != FR_OK) {
    it->reason = "unreadable";
    snprintf(it->msg, sizeof it->msg, "%s", it->a.msg);
    return;
  }
  /* The person is the largest face; another face of at least
   * FR__CLI_RIVAL_RATIO of its size makes the image ambiguous. Faces under
   * min_face are ignored (background people, false positives). */
  int largest = it->a.n > 0 ? 0 : -1, rivals = 0; /* fr__cli_analyze lists it first */
  float side = largest >= 0 ? fr__cli_face_side(&it->a.faces[largest]) : 0;
  it->face = largest;
  for (int k = 0; k < it->a.n; k++) {
    float s = fr__cli_face_side(&it->a.faces[k]);
    if (k != largest && s >= (float)x->min_face && s >= FR__CLI_RIVAL_RATIO * side) rivals++;
  }
  if (it->a.n == 0) {
    reject(it, "no_face", "%s: no face found", path);
  } else if (side < (float)x->min_face) {
    const fr_face *f = &it->a.faces[largest];
    reject(it, "face_too_small", "%s: face too small (%dx%d px, minimum %d px)", path,
           (int)(f->w + 0.5f), (int)(f->h + 0.5f), x->min_face);
  } else if (rivals > 0) {
    reject(it, "several_faces", "%s: %d faces of similar size (one expected)", path, rivals + 1);
  } else {
    fr_error err = {{0}};
    fr_image aligned = {0};
    int dim = fr_engine_embed_dim(x->e);
    fr_status st = FR_ERR_NOMEM;
    if ((it->emb = malloc((size_t)dim * sizeof *it->emb)) != NULL &&
        (st = fr_embed_face(w, &img, &it->a.faces[it->face], it->emb, &aligned, &err)) == FR_OK)
      st = fr_image_encode_jpeg(&aligned, 90, &it->thumb, &it->thumb_len, &err);
    if (st != FR_OK) {
      it->reason = "unreadable";
      snprintf(it->msg, sizeof it->msg, "%s: cannot embed the face: %s", path,
               err.msg[0] ? err.msg : fr_strerror(st));
      free(it->thumb);
      it->thumb = NULL;
    }
    fr_image_free(&aligned);
  }
  fr_image_free(&img);
}

static void item_free(item *it) {
  fr__cli_analysis_free(&it->a);
  free(it->emb);
  free(it->thumb);
  it->emb = NULL;
  it->thumb = NULL;
}

static void emit(void *p, size_t i) {
  enroll_ctx *x = p;
  item *it = &x->items[i];
  const fr__cli_input *in = &x->in.v[i];
  fr_gallery_face face;
  bool existed = false;
  if (!it->reason) {
    fr_gallery_face_in f = {
        .subject = in->tag,
        .source = in->path,
        .source_hash = it->a.sha256,
        .face_index = 0,
        .box = {it->a.faces[it->face].x, it->a.faces[it->face].y, it->a.faces[it->face].w,
                it->a.faces[it->face].h},
        .embedding = it->emb,
        .thumb_jpeg = it->thumb,
        .thumb_len = it->thumb_len,
    };
    fr_error err = {{0}};
    fr_status st = fr_gallery_add(x->g, &f, &face, &existed, &err);
    if (st == FR_ERR_INVALID_ARG) {
      it->reason = "invalid_subject";
      snprintf(it->msg, sizeof it->msg, "%s: %s", in->path, err.msg);
    } else if (st != FR_OK) {
      fr__cli_progress_clear(&x->progress);
      fprintf(stderr, "%s: cannot add %s to %s: %s\n", x->c.name, in->path, x->c.db_path, err.msg);
      x->failures++;
      item_free(it);
      fr__cli_progress_update(&x->progress, i + 1, in->path);
      return;
    }
  }
  outcome o = it->reason ? REJECTED : existed ? PRESENT : ADDED;
  if (o == REJECTED)
    x->rejected++;
  else if (o == PRESENT)
    x->present++;
  else
    x->added++;
  if (x->c.json) {
    json_t *j = json_object();
    json_object_set_new(j, "image", fr__cli_str(in->path));
    json_object_set_new(j, "subject", fr__cli_str(in->tag));
    json_object_set_new(j, "outcome",
                        fr__cli_str(o == ADDED     ? "added"
                                    : o == PRESENT ? "already_present"
                                                   : "rejected"));
    if (o == REJECTED) {
      json_object_set_new(j, "reason", fr__cli_str(it->reason));
      json_object_set_new(j, "message", fr__cli_str(it->msg));
    } else {
      json_object_set_new(j, "face_id", fr__cli_str(face.image_id));
      json_object_set_new(j, "face", fr__cli_face_json(&it->a.faces[it->face]));
    }
    fr__cli_progress_clear(&x->progress);
    fr__cli_print_json(j);
  } else if (o == REJECTED) {
    fr__cli_progress_clear(&x->progress);
    printf("rejected (%s) %s\n", it->reason, it->msg);
    fflush(stdout);
  }
  fr__cli_progress_update(&x->progress, i + 1, in->path);
  item_free(it);
}

/* DIR/<person>/... : one subject per sub-folder. */
static int collect_people(enroll_ctx *x, const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0) return fr__cli_fail(&x->c, "cannot read %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return fr__cli_usage_error(&x->c,
                               "%s is not a directory (enroll DIR expects DIR/<person>/<images>; "
                               "use --subject NAME IMAGE... for single images)",
                               dir);
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) return fr__cli_fail(&x->c, "cannot read directory %s: %s", dir, strerror(errno));
  int rc = 0;
  for (int k = 0; k < n; k++) {
    const char *name = names[k]->d_name;
    if (rc == 0 && name[0] != '.') {
      size_t len = strlen(dir) + strlen(name) + 2;
      char *path = malloc(len);
      if (!path) {
        rc = fr__cli_fail(&x->c, "out of memory");
      } else {
        snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
        struct stat ps;
        if (stat(path, &ps) == 0 && S_ISDIR(ps.st_mode))
          rc = fr__cli_collect(&x->c, path, name, &x->in);
        else
          fprintf(stderr, "%s: skipping %s: not in a person's folder (DIR/<person>/<images>)\n",
                  x->c.name, path);
        free(path);
      }
    }
    free(names[k]);
  }
  free(names);
  return rc;
}

int fr_cli_enroll(int argc, char **argv) {
  enroll_ctx x = {.min_face = FR__CLI_MIN_ENROLL_FACE};
  const char *subject = NULL;
  fr__cli_init(&x.c, "facerec enroll", usage,
               FR__CLI_JSON | FR__CLI_DB | FR__CLI_MODELS | FR__CLI_THREADS);
  const fr__cli_optdef defs[] = {
      {"--subject", FR__OPT_STRING, &subject, 0, 0},
      {"--min-face", FR__OPT_INT, &x.min_face, 1, 4096},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&x.c, argc, argv, defs, &ops, &n_ops);
  if (rc == 0 && n_ops == 0)
    rc = fr__cli_usage_error(&x.c, subject ? "no IMAGE given" : "no DIR given");
  if (rc == 0 && subject && strlen(subject) > FR_NAME_MAX)
    rc = fr__cli_usage_error(&x.c, "--subject is longer than %d bytes", FR_NAME_MAX);
  for (int k = 0; k < n_ops && rc == 0; k++)
    rc = subject ? fr__cli_collect(&x.c, ops[k], subject, &x.in) : collect_people(&x, ops[k]);
  free(ops);
  if (rc) {
    fr__cli_inputs_free(&x.in);
    return rc == FR__CLI_HELP ? 0 : rc;
  }
  if (x.in.n == 0) {
    fr__cli_inputs_free(&x.in);
    return fr__cli_fail(&x.c, "no image files found");
  }
  fr_engine *e = NULL;
  rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc == 0) {
    x.e = e;
    rc = fr__cli_gallery_open(&x.c, e, true, &x.g);
  }
  if (rc == 0 && !(x.items = calloc(x.in.n, sizeof *x.items)))
    rc = fr__cli_fail(&x.c, "out of memory");
  if (rc == 0) {
    fr__cli_progress_start(&x.progress, x.in.n);
    fr__cli_progress_update(&x.progress, 0, "");
    rc = fr__cli_run(&x.c, e, x.in.n, work, emit, &x);
    fr__cli_progress_end(&x.progress);
  }
  if (rc == 0) {
    fr_gallery_stats gs = {0};
    fr_error err = {{0}};
    bool have_stats = fr_gallery_stats_get(x.g, &gs, &err) == FR_OK;
    if (x.c.json) {
      json_t *s = json_object();
      json_object_set_new(s, "images", json_integer((json_int_t)x.in.n));
      json_object_set_new(s, "added", json_integer((json_int_t)x.added));
      json_object_set_new(s, "already_present", json_integer((json_int_t)x.present));
      json_object_set_new(s, "rejected", json_integer((json_int_t)x.rejected));
      json_object_set_new(s, "subjects", have_stats ? json_integer(gs.subjects) : json_null());
      json_object_set_new(s, "faces", have_stats ? json_integer(gs.faces) : json_null());
      json_t *o = json_object();
      json_object_set_new(o, "summary", s);
      fr__cli_print_json(o);
    } else {
      printf("%zu image%s: %zu face%s added, %zu already present, %zu rejected", x.in.n,
             x.in.n == 1 ? "" : "s", x.added, x.added == 1 ? "" : "s", x.present, x.rejected);
      if (have_stats)
        printf(" (gallery %s: %lld subject%s, %lld face%s)", x.c.db_path, (long long)gs.subjects,
               gs.subjects == 1 ? "" : "s", (long long)gs.faces, gs.faces == 1 ? "" : "s");
      printf("\n");
    }
    if (!have_stats) fprintf(stderr, "%s: cannot read the gallery totals: %s\n", x.c.name, err.msg);
    if (x.failures)
      rc = 1;
    else if (x.added + x.present == 0)
      rc = fr__cli_fail(&x.c, "no face was enrolled");
  }
  if (x.items)
    for (size_t i = 0; i < x.in.n; i++) item_free(&x.items[i]);
  free(x.items);
  if (x.g) fr_gallery_close(x.g);
  if (e) fr_engine_free(e);
  fr__cli_inputs_free(&x.in);
  return rc;
}
