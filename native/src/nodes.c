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
  t->fds = 0;
  if (!t->fd_budget) t->fd_budget = 1024;
  return pthread_mutex_init(&t->lock, NULL);
}

/* Closes every node's fd: only once no worker runs any more. */
void nodes_destroy(struct node_table *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    struct node *n = t->buckets[i];
    while (n) {
      struct node *next = n->next;
      if (n->fd >= 0) close(n->fd);
      free(n->handle);
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
  n->hashed = 1;
  size_t s = slot(t, n->ino, n->dev);
  n->next = t->buckets[s];
  t->buckets[s] = n;
  t->count++;
}

static void unlink_node(struct node_table *t, struct node *n) {
  if (!n->hashed) return;
  struct node **p = &t->buckets[slot(t, n->ino, n->dev)];
  while (*p && *p != n) p = &(*p)->next;
  if (*p) *p = n->next;
  n->hashed = 0;
  t->count--;
}

/*
 * A node known by its file handle only does not pin its inode: once the file is deleted its
 * number may name a new inode at once (ext4 reuses them), and (st_dev, st_ino) would find the
 * old node, whose handle no longer opens (ESTALE). The handle carries the generation: compare.
 * 1 when `name` is still the node's inode (or we cannot tell), 0 when it is another one.
 */
static int same_inode(int pfd, const char *name, const struct node *n) {
  if (n->fd >= 0 || !n->handle) return 1; /* an fd pins the inode: its number cannot be reused */
  struct {
    struct file_handle h;
    unsigned char bytes[MAX_HANDLE_SZ];
  } now;
  now.h.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(pfd, name, &now.h, &mount_id, 0) == -1) return 1;
  return now.h.handle_type == n->handle->handle_type && now.h.handle_bytes == n->handle->handle_bytes &&
         memcmp(now.h.f_handle, n->handle->f_handle, now.h.handle_bytes) == 0;
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

/* A new node's O_PATH fd; its identity taken from the fd itself (a rename meanwhile cannot mix them). */
static int fd_of(int pfd, const char *name, struct stat *st, struct node *n) {
  int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1) return errno;
  if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
    int err = errno;
    close(fd);
    return err;
  }
  n->fd = fd;
  return 0;
}

/*
 * Past the fd budget a node keeps a file handle (name_to_handle_at; a few bytes), reopened per
 * request with open_by_handle_at (needs CAP_DAC_READ_SEARCH): the inodes the kernel may cache are
 * then bounded by memory, not by RLIMIT_NOFILE. Any failure: the caller keeps an fd instead.
 */
static int handle_of(int pfd, const char *name, const struct stat *st, struct node *n) {
  struct file_handle *h = malloc(sizeof *h + MAX_HANDLE_SZ);
  if (!h) return ENOMEM;
  h->handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(pfd, name, h, &mount_id, 0) == -1) {
    free(h);
    return errno;
  }
  struct file_handle *fit = realloc(h, sizeof *h + h->handle_bytes);
  n->handle = fit ? fit : h;
  (void)st;
  return 0;
}

int node_use(struct fs *fs, struct node *n) {
  if (n->fd >= 0) return n->fd;
  int fd = held_fd(n);
  if (fd >= 0) return fd;
  fd = open_by_handle_at(fs->mount_fd, n->handle, O_PATH | O_CLOEXEC);
  if (fd == -1) {
    /* The inode is gone from the source (removed beside the mount): as on the source itself,
     * and as the JS path answers, "no such file" (ESTALE would make the VFS retry, then fail). */
    if (errno == ESTALE) errno = ENOENT;
    return -1;
  }
  return hold_fd(n, fd);
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
  int pfd = node_use(fs, parent);
  if (pfd == -1) return errno;
  if (fstatat(pfd, name, &e->attr, AT_SYMLINK_NOFOLLOW) == -1) return errno;

  pthread_mutex_lock(&fs->nodes.lock);
  struct node *n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  pthread_mutex_unlock(&fs->nodes.lock);
  if (n && !same_inode(pfd, name, n)) {
    /* Stale: out of the table (the kernel forgets it later), and our reference given back. */
    pthread_mutex_lock(&fs->nodes.lock);
    unlink_node(&fs->nodes, n);
    pthread_mutex_unlock(&fs->nodes.lock);
    node_forget(fs, n, 1);
    n = NULL;
  }
  if (n) {
    e->ino = node_id(fs, n);
    return 0;
  }

  struct node *fresh = calloc(1, sizeof *fresh);
  if (!fresh) return ENOMEM;
  fresh->fd = -1;
  int err = __atomic_load_n(&fs->nodes.fds, __ATOMIC_RELAXED) >= fs->nodes.fd_budget && e->attr.st_dev == fs->root.dev
              ? handle_of(pfd, name, &e->attr, fresh)
              : ENFILE;
  if (err) {
    /* Within the fd budget (or no handle to be had): keep an O_PATH fd, identity from the fd. */
    err = fd_of(pfd, name, &e->attr, fresh);
    if (err) {
      free(fresh);
      return err;
    }
  }
  fresh->ino = e->attr.st_ino;
  fresh->dev = e->attr.st_dev;
  fresh->type = e->attr.st_mode & S_IFMT;
  fresh->nlookup = 1;
  pthread_mutex_lock(&fs->nodes.lock);
  n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  if (!n) {
    insert(&fs->nodes, fresh);
    if (fresh->fd >= 0) __atomic_fetch_add(&fs->nodes.fds, 1, __ATOMIC_RELAXED);
    n = fresh;
    fresh = NULL;
  }
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (fresh) {
    /* Another thread registered the same inode meanwhile. */
    if (fresh->fd >= 0) close(fresh->fd);
    free(fresh->handle);
    free(fresh);
  }
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  e->ino = node_id(fs, n);
  return 0;
}

void node_hold(struct fs *fs, struct node *n) {
  if (n == &fs->root) return;
  pthread_mutex_lock(&fs->nodes.lock);
  n->nlookup++;
  pthread_mutex_unlock(&fs->nodes.lock);
}

void node_forget(struct fs *fs, struct node *n, uint64_t nlookup) {
  if (n == &fs->root) return;
  pthread_mutex_lock(&fs->nodes.lock);
  int gone = n->nlookup <= nlookup;
  if (gone) {
    unlink_node(&fs->nodes, n);
    if (n->fd >= 0) __atomic_fetch_sub(&fs->nodes.fds, 1, __ATOMIC_RELAXED);
  }
  else n->nlookup -= nlookup;
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  if (gone) {
    if (n->fd >= 0) close(n->fd);
    free(n->handle);
    free(n);
  }
}
