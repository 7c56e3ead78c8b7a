/* The JS-ops mode's node table (jsnodes.c). Every call but init/destroy takes `lock` held. */
#ifndef MOUNTIE_JSNODES_H
#define MOUNTIE_JSNODES_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct jnode;

/* One name of a node: (parent, name). A directory's node has one; a file's, one per hard link. */
struct jname {
  struct jnode *node;    /* whose name it is */
  struct jnode *parent;  /* a directory's node */
  char *name;
  int live;              /* in the name index; 0: the gone last name a nameless node keeps for its path */
  struct jname *sibling; /* the node's next name */
  struct jname *hash_next;
};

struct jnode {
  fuse_ino_t id;
  uint64_t ino;         /* the author's inode number; 0: none given (the node is its name's alone) */
  mode_t type;          /* S_IFMT of the author's answer */
  struct jname *names;  /* all live, or one gone (unlinked, still held); the first is the one its path is built from */
  uint64_t nlookup;     /* the kernel's references */
  uint64_t children;    /* names in the table (live or kept) whose parent is this node */
  int hashed;           /* one of its names is live (found by (parent, name)) */
  int indexed;          /* the holder of `ino` in the ino index (non-directories with an ino only) */
  uint32_t opens;       /* open handles on it (open/create answered, release not yet seen) */
  uint32_t nfhs, fhs_cap;
  uint64_t *fhs;        /* the author's handles of those opens, oldest first (all of them, unless out of memory) */
  struct jnode *id_next, *ino_next;
};

struct jnodes {
  pthread_mutex_t lock;
  struct jnode **by_id, **by_ino;
  struct jname **by_name;
  size_t n;             /* buckets of each index (a power of two) */
  size_t count;         /* nodes besides the root */
  size_t names;         /* names in the table (live or kept) */
  fuse_ino_t next_id;
  struct jnode root;
};

int jnodes_init(struct jnodes *t);
void jnodes_destroy(struct jnodes *t);
struct jnode *jnodes_get(struct jnodes *t, fuse_ino_t id);
/* The path of node `id` (and of `child` below it, when given), from the root: "/", "/a/b". Caller frees. */
int jnodes_path(struct jnodes *t, fuse_ino_t id, const char *child, char **out);
/*
 * The node named `name` under `parent` (the author's answer: inode number `ino`, 0 for none, and
 * `mode`), made when unknown, with one more kernel reference. A non-directory with an `ino` is the
 * node that already holds that ino under another live name, when it is of the same type: every
 * name of one file is one kernel inode. `link_of`: link's source node (0 for the other ops), the
 * node the new name joins when its ino is the same.
 */
int jnodes_add(struct jnodes *t, fuse_ino_t parent, const char *name, uint64_t ino, mode_t mode, fuse_ino_t link_of, fuse_ino_t *id);
/* An open (or create) of node `n` answered with handle `fh`, and its release. */
void jnodes_opened(struct jnode *n, uint64_t fh);
void jnodes_released(struct jnode *n, uint64_t fh);
/* The handle of its latest open still open, for a name-less getattr/setattr of an unlinked file; 0: none open. */
int jnodes_open_fh(const struct jnode *n, uint64_t *fh);
void jnodes_forget(struct jnodes *t, fuse_ino_t id, uint64_t nlookup);
/* The name is gone (unlink, rmdir). */
void jnodes_remove(struct jnodes *t, fuse_ino_t parent, const char *name);
void jnodes_rename(struct jnodes *t, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, int exchange);

#endif
