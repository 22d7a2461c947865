/*
 * GET /openapi.json: an OpenAPI 3.0 document built from the route table (paths,
 * methods, path parameters, security, body caps) and the hand-written per-route
 * notes and schemas below. A route missing from the notes still appears, with
 * its metrics name as summary.
 */
#include <stdio.h>
#include <string.h>

#include "http/handlers.h"

typedef enum { B_NONE, B_IMAGE, B_SEED_IMAGE, B_TWO_IMAGES, B_SUBJECT, B_IDS, B_VIDEO } body_kind;

typedef struct route_doc {
  const char *name;
  const char *tag;
  const char *summary;
  const char *params; /* "name|type|description;..." query parameters */
  body_kind body;
  int ok_status;
  const char *schema; /* components/schemas name of the success body */
  const char *errors; /* HTTP statuses this route may answer, e.g. "400,404" */
} route_doc;

#define P_LIMIT "limit|integer|maximum number of faces, the largest first; 0 = all (default 0);"
#define P_DET "det_prob_threshold|number|minimum detection confidence 0..1 (default: the detector's);"
#define P_PLUG "face_plugins|string|comma-separated: landmarks, calculator (embedding);"
#define P_STATUS "status|boolean|include execution_time (default false);"

static const route_doc docs[] = {
    {"recognition_state", "seed", "Service state: models, thresholds, subjects and faces counted",
     "", B_NONE, 200, "ServiceState", "500"},
    {"recognition", "seed", "Recognize every face of an image (seed API)",
     "threshold|number|similarity needed to name a face, -1..1 (default: the recognizer's);" P_DET,
     B_SEED_IMAGE, 200, "SeedResult", "400,413,415,500"},
    {"cf_recognize", "recognition", "Recognize faces from a given image (CompreFace)",
     P_LIMIT P_DET "prediction_count|integer|subjects per face, -1 = all (default 1);" P_PLUG P_STATUS,
     B_IMAGE, 200, "RecognizeResponse", "400,413,415,500"},
    {"cf_faces_add", "recognition", "Add an example of a subject (one face per image)",
     "subject|string|required: the subject's name (created if missing);" P_DET, B_IMAGE, 201,
     "FaceRef", "400,413,415,500"},
    {"cf_faces_list", "recognition", "List saved examples, paged",
     "page|integer|page number from 0 (default 0);size|integer|page size 1..2000 (default 20);"
     "subject|string|only this subject's examples;",
     B_NONE, 200, "FacesPage", "500"},
    {"cf_faces_delete_subject", "recognition",
     "Delete all examples of a subject (and the subject), or every example without subject",
     "subject|string|the subject (absent: everything);", B_NONE, 200, "Deleted", "500"},
    {"cf_faces_delete_many", "recognition", "Delete several examples by id (unknown ids ignored)",
     "", B_IDS, 200, "FaceRefList", "400,500"},
    {"cf_faces_delete", "recognition", "Delete an example by id", "", B_NONE, 200, "FaceRef",
     "404,500"},
    {"cf_faces_img", "recognition", "Download the stored (aligned 112x112) face image", "", B_NONE,
     200, NULL, "404,500"},
    {"cf_faces_verify", "recognition", "Compare the faces of an image with a stored example",
     P_LIMIT P_DET P_PLUG P_STATUS, B_IMAGE, 200, "VerifyFaceResponse", "400,404,413,415,500"},
    {"cf_subjects_add", "subjects", "Add a subject", "", B_SUBJECT, 201, "Subject", "400,500"},
    {"cf_subjects_list", "subjects", "List subjects", "", B_NONE, 200, "Subjects", "500"},
    {"cf_subjects_delete_all", "subjects", "Delete every subject and its examples", "", B_NONE, 200,
     "Deleted", "500"},
    {"cf_subjects_rename", "subjects",
     "Rename a subject (an existing new name answers 400 code 43)", "", B_SUBJECT, 200, "Updated",
     "400,404,500"},
    {"cf_subjects_delete", "subjects", "Delete a subject and its examples", "", B_NONE, 200,
     "Subject", "404,500"},
    {"cf_verification", "verification",
     "Compare the one face of source_image with every face of target_image",
     P_LIMIT P_DET P_PLUG P_STATUS, B_TWO_IMAGES, 200, "VerificationResponse",
     "400,413,415,500"},
    {"cf_detect", "detection", "Detect faces", P_LIMIT P_DET P_PLUG P_STATUS, B_IMAGE, 200,
     "DetectResponse", "400,413,415,500"},
    {"video_recognize", "video",
     "Follow and recognize the faces of a video: track events as `facerec video --json`",
     "every|integer|run detection every N-th frame, 1..1000 (default 1);"
     "threshold|number|similarity needed to name a track, -1..1 (default: the recognizer's);"
     "max_frames|integer|decode at most this many frames (default and cap: the server's, 9000);"
     P_DET,
     B_VIDEO, 200, "VideoResponse", "400,413,415,500"},
    {"events", "video", "Recent track events of the camera monitors (facerec serve --camera)",
     "since|integer|only events with a larger seq (default 0), e.g. the last answer's next;"
     "camera|string|only this camera's events;"
     "limit|integer|at most this many events, 1..1000 (default 1000);",
     B_NONE, 200, "CameraEvents", "400"},
    {"openapi", "operations", "This document", "", B_NONE, 200, NULL, ""},
};

static const char schemas_json[] =
    "{"
    "\"Error\":{\"type\":\"object\",\"required\":[\"message\",\"code\"],\"properties\":{"
    "\"message\":{\"type\":\"string\"},\"code\":{\"type\":\"integer\",\"description\":"
    "\"CompreFace code: 12 bad prediction_count, 21 bad/empty/too large image or base64, 26 invalid "
    "argument, 28 no face, 31 more than one face, 33 missing parameter, 34 missing file, 36 bad "
    "JSON, 41 internal, 42 subject not found, 43 subject exists, 44 image not found\"}}},"
    "\"SeedError\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"string\",\"enum\":["
    "\"error during prediction\"]},\"error\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"}}},"
    "\"SeedResult\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"description\":\"subject, "
    "or unknown\"},\"similarity\":{\"type\":\"number\"},\"box\":{\"type\":\"object\",\"properties\":"
    "{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"},\"w\":{\"type\":\"integer\"},\"h\":{"
    "\"type\":\"integer\"}}}}}},\"execution_time_ms\":{\"type\":\"number\"}}},"
    "\"ServiceState\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},"
    "\"models\":{\"type\":\"object\"},\"thresholds\":{\"type\":\"object\"},\"subjects\":{\"type\":"
    "\"integer\"},\"faces\":{\"type\":\"integer\"},\"other_model_faces\":{\"type\":\"integer\"},"
    "\"workers\":{\"type\":\"integer\"},\"uptime_s\":{\"type\":\"number\"}}},"
    "\"Box\":{\"type\":\"object\",\"properties\":{\"probability\":{\"type\":\"number\"},\"x_max\":{"
    "\"type\":\"integer\"},\"y_max\":{\"type\":\"integer\"},\"x_min\":{\"type\":\"integer\"},\"y_min"
    "\":{\"type\":\"integer\"}}},"
    "\"Face\":{\"type\":\"object\",\"properties\":{\"box\":{\"$ref\":\"#/components/schemas/Box\"},"
    "\"landmarks\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}"
    "}},\"embedding\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}},\"execution_time\":{"
    "\"type\":\"object\"}}},"
    "\"RecognizeResponse\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"array\","
    "\"items\":{\"allOf\":[{\"$ref\":\"#/components/schemas/Face\"},{\"type\":\"object\","
    "\"properties\":{\"subjects\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"subject\":{\"type\":\"string\"},\"similarity\":{\"type\":\"number\"}}}}}}]}},"
    "\"plugins_versions\":{\"type\":\"object\"}}},"
    "\"DetectResponse\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"array\",\"items\""
    ":{\"$ref\":\"#/components/schemas/Face\"}},\"plugins_versions\":{\"type\":\"object\"}}},"
    "\"VerifyFaceResponse\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"array\","
    "\"items\":{\"allOf\":[{\"$ref\":\"#/components/schemas/Face\"},{\"type\":\"object\","
    "\"properties\":{\"subject\":{\"type\":\"string\"},\"similarity\":{\"type\":\"number\"}}}]}},"
    "\"plugins_versions\":{\"type\":\"object\"}}},"
    "\"VerificationResponse\":{\"type\":\"object\",\"properties\":{\"result\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"source_image_face\":{\"$ref\":\"#/components/"
    "schemas/Face\"},\"face_matches\":{\"type\":\"array\",\"items\":{\"allOf\":[{\"$ref\":\"#/"
    "components/schemas/Face\"},{\"type\":\"object\",\"properties\":{\"similarity\":{\"type\":"
    "\"number\"}}}]}},\"plugins_versions\":{\"type\":\"object\"}}}}}},"
    "\"FaceRef\":{\"type\":\"object\",\"properties\":{\"image_id\":{\"type\":\"string\",\"format\":"
    "\"uuid\"},\"subject\":{\"type\":\"string\"}}},"
    "\"FaceRefList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/FaceRef\"}},"
    "\"FacesPage\":{\"type\":\"object\",\"properties\":{\"faces\":{\"type\":\"array\",\"items\":{"
    "\"$ref\":\"#/components/schemas/FaceRef\"}},\"page_number\":{\"type\":\"integer\"},\"page_size"
    "\":{\"type\":\"integer\"},\"total_pages\":{\"type\":\"integer\"},\"total_elements\":{\"type\":"
    "\"integer\"}}},"
    "\"Deleted\":{\"type\":\"object\",\"properties\":{\"deleted\":{\"type\":\"integer\"}}},"
    "\"Subject\":{\"type\":\"object\",\"required\":[\"subject\"],\"properties\":{\"subject\":{"
    "\"type\":\"string\"}}},"
    "\"Subjects\":{\"type\":\"object\",\"properties\":{\"subjects\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"string\"}}}},"
    "\"Updated\":{\"type\":\"object\",\"properties\":{\"updated\":{\"type\":\"boolean\"}}},"
    "\"VideoEvent\":{\"type\":\"object\",\"required\":[\"event\",\"track\"],\"properties\":{"
    "\"event\":{\"type\":\"string\",\"enum\":[\"track_start\",\"identified\",\"track_end\"]},"
    "\"track\":{\"type\":\"integer\"},\"frame\":{\"type\":\"integer\"},\"time\":{\"type\":"
    "\"number\",\"description\":\"seconds into the video\"},\"box\":{\"type\":\"object\","
    "\"properties\":{\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"},\"w\":{\"type\":"
    "\"number\"},\"h\":{\"type\":\"number\"}}},\"score\":{\"type\":\"number\"},\"subject\":{"
    "\"type\":\"string\",\"nullable\":true,\"description\":\"a name, or unknown\"},\"crop\":{"
    "\"type\":\"string\",\"nullable\":true},\"similarity\":{\"type\":\"number\"},\"first_frame\":{\"type\":"
    "\"integer\"},\"last_frame\":{\"type\":\"integer\"},\"best_similarity\":{\"type\":\"number\"},"
    "\"frames\":{\"type\":\"integer\"}}},"
    "\"VideoResponse\":{\"type\":\"object\",\"properties\":{\"events\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/VideoEvent\"}},\"summary\":{\"type\":\"object\","
    "\"properties\":{\"frames\":{\"type\":\"integer\"},\"frames_processed\":{\"type\":\"integer\"},"
    "\"fps\":{\"type\":\"number\"},\"tracks\":{\"type\":\"integer\"},\"subjects\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"subject\":{\"type\":\"string\"},"
    "\"first_frame\":{\"type\":\"integer\"},\"last_frame\":{\"type\":\"integer\"},\"tracks\":{"
    "\"type\":\"integer\"},\"best_similarity\":{\"type\":\"number\"}}}},\"video\":{\"type\":"
    "\"object\"},\"max_frames\":{\"type\":\"integer\"},\"truncated\":{\"type\":\"boolean\"}}},"
    "\"execution_time_ms\":{\"type\":\"number\"}}},"
    "\"CameraEvents\":{\"type\":\"object\",\"properties\":{\"events\":{\"type\":\"array\","
    "\"items\":{\"allOf\":[{\"$ref\":\"#/components/schemas/VideoEvent\"},{\"type\":\"object\","
    "\"properties\":{\"seq\":{\"type\":\"integer\"},\"camera\":{\"type\":\"string\"},\"time\":{"
    "\"type\":\"string\",\"format\":\"date-time\"},\"video_time\":{\"type\":\"number\"}}}]}},"
    "\"next\":{\"type\":\"integer\"},\"missed\":{\"type\":\"integer\"}}}"
    "}";

static const route_doc *doc_of(const char *name) {
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
    if (strcmp(docs[i].name, name) == 0) return &docs[i];
  return NULL;
}

static json_t *ref(const char *schema) {
  char buf[128];
  snprintf(buf, sizeof buf, "#/components/schemas/%s", schema);
  return json_pack("{s:s}", "$ref", buf);
}

static json_t *image_body(const char *const *fields, bool raw, size_t cap) {
  json_t *mp = json_object(), *b64 = json_object();
  for (const char *const *f = fields; *f; f++) {
    json_object_set_new(mp, *f, json_pack("{s:s, s:s}", "type", "string", "format", "binary"));
    json_object_set_new(b64, *f, json_pack("{s:s, s:s}", "type", "string", "format", "byte"));
  }
  json_t *content = json_pack(
      "{s:{s:{s:s, s:o}}, s:{s:{s:s, s:o}}}", "multipart/form-data", "schema", "type", "object",
      "properties", mp, "application/json", "schema", "type", "object", "properties", b64);
  if (raw)
    json_object_set_new(content, "image/*",
                        json_pack("{s:{s:s, s:s}}", "schema", "type", "string", "format", "binary"));
  char desc[160];
  snprintf(desc, sizeof desc,
           "An image (JPEG, PNG, WebP, GIF, BMP) as multipart, base64 in JSON%s; at most %zu bytes",
           raw ? ", or the raw body" : "", cap);
  return json_pack("{s:b, s:s, s:o}", "required", 1, "description", desc, "content", content);
}

static json_t *operation(const fr_http_route *r) {
  const route_doc *d = doc_of(r->name);
  json_t *op = json_object(), *params = json_array();
  json_object_set_new(op, "operationId", json_string(r->name));
  json_object_set_new(op, "summary", json_string(d ? d->summary : r->name));
  if (d) json_object_set_new(op, "tags", json_pack("[s]", d->tag));
  /* path parameters from the pattern */
  for (const char *s = strchr(r->pattern, '{'); s; s = strchr(s + 1, '{')) {
    const char *end = strchr(s, '}');
    if (!end) break;
    json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", s + 1,
                                            (size_t)(end - s - 1), "in", "path", "required", 1,
                                            "schema", "type", "string"));
  }
  /* query parameters "name|type|description;" */
  for (const char *s = d ? d->params : ""; *s;) {
    const char *bar1 = strchr(s, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL,
               *semi = bar2 ? strchr(bar2 + 1, ';') : NULL;
    if (!semi) break;
    bool req = strncmp(bar2 + 1, "required", 8) == 0;
    json_array_append_new(params,
                          json_pack("{s:s%, s:s, s:b, s:s%, s:{s:s%}}", "name", s,
                                    (size_t)(bar1 - s), "in", "query", "required", req,
                                    "description", bar2 + 1, (size_t)(semi - bar2 - 1), "schema",
                                    "type", bar1 + 1, (size_t)(bar2 - bar1 - 1)));
    s = semi + 1;
  }
  if (json_array_size(params)) json_object_set(op, "parameters", params);
  json_decref(params);

  static const char *const cf_file[] = {"file", NULL}, *const seed_file[] = {"image", "file", NULL},
                           *const two[] = {"source_image", "target_image", NULL};
  switch (d ? d->body : B_NONE) {
  case B_IMAGE: json_object_set_new(op, "requestBody", image_body(cf_file, true, r->max_body)); break;
  case B_SEED_IMAGE:
    json_object_set_new(op, "requestBody", image_body(seed_file, true, r->max_body));
    break;
  case B_TWO_IMAGES:
    json_object_set_new(op, "requestBody", image_body(two, false, r->max_body));
    break;
  case B_SUBJECT:
    json_object_set_new(op, "requestBody",
                        json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
                                  "application/json", "schema", ref("Subject")));
    break;
  case B_IDS:
    json_object_set_new(op, "requestBody",
                        json_pack("{s:b, s:{s:{s:{s:s, s:{s:s}}}}}", "required", 1, "content",
                                  "application/json", "schema", "type", "array", "items", "type",
                                  "string"));
    break;
  case B_VIDEO: {
    char desc[160];
    snprintf(desc, sizeof desc,
             "A video (any container and codec FFmpeg decodes) as a multipart 'file' part or the "
             "raw body; at most %zu bytes by default (--max-video-body)",
             r->max_body);
    json_object_set_new(
        op, "requestBody",
        json_pack("{s:b, s:s, s:{s:{s:{s:s, s:{s:{s:s, s:s}}}}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}}",
                  "required", 1, "description", desc, "content", "multipart/form-data", "schema",
                  "type", "object", "properties", "file", "type", "string", "format", "binary",
                  "video/*", "schema", "type", "string", "format", "binary",
                  "application/octet-stream", "schema", "type", "string", "format", "binary"));
    break;
  }
  case B_NONE: break;
  }

  json_t *responses = json_object();
  char code[8];
  snprintf(code, sizeof code, "%d", d ? d->ok_status : 200);
  json_t *ok = json_pack("{s:s}", "description", "success");
  if (strcmp(r->name, "cf_faces_img") == 0)
    json_object_set_new(ok, "content",
                        json_pack("{s:{s:{s:s, s:s}}}", "image/jpeg", "schema", "type", "string",
                                  "format", "binary"));
  else if (strcmp(r->name, "openapi") == 0)
    json_object_set_new(ok, "content", json_pack("{s:{s:{s:s}}}", "application/json", "schema",
                                                 "type", "object"));
  else if (d && d->schema)
    json_object_set_new(ok, "content",
                        json_pack("{s:{s:o}}", "application/json", "schema", ref(d->schema)));
  json_object_set_new(responses, code, ok);
  bool seed = strncmp(r->pattern, "/recognition", 12) == 0;
  for (const char *s = d ? d->errors : ""; *s;) {
    size_t n = strcspn(s, ",");
    char st[8];
    snprintf(st, sizeof st, "%.*s", (int)(n < 7 ? n : 7), s);
    json_object_set_new(responses, st,
                        json_pack("{s:s, s:{s:{s:o}}}", "description", "error", "content",
                                  "application/json", "schema",
                                  ref(seed ? "SeedError" : "Error")));
    s += n + (s[n] == ',');
  }
  if (r->role != FR_ROLE_NONE) {
    json_object_set_new(responses, "401", json_pack("{s:s}", "description", "missing or unknown x-api-key"));
    json_object_set_new(responses, "403", json_pack("{s:s}", "description", "the key's role may not call this"));
    json_object_set_new(op, "security", json_pack("[{s:[]}]", "apiKey"));
    char desc[96];
    snprintf(desc, sizeof desc, "Needs an x-api-key with role %s (once any key exists).",
             r->role == FR_ROLE_ADMIN ? "admin" : "recognize or admin");
    json_object_set_new(op, "description", json_string(desc));
  }
  if (r->max_body) json_object_set_new(responses, "413", json_pack("{s:s}", "description", "body too large"));
  json_object_set_new(responses, "503", json_pack("{s:s}", "description", "busy; retry after Retry-After seconds"));
  json_object_set_new(op, "responses", responses);
  return op;
}

static void lower(const char *m, char *out, size_t n) {
  size_t i = 0;
  for (; m[i] && i + 1 < n; i++) out[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] + 32 : m[i]);
  out[i] = 0;
}

static json_t *plain_get(const char *summary, const char *ctype) {
  return json_pack("{s:{s:s, s:s, s:[s], s:{s:{s:s, s:{s:{s:{s:s}}}}}}}", "get", "summary", summary,
                   "operationId", summary, "tags", "operations", "responses", "200", "description",
                   "success", "content", ctype, "schema", "type", "string");
}

void fr__h_openapi(fr_http_ctx *ctx, int worker, const fr_http_req *req, fr_http_resp *resp) {
  (void)ctx;
  (void)worker;
  (void)req;
  json_error_t je;
  json_t *schemas = json_loads(schemas_json, 0, &je);
  json_t *paths = json_object();
  for (int i = 0; i < fr_http_n_routes; i++) {
    const fr_http_route *r = &fr_http_routes[i];
    json_t *item = json_object_get(paths, r->pattern);
    if (!item) {
      item = json_object();
      json_object_set_new(paths, r->pattern, item);
    }
    char m[16];
    lower(r->method, m, sizeof m);
    json_object_set_new(item, m, operation(r));
  }
  /* the server core's own endpoints */
  json_object_set_new(paths, "/healthz", plain_get("healthz", "application/json"));
  json_object_set_new(paths, "/metrics", plain_get("metrics", "text/plain"));
  json_t *doc = json_pack(
      "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o, s:{s:{s:s, s:s, s:s}}}}", "openapi", "3.0.3", "info",
      "title", "facerec", "version", "1.0",
      "description",
      "Face recognition service: the seed API (/recognition) and a CompreFace 1.x compatible "
      "REST API (/api/v1/...). See docs/api.md.",
      "paths", paths, "components", "schemas", schemas ? schemas : json_object(), "securitySchemes",
      "apiKey", "type", "apiKey", "in", "header", "name", "x-api-key");
  fr_http_json(resp, doc ? 200 : 500, doc);
}
