/*
 * Helpers shared by the facerec commands (internal to src/cli): option
 * parsing, engine/gallery setup with printed errors, input collection
 * (directory walks with image detection by content), a multi-threaded
 * per-image runner that emits results in input order, JSON face objects, and
 * output paths for annotated images and crops.
 *
 * Conventions: functions that return int return an exit code (0 ok, 1 failure,
 * 2 usage) after printing the reason to stderr, prefixed with the command name.
 */
#ifndef FR_CLI_COMMON_H
#define FR_CLI_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/face.h"
#include "facerec/gallery.h"
#include "facerec/image.h"

#define FR__CLI_DEFAULT_DB "facerec.db"
/* Enrollment refuses a face whose box is smaller than this on its shorter side. */
#define FR__CLI_MIN_ENROLL_FACE 40

/* Which common options a command accepts. */
enum { FR__CLI_JSON = 1, FR__CLI_DB = 2, FR__CLI_MODELS = 4, FR__CLI_THREADS = 8 };

typedef struct fr__cli {
  const char *name;  /* "facerec detect": prefix of every message */
  const char *usage; /* the command's --help text */
  unsigned accepts;  /* FR__CLI_* */
  bool json;
  const char *db_path;    /* default FR__CLI_DEFAULT_DB */
  const char *models_dir; /* default $FR_MODELS_DIR, else "models" */
  int threads;            /* default: online cores, at most 4 */
} fr__cli;

void fr__cli_init(fr__cli *c, const char *name, const char *usage, unsigned accepts);

bool fr__cli_is_help(const char *arg);
/* Prints "NAME: message (see NAME --help)" to stderr; returns 2. */
int fr__cli_usage_error(const fr__cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "NAME: message" to stderr; returns 1. */
int fr__cli_fail(const fr__cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Matches option `opt` at argv[*i] as "--opt VALUE" or "--opt=VALUE".
 * Returns 1 (matched; *val set; *i advanced past the value), 0 (not this
 * option) or -1 (matched but no value: usage error printed). */
int fr__cli_opt(const fr__cli *c, int argc, char **argv, int *i, const char *opt, const char **val);
/* The same match without printing anything (callers with their own messages). */
int fr__cli_opt_match(int argc, char **argv, int *i, const char *opt, const char **val);
/* The common options (--json, --db, --models, --threads) the command accepts.
 * Same return convention as fr__cli_opt (-1 also for a bad --threads value). */
int fr__cli_common_opt(fr__cli *c, int argc, char **argv, int *i);
/* A finite number in [lo, hi]; 0 ok, -1 otherwise. */
int fr__cli_parse_float(const char *s, double lo, double hi, float *out);
int fr__cli_parse_int(const char *s, long lo, long hi, int *out);
/* True when arg looks like an option ("-x", "--x"); "-" alone is an operand. */
bool fr__cli_is_option(const char *arg);

/* A command's own options, declared in a table ended by {NULL}. FLOAT and INT
 * values must lie in [lo, hi]; a FLAG sets a bool; STRING keeps the argument.
 * A string option may be repeated: the last one wins. */
typedef enum { FR__OPT_FLAG, FR__OPT_STRING, FR__OPT_FLOAT, FR__OPT_INT } fr__cli_opt_kind;
typedef struct fr__cli_optdef {
  const char *name; /* "--min-score" */
  fr__cli_opt_kind kind;
  void *dst; /* bool *, const char **, float *, int * */
  double lo, hi;
} fr__cli_optdef;

#define FR__CLI_HELP (-1)
/* Parses argv: --help/-h (prints c->usage to stdout, returns FR__CLI_HELP),
 * the common options, the table's options ("--opt V" or "--opt=V"), "--" (the
 * rest are operands) and operands, which go to *ops (malloc'ed array of argv
 * pointers, caller frees, also on error). Returns 0, FR__CLI_HELP, or 2 after
 * printing the usage error (unknown option, missing or bad value). */
int fr__cli_parse(fr__cli *c, int argc, char **argv, const fr__cli_optdef *defs, const char ***ops,
                  int *n_ops);

/* Loads the models from c->models_dir (min_score < 0: the engine default). */
int fr__cli_engine_open(const fr__cli *c, float min_score, fr_engine **e);
/* Opens c->db_path for the engine's recognizer. create == false: the file must
 * already exist (reading commands do not leave an empty gallery behind). */
int fr__cli_gallery_open(const fr__cli *c, const fr_engine *e, bool create, fr_gallery **g);

/* ---- inputs ---- */
typedef struct fr__cli_input {
  char *path; /* as given, or DIR/relative for walked files */
  char *rel;  /* path relative to its directory operand, or the base name of a file operand */
  char *tag;  /* free use by the command (enroll: subject); owned, may be NULL */
} fr__cli_input;

typedef struct fr__cli_inputs {
  fr__cli_input *v;
  size_t n, cap;
} fr__cli_inputs;

/* Adds one operand. A directory is walked recursively in byte order of names
 * (entries starting with '.' and symbolic links to directories are skipped);
 * its files are kept only when their first bytes are an image format, others
 * are skipped with a note on stderr. Anything else (a file, a missing path) is
 * added as is: loading it reports the problem. tag is copied into each input.
 * Returns 0, or 1 (message printed) if a directory cannot be read or out of memory. */
int fr__cli_collect(const fr__cli *c, const char *arg, const char *tag, fr__cli_inputs *in);
void fr__cli_inputs_free(fr__cli_inputs *in);

/* Reads (at most the default byte limit) and decodes an image file; sha256
 * (may be NULL) receives the hash of the file bytes. On failure err->msg names
 * the file and the problem (missing, empty, not an image, corrupt, too large). */
fr_status fr__cli_load(const char *path, fr_image *img, uint8_t sha256[32], fr_error *err);

/* ---- the per-image runner ---- */
/* work(ctx, w, i) runs on some thread with that thread's worker; emit(ctx, i)
 * runs on the calling thread, for i = 0..n-1 in order, after work(i) returned.
 * Every worker is single-threaded (min(threads, n) of them, one image each at a
 * time): the engine's single-threaded sessions use oneDNN and bf16 where a
 * pooled one would not, so a pool would make an image's boxes and embedding
 * depend on --threads and on how many images came with it (and a 2-thread pool
 * is slower than one thread on this hardware: docs/benchmarks.md). threads <= 1
 * or n <= 1: one worker on the calling thread. Returns 0, or 1 (message
 * printed) when the workers cannot be created. */
typedef void (*fr__cli_work_fn)(void *ctx, fr_worker *w, size_t i);
typedef void (*fr__cli_emit_fn)(void *ctx, size_t i);
int fr__cli_run(const fr__cli *c, const fr_engine *e, size_t n, fr__cli_work_fn work,
                fr__cli_emit_fn emit, void *ctx);

/* ---- one image through the pipeline ---- */
typedef struct fr__cli_analysis {
  fr_status st;   /* FR_OK, or why the image could not be processed */
  char msg[512];  /* the reason, naming the file */
  int w, h;       /* image size (after EXIF orientation) */
  int n;          /* faces found */
  fr_face *faces; /* n faces, largest box first: faces[0] is the main face (malloc'ed) */
  float *emb;     /* n x dim embeddings when asked for, else NULL (malloc'ed) */
  uint8_t sha256[32];
} fr__cli_analysis;

/* Loads path, detects faces at min_score and, when embed is set, embeds each.
 * img (may be NULL) receives the decoded image (caller frees) when st == FR_OK.
 * Never fails as a whole: problems land in a->st / a->msg. */
void fr__cli_analyze(fr_worker *w, const fr_engine *e, const char *path, float min_score,
                     bool embed, fr_image *img, fr__cli_analysis *a);
void fr__cli_analysis_free(fr__cli_analysis *a);

/* ---- JSON ---- */
json_t *fr__cli_real(double v); /* null when not finite */
/* A JSON string; text that is not UTF-8 (file names) has its bytes >= 0x80 shown as '?'. */
json_t *fr__cli_str(const char *s);
/* {"box":{"x","y","w","h"},"score","landmarks":[[x,y]x5]}; coordinates rounded to 0.01 px. */
json_t *fr__cli_face_json(const fr_face *f);
/* {"image":path,"width":w,"height":h} */
json_t *fr__cli_image_json(const char *path, const fr_image *img);
/* {"image":path,"error":message,"faces":[]} */
json_t *fr__cli_error_json(const char *path, const char *msg);
/* Writes o as one compact line (reals with 9 significant digits) to stdout and releases o. */
void fr__cli_print_json(json_t *o);

/* ---- faces and output files ---- */
/* The face's shorter box side in pixels. */
float fr__cli_face_side(const fr_face *f);
/* Draws box, landmarks and an optional label. */
void fr__cli_draw_face(fr_image *img, const fr_face *f, const char *label, const uint8_t rgb[3]);
/* mkdir -p; 0 or -1 with errno. */
int fr__cli_mkdirs(const char *dir);
/* "OUTDIR/REL" with REL's extension replaced by ".jpg" unless it already is
 * .jpg/.jpeg (any case); creates the parent directories. Returns 0, or -1 with
 * err filled. Refuses to name the input file itself. */
int fr__cli_annotated_path(const char *outdir, const fr__cli_input *in, char *out, size_t n,
                           fr_error *err);
/* A file-name-safe copy of a subject name ('/' and control bytes -> '_', no
 * leading '.'). */
void fr__cli_safe_name(const char *name, char *out, size_t n);
/* Base name of path without its extension. */
void fr__cli_stem(const char *path, char *out, size_t n);

/* Progress bar on stderr when it is a terminal (no-op otherwise). */
typedef struct fr__cli_progress {
  bool on;
  size_t total;
  int last_width;
} fr__cli_progress;
void fr__cli_progress_start(fr__cli_progress *p, size_t total);
void fr__cli_progress_update(fr__cli_progress *p, size_t done, const char *label);
/* Erases the bar (before printing other lines); the next update redraws it. */
void fr__cli_progress_clear(fr__cli_progress *p);
void fr__cli_progress_end(fr__cli_progress *p);

#endif
