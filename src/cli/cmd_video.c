/*
 * facerec video INPUT : recognize the faces of a video file, a camera or a
 * stream frame by frame (fr_video_run), printing track events as they happen
 * and a summary at the end. Ctrl-C ends the run cleanly (summary included).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "facerec/video.h"
#include "http/camera.h"

static const char usage[] =
    "usage: facerec video INPUT [--db PATH] [--every N] [--threshold T] [--crops DIR]\n"
    "                     [--out FILE.mp4] [--json] [--max-frames N] [--realtime]\n"
    "                     [--threads N] [--models DIR] [--min-score S] [--det-side PX]\n"
    "                     [--reconnect N]\n"
    "\n"
    "Finds the faces of every frame of INPUT (a video file, /dev/videoN, or an\n"
    "rtsp:// http:// https:// udp:// stream), follows each face across frames as a\n"
    "track, and names each track after the enrolled subject it resembles over\n"
    "several of its frames (open set: below the threshold it stays unknown; a\n"
    "track can go from unknown to a name as better views arrive).\n"
    "\n"
    "  --db PATH        gallery file (default facerec.db; must exist)\n"
    "  --every N        run detection on every N-th frame only (default 1); tracks\n"
    "                   keep their last box in between\n"
    "  --threshold T    similarity needed to name a track, 0.01 to 1 (default: the\n"
    "                   recognizer's)\n"
    "  --crops DIR      save the best aligned face of each track to\n"
    "                   DIR/<subject|unknown>/<track>_<frame>.jpg\n"
    "  --out FILE       write the video with boxes and names drawn (H.264 when\n"
    "                   available, else MJPEG; container from the extension)\n"
    "  --json           JSON Lines on stdout, one object per event:\n"
    "                   {\"event\":\"track_start\",\"track\":K,\"frame\":F,\"time\":S,\n"
    "                    \"box\":{\"x\",\"y\",\"w\",\"h\"},\"score\":D}\n"
    "                   {\"event\":\"identified\",\"track\":K,\"frame\":F,\"time\":S,\n"
    "                    \"subject\":NAME,\"similarity\":C,\"box\":{...}}\n"
    "                   {\"event\":\"track_end\",\"track\":K,\"frame\":F,\"time\":S,\n"
    "                    \"subject\":NAME|\"unknown\",\"first_frame\":A,\"last_frame\":B,\n"
    "                    \"best_similarity\":C|null,\"frames\":N,\"crop\":PATH|null}\n"
    "                   and last {\"event\":\"summary\",\"frames\":N,\"fps\":R,\"tracks\":K,\n"
    "                    \"subjects\":[{\"subject\":NAME,\"first_frame\":A,\"last_frame\":B,\n"
    "                    \"ranges\":[[A,B],...],\"tracks\":K,\"best_similarity\":C}],...}\n"
    "                   Frames are numbered from 0; time is in seconds.\n"
    "  --max-frames N   stop after N frames\n"
    "  --realtime       live sources: drop frames (never queue them) when the\n"
    "                   pipeline falls behind; a file is read at its own frame\n"
    "                   rate, as a camera would deliver it\n"
    "  --threads N      detection workers (default: cores, at most 4)\n"
    "  --min-score S    detection score threshold, 0.01 to 1 (default: the detector's)\n"
    "  --det-side PX    longest side the detector sees a frame at, 64 to 8192\n"
    "                   (default: half the frame's longer side, 320 to 640, one\n"
    "                   pyramid level; -1: the full image pyramid of `facerec detect`)\n"
    "  --reconnect N    live sources: reconnection attempts after a break or a failed\n"
    "                   first open (back-off 0.5 s to 8 s; default 8; -1: forever;\n"
    "                   0: fail at once)\n"
    "  --models DIR     model directory (default $FR_MODELS_DIR, else ./models)\n"
    "\n"
    "A progress line (frames, fps, tracks) goes to stderr when it is a terminal.\n"
    "Ctrl-C stops the run: open tracks end and the summary is printed.\n"
    "\n"
    "Exit status: 0; 1 when the input cannot be read (missing, empty, not a video,\n"
    "corrupt, truncated, unreachable) or an output cannot be written; 2 on usage\n"
    "errors.\n";

static volatile int g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills */
  signal(SIGTERM, SIG_DFL);
}

typedef struct video_ctx {
  fr__cli c;
  bool progress_on, progress_shown;
} video_ctx;

static void progress_clear(video_ctx *x) {
  if (x->progress_shown) {
    fputs("\r\033[K", stderr);
    x->progress_shown = false;
  }
}

static void on_progress(void *p, int64_t frames, double fps, int64_t tracks) {
  video_ctx *x = p;
  if (!x->progress_on) return;
  fprintf(stderr, "\r\033[Kframes %lld  %.1f fps  tracks %lld", (long long)frames, fps,
          (long long)tracks);
  fflush(stderr);
  x->progress_shown = true;
}

static int on_event(void *p, const fr_video_event *ev) {
  video_ctx *x = p;
  progress_clear(x);
  if (x->c.json) {
    json_t *o = fr__video_event_json(ev, 0); /* the API's event objects too */
    fr__cli_print_json(o);
    return 0;
  }
  const fr_face *f = &ev->face;
  switch (ev->type) {
  case FR_VIDEO_TRACK_START:
    printf("frame %-6lld %8.3fs  track %lld starts  box %.0f,%.0f %.0fx%.0f\n", (long long)ev->frame,
           ev->time_s, (long long)ev->track, (double)f->x, (double)f->y, (double)f->w, (double)f->h);
    break;
  case FR_VIDEO_IDENTIFIED:
    printf("frame %-6lld %8.3fs  track %lld is %s (similarity %.3f)\n", (long long)ev->frame,
           ev->time_s, (long long)ev->track, ev->subject, (double)ev->similarity);
    break;
  case FR_VIDEO_TRACK_END: {
    char best[32] = "-";
    if (!isnan(ev->best_similarity)) snprintf(best, sizeof best, "%.3f", (double)ev->best_similarity);
    printf("frame %-6lld %8.3fs  track %lld ends: %s, frames %lld-%lld (%lld), best %s%s%s\n",
           (long long)ev->frame, ev->time_s, (long long)ev->track,
           ev->subject ? ev->subject : "unknown", (long long)ev->first_frame,
           (long long)ev->last_frame, (long long)ev->frames, best, ev->crop_path ? ", crop " : "",
           ev->crop_path ? ev->crop_path : "");
    break;
  }
  }
  fflush(stdout);
  return 0;
}

static void print_summary(video_ctx *x, const fr_video_summary *s, bool interrupted) {
  progress_clear(x);
  if (x->c.json) {
    json_t *o = json_pack("{s:s}", "event", "summary");
    json_t *body = fr__video_summary_json(s); /* the API's summary object */
    if (o && body) json_object_update(o, body);
    json_decref(body);
    json_object_set_new(o, "reconnects", json_integer(s->reconnects));
    if (s->out_codec[0]) json_object_set_new(o, "out_codec", json_string(s->out_codec));
    if (interrupted) json_object_set_new(o, "interrupted", json_true());
    fr__cli_print_json(o);
    return;
  }
  printf("%lld frames (%dx%d) in %.2f s, %.1f fps, %lld track%s%s", (long long)s->frames,
         s->info.width, s->info.height, s->seconds, s->fps, (long long)s->tracks,
         s->tracks == 1 ? "" : "s", interrupted ? " (interrupted)" : "");
  if (s->frames_dropped) printf(", %lld dropped", (long long)s->frames_dropped);
  if (s->reconnects)
    printf(", %lld reconnection%s", (long long)s->reconnects, s->reconnects == 1 ? "" : "s");
  printf("\n");
  for (int i = 0; i < s->n_subjects; i++) {
    const fr_video_subject_seen *ss = &s->subjects[i];
    printf("  %-24s frames ", ss->subject);
    for (int k = 0; k < ss->n_ranges; k++)
      printf("%s%lld-%lld", k ? ", " : "", (long long)ss->ranges[k][0], (long long)ss->ranges[k][1]);
    printf("  (%lld track%s, best %.3f)\n", (long long)ss->tracks, ss->tracks == 1 ? "" : "s",
           (double)ss->best_similarity);
  }
  if (s->n_subjects == 0) printf("  no enrolled subject seen\n");
  fflush(stdout);
}

int fr_cli_video(int argc, char **argv) {
  video_ctx x;
  memset(&x, 0, sizeof x);
  fr__cli_init(&x.c, "facerec video", usage,
               FR__CLI_JSON | FR__CLI_DB | FR__CLI_MODELS | FR__CLI_THREADS);
  int every = 1, max_frames = 0, det_side = 0, reconnect = 8;
  float threshold = -1, min_score = -1;
  const char *crops = NULL, *out = NULL;
  bool realtime = false;
  const fr__cli_optdef defs[] = {
      {"--every", FR__OPT_INT, &every, 1, 1000},
      {"--threshold", FR__OPT_FLOAT, &threshold, 0.01, 1.0},
      {"--min-score", FR__OPT_FLOAT, &min_score, 0.01, 1.0},
      {"--crops", FR__OPT_STRING, &crops, 0, 0},
      {"--out", FR__OPT_STRING, &out, 0, 0},
      {"--max-frames", FR__OPT_INT, &max_frames, 1, 2000000000},
      {"--realtime", FR__OPT_FLAG, &realtime, 0, 0},
      {"--det-side", FR__OPT_INT, &det_side, -1, 8192},
      {"--reconnect", FR__OPT_INT, &reconnect, -1, 1000000},
      {NULL, 0, NULL, 0, 0},
  };
  const char **ops = NULL;
  int n_ops = 0;
  int rc = fr__cli_parse(&x.c, argc, argv, defs, &ops, &n_ops);
  if (rc == FR__CLI_HELP) {
    free(ops);
    return 0;
  }
  if (rc == 0 && n_ops == 0) rc = fr__cli_usage_error(&x.c, "no INPUT given");
  if (rc == 0 && n_ops > 1) rc = fr__cli_usage_error(&x.c, "one INPUT at a time ('%s' is extra)", ops[1]);
  if (rc == 0 && det_side != -1 && det_side != 0 && det_side < 64)
    rc = fr__cli_usage_error(&x.c, "--det-side takes -1 or 64 to 8192, not %d", det_side);
  const char *input = rc == 0 ? ops[0] : NULL;
  free(ops);
  if (rc) return rc;
  if (out && strstr(input, "://") == NULL && strcmp(out, input) == 0)
    return fr__cli_fail(&x.c, "--out %s would overwrite the input", out);
  if (crops && fr__cli_mkdirs(crops) != 0)
    return fr__cli_fail(&x.c, "cannot create %s: %s", crops, strerror(errno));

  fr_engine *e = NULL;
  fr_gallery *g = NULL;
  rc = fr__cli_engine_open(&x.c, -1, &e);
  if (rc == 0) rc = fr__cli_gallery_open(&x.c, e, false, &g);
  if (rc == 0) {
    fr_gallery_stats gs = {0};
    fr_error err = {{0}};
    if (fr_gallery_stats_get(g, &gs, &err) == FR_OK && gs.faces == 0)
      fprintf(stderr, "%s: warning: %s holds no faces made by %s; every face will be unknown\n",
              x.c.name, x.c.db_path, fr_engine_model_id(e));
  }
  if (rc == 0) {
    fr_video_options o = fr_video_default_options();
    o.every = every;
    o.threshold = threshold;
    o.min_score = min_score;
    o.max_frames = max_frames;
    o.realtime = realtime;
    o.threads = x.c.threads;
    o.crops_dir = crops;
    o.out_path = out;
    o.reconnect_max = reconnect;
    o.det_max_side = det_side;
    o.stop = &g_stop;
    o.progress = on_progress;
    o.progress_ctx = &x;
    x.progress_on = isatty(STDERR_FILENO);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fr_video_summary s;
    fr_error err = {{0}};
    fr_status st = fr_video_run(e, g, input, &o, on_event, &x, &s, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    const bool interrupted = g_stop != 0;
    if (st == FR_OK || s.frames > 0) print_summary(&x, &s, interrupted);
    progress_clear(&x);
    if (st != FR_OK) rc = fr__cli_fail(&x.c, "%s", err.msg);
    fr_video_summary_free(&s);
  }
  if (g) fr_gallery_close(g);
  if (e) fr_engine_free(e);
  return rc;
}
