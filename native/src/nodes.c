/*
 * The inode table: one node per source inode the kernel knows, keyed by (st_dev, st_ino),
 * holding an O_PATH fd so every later op works with *at calls relative to it (no path is
 * ever built, so no PATH_MAX and no rename races). The FUSE node id is the node's address;
 * the inode number the kernel shows is the source's, so hard links show one inode.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INITIAL_BUCKETS 1024

int nodes_init(struct node_table *t) {
  t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
  if (!t->buckets) return ENOMEM;
  t->nbuckets = INITIAL_BUCKETS;
  t->count = 0;
  return pthread_mutex_init(&t->lock, NULL);
}

/* Closes every node's fd: only once no worker runs any more. */
void nodes_destroy(struct node_table *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    struct node *n = t->buckets[i];
    while (n) {
      struct node *next = n->next;
      close(n->fd);
      free(n);
      n = next;
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  pthread_mutex_destroy(&t->lock);
}

static size_t slot(const struct node_table *t, ino_t ino, dev_t dev) {
  uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
  return (size_t)(h ^ (h >> 29)) & (t->nbuckets - 1);
}

static struct node *find(struct node_table *t, ino_t ino, dev_t dev) {
  for (struct node *n = t->buckets[slot(t, ino, dev)]; n; n = n->next)
    if (n->ino == ino && n->dev == dev) return n;
  return NULL;
}

/* Doubles the table past a load of 1; on allocation failure the chains just grow longer. */
static void grow(struct node_table *t) {
  size_t nb = t->nbuckets * 2;
  struct node **b = calloc(nb, sizeof *b);
  if (!b) return;
  struct node **old = t->buckets;
  size_t oldn = t->nbuckets;
  t->buckets = b;
  t->nbuckets = nb;
  for (size_t i = 0; i < oldn; i++) {
    struct node *n = old[i];
    while (n) {
      struct node *next = n->next;
      size_t s = slot(t, n->ino, n->dev);
      n->next = b[s];
      b[s] = n;
      n = next;
    }
  }
  free(old);
}

static void insert(struct node_table *t, struct node *n) {
  if (t->count >= t->nbuckets) grow(t);
  size_t s = slot(t, n->ino, n->dev);
  n->next = t->buckets[s];
  t->buckets[s] = n;
  t->count++;
}

static void unlink_node(struct node_table *t, struct node *n) {
  struct node **p = &t->buckets[slot(t, n->ino, n->dev)];
  while (*p && *p != n) p = &(*p)->next;
  if (*p) *p = n->next;
  t->count--;
}

struct node *node_of(struct fs *fs, fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? &fs->root : (struct node *)(uintptr_t)ino;
}

fuse_ino_t node_id(struct fs *fs, struct node *n) {
  return n == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* A known inode: one more reference. Table lock held. */
static struct node *ref(struct fs *fs, ino_t ino, dev_t dev) {
  if (ino == fs->root.ino && dev == fs->root.dev) return &fs->root;
  struct node *n = find(&fs->nodes, ino, dev);
  if (n) n->nlookup++;
  return n;
}

/*
 * A stat by name first: when the inode is already known (the common case: the kernel forgot
 * the dentry, not the inode) that is the only syscall. Otherwise open an O_PATH fd and take
 * the identity from the fd itself, so a rename between the two calls cannot mix them up.
 */
int node_lookup(struct fs *fs, struct node *parent, const char *name, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->attr_timeout = fs->cfg.attr_timeout;
  e->entry_timeout = fs->cfg.entry_timeout;
  if (fstatat(parent->fd, name, &e->attr, AT_SYMLINK_NOFOLLOW) == -1) return errno;

  pthread_mutex_lock(&fs->nodes.lock);
  struct node *n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  pthread_mutex_unlock(&fs->nodes.lock);
  if (n) {
    e->ino = node_id(fs, n);
    return 0;
  }

  int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1) return errno;
  if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
    int err = errno;
    close(fd);
    return err;
  }
  struct node *fresh = calloc(1, sizeof *fresh);
  if (!fresh) {
    close(fd);
    return ENOMEM;
  }
  pthread_mutex_lock(&fs->nodes.lock);
  n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  if (!n) {
    fresh->fd = fd;
    fresh->ino = e->attr.st_ino;
    fresh->dev = e->attr.st_dev;
    fresh->type = e->attr.st_mode & S_IFMT;
    fresh->nlookup = 1;
    insert(&fs->nodes, fresh);
    n = fresh;
    fresh = NULL;
  }
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (fresh) {
    /* Another thread registered the same inode meanwhile. */
    close(fd);
    free(fresh);
  }
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  e->ino = node_id(fs, n);
  return 0;
}

void node_forget(struct fs *fs, struct node *n, uint64_t nlookup) {
  if (n == &fs->root) return;
  pthread_mutex_lock(&fs->nodes.lock);
  int gone = n->nlookup <= nlookup;
  if (gone) unlink_node(&fs->nodes, n);
  else n->nlookup -= nlookup;
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  if (gone) {
    close(n->fd);
    free(n);
  }
}
