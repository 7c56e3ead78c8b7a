/*
 * The inode table: one node per source inode the kernel knows, keyed by (st_dev, st_ino),
 * holding an O_PATH fd so every later op works with *at calls relative to it (no path is
 * ever built, so no PATH_MAX and no rename races). The FUSE node id is the node's id in the
 * table's `ids` (ids.c: slot and generation, never its address), so a request naming a
 * forgotten node finds nothing instead of freed memory, and the ids can be carried to another
 * process (issue 21); the inode number the kernel shows is the source's, so hard links show one
 * inode.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INITIAL_BUCKETS 1024

int nodes_init(struct node_table *t, struct node *root) {
  t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
  if (!t->buckets) return ENOMEM;
  t->nbuckets = INITIAL_BUCKETS;
  t->count = 0;
  t->fds = 0;
  if (!t->fd_budget) t->fd_budget = 1024;
  /* Slot 1, generation 0: the root's id is FUSE_ROOT_ID, as the kernel expects. */
  ids_init(&t->ids, FUSE_ROOT_ID);
  root->id = ids_add(&t->ids, root);
  if (root->id != FUSE_ROOT_ID) {
    ids_destroy(&t->ids);
    free(t->buckets);
    t->buckets = NULL;
    return ENOMEM;
  }
  return pthread_mutex_init(&t->lock, NULL);
}

/* Closes every node's fd: only once no worker runs any more. */
void nodes_destroy(struct node_table *t) {
  /* Every node is in the id table: those in the hash, and stale ones (out of it, not yet forgotten). */
  uint32_t at = 0;
  uint64_t id;
  struct node *n;
  while ((n = ids_next(&t->ids, &at, &id))) {
    if (id == FUSE_ROOT_ID) continue; /* the session's own */
    if (n->fd >= 0) close(n->fd);
    free(n->handle);
    free(n);
  }
  ids_destroy(&t->ids);
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
 * The kernel sends no request on a node after its FORGET, and none is forgotten while a request
 * on it is unanswered (the request holds the inode): an id found here names a live node for the
 * whole request. An id the table does not hold now (forgotten, never given) finds NULL.
 */
struct node *node_of(struct fs *fs, fuse_ino_t ino) {
  return ids_get(&fs->nodes.ids, ino);
}

fuse_ino_t node_id(struct fs *fs, struct node *n) {
  return n->id;
}

ssize_t nodes_snapshot(struct fs *fs, struct node_info **out) {
  struct node_table *t = &fs->nodes;
  pthread_mutex_lock(&t->lock);
  size_t cap = t->ids.live, k = 0;
  struct node_info *all = malloc((cap ? cap : 1) * sizeof *all);
  if (!all) {
    pthread_mutex_unlock(&t->lock);
    return -1;
  }
  uint32_t at = 0;
  uint64_t id;
  struct node *n;
  while (k < cap && (n = ids_next(&t->ids, &at, &id))) {
    struct node_info *i = &all[k++];
    memset(i, 0, sizeof *i);
    i->id = id;
    i->nlookup = n->nlookup;
    i->ino = n->ino;
    i->dev = n->dev;
    i->type = n->type;
    i->fd = n->fd;
    i->hashed = n == &fs->root || n->hashed;
    if (n->handle) {
      i->handle_bytes = n->handle->handle_bytes;
      i->handle_type = n->handle->handle_type;
      memcpy(i->handle, n->handle->f_handle, n->handle->handle_bytes);
    }
  }
  pthread_mutex_unlock(&t->lock);
  *out = all;
  return (ssize_t)k;
}

int nodes_place(struct fs *fs, struct node *n) {
  struct node_table *t = &fs->nodes;
  pthread_mutex_lock(&t->lock);
  int err = ids_place(&t->ids, n->id, n);
  if (!err) {
    /* A stale node stays out of the (ino, dev) index, as it was; so does one whose inode another node has. */
    if (n->hashed && !find(t, n->ino, n->dev)) insert(t, n);
    else n->hashed = 0;
    if (n->fd >= 0) t->fds++;
  }
  size_t count = t->count;
  pthread_mutex_unlock(&t->lock);
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  return err;
}

void nodes_watch_all(struct fs *fs) {
  struct node_table *t = &fs->nodes;
  pthread_mutex_lock(&t->lock);
  size_t cap = t->ids.live, k = 0;
  struct node **dirs = malloc((cap ? cap : 1) * sizeof *dirs);
  uint32_t at = 0;
  uint64_t id;
  struct node *n;
  while (dirs && k < cap && (n = ids_next(&t->ids, &at, &id)))
    if (n->type == S_IFDIR && n != &fs->root) dirs[k++] = n;
  pthread_mutex_unlock(&t->lock);
  /* No request runs yet (session_run calls this before the loop starts): no node is forgotten meanwhile. */
  for (size_t i = 0; i < k; i++) {
    /* A directory past the fd budget: watched through an fd opened from its handle for the call. */
    int fd = dirs[i]->fd, opened = -1;
    if (fd < 0) fd = opened = node_reopen(fs, dirs[i]);
    watch_dir(fs, dirs[i], fd);
    if (opened >= 0) close(opened);
  }
  free(dirs);
}

struct node *node_find(struct fs *fs, ino_t ino, dev_t dev) {
  if (ino == fs->root.ino && dev == fs->root.dev) return &fs->root;
  return find(&fs->nodes, ino, dev);
}

/* A known inode: one more reference. Table lock held. */
static struct node *ref(struct fs *fs, ino_t ino, dev_t dev) {
  if (ino == fs->root.ino && dev == fs->root.dev) return &fs->root;
  struct node *n = find(&fs->nodes, ino, dev);
  if (n) n->nlookup++;
  return n;
}

struct handle_buf {
  struct file_handle h;
  unsigned char bytes[MAX_HANDLE_SZ];
};

/* The file handle of the inode `fd` refers to (any fd, O_PATH included). */
static int handle_of_fd(int fd, struct handle_buf *b) {
  b->h.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  return name_to_handle_at(fd, "", &b->h, &mount_id, AT_EMPTY_PATH) == -1 ? errno : 0;
}

/*
 * A node known by its file handle only does not pin its inode: once the file is deleted its
 * number may name a new inode at once (ext4 reuses them), and (st_dev, st_ino) would find the
 * old node, whose handle no longer opens (ESTALE). The handle carries the generation: compare.
 * 1 when `fd` is still the node's inode (or we cannot tell), 0 when it is another one.
 */
static int same_inode(int fd, const struct node *n) {
  if (n->fd >= 0 || !n->handle) return 1; /* an fd pins the inode: its number cannot be reused */
  struct handle_buf now;
  if (handle_of_fd(fd, &now)) return 1;
  return now.h.handle_type == n->handle->handle_type && now.h.handle_bytes == n->handle->handle_bytes &&
         memcmp(now.h.f_handle, n->handle->f_handle, now.h.handle_bytes) == 0;
}

/*
 * Past the fd budget a node keeps a file handle (a few bytes), reopened per request with
 * open_by_handle_at (needs CAP_DAC_READ_SEARCH, probed at start: fs->handles_ok): the inodes the
 * kernel may cache are then bounded by memory, not by RLIMIT_NOFILE. Taken from the node's own
 * fd, so handle and attributes describe one inode even while the name is renamed over.
 */
static int keep_handle(int fd, struct node *n) {
  struct handle_buf b;
  int err = handle_of_fd(fd, &b);
  if (err) return err;
  struct file_handle *h = malloc(sizeof b.h + b.h.handle_bytes);
  if (!h) return ENOMEM;
  memcpy(h, &b, sizeof b.h + b.h.handle_bytes);
  n->handle = h;
  return 0;
}

int node_reopen(struct fs *fs, const struct node *n) {
  if (!n->handle) {
    errno = EBADF;
    return -1;
  }
  return open_by_handle_at(fs->mount_fd, n->handle, O_PATH | O_CLOEXEC);
}

int node_use(struct fs *fs, struct node *n) {
  if (n->fd >= 0) return n->fd;
  int fd = held_fd(n);
  if (fd >= 0) return fd;
  /* Reopening an inode the kernel holds needs the daemon's privilege, not the caller's. */
  int back = creds_suspend(fs);
  fd = node_reopen(fs, n);
  int err = errno;
  creds_resume(fs, op_caller(), back);
  if (fd == -1) {
    /* The inode is gone from the source (removed beside the mount): as on the source itself,
     * and as the JS path answers, "no such file" (ESTALE would make the VFS retry, then fail). */
    errno = err == ESTALE ? ENOENT : err;
    return -1;
  }
  return hold_fd(n, fd);
}

static void entry_defaults(struct fs *fs, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->attr_timeout = fs->cfg.attr_timeout;
  e->entry_timeout = fs->cfg.entry_timeout;
}

/* The node of the inode the O_PATH fd `fd` refers to (fd consumed: kept by a new node or closed). */
static int adopt(struct fs *fs, int fd, struct fuse_entry_param *e) {
  if (fstat(fd, &e->attr) == -1) {
    int err = errno;
    close(fd);
    return err;
  }
  pthread_mutex_lock(&fs->nodes.lock);
  struct node *n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  pthread_mutex_unlock(&fs->nodes.lock);
  if (n && !same_inode(fd, n)) {
    /* Stale: out of the table (the kernel forgets it later), and our reference given back. */
    pthread_mutex_lock(&fs->nodes.lock);
    unlink_node(&fs->nodes, n);
    pthread_mutex_unlock(&fs->nodes.lock);
    node_forget(fs, n, 1);
    n = NULL;
  }
  if (n) {
    close(fd);
    e->ino = node_id(fs, n);
    return 0;
  }

  struct node *fresh = calloc(1, sizeof *fresh);
  if (!fresh) {
    close(fd);
    return ENOMEM;
  }
  fresh->fd = -1;
  fresh->wd = -1;
  /* A directory past the budget keeps its fd until its watch is set (below): the watch outlives the fd. */
  int watch_fd = -1;
  if (fs->handles_ok && __atomic_load_n(&fs->nodes.fds, __ATOMIC_RELAXED) >= fs->nodes.fd_budget && e->attr.st_dev == fs->root.dev &&
      keep_handle(fd, fresh) == 0) {
    if (S_ISDIR(e->attr.st_mode)) watch_fd = fd;
    else close(fd);
  } else
    fresh->fd = fd; /* within the fd budget, or no handle to be had */
  fresh->ino = e->attr.st_ino;
  fresh->dev = e->attr.st_dev;
  fresh->type = e->attr.st_mode & S_IFMT;
  fresh->nlookup = 1;
  pthread_mutex_lock(&fs->nodes.lock);
  n = ref(fs, e->attr.st_ino, e->attr.st_dev);
  if (!n && (fresh->id = ids_add(&fs->nodes.ids, fresh)) != 0) {
    insert(&fs->nodes, fresh);
    if (fresh->fd >= 0) __atomic_fetch_add(&fs->nodes.fds, 1, __ATOMIC_RELAXED);
    n = fresh;
    fresh = NULL;
  }
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (!n) {
    /* No id to be had (out of memory): nothing was registered. */
    if (watch_fd >= 0) close(watch_fd);
    if (fresh->fd >= 0) close(fresh->fd);
    free(fresh->handle);
    free(fresh);
    return ENOMEM;
  }
  if (fresh) {
    /* Another thread registered the same inode meanwhile. */
    if (fresh->fd >= 0) close(fresh->fd);
    free(fresh->handle);
    free(fresh);
  } else if (n->type == S_IFDIR)
    watch_dir(fs, n, n->fd >= 0 ? n->fd : watch_fd); /* before the reply: the kernel cannot forget it meanwhile (we hold its reference) */
  if (watch_fd >= 0) close(watch_fd);
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  e->ino = node_id(fs, n);
  return 0;
}

/*
 * A stat by name first: when the inode is already known with an fd (the common case: the kernel
 * forgot the dentry, not the inode) that is the only syscall, and it cannot be wrong, as that fd
 * pins the inode the number names. Otherwise an O_PATH fd, and the identity, the attributes and
 * (past the budget) the handle all from that one fd: a rename between two calls cannot mix them.
 */
int node_lookup(struct fs *fs, struct node *parent, const char *name, struct fuse_entry_param *e) {
  entry_defaults(fs, e);
  int pfd = node_use(fs, parent);
  if (pfd == -1) return errno;
  if (fstatat(pfd, name, &e->attr, AT_SYMLINK_NOFOLLOW) == -1) return errno;
  pthread_mutex_lock(&fs->nodes.lock);
  struct node *n = NULL;
  if (e->attr.st_ino == fs->root.ino && e->attr.st_dev == fs->root.dev) n = &fs->root;
  else if ((n = find(&fs->nodes, e->attr.st_ino, e->attr.st_dev)) && n->fd >= 0) n->nlookup++;
  else n = NULL;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (n) {
    e->ino = node_id(fs, n);
    entry_ttl(fs, parent, e);
    return 0;
  }
  int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1) return errno;
  int err = adopt(fs, fd, e);
  if (!err) entry_ttl(fs, parent, e);
  return err;
}

int node_adopt(struct fs *fs, int fd, struct fuse_entry_param *e) {
  entry_defaults(fs, e);
  return adopt(fs, fd, e);
}

int node_of_fd(struct fs *fs, int fd, struct fuse_entry_param *e) {
  entry_defaults(fs, e);
  char p[64];
  proc_path(p, sizeof p, fd);
  /* Follows the magic link to the inode itself (never a name in the source). */
  int pfd = open(p, O_PATH | O_CLOEXEC);
  if (pfd == -1) return errno;
  return adopt(fs, pfd, e);
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
    n->nlookup = 0; /* the watcher holds no node at 0 (notify.c) */
    unlink_node(&fs->nodes, n);
    ids_remove(&fs->nodes.ids, n->id); /* a later request naming this id finds nothing */
    if (n->fd >= 0) __atomic_fetch_sub(&fs->nodes.fds, 1, __ATOMIC_RELAXED);
  }
  else n->nlookup -= nlookup;
  size_t count = fs->nodes.count;
  pthread_mutex_unlock(&fs->nodes.lock);
  __atomic_store_n(&fs->counters[C_NODES], (uint64_t)count, __ATOMIC_RELAXED);
  if (gone) {
    watch_forget(fs, n);
    if (n->fd >= 0) close(n->fd);
    free(n->handle);
    free(n);
  }
}
