#include "facerec/status.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
  const char *desc;
  const char *code;
  int http;
} status_table[] = {
#define FR__STATUS_ROW(name, http, code, desc) {desc, code, http},
    FR_STATUS_MAP(FR__STATUS_ROW)
#undef FR__STATUS_ROW
};

_Static_assert(sizeof(status_table) / sizeof(status_table[0]) == FR_STATUS_COUNT,
               "status table out of sync");

const char *fr_strerror(fr_status st) {
  if ((unsigned)st >= FR_STATUS_COUNT) return "unknown status";
  return status_table[st].desc;
}

const char *fr_status_code(fr_status st) {
  if ((unsigned)st >= FR_STATUS_COUNT) return "internal_error";
  return status_table[st].code;
}

int fr_status_http(fr_status st) {
  if ((unsigned)st >= FR_STATUS_COUNT) return 500;
  return status_table[st].http;
}

fr_status fr_error_set(fr_error *err, fr_status st, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return st;
}
