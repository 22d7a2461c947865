/*
 * bench/http: `facerec serve` under wrk (Debian) on loopback.
 *
 * For each gallery size (default 1,000 and 100,000 faces): writes a temporary
 * gallery of random L2-normalized embeddings under the engine's model id (one
 * SQLite transaction, 4 faces per subject, into the schema fr_gallery_open
 * creates), starts `facerec serve --listen 127.0.0.1:PORT --db ... --quiet` on
 * a free port, warms it up (2 s of wrk at the largest connection count, not
 * reported), then, after a 2 s pause before each row (the server drains what
 * the previous wrk left queued), runs wrk (1 thread, --latency, 10 s, 5 s timeout) POSTing a
 * 640x480 one-face JPEG as multipart field `file` to
 * /api/v1/recognition/recognize at 1, 8 and 64 connections, and prints
 * requests/s, p50, p99, non-2xx and socket errors, and the server's VmRSS (and
 * VmHWM) from /proc after each load. The JPEG is made here: the first LFW
 * image of ../shared/data/lfw-view1/images scaled to 360x360 and centred on a
 * grey 640x480 canvas (--image FILE to use another source image).
 *
 * usage: bench_http [--facerec PATH] [--sizes 1000,100000] [--conns 1,8,64]
 *                   [--duration S] [--threads N] [--min-face PX] [--image FILE] [--tmp DIR]
 *        bench_http [--image FILE] --write-jpeg OUT   (writes the request JPEG, exits)
 * The facerec binary: --facerec, else $FR_FACEREC, else <dir of this program>/../facerec.
 * wrk and the server share the machine's cores. Prints Markdown. Never asserts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "facerec/face.h"
#include "facerec/gallery.h"
#include "facerec/image.h"

static unsigned rng = 12345;
static float randf(void) {
  rng = rng * 1103515245u + 12345u;
  return (float)((rng >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void rm_db(const char *path) {
  char p[1100];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

/* n random unit embeddings under model_id, 4 faces per subject, one transaction. */
static int fill(const char *path, const char *model_id, int dim, int n) {
  rm_db(path);
  fr_gallery *g;
  fr_error err;
  if (fr_gallery_open(path, model_id, dim, &g, &err) != FR_OK) {
    fprintf(stderr, "bench_http: open %s: %s\n", path, err.msg);
    return -1;
  }
  fr_gallery_close(g); /* schema created */
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_stmt *s1 = NULL, *s2 = NULL;
  float *v = malloc(sizeof(float) * (size_t)dim);
  int rc = v ? 0 : -1;
  if (!rc && (sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
              sqlite3_prepare_v2(db, "INSERT INTO subjects(id, name, created) VALUES(?1, ?2, 0)", -1,
                                 &s1, NULL) != SQLITE_OK ||
              sqlite3_prepare_v2(db,
                                 "INSERT INTO faces(image_id, subject_id, model_id, dim, source, "
                                 "face_index, created, embedding) VALUES(?1, ?2, ?3, ?4, 'bench.jpg', "
                                 "0, 0, ?5)",
                                 -1, &s2, NULL) != SQLITE_OK))
    rc = -1;
  char name[32], id[40];
  for (int i = 0; i < n && !rc; i++) {
    if (i % 4 == 0) {
      snprintf(name, sizeof name, "subject%07d", i / 4);
      sqlite3_bind_int64(s1, 1, i / 4 + 1);
      sqlite3_bind_text(s1, 2, name, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(s1) != SQLITE_DONE) rc = -1;
      sqlite3_reset(s1);
    }
    double ss = 0;
    for (int k = 0; k < dim; k++) v[k] = randf(), ss += (double)v[k] * v[k];
    for (int k = 0; k < dim; k++) v[k] = (float)(v[k] / sqrt(ss));
    snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", (unsigned)i, (unsigned)i);
    sqlite3_bind_text(s2, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s2, 2, i / 4 + 1);
    sqlite3_bind_text(s2, 3, model_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s2, 4, dim);
    sqlite3_bind_blob(s2, 5, v, (int)(sizeof(float) * (size_t)dim), SQLITE_TRANSIENT); /* x86: LE */
    if (sqlite3_step(s2) != SQLITE_DONE) rc = -1;
    sqlite3_reset(s2);
  }
  sqlite3_finalize(s1);
  sqlite3_finalize(s2);
  if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = -1;
  if (rc) fprintf(stderr, "bench_http: fill %s: %s\n", path, sqlite3_errmsg(db));
  sqlite3_close(db);
  free(v);
  return rc;
}

/* The 640x480 one-face JPEG. */
static int make_jpeg(const char *src, const char *out) {
  fr_image in, face, canvas;
  fr_error err;
  if (fr_image_load(src, NULL, &in, &err)) {
    fprintf(stderr, "bench_http: %s\n", err.msg);
    return -1;
  }
  int rc = -1;
  if (fr_image_resize(&in, 0, 0, in.w, in.h, 360, 360, &face, &err) == FR_OK) {
    if (fr_image_alloc(&canvas, 640, 480, &err) == FR_OK) {
      for (int y = 0; y < 480; y++) memset(canvas.px + (size_t)y * (size_t)canvas.stride, 128, 640 * 3);
      for (int y = 0; y < 360; y++)
        memcpy(canvas.px + (size_t)(y + 60) * (size_t)canvas.stride + 140 * 3,
               face.px + (size_t)y * (size_t)face.stride, 360 * 3);
      rc = fr_image_save_jpeg(&canvas, out, 90, &err) == FR_OK ? 0 : -1;
      fr_image_free(&canvas);
    }
    fr_image_free(&face);
  }
  if (rc) fprintf(stderr, "bench_http: %s\n", err.msg);
  fr_image_free(&in);
  return rc;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* GET /healthz answers 200. */
static int healthy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ok = 0;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
    const char req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[64] = "";
    if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
      ssize_t n = read(fd, buf, sizeof buf - 1);
      ok = n > 12 && strncmp(buf + 9, "200", 3) == 0;
    }
  }
  close(fd);
  return ok;
}

static void proc_mem(pid_t pid, long *rss_kb, long *hwm_kb) {
  char p[64], line[256];
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  *rss_kb = *hwm_kb = -1;
  FILE *f = fopen(p, "r");
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) *rss_kb = atol(line + 6);
    if (strncmp(line, "VmHWM:", 6) == 0) *hwm_kb = atol(line + 6);
  }
  fclose(f);
}

static pid_t start_server(const char *facerec, const char *db, int port, int threads,
                          int min_face, const char *log) {
  char listen[64], th[16], mf[16];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  snprintf(th, sizeof th, "%d", threads);
  snprintf(mf, sizeof mf, "%d", min_face);
  const char *args[16] = {facerec, "serve", "--listen", listen, "--db", db, "--quiet"};
  int n = 7;
  if (threads > 0) args[n++] = "--threads", args[n++] = th;
  if (min_face > 0) args[n++] = "--min-face", args[n++] = mf;
  args[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    execv(facerec, (char *const *)args);
    _exit(127);
  }
  if (pid < 0) return -1;
  for (int i = 0; i < 600; i++) { /* up to 60 s (model load + gallery load) */
    if (healthy(port)) return pid;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "bench_http: facerec serve exited early (see %s)\n", log);
      return -1;
    }
    usleep(100000);
  }
  fprintf(stderr, "bench_http: facerec serve did not become healthy in 60 s\n");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static void stop_server(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) { /* 10 s, then SIGKILL */
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    usleep(100000);
  }
  fprintf(stderr, "bench_http: server %d ignored SIGTERM for 10 s; killing it\n", (int)pid);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static int write_lua(const char *path, const char *jpeg) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f,
          "local f = assert(io.open(\"%s\", \"rb\"))\n"
          "local img = f:read(\"*all\")\n"
          "f:close()\n"
          "local b = \"----facerecbench7d1f\"\n"
          "wrk.method = \"POST\"\n"
          "wrk.headers[\"Content-Type\"] = \"multipart/form-data; boundary=\" .. b\n"
          "wrk.body = \"--\" .. b .. \"\\r\\nContent-Disposition: form-data; name=\\\"file\\\"; "
          "filename=\\\"face.jpg\\\"\\r\\nContent-Type: image/jpeg\\r\\n\\r\\n\" .. img .. "
          "\"\\r\\n--\" .. b .. \"--\\r\\n\"\n"
          "done = function(summary, latency, requests)\n"
          "  io.write(string.format(\"FRBENCH requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d "
          "max_us=%%d non2xx=%%d connect=%%d read=%%d write=%%d timeout=%%d\\n\",\n"
          "    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),\n"
          "    latency.max, summary.errors.status, summary.errors.connect, summary.errors.read,\n"
          "    summary.errors.write, summary.errors.timeout))\n"
          "end\n",
          jpeg);
  return fclose(f) == 0 ? 0 : -1;
}

typedef struct wrk_result {
  long requests, duration_us, p50_us, p99_us, max_us, non2xx, sock_errors;
} wrk_result;

static int run_wrk(const char *lua, int port, int conns, int duration, wrk_result *r) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "timeout %d wrk -t1 -c%d -d%ds --timeout 5s -s '%s' "
           "http://127.0.0.1:%d/api/v1/recognition/recognize 2>&1",
           duration + 30, conns, duration, lua, port);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[1024];
  int ok = 0;
  while (fgets(line, sizeof line, p)) {
    long c, rd, wr, to;
    if (sscanf(line,
               "FRBENCH requests=%ld duration_us=%ld p50_us=%ld p99_us=%ld max_us=%ld non2xx=%ld "
               "connect=%ld read=%ld write=%ld timeout=%ld",
               &r->requests, &r->duration_us, &r->p50_us, &r->p99_us, &r->max_us, &r->non2xx, &c,
               &rd, &wr, &to) == 10) {
      r->sock_errors = c + rd + wr + to;
      ok = 1;
    }
  }
  int st = pclose(p);
  if (!ok) fprintf(stderr, "bench_http: wrk failed (status %d)\n", st);
  return ok ? 0 : -1;
}

static int parse_list(const char *s, int *out, int max) {
  int n = 0;
  while (*s && n < max) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v <= 0 || v > 10000000) return -1;
    out[n++] = (int)v;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return n;
}

int main(int argc, char **argv) {
  int sizes[8] = {1000, 100000}, nsizes = 2, conns[8] = {1, 8, 64}, nconns = 3;
  int duration = 10, threads = 0, min_face = 0;
  char facerec[4096] = "", image[4096], tmp[4096] = "";
  const char *shared = getenv("FR_SHARED_DIR");
  snprintf(image, sizeof image, "%s/data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg",
           shared && *shared ? shared : "../shared");
  if (getenv("FR_FACEREC")) snprintf(facerec, sizeof facerec, "%s", getenv("FR_FACEREC"));
  for (int i = 1; i < argc; i++) {
    int ok = i + 1 < argc;
    if (ok && strcmp(argv[i], "--facerec") == 0) snprintf(facerec, sizeof facerec, "%s", argv[++i]);
    else if (ok && strcmp(argv[i], "--sizes") == 0) ok = (nsizes = parse_list(argv[++i], sizes, 8)) > 0;
    else if (ok && strcmp(argv[i], "--conns") == 0) ok = (nconns = parse_list(argv[++i], conns, 8)) > 0;
    else if (ok && strcmp(argv[i], "--duration") == 0) ok = (duration = atoi(argv[++i])) > 0 && duration <= 600;
    else if (ok && strcmp(argv[i], "--threads") == 0) ok = (threads = atoi(argv[++i])) > 0;
    else if (ok && strcmp(argv[i], "--min-face") == 0) ok = (min_face = atoi(argv[++i])) >= 0;
    else if (ok && strcmp(argv[i], "--image") == 0) snprintf(image, sizeof image, "%s", argv[++i]);
    else if (ok && strcmp(argv[i], "--tmp") == 0) snprintf(tmp, sizeof tmp, "%s", argv[++i]);
    else if (ok && strcmp(argv[i], "--write-jpeg") == 0) /* the request image, then exit */
      return make_jpeg(image, argv[i + 1]) ? 1 : 0;
    else ok = 0;
    if (!ok) {
      fprintf(stderr, "usage: bench_http [--facerec PATH] [--sizes 1000,100000] [--conns 1,8,64] "
                      "[--duration S] [--threads N] [--min-face PX] [--image FILE] [--tmp DIR] "
                      "[--write-jpeg OUT]\n");
      return 2;
    }
  }
  if (!facerec[0]) {
    const char *slash = strrchr(argv[0], '/');
    if (slash) snprintf(facerec, sizeof facerec, "%.*s/../facerec", (int)(slash - argv[0]), argv[0]);
    else snprintf(facerec, sizeof facerec, "facerec");
  }
  if (access(facerec, X_OK) != 0) {
    fprintf(stderr, "bench_http: %s is not executable (--facerec PATH)\n", facerec);
    return 1;
  }
  if (system("wrk --version >/dev/null 2>&1; command -v wrk >/dev/null") != 0) {
    fprintf(stderr, "bench_http: wrk not found (apt-get install wrk)\n");
    return 1;
  }
  if (!tmp[0]) {
    snprintf(tmp, sizeof tmp, "/tmp/bench_http.XXXXXX");
    if (!mkdtemp(tmp)) {
      fprintf(stderr, "bench_http: mkdtemp: %s\n", strerror(errno));
      return 1;
    }
  }
  /* the engine only to learn the recognizer id and dimension the server will use */
  fr_engine_config cfg = fr_engine_default_config();
  fr_engine *e;
  fr_error err;
  if (fr_engine_create(&cfg, &e, &err)) {
    fprintf(stderr, "bench_http: %s\n", err.msg);
    return 1;
  }
  char model_id[256];
  snprintf(model_id, sizeof model_id, "%s", fr_engine_model_id(e));
  int dim = fr_engine_embed_dim(e);
  fr_engine_free(e);

  char jpeg[4200], lua[4200], db[4200], log[4200];
  snprintf(jpeg, sizeof jpeg, "%s/face640x480.jpg", tmp);
  snprintf(lua, sizeof lua, "%s/recognize.lua", tmp);
  snprintf(db, sizeof db, "%s/gallery.db", tmp);
  snprintf(log, sizeof log, "%s/serve.log", tmp);
  if (make_jpeg(image, jpeg) || write_lua(lua, jpeg)) return 1;

  char thr[32] = "default (online cores)";
  if (threads > 0) snprintf(thr, sizeof thr, "%d", threads);
  char mfs[16];
  snprintf(mfs, sizeof mfs, "%d", min_face);
  printf("POST /api/v1/recognition/recognize, multipart `file` = 640x480 one-face JPEG (%s scaled onto a "
         "grey canvas); wrk -t1, %d s per row, loopback; server: facerec serve --threads %s%s%s; RSS "
         "after the load\n\n",
         image, duration, thr, min_face > 0 ? " --min-face " : "", min_face > 0 ? mfs : "");
  printf("| gallery faces | connections | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | "
         "server VmRSS MB | server VmHWM MB |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  fflush(stdout);
  int status = 0;
  for (int s = 0; s < nsizes; s++) {
    if (fill(db, model_id, dim, sizes[s])) return 1;
    int port = free_port();
    pid_t pid = port > 0 ? start_server(facerec, db, port, threads, min_face, log) : -1;
    if (pid < 0) {
      status = 1;
      continue;
    }
    long rss0, hwm0;
    proc_mem(pid, &rss0, &hwm0);
    fprintf(stderr, "bench_http: %d faces: server up on port %d, VmRSS %.1f MB before load\n", sizes[s],
            port, rss0 / 1024.0);
    wrk_result warm = {0}; /* 2 s untimed at the largest connection count: per-thread sessions made */
    int maxc = 1;
    for (int c = 0; c < nconns; c++) maxc = conns[c] > maxc ? conns[c] : maxc;
    run_wrk(lua, port, maxc, 2, &warm);
    for (int c = 0; c < nconns; c++) {
      wrk_result r = {0};
      /* wrk leaves requests behind in the server's queue when it stops (their
       * clients gone): let them drain so they do not count in the next row */
      sleep(2);
      if (run_wrk(lua, port, conns[c], duration, &r)) {
        status = 1;
        continue;
      }
      long rss, hwm;
      proc_mem(pid, &rss, &hwm);
      printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %ld | %ld | %.1f | %.1f |\n", sizes[s], conns[c],
             r.duration_us > 0 ? r.requests * 1e6 / (double)r.duration_us : 0.0, r.p50_us / 1000.0,
             r.p99_us / 1000.0, r.max_us / 1000.0, r.non2xx, r.sock_errors, rss / 1024.0, hwm / 1024.0);
      fflush(stdout);
    }
    stop_server(pid);
  }
  rm_db(db);
  unlink(jpeg);
  unlink(lua);
  unlink(log);
  rmdir(tmp);
  return status;
}
