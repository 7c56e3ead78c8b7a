/* The JS-ops mode's node table (jsnodes.c). Every call but init/destroy takes `lock` held. */
#ifndef MOUNTIE_JSNODES_H
#define MOUNTIE_JSNODES_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

struct jnode {
  fuse_ino_t id;
  struct jnode *parent; /* NULL for the root only */
  char *name;
  uint64_t nlookup;     /* the kernel's references */
  uint64_t children;    /* nodes in the table that name this one as parent */
  int hashed;           /* found by (parent, name) */
  uint32_t opens;       /* open handles on it (open/create answered, release not yet seen) */
  uint64_t open_fh;     /* the author's handle of the latest open: the one a name-less getattr of an unlinked file uses */
  struct jnode *id_next, *name_next;
};

struct jnodes {
  pthread_mutex_t lock;
  struct jnode **by_id, **by_name;
  size_t n;             /* buckets of each index (a power of two) */
  size_t count;         /* nodes besides the root */
  fuse_ino_t next_id;
  struct jnode root;
};

int jnodes_init(struct jnodes *t);
void jnodes_destroy(struct jnodes *t);
struct jnode *jnodes_get(struct jnodes *t, fuse_ino_t id);
/* The path of node `id` (and of `child` below it, when given), from the root: "/", "/a/b". Caller frees. */
int jnodes_path(struct jnodes *t, fuse_ino_t id, const char *child, char **out);
/* The node named `name` under `parent`, made when unknown, with one more kernel reference. */
int jnodes_add(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t *id);
void jnodes_forget(struct jnodes *t, fuse_ino_t id, uint64_t nlookup);
/* The name is gone (unlink, rmdir). */
void jnodes_remove(struct jnodes *t, fuse_ino_t parent, const char *name);
void jnodes_rename(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, int exchange);

#endif
