/*
 * The route table of `facerec serve`: method, path pattern, the role a key
 * needs, the body cap, the handler and the metrics label. The server checks all
 * of it before a handler runs. Literal paths come before patterns that could
 * match them ("/faces/delete" before "/faces/{image_id}"); the server takes the
 * first match. /healthz and /metrics are the server core's own.
 *
 * Roles: recognize, verify and detect need a "recognize" key (admin keys may
 * too); everything that reads or changes the face collection needs "admin".
 */
#include "http/handlers.h"
#include "http/server.h" /* FR__HTTP_BODY_VIDEO */

#define R_IMG FR__HTTP_BODY_IMAGE
#define R_TWO FR__HTTP_BODY_TWO_IMAGES
#define R_JSON FR__HTTP_BODY_JSON
#define CF "/api/v1/recognition"

const fr_http_route fr_http_routes[] = {
    /* the seed's API */
    {"GET", "/recognition", FR_ROLE_RECOGNIZE, 0, fr__h_seed_state, "recognition_state"},
    {"POST", "/recognition", FR_ROLE_RECOGNIZE, R_IMG, fr__h_seed_recognize, "recognition"},

    /* CompreFace 1.x: recognition service */
    {"POST", CF "/recognize", FR_ROLE_RECOGNIZE, R_IMG, fr__h_cf_recognize, "cf_recognize"},
    {"POST", CF "/faces", FR_ROLE_ADMIN, R_IMG, fr__h_cf_face_add, "cf_faces_add"},
    {"GET", CF "/faces", FR_ROLE_ADMIN, 0, fr__h_cf_face_list, "cf_faces_list"},
    {"DELETE", CF "/faces", FR_ROLE_ADMIN, 0, fr__h_cf_face_delete_by_subject,
     "cf_faces_delete_subject"},
    {"POST", CF "/faces/delete", FR_ROLE_ADMIN, R_JSON, fr__h_cf_face_delete_many,
     "cf_faces_delete_many"},
    {"DELETE", CF "/faces/{image_id}", FR_ROLE_ADMIN, 0, fr__h_cf_face_delete, "cf_faces_delete"},
    {"GET", CF "/faces/{image_id}/img", FR_ROLE_ADMIN, 0, fr__h_cf_face_img, "cf_faces_img"},
    {"POST", CF "/faces/{image_id}/verify", FR_ROLE_RECOGNIZE, R_IMG, fr__h_cf_verify_face,
     "cf_faces_verify"},
    {"POST", CF "/subjects", FR_ROLE_ADMIN, R_JSON, fr__h_cf_subject_add, "cf_subjects_add"},
    {"GET", CF "/subjects", FR_ROLE_ADMIN, 0, fr__h_cf_subject_list, "cf_subjects_list"},
    {"DELETE", CF "/subjects", FR_ROLE_ADMIN, 0, fr__h_cf_subject_delete_all,
     "cf_subjects_delete_all"},
    {"PUT", CF "/subjects/{subject}", FR_ROLE_ADMIN, R_JSON, fr__h_cf_subject_rename,
     "cf_subjects_rename"},
    {"DELETE", CF "/subjects/{subject}", FR_ROLE_ADMIN, 0, fr__h_cf_subject_delete,
     "cf_subjects_delete"},

    /* CompreFace 1.x: verification and detection services */
    {"POST", "/api/v1/verification/verify", FR_ROLE_RECOGNIZE, R_TWO, fr__h_cf_verification,
     "cf_verification"},
    {"POST", "/api/v1/detection/detect", FR_ROLE_RECOGNIZE, R_IMG, fr__h_cf_detect, "cf_detect"},

    /* video: uploads, and the camera monitors' events */
    {"POST", "/api/v1/video/recognize", FR_ROLE_RECOGNIZE, FR__HTTP_BODY_VIDEO,
     fr__h_video_recognize, "video_recognize"},
    {"GET", "/api/v1/events", FR_ROLE_RECOGNIZE, 0, fr__h_events, "events"},

    /* documentation */
    {"GET", "/openapi.json", FR_ROLE_NONE, 0, fr__h_openapi, "openapi"},
};

const int fr_http_n_routes = (int)(sizeof fr_http_routes / sizeof fr_http_routes[0]);
