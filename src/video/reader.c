/*
 * fr_video_reader: frames from files, V4L2 devices and network streams with
 * libavformat / libavcodec, converted by libswscale straight into an RGB buffer
 * (the reader's own, or one the caller owns: fr_video_reader_read_into).
 *
 * Nothing here blocks without a bound: every blocking libavformat call runs
 * under an AVIOInterruptCB with a deadline (open_timeout_ms) and the caller's
 * stop flag, so an unreachable URL or a stalled stream returns FR_ERR_IO.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavdevice/version_major.h>

#include "video/av.h" /* FFmpeg, loaded on first use: after every FFmpeg header */
#include "video/video_internal.h"

/* Consecutive packets that fail to decode before the stream counts as corrupt. */
#define FR__MAX_BAD_PACKETS 64

struct fr_video_reader {
  AVFormatContext *fmt;
  AVCodecContext *dec;
  struct SwsContext *sws;
  AVPacket *pkt;
  AVFrame *frame;
  int stream;
  fr_video_info info;
  fr_video_reader_options opt;
  double deadline; /* fr__video_now() limit of the current blocking call */
  int64_t next_index;
  int64_t bad_packets, decode_errors;
  bool draining, eof;
  double t0; /* stream start time (s) */
  uint8_t *rgb; /* reader-owned RGB frame */
  int rgb_stride;
  char input[256]; /* for messages */
};

double fr__video_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void global_init(void) {
  avformat_network_init();
  /* FFmpeg logs every damaged macroblock to stderr; our errors carry the
   * message instead. FR_AV_LOG=1 restores FFmpeg's own warnings. */
  const char *v = getenv("FR_AV_LOG");
  av_log_set_level(v && *v == '1' ? AV_LOG_WARNING : AV_LOG_QUIET);
}
fr_status fr__video_init(fr_error *err) {
  fr_status st = fr__av_load(err);
  if (st) return st;
  pthread_once(&g_once, global_init);
  return FR_OK;
}

fr_status fr_video_available(fr_error *err) { return fr__video_init(err); }

/* libavdevice (the v4l2 input) is loaded only when a device is opened, after the
 * rest of FFmpeg (av.c): it pulls in libavfilter and dozens of libraries (SDL,
 * PulseAudio, flite voices, ...) that would otherwise cost every facerec process
 * ~25 MB of resident memory. It finds the libavformat already loaded by soname. */
static pthread_once_t g_dev_once = PTHREAD_ONCE_INIT;
static void devices_init(void) {
  void *h = dlopen("libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR), RTLD_NOW | RTLD_LOCAL);
  if (!h) return; /* no v4l2 input: opening a device says so */
  void (*reg)(void);
  *(void **)&reg = dlsym(h, "avdevice_register_all");
  if (reg) reg();
}

static int interrupt_cb(void *p) {
  fr_video_reader *r = p;
  if (r->opt.stop && *r->opt.stop) return 1;
  return r->deadline > 0 && fr__video_now() > r->deadline;
}

static void arm(fr_video_reader *r) {
  r->deadline = r->opt.open_timeout_ms > 0 ? fr__video_now() + r->opt.open_timeout_ms / 1000.0 : 0;
}

static const char *averr(int e, char *buf, size_t n) {
  if (av_strerror(e, buf, n) < 0) snprintf(buf, n, "error %d", e);
  return buf;
}

fr_video_reader_options fr_video_reader_default_options(void) {
  fr_video_reader_options o;
  memset(&o, 0, sizeof o);
  o.open_timeout_ms = 10000;
  o.max_side = 8192;
  return o;
}

static bool is_url(const char *s) { return strstr(s, "://") != NULL; }

bool fr__video_is_live_input(const char *s) {
  static const char *const pre[] = {"/dev/",   "rtsp://", "rtsps://", "rtmp://", "http://",
                                    "https://", "udp://", "tcp://",   "srt://"};
  for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
    if (strncmp(s, pre[i], strlen(pre[i])) == 0) return true;
  return false;
}

static bool timed_out(fr_video_reader *r) {
  return r->deadline > 0 && fr__video_now() > r->deadline && !(r->opt.stop && *r->opt.stop);
}

fr_status fr_video_reader_open(const char *input, const fr_video_reader_options *o,
                               fr_video_reader **out, fr_error *err) {
  if (out) *out = NULL;
  if (!input || !*input || !out)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_reader_open: no input");
  fr_status st = fr__video_init(err);
  if (st) return st;
  fr_video_reader_options opt = o ? *o : fr_video_reader_default_options();
  if (opt.max_side <= 0) opt.max_side = 8192;
  if (opt.open_timeout_ms < 0) opt.open_timeout_ms = 0;
  const bool dev = strncmp(input, "/dev/", 5) == 0;
  if (fr__video_is_live_input(input)) opt.live = true;
  if (!is_url(input)) {
    struct stat st;
    if (stat(input, &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR)
        return fr_error_set(err, FR_ERR_NOT_FOUND, "%s: no such file", input);
      return fr_error_set(err, FR_ERR_IO, "%s: %s", input, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return fr_error_set(err, FR_ERR_IO, "%s: is a directory, not a video", input);
    if (S_ISREG(st.st_mode) && st.st_size == 0)
      return fr_error_set(err, FR_ERR_FORMAT, "%s: empty file (0 bytes), not a video", input);
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
      return fr_error_set(err, FR_ERR_IO, "%s: not a regular file or a device", input);
  }
  fr_video_reader *r = calloc(1, sizeof *r);
  if (!r) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", input);
  r->opt = opt;
  r->stream = -1;
  snprintf(r->input, sizeof r->input, "%s", input);
  char eb[128];
  AVDictionary *d = NULL;
  if (is_url(input)) {
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)opt.open_timeout_ms * 1000LL);
    if (strncmp(input, "rtsp", 4) == 0) av_dict_set(&d, "timeout", us, 0);
    else av_dict_set(&d, "rw_timeout", us, 0);
    if (strncmp(input, "rtsp", 4) == 0) av_dict_set(&d, "rtsp_transport", "tcp", 0);
  }
  const AVInputFormat *ifmt = NULL;
  if (dev) {
    pthread_once(&g_dev_once, devices_init);
    ifmt = av_find_input_format("v4l2");
    if (!ifmt) {
      free(r);
      return fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: this FFmpeg has no v4l2 input", input);
    }
  }
  r->fmt = avformat_alloc_context();
  if (!r->fmt) {
    av_dict_free(&d);
    free(r);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", input);
  }
  r->fmt->interrupt_callback.callback = interrupt_cb;
  r->fmt->interrupt_callback.opaque = r;
  arm(r);
  int e = avformat_open_input(&r->fmt, input, ifmt, &d);
  av_dict_free(&d);
  if (e < 0) {
    r->fmt = NULL; /* freed by avformat_open_input on failure */
    if (is_url(input) || dev)
      st = fr_error_set(err, FR_ERR_IO, "%s: cannot open%s: %s", input,
                        timed_out(r) ? " (timed out)" : "", averr(e, eb, sizeof eb));
    else if (e == AVERROR(ENOENT))
      st = fr_error_set(err, FR_ERR_NOT_FOUND, "%s: no such file", input);
    else if (e == AVERROR(EACCES))
      st = fr_error_set(err, FR_ERR_IO, "%s: permission denied", input);
    else
      st = fr_error_set(err, FR_ERR_FORMAT, "%s: not a video file or corrupt header (%s)", input,
                        averr(e, eb, sizeof eb));
    goto fail;
  }
  arm(r);
  if ((e = avformat_find_stream_info(r->fmt, NULL)) < 0) {
    st = fr_error_set(err, opt.live ? FR_ERR_IO : FR_ERR_FORMAT, "%s: cannot read stream info%s: %s",
                      input, timed_out(r) ? " (timed out)" : "", averr(e, eb, sizeof eb));
    goto fail;
  }
  const AVCodec *codec = NULL;
  e = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (e < 0) {
    st = fr_error_set(err, FR_ERR_FORMAT, "%s: %s", input,
                      e == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
                                                     : "no video stream (not a video)");
    goto fail;
  }
  r->stream = e;
  AVStream *vs = r->fmt->streams[e];
  const AVCodecParameters *par = vs->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    st = fr_error_set(err, FR_ERR_FORMAT, "%s: video stream without a frame size (corrupt)", input);
    goto fail;
  }
  if (par->width > opt.max_side || par->height > opt.max_side) {
    st = fr_error_set(err, FR_ERR_TOO_LARGE, "%s: %dx%d video exceeds the %d-pixel side limit", input,
                      par->width, par->height, opt.max_side);
    goto fail;
  }
  r->dec = avcodec_alloc_context3(codec);
  if (!r->dec || avcodec_parameters_to_context(r->dec, par) < 0) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: cannot set up the %s decoder", input, codec->name);
    goto fail;
  }
  r->dec->thread_count = 1; /* the pipeline's workers use the cores */
  r->dec->pkt_timebase = vs->time_base;
  if ((e = avcodec_open2(r->dec, codec, NULL)) < 0) {
    st = fr_error_set(err, FR_ERR_FORMAT, "%s: cannot open the %s decoder: %s", input, codec->name,
                      averr(e, eb, sizeof eb));
    goto fail;
  }
  r->pkt = av_packet_alloc();
  r->frame = av_frame_alloc();
  if (!r->pkt || !r->frame) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", input);
    goto fail;
  }
  fr_video_info *in = &r->info;
  in->width = par->width;
  in->height = par->height;
  AVRational fr = vs->avg_frame_rate.num > 0 ? vs->avg_frame_rate : vs->r_frame_rate;
  in->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
  if (!(in->fps > 0 && in->fps < 1000)) in->fps = 0;
  in->frames = vs->nb_frames > 0 ? vs->nb_frames : -1;
  in->duration_s = r->fmt->duration > 0 ? (double)r->fmt->duration / AV_TIME_BASE : -1;
  in->live = opt.live;
  snprintf(in->codec, sizeof in->codec, "%s", codec->name);
  r->t0 = vs->start_time != AV_NOPTS_VALUE ? (double)vs->start_time * av_q2d(vs->time_base) : 0;
  r->rgb_stride = (3 * in->width + 31) / 32 * 32;
  r->rgb = av_malloc((size_t)r->rgb_stride * (size_t)in->height);
  if (!r->rgb) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory for a %dx%d frame", input, in->width,
                      in->height);
    goto fail;
  }
  *out = r;
  return FR_OK;
fail:
  fr_video_reader_close(r);
  return st;
}

const fr_video_info *fr_video_reader_info(const fr_video_reader *r) { return r ? &r->info : NULL; }

/* Receives the next decoded frame into r->frame: 1 got one, 0 need more input / end, <0 status. */
static fr_status next_frame(fr_video_reader *r, bool *got, fr_error *err) {
  char eb[128];
  *got = false;
  for (;;) {
    int e = avcodec_receive_frame(r->dec, r->frame);
    if (e == 0) {
      *got = true;
      return FR_OK;
    }
    if (e == AVERROR_EOF) {
      r->eof = true;
      return FR_OK;
    }
    if (e != AVERROR(EAGAIN)) {
      /* a damaged frame: skip it, but not forever */
      if (++r->decode_errors > FR__MAX_BAD_PACKETS && r->next_index == 0)
        return fr_error_set(err, FR_ERR_FORMAT, "%s: undecodable video data (%s)", r->input,
                            averr(e, eb, sizeof eb));
      continue;
    }
    if (r->draining) { /* EAGAIN while draining should not happen; end */
      r->eof = true;
      return FR_OK;
    }
    arm(r);
    e = av_read_frame(r->fmt, r->pkt);
    /* A demuxer that turns a short read into a plain end (mpegts does) hides a
     * connection that died mid-stream; the I/O context keeps the error. For a
     * live source that is a break (the caller reconnects), not the end. */
    if (e == AVERROR_EOF && r->opt.live && r->fmt->pb && r->fmt->pb->error < 0 &&
        r->fmt->pb->error != AVERROR_EOF)
      e = r->fmt->pb->error;
    if (e == AVERROR_EOF || (e < 0 && !r->opt.live && r->fmt->pb && avio_feof(r->fmt->pb))) {
      r->draining = true;
      avcodec_send_packet(r->dec, NULL);
      continue;
    }
    if (e < 0) {
      if (r->opt.live || e == AVERROR_EXIT)
        return fr_error_set(err, FR_ERR_IO, "%s: stream broken%s: %s", r->input,
                            timed_out(r) ? " (timed out)" : "", averr(e, eb, sizeof eb));
      return fr_error_set(err, FR_ERR_FORMAT, "%s: cannot read frame %lld: %s", r->input,
                          (long long)r->next_index, averr(e, eb, sizeof eb));
    }
    if (r->pkt->stream_index != r->stream) {
      av_packet_unref(r->pkt);
      continue;
    }
    e = avcodec_send_packet(r->dec, r->pkt);
    av_packet_unref(r->pkt);
    if (e < 0 && e != AVERROR(EAGAIN)) {
      if (++r->bad_packets > FR__MAX_BAD_PACKETS && r->next_index == 0)
        return fr_error_set(err, FR_ERR_FORMAT, "%s: undecodable video data (%s)", r->input,
                            averr(e, eb, sizeof eb));
    }
  }
}

fr_status fr_video_reader_read_into(fr_video_reader *r, fr_image *dst, int64_t *index,
                                    double *time_s, bool *eof, fr_error *err) {
  if (eof) *eof = false;
  if (!r || !eof) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_reader_read: NULL argument");
  if (dst && (dst->w != r->info.width || dst->h != r->info.height || !dst->px ||
              dst->stride < 3 * dst->w))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_reader_read_into: buffer is not %dx%d RGB",
                        r->info.width, r->info.height);
  if (r->eof) {
    *eof = true;
    return FR_OK;
  }
  bool got = false;
  fr_status st = next_frame(r, &got, err);
  if (st) return st;
  if (!got) {
    *eof = true;
    if (r->next_index == 0)
      return fr_error_set(err, FR_ERR_FORMAT, "%s: no decodable video frame (corrupt or truncated)",
                          r->input);
    /* a file whose index announces more frames than its data holds was cut short */
    if (!r->opt.live && r->info.frames > 0 && r->next_index + 2 < r->info.frames)
      return fr_error_set(err, FR_ERR_FORMAT,
                          "%s: truncated or corrupt: the stream ended after %lld of the %lld frames "
                          "its header announces",
                          r->input, (long long)r->next_index, (long long)r->info.frames);
    return FR_OK;
  }
  AVFrame *f = r->frame;
  if (f->width <= 0 || f->height <= 0 || f->width > r->opt.max_side || f->height > r->opt.max_side) {
    av_frame_unref(f);
    return fr_error_set(err, FR_ERR_FORMAT, "%s: frame %lld has a bad size %dx%d", r->input,
                        (long long)r->next_index, f->width, f->height);
  }
  if (dst) {
    /* frames that change size mid-stream are scaled to the size the stream opened with */
    r->sws = sws_getCachedContext(r->sws, f->width, f->height, f->format, r->info.width,
                                  r->info.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!r->sws) {
      av_frame_unref(f);
      return fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: cannot convert %s frames to RGB", r->input,
                          av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
    }
    uint8_t *planes[4] = {dst->px, NULL, NULL, NULL};
    int strides[4] = {dst->stride, 0, 0, 0};
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides);
  }
  if (index) *index = r->next_index;
  if (time_s) {
    int64_t ts = f->best_effort_timestamp;
    double tb = av_q2d(r->fmt->streams[r->stream]->time_base);
    if (ts != AV_NOPTS_VALUE) *time_s = (double)ts * tb - r->t0;
    else *time_s = r->info.fps > 0 ? (double)r->next_index / r->info.fps : 0;
  }
  r->next_index++;
  av_frame_unref(f);
  return FR_OK;
}

fr_status fr_video_reader_read(fr_video_reader *r, fr_image *frame, int64_t *index, double *time_s,
                               bool *eof, fr_error *err) {
  if (!r || !frame) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_reader_read: NULL argument");
  fr_image own = {r->info.width, r->info.height, r->rgb_stride, r->rgb};
  fr_status st = fr_video_reader_read_into(r, &own, index, time_s, eof, err);
  if (st == FR_OK && !*eof) *frame = own;
  else memset(frame, 0, sizeof *frame);
  return st;
}

void fr_video_reader_close(fr_video_reader *r) {
  if (!r) return;
  sws_freeContext(r->sws);
  av_frame_free(&r->frame);
  av_packet_free(&r->pkt);
  avcodec_free_context(&r->dec);
  if (r->fmt) avformat_close_input(&r->fmt);
  av_free(r->rgb);
  free(r);
}
