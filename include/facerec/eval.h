/*
 * facerec evaluation protocols: pure computation, no models and no images.
 *
 * - LFW verification: pair lists (View 1 pairsDevTrain/pairsDevTest, View 2
 *   pairs.txt with 10 folds), best threshold on training pairs, accuracy,
 *   10-fold cross-validation and TAR at a fixed FAR.
 * - Verification pairs in CSV (path_a,path_b,same) decided at a threshold.
 * - WIDER FACE detection: the official evaluation toolkit's protocol (AP for
 *   the easy / medium / hard settings) and the recall of faces >= 40 px.
 *
 * Scores are similarities (higher = more alike); a NaN score means that no face
 * was found in one of the two images, and such a pair always counts as a wrong
 * decision (a false reject if the pair is "same", a false accept otherwise).
 * A pair is declared "same" when score >= threshold.
 *
 *     fr_lfw_pairs test = {0};
 *     if (fr_lfw_pairs_load("pairsDevTest.txt", &test, &err)) fail(err.msg);
 *     // ... compute scores[i] for test.pairs[i] ...
 *     fr_verif_report r;
 *     fr_verif_evaluate(scores, same, fold, n, test.folds, NULL, NULL, 0, NAN, &r, &err);
 *     fr_lfw_pairs_free(&test);
 *
 * Every parser validates strictly: an error names the file and line.
 * Ownership: structs filled by a *_parse / *_load function own their memory
 * until the matching *_free (safe on a zero-initialized struct, idempotent).
 */
#ifndef FACEREC_EVAL_H
#define FACEREC_EVAL_H

#include <stddef.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_EVAL_MAX_PAIRS 10000000  /* pairs per file at most */
#define FR_EVAL_MAX_FILE (1u << 30) /* bytes per pair / ground-truth file at most */
#define FR_LFW_NAME_MAX 255         /* bytes in an LFW person name */

/* ---------------------------------------------------------------- LFW pairs */

typedef struct fr_lfw_pair {
  const char *name_a, *name_b; /* person names (point into the set's storage) */
  int num_a, num_b;            /* image numbers, 1-based (NAME_000N.jpg) */
  int same;                    /* 1: same person ("name n1 n2"), 0: different */
  int fold;                    /* 0-based fold (0 for View 1 files) */
  int line;                    /* 1-based line in the file */
} fr_lfw_pair;

typedef struct fr_lfw_pairs {
  int folds;          /* 1 for View 1 files (first line "N"), 10 for View 2 ("10 300") */
  int per_fold;       /* same pairs per fold (= different pairs per fold) */
  size_t n;           /* folds * 2 * per_fold */
  fr_lfw_pair *pairs; /* n pairs in file order */
  char *storage_;     /* owned */
} fr_lfw_pairs;

/* Parses an LFW pair list. Header: "N" (one fold of N same + N different
 * pairs, View 1) or "F N" (F folds, each of N same then N different pairs, View
 * 2). Then exactly F*2*N lines, "name n1 n2" (same) or "name1 n1 name2 n2"
 * (different), fields separated by spaces or tabs; CRLF and trailing blank
 * lines are accepted. Each fold must hold N same and N different pairs. Names
 * must be non-empty, at most FR_LFW_NAME_MAX bytes, without '/', '\\' or a
 * leading '.'; numbers are 1..9999. `source` names the file in messages.
 * Errors: FR_ERR_FORMAT (message "source:line: problem"), FR_ERR_TOO_LARGE. */
fr_status fr_lfw_pairs_parse(const char *text, size_t len, const char *source, fr_lfw_pairs *out,
                             fr_error *err);
fr_status fr_lfw_pairs_load(const char *path, fr_lfw_pairs *out, fr_error *err);
void fr_lfw_pairs_free(fr_lfw_pairs *p);

/* "dir/NAME/NAME_%04d.jpg" into buf. FR_ERR_TOO_LARGE if it does not fit. */
fr_status fr_lfw_image_path(const char *dir, const char *name, int num, char *buf, size_t size,
                            fr_error *err);

/* ------------------------------------------------------ verification metrics */

/* Fraction of correct decisions at `threshold` (same iff score >= threshold;
 * NaN scores are wrong). 0 when n == 0. */
double fr_verif_accuracy(const float *scores, const int *same, size_t n, double threshold);

/* Threshold maximizing accuracy on (scores, same). Candidates: the lowest
 * score (accept every pair that has a score), the midpoint of each pair of
 * adjacent distinct sorted scores, and the next double above the highest score
 * (reject all). Among the candidates with the most correct decisions, the lower
 * median (in increasing threshold order) is chosen, so the result is
 * deterministic and sits inside a plateau. With no finite score the threshold is
 * 0. *correct (may be NULL) receives the number of correct decisions. */
fr_status fr_verif_best_threshold(const float *scores, const int *same, size_t n, double *threshold,
                                  size_t *correct, fr_error *err);

/* True accept rate at a false accept rate: k = floor(far * negatives) false
 * accepts are allowed. A pair with a NaN score (no face found) is never
 * accepted: a failure to acquire costs a positive pair its acceptance and is a
 * correct rejection of a negative one (accuracy, by contrast, counts it as a
 * wrong decision either way). The threshold is the (k+1)-th highest finite
 * negative score t, and a pair is accepted when score > t (strictly): at most k
 * negatives are accepted, and t is the smallest threshold for which that holds.
 * If k >= finite negatives, every finite pair is accepted (*threshold =
 * -INFINITY). TAR = accepted positives / all positives.
 * Errors: FR_ERR_INVALID_ARG if there is no positive or no negative pair, or
 * far is not in [0, 1]. */
fr_status fr_verif_tar_at_far(const float *scores, const int *same, size_t n, double far,
                              double *tar, double *threshold, fr_error *err);

#define FR_VERIF_MAX_FOLDS 64

typedef struct fr_verif_report {
  size_t pairs;         /* pairs evaluated */
  size_t no_face_pairs; /* pairs with a NaN score */
  double accuracy;      /* mean over folds (one fold: the accuracy) */
  double accuracy_std;  /* population standard deviation over folds (np.std); 0 with one fold */
  double threshold;     /* the threshold used; with k folds the mean of the fold thresholds */
  int folds;            /* folds used for cross-validation (1: none) */
  double fold_accuracy[FR_VERIF_MAX_FOLDS];
  double fold_threshold[FR_VERIF_MAX_FOLDS];
  double far;           /* the FAR of tar_at_far (1e-3) */
  double tar_at_far;    /* on all evaluated pairs pooled */
  double tar_threshold; /* its threshold (accept iff score > tar_threshold) */
} fr_verif_report;

/* The LFW protocol on n scored pairs:
 * - train_scores != NULL: the threshold is the best one on the training pairs
 *   (fr_verif_best_threshold) and accuracy is measured on the n pairs;
 * - else folds >= 2: k-fold cross-validation, fold[i] in [0, folds): for each
 *   fold, the best threshold on the other folds' pairs, accuracy on the fold;
 *   accuracy and accuracy_std are the mean and population std over folds;
 * - else: accuracy at default_threshold (must be finite).
 * TAR at FAR 1e-3 is computed on the n pairs pooled (fr_verif_tar_at_far).
 * fold may be NULL when folds < 2. */
fr_status fr_verif_evaluate(const float *scores, const int *same, const int *fold, size_t n,
                            int folds, const float *train_scores, const int *train_same,
                            size_t train_n, double default_threshold, fr_verif_report *out,
                            fr_error *err);

/* -------------------------------------------------------------- pairs CSV */

typedef struct fr_pair_row {
  const char *path_a, *path_b; /* as written in the file (point into the set's storage) */
  int same;                    /* 1 or 0 */
  int line;                    /* 1-based line where the record starts */
} fr_pair_row;

typedef struct fr_pair_rows {
  size_t n;
  fr_pair_row *rows;
  char *storage_; /* owned */
} fr_pair_rows;

/* Parses "path_a,path_b,same" CSV (RFC 4180: fields may be quoted with "..."
 * and "" inside quotes; CRLF accepted). An optional header line names the
 * columns (path_a, path_b, same, case-insensitive, any order, extra columns
 * ignored); without a header the first three columns are used. `same` is
 * 1/0/true/false/yes/no (case-insensitive). Empty lines are skipped.
 * Errors: FR_ERR_FORMAT "source:line: problem", FR_ERR_TOO_LARGE. */
fr_status fr_pair_rows_parse(const char *text, size_t len, const char *source, fr_pair_rows *out,
                             fr_error *err);
fr_status fr_pair_rows_load(const char *path, fr_pair_rows *out, fr_error *err);
void fr_pair_rows_free(fr_pair_rows *p);

typedef struct fr_pairs_decision {
  size_t pairs, correct, false_accepts, false_rejects, no_face_pairs;
  double accuracy; /* correct / pairs (0 when pairs == 0) */
} fr_pairs_decision;

/* Decides every pair at threshold (same iff score >= threshold). A NaN score is
 * a false accept for a different pair and a false reject for a same pair. */
void fr_pairs_decide(const float *scores, const int *same, size_t n, double threshold,
                     fr_pairs_decision *out);

/* ------------------------------------------------------------- WIDER FACE */

enum { FR_WIDER_EASY = 0, FR_WIDER_MEDIUM = 1, FR_WIDER_HARD = 2, FR_WIDER_SETTINGS = 3 };

typedef struct fr_wider_box {
  float x, y, w, h;      /* pixels, (x, y) top-left */
  unsigned char invalid; /* the official "invalid" flag (0 if the CSV has no such column) */
  unsigned char in_set[FR_WIDER_SETTINGS]; /* kept in easy / medium / hard */
} fr_wider_box;

typedef struct fr_wider_image {
  const char *path; /* as written in the CSV */
  size_t first, n;  /* its boxes: gt->boxes[first .. first + n) */
} fr_wider_image;

typedef struct fr_wider_gt {
  size_t n_images, n_boxes;
  fr_wider_image *images; /* in order of first appearance in the file */
  fr_wider_box *boxes;    /* grouped by image */
  char *storage_;         /* owned */
} fr_wider_gt;

/* Parses the boxes CSV (header required): columns path,x,y,w,h,in_easy,
 * in_medium,in_hard are required, invalid is optional, others are ignored.
 * One row per face; rows of one image need not be adjacent. A row whose x, y,
 * w, h are all empty lists an image without faces. Flags are 0/1; w, h >= 0.
 * Errors: FR_ERR_FORMAT "source:line: problem", FR_ERR_TOO_LARGE. */
fr_status fr_wider_gt_parse(const char *text, size_t len, const char *source, fr_wider_gt *out,
                            fr_error *err);
fr_status fr_wider_gt_load(const char *path, fr_wider_gt *out, fr_error *err);
void fr_wider_gt_free(fr_wider_gt *gt);

typedef struct fr_wider_det {
  float x, y, w, h, score;
} fr_wider_det;

/* IoU as the official toolkit computes it: boxes (x, y, w, h) become
 * (x1, y1, x2 = x + w, y2 = y + h) and areas use the +1 pixel convention,
 * (x2 - x1 + 1) * (y2 - y1 + 1); 0 when they do not overlap. */
double fr_wider_iou(const float a[4], const float b[4]);

/* VOC all-points AP ("voc_ap" / VOCap.m): sentinels (0, 0) and (1, 0), the
 * precision envelope from the right, and the sum of recall steps times the
 * envelope. rec must be non-decreasing. */
double fr_voc_ap(const double *rec, const double *prec, size_t n);

#define FR_WIDER_THRESH_NUM 1000

typedef struct fr_wider_report {
  size_t images, detections;
  double ap[FR_WIDER_SETTINGS];
  size_t faces[FR_WIDER_SETTINGS]; /* gt faces kept in each setting */
  /* the PR curve per setting at score thresholds 1 - (t+1)/1000 (normalized scores) */
  double precision[FR_WIDER_SETTINGS][FR_WIDER_THRESH_NUM];
  double recall[FR_WIDER_SETTINGS][FR_WIDER_THRESH_NUM];
  /* recall of faces >= 40 px: gt boxes with invalid == 0 and max(w, h) >= 40,
   * found by a detection with score >= recall_min_score at IoU >= 0.5 */
  size_t faces_40, found_40;
  double recall_40;
} fr_wider_report;

/* The official WIDER FACE evaluation (eval_tools/evaluation.m, and its Python
 * port) of detections dets[i][0 .. n_dets[i]) for gt->images[i]:
 * 1. scores are min-max normalized over the whole set (min starts at 1, max
 *    at 0, as the toolkit does; if max == min every score becomes 1);
 * 2. per image, detections sorted by score (descending, stable); each in turn
 *    takes the gt box of highest IoU (first on ties); if IoU >= 0.5 and that
 *    box is outside the setting, the detection is ignored (neither a true nor
 *    a false positive) and the box is marked; if inside and not yet recalled,
 *    it is recalled. A detection whose best box was already recalled or is
 *    below IoU 0.5 is a false positive. Images without gt boxes or without
 *    detections are skipped (the toolkit does so); every kept box counts in
 *    the recall denominator;
 * 3. for thresh = 1 - t/1000, t = 1..1000: proposals and recalled boxes of
 *    the detections with normalized score >= thresh, summed over images;
 *    precision = recalled / proposals (0 when no proposal), recall =
 *    recalled / kept faces;
 * 4. AP = fr_voc_ap(recall, precision).
 * The report is large (~50 KB): allocate it on the heap.
 * Errors: FR_ERR_INVALID_ARG (NULL arrays with detections, non-finite values). */
fr_status fr_wider_evaluate(const fr_wider_gt *gt, const fr_wider_det *const *dets,
                            const size_t *n_dets, float recall_min_score, fr_wider_report *out,
                            fr_error *err);

#ifdef __cplusplus
}
#endif
#endif
