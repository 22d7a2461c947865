/*
 * facerec subjects list | rename OLD NEW | delete NAME : manage the enrolled
 * people of a gallery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"

static const char usage[] =
    "usage: facerec subjects list [--db PATH] [--json]\n"
    "       facerec subjects rename OLD NEW [--merge] [--db PATH] [--json]\n"
    "       facerec subjects delete NAME [--db PATH] [--json]\n"
    "\n"
    "  list     every subject, sorted by name (byte order), with its face count:\n"
    "           one line 'NAME<TAB>FACES' per subject, or with --json one\n"
    "           {\"subject\":NAME,\"faces\":N} per line. An empty gallery prints nothing.\n"
    "  rename   renames a subject (its faces follow). NEW must not exist, unless\n"
    "           --merge is given: then OLD is merged into NEW (its faces move to\n"
    "           NEW, except those NEW already has from the same file; OLD is\n"
    "           deleted), as the HTTP API's rename does (CompreFace semantics).\n"
    "           Prints 'renamed OLD to NEW', or {\"subject\":NEW,\"renamed_from\":OLD}.\n"
    "  delete   deletes a subject and all its faces.\n"
    "           Prints 'deleted NAME (N faces)', or {\"deleted\":NAME,\"faces\":N}.\n"
    "\n"
    "  --db PATH     gallery file (default facerec.db; must exist)\n"
    "  --json        JSON Lines output\n"
    "  --models DIR  model directory (default $FR_MODELS_DIR, else ./models): the\n"
    "                gallery is opened for the default recognizer\n"
    "\n"
    "Exit status: 0, 1 when the gallery cannot be opened or the subject does not\n"
    "exist (or NEW already does, without --merge), 2 on usage errors.\n";

typedef struct entry {
  char *name;
  int64_t faces;
} entry;

typedef struct list {
  entry *v;
  size_t n, cap;
  int oom;
} list;

static int collect(void *ctx, const char *name, int64_t faces) {
  list *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    entry *v = realloc(l->v, cap * sizeof *v);
    if (!v) return l->oom = 1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n].name = strdup(name))) return l->oom = 1;
  l->v[l->n++].faces = faces;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int do_list(fr__cli *c, fr_gallery *g) {
  list l = {0};
  fr_error err = {{0}};
  int rc = 0;
  if (fr_gallery_subjects(g, collect, &l, &err) != FR_OK)
    rc = fr__cli_fail(c, "cannot list the subjects of %s: %s", c->db_path, err.msg);
  else if (l.oom)
    rc = fr__cli_fail(c, "out of memory");
  if (rc == 0) {
    if (l.n > 1) qsort(l.v, l.n, sizeof *l.v, by_name);
    for (size_t i = 0; i < l.n; i++) {
      if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "subject", fr__cli_str(l.v[i].name));
        json_object_set_new(o, "faces", json_integer(l.v[i].faces));
        fr__cli_print_json(o);
      } else {
        printf("%s\t%lld\n", l.v[i].name, (long long)l.v[i].faces);
      }
    }
  }
  for (size_t i = 0; i < l.n; i++) free(l.v[i].name);
  free(l.v);
  return rc;
}

static int do_rename(fr__cli *c, fr_gallery *g, const char *from, const char *to, bool merge) {
  fr_error err = {{0}};
  fr_status st;
  if (!merge && strcmp(from, to) != 0) { /* refuse to merge by accident */
    st = fr_gallery_faces(g, to, 0, 0, NULL, NULL, NULL, &err);
    if (st == FR_OK)
      return fr__cli_fail(c, "subject '%s' already exists (--merge merges '%s' into it)", to, from);
    if (st != FR_ERR_NOT_FOUND) return fr__cli_fail(c, "cannot rename '%s': %s", from, err.msg);
  }
  st = fr_gallery_subject_rename(g, from, to, &err);
  if (st == FR_ERR_NOT_FOUND) return fr__cli_fail(c, "no subject '%s' in %s", from, c->db_path);
  if (st != FR_OK) return fr__cli_fail(c, "cannot rename '%s' to '%s': %s", from, to, err.msg);
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "subject", fr__cli_str(to));
    json_object_set_new(o, "renamed_from", fr__cli_str(from));
    fr__cli_print_json(o);
  } else {
    printf("renamed %s to %s\n", from, to);
  }
  return 0;
}

static int do_delete(fr__cli *c, fr_gallery *g, const char *name) {
  fr_error err = {{0}};
  int64_t n = 0;
  fr_status st = fr_gallery_subject_delete(g, name, &n, &err);
  if (st == FR_ERR_NOT_FOUND) return fr__cli_fail(c, "no subject '%s' in %s", name, c->db_path);
  if (st != FR_OK) return fr__cli_fail(c, "cannot delete '%s': %s", name, err.msg);
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "deleted", fr__cli_str(name));
    json_object_set_new(o, "faces", json_integer(n));
    fr__cli_print_json(o);
  } else {
    printf("deleted %s (%lld face%s)\n", name, (long long)n, n == 1 ? "" : "s");
  }
  return 0;
}

int fr_cli_subjects(int argc, char **argv) {
  fr__cli c;
  fr__cli_init(&c, "facerec subjects", usage, FR__CLI_JSON | FR__CLI_DB | FR__CLI_MODELS);
  const char **ops = NULL;
  int n_ops = 0;
  bool merge = false;
  const fr__cli_optdef defs[] = {
      {"--merge", FR__OPT_FLAG, &merge, 0, 0},
      {NULL, 0, NULL, 0, 0},
  };
  int rc = fr__cli_parse(&c, argc, argv, defs, &ops, &n_ops);
  const char *sub = n_ops > 0 ? ops[0] : NULL;
  if (rc == 0) {
    if (!sub)
      rc = fr__cli_usage_error(&c, "needs a subcommand: list, rename OLD NEW or delete NAME");
    else if (strcmp(sub, "list") == 0 && n_ops != 1)
      rc = fr__cli_usage_error(&c, "list takes no operands");
    else if (strcmp(sub, "rename") == 0 && n_ops != 3)
      rc = fr__cli_usage_error(&c, "rename needs OLD and NEW");
    else if (strcmp(sub, "delete") == 0 && n_ops != 2)
      rc = fr__cli_usage_error(&c, "delete needs NAME");
    else if (strcmp(sub, "list") && strcmp(sub, "rename") && strcmp(sub, "delete"))
      rc = fr__cli_usage_error(&c, "unknown subcommand '%s' (list, rename, delete)", sub);
  }
  if (rc) {
    free(ops);
    return rc == FR__CLI_HELP ? 0 : rc;
  }
  fr_engine *e = NULL;
  fr_gallery *g = NULL;
  rc = fr__cli_engine_open(&c, -1, &e);
  if (rc == 0) rc = fr__cli_gallery_open(&c, e, false, &g);
  if (rc == 0) {
    if (strcmp(sub, "list") == 0)
      rc = do_list(&c, g);
    else if (strcmp(sub, "rename") == 0)
      rc = do_rename(&c, g, ops[1], ops[2], merge);
    else
      rc = do_delete(&c, g, ops[1]);
  }
  free(ops);
  if (g) fr_gallery_close(g);
  if (e) fr_engine_free(e);
  return rc;
}
