/*
 * fr_video_writer: RGB frames -> yuv420p (libswscale) -> H.264 (libx264 when
 * libavcodec has it, else MJPEG) -> a container chosen from the file name
 * (.mp4 by default). Timestamps are the frame count in a 1/fps time base.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/av.h" /* FFmpeg, loaded on first use */
#include "video/video_internal.h"

struct fr_video_writer {
  AVFormatContext *oc;
  AVCodecContext *enc;
  AVStream *st;
  AVFrame *yuv;
  AVPacket *pkt;
  struct SwsContext *sws;
  int w, h;           /* frames given */
  int ew, eh;         /* encoded size (even) */
  int64_t next_pts;
  bool header_written;
  char codec[32];
  char path[256];
};

static const char *averr(int e, char *buf, size_t n) {
  if (av_strerror(e, buf, n) < 0) snprintf(buf, n, "error %d", e);
  return buf;
}

const char *fr_video_writer_codec(const fr_video_writer *wr) { return wr ? wr->codec : ""; }

static void writer_free(fr_video_writer *wr) {
  if (!wr) return;
  sws_freeContext(wr->sws);
  av_frame_free(&wr->yuv);
  av_packet_free(&wr->pkt);
  avcodec_free_context(&wr->enc);
  if (wr->oc) {
    if (wr->oc->pb) avio_closep(&wr->oc->pb);
    avformat_free_context(wr->oc);
  }
  free(wr);
}

/* Opens an encoder: H.264 (libx264, then any other software H.264 encoder) or MJPEG. */
static const AVCodec *open_encoder(fr_video_writer *wr, double fps, AVCodecContext **out) {
  static const char *const names[] = {"libx264", "libopenh264", "mjpeg"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const AVCodec *c = avcodec_find_encoder_by_name(names[i]);
    if (!c) continue;
    if (avformat_query_codec(wr->oc->oformat, c->id, FF_COMPLIANCE_NORMAL) != 1) continue;
    AVCodecContext *enc = avcodec_alloc_context3(c);
    if (!enc) return NULL;
    enc->width = wr->ew;
    enc->height = wr->eh;
    AVRational fr = av_d2q(fps, 100000);
    enc->time_base = av_inv_q(fr);
    enc->framerate = fr;
    enc->gop_size = 250;
    enc->thread_count = 1;
    const bool mjpeg = c->id == AV_CODEC_ID_MJPEG;
    enc->pix_fmt = mjpeg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
    if (mjpeg) {
      enc->flags |= AV_CODEC_FLAG_QSCALE;
      enc->global_quality = FF_QP2LAMBDA * 4;
    }
    if (c->id == AV_CODEC_ID_H264 && strcmp(c->name, "libx264") == 0) {
      av_opt_set(enc->priv_data, "preset", "veryfast", 0);
      av_opt_set(enc->priv_data, "crf", "23", 0);
    }
    if (wr->oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (avcodec_open2(enc, c, NULL) == 0) {
      *out = enc;
      return c;
    }
    avcodec_free_context(&enc);
  }
  return NULL;
}

fr_status fr_video_writer_open(const char *path, int w, int h, double fps, fr_video_writer **out,
                               fr_error *err) {
  if (out) *out = NULL;
  if (!path || !*path || !out) return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_writer_open: no path");
  if (w < 2 || h < 2 || w > 16384 || h > 16384)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: bad video size %dx%d", path, w, h);
  if (!(fps > 0 && fps <= 1000)) fps = 25;
  fr_status st = fr__video_init(err);
  if (st) return st;
  fr_video_writer *wr = calloc(1, sizeof *wr);
  if (!wr) return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", path);
  snprintf(wr->path, sizeof wr->path, "%s", path);
  wr->w = w;
  wr->h = h;
  wr->ew = w & ~1;
  wr->eh = h & ~1;
  char eb[128];
  int e = avformat_alloc_output_context2(&wr->oc, NULL, NULL, path);
  if (e < 0 || !wr->oc) e = avformat_alloc_output_context2(&wr->oc, NULL, "mp4", path);
  if (e < 0 || !wr->oc) {
    st = fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: no container for this file name", path);
    goto fail;
  }
  const AVCodec *c = open_encoder(wr, fps, &wr->enc);
  if (!c) {
    st = fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: no H.264 or MJPEG encoder for the %s container",
                      path, wr->oc->oformat->name);
    goto fail;
  }
  snprintf(wr->codec, sizeof wr->codec, "%s", c->name);
  wr->st = avformat_new_stream(wr->oc, NULL);
  if (!wr->st || avcodec_parameters_from_context(wr->st->codecpar, wr->enc) < 0) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: cannot add the video stream", path);
    goto fail;
  }
  wr->st->time_base = wr->enc->time_base;
  wr->st->avg_frame_rate = wr->enc->framerate;
  wr->yuv = av_frame_alloc();
  wr->pkt = av_packet_alloc();
  if (!wr->yuv || !wr->pkt) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  wr->yuv->format = wr->enc->pix_fmt;
  wr->yuv->width = wr->ew;
  wr->yuv->height = wr->eh;
  if (av_frame_get_buffer(wr->yuv, 0) < 0) {
    st = fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory for a frame", path);
    goto fail;
  }
  wr->sws = sws_getContext(wr->ew, wr->eh, AV_PIX_FMT_RGB24, wr->ew, wr->eh, wr->enc->pix_fmt,
                           SWS_BILINEAR, NULL, NULL, NULL);
  if (!wr->sws) {
    st = fr_error_set(err, FR_ERR_UNSUPPORTED, "%s: cannot convert RGB to %s", path,
                      av_get_pix_fmt_name(wr->enc->pix_fmt));
    goto fail;
  }
  if (!(wr->oc->oformat->flags & AVFMT_NOFILE) &&
      (e = avio_open(&wr->oc->pb, path, AVIO_FLAG_WRITE)) < 0) {
    st = fr_error_set(err, FR_ERR_IO, "%s: cannot create: %s", path, averr(e, eb, sizeof eb));
    goto fail;
  }
  if ((e = avformat_write_header(wr->oc, NULL)) < 0) {
    st = fr_error_set(err, FR_ERR_IO, "%s: cannot write the header: %s", path, averr(e, eb, sizeof eb));
    goto fail;
  }
  wr->header_written = true;
  *out = wr;
  return FR_OK;
fail:
  writer_free(wr);
  return st;
}

/* Sends frame (NULL = flush) and writes every packet the encoder returns. */
static fr_status encode(fr_video_writer *wr, AVFrame *frame, fr_error *err) {
  char eb[128];
  int e = avcodec_send_frame(wr->enc, frame);
  if (e < 0 && e != AVERROR_EOF)
    return fr_error_set(err, FR_ERR_IO, "%s: encoder refused a frame: %s", wr->path,
                        averr(e, eb, sizeof eb));
  for (;;) {
    e = avcodec_receive_packet(wr->enc, wr->pkt);
    if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return FR_OK;
    if (e < 0)
      return fr_error_set(err, FR_ERR_IO, "%s: encoding failed: %s", wr->path, averr(e, eb, sizeof eb));
    av_packet_rescale_ts(wr->pkt, wr->enc->time_base, wr->st->time_base);
    wr->pkt->stream_index = wr->st->index;
    e = av_interleaved_write_frame(wr->oc, wr->pkt);
    if (e < 0)
      return fr_error_set(err, FR_ERR_IO, "%s: cannot write: %s", wr->path, averr(e, eb, sizeof eb));
  }
}

fr_status fr_video_writer_write(fr_video_writer *wr, const fr_image *frame, fr_error *err) {
  if (!wr || !frame || !frame->px)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "fr_video_writer_write: NULL argument");
  if (frame->w != wr->w || frame->h != wr->h || frame->stride < 3 * frame->w)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "%s: frame is %dx%d, the video %dx%d", wr->path,
                        frame->w, frame->h, wr->w, wr->h);
  if (av_frame_make_writable(wr->yuv) < 0)
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", wr->path);
  const uint8_t *src[4] = {frame->px, NULL, NULL, NULL};
  int ss[4] = {frame->stride, 0, 0, 0};
  sws_scale(wr->sws, src, ss, 0, wr->eh, wr->yuv->data, wr->yuv->linesize);
  wr->yuv->pts = wr->next_pts++;
  return encode(wr, wr->yuv, err);
}

fr_status fr_video_writer_close(fr_video_writer *wr, fr_error *err) {
  if (!wr) return FR_OK;
  fr_status st = encode(wr, NULL, err);
  if (wr->header_written) {
    int e = av_write_trailer(wr->oc);
    if (e < 0 && st == FR_OK) {
      char eb[128];
      st = fr_error_set(err, FR_ERR_IO, "%s: cannot write the trailer: %s", wr->path,
                        averr(e, eb, sizeof eb));
    }
  }
  if (wr->oc && wr->oc->pb) {
    int e = avio_closep(&wr->oc->pb);
    if (e < 0 && st == FR_OK) st = fr_error_set(err, FR_ERR_IO, "%s: cannot close the file", wr->path);
  }
  writer_free(wr);
  return st;
}
