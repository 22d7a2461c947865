/*
 * Face pipeline: alignment matrices on synthetic landmarks, the detector's
 * prior decoding against the model's own in-graph decoding (golden fixture),
 * detection on labelled photos (face-api.js faces.jpg, dlib's PASCAL VOC test
 * set) and on a photo of dogs, embeddings of LFW pairs against the default
 * threshold, and error propagation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/face_internal.h"
#include "facerec/face.h"
#include "facerec/image.h"
#include "testutil.h"

static const float k_tpl[5][2] = {{38.2946f, 51.6963f},
                                  {73.5318f, 51.5014f},
                                  {56.0252f, 71.7366f},
                                  {41.5493f, 92.3655f},
                                  {70.7299f, 92.2041f}};

static fr_engine *g_engine;
static fr_worker *g_worker;

static const char *shared(const char *rel, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", fr_t_env("FR_SHARED_DIR", "../shared"), rel);
  return buf;
}

static int setup(void) {
  if (g_worker) return 1;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = dir;
  fr_error err;
  fr_status st = fr_engine_create(&cfg, &g_engine, &err);
  CHECK_MSG(st == FR_OK, "engine: %s", err.msg);
  if (st) return 0;
  st = fr_worker_create(g_engine, NULL, &g_worker, &err);
  CHECK_MSG(st == FR_OK, "worker: %s", err.msg);
  return st == FR_OK;
}

static float iou(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh) {
  float iw = fminf(ax + aw, bx + bw) - fmaxf(ax, bx), ih = fminf(ay + ah, by + bh) - fmaxf(ay, by);
  if (iw <= 0 || ih <= 0) return 0;
  return iw * ih / (aw * ah + bw * bh - iw * ih);
}

/* ---- alignment ---- */

TEST(align_template_is_identity) {
  fr_face f;
  memset(&f, 0, sizeof f);
  memcpy(f.landmarks, k_tpl, sizeof k_tpl);
  float m[6];
  fr_face_align_matrix(&f, m);
  const float id[6] = {1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 6; i++) CHECK_MSG(fabsf(m[i] - id[i]) < 1e-4f, "m[%d] = %g", i, m[i]);
}

TEST(align_recovers_similarity) {
  /* landmarks = s R template + t: the matrix maps each template point onto its landmark */
  const float s = 2.5f, th = 0.5236f, tx = 140.0f, ty = -30.0f;
  fr_face f;
  memset(&f, 0, sizeof f);
  for (int i = 0; i < 5; i++) {
    f.landmarks[i][0] = s * (cosf(th) * k_tpl[i][0] - sinf(th) * k_tpl[i][1]) + tx;
    f.landmarks[i][1] = s * (sinf(th) * k_tpl[i][0] + cosf(th) * k_tpl[i][1]) + ty;
  }
  float m[6];
  fr_face_align_matrix(&f, m);
  CHECK_MSG(fabsf(m[0] - s * cosf(th)) < 1e-3f && fabsf(m[3] - s * sinf(th)) < 1e-3f, "m = %g %g %g %g", m[0],
            m[1], m[3], m[4]);
  CHECK(fabsf(m[2] - tx) < 1e-2f && fabsf(m[5] - ty) < 1e-2f);
  for (int i = 0; i < 5; i++) {
    float x = m[0] * k_tpl[i][0] + m[1] * k_tpl[i][1] + m[2];
    float y = m[3] * k_tpl[i][0] + m[4] * k_tpl[i][1] + m[5];
    CHECK_MSG(fabsf(x - f.landmarks[i][0]) < 1e-2f && fabsf(y - f.landmarks[i][1]) < 1e-2f,
              "point %d -> %g,%g vs %g,%g", i, x, y, f.landmarks[i][0], f.landmarks[i][1]);
  }
  /* mirrored landmarks: the fit stays a rotation (no reflection): det > 0 */
  for (int i = 0; i < 5; i++) f.landmarks[i][0] = -f.landmarks[i][0];
  fr_face_align_matrix(&f, m);
  CHECK(m[0] * m[4] - m[1] * m[3] > 0);
  /* noisy points: least squares, close to the truth */
  unsigned seed = 7;
  for (int i = 0; i < 5; i++) {
    f.landmarks[i][0] = s * k_tpl[i][0] + 10 + fr_t_randf(&seed);
    f.landmarks[i][1] = s * k_tpl[i][1] + 20 + fr_t_randf(&seed);
  }
  fr_face_align_matrix(&f, m);
  CHECK_MSG(fabsf(m[0] - s) < 0.05f && fabsf(m[3]) < 0.05f, "noisy fit %g %g", m[0], m[3]);
  /* degenerate landmarks fall back to the box instead of dividing by zero */
  memset(&f, 0, sizeof f);
  f.x = 10, f.y = 20, f.w = 112, f.h = 112;
  fr_face_align_matrix(&f, m);
  for (int i = 0; i < 6; i++) CHECK(isfinite(m[i]));
}

/* ---- detector decoding vs the graph's own decoding (fr_detect golden fixture) ---- */

static float *read_f32(const char *path, size_t *n) {
  size_t len = 0;
  float *p = fr_t_read_file(path, &len);
  *n = len / 4;
  return p;
}

TEST(detect_decode_matches_graph) {
  if (!setup()) return;
  char p[1024], base[900];
  shared("fixtures/onnx/fr_detect/Aaron_Eckhart_0001", base, sizeof base);
  size_t nl, nr, nb, ns;
  snprintf(p, sizeof p, "%s/461.f32", base);
  float *lg = read_f32(p, &nl);
  snprintf(p, sizeof p, "%s/462.f32", base);
  float *rg = read_f32(p, &nr);
  snprintf(p, sizeof p, "%s/boxes.f32", base);
  float *bx = read_f32(p, &nb);
  snprintf(p, sizeof p, "%s/scores.f32", base);
  float *sc = read_f32(p, &ns);
  CHECK_MSG(lg && rg && bx && sc, "fixture files in %s", base);
  if (lg && rg && bx && sc) {
    CHECK(fr__detect_prior_count(320, 240) == 4420 && nl == 2 * 4420 && nr == 4 * 4420 && nb == 4 * 4420);
    size_t nc = 0;
    fr_error err;
    CHECK_STATUS(fr__detect_decode(g_worker, lg, rg, 320, 240, 1.0f, 1.0f, 0.0f, &nc, &err), FR_OK);
    CHECK(nc == 4420);
    float worst_box = 0, worst_score = 0;
    for (size_t i = 0; i < nc && i < 4420; i++) {
      const fr__cand *c = &g_worker->cand[i];
      const float v[4] = {c->x1, c->y1, c->x2, c->y2};
      for (int k = 0; k < 4; k++) worst_box = fmaxf(worst_box, fabsf(v[k] - bx[4 * i + k]));
      worst_score = fmaxf(worst_score, fabsf(c->score - sc[2 * i + 1]));
    }
    CHECK_MSG(worst_box < 1e-5f && worst_score < 1e-5f, "box diff %g score diff %g", worst_box, worst_score);
  }
  free(lg);
  free(rg);
  free(bx);
  free(sc);
}

/* ---- detection on labelled photos ---- */

static int load(const char *rel, fr_image *img) {
  char p[1024];
  fr_error err;
  fr_status st = fr_image_load(shared(rel, p, sizeof p), NULL, img, &err);
  CHECK_MSG(st == FR_OK, "%s: %s", p, err.msg);
  return st == FR_OK;
}

/* Fraction of the CSV's boxes for `file` (columns: key,x,y,w,h after `skip` leading columns) found with IoU >= 0.4. */
static void check_boxes(const char *csv_rel, const char *key, int skip, const char *img_rel, int *found, int *total) {
  fr_image img = {0};
  if (!load(img_rel, &img)) return;
  fr_face faces[128];
  int n = 0;
  fr_error err;
  CHECK_STATUS(fr_detect(g_worker, &img, fr_engine_config_of(g_engine)->min_score, faces, 128, &n, &err), FR_OK);
  for (int i = 0; i < n; i++) {
    /* landmarks lie in (or near) their box, eyes above the mouth */
    const fr_face *f = &faces[i];
    for (int k = 0; k < 5; k++)
      CHECK(f->landmarks[k][0] > f->x - 0.3f * f->w && f->landmarks[k][0] < f->x + 1.3f * f->w &&
            f->landmarks[k][1] > f->y - 0.3f * f->h && f->landmarks[k][1] < f->y + 1.3f * f->h);
    CHECK(f->landmarks[0][1] < f->landmarks[3][1] && f->landmarks[0][0] < f->landmarks[1][0]);
    CHECK(i == 0 || faces[i - 1].score >= f->score);
  }
  char p[1024];
  size_t len;
  char *csv = fr_t_read_file(shared(csv_rel, p, sizeof p), &len);
  CHECK_MSG(csv != NULL, "%s", p);
  for (char *line = csv ? strtok(csv, "\n") : NULL; line; line = strtok(NULL, "\n")) {
    char *col[8] = {0};
    int nc = 0;
    for (char *c = line; nc < 8;) {
      col[nc++] = c;
      c = strchr(c, ',');
      if (!c) break;
      *c++ = 0;
    }
    if (nc < skip + 5 || !strstr(col[skip], key)) continue;
    float x = strtof(col[skip + 1], NULL), y = strtof(col[skip + 2], NULL), w = strtof(col[skip + 3], NULL),
          h = strtof(col[skip + 4], NULL);
    if (nc > skip + 5 && col[skip + 5][0] == '1' && !strcmp(csv_rel, "data/dlib-faces/boxes.csv")) continue;
    (*total)++;
    float best = 0;
    for (int i = 0; i < n; i++) best = fmaxf(best, iou(x, y, w, h, faces[i].x, faces[i].y, faces[i].w, faces[i].h));
    if (best >= 0.4f) (*found)++;
    else fprintf(stderr, "  missed %s [%g %g %g %g] best IoU %.2f\n", img_rel, x, y, w, h, best);
  }
  free(csv);
  fr_image_free(&img);
}

TEST(detect_faces_jpg) {
  if (!setup()) return;
  int found = 0, total = 0;
  check_boxes("data/samples/face-api.js/faces_jpg_boxes_and_identities.csv", "faces.jpg", 0,
              "data/samples/face-api.js/test/images/faces.jpg", &found, &total);
  CHECK_MSG(total == 6 && found == 6, "faces.jpg: %d of %d faces found", found, total);
}

TEST(detect_dlib_testing_set) {
  if (!setup()) return;
  static const char *files[] = {"2008_002470.jpg", "2008_002506.jpg", "2008_004176.jpg", "2008_007676.jpg",
                                "2009_004587.jpg", "2007_007763.jpg", "2008_001009.jpg", "2008_001322.jpg",
                                "2008_002079.jpg"};
  int found = 0, total = 0;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, "data/dlib-faces/%s", files[i]);
    check_boxes("data/dlib-faces/boxes.csv", files[i], 1, rel, &found, &total);
  }
  CHECK_MSG(total >= 40 && found >= 0.9 * total, "dlib faces: %d of %d found", found, total);
  printf("  dlib-faces: %d of %d labelled faces found (IoU >= 0.4)\n", found, total);
}

TEST(no_face_on_dogs) {
  if (!setup()) return;
  fr_image img = {0};
  if (!load("data/dlib-faces/dogs.jpg", &img)) return;
  fr_face faces[16];
  int n = -1;
  fr_error err;
  CHECK_STATUS(fr_detect(g_worker, &img, fr_engine_config_of(g_engine)->min_score, faces, 16, &n, &err), FR_OK);
  CHECK_MSG(n == 0, "%d faces on the dogs photo (first score %.3f)", n, n > 0 ? faces[0].score : 0);
  /* a very low threshold does return candidates: the threshold is what filters */
  CHECK_STATUS(fr_detect(g_worker, &img, 0.01f, faces, 16, &n, &err), FR_OK);
  CHECK(n > 0);
  fr_image_free(&img);
}

TEST(detect_is_repeatable_across_sizes) {
  if (!setup()) return;
  fr_image a = {0}, b = {0};
  if (!load("data/samples/face-api.js/test/images/faces.jpg", &a) ||
      !load("data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg", &b))
    goto out;
  fr_face f1[64], f2[64], f3[64];
  int n1, n2, n3;
  fr_error err;
  CHECK_STATUS(fr_detect(g_worker, &a, 0.5f, f1, 64, &n1, &err), FR_OK);
  CHECK_STATUS(fr_detect(g_worker, &b, 0.5f, f2, 64, &n2, &err), FR_OK);
  CHECK_STATUS(fr_detect(g_worker, &a, 0.5f, f3, 64, &n3, &err), FR_OK);
  CHECK(n1 == n3 && n1 > 0 && memcmp(f1, f3, (size_t)n1 * sizeof *f1) == 0);
  CHECK(n2 == 1);
  /* max_faces caps the output */
  CHECK_STATUS(fr_detect(g_worker, &a, 0.5f, f3, 2, &n3, &err), FR_OK);
  CHECK(n3 == 2 && f3[0].score == f1[0].score);
out:
  fr_image_free(&a);
  fr_image_free(&b);
}

/* ---- embeddings ---- */

static int embed_file(const char *rel, float *emb, fr_image *aligned) {
  fr_image img = {0};
  if (!load(rel, &img)) return 0;
  fr_face faces[8];
  int n = 0;
  fr_error err;
  fr_status st = fr_detect(g_worker, &img, fr_engine_config_of(g_engine)->min_score, faces, 8, &n, &err);
  CHECK_MSG(st == FR_OK && n >= 1, "%s: %d faces (%s)", rel, n, st ? err.msg : "");
  if (n >= 1) CHECK_STATUS(fr_embed_face(g_worker, &img, &faces[0], emb, aligned, &err), FR_OK);
  fr_image_free(&img);
  return n >= 1;
}

TEST(embed_same_and_different_people) {
  if (!setup()) return;
  const int dim = fr_engine_embed_dim(g_engine);
  CHECK(dim == 512 && strstr(fr_engine_model_id(g_engine), "fr_feature"));
  const float thr = fr_engine_default_threshold(g_engine);
  float a[512], b[512], c[512];
  fr_image al = {0};
  if (!embed_file("data/lfw-view1/images/Abdullah_Gul/Abdullah_Gul_0013.jpg", a, &al) ||
      !embed_file("data/lfw-view1/images/Abdullah_Gul/Abdullah_Gul_0014.jpg", b, NULL) ||
      !embed_file("data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg", c, NULL)) {
    fr_image_free(&al);
    return;
  }
  double n = 0;
  for (int i = 0; i < dim; i++) n += (double)a[i] * a[i];
  CHECK(fabs(n - 1.0) < 1e-4);
  float same = fr_cosine(a, b, dim), diff1 = fr_cosine(a, c, dim), diff2 = fr_cosine(b, c, dim);
  printf("  same %.3f, different %.3f %.3f, threshold %.3f\n", same, diff1, diff2, thr);
  CHECK_MSG(same > thr + 0.15f, "same person %.3f vs threshold %.3f", same, thr);
  CHECK_MSG(diff1 < thr && diff2 < thr, "different people %.3f %.3f vs threshold %.3f", diff1, diff2, thr);
  /* the crop handed back is the one that was embedded */
  CHECK(al.w == 112 && al.h == 112);
  float a2[512];
  fr_error err;
  CHECK_STATUS(fr_embed_aligned(g_worker, &al, a2, &err), FR_OK);
  CHECK(memcmp(a, a2, sizeof a) == 0);
  fr_image_free(&al);
}

TEST(align_crop_matches_embed_crop) {
  if (!setup()) return;
  fr_image img = {0};
  if (!load("data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg", &img)) return;
  fr_face f[4];
  int n = 0;
  fr_error err;
  CHECK_STATUS(fr_detect(g_worker, &img, 0.5f, f, 4, &n, &err), FR_OK);
  if (n >= 1) {
    fr_image a = {0}, b = {0};
    float emb[512];
    CHECK_STATUS(fr_face_align(&img, &f[0], &a, &err), FR_OK);
    CHECK_STATUS(fr_embed_face(g_worker, &img, &f[0], emb, &b, &err), FR_OK);
    CHECK(a.w == 112 && b.w == 112);
    int same = 1;
    for (int y = 0; y < 112 && a.px && b.px; y++)
      same &= memcmp(a.px + (size_t)y * a.stride, b.px + (size_t)y * b.stride, 336) == 0;
    CHECK(same);
    /* the eyes land on the template: the aligned face is not black */
    long sum = 0;
    for (int y = 40; y < 60 && a.px; y++)
      for (int x = 30; x < 80; x++) sum += a.px[(size_t)y * a.stride + 3 * x];
    CHECK(sum > 20 * 50 * 20);
    fr_image_free(&a);
    fr_image_free(&b);
  }
  fr_image_free(&img);
}

/* ---- errors ---- */

/* min_face: nothing smaller is reported, the finer pyramid levels are skipped,
 * and the faces well above min_face are still found. */
static void min_face_case(const char *rel) {
  char path[1024], dir[1024];
  fr_image img = {0};
  fr_error err;
  fr_status st = fr_image_load(shared(rel, path, sizeof path), NULL, &img, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  if (st) return;
  snprintf(dir, sizeof dir, "%s/models", fr_t_env("FR_SOURCE_DIR", "."));
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = dir;
  cfg.min_face = 40;
  fr_engine *e = NULL;
  fr_worker *w = NULL;
  static fr_face all[FR_FACES_MAX], big[FR_FACES_MAX];
  int na = 0, nb = 0;
  CHECK_STATUS(fr_engine_create(&cfg, &e, &err), FR_OK);
  if (e) CHECK_STATUS(fr_worker_create(e, NULL, &w, &err), FR_OK);
  if (w) {
    CHECK_STATUS(fr_detect(g_worker, &img, 0.6f, all, FR_FACES_MAX, &na, &err), FR_OK);
    CHECK_STATUS(fr_detect(w, &img, 0.6f, big, FR_FACES_MAX, &nb, &err), FR_OK);
    for (int i = 0; i < nb; i++)
      CHECK_MSG(fmaxf(big[i].w, big[i].h) >= 40, "%s: a %.0fx%.0f face under min_face 40", rel,
                big[i].w, big[i].h);
    int want = 0, found = 0;
    for (int i = 0; i < na; i++) {
      if (fmaxf(all[i].w, all[i].h) < 64) continue;
      want++;
      for (int j = 0; j < nb; j++)
        if (iou(all[i].x, all[i].y, all[i].w, all[i].h, big[j].x, big[j].y, big[j].w, big[j].h) >= 0.5f) {
          found++;
          break;
        }
    }
    printf("  %s: %d faces (all sizes), %d with min_face 40; %d of %d faces >= 64 px kept\n", rel, na,
           nb, found, want);
    CHECK(want > 0 && found == want);
  }
  fr_worker_free(w);
  fr_engine_free(e);
  fr_image_free(&img);
}

TEST(min_face_skips_fine_levels) {
  if (!setup()) return;
  min_face_case("data/samples/face-api.js/test/images/faces.jpg");
  min_face_case("data/wider-dev/images/0--Parade/0_Parade_Parade_0_470.jpg");
}

TEST(errors_propagate) {
  fr_error err;
  fr_engine *e = NULL;
  fr_engine_config cfg = fr_engine_default_config();
  cfg.models_dir = "/nonexistent-models-dir";
  CHECK(fr_engine_create(&cfg, &e, &err) != FR_OK && e == NULL);
  CHECK_MSG(strstr(err.msg, "fr_detect.onnx") != NULL, "%s", err.msg);
  cfg = fr_engine_default_config();
  cfg.min_score = 2.0f;
  CHECK_STATUS(fr_engine_create(&cfg, &e, &err), FR_ERR_INVALID_ARG);
  if (!setup()) return;
  fr_image empty = {0};
  fr_face f[4];
  int n = 5;
  CHECK_STATUS(fr_detect(g_worker, &empty, 0.5f, f, 4, &n, &err), FR_ERR_INVALID_ARG);
  CHECK(n == 0);
  fr_image img = {0};
  if (!load("data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg", &img)) return;
  CHECK_STATUS(fr_detect(g_worker, &img, -0.5f, f, 4, &n, &err), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_detect(g_worker, &img, 0.5f, NULL, 4, &n, &err), FR_ERR_INVALID_ARG);
  float emb[512];
  CHECK_STATUS(fr_embed_aligned(g_worker, &img, emb, &err), FR_ERR_INVALID_ARG); /* not 112x112 */
  CHECK(strstr(err.msg, "112x112") != NULL);
  /* a decode error reaches the caller as a status and a message, and the
   * pipeline is not entered */
  char p[1024];
  snprintf(p, sizeof p, "%s/face_test_truncated.jpg", fr_t_env("FR_BUILD_DIR", "/tmp"));
  size_t len;
  char src[1024];
  unsigned char *bytes = fr_t_read_file(shared("data/lfw-view1/images/AJ_Cook/AJ_Cook_0001.jpg", src,
                                               sizeof src),
                                        &len);
  FILE *fp = fopen(p, "wb");
  CHECK(bytes && fp);
  if (bytes && fp) {
    fwrite(bytes, 1, 200, fp);
    fclose(fp);
    fr_image bad = {0};
    CHECK(fr_image_load(p, NULL, &bad, &err) != FR_OK);
    CHECK(bad.px == NULL);
    CHECK_STATUS(fr_detect(g_worker, &bad, 0.5f, f, 4, &n, &err), FR_ERR_INVALID_ARG);
    remove(p);
  } else if (fp) {
    fclose(fp);
  }
  free(bytes);
  fr_image_free(&img);
}

TEST(sort_largest_first) {
  /* areas 100, 400, 400, 50; the two 400s differ in score */
  fr_face f[4];
  memset(f, 0, sizeof f);
  const float wh[4][2] = {{10, 10}, {20, 20}, {40, 10}, {5, 10}}, sc[4] = {0.99f, 0.7f, 0.9f, 0.8f};
  for (int i = 0; i < 4; i++) {
    f[i].w = wh[i][0];
    f[i].h = wh[i][1];
    f[i].score = sc[i];
  }
  fr_faces_sort_largest_first(f, 4);
  const float want_w[4] = {40, 20, 10, 5}; /* 400 @ 0.9, 400 @ 0.7, 100, 50 */
  for (int i = 0; i < 4; i++) CHECK_MSG(f[i].w == want_w[i], "face %d: w %g, want %g", i, f[i].w, want_w[i]);
  fr_faces_sort_largest_first(NULL, 0); /* no-ops */
  fr_faces_sort_largest_first(f, 1);
  CHECK(f[0].w == 40);
}

TEST(teardown) {
  fr_worker_free(g_worker);
  fr_engine_free(g_engine);
  g_worker = NULL;
  g_engine = NULL;
}

RUN_TESTS(T(align_template_is_identity), T(align_recovers_similarity), T(detect_decode_matches_graph),
          T(detect_faces_jpg), T(detect_dlib_testing_set), T(no_face_on_dogs),
          T(detect_is_repeatable_across_sizes), T(embed_same_and_different_people),
          T(align_crop_matches_embed_crop), T(min_face_skips_fine_levels), T(errors_propagate),
          T(sort_largest_first), T(teardown))
