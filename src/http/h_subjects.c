/*
 * CompreFace 1.x subjects: add, list, rename, delete one, delete all.
 */
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"

/* The "subject" string of a JSON object body; BAD_ARG / BAD_JSON otherwise.
 * *name points into *json (caller releases it). Empty names are returned as "". */
static bool body_subject(const fr_http_req *req, json_t **json, const char **name, fr__herr *e) {
  *name = NULL;
  if (!fr__body_json(req, json, e)) return false;
  json_t *v = json_is_object(*json) ? json_object_get(*json, "subject") : NULL;
  if (!v || json_is_null(v)) {
    *name = "";
    return true;
  }
  if (!json_is_string(v)) return fr__herr_set(e, FR__HERR_BAD_JSON, "'subject' must be a string");
  *name = json_string_value(v);
  if (strlen(*name) != json_string_length(v))
    return fr__herr_set(e, FR__HERR_BAD_ARG, "Subject name contains a NUL character");
  return true;
}

static bool name_valid(const char *name, fr__herr *e) {
  if (!*name) return fr__herr_set(e, FR__HERR_BAD_ARG, "Subject name is empty");
  if (!fr__name_ok(name))
    return fr__herr_set(e, FR__HERR_BAD_ARG,
                        "Subject name must be 1 to %d bytes of UTF-8 without control characters",
                        FR_NAME_MAX);
  return true;
}

/* POST /api/v1/recognition/subjects {"subject": S} -> 201 {"subject": S} */
void fr__h_cf_subject_add(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp) {
  (void)worker;
  fr__herr e;
  json_t *json = NULL;
  const char *name;
  if (!body_subject(req, &json, &name, &e) || !name_valid(name, &e)) {
    fr__reply_cf_error(resp, &e);
    json_decref(json);
    return;
  }
  bool existed = false;
  fr_error err = {{0}};
  fr_status st = fr_gallery_subject_add(ctx->gallery, name, &existed, &err);
  if (st == FR_OK && existed)
    fr__herr_set(&e, FR__HERR_SUBJECT_EXISTS, "Subject already exists");
  else if (st == FR_ERR_INVALID_ARG)
    fr__herr_set(&e, FR__HERR_BAD_ARG, "%s", err.msg);
  else if (st != FR_OK)
    fr__herr_set(&e, FR__HERR_INTERNAL, "add subject: %s", err.msg);
  if (st != FR_OK || existed)
    fr__reply_cf_error(resp, &e);
  else
    fr_http_json(resp, 201, json_pack("{s:o}", "subject", fr__json_str(name)));
  json_decref(json);
}

static int add_name(void *p, const char *name, int64_t faces) {
  (void)faces;
  json_array_append_new(p, fr__json_str(name));
  return 0;
}

/* GET /api/v1/recognition/subjects -> {"subjects": [names]} */
void fr__h_cf_subject_list(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                           fr_http_resp *resp) {
  (void)worker;
  (void)req;
  json_t *names = json_array();
  fr_error err = {{0}};
  if (fr_gallery_subjects(ctx->gallery, add_name, names, &err) != FR_OK) {
    json_decref(names);
    fr__herr e;
    fr__herr_set(&e, FR__HERR_INTERNAL, "list subjects: %s", err.msg);
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr_http_json(resp, 200, json_pack("{s:o}", "subjects", names));
}

/* PUT /api/v1/recognition/subjects/{subject} {"subject": NEW} -> {"updated": bool}.
 * An empty or unchanged new name updates nothing (false), as in CompreFace.
 * A NEW that exists already is merged into, as in CompreFace: OLD's faces move
 * to it and OLD is deleted. */
void fr__h_cf_subject_rename(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                             fr_http_resp *resp) {
  (void)worker;
  fr__herr e;
  const char *old = req->n_path_args > 0 ? req->path_args[0] : "";
  json_t *json = NULL;
  const char *name;
  if (!body_subject(req, &json, &name, &e)) {
    fr__reply_cf_error(resp, &e);
    json_decref(json);
    return;
  }
  fr_error err = {{0}};
  fr_status st = FR_OK;
  bool updated = false, ok = true;
  if (!fr__name_ok(old)) {
    ok = fr__herr_set(&e, FR__HERR_SUBJECT_NOT_FOUND, "Subject %s not found", old);
  } else if (!*name || strcmp(name, old) == 0) {
    /* nothing to do; but an unknown old subject is still 404 */
    int64_t total = 0;
    st = fr_gallery_faces(ctx->gallery, old, 0, 0, NULL, NULL, &total, &err);
    if (st == FR_ERR_NOT_FOUND)
      ok = fr__herr_set(&e, FR__HERR_SUBJECT_NOT_FOUND, "Subject %s not found", old);
    else if (st != FR_OK)
      ok = fr__herr_set(&e, FR__HERR_INTERNAL, "look up subject: %s", err.msg);
  } else if (name_valid(name, &e)) {
    st = fr_gallery_subject_rename(ctx->gallery, old, name, &err);
    if (st == FR_OK)
      updated = true;
    else if (st == FR_ERR_NOT_FOUND)
      ok = fr__herr_set(&e, FR__HERR_SUBJECT_NOT_FOUND, "Subject %s not found", old);
    else
      ok = fr__herr_set(&e, FR__HERR_INTERNAL, "rename subject: %s", err.msg);
  } else {
    ok = false;
  }
  if (ok)
    fr_http_json(resp, 200, json_pack("{s:b}", "updated", updated));
  else
    fr__reply_cf_error(resp, &e);
  json_decref(json);
}

/* DELETE /api/v1/recognition/subjects/{subject} -> {"subject": S} */
void fr__h_cf_subject_delete(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                             fr_http_resp *resp) {
  (void)worker;
  fr__herr e;
  const char *name = req->n_path_args > 0 ? req->path_args[0] : "";
  fr_error err = {{0}};
  fr_status st = fr__name_ok(name) ? fr_gallery_subject_delete(ctx->gallery, name, NULL, &err)
                                   : FR_ERR_NOT_FOUND;
  if (st == FR_OK) {
    fr_http_json(resp, 200, json_pack("{s:o}", "subject", fr__json_str(name)));
    return;
  }
  if (st == FR_ERR_NOT_FOUND)
    fr__herr_set(&e, FR__HERR_SUBJECT_NOT_FOUND, "Subject %s not found", name);
  else
    fr__herr_set(&e, FR__HERR_INTERNAL, "delete subject: %s", err.msg);
  fr__reply_cf_error(resp, &e);
}

/* DELETE /api/v1/recognition/subjects -> {"deleted": subjects} */
void fr__h_cf_subject_delete_all(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                                 fr_http_resp *resp) {
  (void)worker;
  (void)req;
  fr__herr e;
  int64_t subjects = 0, faces = 0;
  if (!fr__delete_all_subjects(ctx, &subjects, &faces, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  fr_http_json(resp, 200, json_pack("{s:I}", "deleted", (json_int_t)subjects));
}
