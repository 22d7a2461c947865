/*
 * WIDER FACE ground truth (boxes CSV) and the official evaluation protocol,
 * following eval_tools/ of the WIDER FACE site (evaluation.m, image_evaluation,
 * image_pr_info, dataset_pr_info, VOCap) and its Python port.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/text.h"
#include "facerec/eval.h"

#define MAX_FIELDS 64
#define MAX_BOXES 50000000

void fr_wider_gt_free(fr_wider_gt *gt) {
  if (!gt) return;
  free(gt->images);
  free(gt->boxes);
  free(gt->storage_);
  memset(gt, 0, sizeof *gt);
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

enum { C_PATH, C_X, C_Y, C_W, C_H, C_EASY, C_MEDIUM, C_HARD, C_INVALID, C_COUNT };
static const char *col_names[C_COUNT] = {"path",    "x",         "y",       "w",      "h",
                                         "in_easy", "in_medium", "in_hard", "invalid"};

typedef struct {
  size_t image;
  fr_wider_box box;
  int has_box;
} row_t;

fr_status fr_wider_gt_parse(const char *text, size_t len, const char *source, fr_wider_gt *out,
                            fr_error *err) {
  memset(out, 0, sizeof *out);
  if (!source) source = "boxes.csv";
  if (len > FR_EVAL_MAX_FILE)
    return fr_error_set(err, FR_ERR_TOO_LARGE, "%s: larger than %u bytes", source,
                        (unsigned)FR_EVAL_MAX_FILE);
  char *buf;
  fr_status st = fr__eval_dup_text(text, len, source, &buf, err);
  if (st) return st;
  out->storage_ = buf;
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += (size_t)(buf[i] == '\n');
  if (cap > MAX_BOXES) cap = MAX_BOXES;
  size_t hcap = 16;
  while (hcap < 2 * cap) hcap *= 2;
  row_t *rows = malloc(cap * sizeof *rows);
  size_t *table = malloc(hcap * sizeof *table); /* image index + 1; 0 = empty */
  out->images = malloc(cap * sizeof *out->images);
  if (!rows || !table || !out->images) {
    free(rows);
    free(table);
    fr_wider_gt_free(out);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", source);
  }
  memset(table, 0, hcap * sizeof *table);
  fr__csv c;
  fr__csv_init(&c, buf, len);
  char *f[MAX_FIELDS];
  int nf, line, col[C_COUNT], have_header = 0;
  size_t n_rows = 0;
  const char *problem = NULL;
  st = FR_OK;
  for (;;) {
    int r = fr__csv_next(&c, f, MAX_FIELDS, &nf, &line, &problem);
    if (r == 0) break;
    if (r < 0) {
      st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %s", source, line, problem);
      break;
    }
    if (nf == 1 && fr__trim(f[0])[0] == 0) continue;
    int stored = nf < MAX_FIELDS ? nf : MAX_FIELDS;
    if (!have_header) {
      for (int k = 0; k < C_COUNT; k++) col[k] = -1;
      for (int i = 0; i < stored; i++) {
        const char *h = fr__trim(f[i]);
        for (int k = 0; k < C_COUNT; k++)
          if (col[k] < 0 && strcasecmp(h, col_names[k]) == 0) col[k] = i;
      }
      for (int k = 0; k < C_INVALID && !st; k++)
        if (col[k] < 0)
          st = fr_error_set(err, FR_ERR_FORMAT,
                            "%s:%d: the header lacks the column '%s' (needed: path,x,y,w,h,"
                            "in_easy,in_medium,in_hard; optional: invalid)",
                            source, line, col_names[k]);
      if (st) break;
      have_header = 1;
      continue;
    }
    int need = 0;
    for (int k = 0; k < C_COUNT; k++)
      if (col[k] > need) need = col[k];
    if (nf <= need) {
      st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %d fields, expected at least %d", source, line,
                        nf, need + 1);
      break;
    }
    if (n_rows >= cap) {
      st = fr_error_set(err, FR_ERR_TOO_LARGE, "%s:%d: more than %d rows", source, line, MAX_BOXES);
      break;
    }
    const char *path = fr__trim(f[col[C_PATH]]);
    if (!path[0]) {
      st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: empty path", source, line);
      break;
    }
    row_t *rw = &rows[n_rows];
    memset(rw, 0, sizeof *rw);
    const char *xs[4] = {fr__trim(f[col[C_X]]), fr__trim(f[col[C_Y]]), fr__trim(f[col[C_W]]),
                         fr__trim(f[col[C_H]])};
    int empty = !xs[0][0] && !xs[1][0] && !xs[2][0] && !xs[3][0];
    if (!empty) {
      float v[4];
      for (int k = 0; k < 4 && !st; k++)
        if (fr__parse_float(xs[k], &v[k]) || (k >= 2 && v[k] < 0))
          st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: bad %s '%.40s' (%s)", source, line,
                            col_names[C_X + k], xs[k],
                            k >= 2 ? "a number >= 0 expected" : "a number expected");
      if (st) break;
      rw->has_box = 1;
      rw->box.x = v[0], rw->box.y = v[1], rw->box.w = v[2], rw->box.h = v[3];
      for (int k = 0; k < 4 && !st; k++) {
        int ck = k < 3 ? C_EASY + k : C_INVALID;
        if (col[ck] < 0) continue;
        long b;
        if (fr__parse_int(f[col[ck]], 0, 1, &b))
          st = fr_error_set(err, FR_ERR_FORMAT, "%s:%d: %s must be 0 or 1, found '%.40s'", source,
                            line, col_names[ck], f[col[ck]]);
        else if (k < 3)
          rw->box.in_set[k] = (unsigned char)b;
        else
          rw->box.invalid = (unsigned char)b;
      }
      if (st) break;
    }
    /* image index by path */
    size_t hpos = (size_t)(hash_str(path) & (hcap - 1));
    while (table[hpos] && strcmp(out->images[table[hpos] - 1].path, path) != 0)
      hpos = (hpos + 1) & (hcap - 1);
    if (!table[hpos]) {
      fr_wider_image *im = &out->images[out->n_images];
      im->path = path;
      im->first = im->n = 0;
      table[hpos] = ++out->n_images;
    }
    rw->image = table[hpos] - 1;
    n_rows++;
  }
  free(table);
  if (!st && !have_header)
    st = fr_error_set(err, FR_ERR_FORMAT, "%s: empty file (no header)", source);
  if (st) {
    free(rows);
    fr_wider_gt_free(out);
    return st;
  }
  /* group the boxes by image (counting sort keeps the file order inside an image) */
  for (size_t i = 0; i < n_rows; i++)
    if (rows[i].has_box) out->images[rows[i].image].n++;
  size_t acc = 0;
  for (size_t i = 0; i < out->n_images; i++) {
    out->images[i].first = acc;
    acc += out->images[i].n;
    out->images[i].n = 0;
  }
  out->n_boxes = acc;
  out->boxes = malloc((acc ? acc : 1) * sizeof *out->boxes);
  if (!out->boxes) {
    free(rows);
    fr_wider_gt_free(out);
    return fr_error_set(err, FR_ERR_NOMEM, "%s: out of memory", source);
  }
  for (size_t i = 0; i < n_rows; i++) {
    if (!rows[i].has_box) continue;
    fr_wider_image *im = &out->images[rows[i].image];
    out->boxes[im->first + im->n++] = rows[i].box;
  }
  free(rows);
  return FR_OK;
}

fr_status fr_wider_gt_load(const char *path, fr_wider_gt *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  char *text;
  size_t len;
  fr_status st = fr__eval_read_file(path, FR_EVAL_MAX_FILE, &text, &len, err);
  if (st) return st;
  st = fr_wider_gt_parse(text, len, path, out, err);
  free(text);
  return st;
}

/* ----------------------------------------------------------------- protocol */

double fr_wider_iou(const float a[4], const float b[4]) {
  double ax2 = (double)a[0] + a[2], ay2 = (double)a[1] + a[3];
  double bx2 = (double)b[0] + b[2], by2 = (double)b[1] + b[3];
  double iw = fmin(ax2, bx2) - fmax(a[0], b[0]) + 1;
  double ih = fmin(ay2, by2) - fmax(a[1], b[1]) + 1;
  if (iw <= 0 || ih <= 0) return 0;
  double inter = iw * ih;
  double ua =
      ((double)a[2] + 1) * ((double)a[3] + 1) + ((double)b[2] + 1) * ((double)b[3] + 1) - inter;
  return ua > 0 ? inter / ua : 0;
}

double fr_voc_ap(const double *rec, const double *prec, size_t n) {
  if (n == 0) return 0;
  double *mrec = malloc((n + 2) * sizeof *mrec), *mpre = malloc((n + 2) * sizeof *mpre);
  if (!mrec || !mpre) {
    free(mrec);
    free(mpre);
    return NAN;
  }
  mrec[0] = 0, mpre[0] = 0;
  for (size_t i = 0; i < n; i++) {
    mrec[i + 1] = rec[i];
    mpre[i + 1] = isnan(prec[i]) ? 0 : prec[i]; /* MATLAB's max ignores NaN */
  }
  mrec[n + 1] = 1, mpre[n + 1] = 0;
  for (size_t i = n + 1; i > 0; i--)
    if (mpre[i] > mpre[i - 1]) mpre[i - 1] = mpre[i];
  double ap = 0;
  for (size_t i = 0; i + 1 < n + 2; i++)
    if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
  free(mrec);
  free(mpre);
  return ap;
}

typedef struct {
  double s; /* normalized score */
  float box[4];
  float raw;
  size_t order;
} det_t;

static int cmp_det(const void *a, const void *b) {
  const det_t *x = a, *y = b;
  if (x->s != y->s) return x->s < y->s ? 1 : -1;
  return (x->order > y->order) - (x->order < y->order);
}

/* The gt box of highest IoU (first on ties) for each detection, as the
 * toolkit's max(overlap_list) does. */
static void best_matches(const det_t *d, size_t nd, const fr_wider_box *gt, size_t ng, size_t *bidx,
                         double *biou) {
  for (size_t h = 0; h < nd; h++) {
    double best = -1;
    size_t idx = 0;
    for (size_t g = 0; g < ng; g++) {
      float gb[4] = {gt[g].x, gt[g].y, gt[g].w, gt[g].h};
      double o = fr_wider_iou(gb, d[h].box);
      if (o > best) best = o, idx = g;
    }
    bidx[h] = idx;
    biou[h] = best;
  }
}

/* image_evaluation: greedy matching in score order over the detections h with
 * use[h] (NULL: all). keep[g]: gt g counts. proposal[h] = 0 when detection h
 * matched an ignored box; recalled[h] = kept boxes recalled by detections
 * 0..h. Returns the recalled count. status[] is scratch of ng. */
static size_t image_eval(size_t nd, const size_t *bidx, const double *biou,
                         const unsigned char *use, size_t ng, const unsigned char *keep,
                         signed char *status, unsigned char *proposal, size_t *recalled) {
  memset(status, 0, ng);
  size_t count = 0;
  for (size_t h = 0; h < nd; h++) {
    if (use && !use[h]) continue;
    size_t idx = bidx[h];
    proposal[h] = 1;
    if (biou[h] >= 0.5) {
      if (!keep[idx]) {
        status[idx] = -1;
        proposal[h] = 0;
      } else if (status[idx] == 0) {
        status[idx] = 1;
        count++;
      }
    }
    if (recalled) recalled[h] = count;
  }
  return count;
}

fr_status fr_wider_evaluate(const fr_wider_gt *gt, const fr_wider_det *const *dets,
                            const size_t *n_dets, float recall_min_score, fr_wider_report *out,
                            fr_error *err) {
  memset(out, 0, sizeof *out);
  out->images = gt->n_images;
  size_t max_d = 0, max_g = 0;
  double smin = 1, smax = 0; /* as the toolkit's norm_score initializes them */
  for (size_t i = 0; i < gt->n_images; i++) {
    size_t nd = n_dets ? n_dets[i] : 0;
    if (nd && (!dets || !dets[i]))
      return fr_error_set(err, FR_ERR_INVALID_ARG, "image %zu: detections missing", i);
    if (nd > (size_t)1 << 24)
      return fr_error_set(err, FR_ERR_TOO_LARGE, "image %zu: %zu detections", i, nd);
    for (size_t k = 0; k < nd; k++) {
      const fr_wider_det *q = &dets[i][k];
      if (!isfinite(q->x) || !isfinite(q->y) || !isfinite(q->w) || !isfinite(q->h) ||
          !isfinite(q->score))
        return fr_error_set(err, FR_ERR_INVALID_ARG, "image %s: detection %zu is not finite",
                            gt->images[i].path, k);
      if (q->score < smin) smin = q->score;
      if (q->score > smax) smax = q->score;
    }
    out->detections += nd;
    if (nd > max_d) max_d = nd;
    if (gt->images[i].n > max_g) max_g = gt->images[i].n;
  }
  double diff = smax - smin;
  det_t *d = malloc((max_d ? max_d : 1) * sizeof *d);
  unsigned char *proposal = malloc(max_d ? max_d : 1);
  size_t *recalled = malloc((max_d ? max_d : 1) * sizeof *recalled);
  size_t *bidx = malloc((max_d ? max_d : 1) * sizeof *bidx);
  double *biou = malloc((max_d ? max_d : 1) * sizeof *biou);
  unsigned char *use = malloc(max_d ? max_d : 1);
  unsigned char *keep = malloc(max_g ? max_g : 1);
  signed char *status = malloc(max_g ? max_g : 1);
  double(*acc)[FR_WIDER_THRESH_NUM][2] = calloc(FR_WIDER_SETTINGS, sizeof *acc);
  if (!d || !proposal || !recalled || !keep || !status || !acc || !bidx || !biou || !use) {
    free(d), free(proposal), free(recalled), free(keep), free(status), free(acc);
    free(bidx), free(biou), free(use);
    return fr_error_set(err, FR_ERR_NOMEM, "out of memory for the WIDER evaluation");
  }
  size_t faces[FR_WIDER_SETTINGS] = {0};
  for (size_t i = 0; i < gt->n_images; i++) {
    const fr_wider_image *im = &gt->images[i];
    const fr_wider_box *g = gt->boxes + im->first;
    size_t ng = im->n, nd = n_dets ? n_dets[i] : 0;
    for (size_t k = 0; k < nd; k++) {
      const fr_wider_det *q = &dets[i][k];
      d[k].s = diff > 0 ? ((double)q->score - smin) / diff : 1.0;
      d[k].box[0] = q->x, d[k].box[1] = q->y, d[k].box[2] = q->w, d[k].box[3] = q->h;
      d[k].raw = q->score;
      d[k].order = k;
    }
    qsort(d, nd, sizeof *d, cmp_det);
    best_matches(d, nd, g, ng, bidx, biou);
    for (int s = 0; s < FR_WIDER_SETTINGS; s++) {
      for (size_t k = 0; k < ng; k++) {
        keep[k] = g[k].in_set[s];
        faces[s] += keep[k];
      }
      if (ng == 0 || nd == 0) continue;
      image_eval(nd, bidx, biou, NULL, ng, keep, status, proposal, recalled);
      /* image_pr_info: for each threshold, the last detection with score >= thresh */
      size_t h = 0, props = 0;
      for (int t = 0; t < FR_WIDER_THRESH_NUM; t++) {
        double thresh = 1.0 - (double)(t + 1) / FR_WIDER_THRESH_NUM;
        while (h < nd && d[h].s >= thresh) props += proposal[h++];
        if (h == 0) continue;
        acc[s][t][0] += (double)props;
        acc[s][t][1] += (double)recalled[h - 1];
      }
    }
    /* recall of faces >= 40 px at the detector's threshold */
    size_t nr = 0;
    for (size_t k = 0; k < nd; k++) nr += (use[k] = d[k].raw >= recall_min_score);
    for (size_t k = 0; k < ng; k++) {
      keep[k] = !g[k].invalid && fmaxf(g[k].w, g[k].h) >= 40.0f;
      out->faces_40 += keep[k];
    }
    if (ng && nr)
      out->found_40 += image_eval(nd, bidx, biou, use, ng, keep, status, proposal, NULL);
  }
  for (int s = 0; s < FR_WIDER_SETTINGS; s++) {
    out->faces[s] = faces[s];
    for (int t = 0; t < FR_WIDER_THRESH_NUM; t++) {
      double props = acc[s][t][0], rec = acc[s][t][1];
      out->precision[s][t] = props > 0 ? rec / props : 0;
      out->recall[s][t] = faces[s] ? rec / (double)faces[s] : 0;
    }
    out->ap[s] = fr_voc_ap(out->recall[s], out->precision[s], FR_WIDER_THRESH_NUM);
  }
  out->recall_40 = out->faces_40 ? (double)out->found_40 / (double)out->faces_40 : 0;
  free(d), free(proposal), free(recalled), free(keep), free(status), free(acc);
  free(bidx), free(biou), free(use);
  return FR_OK;
}
