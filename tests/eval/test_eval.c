/* Evaluation protocols: LFW pair lists and metrics, pairs CSV, WIDER FACE AP. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/eval.h"
#include "testutil.h"

#define NEAR(a, b, eps) (fabs((double)(a) - (double)(b)) <= (eps))

/* ------------------------------------------------------------- LFW parsing */

TEST(lfw_view1_parse) {
  const char *t = "2\nAaron_Peirsol\t1\t2\nB 1 3\r\nA 1 Bob_X 2\nC 4 D 5\n\n";
  fr_lfw_pairs p = {0};
  fr_error err = {{0}};
  CHECK_STATUS(fr_lfw_pairs_parse(t, strlen(t), "v1", &p, &err), FR_OK);
  CHECK(p.folds == 1 && p.per_fold == 2 && p.n == 4);
  if (p.n == 4) {
    CHECK(strcmp(p.pairs[0].name_a, "Aaron_Peirsol") == 0 && p.pairs[0].num_a == 1 &&
          p.pairs[0].num_b == 2 && p.pairs[0].same == 1);
    CHECK(strcmp(p.pairs[1].name_b, "B") == 0 && p.pairs[1].num_b == 3 && p.pairs[1].line == 3);
    CHECK(strcmp(p.pairs[2].name_a, "A") == 0 && strcmp(p.pairs[2].name_b, "Bob_X") == 0 &&
          p.pairs[2].same == 0 && p.pairs[2].num_b == 2);
    CHECK(p.pairs[3].fold == 0 && p.pairs[3].line == 5);
  }
  fr_lfw_pairs_free(&p);
  fr_lfw_pairs_free(&p); /* idempotent */
}

TEST(lfw_view2_folds) {
  const char *t = "2 1\nA 1 2\nA 1 B 1\nC 1 2\nC 1 D 1";
  fr_lfw_pairs p = {0};
  CHECK_STATUS(fr_lfw_pairs_parse(t, strlen(t), "v2", &p, NULL), FR_OK);
  CHECK(p.folds == 2 && p.per_fold == 1 && p.n == 4);
  if (p.n == 4)
    CHECK(p.pairs[0].fold == 0 && p.pairs[1].fold == 0 && p.pairs[2].fold == 1 &&
          p.pairs[3].fold == 1);
  fr_lfw_pairs_free(&p);
}

static void expect_lfw_error(const char *t, const char *needle) {
  fr_lfw_pairs p = {0};
  fr_error err = {{0}};
  fr_status st = fr_lfw_pairs_parse(t, strlen(t), "f.txt", &p, &err);
  CHECK_MSG(st == FR_ERR_FORMAT, "'%s' gave %d", t, (int)st);
  CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
  CHECK(p.pairs == NULL && p.n == 0);
}

TEST(lfw_errors) {
  expect_lfw_error("", "f.txt:1:");
  expect_lfw_error("x\nA 1 2\n", "f.txt:1: expected a header");
  expect_lfw_error("1\nA 1 2\n", "1 pairs, the header announces 2");
  expect_lfw_error("1\nA 1 2\nA 1 B x\n", "f.txt:3: image numbers");
  expect_lfw_error("1\nA 1 2\nA 0 B 1\n", "f.txt:3: image numbers");
  expect_lfw_error("1\nA 1 2\nA 1 B 1 7\n", "f.txt:3: expected \"name n1 n2\"");
  expect_lfw_error("1\n../A 1 2\nA 1 B 1\n", "f.txt:2: name starts with '.'");
  expect_lfw_error("1\nA/B 1 2\nA 1 B 1\n", "f.txt:2: name contains a path separator");
  expect_lfw_error("1\nA 1 2\nA 1 B 1\nC 1 2\n", "f.txt:4: more pairs");
  expect_lfw_error("1\nA 1 2\n\nA 1 B 1\n", "f.txt:3: empty line");
  expect_lfw_error("1\nA 1 2\nC 1 3\n", "fold 1 (lines 2-3) holds 2 same and 0 different");
  expect_lfw_error("65 1\n", "at most 64 folds");
  fr_lfw_pairs p = {0};
  CHECK_STATUS(fr_lfw_pairs_parse("1\nA 1 2\nA\0 1 B 1\n", 18, "f.txt", &p, NULL), FR_ERR_FORMAT);
}

TEST(lfw_real_files) {
  char path[4096];
  const char *shared = fr_t_env("FR_SHARED_DIR", "../shared");
  const char *names[2] = {"pairsDevTrain.txt", "pairsDevTest.txt"};
  const size_t want[2] = {2200, 1000};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/data/lfw-view1/%s", shared, names[i]);
    fr_lfw_pairs p = {0};
    fr_error err = {{0}};
    fr_status st = fr_lfw_pairs_load(path, &p, &err);
    CHECK_MSG(st == FR_OK, "%s", err.msg);
    CHECK(p.n == want[i] && p.folds == 1);
    if (p.n == 2200) {
      CHECK(strcmp(p.pairs[0].name_a, "Aaron_Peirsol") == 0 && p.pairs[0].num_b == 2);
      char img[4096];
      CHECK_STATUS(
          fr_lfw_image_path("/d/", p.pairs[0].name_a, p.pairs[0].num_a, img, sizeof img, NULL),
          FR_OK);
      CHECK(strcmp(img, "/d/Aaron_Peirsol/Aaron_Peirsol_0001.jpg") == 0);
    }
    fr_lfw_pairs_free(&p);
  }
  fr_lfw_pairs p = {0};
  fr_error err = {{0}};
  CHECK_STATUS(fr_lfw_pairs_load("/nonexistent/pairs.txt", &p, &err), FR_ERR_IO);
  CHECK(strstr(err.msg, "/nonexistent/pairs.txt") != NULL);
  char small[8];
  CHECK_STATUS(fr_lfw_image_path("dir", "Name", 12, small, sizeof small, NULL), FR_ERR_TOO_LARGE);
  char ok[64];
  CHECK_STATUS(fr_lfw_image_path("dir", "Name", 12, ok, sizeof ok, NULL), FR_OK);
  CHECK(strcmp(ok, "dir/Name/Name_0012.jpg") == 0);
}

/* ---------------------------------------------------------------- metrics */

TEST(best_threshold_hand) {
  /* sorted: .1n .3n .6p .7n .8p .9p; 5 correct at t = .45 and t = .75 */
  const float s[6] = {0.9f, 0.1f, 0.8f, 0.3f, 0.6f, 0.7f};
  const int y[6] = {1, 0, 1, 0, 1, 0};
  double t;
  size_t c;
  CHECK_STATUS(fr_verif_best_threshold(s, y, 6, &t, &c, NULL), FR_OK);
  CHECK(c == 5);
  CHECK_MSG(NEAR(t, 0.45, 1e-6), "t = %.9f", t); /* lower median of the two */
  CHECK(NEAR(fr_verif_accuracy(s, y, 6, t), 5.0 / 6, 1e-12));
  CHECK(NEAR(fr_verif_accuracy(s, y, 6, 0.75), 5.0 / 6, 1e-12));
  CHECK(NEAR(fr_verif_accuracy(s, y, 6, 0.65), 4.0 / 6, 1e-12));
  /* score >= threshold is "same": at t = 0.6f the .6 positive is accepted */
  CHECK(NEAR(fr_verif_accuracy(s, y, 6, (double)0.6f), 5.0 / 6, 1e-12));
  /* NaN pairs are always wrong and do not move the threshold */
  const float s2[8] = {0.9f, 0.1f, 0.8f, 0.3f, 0.6f, 0.7f, NAN, NAN};
  const int y2[8] = {1, 0, 1, 0, 1, 0, 1, 0};
  double t2;
  CHECK_STATUS(fr_verif_best_threshold(s2, y2, 8, &t2, &c, NULL), FR_OK);
  CHECK(c == 5 && t2 == t);
  CHECK(NEAR(fr_verif_accuracy(s2, y2, 8, t2), 5.0 / 8, 1e-12));
  CHECK(NEAR(fr_verif_accuracy(s2, y2, 8, -10), 3.0 / 8, 1e-12));
  CHECK(NEAR(fr_verif_accuracy(s2, y2, 8, 10), 3.0 / 8, 1e-12));
  /* every score NaN: threshold 0, nothing correct */
  const float s3[2] = {NAN, NAN};
  CHECK_STATUS(fr_verif_best_threshold(s3, y2, 2, &t2, &c, NULL), FR_OK);
  CHECK(c == 0 && t2 == 0);
}

TEST(best_threshold_edges_and_ties) {
  /* all positives: accept all (the lowest score) is the first best candidate
   * and the only one with every pair right */
  const float s[3] = {0.5f, 0.2f, 0.9f};
  const int y[3] = {1, 1, 1};
  double t;
  size_t c;
  CHECK_STATUS(fr_verif_best_threshold(s, y, 3, &t, &c, NULL), FR_OK);
  CHECK(c == 3 && t == (double)0.2f);
  /* all negatives: reject all, just above the highest */
  const int n[3] = {0, 0, 0};
  CHECK_STATUS(fr_verif_best_threshold(s, n, 3, &t, &c, NULL), FR_OK);
  CHECK(c == 3 && t > (double)0.9f && t < 0.9000001);
  CHECK(fr_verif_accuracy(s, n, 3, t) == 1.0);
  /* three maximal candidates (.15, .35, .55 all give 4 of 6): the middle one */
  const float s4[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  const int y4[6] = {0, 1, 0, 1, 0, 1};
  CHECK_STATUS(fr_verif_best_threshold(s4, y4, 6, &t, &c, NULL), FR_OK);
  CHECK_MSG(c == 4 && NEAR(t, 0.35, 1e-6), "c=%zu t=%f", c, t);
  /* two maximal candidates (.15 and .55 with 3 of 4): the lower one */
  const float s6[4] = {0.1f, 0.2f, 0.5f, 0.6f};
  CHECK_STATUS(fr_verif_best_threshold(s6, y4, 4, &t, &c, NULL), FR_OK);
  CHECK_MSG(c == 3 && NEAR(t, 0.15, 1e-6), "c=%zu t=%f", c, t);
  /* equal scores on both sides: one group, no threshold separates them */
  const float s5[4] = {0.5f, 0.5f, 0.5f, 0.9f};
  const int y5[4] = {1, 0, 0, 1};
  CHECK_STATUS(fr_verif_best_threshold(s5, y5, 4, &t, &c, NULL), FR_OK);
  CHECK_MSG(c == 3 && NEAR(t, 0.7, 1e-6), "c=%zu t=%f", c, t);
}

TEST(tar_at_far_rule) {
  enum { NN = 1000 };
  static float s[NN + 5];
  static int y[NN + 5];
  for (int i = 0; i < NN; i++) s[i] = (float)i / 1000.0f, y[i] = 0;
  const float pos[4] = {0.9985f, 0.998f, 0.5f, 0.9995f};
  for (int i = 0; i < 4; i++) s[NN + i] = pos[i], y[NN + i] = 1;
  double tar, thr;
  /* k = 1 false accept allowed: threshold = 2nd highest negative (0.998); strictly above */
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 4, 1e-3, &tar, &thr, NULL), FR_OK);
  CHECK(thr == (double)0.998f);
  CHECK(NEAR(tar, 0.5, 1e-12));
  /* FAR 0: above the highest negative */
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 4, 0, &tar, &thr, NULL), FR_OK);
  CHECK(thr == (double)0.999f && NEAR(tar, 0.25, 1e-12));
  /* a NaN negative (no face) is never accepted: it uses no false accept
   * (k = floor(1.001) = 1 still), the threshold stays the 2nd highest finite one */
  s[NN + 4] = NAN, y[NN + 4] = 0;
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 5, 1e-3, &tar, &thr, NULL), FR_OK);
  CHECK(thr == (double)0.998f && NEAR(tar, 0.5, 1e-12));
  /* FAR 0 with a NaN negative: above the highest finite negative */
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 5, 0, &tar, &thr, NULL), FR_OK);
  CHECK(thr == (double)0.999f && NEAR(tar, 0.25, 1e-12));
  /* a NaN positive is never accepted: it lowers TAR */
  s[NN + 4] = NAN, y[NN + 4] = 1;
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 5, 1e-3, &tar, &thr, NULL), FR_OK);
  CHECK(thr == (double)0.998f && NEAR(tar, 2.0 / 5.0, 1e-12));
  /* FAR 1: everything accepted */
  CHECK_STATUS(fr_verif_tar_at_far(s, y, NN + 4, 1, &tar, &thr, NULL), FR_OK);
  CHECK(tar == 1 && thr == -INFINITY);
  /* 3000 negatives: exactly 3 false accepts allowed */
  static float s3[3001];
  static int y3[3001];
  for (int i = 0; i < 3000; i++) s3[i] = (float)i, y3[i] = 0;
  s3[3000] = 2996.5f, y3[3000] = 1;
  CHECK_STATUS(fr_verif_tar_at_far(s3, y3, 3001, 1e-3, &tar, &thr, NULL), FR_OK);
  CHECK(thr == 2996.0 && tar == 1);
  /* needs both classes */
  CHECK_STATUS(fr_verif_tar_at_far(s3, y3, 3000, 1e-3, &tar, &thr, NULL), FR_ERR_INVALID_ARG);
  CHECK_STATUS(fr_verif_tar_at_far(s3, y3, 3001, 2, &tar, &thr, NULL), FR_ERR_INVALID_ARG);
}

TEST(kfold_hand) {
  /* fold 0: .9p .1n; fold 1: .4p .6n. Fold 0 is tested with the threshold of
   * fold 1 (.4, accept all: the first of two ties) -> 1.0; fold 1 with that of
   * fold 0 (.5) -> 0.0. Mean .5, population std .5. */
  const float s[4] = {0.9f, 0.1f, 0.4f, 0.6f};
  const int y[4] = {1, 0, 1, 0}, f[4] = {0, 0, 1, 1};
  fr_verif_report r;
  fr_error err = {{0}};
  CHECK_STATUS(fr_verif_evaluate(s, y, f, 4, 2, NULL, NULL, 0, NAN, &r, &err), FR_OK);
  CHECK(r.folds == 2 && r.pairs == 4 && r.no_face_pairs == 0);
  CHECK(NEAR(r.fold_accuracy[0], 1, 1e-12) && NEAR(r.fold_accuracy[1], 0, 1e-12));
  CHECK(NEAR(r.fold_threshold[0], 0.4, 1e-6) && NEAR(r.fold_threshold[1], 0.5, 1e-6));
  CHECK(NEAR(r.accuracy, 0.5, 1e-12) && NEAR(r.accuracy_std, 0.5, 1e-12));
  CHECK(NEAR(r.threshold, 0.45, 1e-6));
  /* TAR pooled: 2 negatives, k = 0: threshold .6, positives above: .9 */
  CHECK(NEAR(r.tar_at_far, 0.5, 1e-12) && r.tar_threshold == (double)0.6f);
  /* fold index out of range */
  const int bad[4] = {0, 0, 1, 2};
  CHECK_STATUS(fr_verif_evaluate(s, y, bad, 4, 2, NULL, NULL, 0, NAN, &r, NULL),
               FR_ERR_INVALID_ARG);
  /* one fold only and no threshold */
  CHECK_STATUS(fr_verif_evaluate(s, y, NULL, 4, 1, NULL, NULL, 0, NAN, &r, NULL),
               FR_ERR_INVALID_ARG);
  /* default threshold */
  CHECK_STATUS(fr_verif_evaluate(s, y, NULL, 4, 1, NULL, NULL, 0, 0.5, &r, NULL), FR_OK);
  CHECK(NEAR(r.accuracy, 0.5, 1e-12) && r.threshold == 0.5 && r.accuracy_std == 0);
  /* training set: threshold from it (t = .5 between .1n and .9p) */
  const float ts[2] = {0.1f, 0.9f};
  const int ty[2] = {0, 1};
  CHECK_STATUS(fr_verif_evaluate(s, y, NULL, 4, 1, ts, ty, 2, NAN, &r, NULL), FR_OK);
  CHECK(NEAR(r.threshold, 0.5, 1e-6) && NEAR(r.accuracy, 0.5, 1e-12));
}

TEST(kfold_ten_separable) {
  enum { N = 600 };
  static float s[N];
  static int y[N], f[N];
  unsigned seed = 7;
  for (int i = 0; i < N; i++) {
    f[i] = i / 60;
    y[i] = (i % 60) < 30;
    float r = (fr_t_randf(&seed) + 1) * 0.2f; /* 0..0.4 */
    s[i] = y[i] ? 0.5f + r : r - 0.1f;
  }
  s[5] = NAN; /* one pair without a face, in fold 0 */
  fr_verif_report r;
  CHECK_STATUS(fr_verif_evaluate(s, y, f, N, 10, NULL, NULL, 0, NAN, &r, NULL), FR_OK);
  CHECK(r.folds == 10 && r.no_face_pairs == 1);
  CHECK(NEAR(r.fold_accuracy[0], 59.0 / 60, 1e-12));
  for (int k = 1; k < 10; k++) CHECK(r.fold_accuracy[k] == 1);
  CHECK(NEAR(r.accuracy, (9 + 59.0 / 60) / 10, 1e-12));
  double m = (9 + 59.0 / 60) / 10, var = 9 * (1 - m) * (1 - m) + (59.0 / 60 - m) * (59.0 / 60 - m);
  CHECK(NEAR(r.accuracy_std, sqrt(var / 10), 1e-12));
  for (int k = 0; k < 10; k++) CHECK(r.fold_threshold[k] > 0.3 && r.fold_threshold[k] < 0.5);
  CHECK(NEAR(r.tar_at_far, 299.0 / 300, 1e-12));
}

TEST(pairs_decide_counts) {
  const float s[6] = {0.9f, 0.2f, 0.7f, 0.4f, NAN, NAN};
  const int y[6] = {1, 1, 0, 0, 1, 0};
  fr_pairs_decision d;
  fr_pairs_decide(s, y, 6, 0.5, &d);
  CHECK(d.pairs == 6 && d.correct == 2 && d.false_accepts == 2 && d.false_rejects == 2 &&
        d.no_face_pairs == 2);
  CHECK(NEAR(d.accuracy, 2.0 / 6, 1e-12));
  fr_pairs_decide(s, y, 0, 0.5, &d);
  CHECK(d.pairs == 0 && d.accuracy == 0);
}

/* -------------------------------------------------------------- pairs CSV */

TEST(pairs_csv_parse) {
  const char *t =
      "path_a,path_b,same,source\n"
      "a.jpg,b.jpg,1,x\r\n"
      "\"c, d.jpg\",\"e \"\"q\"\".png\",false,\"multi\nline\"\n"
      "\n"
      "f.jpg , g.jpg,TRUE,\n";
  fr_pair_rows p = {0};
  fr_error err = {{0}};
  CHECK_STATUS(fr_pair_rows_parse(t, strlen(t), "p.csv", &p, &err), FR_OK);
  CHECK_MSG(p.n == 3, "n=%zu %s", p.n, err.msg);
  if (p.n == 3) {
    CHECK(strcmp(p.rows[0].path_a, "a.jpg") == 0 && strcmp(p.rows[0].path_b, "b.jpg") == 0 &&
          p.rows[0].same == 1 && p.rows[0].line == 2);
    CHECK(strcmp(p.rows[1].path_a, "c, d.jpg") == 0 &&
          strcmp(p.rows[1].path_b, "e \"q\".png") == 0 && p.rows[1].same == 0 &&
          p.rows[1].line == 3);
    CHECK(strcmp(p.rows[2].path_a, "f.jpg") == 0 && p.rows[2].same == 1 && p.rows[2].line == 6);
  }
  fr_pair_rows_free(&p);
  /* no header; columns in order */
  const char *t2 = "x.jpg,y.jpg,0\nz.jpg,w.jpg,yes";
  CHECK_STATUS(fr_pair_rows_parse(t2, strlen(t2), "p.csv", &p, NULL), FR_OK);
  CHECK(p.n == 2 && p.rows[0].same == 0 && p.rows[1].same == 1 &&
        strcmp(p.rows[1].path_b, "w.jpg") == 0);
  fr_pair_rows_free(&p);
  /* header in another order */
  const char *t3 = "same,path_b,path_a\n1,B,A\n";
  CHECK_STATUS(fr_pair_rows_parse(t3, strlen(t3), "p.csv", &p, NULL), FR_OK);
  CHECK(p.n == 1 && strcmp(p.rows[0].path_a, "A") == 0 && strcmp(p.rows[0].path_b, "B") == 0);
  fr_pair_rows_free(&p);
}

static void expect_csv_error(const char *t, const char *needle) {
  fr_pair_rows p = {0};
  fr_error err = {{0}};
  fr_status st = fr_pair_rows_parse(t, strlen(t), "p.csv", &p, &err);
  CHECK_MSG(st == FR_ERR_FORMAT, "'%s' gave %d", t, (int)st);
  CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
  CHECK(p.rows == NULL && p.n == 0);
}

TEST(pairs_csv_errors) {
  expect_csv_error("path_a,path_b,same\na,b,maybe\n", "p.csv:2: 'same' must be");
  expect_csv_error("path_a,path_b,same\na,b\n", "p.csv:2: 2 fields, expected at least 3");
  expect_csv_error("path_a,path_b\na,b,1\n", "p.csv:1: the header must name");
  expect_csv_error("a,b,2\n", "p.csv:1: neither a header");
  expect_csv_error("a,b,1\n\"c,d,0\n", "p.csv:2: unterminated quoted field");
  expect_csv_error("a,b,1\n\"c\"x,d,0\n", "p.csv:2: text after a closing quote");
  expect_csv_error("a,b,1\n,d,0\n", "p.csv:2: empty path");
}

TEST(pairs_csv_sample_file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data/samples/face_recognition/pairs.csv",
           fr_t_env("FR_SHARED_DIR", "../shared"));
  fr_pair_rows p = {0};
  fr_error err = {{0}};
  CHECK_MSG(fr_pair_rows_load(path, &p, &err) == FR_OK, "%s", err.msg);
  CHECK(p.n == 3);
  if (p.n == 3) {
    CHECK(strcmp(p.rows[2].path_b, "tests/test_images/biden.jpg") == 0 && p.rows[2].same == 0);
    CHECK(p.rows[0].same == 1 && p.rows[1].same == 1);
  }
  fr_pair_rows_free(&p);
}

/* ------------------------------------------------------------- WIDER FACE */

static const float unit_box[4] = {0, 0, 10, 10};

TEST(wider_iou_and_ap) {
  const float b[4] = {5, 0, 10, 10}, far[4] = {100, 100, 5, 5}, touch[4] = {10, 0, 10, 10};
  CHECK(NEAR(fr_wider_iou(unit_box, unit_box), 1, 1e-12));
  CHECK(NEAR(fr_wider_iou(unit_box, b), 66.0 / 176.0, 1e-12)); /* +1 convention */
  CHECK(NEAR(fr_wider_iou(b, unit_box), 66.0 / 176.0, 1e-12));
  CHECK(fr_wider_iou(unit_box, far) == 0);
  CHECK(NEAR(fr_wider_iou(unit_box, touch), 11.0 / 231.0, 1e-12));
  const double rec[2] = {0.5, 1}, prec[2] = {1, 0.5};
  CHECK(NEAR(fr_voc_ap(rec, prec, 2), 0.75, 1e-12));
  /* envelope: a later higher precision lifts earlier points */
  const double rec2[3] = {0.25, 0.5, 0.5}, prec2[3] = {0.5, 0.4, 0.8};
  CHECK(NEAR(fr_voc_ap(rec2, prec2, 3), 0.5 * 0.8, 1e-12));
  CHECK(fr_voc_ap(rec, prec, 0) == 0);
}

static fr_wider_gt parse_gt(const char *csv) {
  fr_wider_gt gt = {0};
  fr_error err = {{0}};
  fr_status st = fr_wider_gt_parse(csv, strlen(csv), "gt.csv", &gt, &err);
  CHECK_MSG(st == FR_OK, "%s", err.msg);
  return gt;
}

TEST(wider_gt_parse) {
  const char *t =
      "path,x,y,w,h,blur,invalid,in_easy,in_medium,in_hard\n"
      "a.jpg,1,2,30,40,0,0,1,1,1\n"
      "b.jpg,5,5,8,9,2,0,0,0,1\n"
      "a.jpg,100,2,3,4,0,1,0,0,0\n"
      "c.jpg,,,,,,,,,\n";
  fr_wider_gt gt = parse_gt(t);
  CHECK(gt.n_images == 3 && gt.n_boxes == 3);
  if (gt.n_images == 3 && gt.n_boxes == 3) {
    CHECK(strcmp(gt.images[0].path, "a.jpg") == 0 && gt.images[0].n == 2);
    CHECK(strcmp(gt.images[1].path, "b.jpg") == 0 && gt.images[1].n == 1);
    CHECK(strcmp(gt.images[2].path, "c.jpg") == 0 && gt.images[2].n == 0);
    const fr_wider_box *a = gt.boxes + gt.images[0].first;
    CHECK(a[0].x == 1 && a[0].h == 40 && a[0].in_set[0] && !a[0].invalid);
    CHECK(a[1].x == 100 && a[1].invalid && !a[1].in_set[2]);
    const fr_wider_box *bb = gt.boxes + gt.images[1].first;
    CHECK(!bb[0].in_set[0] && !bb[0].in_set[1] && bb[0].in_set[2]);
  }
  fr_wider_gt_free(&gt);
  const char *bad[][2] = {
      {"path,x,y,w,h,in_easy,in_medium\n", "lacks the column 'in_hard'"},
      {"path,x,y,w,h,in_easy,in_medium,in_hard\na,1,2,3,-4,0,0,0\n", "gt.csv:2: bad h"},
      {"path,x,y,w,h,in_easy,in_medium,in_hard\na,1,2,3,4,0,2,0\n",
       "gt.csv:2: in_medium must be 0 or 1"},
      {"path,x,y,w,h,in_easy,in_medium,in_hard\na,1,2,3,4,0,0\n", "gt.csv:2: 7 fields"},
      {"path,x,y,w,h,in_easy,in_medium,in_hard\n,1,2,3,4,0,0,0\n", "gt.csv:2: empty path"},
      {"", "empty file"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fr_error err = {{0}};
    fr_status st = fr_wider_gt_parse(bad[i][0], strlen(bad[i][0]), "gt.csv", &gt, &err);
    CHECK_MSG(st == FR_ERR_FORMAT && strstr(err.msg, bad[i][1]), "case %zu: %d '%s'", i, (int)st,
              err.msg);
    CHECK(gt.images == NULL && gt.boxes == NULL);
  }
}

TEST(wider_gt_real_file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data/wider-dev/boxes.csv",
           fr_t_env("FR_SHARED_DIR", "../shared"));
  fr_wider_gt gt = {0};
  fr_error err = {{0}};
  CHECK_MSG(fr_wider_gt_load(path, &gt, &err) == FR_OK, "%s", err.msg);
  CHECK(gt.n_images == 197 && gt.n_boxes == 2706);
  size_t c[3] = {0}, inv = 0;
  for (size_t i = 0; i < gt.n_boxes; i++) {
    for (int s = 0; s < 3; s++) c[s] += gt.boxes[i].in_set[s];
    inv += gt.boxes[i].invalid;
    /* hard includes medium includes easy */
    CHECK(gt.boxes[i].in_set[1] >= gt.boxes[i].in_set[0] &&
          gt.boxes[i].in_set[2] >= gt.boxes[i].in_set[1]);
  }
  CHECK_MSG(c[0] == 412 && c[1] == 801 && c[2] == 2033 && inv == 113, "%zu %zu %zu %zu", c[0], c[1],
            c[2], inv);
  /* perfect detections: AP 1 in every setting, recall of big faces 1 */
  fr_wider_det *all = malloc(gt.n_boxes * sizeof *all);
  const fr_wider_det **dets = malloc(gt.n_images * sizeof *dets);
  size_t *nd = malloc(gt.n_images * sizeof *nd);
  fr_wider_report *r = malloc(sizeof *r);
  if (all && dets && nd && r) {
    for (size_t i = 0; i < gt.n_images; i++) {
      dets[i] = all + gt.images[i].first;
      nd[i] = gt.images[i].n;
      for (size_t k = 0; k < nd[i]; k++) {
        const fr_wider_box *b = &gt.boxes[gt.images[i].first + k];
        all[gt.images[i].first + k] =
            (fr_wider_det){b->x, b->y, b->w, b->h, 0.5f + 0.001f * (float)(k % 100)};
      }
    }
    CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.5f, r, &err), FR_OK);
    for (int s = 0; s < 3; s++)
      CHECK_MSG(NEAR(r->ap[s], 1, 1e-12), "setting %d: AP %f", s, r->ap[s]);
    CHECK(r->faces[0] == 412 && r->faces[2] == 2033 && r->images == 197);
    CHECK(r->faces_40 > 0 && r->found_40 == r->faces_40);
    /* above the recall threshold only some: recall drops */
    CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.55f, r, &err), FR_OK);
    CHECK(r->recall_40 < 1);
  }
  free(all), free(dets), free(nd), free(r);
  fr_wider_gt_free(&gt);
}

/* Two images: A (all settings) and B (hard only) in image 1, C (all) in image 2.
 * dA 1.0 on A, dF 0.75 false, dB 0.5 on B, dC 0.25 on C -> normalized 1, 2/3, 1/3, 0.
 * easy/medium: dB is ignored (B is outside), PR points (R .5, P 1), (.5, .5),
 * (1, 2/3): AP = .5 + .5 * 2/3 = 5/6. hard: (1/3, 1), (1/3, .5), (2/3, 2/3),
 * (1, .75): AP = 1/3 + 1/3 * .75 + 1/3 * .75 = 5/6 as well. */
TEST(wider_hand_two_images) {
  fr_wider_gt gt = parse_gt(
      "path,x,y,w,h,in_easy,in_medium,in_hard\n"
      "i1.jpg,0,0,20,20,1,1,1\n"
      "i1.jpg,50,50,8,8,0,0,1\n"
      "i2.jpg,0,0,30,30,1,1,1\n");
  const fr_wider_det d1[2] = {{50, 50, 8, 8, 0.5f}, {0, 0, 20, 20, 1.0f}};
  const fr_wider_det d2[2] = {{0, 0, 30, 30, 0.25f}, {500, 500, 10, 10, 0.75f}};
  const fr_wider_det *dets[2] = {d1, d2};
  const size_t nd[2] = {2, 2};
  fr_wider_report *r = malloc(sizeof *r);
  fr_error err = {{0}};
  if (!r) return;
  CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.4f, r, &err), FR_OK);
  CHECK(r->faces[0] == 2 && r->faces[1] == 2 && r->faces[2] == 3 && r->detections == 4);
  CHECK_MSG(NEAR(r->ap[0], 5.0 / 6, 1e-12), "easy %f", r->ap[0]);
  CHECK(NEAR(r->ap[1], 5.0 / 6, 1e-12));
  CHECK_MSG(NEAR(r->ap[2], 5.0 / 6, 1e-12), "hard %f", r->ap[2]);
  /* curve points: at thresh .999 only dA; at the last threshold everything */
  CHECK(NEAR(r->precision[0][0], 1, 1e-12) && NEAR(r->recall[0][0], 0.5, 1e-12));
  CHECK(NEAR(r->precision[0][999], 2.0 / 3, 1e-12) && NEAR(r->recall[0][999], 1, 1e-12));
  CHECK(NEAR(r->precision[2][999], 0.75, 1e-12) && NEAR(r->recall[2][999], 1, 1e-12));
  /* at thresh 0.5 (t = 499): dA, dF and dB (1/3 < 0.5: not yet) */
  CHECK(NEAR(r->precision[2][499], 0.5, 1e-12) && NEAR(r->recall[2][499], 1.0 / 3, 1e-12));
  /* recall >= 40 px: none of the boxes is that large */
  CHECK(r->faces_40 == 0 && r->recall_40 == 0);
  free(r);
  fr_wider_gt_free(&gt);
}

TEST(wider_duplicates_and_empty) {
  fr_wider_gt gt = parse_gt(
      "path,x,y,w,h,invalid,in_easy,in_medium,in_hard\n"
      "i.jpg,0,0,40,50,0,1,1,1\n"
      "i.jpg,200,0,60,60,1,0,0,0\n");
  /* a second detection of the same face is a false positive: final precision .5, AP 1 */
  const fr_wider_det d[3] = {{0, 0, 40, 50, 0.9f}, {2, 2, 40, 50, 0.8f}, {200, 0, 60, 60, 0.85f}};
  const fr_wider_det *dets[1] = {d};
  size_t nd[1] = {3};
  fr_wider_report *r = malloc(sizeof *r);
  if (!r) return;
  CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.5f, r, NULL), FR_OK);
  CHECK(NEAR(r->ap[0], 1, 1e-12) && NEAR(r->precision[0][999], 0.5, 1e-12));
  /* the invalid 60 px face is not counted in the >= 40 px recall; the 40x50 one is */
  CHECK(r->faces_40 == 1 && r->found_40 == 1 && r->recall_40 == 1);
  /* recall threshold above the face's score */
  CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.95f, r, NULL), FR_OK);
  CHECK(r->faces_40 == 1 && r->found_40 == 0);
  /* no detections: AP 0 */
  nd[0] = 0;
  CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.5f, r, NULL), FR_OK);
  CHECK(r->ap[0] == 0 && r->ap[2] == 0 && r->detections == 0);
  CHECK_STATUS(fr_wider_evaluate(&gt, NULL, NULL, 0.5f, r, NULL), FR_OK);
  CHECK(r->ap[1] == 0);
  /* a non-finite detection is refused */
  const fr_wider_det bad[1] = {{0, 0, NAN, 10, 0.5f}};
  const fr_wider_det *bd[1] = {bad};
  nd[0] = 1;
  CHECK_STATUS(fr_wider_evaluate(&gt, bd, nd, 0.5f, r, NULL), FR_ERR_INVALID_ARG);
  /* a single detection (max == min score): every threshold sees it */
  const fr_wider_det one[1] = {{0, 0, 40, 50, 0.7f}};
  const fr_wider_det *od[1] = {one};
  CHECK_STATUS(fr_wider_evaluate(&gt, od, nd, 0.5f, r, NULL), FR_OK);
  CHECK(NEAR(r->ap[0], 1, 1e-12) && r->precision[0][0] == 1);
  free(r);
  fr_wider_gt_free(&gt);
}

/* Property: with true positives ranked above all false positives AP equals the
 * final recall; any other ranking of the same detections gives at most that. */
TEST(wider_shuffled_scores) {
  enum { IMG = 6, GT = 8 };
  char csv[8192];
  size_t off = (size_t)snprintf(csv, sizeof csv, "path,x,y,w,h,in_easy,in_medium,in_hard\n");
  for (int i = 0; i < IMG; i++)
    for (int g = 0; g < GT; g++)
      off += (size_t)snprintf(csv + off, sizeof csv - off, "im%d.jpg,%d,%d,30,30,1,1,1\n", i,
                              g * 50, i * 7);
  fr_wider_gt gt = parse_gt(csv);
  static fr_wider_det det[IMG][GT + 4];
  const fr_wider_det *dets[IMG];
  size_t nd[IMG];
  unsigned seed = 11;
  size_t tp_total = 0;
  for (int i = 0; i < IMG; i++) {
    int n = 0;
    for (int g = 0; g < GT; g++)
      if (fr_t_rand(&seed) % 3) { /* found */
        det[i][n++] = (fr_wider_det){(float)(g * 50 + 1), (float)(i * 7), 30, 30,
                                     0.6f + 0.4f * (fr_t_randf(&seed) + 1) / 2};
        tp_total++;
      }
    for (int k = 0; k < 4; k++) /* false positives */
      det[i][n++] =
          (fr_wider_det){1000.0f + (float)k * 40, 500, 20, 20, 0.3f * (fr_t_randf(&seed) + 1) / 2};
    nd[i] = (size_t)n;
    dets[i] = det[i];
  }
  fr_wider_report *r = malloc(sizeof *r);
  if (!r) return;
  CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.5f, r, NULL), FR_OK);
  double best = r->ap[0], final_recall = (double)tp_total / (IMG * GT);
  CHECK_MSG(NEAR(best, final_recall, 1e-9), "AP %f recall %f", best, final_recall);
  for (int trial = 0; trial < 20; trial++) {
    for (int i = 0; i < IMG; i++) /* random scores */
      for (size_t k = 0; k < nd[i]; k++) det[i][k].score = (fr_t_randf(&seed) + 1) / 2;
    CHECK_STATUS(fr_wider_evaluate(&gt, dets, nd, 0.5f, r, NULL), FR_OK);
    CHECK_MSG(r->ap[0] <= best + 1e-12 && r->ap[0] > 0, "trial %d: AP %f > %f", trial, r->ap[0],
              best);
  }
  free(r);
  fr_wider_gt_free(&gt);
}

RUN_TESTS(T(lfw_view1_parse), T(lfw_view2_folds), T(lfw_errors), T(lfw_real_files),
          T(best_threshold_hand), T(best_threshold_edges_and_ties), T(tar_at_far_rule),
          T(kfold_hand), T(kfold_ten_separable), T(pairs_decide_counts), T(pairs_csv_parse),
          T(pairs_csv_errors), T(pairs_csv_sample_file), T(wider_iou_and_ap), T(wider_gt_parse),
          T(wider_gt_real_file), T(wider_hand_two_images), T(wider_duplicates_and_empty),
          T(wider_shuffled_scores))
