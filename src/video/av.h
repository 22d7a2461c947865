/*
 * FFmpeg, loaded on first use (src/video only).
 *
 * facerec does not link libavformat / libavcodec / libavutil / libswscale: they
 * pull in ~100 more shared libraries (x264, x265, aom, dav1d, vpx, gnutls, ...),
 * all bound at startup (BIND_NOW), which cost every facerec process ~15 MB of
 * resident memory and startup time even when it never touches a video. They are
 * dlopen'ed (by the soname of the headers we compile against) the first time the
 * video module is used, and every FFmpeg function the module calls goes through
 * one table of pointers, fr__av, filled by dlsym.
 *
 * Include this header instead of the FFmpeg headers, and after every other FFmpeg
 * header: it redirects each name in FR__AV_FUNCS to its pointer
 * (`avcodec_open2(...)` becomes `fr__av.avcodec_open2(...)`), so the code reads
 * as plain FFmpeg. The toolchain keeps the list and the code in step: a function
 * missing from the list is an undefined reference when facerec links (the
 * libraries are not on the link line), a redirection missing below is the same,
 * and a name in the list that FFmpeg does not declare fails to compile.
 * The headers' static inline helpers (av_q2d, av_inv_q, AVERROR, ...) need nothing.
 *
 *     fr_status st = fr__av_load(err);  // once per process; FR_ERR_UNSUPPORTED when
 *     if (st) return st;                // a library or a symbol is missing
 *     AVPacket *p = av_packet_alloc();  // = fr__av.av_packet_alloc()
 */
#ifndef FR_VIDEO_AV_H
#define FR_VIDEO_AV_H

#include <libavcodec/avcodec.h>
#include <libavcodec/version_major.h>
#include <libavformat/avformat.h>
#include <libavformat/version_major.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/version.h>
#include <libswscale/swscale.h>
#include <libswscale/version_major.h>

#include "facerec/status.h"

/* The libraries, in load order: X(id, soname). */
#define FR__AV_LIBS(X)                                                   \
  X(UTIL, "libavutil.so." AV_STRINGIFY(LIBAVUTIL_VERSION_MAJOR))         \
  X(SWS, "libswscale.so." AV_STRINGIFY(LIBSWSCALE_VERSION_MAJOR))        \
  X(CODEC, "libavcodec.so." AV_STRINGIFY(LIBAVCODEC_VERSION_MAJOR))      \
  X(FORMAT, "libavformat.so." AV_STRINGIFY(LIBAVFORMAT_VERSION_MAJOR))

/* Every FFmpeg function src/video calls: X(library id, name). The pointer's type
 * is taken from the header's declaration, so it cannot drift from it. */
#define FR__AV_FUNCS(X)                       \
  X(UTIL, av_d2q)                             \
  X(UTIL, av_dict_free)                       \
  X(UTIL, av_dict_set)                        \
  X(UTIL, av_frame_alloc)                     \
  X(UTIL, av_frame_free)                      \
  X(UTIL, av_frame_get_buffer)                \
  X(UTIL, av_frame_make_writable)             \
  X(UTIL, av_frame_unref)                     \
  X(UTIL, av_free)                            \
  X(UTIL, av_get_pix_fmt_name)                \
  X(UTIL, av_log_set_level)                   \
  X(UTIL, av_malloc)                          \
  X(UTIL, av_opt_set)                         \
  X(UTIL, av_strerror)                        \
  X(SWS, sws_freeContext)                     \
  X(SWS, sws_getCachedContext)                \
  X(SWS, sws_getContext)                      \
  X(SWS, sws_scale)                           \
  X(CODEC, av_packet_alloc)                   \
  X(CODEC, av_packet_free)                    \
  X(CODEC, av_packet_rescale_ts)              \
  X(CODEC, av_packet_unref)                   \
  X(CODEC, avcodec_alloc_context3)            \
  X(CODEC, avcodec_find_encoder_by_name)      \
  X(CODEC, avcodec_free_context)              \
  X(CODEC, avcodec_open2)                     \
  X(CODEC, avcodec_parameters_from_context)   \
  X(CODEC, avcodec_parameters_to_context)     \
  X(CODEC, avcodec_receive_frame)             \
  X(CODEC, avcodec_receive_packet)            \
  X(CODEC, avcodec_send_frame)                \
  X(CODEC, avcodec_send_packet)               \
  X(FORMAT, av_find_best_stream)              \
  X(FORMAT, av_find_input_format)             \
  X(FORMAT, av_interleaved_write_frame)       \
  X(FORMAT, av_read_frame)                    \
  X(FORMAT, av_write_trailer)                 \
  X(FORMAT, avformat_alloc_context)           \
  X(FORMAT, avformat_alloc_output_context2)   \
  X(FORMAT, avformat_close_input)             \
  X(FORMAT, avformat_find_stream_info)        \
  X(FORMAT, avformat_free_context)            \
  X(FORMAT, avformat_network_init)            \
  X(FORMAT, avformat_new_stream)              \
  X(FORMAT, avformat_open_input)              \
  X(FORMAT, avformat_query_codec)             \
  X(FORMAT, avformat_write_header)            \
  X(FORMAT, avio_closep)                      \
  X(FORMAT, avio_feof)                        \
  X(FORMAT, avio_open)

typedef struct fr__av_table {
#define FR__AV_MEMBER(lib, name) __typeof__(&name) name;
  FR__AV_FUNCS(FR__AV_MEMBER)
#undef FR__AV_MEMBER
} fr__av_table;

/* Filled by fr__av_load; read-only afterwards. Use only after it returned FR_OK. */
extern fr__av_table fr__av;

/* Loads the libraries and resolves the table, once per process (thread-safe).
 * FR_OK, or FR_ERR_UNSUPPORTED with a message such as "video support
 * unavailable: cannot load libavcodec.so.59: ..." (every later call gives the
 * same answer). Never aborts. */
fr_status fr__av_load(fr_error *err);

#ifndef FR__AV_NO_REDIRECT
#define av_d2q fr__av.av_d2q
#define av_dict_free fr__av.av_dict_free
#define av_dict_set fr__av.av_dict_set
#define av_frame_alloc fr__av.av_frame_alloc
#define av_frame_free fr__av.av_frame_free
#define av_frame_get_buffer fr__av.av_frame_get_buffer
#define av_frame_make_writable fr__av.av_frame_make_writable
#define av_frame_unref fr__av.av_frame_unref
#define av_free fr__av.av_free
#define av_get_pix_fmt_name fr__av.av_get_pix_fmt_name
#define av_log_set_level fr__av.av_log_set_level
#define av_malloc fr__av.av_malloc
#define av_opt_set fr__av.av_opt_set
#define av_strerror fr__av.av_strerror
#define sws_freeContext fr__av.sws_freeContext
#define sws_getCachedContext fr__av.sws_getCachedContext
#define sws_getContext fr__av.sws_getContext
#define sws_scale fr__av.sws_scale
#define av_packet_alloc fr__av.av_packet_alloc
#define av_packet_free fr__av.av_packet_free
#define av_packet_rescale_ts fr__av.av_packet_rescale_ts
#define av_packet_unref fr__av.av_packet_unref
#define avcodec_alloc_context3 fr__av.avcodec_alloc_context3
#define avcodec_find_encoder_by_name fr__av.avcodec_find_encoder_by_name
#define avcodec_free_context fr__av.avcodec_free_context
#define avcodec_open2 fr__av.avcodec_open2
#define avcodec_parameters_from_context fr__av.avcodec_parameters_from_context
#define avcodec_parameters_to_context fr__av.avcodec_parameters_to_context
#define avcodec_receive_frame fr__av.avcodec_receive_frame
#define avcodec_receive_packet fr__av.avcodec_receive_packet
#define avcodec_send_frame fr__av.avcodec_send_frame
#define avcodec_send_packet fr__av.avcodec_send_packet
#define av_find_best_stream fr__av.av_find_best_stream
#define av_find_input_format fr__av.av_find_input_format
#define av_interleaved_write_frame fr__av.av_interleaved_write_frame
#define av_read_frame fr__av.av_read_frame
#define av_write_trailer fr__av.av_write_trailer
#define avformat_alloc_context fr__av.avformat_alloc_context
#define avformat_alloc_output_context2 fr__av.avformat_alloc_output_context2
#define avformat_close_input fr__av.avformat_close_input
#define avformat_find_stream_info fr__av.avformat_find_stream_info
#define avformat_free_context fr__av.avformat_free_context
#define avformat_network_init fr__av.avformat_network_init
#define avformat_new_stream fr__av.avformat_new_stream
#define avformat_open_input fr__av.avformat_open_input
#define avformat_query_codec fr__av.avformat_query_codec
#define avformat_write_header fr__av.avformat_write_header
#define avio_closep fr__av.avio_closep
#define avio_feof fr__av.avio_feof
#define avio_open fr__av.avio_open
#endif

#endif
