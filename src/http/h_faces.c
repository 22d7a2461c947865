/*
 * CompreFace 1.x face collection: add an example, list (paged), delete by
 * subject / by id / several ids, download the stored image.
 *
 * Enrollment stores the aligned 112x112 face as the example's image (JPEG) and
 * the SHA-256 of the uploaded bytes: uploading the same bytes for the same
 * subject again returns the existing image_id instead of a duplicate.
 */
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"

static const char *const file_fields[] = {"file", "image", NULL};

static void reply_gallery_error(fr_http_resp *resp, fr_status st, const fr_error *err,
                                const char *what) {
  fr__herr e;
  if (st == FR_ERR_INVALID_ARG)
    fr__herr_set(&e, FR__HERR_BAD_ARG, "%s", err->msg);
  else if (st == FR_ERR_TOO_LARGE)
    fr__herr_set(&e, FR__HERR_IMAGE_TOO_LARGE, "%s", err->msg);
  else
    fr__herr_set(&e, FR__HERR_INTERNAL, "%s: %s", what, err->msg);
  fr__reply_cf_error(resp, &e);
}

/* POST /api/v1/recognition/faces?subject=S[&det_prob_threshold=T] */
void fr__h_cf_face_add(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  fr__params p;
  fr__herr e;
  double thr;
  fr__params_init(&p, req);
  const char *subject = fr__param(&p, "subject");
  bool ok = true;
  if (!subject)
    ok = fr__herr_set(&e, FR__HERR_MISSING_PARAM,
                      "Required request parameter 'subject' for method parameter type String is "
                      "not present");
  else if (!*subject)
    ok = fr__herr_set(&e, FR__HERR_BAD_ARG, "Subject name is empty");
  else if (!fr__name_ok(subject))
    ok = fr__herr_set(&e, FR__HERR_BAD_ARG,
                      "Subject name must be 1 to %d bytes of UTF-8 without control characters",
                      FR_NAME_MAX);
  ok = ok && fr__param_real(&p, "det_prob_threshold", 0.0, 1.0, fr__default_min_score(ctx), &thr, &e);
  if (!ok) {
    fr__reply_cf_error(resp, &e);
    return;
  }

  fr__upload up;
  fr__analysis a = {0};
  fr_image aligned = {0};
  float *emb = NULL;
  uint8_t *thumb = NULL;
  size_t thumb_len = 0;
  int k = 0;
  fr__analyze_opts ao = {.min_score = (float)thr, .limit = 0, .embed = false};
  ok = fr__upload_get(ctx, req, NULL, file_fields, true, &up, &e) &&
       fr__analyze(ctx, worker, up.data, up.len, &ao, &a, &e) && fr__single_face(&a, &k, &e);
  if (ok && !(emb = malloc((size_t)a.dim * sizeof *emb)))
    ok = fr__herr_set(&e, FR__HERR_INTERNAL, "out of memory");
  ok = ok && fr__embed_one(ctx, worker, &a, k, emb, &aligned, &e);
  fr_error err = {{0}};
  if (ok && fr_image_encode_jpeg(&aligned, 90, &thumb, &thumb_len, &err) != FR_OK)
    ok = fr__herr_set(&e, FR__HERR_INTERNAL, "thumbnail: %s", err.msg);
  if (!ok) {
    fr__reply_cf_error(resp, &e);
    goto out;
  }
  uint8_t sha[32];
  fr_sha256(up.data, up.len, sha);
  const fr_face *f = &a.faces[k];
  fr_gallery_face_in in = {
      .subject = subject,
      .source = up.filename && fr__name_ok(up.filename) ? up.filename : NULL,
      .source_hash = sha,
      .face_index = 0,
      .box = {f->x, f->y, f->w, f->h},
      .embedding = emb,
      .thumb_jpeg = thumb,
      .thumb_len = thumb_len,
  };
  fr_gallery_face out;
  fr_status st = fr_gallery_add(ctx->gallery, &in, &out, NULL, &err);
  if (st != FR_OK) {
    reply_gallery_error(resp, st, &err, "gallery add");
    goto out;
  }
  fr_http_json(resp, 201,
               json_pack("{s:s, s:o}", "image_id", out.image_id, "subject", fr__json_str(subject)));
out:
  free(thumb);
  free(emb);
  fr_image_free(&aligned);
  fr__analysis_free(&a);
  fr__upload_free(&up);
}

static int add_face_json(void *p, const fr_gallery_face *f) {
  json_array_append_new(p, json_pack("{s:s, s:o}", "image_id", f->image_id, "subject",
                                     fr__json_str(f->subject)));
  return 0;
}

/* GET /api/v1/recognition/faces?page=&size=&subject= (Spring paging: page from
 * 0, size 20 by default, at most 2000; bad values fall back to the defaults). */
void fr__h_cf_face_list(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  (void)worker;
  fr__params p;
  fr__herr e;
  fr__params_init(&p, req);
  long page = 0, size = 20;
  if (!fr__param_int(&p, "page", 0, 1L << 40, 0, &page, &e)) page = 0;
  if (!fr__param_int(&p, "size", 1, 1L << 40, 20, &size, &e)) size = 20;
  if (size > 2000) size = 2000;
  const char *subject = fr__param(&p, "subject");
  if (subject && !*subject) subject = NULL;
  json_t *faces = json_array();
  int64_t total = 0;
  fr_error err = {{0}};
  fr_status st = FR_OK;
  /* An unknown or unnamed subject lists nothing (CompreFace filters by name). */
  if (!subject || fr__name_ok(subject))
    st = fr_gallery_faces(ctx->gallery, subject, (int64_t)page * size, size, add_face_json, faces,
                          &total, &err);
  if (st == FR_ERR_NOT_FOUND) {
    st = FR_OK;
    total = 0;
  }
  if (st != FR_OK) {
    json_decref(faces);
    reply_gallery_error(resp, st, &err, "list faces");
    return;
  }
  fr_http_json(resp, 200,
               json_pack("{s:o, s:I, s:I, s:I, s:I}", "faces", faces, "page_number",
                         (json_int_t)page, "page_size", (json_int_t)size, "total_pages",
                         (json_int_t)((total + size - 1) / size), "total_elements",
                         (json_int_t)total));
}

/* ---- deleting whole subjects ---- */

typedef struct name_list {
  char **v;
  size_t n, cap;
  bool oom;
} name_list;

static int collect_name(void *p, const char *name, int64_t faces) {
  (void)faces;
  name_list *l = p;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      l->oom = true;
      return 1;
    }
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(name))) {
    l->oom = true;
    return 1;
  }
  l->n++;
  return 0;
}

static void name_list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

bool fr__delete_all_subjects(fr_http_ctx *ctx, int64_t *subjects, int64_t *faces, fr__herr *e) {
  name_list l = {0};
  fr_error err = {{0}};
  *subjects = *faces = 0;
  fr_status st = fr_gallery_subjects(ctx->gallery, collect_name, &l, &err);
  if (st != FR_OK || l.oom) {
    name_list_free(&l);
    return fr__herr_set(e, FR__HERR_INTERNAL, "list subjects: %s", l.oom ? "out of memory" : err.msg);
  }
  for (size_t i = 0; i < l.n; i++) {
    int64_t n = 0;
    st = fr_gallery_subject_delete(ctx->gallery, l.v[i], &n, &err);
    if (st == FR_ERR_NOT_FOUND) continue; /* deleted concurrently */
    if (st != FR_OK) {
      name_list_free(&l);
      return fr__herr_set(e, FR__HERR_INTERNAL, "delete subject: %s", err.msg);
    }
    (*subjects)++;
    *faces += n;
  }
  name_list_free(&l);
  return true;
}

/* DELETE /api/v1/recognition/faces[?subject=S]: every example of S (and S
 * itself, as CompreFace does), or of every subject; {"deleted": faces}. An
 * unknown subject deletes nothing. */
void fr__h_cf_face_delete_by_subject(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                                     fr_http_resp *resp) {
  (void)worker;
  fr__params p;
  fr__herr e;
  fr__params_init(&p, req);
  const char *subject = fr__param(&p, "subject");
  int64_t faces = 0, subjects = 0;
  if (!subject || !*subject) {
    if (!fr__delete_all_subjects(ctx, &subjects, &faces, &e)) {
      fr__reply_cf_error(resp, &e);
      return;
    }
  } else if (fr__name_ok(subject)) {
    fr_error err = {{0}};
    fr_status st = fr_gallery_subject_delete(ctx->gallery, subject, &faces, &err);
    if (st == FR_ERR_NOT_FOUND)
      faces = 0;
    else if (st != FR_OK) {
      reply_gallery_error(resp, st, &err, "delete subject");
      return;
    }
  }
  fr_http_json(resp, 200, json_pack("{s:I}", "deleted", (json_int_t)faces));
}

/* DELETE /api/v1/recognition/faces/{image_id} */
void fr__h_cf_face_delete(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                          fr_http_resp *resp) {
  (void)worker;
  const char *id = req->n_path_args > 0 ? req->path_args[0] : "";
  fr_gallery_face f;
  fr_error err = {{0}};
  fr_status st = fr_gallery_face_delete(ctx->gallery, id, &f, &err);
  if (st == FR_ERR_NOT_FOUND) {
    fr__herr e;
    fr__herr_set(&e, FR__HERR_IMAGE_NOT_FOUND, "Image %s not found", id);
    fr__reply_cf_error(resp, &e);
    return;
  }
  if (st != FR_OK) {
    reply_gallery_error(resp, st, &err, "delete face");
    return;
  }
  fr_http_json(resp, 200,
               json_pack("{s:s, s:o}", "image_id", f.image_id, "subject", fr__json_str(f.subject)));
}

/* POST /api/v1/recognition/faces/delete  ["id1", "id2", ...] -> the deleted
 * ones as [{"image_id","subject"}]; unknown ids are ignored. */
void fr__h_cf_face_delete_many(fr_http_ctx *ctx, int worker, const fr_http_req *req,
                               fr_http_resp *resp) {
  (void)worker;
  fr__herr e;
  json_t *ids = NULL;
  if (!fr__body_json(req, &ids, &e)) {
    fr__reply_cf_error(resp, &e);
    return;
  }
  if (!json_is_array(ids)) {
    json_decref(ids);
    fr__herr_set(&e, FR__HERR_BAD_JSON, "JSON body must be an array of image ids");
    fr__reply_cf_error(resp, &e);
    return;
  }
  json_t *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) {
      json_decref(out);
      json_decref(ids);
      fr__herr_set(&e, FR__HERR_BAD_JSON, "image ids must be strings (item %zu is not)", i);
      fr__reply_cf_error(resp, &e);
      return;
    }
    fr_gallery_face f;
    fr_error err = {{0}};
    fr_status st = fr_gallery_face_delete(ctx->gallery, json_string_value(v), &f, &err);
    if (st == FR_ERR_NOT_FOUND) continue;
    if (st != FR_OK) {
      json_decref(out);
      json_decref(ids);
      reply_gallery_error(resp, st, &err, "delete face");
      return;
    }
    json_array_append_new(out, json_pack("{s:s, s:o}", "image_id", f.image_id, "subject",
                                         fr__json_str(f.subject)));
  }
  json_decref(ids);
  fr_http_json(resp, 200, out);
}

/* GET /api/v1/recognition/faces/{image_id}/img: the stored aligned face (JPEG). */
void fr__h_cf_face_img(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  (void)worker;
  const char *id = req->n_path_args > 0 ? req->path_args[0] : "";
  uint8_t *jpeg = NULL;
  size_t len = 0;
  fr_error err = {{0}};
  fr_status st = fr_gallery_face_thumb(ctx->gallery, id, &jpeg, &len, &err);
  if (st == FR_OK && (!jpeg || len == 0)) st = FR_ERR_NOT_FOUND;
  if (st == FR_ERR_NOT_FOUND) {
    free(jpeg);
    fr__herr e;
    fr__herr_set(&e, FR__HERR_IMAGE_NOT_FOUND, "Image %s not found", id);
    fr__reply_cf_error(resp, &e);
    return;
  }
  if (st != FR_OK) {
    reply_gallery_error(resp, st, &err, "read image");
    return;
  }
  resp->status = 200;
  resp->bytes = jpeg;
  resp->bytes_len = len;
  resp->content_type = "image/jpeg";
}
