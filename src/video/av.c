/*
 * FFmpeg loaded on first use: dlopen the libraries by the sonames of the headers
 * we compile against, resolve FR__AV_FUNCS into fr__av (see av.h for why).
 */
#define FR__AV_NO_REDIRECT /* this file names the real functions */
#include "video/av.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

fr__av_table fr__av;

enum {
#define FR__AV_LIB_ID(id, soname) FR__AV_##id,
  FR__AV_LIBS(FR__AV_LIB_ID)
#undef FR__AV_LIB_ID
  FR__AV_N_LIBS
};

static const char *const g_sonames[FR__AV_N_LIBS] = {
#define FR__AV_LIB_NAME(id, soname) soname,
    FR__AV_LIBS(FR__AV_LIB_NAME)
#undef FR__AV_LIB_NAME
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static fr_status g_status = FR_ERR_UNSUPPORTED;
static char g_msg[384]; /* why loading failed */

static void load(void) {
  void *h[FR__AV_N_LIBS] = {NULL};
  for (int i = 0; i < FR__AV_N_LIBS; i++) {
    /* RTLD_LOCAL: nothing else in the process sees FFmpeg's symbols; libavdevice,
     * dlopen'ed later for cameras, finds these by soname. */
    h[i] = dlopen(g_sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (!h[i]) {
      const char *why = dlerror();
      snprintf(g_msg, sizeof g_msg, "cannot load %s: %s", g_sonames[i], why ? why : "unknown error");
      return; /* the handles stay open: harmless, and dlclose of a half-loaded set buys nothing */
    }
  }
  fr__av_table t;
#define FR__AV_SYM(lib, name)                                                              \
  *(void **)&t.name = dlsym(h[FR__AV_##lib], #name);                                       \
  if (!t.name) {                                                                           \
    snprintf(g_msg, sizeof g_msg, "%s has no %s", g_sonames[FR__AV_##lib], #name);         \
    return;                                                                                \
  }
  FR__AV_FUNCS(FR__AV_SYM)
#undef FR__AV_SYM
  fr__av = t; /* all or nothing; pthread_once publishes it to every caller */
  g_status = FR_OK;
}

fr_status fr__av_load(fr_error *err) {
  pthread_once(&g_once, load);
  if (g_status != FR_OK)
    return fr_error_set(err, g_status, "video support unavailable: %s", g_msg);
  return FR_OK;
}
