/*
 * The helpers http.h promises handlers: query lookup and JSON replies.
 * (Written with the handlers; if the server core defines them too, keep one copy.)
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/handlers.h"

const char *fr_http_query(const fr_http_req *req, const char *key) {
  if (!req || !key) return NULL;
  for (int i = 0; i < req->n_query && i < FR_HTTP_MAX_PARAMS; i++)
    if (req->query[i].key && strcmp(req->query[i].key, key) == 0) return req->query[i].value;
  return NULL;
}

void fr_http_json(fr_http_resp *resp, int status, json_t *body) {
  resp->status = status;
  if (resp->json) json_decref(resp->json);
  resp->json = body; /* NULL (out of memory) makes the server answer 500 */
}

void fr_http_error(fr_http_resp *resp, int status, const char *code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fr_http_json(resp, status,
               json_pack("{s:o, s:o}", "code", fr__json_str(code ? code : "error"), "message",
                         fr__json_str(msg)));
}
