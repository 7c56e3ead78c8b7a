/*
 * The JS-ops mode's node table: what the kernel holds (node ids with their lookup counts), each
 * node with its names (parent, name), so a request's node id becomes the path JavaScript is given.
 * Node ids are never reused (a 64-bit counter), so a node id the kernel sends names one object for
 * good. One lock guards it all; paths are built under it.
 *
 * A node is one file of the author's, keyed by the `ino` its getattr answers (as go-fuse keys its
 * inodes by StableAttr.Ino): a lookup, create or link whose answer is a non-directory with an ino
 * already held by a node with a live name of the same type gets that node, so every hard link of
 * a file is one kernel inode (nlink, ctime, mode changed through one name are seen through the
 * others). Without an ino (0), and for directories, a node is its (parent, name) alone, as
 * libfuse's high-level API does. A name whose answer is another file than its node's (another ino
 * or type: the tree changed behind the kernel) moves to that file's node.
 *
 * A node's path, for the ops that come by node id (getattr, setattr, open, read, …), is built from
 * its first name: the newest looked up, or the next one once that is unlinked or renamed over. A
 * node whose last name goes keeps it, out of the name index, so an open file's ops still get the
 * path they had (jsfs.c passes them the open handle besides). A node leaves the table when the
 * kernel forgets it and no name in the table has it as parent.
 */
#include "jsnodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t hash_id(uint64_t id, size_t n) {
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
  t->by_ino = calloc(t->n, sizeof *t->by_ino);
  t->by_name = calloc(t->n, sizeof *t->by_name);
  if (!t->by_id || !t->by_ino || !t->by_name) {
    free(t->by_id);
    free(t->by_ino);
    free(t->by_name);
    return ENOMEM;
  }
  t->next_id = FUSE_ROOT_ID + 1;
  t->root.id = FUSE_ROOT_ID;
  t->root.type = S_IFDIR;
  t->root.nlookup = 1;
  t->root.names = NULL; /* the root has no name; it is found by id only */
  t->root.hashed = 0;
  t->root.id_next = NULL;
  t->by_id[hash_id(FUSE_ROOT_ID, t->n)] = &t->root;
  pthread_mutex_init(&t->lock, NULL);
  return 0;
}

void jnodes_destroy(struct jnodes *t) {
  for (size_t i = 0; i < t->n; i++) {
    for (struct jnode *n = t->by_id[i], *next; n; n = next) {
      next = n->id_next;
      for (struct jname *nm = n->names, *nx; nm; nm = nx) {
        nx = nm->sibling;
        free(nm->name);
        free(nm);
      }
      if (n != &t->root) free(n->fhs), free(n);
    }
  }
  free(t->by_id);
  free(t->by_ino);
  free(t->by_name);
  pthread_mutex_destroy(&t->lock);
}

struct jnode *jnodes_get(struct jnodes *t, fuse_ino_t id) {
  for (struct jnode *n = t->by_id[hash_id(id, t->n)]; n; n = n->id_next)
    if (n->id == id) return n;
  return NULL;
}

static struct jname *find_name(struct jnodes *t, fuse_ino_t parent, const char *name) {
  for (struct jname *nm = t->by_name[hash_name(parent, name, t->n)]; nm; nm = nm->hash_next)
    if (nm->parent->id == parent && strcmp(nm->name, name) == 0) return nm;
  return NULL;
}

static struct jnode *find_ino(struct jnodes *t, uint64_t ino) {
  for (struct jnode *n = t->by_ino[hash_id(ino, t->n)]; n; n = n->ino_next)
    if (n->ino == ino) return n;
  return NULL;
}

static void unhash_name(struct jnodes *t, struct jname *nm) {
  if (!nm->live) return;
  struct jname **p = &t->by_name[hash_name(nm->parent->id, nm->name, t->n)];
  while (*p && *p != nm) p = &(*p)->hash_next;
  if (*p) *p = nm->hash_next;
  nm->hash_next = NULL;
  nm->live = 0;
}

static void hash_in_name(struct jnodes *t, struct jname *nm) {
  size_t b = hash_name(nm->parent->id, nm->name, t->n);
  nm->hash_next = t->by_name[b];
  t->by_name[b] = nm;
  nm->live = 1;
}

static void unindex_ino(struct jnodes *t, struct jnode *n) {
  if (!n->indexed) return;
  struct jnode **p = &t->by_ino[hash_id(n->ino, t->n)];
  while (*p && *p != n) p = &(*p)->ino_next;
  if (*p) *p = n->ino_next;
  n->ino_next = NULL;
  n->indexed = 0;
}

/* `n` holds its ino from now on (an ino the author reused: the older holder is found by id only). */
static void index_ino(struct jnodes *t, struct jnode *n) {
  struct jnode *old = find_ino(t, n->ino);
  if (old) unindex_ino(t, old);
  size_t b = hash_id(n->ino, t->n);
  n->ino_next = t->by_ino[b];
  t->by_ino[b] = n;
  n->indexed = 1;
}

/* The indexes twice as large once there are as many nodes or names as buckets (chains stay short). */
static void grow(struct jnodes *t) {
  size_t n = t->n * 2;
  struct jnode **ids = calloc(n, sizeof *ids), **inos = calloc(n, sizeof *inos);
  struct jname **names = calloc(n, sizeof *names);
  if (!ids || !inos || !names) {
    free(ids);
    free(inos);
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
    for (struct jnode *x = t->by_ino[i], *next; x; x = next) {
      next = x->ino_next;
      size_t b = hash_id(x->ino, n);
      x->ino_next = inos[b];
      inos[b] = x;
    }
    for (struct jname *x = t->by_name[i], *next; x; x = next) {
      next = x->hash_next;
      size_t b = hash_name(x->parent->id, x->name, n);
      x->hash_next = names[b];
      names[b] = x;
    }
  }
  free(t->by_id);
  free(t->by_ino);
  free(t->by_name);
  t->by_id = ids;
  t->by_ino = inos;
  t->by_name = names;
  t->n = n;
}

/* Frees a name already off its node's list; returns its parent (one child fewer). */
static struct jnode *free_name(struct jnodes *t, struct jname *nm) {
  unhash_name(t, nm);
  struct jnode *p = nm->parent;
  p->children--;
  free(nm->name);
  free(nm);
  t->names--;
  return p;
}

/*
 * Out of the table once nothing holds it: no kernel reference, no name with it as parent. Then its
 * parents may go too (a directory has one name: followed in this loop; a file's several, each but
 * the last by a call of its own, which goes no deeper than that directory's chain).
 */
static void release_node(struct jnodes *t, struct jnode *n) {
  while (n && n != &t->root && n->nlookup == 0 && n->children == 0) {
    struct jnode **p = &t->by_id[hash_id(n->id, t->n)];
    while (*p && *p != n) p = &(*p)->id_next;
    if (*p) *p = n->id_next;
    unindex_ino(t, n);
    struct jname *nm = n->names;
    free(n->fhs);
    free(n);
    t->count--;
    n = NULL;
    while (nm) {
      struct jname *next = nm->sibling;
      struct jnode *parent = free_name(t, nm);
      if (next) release_node(t, parent);
      else n = parent;
      nm = next;
    }
  }
}

/* Takes `nm` off its node's list (it is there). */
static void unlist_name(struct jname *nm) {
  struct jname **p = &nm->node->names;
  while (*p && *p != nm) p = &(*p)->sibling;
  if (*p) *p = nm->sibling;
  nm->sibling = NULL;
}

/*
 * The name is gone (unlink, rmdir, renamed over, or now another file's). A node with other names
 * loses it; one whose last name it was keeps it, out of the index, so its path stays what it was.
 */
static void drop_name(struct jnodes *t, struct jname *nm) {
  struct jnode *n = nm->node;
  unhash_name(t, nm);
  if (n->names != nm || nm->sibling) {
    unlist_name(nm);
    release_node(t, free_name(t, nm));
  } else {
    n->hashed = 0;
  }
  release_node(t, n);
}

int jnodes_path(struct jnodes *t, fuse_ino_t id, const char *child, char **out) {
  struct jnode *n = jnodes_get(t, id);
  if (!n) return ESTALE;
  size_t len = child ? strlen(child) + 1 : 0;
  for (struct jnode *x = n; x != &t->root; x = x->names->parent) {
    if (!x->names) return ENOENT; /* cut off from the root (cannot happen while its parents are held) */
    len += strlen(x->names->name) + 1;
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
  for (struct jnode *x = n; x != &t->root; x = x->names->parent) {
    size_t l = strlen(x->names->name);
    end -= l;
    memcpy(end, x->names->name, l);
    *--end = '/';
  }
  if (len == 0) strcpy(p, "/"); /* the root itself */
  *out = p;
  return 0;
}

/* Whether the author's answer (ino, type) is the file node `n` stands for. Directories: by name alone. */
static int same_file(const struct jnode *n, uint64_t ino, mode_t type) {
  if (n->type != type) return 0;
  return type == S_IFDIR || n->ino == ino;
}

int jnodes_add(struct jnodes *t, fuse_ino_t parent, const char *name, uint64_t ino, mode_t mode, fuse_ino_t link_of, fuse_ino_t *id) {
  mode_t type = mode & S_IFMT;
  struct jname *old = find_name(t, parent, name);
  if (old && same_file(old->node, ino, type)) {
    struct jnode *n = old->node;
    if (n->names != old) {
      /* The newest name looked up is the node's path (a name changed behind the kernel is not used long). */
      unlist_name(old);
      old->sibling = n->names;
      n->names = old;
    }
    n->nlookup++;
    *id = n->id;
    return 0;
  }
  struct jnode *p = jnodes_get(t, parent);
  if (!p) return ESTALE;
  struct jnode *n = NULL;
  if (type != S_IFDIR && ino != 0) {
    struct jnode *src = link_of ? jnodes_get(t, link_of) : NULL;
    if (src && src != &t->root && src->ino == ino && src->type == type) n = src; /* link: even a source whose last name is gone (linkat of an open file) */
    if (!n) {
      struct jnode *held = find_ino(t, ino);
      /* A node whose names are all gone is not this file: its ino was reused. */
      if (held && held->hashed && held->type == type) n = held;
    }
  }
  struct jname *nm = calloc(1, sizeof *nm);
  if (!nm || !(nm->name = strdup(name))) {
    free(nm);
    return ENOMEM;
  }
  if (!n) {
    if (!(n = calloc(1, sizeof *n))) {
      free(nm->name);
      free(nm);
      return ENOMEM;
    }
    n->id = t->next_id++;
    n->ino = ino;
    n->type = type;
    size_t b = hash_id(n->id, t->n);
    n->id_next = t->by_id[b];
    t->by_id[b] = n;
    t->count++;
    if (type != S_IFDIR && ino != 0) index_ino(t, n);
  }
  /* A node named again drops the gone name it kept for its path. */
  struct jname *kept = n->names && !n->names->live ? n->names : NULL;
  if (kept) unlist_name(kept);
  nm->node = n;
  nm->parent = p;
  p->children++; /* before `old` goes: its parent (p too) stays */
  nm->sibling = n->names;
  n->names = nm;
  hash_in_name(t, nm);
  t->names++;
  n->hashed = 1;
  n->nlookup++;
  if (kept) release_node(t, free_name(t, kept));
  if (old) drop_name(t, old); /* the name is another file's now */
  if (t->count >= t->n || t->names >= t->n) grow(t);
  *id = n->id;
  return 0;
}

/*
 * Every open handle is kept, not only the latest: a name-less getattr of an unlinked file must get
 * one that is still open (the author may answer a released one by the path, now another file's).
 */
void jnodes_opened(struct jnode *n, uint64_t fh) {
  n->opens++;
  if (n->nfhs == n->fhs_cap) {
    uint32_t cap = n->fhs_cap ? n->fhs_cap * 2 : 4;
    uint64_t *f = realloc(n->fhs, cap * sizeof *f);
    if (!f) return; /* not kept: the others still are, each of them open */
    n->fhs = f, n->fhs_cap = cap;
  }
  n->fhs[n->nfhs++] = fh;
}

void jnodes_released(struct jnode *n, uint64_t fh) {
  if (n->opens > 0) n->opens--;
  for (uint32_t i = n->nfhs; i-- > 0;) {
    if (n->fhs[i] == fh) {
      memmove(&n->fhs[i], &n->fhs[i + 1], (n->nfhs - i - 1) * sizeof *n->fhs);
      n->nfhs--;
      return;
    }
  }
}

int jnodes_open_fh(const struct jnode *n, uint64_t *fh) {
  if (n->nfhs == 0) return 0;
  *fh = n->fhs[n->nfhs - 1];
  return 1;
}

void jnodes_forget(struct jnodes *t, fuse_ino_t id, uint64_t nlookup) {
  struct jnode *n = jnodes_get(t, id);
  if (!n || n == &t->root) return;
  n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
  release_node(t, n);
}

void jnodes_remove(struct jnodes *t, fuse_ino_t parent, const char *name) {
  struct jname *nm = find_name(t, parent, name);
  if (nm) drop_name(t, nm);
}

/* `nm` is now `newname` (taken) under `p`; its old parent is returned, for the caller to release. */
static struct jnode *move_name(struct jnodes *t, struct jname *nm, struct jnode *p, char *newname) {
  unhash_name(t, nm);
  struct jnode *old = nm->parent;
  old->children--;
  nm->parent = p;
  p->children++;
  free(nm->name);
  nm->name = newname;
  hash_in_name(t, nm);
  return old;
}

void jnodes_rename(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, int exchange) {
  struct jname *src = find_name(t, parent, name);
  struct jname *dst = find_name(t, newparent, newname);
  struct jnode *np = jnodes_get(t, newparent), *op = jnodes_get(t, parent);
  if (!np || !op) return;
  if (exchange) {
    /* Each takes the other's place; a side we do not know stays unknown. */
    char *a = strdup(newname), *b = strdup(name);
    if (!a || !b) {
      free(a), free(b);
      /* Forgotten, not wrong: later lookups find both names afresh. */
      if (src) drop_name(t, src);
      if (dst) drop_name(t, dst);
      return;
    }
    struct jnode *r1 = NULL, *r2 = NULL;
    if (src) unhash_name(t, src);
    if (dst) unhash_name(t, dst);
    if (src) r1 = move_name(t, src, np, a), a = NULL;
    if (dst) r2 = move_name(t, dst, op, b), b = NULL;
    free(a), free(b);
    release_node(t, r1);
    release_node(t, r2);
    return;
  }
  if (dst && dst != src) drop_name(t, dst);
  if (!src) return;
  char *nn = strdup(newname);
  if (!nn) {
    drop_name(t, src); /* later requests on it get its old path, lookups find the new name afresh */
    return;
  }
  release_node(t, move_name(t, src, np, nn));
}
