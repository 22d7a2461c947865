/*
 * facerec eval lfw|pairs|wider : the evaluation protocols (src/eval) run over
 * the whole pipeline from raw image files.
 *
 * Every distinct image is processed once (cache by path) on --threads workers;
 * the protocol math is in include/facerec/eval.h.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "facerec/eval.h"

static const char usage_eval[] =
    "usage: facerec eval lfw|pairs|wider [options]   (facerec eval COMMAND --help)\n"
    "\n"
    "  lfw    LFW face verification (View 1 / View 2 pair lists)\n"
    "  pairs  verification pairs from a CSV, decided at the default threshold\n"
    "  wider  WIDER FACE detection AP (official protocol)\n";

static const char usage_lfw[] =
    "usage: facerec eval lfw --pairs PAIRS.txt --images DIR [--train TRAIN.txt] [--json]\n"
    "                        [--face centre|largest] [--scores FILE.csv] [--models DIR]\n"
    "                        [--threads N]\n"
    "\n"
    "The LFW verification protocol, the whole pipeline from the raw images\n"
    "DIR/NAME/NAME_000N.jpg: detect, align, embed, cosine similarity.\n"
    "  --train T  choose the threshold on the pairs of T (maximum accuracy) and\n"
    "             measure accuracy on --pairs (View 1: pairsDevTrain/pairsDevTest).\n"
    "  Without --train, a file with folds (View 2 pairs.txt, header \"10 300\") is\n"
    "  cross-validated: each fold is decided at the threshold chosen on the other\n"
    "  nine; accuracy and accuracy_std are the mean and population standard\n"
    "  deviation over folds. A one-fold file is decided at the recognizer's\n"
    "  default threshold.\n"
    "  An image in which no face is found makes its pairs wrong decisions.\n"
    "  TAR at FAR 1e-3 is measured on all --pairs pooled: floor(1e-3 x negatives)\n"
    "  false accepts are allowed (a pair with no face is never accepted), the threshold is\n"
    "  the next negative score, and a pair is accepted above it.\n"
    "  --face F   which detected face stands for the image: centre (default; LFW\n"
    "             images are centred on their subject: the highest-scoring face whose\n"
    "             box contains the image centre, else the face nearest to it) or\n"
    "             largest (the largest box, as facerec compare picks).\n"
    "  --scores F write every pair's similarity to F (CSV: line,same,score;\n"
    "             score empty when a face is missing).\n"
    "  --json     {\"pairs\":N,\"accuracy\":A,\"accuracy_std\":S,\"tar_at_far_1e-3\":T,\n"
    "             \"no_face_images\":K,\"threshold\":C} (fractions; with folds the\n"
    "             threshold is the mean of the fold thresholds)\n"
    "  --models DIR, --threads N (default: cores, at most 4)\n";

static const char usage_pairs[] =
    "usage: facerec eval pairs --pairs FILE.csv [--root DIR] [--threshold T] [--json]\n"
    "                          [--models DIR] [--threads N]\n"
    "\n"
    "Decides every pair of FILE.csv (columns path_a,path_b,same; optional header;\n"
    "same = 1/0/true/false) at the recognizer's default threshold (no tuning),\n"
    "comparing the largest face of each image, as facerec compare does. A pair\n"
    "with an image without a face counts as a wrong decision.\n"
    "  --root DIR     relative paths are relative to DIR (default: the CSV's folder)\n"
    "  --threshold T  another threshold (-1..1)\n"
    "  --json         {\"pairs\":N,\"accuracy\":A,\"false_accepts\":FA,\"false_rejects\":FR}\n"
    "  --models DIR, --threads N (default: cores, at most 4)\n";

static const char usage_wider[] =
    "usage: facerec eval wider --gt boxes.csv [--images DIR] [--min-score S]\n"
    "                          [--limit N] [--dets FILE] [--json] [--models DIR] [--threads N]\n"
    "\n"
    "The official WIDER FACE evaluation (eval_tools of the WIDER FACE site): per\n"
    "image, detections in score order each take the ground-truth box of highest\n"
    "IoU; IoU >= 0.5 recalls a face of the setting, a face outside the setting\n"
    "is ignored (neither true nor false positive); precision/recall at 1000\n"
    "thresholds on min-max normalized scores; VOC all-points AP for the easy,\n"
    "medium and hard settings (columns in_easy, in_medium, in_hard of the CSV).\n"
    "Also the recall of faces >= 40 px (valid boxes with max(w,h) >= 40) by all\n"
    "the detections (score >= --min-score) and by those at the detector's default\n"
    "threshold (text output).\n"
    "  --images DIR   image folder (default: the CSV's folder); a CSV path is\n"
    "                 looked up as DIR/PATH, then without its first component when\n"
    "                 that is DIR's own name (images/x.jpg in DIR=.../images)\n"
    "  --min-score S  detection threshold for the PR curve (default 0.05)\n"
    "  --limit N      evaluate only the first N images\n"
    "  --dets FILE    write every detection to FILE (CSV: path,x,y,w,h,score)\n"
    "  --json         {\"images\":N,\"ap_easy\":E,\"ap_medium\":M,\"ap_hard\":H,\n"
    "                 \"ms_per_image\":T}; T is the mean time of detection per\n"
    "                 image on one thread (decoding excluded)\n"
    "  --models DIR, --threads N (default: cores, at most 4)\n";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------- distinct image paths */

typedef struct path_set {
  char **paths; /* owned */
  size_t n, cap;
  size_t *table; /* index + 1; 0 = empty */
  size_t tcap;
} path_set;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void path_set_free(path_set *s) {
  for (size_t i = 0; i < s->n; i++) free(s->paths[i]);
  free(s->paths);
  free(s->table);
  memset(s, 0, sizeof *s);
}

/* Index of path in the set (added if new); -1 when out of memory. */
static long path_set_add(path_set *s, const char *path) {
  if (2 * (s->n + 1) > s->tcap) {
    size_t tcap = s->tcap ? 2 * s->tcap : 1024;
    size_t *t = calloc(tcap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < s->n; i++) {
      size_t h = (size_t)(hash_str(s->paths[i]) & (tcap - 1));
      while (t[h]) h = (h + 1) & (tcap - 1);
      t[h] = i + 1;
    }
    free(s->table);
    s->table = t;
    s->tcap = tcap;
  }
  size_t h = (size_t)(hash_str(path) & (s->tcap - 1));
  while (s->table[h]) {
    if (strcmp(s->paths[s->table[h] - 1], path) == 0) return (long)(s->table[h] - 1);
    h = (h + 1) & (s->tcap - 1);
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 256;
    char **p = realloc(s->paths, cap * sizeof *p);
    if (!p) return -1;
    s->paths = p;
    s->cap = cap;
  }
  char *copy = strdup(path);
  if (!copy) return -1;
  s->paths[s->n] = copy;
  s->table[h] = ++s->n;
  return (long)(s->n - 1);
}

/* ------------------------------------------------ one embedding per image */

enum { PICK_CENTRE, PICK_LARGEST };

typedef struct embed_job {
  fr__cli c;
  const fr_engine *e;
  const path_set *set;
  int pick;
  int dim;
  float *emb;         /* set->n x dim */
  signed char *state; /* 1 embedded, 0 no face, -1 error */
  char (*msg)[256];   /* error per image */
  fr__cli_progress progress;
  size_t done;
} embed_job;

/* PICK_CENTRE: LFW images are centred on their subject: among the faces whose
 * box contains the image centre, the one with the highest score (the detector
 * may also report a looser box around the subject and a neighbour); when no
 * box contains the centre, the face whose box centre is nearest to it.
 * PICK_LARGEST: the largest box (ties: higher score), as facerec compare does. */
static int pick_face(const fr_face *f, int n, int w, int h, int pick) {
  if (n <= 0) return -1;
  if (pick == PICK_LARGEST) return 0; /* fr__cli_analyze lists the largest first */
  double cx = w * 0.5, cy = h * 0.5;
  int best = -1;
  for (int i = 0; i < n; i++)
    if (f[i].x <= cx && cx <= f[i].x + f[i].w && f[i].y <= cy && cy <= f[i].y + f[i].h &&
        (best < 0 || f[i].score > f[best].score))
      best = i;
  if (best >= 0) return best;
  double best_d = INFINITY;
  for (int i = 0; i < n; i++) {
    double dx = f[i].x + f[i].w * 0.5 - cx, dy = f[i].y + f[i].h * 0.5 - cy;
    double d = dx * dx + dy * dy;
    if (d < best_d) best_d = d, best = i; /* ties: the first, i.e. the higher score */
  }
  return best;
}

static void embed_work(void *p, fr_worker *w, size_t i) {
  embed_job *j = p;
  fr__cli_analysis a;
  fr_image img = {0};
  fr__cli_analyze(w, j->e, j->set->paths[i], fr_engine_config_of(j->e)->min_score, false, &img, &a);
  if (a.st != FR_OK) {
    j->state[i] = -1;
    snprintf(j->msg[i], sizeof j->msg[i], "%s", a.msg);
    fr__cli_analysis_free(&a);
    return;
  }
  int k = pick_face(a.faces, a.n, img.w, img.h, j->pick);
  if (k < 0) {
    j->state[i] = 0;
  } else {
    fr_error err = {{0}};
    if (fr_embed_face(w, &img, &a.faces[k], j->emb + i * (size_t)j->dim, NULL, &err) != FR_OK) {
      j->state[i] = -1;
      snprintf(j->msg[i], sizeof j->msg[i], "%s: embedding failed: %s", j->set->paths[i], err.msg);
    } else {
      j->state[i] = 1;
    }
  }
  fr_image_free(&img);
  fr__cli_analysis_free(&a);
}

static void embed_emit(void *p, size_t i) {
  embed_job *j = p;
  j->done++;
  fr__cli_progress_update(&j->progress, j->done, j->set->paths[i]);
}

/* Embeds every image of the set. Returns an exit code (message printed);
 * an image that cannot be read is an error (the protocol needs every image). */
static int embed_all(embed_job *j, size_t *no_face) {
  size_t n = j->set->n;
  j->dim = fr_engine_embed_dim(j->e);
  j->emb = malloc((n ? n : 1) * (size_t)j->dim * sizeof *j->emb);
  j->state = calloc(n ? n : 1, 1);
  j->msg = calloc(n ? n : 1, sizeof *j->msg);
  if (!j->emb || !j->state || !j->msg)
    return fr__cli_fail(&j->c, "out of memory for %zu images", n);
  double t0 = now_ms();
  fr__cli_progress_start(&j->progress, n);
  int rc = fr__cli_run(&j->c, j->e, n, embed_work, embed_emit, j);
  fr__cli_progress_end(&j->progress);
  if (rc) return rc;
  size_t bad = 0;
  *no_face = 0;
  for (size_t i = 0; i < n; i++) {
    if (j->state[i] < 0 && bad++ < 5) fprintf(stderr, "%s: %s\n", j->c.name, j->msg[i]);
    *no_face += (size_t)(j->state[i] == 0);
  }
  if (bad) return fr__cli_fail(&j->c, "%zu of %zu images could not be processed", bad, n);
  if (!j->c.json)
    fprintf(stderr, "%s: %zu images in %.1f s (%d threads)\n", j->c.name, n, (now_ms() - t0) / 1e3,
            j->c.threads);
  return 0;
}

static void embed_job_free(embed_job *j) {
  free(j->emb);
  free(j->state);
  free(j->msg);
}

static float pair_score(const embed_job *j, long a, long b) {
  if (j->state[a] != 1 || j->state[b] != 1) return NAN;
  return fr_cosine(j->emb + (size_t)a * (size_t)j->dim, j->emb + (size_t)b * (size_t)j->dim,
                   j->dim);
}

/* ------------------------------------------------------------------ LFW */

static int add_lfw_pairs(const fr__cli *c, const fr_lfw_pairs *p, const char *dir, path_set *set,
                         long *idx) {
  char path[8192];
  fr_error err = {{0}};
  for (size_t i = 0; i < p->n; i++) {
    for (int k = 0; k < 2; k++) {
      const char *name = k ? p->pairs[i].name_b : p->pairs[i].name_a;
      int num = k ? p->pairs[i].num_b : p->pairs[i].num_a;
      if (fr_lfw_image_path(dir, name, num, path, sizeof path, &err))
        return fr__cli_fail(c, "%s", err.msg);
      long x = path_set_add(set, path);
      if (x < 0) return fr__cli_fail(c, "out of memory");
      idx[2 * i + (size_t)k] = x;
    }
  }
  return 0;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int eval_lfw(int argc, char **argv) {
  embed_job j;
  memset(&j, 0, sizeof j);
  fr__cli_init(&j.c, "facerec eval lfw", usage_lfw,
               FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const char *pairs_path = NULL, *images = NULL, *train_path = NULL, *face = "centre",
             *scores_path = NULL;
  const fr__cli_optdef defs[] = {
      {"--pairs", FR__OPT_STRING, &pairs_path, 0, 0},   {"--images", FR__OPT_STRING, &images, 0, 0},
      {"--train", FR__OPT_STRING, &train_path, 0, 0},   {"--face", FR__OPT_STRING, &face, 0, 0},
      {"--scores", FR__OPT_STRING, &scores_path, 0, 0}, {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&j.c, argc, argv, defs, &ops, &n_ops);
  free(ops);
  if (rc) return rc == FR__CLI_HELP ? 0 : rc;
  if (n_ops) return fr__cli_usage_error(&j.c, "unexpected operand");
  if (!pairs_path || !images)
    return fr__cli_usage_error(&j.c, "needs --pairs FILE and --images DIR");
  if (strcmp(face, "centre") == 0 || strcmp(face, "center") == 0)
    j.pick = PICK_CENTRE;
  else if (strcmp(face, "largest") == 0)
    j.pick = PICK_LARGEST;
  else
    return fr__cli_usage_error(&j.c, "--face is centre or largest, not '%s'", face);
  if (!is_dir(images)) return fr__cli_fail(&j.c, "--images %s is not a directory", images);

  fr_lfw_pairs test = {0}, train = {0};
  fr_error err = {{0}};
  if (fr_lfw_pairs_load(pairs_path, &test, &err)) return fr__cli_fail(&j.c, "%s", err.msg);
  if (train_path && fr_lfw_pairs_load(train_path, &train, &err)) {
    fr_lfw_pairs_free(&test);
    return fr__cli_fail(&j.c, "%s", err.msg);
  }
  path_set set = {0};
  fr_engine *e = NULL;
  long *idx = malloc((2 * (test.n + train.n) + 1) * sizeof *idx);
  float *scores = malloc((test.n + train.n + 1) * sizeof *scores);
  int *same = malloc((test.n + train.n + 1) * sizeof *same);
  int *fold = malloc((test.n + 1) * sizeof *fold);
  if (!idx || !scores || !same || !fold) {
    rc = fr__cli_fail(&j.c, "out of memory");
    goto out;
  }
  if ((rc = add_lfw_pairs(&j.c, &test, images, &set, idx))) goto out;
  if (train.n && (rc = add_lfw_pairs(&j.c, &train, images, &set, idx + 2 * test.n))) goto out;
  /* images used by the evaluated pairs come first in the set */
  size_t test_images = 0;
  for (size_t i = 0; i < 2 * test.n; i++)
    if ((size_t)idx[i] + 1 > test_images) test_images = (size_t)idx[i] + 1;
  if ((rc = fr__cli_engine_open(&j.c, -1, &e))) goto out;
  j.e = e;
  j.set = &set;
  size_t no_face_all = 0;
  if ((rc = embed_all(&j, &no_face_all))) goto out;
  size_t no_face = 0;
  for (size_t i = 0; i < test_images; i++) no_face += (size_t)(j.state[i] == 0);
  for (size_t i = 0; i < test.n + train.n; i++) {
    scores[i] = pair_score(&j, idx[2 * i], idx[2 * i + 1]);
    same[i] = i < test.n ? test.pairs[i].same : train.pairs[i - test.n].same;
    if (i < test.n) fold[i] = test.pairs[i].fold;
  }
  fr_verif_report r;
  fr_status st = fr_verif_evaluate(scores, same, fold, test.n, test.folds,
                                   train.n ? scores + test.n : NULL, train.n ? same + test.n : NULL,
                                   train.n, fr_engine_default_threshold(e), &r, &err);
  if (st) {
    rc = fr__cli_fail(&j.c, "%s", err.msg);
    goto out;
  }
  if (scores_path) {
    FILE *f = fopen(scores_path, "w");
    if (!f) {
      rc = fr__cli_fail(&j.c, "cannot write %s: %s", scores_path, strerror(errno));
      goto out;
    }
    fprintf(f, "line,same,score\n");
    for (size_t i = 0; i < test.n; i++) {
      if (isnan(scores[i]))
        fprintf(f, "%d,%d,\n", test.pairs[i].line, same[i]);
      else
        fprintf(f, "%d,%d,%.7f\n", test.pairs[i].line, same[i], (double)scores[i]);
    }
    if (fclose(f) != 0) {
      rc = fr__cli_fail(&j.c, "cannot write %s", scores_path);
      goto out;
    }
  }
  if (j.c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "pairs", json_integer((json_int_t)r.pairs));
    json_object_set_new(o, "accuracy", fr__cli_real(r.accuracy));
    json_object_set_new(o, "accuracy_std", fr__cli_real(r.accuracy_std));
    json_object_set_new(o, "tar_at_far_1e-3", fr__cli_real(r.tar_at_far));
    json_object_set_new(o, "no_face_images", json_integer((json_int_t)no_face));
    json_object_set_new(o, "threshold", fr__cli_real(r.threshold));
    fr__cli_print_json(o);
  } else {
    const char *how = train.n       ? "threshold chosen on --train"
                      : r.folds > 1 ? "cross-validated over the folds"
                                    : "the recognizer's default threshold";
    printf("pairs            %zu (%s)\n", r.pairs, how);
    printf("accuracy         %.4f", r.accuracy);
    if (r.folds > 1) printf(" +- %.4f (population std over %d folds)", r.accuracy_std, r.folds);
    printf("\nthreshold        %.4f%s\n", r.threshold, r.folds > 1 ? " (mean over folds)" : "");
    if (r.folds > 1) {
      printf("folds           ");
      for (int f = 0; f < r.folds; f++)
        printf(" %.4f@%.3f", r.fold_accuracy[f], r.fold_threshold[f]);
      printf("\n");
    }
    printf("TAR @ FAR 1e-3   %.4f (accept above %.4f)\n", r.tar_at_far, r.tar_threshold);
    printf("no-face images   %zu of %zu (pairs affected: %zu)\n", no_face, test_images,
           r.no_face_pairs);
  }
out:
  free(idx), free(scores), free(same), free(fold);
  embed_job_free(&j);
  path_set_free(&set);
  fr_engine_free(e);
  fr_lfw_pairs_free(&test);
  fr_lfw_pairs_free(&train);
  return rc;
}

/* ---------------------------------------------------------------- pairs */

static int join_path(const char *dir, const char *rel, char *out, size_t n) {
  int k;
  if (rel[0] == '/' || !dir || !*dir)
    k = snprintf(out, n, "%s", rel);
  else
    k = snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
  return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* The folder of a file path ("." when it has none) into out. */
static void dir_of(const char *path, char *out, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, n, ".");
  else if (slash == path)
    snprintf(out, n, "/");
  else
    snprintf(out, n, "%.*s", (int)(slash - path), path);
}

static int eval_pairs(int argc, char **argv) {
  embed_job j;
  memset(&j, 0, sizeof j);
  fr__cli_init(&j.c, "facerec eval pairs", usage_pairs,
               FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const char *pairs_path = NULL, *root = NULL;
  float threshold = -2;
  const fr__cli_optdef defs[] = {
      {"--pairs", FR__OPT_STRING, &pairs_path, 0, 0},
      {"--root", FR__OPT_STRING, &root, 0, 0},
      {"--threshold", FR__OPT_FLOAT, &threshold, -1.0, 1.0},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&j.c, argc, argv, defs, &ops, &n_ops);
  free(ops);
  if (rc) return rc == FR__CLI_HELP ? 0 : rc;
  if (n_ops) return fr__cli_usage_error(&j.c, "unexpected operand");
  if (!pairs_path) return fr__cli_usage_error(&j.c, "needs --pairs FILE.csv");
  j.pick = PICK_LARGEST;
  char rootbuf[4096];
  if (!root) {
    dir_of(pairs_path, rootbuf, sizeof rootbuf);
    root = rootbuf;
  }
  if (!is_dir(root)) return fr__cli_fail(&j.c, "--root %s is not a directory", root);
  fr_pair_rows rows = {0};
  fr_error err = {{0}};
  if (fr_pair_rows_load(pairs_path, &rows, &err)) return fr__cli_fail(&j.c, "%s", err.msg);
  path_set set = {0};
  fr_engine *e = NULL;
  long *idx = malloc((2 * rows.n + 1) * sizeof *idx);
  float *scores = malloc((rows.n + 1) * sizeof *scores);
  int *same = malloc((rows.n + 1) * sizeof *same);
  if (!idx || !scores || !same) {
    rc = fr__cli_fail(&j.c, "out of memory");
    goto out;
  }
  if (rows.n == 0) {
    rc = fr__cli_fail(&j.c, "%s holds no pairs", pairs_path);
    goto out;
  }
  for (size_t i = 0; i < rows.n; i++)
    for (int k = 0; k < 2; k++) {
      char path[8192];
      const char *rel = k ? rows.rows[i].path_b : rows.rows[i].path_a;
      if (join_path(root, rel, path, sizeof path)) {
        rc = fr__cli_fail(&j.c, "%s:%d: path too long", pairs_path, rows.rows[i].line);
        goto out;
      }
      long x = path_set_add(&set, path);
      if (x < 0) {
        rc = fr__cli_fail(&j.c, "out of memory");
        goto out;
      }
      idx[2 * i + (size_t)k] = x;
    }
  if ((rc = fr__cli_engine_open(&j.c, -1, &e))) goto out;
  j.e = e;
  j.set = &set;
  if (threshold < -1) threshold = fr_engine_default_threshold(e);
  size_t no_face = 0;
  if ((rc = embed_all(&j, &no_face))) goto out;
  for (size_t i = 0; i < rows.n; i++) {
    scores[i] = pair_score(&j, idx[2 * i], idx[2 * i + 1]);
    same[i] = rows.rows[i].same;
  }
  fr_pairs_decision d;
  fr_pairs_decide(scores, same, rows.n, threshold, &d);
  if (j.c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "pairs", json_integer((json_int_t)d.pairs));
    json_object_set_new(o, "accuracy", fr__cli_real(d.accuracy));
    json_object_set_new(o, "false_accepts", json_integer((json_int_t)d.false_accepts));
    json_object_set_new(o, "false_rejects", json_integer((json_int_t)d.false_rejects));
    fr__cli_print_json(o);
  } else {
    for (size_t i = 0; i < rows.n; i++) {
      int accept = !isnan(scores[i]) && scores[i] >= threshold;
      if (accept == same[i] && !isnan(scores[i])) continue;
      printf("wrong  line %d  %s  %s  %s  %s\n", rows.rows[i].line, rows.rows[i].path_a,
             rows.rows[i].path_b, same[i] ? "same" : "different",
             isnan(scores[i]) ? "(no face)"
             : accept         ? "accepted"
                              : "rejected");
    }
    printf(
        "pairs          %zu\naccuracy       %.4f (threshold %.4f)\nfalse accepts  %zu\n"
        "false rejects  %zu\nno-face images %zu (pairs affected: %zu)\n",
        d.pairs, d.accuracy, (double)threshold, d.false_accepts, d.false_rejects, no_face,
        d.no_face_pairs);
  }
out:
  free(idx), free(scores), free(same);
  embed_job_free(&j);
  path_set_free(&set);
  fr_engine_free(e);
  fr_pair_rows_free(&rows);
  return rc;
}

/* ---------------------------------------------------------------- WIDER */

typedef struct wider_job {
  fr__cli c;
  const fr_engine *e;
  float min_score;
  char **paths;
  fr_wider_det **dets;
  size_t *n_dets;
  double *detect_ms, *decode_ms;
  signed char *failed;
  char (*msg)[256];
  fr__cli_progress progress;
  size_t done;
} wider_job;

static void wider_work(void *p, fr_worker *w, size_t i) {
  wider_job *j = p;
  fr_image img = {0};
  fr_error err = {{0}};
  double t0 = now_ms();
  if (fr__cli_load(j->paths[i], &img, NULL, &err) != FR_OK) {
    j->failed[i] = 1;
    snprintf(j->msg[i], sizeof j->msg[i], "%s", err.msg);
    return;
  }
  double t1 = now_ms();
  fr_face *faces = malloc(FR_FACES_MAX * sizeof *faces);
  int n = 0;
  if (!faces) {
    j->failed[i] = 1;
    snprintf(j->msg[i], sizeof j->msg[i], "%s: out of memory", j->paths[i]);
  } else if (fr_detect(w, &img, j->min_score, faces, FR_FACES_MAX, &n, &err) != FR_OK) {
    j->failed[i] = 1;
    snprintf(j->msg[i], sizeof j->msg[i], "%s: detection failed: %s", j->paths[i], err.msg);
  } else {
    j->detect_ms[i] = now_ms() - t1;
    j->decode_ms[i] = t1 - t0;
    j->dets[i] = malloc((n ? (size_t)n : 1) * sizeof **j->dets);
    if (!j->dets[i]) {
      j->failed[i] = 1;
      snprintf(j->msg[i], sizeof j->msg[i], "%s: out of memory", j->paths[i]);
    } else {
      for (int k = 0; k < n; k++)
        j->dets[i][k] =
            (fr_wider_det){faces[k].x, faces[k].y, faces[k].w, faces[k].h, faces[k].score};
      j->n_dets[i] = (size_t)n;
    }
  }
  free(faces);
  fr_image_free(&img);
}

static void wider_emit(void *p, size_t i) {
  wider_job *j = p;
  j->done++;
  fr__cli_progress_update(&j->progress, j->done, j->paths[i]);
}

static const char *base_name(const char *p) {
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') n--;
  const char *end = p + n;
  const char *b = end;
  while (b > p && b[-1] != '/') b--;
  return b;
}

/* DIR/PATH, or DIR/(PATH without its first component) when that component is
 * DIR's own name, or CSVDIR/PATH: the first that exists (else DIR/PATH). */
static int wider_path(const char *dir, const char *csv_dir, const char *rel, char *out, size_t n) {
  struct stat st;
  if (join_path(dir, rel, out, n)) return -1;
  if (rel[0] == '/' || stat(out, &st) == 0) return 0;
  const char *slash = strchr(rel, '/');
  const char *b = base_name(dir);
  size_t bl = strcspn(b, "/");
  char alt[8192];
  if (slash && (size_t)(slash - rel) == bl && strncmp(rel, b, bl) == 0 &&
      !join_path(dir, slash + 1, alt, sizeof alt) && stat(alt, &st) == 0)
    return snprintf(out, n, "%s", alt) >= (int)n ? -1 : 0;
  if (!join_path(csv_dir, rel, alt, sizeof alt) && stat(alt, &st) == 0)
    return snprintf(out, n, "%s", alt) >= (int)n ? -1 : 0;
  return join_path(dir, rel, out, n);
}

static int eval_wider(int argc, char **argv) {
  wider_job j;
  memset(&j, 0, sizeof j);
  fr__cli_init(&j.c, "facerec eval wider", usage_wider,
               FR__CLI_JSON | FR__CLI_MODELS | FR__CLI_THREADS);
  const char *gt_path = NULL, *images = NULL, *dets_path = NULL;
  int limit = 0;
  j.min_score = 0.05f;
  const fr__cli_optdef defs[] = {
      {"--gt", FR__OPT_STRING, &gt_path, 0, 0},
      {"--images", FR__OPT_STRING, &images, 0, 0},
      {"--min-score", FR__OPT_FLOAT, &j.min_score, 0.0, 1.0},
      {"--limit", FR__OPT_INT, &limit, 1, 1e9},
      {"--dets", FR__OPT_STRING, &dets_path, 0, 0},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&j.c, argc, argv, defs, &ops, &n_ops);
  free(ops);
  if (rc) return rc == FR__CLI_HELP ? 0 : rc;
  if (n_ops) return fr__cli_usage_error(&j.c, "unexpected operand");
  if (!gt_path) return fr__cli_usage_error(&j.c, "needs --gt boxes.csv");
  char csv_dir[4096];
  dir_of(gt_path, csv_dir, sizeof csv_dir);
  if (!images) images = csv_dir;
  if (!is_dir(images)) return fr__cli_fail(&j.c, "--images %s is not a directory", images);
  fr_wider_gt gt = {0};
  fr_error err = {{0}};
  if (fr_wider_gt_load(gt_path, &gt, &err)) return fr__cli_fail(&j.c, "%s", err.msg);
  if (limit > 0 && (size_t)limit < gt.n_images) gt.n_images = (size_t)limit;
  size_t n = gt.n_images;
  fr_engine *e = NULL;
  fr_wider_report *r = malloc(sizeof *r);
  j.paths = calloc(n + 1, sizeof *j.paths);
  j.dets = calloc(n + 1, sizeof *j.dets);
  j.n_dets = calloc(n + 1, sizeof *j.n_dets);
  j.detect_ms = calloc(n + 1, sizeof *j.detect_ms);
  j.decode_ms = calloc(n + 1, sizeof *j.decode_ms);
  j.failed = calloc(n + 1, 1);
  j.msg = calloc(n + 1, sizeof *j.msg);
  if (!r || !j.paths || !j.dets || !j.n_dets || !j.detect_ms || !j.decode_ms || !j.failed ||
      !j.msg) {
    rc = fr__cli_fail(&j.c, "out of memory");
    goto out;
  }
  if (n == 0) {
    rc = fr__cli_fail(&j.c, "%s lists no image", gt_path);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    char path[8192];
    if (wider_path(images, csv_dir, gt.images[i].path, path, sizeof path) ||
        !(j.paths[i] = strdup(path))) {
      rc = fr__cli_fail(&j.c, "path too long or out of memory: %s", gt.images[i].path);
      goto out;
    }
  }
  if ((rc = fr__cli_engine_open(&j.c, -1, &e))) goto out;
  j.e = e;
  double t0 = now_ms();
  fr__cli_progress_start(&j.progress, n);
  rc = fr__cli_run(&j.c, e, n, wider_work, wider_emit, &j);
  fr__cli_progress_end(&j.progress);
  if (rc) goto out;
  double wall = now_ms() - t0;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    if (j.failed[i] && bad++ < 5) fprintf(stderr, "%s: %s\n", j.c.name, j.msg[i]);
  if (bad) {
    rc = fr__cli_fail(&j.c, "%zu of %zu images could not be processed", bad, n);
    goto out;
  }
  if (dets_path) {
    FILE *f = fopen(dets_path, "w");
    if (!f) {
      rc = fr__cli_fail(&j.c, "cannot write %s: %s", dets_path, strerror(errno));
      goto out;
    }
    fprintf(f, "path,x,y,w,h,score\n");
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < j.n_dets[i]; k++) {
        const fr_wider_det *q = &j.dets[i][k];
        fprintf(f, "%s,%.9g,%.9g,%.9g,%.9g,%.9g\n", gt.images[i].path, (double)q->x, (double)q->y,
                (double)q->w, (double)q->h, (double)q->score);
      }
    if (fclose(f) != 0) {
      rc = fr__cli_fail(&j.c, "cannot write %s", dets_path);
      goto out;
    }
  }
  /* recall of faces >= 40 px by every detection (min_score), then at the default threshold */
  float recall_score = fr_engine_config_of(e)->min_score;
  size_t found_all = 0;
  if (!j.c.json) {
    if (fr_wider_evaluate(&gt, (const fr_wider_det *const *)j.dets, j.n_dets, j.min_score, r, &err)) {
      rc = fr__cli_fail(&j.c, "%s", err.msg);
      goto out;
    }
    found_all = r->found_40;
  }
  if (fr_wider_evaluate(&gt, (const fr_wider_det *const *)j.dets, j.n_dets, recall_score, r,
                        &err)) {
    rc = fr__cli_fail(&j.c, "%s", err.msg);
    goto out;
  }
  double det_ms = 0, dec_ms = 0;
  for (size_t i = 0; i < n; i++) det_ms += j.detect_ms[i], dec_ms += j.decode_ms[i];
  det_ms /= (double)n;
  dec_ms /= (double)n;
  if (j.c.json) {
    json_t *o = json_object();
    json_object_set_new(o, "images", json_integer((json_int_t)r->images));
    json_object_set_new(o, "ap_easy", fr__cli_real(r->ap[FR_WIDER_EASY]));
    json_object_set_new(o, "ap_medium", fr__cli_real(r->ap[FR_WIDER_MEDIUM]));
    json_object_set_new(o, "ap_hard", fr__cli_real(r->ap[FR_WIDER_HARD]));
    json_object_set_new(o, "ms_per_image", fr__cli_real(det_ms));
    fr__cli_print_json(o);
  } else {
    printf("images           %zu (%zu detections at score >= %.2f)\n", r->images, r->detections,
           (double)j.min_score);
    printf("AP easy          %.4f (%zu faces)\n", r->ap[0], r->faces[0]);
    printf("AP medium        %.4f (%zu faces)\n", r->ap[1], r->faces[1]);
    printf("AP hard          %.4f (%zu faces)\n", r->ap[2], r->faces[2]);
    const double all = r->faces_40 ? (double)found_all / (double)r->faces_40 : 0;
    printf(
        "recall >= 40 px  %.4f (%zu of %zu valid faces with max(w,h) >= 40, score >= %.2f, IoU >= "
        "0.5)\n",
        all, found_all, r->faces_40, (double)j.min_score);
    printf("                 %.4f (%zu at the default threshold, score >= %.2f)\n", r->recall_40,
           r->found_40, (double)recall_score);
    printf(
        "ms per image     %.2f detection + %.2f decoding (one thread each; %d threads, %.1f s "
        "wall)\n",
        det_ms, dec_ms, j.c.threads, wall / 1e3);
  }
out:
  if (j.paths)
    for (size_t i = 0; i < n; i++) free(j.paths[i]);
  if (j.dets)
    for (size_t i = 0; i < n; i++) free(j.dets[i]);
  free(j.paths), free(j.dets), free(j.n_dets), free(j.detect_ms), free(j.decode_ms), free(j.failed);
  free(j.msg);
  free(r);
  fr_engine_free(e);
  fr_wider_gt_free(&gt);
  return rc;
}

int fr_cli_eval(int argc, char **argv) {
  if (argc < 1) {
    fputs(usage_eval, stderr);
    return 2;
  }
  if (fr__cli_is_help(argv[0])) {
    fputs(usage_eval, stdout);
    return 0;
  }
  if (strcmp(argv[0], "lfw") == 0) return eval_lfw(argc - 1, argv + 1);
  if (strcmp(argv[0], "pairs") == 0) return eval_pairs(argc - 1, argv + 1);
  if (strcmp(argv[0], "wider") == 0) return eval_wider(argc - 1, argv + 1);
  fprintf(stderr, "facerec eval: unknown protocol '%s' (lfw, pairs, wider)\n", argv[0]);
  return 2;
}
