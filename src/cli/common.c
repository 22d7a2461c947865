/*
 * Shared helpers of the facerec commands: see common.h.
 */
#include "cli/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FR__CLI_MAX_DEPTH 64
#define FR__CLI_MAX_INPUTS ((size_t)1 << 24)

void fr__cli_init(fr__cli *c, const char *name, const char *usage, unsigned accepts) {
  memset(c, 0, sizeof *c);
  c->name = name;
  c->usage = usage;
  c->accepts = accepts;
  c->db_path = FR__CLI_DEFAULT_DB;
  const char *m = getenv("FR_MODELS_DIR");
  c->models_dir = (m && *m) ? m : "models";
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (int)ncpu;
}

bool fr__cli_is_help(const char *arg) {
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

bool fr__cli_is_option(const char *arg) { return arg[0] == '-' && arg[1] != 0; }

int fr__cli_usage_error(const fr__cli *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", c->name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see %s --help)\n", c->name);
  va_end(ap);
  return 2;
}

int fr__cli_fail(const fr__cli *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", c->name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int fr__cli_opt_match(int argc, char **argv, int *i, const char *opt, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(opt);
  if (strncmp(a, opt, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != 0) return 0;
  if (*i + 1 >= argc) return -1;
  *val = argv[++*i];
  return 1;
}

int fr__cli_opt(const fr__cli *c, int argc, char **argv, int *i, const char *opt,
                const char **val) {
  const int m = fr__cli_opt_match(argc, argv, i, opt, val);
  if (m < 0) fr__cli_usage_error(c, "option %s needs a value", opt);
  return m;
}

int fr__cli_parse_float(const char *s, double lo, double hi, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*s == 0 || *end || errno || !isfinite(v) || v < lo || v > hi) return -1;
  *out = (float)v;
  return 0;
}

int fr__cli_parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == 0 || *end || errno || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int fr__cli_common_opt(fr__cli *c, int argc, char **argv, int *i) {
  const char *v = NULL;
  int r;
  if ((c->accepts & FR__CLI_JSON) && strcmp(argv[*i], "--json") == 0) {
    c->json = true;
    return 1;
  }
  if ((c->accepts & FR__CLI_DB) && (r = fr__cli_opt(c, argc, argv, i, "--db", &v)) != 0) {
    if (r > 0 && *v == 0) {
      fr__cli_usage_error(c, "--db needs a file path");
      return -1;
    }
    if (r > 0) c->db_path = v;
    return r;
  }
  if ((c->accepts & FR__CLI_MODELS) && (r = fr__cli_opt(c, argc, argv, i, "--models", &v)) != 0) {
    if (r > 0 && *v == 0) {
      fr__cli_usage_error(c, "--models needs a directory");
      return -1;
    }
    if (r > 0) c->models_dir = v;
    return r;
  }
  if ((c->accepts & FR__CLI_THREADS) && (r = fr__cli_opt(c, argc, argv, i, "--threads", &v)) != 0) {
    if (r > 0 && fr__cli_parse_int(v, 1, 256, &c->threads)) {
      fr__cli_usage_error(c, "--threads takes a number from 1 to 256, not '%s'", v);
      return -1;
    }
    return r;
  }
  return 0;
}

int fr__cli_parse(fr__cli *c, int argc, char **argv, const fr__cli_optdef *defs, const char ***ops,
                  int *n_ops) {
  *n_ops = 0;
  *ops = calloc((size_t)argc + 1, sizeof **ops);
  if (!*ops) return fr__cli_usage_error(c, "out of memory");
  bool only_operands = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (only_operands || !fr__cli_is_option(a)) {
      (*ops)[(*n_ops)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_operands = true;
      continue;
    }
    if (fr__cli_is_help(a)) {
      fputs(c->usage, stdout);
      return FR__CLI_HELP;
    }
    int r = fr__cli_common_opt(c, argc, argv, &i);
    if (r < 0) return 2;
    if (r > 0) continue;
    const fr__cli_optdef *d = defs;
    for (; d && d->name; d++) {
      if (d->kind == FR__OPT_FLAG) {
        if (strcmp(a, d->name) == 0) break;
        continue;
      }
      const char *v = NULL;
      r = fr__cli_opt(c, argc, argv, &i, d->name, &v);
      if (r < 0) return 2;
      if (r == 0) continue;
      if (d->kind == FR__OPT_STRING) {
        if (*v == 0) return fr__cli_usage_error(c, "%s needs a value", d->name);
        *(const char **)d->dst = v;
      } else if (d->kind == FR__OPT_FLOAT) {
        if (fr__cli_parse_float(v, d->lo, d->hi, d->dst))
          return fr__cli_usage_error(c, "%s takes a number from %g to %g, not '%s'", d->name, d->lo,
                                     d->hi, v);
      } else if (fr__cli_parse_int(v, (long)d->lo, (long)d->hi, d->dst)) {
        return fr__cli_usage_error(c, "%s takes a whole number from %g to %g, not '%s'", d->name,
                                   d->lo, d->hi, v);
      }
      break;
    }
    if (d && d->name) {
      if (d->kind == FR__OPT_FLAG) *(bool *)d->dst = true;
      continue;
    }
    return fr__cli_usage_error(c, "unknown option '%s'", a);
  }
  return 0;
}

int fr__cli_engine_open(const fr__cli *c, float min_score, fr_engine **e) {
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = c->models_dir;
  if (min_score >= 0) cfg.min_score = min_score;
  struct stat st;
  if (stat(c->models_dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return fr__cli_fail(c,
                        "no models directory '%s' (run scripts/fetch-models, or pass --models DIR "
                        "or set FR_MODELS_DIR)",
                        c->models_dir);
  fr_error err = {{0}};
  fr_status s = fr_engine_create(&cfg, e, &err);
  if (s != FR_OK) {
    *e = NULL;
    return fr__cli_fail(c, "cannot load the models from '%s': %s", c->models_dir, err.msg);
  }
  return 0;
}

int fr__cli_gallery_open(const fr__cli *c, const fr_engine *e, bool create, fr_gallery **g) {
  *g = NULL;
  if (!create && strcmp(c->db_path, ":memory:") != 0) {
    struct stat st;
    if (stat(c->db_path, &st) != 0)
      return fr__cli_fail(c, "no gallery at '%s': %s (enroll faces first, or pass --db PATH)",
                          c->db_path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return fr__cli_fail(c, "gallery '%s' is not a file", c->db_path);
  }
  fr_error err = {{0}};
  if (fr_gallery_open(c->db_path, fr_engine_model_id(e), fr_engine_embed_dim(e), g, &err) !=
      FR_OK) {
    *g = NULL;
    return fr__cli_fail(c, "cannot open the gallery '%s': %s", c->db_path, err.msg);
  }
  return 0;
}

/* ---- inputs ---- */

static int push_input(fr__cli_inputs *in, const char *path, const char *rel, const char *tag) {
  if (in->n == in->cap) {
    if (in->cap >= FR__CLI_MAX_INPUTS) return -1;
    size_t cap = in->cap ? in->cap * 2 : 64;
    fr__cli_input *v = realloc(in->v, cap * sizeof *v);
    if (!v) return -1;
    in->v = v;
    in->cap = cap;
  }
  fr__cli_input *x = &in->v[in->n];
  x->path = strdup(path);
  x->rel = strdup(rel);
  x->tag = tag ? strdup(tag) : NULL;
  if (!x->path || !x->rel || (tag && !x->tag)) {
    free(x->path);
    free(x->rel);
    free(x->tag);
    return -1;
  }
  in->n++;
  return 0;
}

void fr__cli_inputs_free(fr__cli_inputs *in) {
  for (size_t i = 0; i < in->n; i++) {
    free(in->v[i].path);
    free(in->v[i].rel);
    free(in->v[i].tag);
  }
  free(in->v);
  memset(in, 0, sizeof *in);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when the file starts with the magic bytes of an image format. */
static bool sniff_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char buf[16];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n > 0 && fr_image_sniff(buf, (size_t)n) != FR_IMAGE_UNKNOWN;
}

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (!s) return NULL;
  memcpy(s, a, la);
  size_t k = la;
  if (la == 0 || a[la - 1] != '/') s[k++] = '/';
  memcpy(s + k, b, lb + 1);
  if (la == 0) memmove(s, s + 1, lb + 1);
  return s;
}

static int walk(const fr__cli *c, const char *dir, const char *rel, const char *tag, int depth,
                fr__cli_inputs *in) {
  if (depth > FR__CLI_MAX_DEPTH) {
    fprintf(stderr, "%s: skipping %s: nested more than %d directories deep\n", c->name, dir,
            FR__CLI_MAX_DEPTH);
    return 0;
  }
  DIR *d = opendir(dir);
  if (!d) return fr__cli_fail(c, "cannot read directory %s: %s", dir, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue; /* ".", "..", hidden files */
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **nn = nc <= FR__CLI_MAX_INPUTS ? realloc(names, nc * sizeof *nn) : NULL;
      if (!nn) {
        rc = fr__cli_fail(c, "out of memory listing %s", dir);
        break;
      }
      names = nn;
      cap = nc;
    }
    if (!(names[n] = strdup(de->d_name))) {
      rc = fr__cli_fail(c, "out of memory listing %s", dir);
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 1) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n && rc == 0; i++) {
    char *path = join(dir, names[i]);
    char *r = rel ? join(rel, names[i]) : strdup(names[i]);
    struct stat lst, st;
    if (!path || !r) {
      rc = fr__cli_fail(c, "out of memory");
    } else if (lstat(path, &lst) != 0) {
      fprintf(stderr, "%s: skipping %s: %s\n", c->name, path, strerror(errno));
    } else if (S_ISDIR(lst.st_mode)) {
      rc = walk(c, path, r, tag, depth + 1, in);
    } else if (S_ISLNK(lst.st_mode) && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      fprintf(stderr, "%s: skipping %s: symbolic link to a directory\n", c->name, path);
    } else if (!sniff_file(path)) {
      fprintf(stderr, "%s: skipping %s: not an image\n", c->name, path);
    } else if (push_input(in, path, r, tag)) {
      rc = fr__cli_fail(c, "out of memory (or more than %zu inputs)", FR__CLI_MAX_INPUTS);
    }
    free(path);
    free(r);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int fr__cli_collect(const fr__cli *c, const char *arg, const char *tag, fr__cli_inputs *in) {
  struct stat st;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) return walk(c, arg, NULL, tag, 0, in);
  const char *slash = strrchr(arg, '/');
  const char *base = slash && slash[1] ? slash + 1 : arg;
  if (push_input(in, arg, base, tag)) return fr__cli_fail(c, "out of memory");
  return 0;
}

fr_status fr__cli_load(const char *path, fr_image *img, uint8_t sha256[32], fr_error *err) {
  fr_image_limits lim = fr_image_default_limits();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fr_error_set(err, errno == ENOENT ? FR_ERR_NOT_FOUND : FR_ERR_IO, "cannot open %s: %s",
                        path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fr_error_set(err, FR_ERR_IO, "cannot read %s: %s", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is a directory", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s is not a regular file", path);
  }
  if (st.st_size == 0) {
    close(fd);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: empty file (0 bytes), not an image", path);
  }
  if ((uint64_t)st.st_size > (uint64_t)lim.max_bytes) {
    close(fd);
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %lld bytes, over the %zu-byte image limit",
                        path, (long long)st.st_size, lim.max_bytes);
  }
  size_t len = (size_t)st.st_size, got = 0;
  uint8_t *buf = malloc(len);
  if (!buf) {
    close(fd);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, len);
  }
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  int e = errno;
  close(fd);
  if (got != len) {
    free(buf);
    return fr_error_set(err, FR_ERR_IO, "cannot read %s: %s", path,
                        got < len ? "file shrank while reading" : strerror(e));
  }
  if (sha256) fr_sha256(buf, len, sha256);
  fr_error derr = {{0}};
  fr_status s = fr_image_decode(buf, len, &lim, img, &derr);
  free(buf);
  if (s != FR_OK) {
    fr_image_free(img);
    return fr_error_set(err, s, "%s: %s", path, derr.msg[0] ? derr.msg : fr_strerror(s));
  }
  return FR_OK;
}

/* ---- the runner ---- */

typedef struct runner {
  const fr__cli *c;
  size_t n;
  fr__cli_work_fn work;
  void *ctx;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next;   /* next index to claim */
  uint8_t *done; /* per index */
} runner;

typedef struct runner_thread {
  runner *r;
  fr_worker *w;
} runner_thread;

static void *runner_main(void *arg) {
  runner_thread *t = arg;
  runner *r = t->r;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    size_t i = r->next < r->n ? r->next++ : r->n;
    pthread_mutex_unlock(&r->mu);
    if (i >= r->n) break;
    r->work(r->ctx, t->w, i);
    pthread_mutex_lock(&r->mu);
    r->done[i] = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  return NULL;
}

int fr__cli_run(const fr__cli *c, const fr_engine *e, size_t n, fr__cli_work_fn work,
                fr__cli_emit_fn emit, void *ctx) {
  fr_error err = {{0}};
  if (n == 0) return 0;
  if (c->threads <= 1 || n == 1) {
    fr_worker *w = NULL;
    if (fr_worker_create(e, NULL, &w, &err) != FR_OK)
      return fr__cli_fail(c, "cannot create a worker: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
      work(ctx, w, i);
      emit(ctx, i);
    }
    fr_worker_free(w);
    return 0;
  }
  size_t nt = (size_t)c->threads < n ? (size_t)c->threads : n;
  runner r = {.c = c, .n = n, .work = work, .ctx = ctx};
  runner_thread *th = calloc(nt, sizeof *th);
  pthread_t *tid = calloc(nt, sizeof *tid);
  r.done = calloc(n, 1);
  int rc = 0;
  if (!th || !tid || !r.done) {
    free(th);
    free(tid);
    free(r.done);
    return fr__cli_fail(c, "out of memory");
  }
  for (size_t k = 0; k < nt && rc == 0; k++) {
    th[k].r = &r;
    if (fr_worker_create(e, NULL, &th[k].w, &err) != FR_OK) {
      th[k].w = NULL;
      rc = fr__cli_fail(c, "cannot create a worker: %s", err.msg);
    }
  }
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  size_t started = 0;
  if (rc == 0)
    for (; started < nt; started++)
      if (pthread_create(&tid[started], NULL, runner_main, &th[started]) != 0) break;
  if (rc == 0 && started == 0) {
    rc = fr__cli_fail(c, "cannot start threads");
  } else if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      pthread_mutex_lock(&r.mu);
      while (!r.done[i]) pthread_cond_wait(&r.cv, &r.mu);
      pthread_mutex_unlock(&r.mu);
      emit(ctx, i);
    }
  }
  for (size_t k = 0; k < started; k++) pthread_join(tid[k], NULL);
  for (size_t k = 0; k < nt; k++) fr_worker_free(th[k].w);
  pthread_cond_destroy(&r.cv);
  pthread_mutex_destroy(&r.mu);
  free(th);
  free(tid);
  free(r.done);
  return rc;
}

/* ---- JSON ---- */

json_t *fr__cli_real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *coord(float v) { return fr__cli_real(round((double)v * 100.0) / 100.0); }

json_t *fr__cli_face_json(const fr_face *f) {
  json_t *box = json_object();
  json_object_set_new(box, "x", coord(f->x));
  json_object_set_new(box, "y", coord(f->y));
  json_object_set_new(box, "w", coord(f->w));
  json_object_set_new(box, "h", coord(f->h));
  json_t *lm = json_array();
  for (int k = 0; k < 5; k++) {
    json_t *p = json_array();
    json_array_append_new(p, coord(f->landmarks[k][0]));
    json_array_append_new(p, coord(f->landmarks[k][1]));
    json_array_append_new(lm, p);
  }
  json_t *o = json_object();
  json_object_set_new(o, "box", box);
  json_object_set_new(o, "score", fr__cli_real(f->score));
  json_object_set_new(o, "landmarks", lm);
  return o;
}

json_t *fr__cli_str(const char *s) {
  json_t *j = json_string(s);
  if (j || !s) return j ? j : json_null();
  /* Not UTF-8 (a file name from another encoding): bytes >= 0x80 become '?'. */
  char *t = strdup(s);
  if (!t) return json_null();
  for (char *p = t; *p; p++)
    if ((unsigned char)*p >= 0x80) *p = '?';
  j = json_string(t);
  free(t);
  return j ? j : json_null();
}

json_t *fr__cli_image_json(const char *path, const fr_image *img) {
  json_t *o = json_object();
  json_object_set_new(o, "image", fr__cli_str(path));
  json_object_set_new(o, "width", json_integer(img->w));
  json_object_set_new(o, "height", json_integer(img->h));
  return o;
}

json_t *fr__cli_error_json(const char *path, const char *msg) {
  json_t *o = json_object();
  json_object_set_new(o, "image", fr__cli_str(path));
  json_object_set_new(o, "error", fr__cli_str(msg));
  json_object_set_new(o, "faces", json_array());
  return o;
}

void fr__cli_print_json(json_t *o) {
  if (!o) return;
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
  if (s) {
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
  }
  json_decref(o);
  fflush(stdout);
}

/* ---- faces and files ---- */

float fr__cli_face_side(const fr_face *f) { return f->w < f->h ? f->w : f->h; }

void fr__cli_draw_face(fr_image *img, const fr_face *f, const char *label, const uint8_t rgb[3]) {
  int side = (int)fr__cli_face_side(f);
  int th = side >= 200 ? 3 : side >= 60 ? 2 : 1;
  fr_image_draw_rect(img, (int)lroundf(f->x), (int)lroundf(f->y), (int)lroundf(f->w),
                     (int)lroundf(f->h), rgb, th);
  for (int k = 0; k < 5; k++)
    fr_image_draw_rect(img, (int)lroundf(f->landmarks[k][0]) - th,
                       (int)lroundf(f->landmarks[k][1]) - th, 2 * th + 1, 2 * th + 1, rgb, th);
  if (label && *label) {
    int px = side / 6;
    if (px < 12) px = 12;
    if (px > 32) px = 32;
    int y = (int)lroundf(f->y) - px - 6;
    if (y < 0) y = (int)lroundf(f->y + f->h) + 1;
    static const uint8_t white[3] = {255, 255, 255};
    fr_error err;
    (void)fr_image_draw_label(img, (int)lroundf(f->x), y, label, px, white, rgb, &err);
  }
}

int fr__cli_mkdirs(const char *dir) {
  size_t len = strlen(dir);
  if (len == 0) {
    errno = EINVAL;
    return -1;
  }
  char *tmp = strdup(dir);
  if (!tmp) return -1;
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        free(tmp);
        return -1;
      }
      *p = '/';
    }
  int rc = 0;
  if (mkdir(tmp, 0755) != 0) {
    struct stat st;
    if (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
      if (errno == EEXIST) errno = ENOTDIR;
      rc = -1;
    }
  }
  free(tmp);
  return rc;
}

static const char *extension(const char *name) {
  const char *slash = strrchr(name, '/');
  const char *base = slash ? slash + 1 : name;
  const char *dot = strrchr(base, '.');
  return dot && dot != base ? dot : NULL;
}

int fr__cli_annotated_path(const char *outdir, const fr__cli_input *in, char *out, size_t n,
                           fr_error *err) {
  const char *ext = extension(in->rel);
  bool keep = ext && (strcasecmp(ext, ".jpg") == 0 || strcasecmp(ext, ".jpeg") == 0);
  size_t stem = ext && !keep ? (size_t)(ext - in->rel) : strlen(in->rel);
  int w = snprintf(out, n, "%s/%.*s%s", outdir, (int)stem, in->rel, keep ? "" : ".jpg");
  if (w < 0 || (size_t)w >= n) {
    fr_error_set(err, FR_ERR_INVALID_ARG, "output path for %s is too long", in->path);
    return -1;
  }
  char *slash = strrchr(out, '/');
  *slash = 0;
  int rc = fr__cli_mkdirs(out);
  *slash = '/';
  if (rc != 0) {
    fr_error_set(err, FR_ERR_IO, "cannot create the directory for %s: %s", out, strerror(errno));
    return -1;
  }
  struct stat a, b;
  if (stat(out, &a) == 0 && stat(in->path, &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino) {
    fr_error_set(err, FR_ERR_INVALID_ARG, "refusing to overwrite the input %s with its annotation",
                 in->path);
    return -1;
  }
  return 0;
}

void fr__cli_safe_name(const char *name, char *out, size_t n) {
  size_t k = 0;
  if (n == 0) return;
  for (size_t i = 0; name[i] && k + 1 < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    bool bad = ch == '/' || ch == '\\' || ch < 0x20 || ch == 0x7f || (k == 0 && ch == '.');
    out[k] = bad ? '_' : (char)ch;
    k++;
  }
  if (k == 0 && n > 1) out[k++] = '_';
  out[k] = 0;
}

void fr__cli_stem(const char *path, char *out, size_t n) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *ext = extension(base);
  size_t len = ext ? (size_t)(ext - base) : strlen(base);
  if (len >= n) len = n - 1;
  memcpy(out, base, len);
  out[len] = 0;
}

/* ---- progress ---- */

void fr__cli_progress_start(fr__cli_progress *p, size_t total) {
  p->on = isatty(STDERR_FILENO) && total > 0;
  p->total = total;
  p->last_width = 0;
}

void fr__cli_progress_update(fr__cli_progress *p, size_t done, const char *label) {
  if (!p->on) return;
  enum { W = 30 };
  size_t fill = p->total ? done * W / p->total : W;
  char bar[W + 1];
  for (size_t k = 0; k < W; k++) bar[k] = k < fill ? '#' : '.';
  bar[W] = 0;
  /* Keep the line under 80 columns: the label's tail, "..." when cut. */
  char line[160];
  const char *l = label ? label : "";
  size_t ll = strlen(l);
  const char *dots = ll > 34 ? "..." : "";
  if (ll > 34) l += ll - 31;
  int w = snprintf(line, sizeof line, "[%s] %zu/%zu %s%s", bar, done, p->total, dots, l);
  fprintf(stderr, "\r%s%*s", line, p->last_width > w ? p->last_width - w : 0, "");
  p->last_width = w;
  fflush(stderr);
}

void fr__cli_progress_clear(fr__cli_progress *p) {
  if (!p->on || p->last_width == 0) return;
  fprintf(stderr, "\r%*s\r", p->last_width, "");
  fflush(stderr);
  p->last_width = 0;
}

void fr__cli_progress_end(fr__cli_progress *p) {
  if (!p->on) return;
  fprintf(stderr, "\r%*s\r", p->last_width, "");
  fflush(stderr);
  p->on = false;
}

/* ---- one image through the pipeline ---- */

void fr__cli_analyze(fr_worker *w, const fr_engine *e, const char *path, float min_score,
                     bool embed, fr_image *img_out, fr__cli_analysis *a) {
  fr_error err = {{0}}, inner = {{0}};
  fr_image img = {0};
  memset(a, 0, sizeof *a);
  a->st = fr__cli_load(path, &img, a->sha256, &err);
  if (a->st != FR_OK) {
    snprintf(a->msg, sizeof a->msg, "%s", err.msg);
    return;
  }
  a->w = img.w;
  a->h = img.h;
  fr_face *buf = malloc(FR_FACES_MAX * sizeof *buf);
  int n = 0;
  if (!buf) {
    a->st = fr_error_set(&err, FR_ERR_NOMEM, "%s: out of memory", path);
  } else if ((a->st = fr_detect(w, &img, min_score, buf, FR_FACES_MAX, &n, &inner)) != FR_OK) {
    fr_error_set(&err, a->st, "%s: detection failed: %s", path, inner.msg);
  } else if (n > 0) {
    fr_faces_sort_largest_first(buf, n); /* reported largest first, like the HTTP API */
    a->faces = malloc((size_t)n * sizeof *a->faces);
    if (!a->faces)
      a->st = fr_error_set(&err, FR_ERR_NOMEM, "%s: out of memory", path);
    else
      memcpy(a->faces, buf, (size_t)n * sizeof *a->faces);
  }
  free(buf);
  if (a->st == FR_OK) a->n = n;
  int dim = fr_engine_embed_dim(e);
  if (a->st == FR_OK && embed && n > 0) {
    a->emb = malloc((size_t)n * (size_t)dim * sizeof *a->emb);
    if (!a->emb) a->st = fr_error_set(&err, FR_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n && a->st == FR_OK; i++)
      if ((a->st = fr_embed_face(w, &img, &a->faces[i], a->emb + (size_t)i * (size_t)dim, NULL,
                                 &inner)) != FR_OK)
        fr_error_set(&err, a->st, "%s: embedding face %d failed: %s", path, i, inner.msg);
  }
  if (a->st != FR_OK) {
    snprintf(a->msg, sizeof a->msg, "%s", err.msg);
    free(a->faces);
    free(a->emb);
    a->faces = NULL;
    a->emb = NULL;
    a->n = 0;
    fr_image_free(&img);
    return;
  }
  if (img_out)
    *img_out = img;
  else
    fr_image_free(&img);
}

void fr__cli_analysis_free(fr__cli_analysis *a) {
  free(a->faces);
  free(a->emb);
  a->faces = NULL;
  a->emb = NULL;
  a->n = 0;
}
