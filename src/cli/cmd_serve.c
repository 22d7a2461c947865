/*
 * `facerec serve` and `facerec keys`: the command-line entries of the HTTP
 * service (declared in src/cli/cli.h, dispatched from src/cli/main.c).
 *
 * serve: loads the models once, opens the gallery, makes one fr_worker per
 * worker thread, starts the server (src/http/server.c) and waits for SIGTERM/SIGINT:
 * then it stops accepting, lets in-flight requests finish (a second signal
 * stops waiting), closes the gallery and exits 0. The signals are blocked in
 * every thread and taken synchronously here (sigtimedwait), which also gives
 * the once-a-second tick that reloads API keys and gallery counts.
 *
 * --camera NAME=URL (repeatable) starts a monitor thread per camera after the
 * server (src/http/camera.c); at shutdown the monitors are stopped and joined
 * first, video requests still running when the drain ends are cancelled, and
 * only then the workers, the gallery and the models go.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "http/camera.h"
#include "http/server.h"

#define DEFAULT_DB "facerec.db"
#define DEFAULT_PORT 8080
#define DRAIN_S 30.0
/* `keys` opens the gallery only for its api_keys table: no model's faces are loaded. */
#define KEYS_MODEL_ID "facerec-keys"

static const char *serve_usage =
    "usage: facerec serve [--listen ADDR:PORT] [--db PATH] [--threads N] [--queue N]\n"
    "                     [--max-body BYTES] [--timeout SECONDS] [--api-key-file FILE]\n"
    "                     [--insecure] [--models DIR] [--quiet] [--min-face PX]\n"
    "                     [--camera NAME=URL]... [--camera-every N] [--max-video-body BYTES]\n"
    "                     [--max-video-frames N] [--max-video-seconds S] [--video-threads N]\n"
    "\n"
    "Serves the recognition API (/recognition, /api/v1/...) on the gallery.\n"
    "  --listen ADDR:PORT  address to listen on (default 127.0.0.1:8080; [::1]:8080 for IPv6;\n"
    "                      port 0 picks a free port, printed at start)\n"
    "  --db PATH           gallery file (default facerec.db)\n"
    "  --threads N         worker threads running requests (default: online cores)\n"
    "  --queue N           requests that may wait for a worker; beyond, 503 + Retry-After\n"
    "                      (default max(64, 8 x threads))\n"
    "  --max-body BYTES    cap on every request body (default: each route's own cap);\n"
    "                      a K or M suffix multiplies by 1024 or 1048576\n"
    "  --timeout SECONDS   idle connection timeout for slow clients (default 30)\n"
    "  --api-key-file F    more API keys, one \"ROLE KEY\" per line (ROLE admin|recognize)\n"
    "  --insecure          allow a non-loopback address without any API key\n"
    "  --models DIR        models directory (default $FR_MODELS_DIR, else ./models)\n"
    "  --quiet             no access log (nor camera event lines) on stderr\n"
    "  --min-face PX       report no face smaller than PX pixels, and skip the detector\n"
    "                      levels only such faces need: faster (a 640x480 photo ~2x),\n"
    "                      at some recall of faces near PX (default 0: every face)\n"
    "  --camera NAME=URL   monitor a camera (a file, /dev/videoN, rtsp://, http(s)://): its\n"
    "                      track events go to the log and to GET /api/v1/events; an\n"
    "                      unreachable or broken source is retried with back-off (repeatable)\n"
    "  --camera-every N    camera monitors run detection every N-th frame (default 1)\n"
    "  --max-video-body B  cap on a POST /api/v1/video/recognize upload (default 100M,\n"
    "                      at most 400M; K/M suffix ok)\n"
    "  --max-video-frames N  frames one video request may decode (default 9000)\n"
    "  --max-video-seconds S  a video request stops after S seconds, answering what it did\n"
    "                      (default 300)\n"
    "  --video-threads N   pipeline workers of one video request (default 1)\n"
    "\n"
    "API keys live in the gallery (facerec keys create --role admin|recognize). Once any key\n"
    "exists, /recognition and /api/v1 need a valid x-api-key header; /healthz and /metrics\n"
    "stay open. Without keys the server is open and listens on loopback only.\n"
    "SIGTERM or SIGINT: stop accepting, finish in-flight requests, close the gallery, exit 0.\n";

static const char *keys_usage =
    "usage: facerec keys create --role admin|recognize [--db PATH]\n"
    "       facerec keys list [--db PATH]\n"
    "       facerec keys revoke ID [--db PATH]\n"
    "\n"
    "API keys of `facerec serve`, kept in the gallery as SHA-256 hashes only.\n"
    "create prints a new random key once (the last word printed): store it now.\n"
    "admin keys manage subjects and faces and may also recognize; recognize keys\n"
    "may recognize, verify and detect. A running server picks changes up within a second.\n";

static bool is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }


static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_bytes(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (!*s || *s == '-' || errno || end == s) return -1;
  unsigned long long mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1024, end++;
  else if (*end == 'M' || *end == 'm') mul = 1024 * 1024, end++;
  if (*end || v == 0 || v > (1ull << 32) / mul) return -1; /* 1 byte .. 4 GiB */
  *out = (size_t)(v * mul);
  return 0;
}

/* ADDR:PORT, [V6]:PORT, or just ADDR (port 8080). */
static int parse_listen(const char *s, char *addr, size_t n, int *port) {
  const char *colon;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || (size_t)(close - s - 1) >= n) return -1;
    memcpy(addr, s + 1, (size_t)(close - s - 1));
    addr[close - s - 1] = 0;
    colon = close[1] == ':' ? close + 1 : NULL;
    if (!colon && close[1]) return -1;
  } else {
    colon = strrchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    if (len == 0 || len >= n) return -1;
    memcpy(addr, s, len);
    addr[len] = 0;
  }
  *port = DEFAULT_PORT;
  if (colon) {
    long p;
    if (parse_long(colon + 1, 0, 65535, &p)) return -1;
    *port = (int)p;
  }
  return 0;
}

static bool is_loopback(const char *addr) {
  return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
         strcmp(addr, "localhost") == 0;
}

static const char *default_models_dir(void) {
  const char *e = getenv("FR_MODELS_DIR");
  return e && *e ? e : "models";
}

/* One embedding and one 640x480 detection per worker before the first
 * request, so early requests do not pay for first-run setup (measured: first
 * recognition 0.5 s instead of 1.1 s with the embedder warmed; detector plans
 * cost ~0.15-0.3 s per canvas shape). Other image sizes still plan on first
 * use. A failure here only costs that time later. */
static void warm_up(const fr_engine *e, fr_worker **w, int n) {
  fr_image face = {0}, vga = {0};
  float *emb = malloc((size_t)fr_engine_embed_dim(e) * sizeof *emb);
  if (emb && fr_image_alloc(&face, 112, 112, NULL) == FR_OK) {
    memset(face.px, 128, (size_t)face.stride * (size_t)face.h);
    for (int i = 0; i < n; i++) fr_embed_aligned(w[i], &face, emb, NULL);
  }
  /* the detector sessions of the most common camera size (640x480) */
  if (fr_image_alloc(&vga, 640, 480, NULL) == FR_OK) {
    memset(vga.px, 128, (size_t)vga.stride * (size_t)vga.h);
    fr_face faces[4];
    int nf;
    for (int i = 0; i < n; i++) fr_detect(w[i], &vga, 0.6f, faces, 4, &nf, NULL);
  }
  free(emb);
  fr_image_free(&face);
  fr_image_free(&vga);
}

int fr_cli_serve(int argc, char **argv) {
  const char *listen = "127.0.0.1:8080", *db = DEFAULT_DB, *key_file = NULL;
  const char *models = default_models_dir();
  long threads = 0, queue = 0, timeout = 30;
  size_t max_body = 0, max_video_body = 0;
  long camera_every = 1, video_frames = 0, video_threads = 0, video_seconds = 0, min_face = 0;
  fr__camera_spec cams[FR__CAMERAS_MAX];
  int n_cams = 0;
  bool insecure = false, quiet = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    int m;
    if (is_help(a)) {
      fputs(serve_usage, stdout);
      return 0;
    }
    if (strcmp(a, "--insecure") == 0) {
      insecure = true;
      continue;
    }
    if (strcmp(a, "--quiet") == 0) {
      quiet = true;
      continue;
    }
    if ((m = fr__cli_opt_match(argc, argv, &i, "--listen", &v)) == 1) listen = v;
    else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--db", &v)) == 1) db = v;
    else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--models", &v)) == 1) models = v;
    else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--api-key-file", &v)) == 1) key_file = v;
    else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--threads", &v)) == 1) {
      if (parse_long(v, 1, 256, &threads)) {
        fprintf(stderr, "facerec serve: --threads takes a number from 1 to 256\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--queue", &v)) == 1) {
      if (parse_long(v, 1, 100000, &queue)) {
        fprintf(stderr, "facerec serve: --queue takes a number from 1 to 100000\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--timeout", &v)) == 1) {
      if (parse_long(v, 1, 3600, &timeout)) {
        fprintf(stderr, "facerec serve: --timeout takes seconds from 1 to 3600\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--camera", &v)) == 1) {
      char why[160];
      if (n_cams >= FR__CAMERAS_MAX) {
        fprintf(stderr, "facerec serve: at most %d cameras\n", FR__CAMERAS_MAX);
        return 2;
      }
      if (!fr__camera_spec_parse(v, &cams[n_cams], why, sizeof why)) {
        fprintf(stderr, "facerec serve: --camera: %s (NAME=URL)\n", why);
        return 2;
      }
      size_t nl = strcspn(v, "=");
      for (int k = 0; k < n_cams; k++)
        if (strcspn(cams[k].name, "=") == nl && strncmp(cams[k].name, v, nl) == 0) {
          fprintf(stderr, "facerec serve: --camera: the name '%.*s' is given twice\n", (int)nl, v);
          return 2;
        }
      n_cams++;
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--camera-every", &v)) == 1) {
      if (parse_long(v, 1, 1000, &camera_every)) {
        fprintf(stderr, "facerec serve: --camera-every takes a number from 1 to 1000\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--max-video-frames", &v)) == 1) {
      if (parse_long(v, 1, 100000000, &video_frames)) {
        fprintf(stderr, "facerec serve: --max-video-frames takes a number from 1 to 100000000\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--max-video-seconds", &v)) == 1) {
      if (parse_long(v, 1, 86400, &video_seconds)) {
        fprintf(stderr, "facerec serve: --max-video-seconds takes seconds from 1 to 86400\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--video-threads", &v)) == 1) {
      if (parse_long(v, 1, 64, &video_threads)) {
        fprintf(stderr, "facerec serve: --video-threads takes a number from 1 to 64\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--max-video-body", &v)) == 1) {
      /* the server holds request bodies in memory, 512 MiB for all of them */
      if (parse_bytes(v, &max_video_body) || max_video_body > ((size_t)400 << 20)) {
        fprintf(stderr,
                "facerec serve: --max-video-body takes bytes from 1 to 400M (K/M suffix ok)\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--min-face", &v)) == 1) {
      if (parse_long(v, 0, 4096, &min_face)) {
        fprintf(stderr, "facerec serve: --min-face takes pixels from 0 to 4096\n");
        return 2;
      }
    } else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--max-body", &v)) == 1) {
      if (parse_bytes(v, &max_body)) {
        fprintf(stderr, "facerec serve: --max-body takes bytes from 1 to 4G (K/M suffix ok)\n");
        return 2;
      }
    }
    if (m == -1) {
      fprintf(stderr, "facerec serve: %s needs a value (see facerec serve --help)\n", a);
      return 2;
    }
    if (m == 0) {
      fprintf(stderr, "facerec serve: unknown argument '%s' (see facerec serve --help)\n", a);
      return 2;
    }
  }
  char addr[64];
  int port;
  if (parse_listen(listen, addr, sizeof addr, &port)) {
    fprintf(stderr, "facerec serve: --listen takes ADDR:PORT (like 127.0.0.1:8080 or [::1]:8080)\n");
    return 2;
  }
  if (strcmp(addr, "localhost") == 0) snprintf(addr, sizeof addr, "127.0.0.1");
  if (threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n < 1 ? 1 : n > 16 ? 16 : n;
  }

  /* Signals: blocked before any thread exists (the models may start some), so
   * every thread inherits the mask and only sigtimedwait below takes them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  int rc = 1;
  fr_error err = {{0}};
  fr__auth *auth = NULL;
  fr_engine *engine = NULL;
  fr_gallery *gallery = NULL;
  fr_worker **workers = NULL;
  fr_http_server *srv = NULL;
  fr__cameras *monitors = NULL;
  int n_workers = 0;

  if (fr__auth_create(&auth, &err) != FR_OK) {
    fprintf(stderr, "facerec serve: %s\n", err.msg);
    goto out;
  }
  if (key_file && fr__auth_load_file(auth, key_file, &err) != FR_OK) {
    fprintf(stderr, "facerec serve: %s\n", err.msg);
    goto out;
  }
  struct stat st;
  if (stat(models, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr,
            "facerec serve: no models directory '%s' (run scripts/fetch-models, or pass --models "
            "DIR or set FR_MODELS_DIR)\n",
            models);
    goto out;
  }
  fr_engine_config ecfg = fr_engine_default_config();
  ecfg.models_dir = models;
  ecfg.min_face = (float)min_face;
  if (fr_engine_create(&ecfg, &engine, &err) != FR_OK) {
    fprintf(stderr, "facerec serve: cannot load the models from '%s': %s\n", models, err.msg);
    engine = NULL;
    goto out;
  }
  if (fr_gallery_open(db, fr_engine_model_id(engine), fr_engine_embed_dim(engine), &gallery,
                      &err) != FR_OK) {
    fprintf(stderr, "facerec serve: cannot open the gallery '%s': %s\n", db, err.msg);
    gallery = NULL;
    goto out;
  }
  if (fr__auth_reload(auth, gallery, &err) != FR_OK) {
    fprintf(stderr, "facerec serve: cannot read the API keys: %s\n", err.msg);
    goto out;
  }
  int n_keys = fr__auth_count(auth);
  if (n_keys == 0 && !is_loopback(addr) && !insecure) {
    fprintf(stderr,
            "facerec serve: refusing to listen on %s without API keys: create one with "
            "`facerec keys create --role admin --db %s`, or pass --insecure\n",
            addr, db);
    rc = 2;
    goto out;
  }
  workers = calloc((size_t)threads, sizeof *workers);
  if (!workers) {
    fprintf(stderr, "facerec serve: out of memory\n");
    goto out;
  }
  for (; n_workers < threads; n_workers++)
    if (fr_worker_create(engine, NULL, &workers[n_workers], &err) != FR_OK) {
      fprintf(stderr, "facerec serve: cannot create worker %d: %s\n", n_workers, err.msg);
      goto out;
    }

  warm_up(engine, workers, n_workers);

  fr_http_ctx ctx = {0};
  ctx.engine = engine;
  ctx.gallery = gallery;
  ctx.workers = workers;
  ctx.n_workers = n_workers;
  ctx.threshold = fr_engine_default_threshold(engine);
  ctx.limits = fr_image_default_limits();
  ctx.started_unix = (double)time(NULL);

  fr_http_server_config cfg = fr_http_server_default_config();
  cfg.address = addr;
  cfg.port = port;
  cfg.queue = queue > 0 ? (int)queue : fr_http_default_queue(n_workers);
  cfg.max_body = max_body;
  cfg.timeout_s = (int)timeout;
  cfg.quiet = quiet;
  cfg.require_keys = !is_loopback(addr) && !insecure;
  cfg.max_video_body = max_video_body;
  fr__video_limits vl = {video_frames, (int)video_threads, (double)video_seconds};
  fr__video_limits_set(&vl);
  if (fr_http_server_start(&ctx, &cfg, auth, &srv, &err) != FR_OK) {
    fprintf(stderr, "facerec serve: %s\n", err.msg);
    srv = NULL;
    goto out;
  }
  fr_http_server_tick(srv);
  fr_gallery_stats gs = {0};
  fr_gallery_stats_get(gallery, &gs, NULL);
  bool v6 = strchr(addr, ':') != NULL;
  char base[96];
  snprintf(base, sizeof base, "http://%s%s%s:%d", v6 ? "[" : "", addr, v6 ? "]" : "",
           fr_http_server_port(srv));
  printf("facerec serve: listening on %s (%d worker%s, queue %d, gallery %s: %lld subjects, "
         "%lld faces)\n",
         base, n_workers, n_workers == 1 ? "" : "s", cfg.queue, db,
         (long long)gs.subjects, (long long)gs.faces);
  if (n_keys == 0)
    printf("facerec serve: no API keys configured: open access%s (create one with `facerec keys "
           "create --role admin --db %s`)\n",
           is_loopback(addr) ? ", loopback only" : " (--insecure)", db);
  else
    printf("facerec serve: %d API key%s configured: send one in the x-api-key header\n", n_keys,
           n_keys == 1 ? "" : "s");
  printf("try: curl -F file=@photo.jpg %s%s/recognition\n",
         n_keys ? "-H 'x-api-key: YOUR_KEY' " : "", base);
  if (n_cams > 0) {
    fr__camera_options co = fr__camera_default_options();
    co.every = (int)camera_every;
    co.threshold = ctx.threshold;
    co.quiet = quiet;
    if (fr__cameras_start(engine, gallery, cams, n_cams, &co, &monitors, &err) != FR_OK) {
      fprintf(stderr, "facerec serve: cannot start the camera monitors: %s\n", err.msg);
      monitors = NULL;
      goto out;
    }
    printf("facerec serve: %d camera monitor%s: events at %s/api/v1/events\n", n_cams,
           n_cams == 1 ? "" : "s", base);
  }
  fflush(stdout);

  int sig = 0;
  for (;;) {
    struct timespec tick = {1, 0};
    sig = sigtimedwait(&sigs, NULL, &tick);
    if (sig == SIGTERM || sig == SIGINT) break;
    fr_http_server_tick(srv);
  }
  fprintf(stderr, "facerec serve: %s: stopping (finishing %d request%s in flight)\n",
          sig == SIGTERM ? "SIGTERM" : "SIGINT", fr_http_server_active(srv),
          fr_http_server_active(srv) == 1 ? "" : "s");
  fr_http_server_quiesce(srv);
  fr__cameras_stop(monitors); /* the monitors end at their next frame; joined here */
  monitors = NULL;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double drain = DRAIN_S;
  while (fr_http_server_active(srv) > 0) {
    struct timespec nap = {0, 20 * 1000 * 1000};
    if (sigtimedwait(&sigs, NULL, &nap) > 0) {
      fprintf(stderr, "facerec serve: second signal: not waiting for requests in flight\n");
      drain = 0;
      break;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 > drain) break;
  }
  fr__video_cancel(); /* video requests still running end at their next frame */
  fr_http_server_stop(srv, drain > 0 ? 1.0 : 0.0);
  srv = NULL;
  rc = 0;
out:
  fr__cameras_stop(monitors);
  fr__video_cancel();
  if (srv) fr_http_server_stop(srv, 0);
  for (int i = 0; i < n_workers; i++) fr_worker_free(workers[i]);
  free(workers);
  fr_gallery_close(gallery); /* checkpoints the WAL */
  fr_engine_free(engine);
  fr__auth_free(auth);
  if (rc == 0) fprintf(stderr, "facerec serve: stopped\n");
  return rc;
}

/* ---- facerec keys ---- */

static int keys_open(const char *db, bool create, fr_gallery **g) {
  struct stat st;
  if (!create && stat(db, &st) != 0) {
    fprintf(stderr, "facerec keys: no gallery at '%s': %s\n", db, strerror(errno));
    return 1;
  }
  fr_error err = {{0}};
  if (fr_gallery_open(db, KEYS_MODEL_ID, 1, g, &err) != FR_OK) {
    fprintf(stderr, "facerec keys: cannot open the gallery '%s': %s\n", db, err.msg);
    *g = NULL;
    return 1;
  }
  return 0;
}

static int print_key(void *ctx, const fr_gallery_key *k) {
  (void)ctx;
  char when[32] = "?";
  time_t t = (time_t)k->created_unix;
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("%-6lld %-10s %s  sha256:", (long long)k->id, k->role, when);
  for (int i = 0; i < 4; i++) printf("%02x", k->hash[i]);
  printf("...\n");
  return 0;
}

int fr_cli_keys(int argc, char **argv) {
  if (argc < 1) {
    fputs(keys_usage, stderr);
    return 2;
  }
  if (is_help(argv[0])) {
    fputs(keys_usage, stdout);
    return 0;
  }
  const char *sub = argv[0], *db = DEFAULT_DB, *role = NULL, *id_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m;
    if (is_help(argv[i])) {
      fputs(keys_usage, stdout);
      return 0;
    }
    if ((m = fr__cli_opt_match(argc, argv, &i, "--db", &v)) == 1) db = v;
    else if (m == 0 && (m = fr__cli_opt_match(argc, argv, &i, "--role", &v)) == 1) role = v;
    else if (m == 0 && argv[i][0] != '-' && !id_arg) {
      id_arg = argv[i];
      m = 1;
    }
    if (m != 1) {
      fprintf(stderr, "facerec keys: %s '%s' (see facerec keys --help)\n",
              m == -1 ? "missing value for" : "unexpected argument", argv[i]);
      return 2;
    }
  }
  fr_gallery *g = NULL;
  fr_error err = {{0}};
  int rc = 1;
  if (strcmp(sub, "create") == 0) {
    if (!role || (strcmp(role, "admin") != 0 && strcmp(role, "recognize") != 0) || id_arg) {
      fprintf(stderr, "facerec keys create: needs --role admin or --role recognize\n");
      return 2;
    }
    char key[65];
    uint8_t hash[32];
    int64_t id = 0;
    if (fr__auth_new_key(key, hash, &err) != FR_OK) {
      fprintf(stderr, "facerec keys: %s\n", err.msg);
      return 1;
    }
    if (keys_open(db, true, &g)) return 1;
    if (fr_gallery_key_add(g, hash, role, &id, &err) != FR_OK) {
      fprintf(stderr, "facerec keys: %s\n", err.msg);
    } else {
      printf("created %s key %lld in %s (shown only now; send it as the x-api-key header):\n%s\n",
             role, (long long)id, db, key);
      rc = 0;
    }
    memset(key, 0, sizeof key);
  } else if (strcmp(sub, "list") == 0) {
    if (id_arg || role) {
      fprintf(stderr, "facerec keys list: takes only --db\n");
      return 2;
    }
    if (keys_open(db, false, &g)) return 1;
    printf("%-6s %-10s %-20s  %s\n", "ID", "ROLE", "CREATED", "HASH");
    if (fr_gallery_keys(g, print_key, NULL, &err) != FR_OK)
      fprintf(stderr, "facerec keys: %s\n", err.msg);
    else
      rc = 0;
  } else if (strcmp(sub, "revoke") == 0) {
    long id;
    if (!id_arg || role || parse_long(id_arg, 1, 0x7fffffffL, &id)) {
      fprintf(stderr, "facerec keys revoke: needs the key's ID (see facerec keys list)\n");
      return 2;
    }
    if (keys_open(db, false, &g)) return 1;
    if (fr_gallery_key_delete(g, id, &err) != FR_OK)
      fprintf(stderr, "facerec keys: %s\n", err.msg);
    else {
      printf("revoked key %ld\n", id);
      rc = 0;
    }
  } else {
    fprintf(stderr, "facerec keys: unknown subcommand '%s' (create, list, revoke)\n", sub);
    return 2;
  }
  fr_gallery_close(g);
  return rc;
}
