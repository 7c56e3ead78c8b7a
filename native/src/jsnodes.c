/*
 * The JS-ops mode's node table: what the kernel holds (node ids with their lookup counts), each
 * node a name under its parent, so a request's node id becomes the path JavaScript is given.
 * Node ids are never reused (a 64-bit counter), so a node id the kernel sends names one object for
 * good. One lock guards it all; paths are built under it.
 *
 * A node leaves the name index when its name goes (unlink, rmdir, replaced by a rename) and the
 * table when the kernel forgets it and no known child names it as parent.
 */
#include "jsnodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_id(fuse_ino_t id, size_t n) {
  return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (n - 1);
}

static size_t hash_name(fuse_ino_t parent, const char *name, size_t n) {
  uint64_t h = 1469598103934665603ull ^ parent;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29)) & (n - 1);
}

int jnodes_init(struct jnodes *t) {
  memset(t, 0, sizeof *t);
  t->n = 1024;
  t->by_id = calloc(t->n, sizeof *t->by_id);
  t->by_name = calloc(t->n, sizeof *t->by_name);
  if (!t->by_id || !t->by_name) {
    free(t->by_id);
    free(t->by_name);
    return ENOMEM;
  }
  t->next_id = FUSE_ROOT_ID + 1;
  t->root.id = FUSE_ROOT_ID;
  t->root.nlookup = 1;
  t->root.name = NULL;
  t->root.hashed = 0; /* the root has no name; it is found by id only */
  t->root.id_next = NULL;
  t->by_id[hash_id(FUSE_ROOT_ID, t->n)] = &t->root;
  pthread_mutex_init(&t->lock, NULL);
  return 0;
}

void jnodes_destroy(struct jnodes *t) {
  for (size_t i = 0; i < t->n; i++) {
    for (struct jnode *n = t->by_id[i], *next; n; n = next) {
      next = n->id_next;
      if (n != &t->root) {
        free(n->name);
        free(n);
      }
    }
  }
  free(t->by_id);
  free(t->by_name);
  pthread_mutex_destroy(&t->lock);
}

struct jnode *jnodes_get(struct jnodes *t, fuse_ino_t id) {
  for (struct jnode *n = t->by_id[hash_id(id, t->n)]; n; n = n->id_next)
    if (n->id == id) return n;
  return NULL;
}

static struct jnode *find_name(struct jnodes *t, fuse_ino_t parent, const char *name) {
  for (struct jnode *n = t->by_name[hash_name(parent, name, t->n)]; n; n = n->name_next)
    if (n->parent && n->parent->id == parent && strcmp(n->name, name) == 0) return n;
  return NULL;
}

static void unhash_name(struct jnodes *t, struct jnode *n) {
  if (!n->hashed) return;
  struct jnode **p = &t->by_name[hash_name(n->parent->id, n->name, t->n)];
  while (*p && *p != n) p = &(*p)->name_next;
  if (*p) *p = n->name_next;
  n->hashed = 0;
}

static void hash_in_name(struct jnodes *t, struct jnode *n) {
  size_t b = hash_name(n->parent->id, n->name, t->n);
  n->name_next = t->by_name[b];
  t->by_name[b] = n;
  n->hashed = 1;
}

/* Both indexes twice as large once there are as many nodes as buckets (chains stay short). */
static void grow(struct jnodes *t) {
  size_t n = t->n * 2;
  struct jnode **ids = calloc(n, sizeof *ids), **names = calloc(n, sizeof *names);
  if (!ids || !names) {
    free(ids);
    free(names);
    return; /* longer chains, still correct */
  }
  for (size_t i = 0; i < t->n; i++) {
    for (struct jnode *x = t->by_id[i], *next; x; x = next) {
      next = x->id_next;
      size_t b = hash_id(x->id, n);
      x->id_next = ids[b];
      ids[b] = x;
    }
    for (struct jnode *x = t->by_name[i], *next; x; x = next) {
      next = x->name_next;
      size_t b = hash_name(x->parent->id, x->name, n);
      x->name_next = names[b];
      names[b] = x;
    }
  }
  free(t->by_id);
  free(t->by_name);
  t->by_id = ids;
  t->by_name = names;
  t->n = n;
}

/* Out of the table once nothing holds it: no kernel reference, no known child. Then its parent may go too. */
static void release_node(struct jnodes *t, struct jnode *n) {
  while (n && n != &t->root && n->nlookup == 0 && n->children == 0) {
    unhash_name(t, n);
    struct jnode **p = &t->by_id[hash_id(n->id, t->n)];
    while (*p && *p != n) p = &(*p)->id_next;
    if (*p) *p = n->id_next;
    struct jnode *parent = n->parent;
    if (parent) parent->children--;
    free(n->name);
    free(n);
    t->count--;
    n = parent;
  }
}

int jnodes_path(struct jnodes *t, fuse_ino_t id, const char *child, char **out) {
  struct jnode *n = jnodes_get(t, id);
  if (!n) return ESTALE;
  size_t len = child ? strlen(child) + 1 : 0;
  for (struct jnode *x = n; x != &t->root; x = x->parent) {
    if (!x->parent) return ENOENT; /* cut off from the root (cannot happen while its parents are held) */
    len += strlen(x->name) + 1;
  }
  char *p = malloc(len + 2);
  if (!p) return ENOMEM;
  char *end = p + len;
  *end = '\0';
  if (child) {
    size_t l = strlen(child);
    end -= l;
    memcpy(end, child, l);
    *--end = '/';
  }
  for (struct jnode *x = n; x != &t->root; x = x->parent) {
    size_t l = strlen(x->name);
    end -= l;
    memcpy(end, x->name, l);
    *--end = '/';
  }
  if (len == 0) strcpy(p, "/"); /* the root itself */
  *out = p;
  return 0;
}

int jnodes_add(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t *id) {
  struct jnode *n = find_name(t, parent, name);
  if (n) {
    n->nlookup++;
    *id = n->id;
    return 0;
  }
  struct jnode *p = jnodes_get(t, parent);
  if (!p) return ESTALE;
  n = calloc(1, sizeof *n);
  if (!n || !(n->name = strdup(name))) {
    free(n);
    return ENOMEM;
  }
  n->id = t->next_id++;
  n->parent = p;
  p->children++;
  n->nlookup = 1;
  size_t b = hash_id(n->id, t->n);
  n->id_next = t->by_id[b];
  t->by_id[b] = n;
  hash_in_name(t, n);
  if (++t->count >= t->n) grow(t);
  *id = n->id;
  return 0;
}

void jnodes_forget(struct jnodes *t, fuse_ino_t id, uint64_t nlookup) {
  struct jnode *n = jnodes_get(t, id);
  if (!n || n == &t->root) return;
  n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
  release_node(t, n);
}

void jnodes_remove(struct jnodes *t, fuse_ino_t parent, const char *name) {
  struct jnode *n = find_name(t, parent, name);
  if (!n) return;
  unhash_name(t, n); /* keeps its parent and name: an open file's path stays what it was */
  release_node(t, n);
}

void jnodes_rename(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, int exchange) {
  struct jnode *src = find_name(t, parent, name);
  struct jnode *dst = find_name(t, newparent, newname);
  struct jnode *np = jnodes_get(t, newparent), *op = jnodes_get(t, parent);
  if (!np || !op) return;
  if (exchange) {
    /* Each takes the other's place; a side we do not know stays unknown. */
    char *a = strdup(newname), *b = strdup(name);
    if (!a || !b) {
      free(a), free(b);
      if (src) unhash_name(t, src), release_node(t, src);
      if (dst) unhash_name(t, dst), release_node(t, dst);
      return;
    }
    if (src) unhash_name(t, src);
    if (dst) unhash_name(t, dst);
    if (src) {
      src->parent->children--;
      src->parent = np;
      np->children++;
      free(src->name);
      src->name = a, a = NULL;
      hash_in_name(t, src);
    }
    if (dst) {
      dst->parent->children--;
      dst->parent = op;
      op->children++;
      free(dst->name);
      dst->name = b, b = NULL;
      hash_in_name(t, dst);
    }
    free(a), free(b);
    return;
  }
  if (dst && dst != src) {
    unhash_name(t, dst);
    release_node(t, dst);
  }
  if (!src) return;
  char *nn = strdup(newname);
  unhash_name(t, src);
  if (!nn) {
    release_node(t, src); /* unnamed now: later requests on it get its old path, lookups find the new name afresh */
    return;
  }
  struct jnode *old = src->parent;
  src->parent = np;
  np->children++;
  free(src->name);
  src->name = nn;
  hash_in_name(t, src);
  old->children--;
  release_node(t, old);
}
