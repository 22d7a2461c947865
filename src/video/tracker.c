/*
 * The tracker: follows faces across frames and decides who each track is.
 *
 * Association (each detection round): greedy by box overlap (IoU >= iou_match,
 * best pairs first); a detection left over next to a track left over (centre
 * within 1.5 box sides, size within 2x) is embedded and joins that track when
 * its embedding is similar enough (emb_reattach) - fast motion, a detector
 * wobble. When an overlap-matched detection is embedded and does not resemble
 * the track at all (emb_split) it starts a new track: a shot cut that puts
 * another face at the same place. A track without detections coasts for
 * coast_rounds rounds, then ends at its last detection.
 *
 * Embedding is sparse: a track's first embed_first detections, then one every
 * embed_interval frames, or sooner when the face grew by embed_grow over the
 * largest embedded view. Faces smaller than min_embed_side are followed but
 * not embedded (too small to recognize).
 *
 * Identity: each embedding is searched in the gallery (top FR__K subjects); a
 * subject's score is the mean of its best decide_top similarities over the
 * track's embeddings (a missing one counts 0), so one lucky frame does not
 * name a track. The best subject at or above the threshold names the track;
 * the name changes only to another subject that scores higher (unknown -> name,
 * never name -> unknown), and each change is an IDENTIFIED event.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "video/video_internal.h"

#define FR__K 5 /* gallery matches kept per embedding */

typedef struct temb {
  float *v;                     /* dim floats (in the track's block) */
  int nm;
  fr_gallery_match m[FR__K];
} temb;

typedef struct track {
  int64_t id;
  fr_face face;                 /* last detected box */
  int64_t first_frame, last_frame, frames;
  int misses, n_det;
  int64_t last_embed_frame;
  float max_embedded_side;
  int n_emb;
  temb *emb;                    /* max_embeddings */
  float *block;                 /* max_embeddings x dim */
  bool named;
  char subject[FR_NAME_MAX + 1];
  float decision;               /* the named subject's score */
  fr_image crop;                /* best aligned view */
  float crop_q;
  int64_t crop_frame;
} track;

typedef struct done_track {
  char *subject; /* NULL = unknown */
  int64_t first, last;
  float best;
} done_track;

struct fr__tracker {
  fr__tracker_params p;
  fr__tracker_host h;
  track **t;
  int n, cap;
  done_track *done;
  int n_done, cap_done;
  int64_t next_id;
  int64_t frame;
  double time_s;
  float *scratch;               /* dim floats */
  fr_image aligned;             /* 112x112 scratch crop */
  char crop_err[512];
  bool stop;
};

fr__tracker_params fr__tracker_default_params(void) {
  fr__tracker_params p;
  memset(&p, 0, sizeof p);
  p.iou_match = 0.3f;
  p.emb_reattach = 0.45f;
  p.emb_split = 0.2f;
  p.coast_rounds = 3;
  p.embed_first = 3;
  p.embed_interval = 10;
  p.embed_grow = 1.3f;
  p.max_embeddings = 16;
  p.decide_top = 3;
  p.threshold = 0.4f;
  p.every = 1;
  p.min_embed_side = 32;
  p.range_gap = 30;
  return p;
}

float fr__iou(const fr_face *a, const fr_face *b) {
  const float x1 = fmaxf(a->x, b->x), y1 = fmaxf(a->y, b->y);
  const float x2 = fminf(a->x + a->w, b->x + b->w), y2 = fminf(a->y + a->h, b->y + b->h);
  if (x2 <= x1 || y2 <= y1) return 0;
  const float in = (x2 - x1) * (y2 - y1);
  const float un = a->w * a->h + b->w * b->h - in;
  return un > 0 ? in / un : 0;
}

static float side_of(const fr_face *f) { return f->w < f->h ? f->w : f->h; }

fr_status fr__tracker_create(const fr__tracker_params *p, const fr__tracker_host *h,
                             fr__tracker **out, fr_error *err) {
  *out = NULL;
  if (!p || !h || h->dim <= 0 || h->dim > FR_EMBED_MAX || p->max_embeddings < 1 ||
      p->max_embeddings > 256 || p->decide_top < 1 || p->every < 1 || p->coast_rounds < 0)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "tracker: bad parameters");
  fr__tracker *t = calloc(1, sizeof *t);
  if (!t || !(t->scratch = malloc((size_t)h->dim * sizeof(float)))) {
    free(t);
    return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
  }
  t->p = *p;
  t->h = *h;
  t->next_id = 1;
  t->frame = -1;
  *out = t;
  return FR_OK;
}

static void track_free(track *k) {
  if (!k) return;
  free(k->emb);
  free(k->block);
  fr_image_free(&k->crop);
  free(k);
}

void fr__tracker_free(fr__tracker *t) {
  if (!t) return;
  for (int i = 0; i < t->n; i++) track_free(t->t[i]);
  free(t->t);
  for (int i = 0; i < t->n_done; i++) free(t->done[i].subject);
  free(t->done);
  free(t->scratch);
  fr_image_free(&t->aligned);
  free(t);
}

const char *fr__tracker_crop_error(const fr__tracker *t) { return t->crop_err; }
int64_t fr__tracker_count(const fr__tracker *t) { return t->next_id - 1; }

static void emit(fr__tracker *t, fr_video_event *ev) {
  if (t->h.cb && t->h.cb(t->h.cb_ctx, ev)) t->stop = true;
}

static int mkdirs(const char *dir) {
  char tmp[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof tmp) return -1;
  memcpy(tmp, dir, len + 1);
  for (char *q = tmp + 1; *q; q++)
    if (*q == '/') {
      *q = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *q = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void safe_name(const char *name, char *out, size_t n) {
  size_t k = 0;
  for (size_t i = 0; name[i] && k + 1 < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    bool bad = ch == '/' || ch == '\\' || ch < 0x20 || ch == 0x7f || (k == 0 && ch == '.');
    out[k++] = bad ? '_' : (char)ch;
  }
  if (k == 0 && n > 1) out[k++] = '_';
  out[k] = 0;
}

/* The track's best similarity to its subject (named) or to anyone (unknown); NAN if none. */
static float track_best(const track *k) {
  float best = NAN;
  for (int e = 0; e < k->n_emb; e++)
    for (int j = 0; j < k->emb[e].nm; j++) {
      const fr_gallery_match *m = &k->emb[e].m[j];
      if (k->named && strcmp(m->subject, k->subject) != 0) continue;
      if (!k->named && j > 0) break;
      if (isnan(best) || m->similarity > best) best = m->similarity;
    }
  return best;
}

static fr_status end_track(fr__tracker *t, int idx, fr_error *err) {
  track *k = t->t[idx];
  char path[4096];
  const char *crop_path = NULL;
  if (t->h.crops_dir && k->crop.px) {
    char safe[FR_NAME_MAX + 1], dir[4096];
    safe_name(k->named ? k->subject : "unknown", safe, sizeof safe);
    snprintf(dir, sizeof dir, "%s/%s", t->h.crops_dir, safe);
    snprintf(path, sizeof path, "%s/%lld_%lld.jpg", dir, (long long)k->id, (long long)k->crop_frame);
    fr_error e2 = {{0}};
    if (mkdirs(dir) != 0) {
      if (!t->crop_err[0]) snprintf(t->crop_err, sizeof t->crop_err, "cannot create %s: %s", dir, strerror(errno));
    } else if (fr_image_save_jpeg(&k->crop, path, 92, &e2) != FR_OK) {
      if (!t->crop_err[0]) snprintf(t->crop_err, sizeof t->crop_err, "%s", e2.msg);
    } else {
      crop_path = path;
    }
  }
  const float best = track_best(k);
  if (t->n_done == t->cap_done) {
    int nc = t->cap_done ? 2 * t->cap_done : 64;
    done_track *d = realloc(t->done, (size_t)nc * sizeof *d);
    if (!d) return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
    t->done = d;
    t->cap_done = nc;
  }
  done_track *d = &t->done[t->n_done];
  d->subject = NULL;
  if (k->named && !(d->subject = strdup(k->subject)))
    return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
  d->first = k->first_frame;
  d->last = k->last_frame;
  d->best = best;
  t->n_done++;
  fr_video_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = FR_VIDEO_TRACK_END;
  ev.track = k->id;
  ev.frame = t->frame;
  ev.time_s = t->time_s;
  ev.face = k->face;
  ev.subject = k->named ? k->subject : NULL;
  ev.similarity = k->named ? k->decision : NAN;
  ev.first_frame = k->first_frame;
  ev.last_frame = k->last_frame;
  ev.best_similarity = best;
  ev.frames = k->frames;
  ev.crop_path = crop_path;
  emit(t, &ev);
  track_free(k);
  memmove(&t->t[idx], &t->t[idx + 1], (size_t)(t->n - idx - 1) * sizeof *t->t);
  t->n--;
  return FR_OK;
}

static fr_status new_track(fr__tracker *t, const fr_face *f, track **out, fr_error *err) {
  *out = NULL;
  if (t->n == t->cap) {
    int nc = t->cap ? 2 * t->cap : 16;
    track **v = realloc(t->t, (size_t)nc * sizeof *v);
    if (!v) return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
    t->t = v;
    t->cap = nc;
  }
  track *k = calloc(1, sizeof *k);
  if (!k || !(k->emb = calloc((size_t)t->p.max_embeddings, sizeof *k->emb)) ||
      !(k->block = malloc((size_t)t->p.max_embeddings * (size_t)t->h.dim * sizeof(float)))) {
    track_free(k);
    return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
  }
  for (int e = 0; e < t->p.max_embeddings; e++) k->emb[e].v = k->block + (size_t)e * (size_t)t->h.dim;
  k->id = t->next_id++;
  k->face = *f;
  k->first_frame = k->last_frame = t->frame;
  k->frames = 1;
  k->n_det = 1;
  k->last_embed_frame = -1;
  t->t[t->n++] = k;
  fr_video_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = FR_VIDEO_TRACK_START;
  ev.track = k->id;
  ev.frame = t->frame;
  ev.time_s = t->time_s;
  ev.face = *f;
  ev.first_frame = ev.last_frame = t->frame;
  ev.similarity = ev.best_similarity = NAN;
  emit(t, &ev);
  *out = k;
  return FR_OK;
}

/* Best similarity of emb to the track's embeddings (-1 when it has none). */
static float track_sim(const fr__tracker *t, const track *k, const float *emb) {
  float best = -1;
  for (int e = 0; e < k->n_emb; e++) {
    float s = fr_cosine(k->emb[e].v, emb, t->h.dim);
    if (s > best) best = s;
  }
  return best;
}

/* Adds an embedding (and its gallery matches) to a track, keeps the best
 * aligned view, and re-decides the identity. */
static fr_status add_embedding(fr__tracker *t, track *k, const float *emb, const fr_face *f,
                               const fr_image *aligned, fr_error *err) {
  int slot = k->n_emb;
  if (slot == t->p.max_embeddings) { /* full: replace the least similar to anyone */
    slot = 0;
    for (int e = 1; e < k->n_emb; e++) {
      float a = k->emb[e].nm ? k->emb[e].m[0].similarity : -2;
      float b = k->emb[slot].nm ? k->emb[slot].m[0].similarity : -2;
      if (a < b) slot = e;
    }
  } else {
    k->n_emb++;
  }
  temb *te = &k->emb[slot];
  memcpy(te->v, emb, (size_t)t->h.dim * sizeof(float));
  te->nm = 0;
  if (t->h.search) {
    fr_status st = t->h.search(t->h.ctx, emb, FR__K, te->m, &te->nm, err);
    if (st) return st;
  }
  k->last_embed_frame = t->frame;
  if (side_of(f) > k->max_embedded_side) k->max_embedded_side = side_of(f);
  /* best view: detector confidence times size (up to the crop's 112 px) */
  if (aligned && aligned->px) {
    float q = f->score * fminf(1.0f, side_of(f) / 112.0f);
    if (!k->crop.px || q > k->crop_q) {
      fr_image c = {0};
      if (fr_image_copy(aligned, &c, NULL) == FR_OK) {
        fr_image_free(&k->crop);
        k->crop = c;
        k->crop_q = q;
        k->crop_frame = t->frame;
      }
    }
  }
  /* identity: per subject, mean of its best decide_top similarities */
  const int top = t->p.decide_top < k->n_emb ? t->p.decide_top : k->n_emb;
  const char *best_s = NULL;
  float best_score = -2, cur_score = -2;
  for (int e = 0; e < k->n_emb; e++)
    for (int j = 0; j < k->emb[e].nm; j++) {
      const char *s = k->emb[e].m[j].subject;
      bool seen = false; /* scored already through an earlier embedding */
      for (int e2 = 0; e2 < e && !seen; e2++)
        for (int j2 = 0; j2 < k->emb[e2].nm; j2++)
          if (strcmp(k->emb[e2].m[j2].subject, s) == 0) {
            seen = true;
            break;
          }
      if (seen) continue;
      float v[256];
      int nv = 0;
      for (int e2 = 0; e2 < k->n_emb; e2++)
        for (int j2 = 0; j2 < k->emb[e2].nm; j2++)
          if (strcmp(k->emb[e2].m[j2].subject, s) == 0) {
            v[nv++] = k->emb[e2].m[j2].similarity;
            break;
          }
      /* top similarities (selection: nv <= 256, top <= nv small) */
      float sum = 0;
      for (int r = 0; r < top && r < nv; r++) {
        int bi = r;
        for (int q = r + 1; q < nv; q++)
          if (v[q] > v[bi]) bi = q;
        float tmp = v[r];
        v[r] = v[bi];
        v[bi] = tmp;
        sum += v[r];
      }
      const float score = sum / (float)top;
      if (k->named && strcmp(s, k->subject) == 0) cur_score = score;
      if (score > best_score) {
        best_score = score;
        best_s = s;
      }
    }
  if (k->named) k->decision = cur_score;
  if (best_s && best_score >= t->p.threshold &&
      (!k->named || (strcmp(best_s, k->subject) != 0 && best_score > cur_score))) {
    k->named = true;
    snprintf(k->subject, sizeof k->subject, "%s", best_s);
    k->decision = best_score;
    fr_video_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FR_VIDEO_IDENTIFIED;
    ev.track = k->id;
    ev.frame = t->frame;
    ev.time_s = t->time_s;
    ev.face = *f;
    ev.subject = k->subject;
    ev.similarity = best_score;
    ev.first_frame = k->first_frame;
    ev.last_frame = t->frame;
    ev.best_similarity = track_best(k);
    ev.frames = k->frames;
    emit(t, &ev);
  }
  return FR_OK;
}

/* Embeds detection d (embedding into t->scratch, crop into t->aligned). */
static fr_status embed_det(fr__tracker *t, int d, fr_error *err) {
  if (!t->h.embed) return fr_error_set(err, FR_ERR_INTERNAL, "tracker: no embedder");
  return t->h.embed(t->h.ctx, d, t->scratch, &t->aligned, err);
}

static bool wants_embedding(const fr__tracker *t, const track *k, const fr_face *f) {
  if (!t->h.embed || side_of(f) < t->p.min_embed_side) return false;
  if (k->n_emb < t->p.embed_first) return true;
  if (t->frame - k->last_embed_frame >= t->p.embed_interval) return true;
  return side_of(f) > k->max_embedded_side * t->p.embed_grow;
}

static void update_track(fr__tracker *t, track *k, const fr_face *f) {
  const int64_t gap = t->frame - k->last_frame;
  k->frames += gap <= t->p.every ? gap : 1;
  k->face = *f;
  k->last_frame = t->frame;
  k->misses = 0;
  k->n_det++;
}

fr_status fr__tracker_frame(fr__tracker *t, int64_t frame, double time_s, bool detected,
                            const fr_face *dets, int n, bool *stop, fr_error *err) {
  if (stop) *stop = false;
  if (frame <= t->frame)
    return fr_error_set(err, FR_ERR_INVALID_ARG, "tracker: frame %lld after %lld", (long long)frame,
                        (long long)t->frame);
  t->frame = frame;
  t->time_s = time_s;
  if (!detected) return FR_OK;
  if (n < 0 || (n > 0 && !dets)) return fr_error_set(err, FR_ERR_INVALID_ARG, "tracker: bad detections");
  fr_status st = FR_OK;
  const int nt = t->n;
  int *det_of = malloc(((size_t)nt + 1) * sizeof(int)); /* track -> det or -1 */
  int *trk_of = malloc(((size_t)n + 1) * sizeof(int));  /* det -> track or -1 */
  bool *embedded = calloc((size_t)n + 1, sizeof(bool)); /* det was embedded into t->scratch ... */
  float *det_emb = NULL;                                /* ... and kept here (n x dim) */
  if (!det_of || !trk_of || !embedded) {
    st = fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
    goto out;
  }
  for (int i = 0; i < nt; i++) det_of[i] = -1;
  for (int j = 0; j < n; j++) trk_of[j] = -1;
  /* 1. greedy IoU matching, best pairs first (ties: lower track, then det index) */
  for (;;) {
    float best = t->p.iou_match;
    int bi = -1, bj = -1;
    for (int i = 0; i < nt; i++) {
      if (det_of[i] >= 0) continue;
      for (int j = 0; j < n; j++) {
        if (trk_of[j] >= 0) continue;
        float o = fr__iou(&t->t[i]->face, &dets[j]);
        if (o >= best && (bi < 0 || o > best)) {
          best = o;
          bi = i;
          bj = j;
        }
      }
    }
    if (bi < 0) break;
    det_of[bi] = bj;
    trk_of[bj] = bi;
  }
  /* 2. leftover detections near a leftover track: compare embeddings */
  if (n > 0 && !(det_emb = malloc((size_t)n * (size_t)t->h.dim * sizeof(float)))) {
    st = fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory");
    goto out;
  }
  for (int j = 0; j < n; j++) {
    if (trk_of[j] >= 0) continue;
    const fr_face *f = &dets[j];
    if (!t->h.embed || side_of(f) < t->p.min_embed_side) continue;
    int cand = -1;
    float cand_sim = t->p.emb_reattach;
    for (int i = 0; i < nt; i++) {
      const track *k = t->t[i];
      if (det_of[i] >= 0 || k->n_emb == 0) continue;
      const float ks = side_of(&k->face), fs = side_of(f);
      const float dx = (k->face.x + k->face.w / 2) - (f->x + f->w / 2);
      const float dy = (k->face.y + k->face.h / 2) - (f->y + f->h / 2);
      if (fs > 2 * ks || ks > 2 * fs || hypotf(dx, dy) > 1.5f * fmaxf(ks, fs)) continue;
      if (!embedded[j]) {
        if ((st = embed_det(t, j, err))) goto out;
        memcpy(det_emb + (size_t)j * (size_t)t->h.dim, t->scratch, (size_t)t->h.dim * sizeof(float));
        embedded[j] = true;
      }
      float s = track_sim(t, k, det_emb + (size_t)j * (size_t)t->h.dim);
      if (s >= cand_sim) {
        cand_sim = s;
        cand = i;
      }
    }
    if (cand >= 0) {
      det_of[cand] = j;
      trk_of[j] = cand;
    }
  }
  /* 3. matched tracks, in track order: embed when due, split on a different face */
  int ended_before = 0; /* tracks removed from t->t during this loop (indices shift) */
  for (int i0 = 0; i0 < nt; i0++) {
    const int i = i0 - ended_before;
    const int j = det_of[i0];
    if (j < 0) continue;
    track *k = t->t[i];
    const fr_face *f = &dets[j];
    const bool want = embedded[j] || wants_embedding(t, k, f);
    if (!want) {
      update_track(t, k, f);
      continue;
    }
    /* t->aligned is this detection's crop only when it was embedded just now */
    const fr_image *crop = &t->aligned;
    if (!embedded[j]) {
      if ((st = embed_det(t, j, err))) goto out;
    } else {
      memcpy(t->scratch, det_emb + (size_t)j * (size_t)t->h.dim, (size_t)t->h.dim * sizeof(float));
      crop = NULL;
    }
    const float *emb = t->scratch;
    if (k->n_emb > 0 && track_sim(t, k, emb) < t->p.emb_split) {
      /* another face where this track was: end it and start a new one */
      float keep[FR_EMBED_MAX];
      memcpy(keep, emb, (size_t)t->h.dim * sizeof(float));
      if ((st = end_track(t, i, err))) goto out;
      ended_before++;
      track *nk;
      if ((st = new_track(t, f, &nk, err))) goto out;
      if ((st = add_embedding(t, nk, keep, f, crop, err))) goto out;
      continue;
    }
    update_track(t, k, f);
    if ((st = add_embedding(t, k, emb, f, crop, err))) goto out;
  }
  /* 4. unmatched detections: new tracks */
  for (int j = 0; j < n; j++) {
    if (trk_of[j] >= 0) continue;
    const fr_face *f = &dets[j];
    track *nk;
    if ((st = new_track(t, f, &nk, err))) goto out;
    if (embedded[j]) { /* embedded by the reattach pass (its crop is gone: the next one comes soon) */
      if ((st = add_embedding(t, nk, det_emb + (size_t)j * (size_t)t->h.dim, f, NULL, err))) goto out;
    } else if (t->h.embed && side_of(f) >= t->p.min_embed_side) {
      if ((st = embed_det(t, j, err))) goto out;
      if ((st = add_embedding(t, nk, t->scratch, f, &t->aligned, err))) goto out;
    }
  }
  /* 5. tracks without a detection this round coast, then end */
  for (int i = 0; i < t->n;) {
    track *k = t->t[i];
    if (k->last_frame == t->frame) {
      i++;
      continue;
    }
    if (++k->misses > t->p.coast_rounds) {
      if ((st = end_track(t, i, err))) goto out;
      continue;
    }
    i++;
  }
out:
  free(det_of);
  free(trk_of);
  free(embedded);
  free(det_emb);
  if (stop) *stop = t->stop;
  return st;
}

fr_status fr__tracker_cut(fr__tracker *t, int64_t frame, double time_s, bool *stop, fr_error *err) {
  const int64_t keep = t->frame;
  const double keep_t = t->time_s;
  t->frame = frame;
  t->time_s = time_s;
  fr_status st = FR_OK;
  while (t->n > 0 && !st) st = end_track(t, 0, err);
  t->frame = keep;
  t->time_s = keep_t;
  if (stop) *stop = t->stop;
  return st;
}

fr_status fr__tracker_finish(fr__tracker *t, bool *stop, fr_error *err) {
  fr_status st = FR_OK;
  while (t->n > 0 && !st) st = end_track(t, 0, err);
  if (stop) *stop = t->stop;
  return st;
}

int fr__tracker_visible(const fr__tracker *t, fr__tvis *out, int max) {
  int m = 0;
  for (int i = 0; i < t->n && m < max; i++) {
    const track *k = t->t[i];
    if (k->misses > 0) continue;
    out[m].id = k->id;
    out[m].face = k->face;
    out[m].subject = k->named ? k->subject : NULL;
    out[m].similarity = k->named ? k->decision : NAN;
    m++;
  }
  return m;
}

static int cmp_range(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

fr_status fr__tracker_summary(const fr__tracker *t, fr_video_summary *s, fr_error *err) {
  s->tracks = fr__tracker_count(t);
  s->n_subjects = 0;
  s->subjects = NULL;
  int cap = 0;
  for (int i = 0; i < t->n_done; i++) {
    const done_track *d = &t->done[i];
    if (!d->subject) continue;
    int k = 0;
    while (k < s->n_subjects && strcmp(s->subjects[k].subject, d->subject) != 0) k++;
    if (k == s->n_subjects) {
      if (k == cap) {
        int nc = cap ? 2 * cap : 8;
        fr_video_subject_seen *v = realloc(s->subjects, (size_t)nc * sizeof *v);
        if (!v) goto nomem;
        s->subjects = v;
        cap = nc;
      }
      fr_video_subject_seen *ns = &s->subjects[k];
      memset(ns, 0, sizeof *ns);
      if (!(ns->subject = strdup(d->subject))) goto nomem;
      ns->first_frame = d->first;
      ns->last_frame = d->last;
      ns->best_similarity = d->best;
      s->n_subjects++;
    }
    fr_video_subject_seen *ss = &s->subjects[k];
    if (d->first < ss->first_frame) ss->first_frame = d->first;
    if (d->last > ss->last_frame) ss->last_frame = d->last;
    if (!isnan(d->best) && (isnan(ss->best_similarity) || d->best > ss->best_similarity))
      ss->best_similarity = d->best;
    ss->tracks++;
    int64_t(*r)[2] = realloc(ss->ranges, (size_t)(ss->n_ranges + 1) * sizeof *r);
    if (!r) goto nomem;
    ss->ranges = r;
    r[ss->n_ranges][0] = d->first;
    r[ss->n_ranges][1] = d->last;
    ss->n_ranges++;
  }
  for (int k = 0; k < s->n_subjects; k++) { /* merge ranges that overlap or nearly touch */
    fr_video_subject_seen *ss = &s->subjects[k];
    qsort(ss->ranges, (size_t)ss->n_ranges, sizeof *ss->ranges, cmp_range);
    int m = 0;
    for (int i = 0; i < ss->n_ranges; i++) {
      if (m > 0 && ss->ranges[i][0] <= ss->ranges[m - 1][1] + t->p.range_gap) {
        if (ss->ranges[i][1] > ss->ranges[m - 1][1]) ss->ranges[m - 1][1] = ss->ranges[i][1];
      } else {
        ss->ranges[m][0] = ss->ranges[i][0];
        ss->ranges[m][1] = ss->ranges[i][1];
        m++;
      }
    }
    ss->n_ranges = m;
  }
  /* by first frame */
  for (int i = 1; i < s->n_subjects; i++) {
    fr_video_subject_seen x = s->subjects[i];
    int j = i - 1;
    while (j >= 0 && s->subjects[j].first_frame > x.first_frame) {
      s->subjects[j + 1] = s->subjects[j];
      j--;
    }
    s->subjects[j + 1] = x;
  }
  return FR_OK;
nomem:
  return fr_error_set(err, FR_ERR_NOMEM, "tracker: out of memory (summary)");
}
