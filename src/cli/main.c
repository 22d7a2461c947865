/*
 * facerec command line. Commands are declared in a table; each parses its own
 * options, prints errors to stderr and returns the process exit code
 * (0 success, 1 failure, 2 usage error).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli/cli.h"
#include "facerec/nn.h"
#include "nn/exec.h"

#define FR_VERSION "0.1.0"

static const char *usage_main =
    "usage: facerec <command> [options]      (facerec <command> --help for details)\n"
    "\n"
    "faces:\n"
    "  detect IMAGE|DIR... [--json] [--min-score S] [--annotate OUTDIR]\n"
    "        Find faces: box, score and five landmarks per face.\n"
    "  embed IMAGE|DIR... [--json]\n"
    "        Face objects plus each face's L2-normalized embedding and the model id.\n"
    "  compare IMAGE_A IMAGE_B [--json] [--threshold T]\n"
    "        Similarity of the main faces of two images, same person or not.\n"
    "  enroll DIR... [--db PATH]            (DIR/<person>/<images>)\n"
    "  enroll --subject NAME IMAGE|DIR... [--db PATH]\n"
    "        Add known people's faces to the gallery (idempotent).\n"
    "  recognize IMAGE|DIR... [--db PATH] [--threshold T] [--annotate OUTDIR]\n"
    "            [--crops OUTDIR] [--json]\n"
    "        Name the faces in images after the enrolled subjects (or unknown).\n"
    "  video INPUT [--db PATH] [--every N] [--threshold T] [--crops DIR]\n"
    "        [--out FILE.mp4] [--json] [--max-frames N] [--realtime]\n"
    "        Recognize the faces of a video file, camera or stream frame by frame\n"
    "        (tracks, events, best crops, annotated video).\n"
    "  subjects list|rename OLD NEW|delete NAME [--db PATH] [--json]\n"
    "        Manage the gallery's subjects.\n"
    "  eval lfw|pairs|wider ... [--json]\n"
    "        Measure verification accuracy (LFW protocol, CSV pairs) and detection\n"
    "        AP (WIDER FACE protocol) with the whole pipeline.\n"
    "\n"
    "  Common options: --models DIR (default $FR_MODELS_DIR, else ./models),\n"
    "  --threads N, --db PATH (default facerec.db), --json (JSON Lines on stdout).\n"
    "\n"
    "service:\n"
    "  serve [--listen ADDR:PORT] [--db PATH] [--threads N] [--api-key-file F] ...\n"
    "        The HTTP API (/recognition, CompreFace-compatible /api/v1) on the gallery.\n"
    "  keys create --role admin|recognize | list | revoke ID [--db PATH]\n"
    "        API keys of the HTTP service (stored hashed in the gallery).\n"
    "\n"
    "models:\n"
    "  model inspect MODEL [--shape D0,D1,...]\n"
    "        Print a model's inputs, outputs, op histogram, parameter count and\n"
    "        FLOPs (at --shape, default the declared input shape).\n"
    "  model run MODEL --input FILE.f32 --shape D0,D1,... --output-dir DIR\n"
    "            [--node NAME]... [--threads N] [--profile RUNS]\n"
    "        Run one inference. The input is raw little-endian float32 in the\n"
    "        model's own layout (NCHW for ONNX, NHWC for TFLite and TF.js).\n"
    "        Writes every model output and every --node output to DIR as raw\n"
    "        little-endian float32 in the model's own layout; the file name is\n"
    "        the node name with every character outside [A-Za-z0-9._-] replaced\n"
    "        by '_', plus '.f32'. Repeat --input/--shape for models with several\n"
    "        inputs. --threads N: worker threads (default: all cores).\n"
    "        --profile RUNS: time every node over RUNS more runs (table on stderr).\n"
    "        MODEL is an .onnx file, a .tflite file, or a TF.js model.json (weight\n"
    "        shards beside it).\n"
    "\n"
    "  help [COMMAND]  this text, or a command's\n"
    "  --help          this text\n"
    "  --version       print the version\n"
    "\n"
    "Exit status: 0 success, 1 failure (message on stderr), 2 usage error.\n";

static int parse_shape(const char *s, int64_t *dims, int *rank) {
  int r = 0;
  const char *p = s;
  while (*p) {
    if (r >= FR_MAX_DIMS) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 1 || v > (1LL << 31)) return -1;
    dims[r++] = v;
    if (*end == ',') p = end + 1;
    else if (*end == 0) p = end;
    else return -1;
  }
  *rank = r;
  return r > 0 ? 0 : -1;
}

static int parse_threads(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == 0 || *end || v < 1 || v > 256) return -1;
  *out = (int)v;
  return 0;
}

/* Reads a whole file of float32; *n = element count. NULL on error (message printed). */
static float *read_f32(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "facerec: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size % 4 != 0 ||
      st.st_size > ((off_t)1 << 32)) {
    fprintf(stderr, "facerec: %s: not a float32 file (size must be a multiple of 4 bytes)\n", path);
    fclose(f);
    return NULL;
  }
  size_t count = (size_t)st.st_size / 4;
  float *buf = malloc(count * 4 + 4);
  if (!buf || fread(buf, 4, count, f) != count) {
    fprintf(stderr, "facerec: cannot read %s\n", path);
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *n = count;
  return buf;
}

static int mkdir_p(const char *dir) {
  char tmp[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof tmp) return -1;
  memcpy(tmp, dir, len + 1);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
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

static int write_tensor(const char *dir, const fr_tensor_view *tv) {
  char fname[512], path[4096 + 600];
  sanitize(tv->name, fname, sizeof fname);
  snprintf(path, sizeof path, "%s/%s.f32", dir, fname);
  FILE *f = fopen(path, "wb");
  if (!f || (tv->count && fwrite(tv->data, 4, tv->count, f) != tv->count)) {
    fprintf(stderr, "facerec: cannot write %s: %s\n", path, strerror(errno));
    if (f) fclose(f);
    return -1;
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "facerec: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  printf("%s [", path);
  for (int k = 0; k < tv->rank; k++) printf("%s%" PRId64, k ? "," : "", tv->shape[k]);
  printf("]\n");
  return 0;
}

#define MAX_ARGS 64

static int cmd_model_run(int argc, char **argv) {
  const char *model_path = NULL, *outdir = NULL;
  const char *inputs[MAX_ARGS], *shapes[MAX_ARGS], *nodes[MAX_ARGS];
  int n_inputs = 0, n_shapes = 0, n_nodes = 0, threads = 0, profile = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int has_val = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_main, stdout);
      return 0;
    } else if (strcmp(a, "--input") == 0 && has_val && n_inputs < MAX_ARGS) {
      inputs[n_inputs++] = argv[++i];
    } else if (strcmp(a, "--shape") == 0 && has_val && n_shapes < MAX_ARGS) {
      shapes[n_shapes++] = argv[++i];
    } else if (strcmp(a, "--node") == 0 && has_val && n_nodes < MAX_ARGS) {
      nodes[n_nodes++] = argv[++i];
    } else if (strcmp(a, "--profile") == 0 && has_val) {
      profile = atoi(argv[++i]);
      if (profile < 1 || profile > 100000) {
        fprintf(stderr, "facerec: --profile takes a run count from 1 to 100000\n");
        return 2;
      }
    } else if (strcmp(a, "--output-dir") == 0 && has_val) {
      outdir = argv[++i];
    } else if (strcmp(a, "--threads") == 0 && has_val) {
      if (parse_threads(argv[++i], &threads)) {
        fprintf(stderr, "facerec: --threads takes a number from 1 to 256\n");
        return 2;
      }
    } else if (a[0] == '-') {
      fprintf(stderr, "facerec model run: unknown or incomplete option '%s' (see --help)\n", a);
      return 2;
    } else if (!model_path) {
      model_path = a;
    } else {
      fprintf(stderr, "facerec model run: unexpected argument '%s'\n", a);
      return 2;
    }
  }
  if (!model_path || !outdir || n_inputs == 0 || n_shapes != n_inputs) {
    fprintf(stderr, "facerec model run: need MODEL, --output-dir, and one --shape per --input "
                    "(see --help)\n");
    return 2;
  }
  fr_error err = {{0}};
  fr_model *m = NULL;
  fr_session *s = NULL;
  fr_threadpool *tp = NULL;
  int rc = 1;
  if (fr_model_load(model_path, NULL, &m, &err)) {
    fprintf(stderr, "facerec: %s\n", err.msg);
    return 1;
  }
  if (n_inputs != fr_model_num_inputs(m)) {
    fprintf(stderr, "facerec: %s has %d input(s), %d given\n", model_path, fr_model_num_inputs(m),
            n_inputs);
    goto out;
  }
  tp = fr_threadpool_create(threads);
  if (!tp) {
    fprintf(stderr, "facerec: cannot start the thread pool\n");
    goto out;
  }
  if (fr_session_create(m, tp, &s, &err)) {
    fprintf(stderr, "facerec: %s\n", err.msg);
    goto out;
  }
  for (int i = 0; i < n_nodes; i++)
    if (fr_session_keep(s, nodes[i], &err)) {
      fprintf(stderr, "facerec: %s\n", err.msg);
      goto out;
    }
  for (int i = 0; i < n_inputs; i++) {
    int64_t dims[FR_MAX_DIMS];
    int rank;
    if (parse_shape(shapes[i], dims, &rank)) {
      fprintf(stderr, "facerec: bad --shape '%s' (expected positive integers like 1,3,112,112)\n",
              shapes[i]);
      goto out;
    }
    size_t n = 0;
    float *data = read_f32(inputs[i], &n);
    if (!data) goto out;
    uint64_t want = 1;
    for (int k = 0; k < rank; k++) want *= (uint64_t)dims[k];
    if (want != n) {
      fprintf(stderr, "facerec: %s holds %zu floats but --shape %s needs %" PRIu64 "\n", inputs[i], n,
              shapes[i], want);
      free(data);
      goto out;
    }
    fr_status st = fr_session_set_input(s, i, data, dims, rank, &err);
    free(data);
    if (st) {
      fprintf(stderr, "facerec: %s\n", err.msg);
      goto out;
    }
  }
  if (fr_session_run(s, &err)) {
    fprintf(stderr, "facerec: %s\n", err.msg);
    goto out;
  }
  if (profile) { /* per-node timing over more runs, to stderr */
    fr__session_profile_start(s);
    for (int r = 0; r < profile; r++)
      if (fr_session_run(s, &err)) {
        fprintf(stderr, "facerec: %s\n", err.msg);
        goto out;
      }
    fr__session_profile_print(s, stderr);
  }
  if (mkdir_p(outdir)) {
    fprintf(stderr, "facerec: cannot create %s: %s\n", outdir, strerror(errno));
    goto out;
  }
  for (int i = 0; i < fr_model_num_outputs(m); i++) {
    fr_tensor_view tv;
    if (fr_session_output(s, i, &tv, &err)) {
      fprintf(stderr, "facerec: %s\n", err.msg);
      goto out;
    }
    if (write_tensor(outdir, &tv)) goto out;
  }
  for (int i = 0; i < n_nodes; i++) {
    fr_tensor_view tv;
    if (fr_session_get(s, nodes[i], &tv, &err)) {
      fprintf(stderr, "facerec: %s\n", err.msg);
      goto out;
    }
    if (write_tensor(outdir, &tv)) goto out;
  }
  rc = 0;
out:
  fr_session_free(s);
  fr_threadpool_free(tp);
  fr_model_free(m);
  return rc;
}

static int cmd_model_inspect(int argc, char **argv) {
  const char *model_path = NULL, *shape = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_main, stdout);
      return 0;
    } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      shape = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "facerec model inspect: unknown or incomplete option '%s'\n", argv[i]);
      return 2;
    } else if (!model_path) {
      model_path = argv[i];
    } else {
      fprintf(stderr, "facerec model inspect: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!model_path) {
    fprintf(stderr, "facerec model inspect: need MODEL (see --help)\n");
    return 2;
  }
  int64_t dims[FR_MAX_DIMS];
  int rank = 0;
  if (shape && parse_shape(shape, dims, &rank)) {
    fprintf(stderr, "facerec: bad --shape '%s'\n", shape);
    return 2;
  }
  fr_error err = {{0}};
  fr_model *m = NULL;
  if (fr_model_load(model_path, NULL, &m, &err)) {
    fprintf(stderr, "facerec: %s\n", err.msg);
    return 1;
  }
  int rc = 0;
  if (fr_model_describe(m, shape ? dims : NULL, rank, stdout, &err)) {
    fprintf(stderr, "facerec: %s\n", err.msg);
    rc = 1;
  }
  fr_model_free(m);
  return rc;
}

static int cmd_model(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    fputs(usage_main, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  if (strcmp(argv[0], "run") == 0) return cmd_model_run(argc - 1, argv + 1);
  if (strcmp(argv[0], "inspect") == 0) return cmd_model_inspect(argc - 1, argv + 1);
  fprintf(stderr, "facerec model: unknown subcommand '%s' (inspect, run)\n", argv[0]);
  return 2;
}

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} commands[] = {
    {"detect", fr_cli_detect},
    {"embed", fr_cli_embed},
    {"compare", fr_cli_compare},
    {"enroll", fr_cli_enroll},
    {"recognize", fr_cli_recognize},
    {"video", fr_cli_video},
    {"subjects", fr_cli_subjects},
    {"eval", fr_cli_eval},
    {"model", cmd_model},
    {"serve", fr_cli_serve},
    {"keys", fr_cli_keys},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "help") == 0 && argc >= 3) { /* facerec help CMD == facerec CMD --help */
    char help[] = "--help";
    char *hv[] = {help, NULL};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strcmp(argv[2], commands[i].name) == 0) return commands[i].fn(1, hv);
    fprintf(stderr, "facerec: unknown command '%s' (see facerec --help)\n", argv[2]);
    return 2;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("facerec %s\n", FR_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
  fprintf(stderr, "facerec: unknown command '%s' (see facerec --help)\n", cmd);
  return 2;
}
