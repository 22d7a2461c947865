/* Verification metrics: accuracy, best threshold, k-fold, TAR at FAR, decisions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/eval.h"

double fr_verif_accuracy(const float *scores, const int *same, size_t n, double threshold) {
  if (n == 0) return 0;
  size_t correct = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(scores[i])) continue;
    int accept = (double)scores[i] >= threshold;
    correct += (size_t)(accept == (same[i] != 0));
  }
  return (double)correct / (double)n;
}

typedef struct {
  float s;
  int same;
} scored;

static int cmp_scored_asc(const void *a, const void *b) {
  float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
  return (x > y) - (x < y);
}

static int cmp_float_desc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

fr_status fr_verif_best_threshold(const float *scores, const int *same, size_t n, double *threshold,
                                  size_t *correct, fr_error *err) {
  *threshold = 0;
  if (correct) *correct = 0;
  if (n > FR_EVAL_MAX_PAIRS)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%zu pairs, at most %d", n, FR_EVAL_MAX_PAIRS);
  scored *v = malloc((n ? n : 1) * sizeof *v);
  /* candidate c: threshold value and correct decisions; at most m + 1 candidates */
  double *cand_t = malloc((n + 1) * sizeof *cand_t);
  size_t *cand_c = malloc((n + 1) * sizeof *cand_c);
  if (!v || !cand_t || !cand_c) {
    free(v);
    free(cand_t);
    free(cand_c);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory for %zu pairs", n);
  }
  size_t m = 0, pos = 0, neg = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(scores[i])) continue;
    v[m].s = scores[i];
    v[m].same = same[i] != 0;
    pos += (size_t)v[m].same;
    neg += (size_t)!v[m].same;
    m++;
  }
  if (m == 0) {
    free(v);
    free(cand_t);
    free(cand_c);
    return FR_OK;
  }
  qsort(v, m, sizeof *v, cmp_scored_asc);
  /* Sweep: with threshold just above v[0..i) every pair in it is rejected.
   * correct = (negatives in v[0..i)) + (positives in v[i..m)). */
  size_t nc = 0, neg_below = 0, pos_below = 0;
  cand_t[nc] = v[0].s; /* accept all */
  cand_c[nc++] = pos;
  for (size_t i = 0; i < m;) {
    size_t j = i;
    while (j < m && v[j].s == v[i].s) {
      neg_below += (size_t)!v[j].same;
      pos_below += (size_t)v[j].same;
      j++;
    }
    /* reject v[0..j): threshold between v[j-1] and v[j] */
    cand_t[nc] = j < m ? 0.5 * ((double)v[j - 1].s + (double)v[j].s)
                       : nextafter((double)v[m - 1].s, INFINITY);
    cand_c[nc++] = neg_below + (pos - pos_below);
    i = j;
  }
  size_t best = 0, n_best = 0;
  for (size_t c = 0; c < nc; c++) {
    if (cand_c[c] > best) {
      best = cand_c[c];
      n_best = 0;
    }
    if (cand_c[c] == best) n_best++;
  }
  size_t want = (n_best - 1) / 2, k = 0;
  for (size_t c = 0; c < nc; c++) {
    if (cand_c[c] != best) continue;
    if (k++ == want) {
      *threshold = cand_t[c];
      break;
    }
  }
  if (correct) *correct = best;
  free(v);
  free(cand_t);
  free(cand_c);
  return FR_OK;
}

fr_status fr_verif_tar_at_far(const float *scores, const int *same, size_t n, double far,
                              double *tar, double *threshold, fr_error *err) {
  *tar = 0;
  *threshold = INFINITY;
  if (!(far >= 0 && far <= 1))
    return fr_error_set(err, FR_ERR_INVALID_ARG, "FAR %g is not in [0, 1]", far);
  /* A pair without a face is a failure to acquire: never accepted. It costs a
   * positive pair its acceptance (TAR) and is a correct rejection of a negative. */
  size_t n_pos = 0, n_neg = 0, nan_neg = 0;
  for (size_t i = 0; i < n; i++) {
    if (same[i])
      n_pos++;
    else {
      n_neg++;
      nan_neg += (size_t)isnan(scores[i]);
    }
  }
  if (!n_pos || !n_neg)
    return fr_error_set(err, FR_ERR_INVALID_ARG,
                        "TAR at FAR needs positive and negative pairs (%zu and %zu given)", n_pos,
                        n_neg);
  /* the small epsilon makes 1e-3 * 3000 = 3 exactly, despite rounding */
  double allowed = floor(far * (double)n_neg + 1e-9);
  size_t k = (size_t)allowed, m = n_neg - nan_neg;
  double t = -INFINITY;
  if (k < m) {
    float *neg = malloc(m * sizeof *neg);
    if (!neg) return fr_error_set(err, FR_ERR_NOMEM, "out of memory for %zu pairs", m);
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
      if (!same[i] && !isnan(scores[i])) neg[j++] = scores[i];
    qsort(neg, m, sizeof *neg, cmp_float_desc);
    t = neg[k];
    free(neg);
  }
  size_t acc = 0;
  for (size_t i = 0; i < n; i++)
    if (same[i] && !isnan(scores[i]) && (double)scores[i] > t) acc++;
  *tar = (double)acc / (double)n_pos;
  *threshold = t;
  return FR_OK;
}

fr_status fr_verif_evaluate(const float *scores, const int *same, const int *fold, size_t n,
                            int folds, const float *train_scores, const int *train_same,
                            size_t train_n, double default_threshold, fr_verif_report *out,
                            fr_error *err) {
  memset(out, 0, sizeof *out);
  out->pairs = n;
  out->folds = 1;
  out->far = 1e-3;
  if (n == 0) return fr_error_set(err, FR_ERR_INVALID_ARG, "no pairs to evaluate");
  if (n > FR_EVAL_MAX_PAIRS || train_n > FR_EVAL_MAX_PAIRS)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "more than %d pairs", FR_EVAL_MAX_PAIRS);
  for (size_t i = 0; i < n; i++) out->no_face_pairs += (size_t)isnan(scores[i]);
  fr_status st;
  if (train_scores) {
    if (!train_same || train_n == 0)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "empty training set");
    st = fr_verif_best_threshold(train_scores, train_same, train_n, &out->threshold, NULL, err);
    if (st) return st;
    out->accuracy = fr_verif_accuracy(scores, same, n, out->threshold);
    out->fold_accuracy[0] = out->accuracy;
    out->fold_threshold[0] = out->threshold;
  } else if (folds >= 2) {
    if (folds > FR_VERIF_MAX_FOLDS || !fold)
      return fr_error_set(err, FR_ERR_INVALID_ARG, "%d folds (at most %d, fold array needed)",
                          folds, FR_VERIF_MAX_FOLDS);
    size_t per[FR_VERIF_MAX_FOLDS] = {0};
    for (size_t i = 0; i < n; i++) {
      if (fold[i] < 0 || fold[i] >= folds)
        return fr_error_set(err, FR_ERR_INVALID_ARG, "pair %zu: fold %d outside [0, %d)", i,
                            fold[i], folds);
      per[fold[i]]++;
    }
    for (int f = 0; f < folds; f++)
      if (per[f] == 0 || per[f] == n)
        return fr_error_set(err, FR_ERR_INVALID_ARG, "fold %d is empty or holds every pair", f + 1);
    float *ts = malloc(n * sizeof *ts), *vs = malloc(n * sizeof *vs);
    int *tl = malloc(n * sizeof *tl), *vl = malloc(n * sizeof *vl);
    if (!ts || !vs || !tl || !vl) {
      free(ts), free(vs), free(tl), free(vl);
      return fr_error_set(err, FR_ERR_NOMEM, "out of memory for %zu pairs", n);
    }
    double sum = 0, sum_t = 0;
    st = FR_OK;
    for (int f = 0; f < folds && !st; f++) {
      size_t nt = 0, nv = 0;
      for (size_t i = 0; i < n; i++) {
        if (fold[i] == f) {
          vs[nv] = scores[i];
          vl[nv++] = same[i];
        } else {
          ts[nt] = scores[i];
          tl[nt++] = same[i];
        }
      }
      double t;
      st = fr_verif_best_threshold(ts, tl, nt, &t, NULL, err);
      out->fold_threshold[f] = t;
      out->fold_accuracy[f] = fr_verif_accuracy(vs, vl, nv, t);
      sum += out->fold_accuracy[f];
      sum_t += t;
    }
    free(ts), free(vs), free(tl), free(vl);
    if (st) return st;
    out->folds = folds;
    out->accuracy = sum / folds;
    out->threshold = sum_t / folds;
    double var = 0;
    for (int f = 0; f < folds; f++) {
      double d = out->fold_accuracy[f] - out->accuracy;
      var += d * d;
    }
    out->accuracy_std = sqrt(var / folds); /* population std, as np.std */
  } else {
    if (!isfinite(default_threshold))
      return fr_error_set(err, FR_ERR_INVALID_ARG, "no training pairs, no folds and no threshold");
    out->threshold = default_threshold;
    out->accuracy = fr_verif_accuracy(scores, same, n, default_threshold);
    out->fold_accuracy[0] = out->accuracy;
    out->fold_threshold[0] = out->threshold;
  }
  return fr_verif_tar_at_far(scores, same, n, out->far, &out->tar_at_far, &out->tar_threshold, err);
}

void fr_pairs_decide(const float *scores, const int *same, size_t n, double threshold,
                     fr_pairs_decision *out) {
  memset(out, 0, sizeof *out);
  out->pairs = n;
  for (size_t i = 0; i < n; i++) {
    int s = same[i] != 0;
    if (isnan(scores[i])) {
      out->no_face_pairs++;
      if (s)
        out->false_rejects++;
      else
        out->false_accepts++;
      continue;
    }
    int accept = (double)scores[i] >= threshold;
    if (accept == s)
      out->correct++;
    else if (accept)
      out->false_accepts++;
    else
      out->false_rejects++;
  }
  out->accuracy = n ? (double)out->correct / (double)n : 0;
}
