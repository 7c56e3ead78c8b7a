/*
 * Longer entry and attribute caches, kept true by invalidation (issue 20).
 *
 * One notifier thread per session owns an inotify fd. Every directory node the kernel holds gets
 * a watch (added when the node is made, removed when the kernel forgets it); each event on a
 * watched directory is turned into FUSE_NOTIFY_INVAL_ENTRY for the name and, where the listing,
 * the directory's own attributes or a known child's attributes or pages may have changed,
 * FUSE_NOTIFY_INVAL_INODE, once per read of the inotify fd for each name and directory (batches,
 * below). Only then may a reply carry the long timeouts (entry_ttl/attr_ttl):
 * a name is cached long only when its directory is watched, a file's attributes only when it has
 * one link (a write through another name, in a directory nobody watches, sends no event here) and
 * was last looked up in a watched directory; everything else keeps the short timeouts of before.
 *
 * Deadlocks (libfuse's notify_inval_entry example, the kernel's fuse_reverse_inval_entry): the
 * kernel takes the parent directory's inode lock for INVAL_ENTRY and page locks for INVAL_INODE,
 * and a request in flight on that directory (a lookup, a create) holds the same lock until it is
 * answered. So no notification is ever written by a worker (which may be the one that must
 * answer): only this thread writes them, and workers never wait for it. It takes the table lock
 * and its own lock only around lookups in memory, never across a write to /dev/fuse. The same
 * lock makes the race with a lookup safe: a lookup holds the parent's lock from before our stat to
 * the dentry's creation, so an INVAL_ENTRY for a change made after the stat waits for it and then
 * drops the new dentry; INVAL_INODE bumps the inode's attribute version, so a reply that raced
 * with it is not believed.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define WD_BUCKETS 4096
#define EVENT_BUF (64 * 1024)
/* FUSE_NOTIFY_INC_EPOCH (kernel 6.16+, protocol 7.44): every dentry of the mount expires at once. */
#define NOTIFY_INC_EPOCH 8

/* What a watched directory reports: names made, removed, moved, and its children's changes. */
#define WATCH_MASK \
  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define NAME_CHANGES (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

struct watcher {
  struct fs *fs;
  int ifd;
  int stop_fd;
  pthread_t thread;
  int started;
  pthread_mutex_t lock;            /* the wd map, and add/remove of watches (one at a time) */
  struct node *map[WD_BUCKETS];    /* wd → node, chained through node->wd_next */
  int degraded;                    /* atomic: an overflow could not expire every name: short timeouts from now on */
  uint64_t budget;                 /* at most this many watches (a share of fs.inotify.max_user_watches) */
  pthread_mutex_t ours_lock;       /* the names being made or removed through the mount (below) */
  pthread_cond_t ours_wake;        /* the notifier, waiting for a pending one to be answered */
  struct ours *ours;               /* oldest first */
  size_t nours;
  uint64_t ours_next;              /* ids, never 0 */
};

/*
 * A name made through the mount (create, mknod, mkdir, symlink) in a watched directory: recorded
 * before the call that makes it, so its IN_CREATE always finds the record, and marked answered
 * once the kernel took the reply (which hashed the dentry, with the inode's attributes, and
 * invalidated the directory's own: fuse_dir_changed). That event then needs no notification: the
 * kernel already knows, and an INVAL_ENTRY would drop the dentry it just made (the next walk
 * looks it up again, and a closed file's inode is forgotten and looked up anew).
 * A name removed through the mount (unlink, rmdir) likewise, for its IN_DELETE: the kernel's
 * answer made the dentry negative and expired (fuse_entry_unlinked, d_delete) and invalidated the
 * directory (fuse_dir_changed); a late INVAL_INODE of it would drop the attributes the next
 * request's permission check had fetched again. Skipped only while the name names nothing.
 */
enum { OURS_MADE, OURS_GONE };
struct ours {
  struct ours *next;
  uint64_t id;
  int wd;
  int kind;   /* OURS_MADE: its IN_CREATE; OURS_GONE (unlink, rmdir): its IN_DELETE */
  int done;   /* answered: the kernel's dentry names (ino, dev) (OURS_GONE: names nothing) */
  ino_t ino;
  dev_t dev;
  char name[];
};
/* Records beyond this are dropped, oldest first (their events are then handled as anyone's). */
#define OURS_MAX 1024
/* How long the notifier waits for a pending record's answer (the event came first), and at most per read. */
#define OURS_WAIT_NS 20000000ull
#define OURS_BUDGET_NS 50000000ull

/*
 * fs.inotify.max_user_watches is per user and machine-wide: a daemon that took all of it would
 * make every other inotify user of its uid (an editor, systemd, another daemon) fail with ENOSPC.
 * A session takes at most a quarter; directories past it keep the short timeouts.
 */
static uint64_t watch_budget(void) {
  uint64_t max = 8192; /* the kernel's old default, if the file cannot be read */
  FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");
  if (f) {
    unsigned long long v;
    if (fscanf(f, "%llu", &v) == 1 && v > 0) max = v;
    fclose(f);
  }
  return max / 4 > 0 ? max / 4 : 1;
}

static size_t bucket(int wd) {
  return (size_t)((unsigned)wd * 2654435761u) & (WD_BUCKETS - 1);
}

/* Lock held. */
static struct node *map_find(struct watcher *w, int wd) {
  for (struct node *n = w->map[bucket(wd)]; n; n = n->wd_next)
    if (n->wd == wd) return n;
  return NULL;
}

/* Lock held. */
static void map_remove(struct watcher *w, struct node *n) {
  struct node **p = &w->map[bucket(n->wd)];
  while (*p && *p != n) p = &(*p)->wd_next;
  if (*p) *p = n->wd_next;
  n->wd_next = NULL;
  __atomic_store_n(&n->wd, -1, __ATOMIC_RELEASE);
}

/*
 * A file system whose changes may be made elsewhere (another NFS client, the server of a FUSE
 * or SMB mount, a cluster file system): inotify sees only what this machine does through it, so
 * a watch there would make long caches lie. Such directories are not watched (short timeouts).
 * Nor are their files passed through to the kernel (backing.c): those are the sources that hang,
 * and only what reaches us has a deadline.
 */
int remote_fs(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) == -1) return 1;
  switch ((unsigned long)sf.f_type) {
    case 0x6969UL:     /* NFS */
    case 0x65735546UL: /* FUSE */
    case 0x517BUL:     /* SMB */
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x00C36400UL: /* Ceph */
    case 0x01021997UL: /* 9P */
    case 0x5346414FUL: /* AFS */
    case 0x6B414653UL: /* kAFS */
    case 0x0BD00BD0UL: /* Lustre */
    case 0x01161970UL: /* GFS2 */
    case 0x7461636FUL: /* OCFS2 */
    case 0x47504653UL: /* GPFS */
    case 0x73757245UL: /* Coda */
      return 1;
    default:
      return 0;
  }
}

int watch_active(const struct fs *fs) {
  return fs->watch && !__atomic_load_n(&fs->watch->degraded, __ATOMIC_RELAXED);
}

void watch_dir(struct fs *fs, struct node *n, int fd) {
  struct watcher *w = fs->watch;
  if (!w || fd < 0 || __atomic_load_n(&n->wd, __ATOMIC_ACQUIRE) >= 0) return;
  /* Another file system mounted inside the source: watched only if it is local too. */
  if (n->dev != w->fs->root.dev && remote_fs(fd)) {
    count_add(fs, C_UNWATCHED, 1);
    return;
  }
  if (__atomic_load_n(&fs->counters[C_WATCHES], __ATOMIC_RELAXED) >= w->budget) {
    count_add(fs, C_UNWATCHED, 1);
    return;
  }
  char p[64];
  proc_path(p, sizeof p, fd);
  /* The watch is the daemon's, not the caller's: inotify needs read permission on the directory. */
  int back = creds_suspend(fs);
  pthread_mutex_lock(&w->lock);
  int wd = inotify_add_watch(w->ifd, p, WATCH_MASK);
  if (wd >= 0) {
    /* Another node with this wd (the same inode: a stale node not yet forgotten) keeps it too. */
    struct node *other = map_find(w, wd);
    if (other && other != n) map_remove(w, other);
    if (other != n) {
      n->wd_next = w->map[bucket(wd)];
      w->map[bucket(wd)] = n;
      __atomic_store_n(&n->wd, wd, __ATOMIC_RELEASE);
      count_add(fs, C_WATCHES, 1);
      if (other) count_add(fs, C_WATCHES, (uint64_t)-1);
    }
  }
  pthread_mutex_unlock(&w->lock);
  creds_resume(fs, op_caller(), back);
  /* ENOSPC (fs.inotify.max_user_watches, machine-wide: never raised here), EACCES: this directory keeps short timeouts. */
  if (wd < 0) count_add(fs, C_UNWATCHED, 1);
}

void watch_forget(struct fs *fs, struct node *n) {
  struct watcher *w = fs->watch;
  if (!w || __atomic_load_n(&n->wd, __ATOMIC_ACQUIRE) < 0) return;
  pthread_mutex_lock(&w->lock);
  int wd = n->wd;
  if (wd >= 0 && map_find(w, wd) == n) {
    map_remove(w, n);
    inotify_rm_watch(w->ifd, wd);
    count_add(fs, C_WATCHES, (uint64_t)-1);
  }
  pthread_mutex_unlock(&w->lock);
}

/* ---- names made through the mount ---- */

static uint64_t ours_begin(struct fs *fs, struct node *dir, const char *name, int kind) {
  struct watcher *w = fs->watch;
  if (!w || !watch_active(fs)) return 0;
  int wd = __atomic_load_n(&dir->wd, __ATOMIC_ACQUIRE);
  if (wd < 0) return 0;
  size_t len = strlen(name);
  struct ours *o = malloc(sizeof *o + len + 1);
  if (!o) return 0;
  o->next = NULL;
  o->wd = wd;
  o->kind = kind;
  o->done = 0;
  memcpy(o->name, name, len + 1);
  pthread_mutex_lock(&w->ours_lock);
  uint64_t id = o->id = ++w->ours_next; /* read here: once unlocked, the notifier may take and free it */
  struct ours **p = &w->ours;
  while (*p) p = &(*p)->next;
  *p = o;
  if (++w->nours > OURS_MAX) {
    struct ours *old = w->ours;
    w->ours = old->next;
    w->nours--;
    free(old);
  }
  pthread_mutex_unlock(&w->ours_lock);
  return id;
}

uint64_t watch_ours_begin(struct fs *fs, struct node *dir, const char *name) {
  return ours_begin(fs, dir, name, OURS_MADE);
}

uint64_t watch_ours_begin_gone(struct fs *fs, struct node *dir, const char *name) {
  return ours_begin(fs, dir, name, OURS_GONE);
}

/* Lock held. */
static struct ours **ours_by_id(struct watcher *w, uint64_t id) {
  for (struct ours **p = &w->ours; *p; p = &(*p)->next)
    if ((*p)->id == id) return p;
  return NULL;
}

void watch_ours_done(struct fs *fs, uint64_t id, const struct stat *st) {
  struct watcher *w = fs->watch;
  if (!w || !id) return;
  pthread_mutex_lock(&w->ours_lock);
  struct ours **p = ours_by_id(w, id);
  if (p) {
    if (st) {
      (*p)->ino = st->st_ino;
      (*p)->dev = st->st_dev;
    }
    (*p)->done = 1;
    pthread_cond_broadcast(&w->ours_wake);
  }
  pthread_mutex_unlock(&w->ours_lock);
}

void watch_ours_drop(struct fs *fs, uint64_t id) {
  struct watcher *w = fs->watch;
  if (!w || !id) return;
  pthread_mutex_lock(&w->ours_lock);
  struct ours **p = ours_by_id(w, id);
  if (p) {
    struct ours *o = *p;
    *p = o->next;
    w->nours--;
    free(o);
    pthread_cond_broadcast(&w->ours_wake);
  }
  pthread_mutex_unlock(&w->ours_lock);
}

/* Every record of watch `wd` (-1: all) goes: its events will not come (the watch is gone, events were lost). */
static void ours_purge(struct watcher *w, int wd) {
  pthread_mutex_lock(&w->ours_lock);
  for (struct ours **p = &w->ours; *p;) {
    if (wd >= 0 && (*p)->wd != wd) {
      p = &(*p)->next;
      continue;
    }
    struct ours *o = *p;
    *p = o->next;
    w->nours--;
    free(o);
  }
  pthread_cond_broadcast(&w->ours_wake);
  pthread_mutex_unlock(&w->ours_lock);
}

/*
 * Is this IN_CREATE one we made and answered? The oldest record of (wd, name) is taken (each
 * made name causes one IN_CREATE); a pending one is waited for a little (bounded per read by
 * *budget). Ours only when answered and the name still names the inode answered: then the
 * kernel's dentry is right, and any later change has an event of its own, handled after this.
 */
static int ours_take(struct watcher *w, int wd, const char *name, int kind, int dirfd, uint64_t *budget) {
  int done = 0;
  ino_t ino = 0;
  dev_t dev = 0;
  pthread_mutex_lock(&w->ours_lock);
  for (;;) {
    struct ours **p = &w->ours;
    while (*p && ((*p)->wd != wd || (*p)->kind != kind || strcmp((*p)->name, name) != 0)) p = &(*p)->next;
    if (!*p) break; /* not ours (or its record was dropped) */
    struct ours *o = *p;
    if (!o->done && *budget > 0) {
      uint64_t t0 = now_ns(), wait = *budget < OURS_WAIT_NS ? *budget : OURS_WAIT_NS;
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += (long)wait;
      while (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&w->ours_wake, &w->ours_lock, &until);
      uint64_t spent = now_ns() - t0;
      *budget = spent >= *budget ? 0 : *budget - spent;
      continue; /* the list may have changed: look again */
    }
    *p = o->next;
    w->nours--;
    done = o->done, ino = o->ino, dev = o->dev;
    free(o);
    break;
  }
  pthread_mutex_unlock(&w->ours_lock);
  if (!done || dirfd < 0) return 0;
  struct statx sx;
  int found = statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC, STATX_INO, &sx) == 0;
  /* Removed: ours only while the name names nothing (the kernel's dentry is negative or gone). */
  if (kind == OURS_GONE) return !found && errno == ENOENT;
  return found && sx.stx_ino == ino && makedev(sx.stx_dev_major, sx.stx_dev_minor) == dev;
}

/* The node a watch belongs to, with one reference (given back with node_forget), or NULL. */
static struct node *hold_wd(struct watcher *w, int wd) {
  struct fs *fs = w->fs;
  pthread_mutex_lock(&w->lock);
  struct node *n = map_find(w, wd);
  if (n && n != &fs->root) {
    pthread_mutex_lock(&fs->nodes.lock);
    /* nlookup 0: being forgotten right now (its watch goes next): nothing cached to invalidate. */
    if (n->nlookup > 0) n->nlookup++;
    else n = NULL;
    pthread_mutex_unlock(&fs->nodes.lock);
  }
  pthread_mutex_unlock(&w->lock);
  return n;
}

static void inval_inode(struct watcher *w, struct node *n) {
  /* Offset 0, length 0: the attributes and every cached page (a directory's: its cached listing). */
  notify_inval_inode(w->fs, node_id(w->fs, n), 0, 0);
  count_add(w->fs, C_INVALS, 1);
  count_add(w->fs, C_INVAL_INODE, 1);
}

/* A known child's inode by name below a watched directory: its attributes and pages. */
static void inval_child(struct watcher *w, int dirfd, const char *name) {
  struct fs *fs = w->fs;
  /*
   * Only the identity is needed, and from what is cached: a name that is the mountpoint of
   * another file system (a FUSE or NFS source inside ours, perhaps hung) must not hold this
   * thread in a request there, or a stop would wait for it (watch_stop joins this thread).
   */
  struct statx sx;
  if (dirfd < 0 || statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC, STATX_INO, &sx) == -1) return;
  pthread_mutex_lock(&fs->nodes.lock);
  struct node *n = node_find(fs, sx.stx_ino, makedev(sx.stx_dev_major, sx.stx_dev_minor));
  if (n && n != &fs->root) {
    if (n->nlookup > 0) n->nlookup++;
    else n = NULL;
  }
  pthread_mutex_unlock(&fs->nodes.lock);
  if (!n) return;
  inval_inode(w, n);
  node_forget(fs, n, 1);
}

/*
 * Events were lost: every cached name and attribute may be wrong. Names expire at once through
 * FUSE_NOTIFY_INC_EPOCH where the kernel has it (6.16+); elsewhere they cannot be found one by
 * one (the table knows inodes, not names), so from then on every reply carries the short
 * timeouts and what was cached long may stay up to that long. Attributes and pages of every
 * node the kernel holds are invalidated either way.
 */
static void overflow(struct watcher *w) {
  struct fs *fs = w->fs;
  count_add(fs, C_OVERFLOWS, 1);
  /* No payload: the code alone (written raw on libfuse's session, which does not know it). */
  if (notify_raw(fs, NOTIFY_INC_EPOCH, NULL, 0) != 0) __atomic_store_n(&w->degraded, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&fs->nodes.lock);
  size_t cap = fs->nodes.count, k = 0;
  struct node **all = malloc((cap + 1) * sizeof *all);
  if (all) {
    for (size_t b = 0; b < fs->nodes.nbuckets && k < cap; b++)
      for (struct node *n = fs->nodes.buckets[b]; n && k < cap; n = n->next)
        if (n->nlookup > 0) {
          n->nlookup++;
          __atomic_store_n(&n->covered, 0, __ATOMIC_RELAXED);
          all[k++] = n;
        }
  } else
    __atomic_store_n(&w->degraded, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&fs->nodes.lock);
  inval_inode(w, &fs->root);
  for (size_t i = 0; i < k; i++) {
    inval_inode(w, all[i]);
    node_forget(fs, all[i], 1);
  }
  free(all);
}

/*
 * One read's events become one batch of notifications: each (directory, name) is invalidated
 * once, and each directory once, however many events named it (a file written, closed twice and
 * chmod'ed by an untar: four events, one INVAL_INODE). Every notification of a batch is written
 * after the read, so after every change its events report: one sent after several changes
 * covers them all, as the first of several did not need to. Names resolve to inodes when sent
 * (inval_child), as they did per event (the name is what counts: what stands there now).
 */
enum { A_ENTRY = 1, A_DIR = 2, A_CHILD = 4 };
struct action {
  struct node *dir; /* one reference, given back when sent */
  const char *name; /* in the read buffer (NULL: the directory itself) */
  unsigned what;
  size_t slot;
};
/* A read of EVENT_BUF holds at most this many events; each makes at most two actions. */
#define MAX_EVENTS (EVENT_BUF / sizeof(struct inotify_event))
#define MAX_ACTIONS (2 * MAX_EVENTS)
#define ACTION_SLOTS (4 * MAX_ACTIONS) /* open addressing, a power of two */

struct batch {
  struct action a[MAX_ACTIONS];
  size_t n;
  int32_t slot[ACTION_SLOTS]; /* index + 1 into a[], 0: free */
};

static size_t action_hash(const struct node *dir, const char *name) {
  uint64_t h = (uint64_t)(uintptr_t)dir * 0x9E3779B97F4A7C15ull;
  if (name)
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001B3ull;
  return (size_t)(h ^ (h >> 29)) & (ACTION_SLOTS - 1);
}

/* Adds `what` for (dir, name); takes over the caller's reference to dir (given back at once if an action for it exists). */
static void batch_add(struct batch *b, struct fs *fs, struct node *dir, const char *name, unsigned what) {
  size_t i = action_hash(dir, name);
  for (; b->slot[i]; i = (i + 1) & (ACTION_SLOTS - 1)) {
    struct action *a = &b->a[b->slot[i] - 1];
    if (a->dir == dir && (a->name == name || (a->name && name && strcmp(a->name, name) == 0))) {
      a->what |= what;
      node_forget(fs, dir, 1);
      return;
    }
  }
  b->a[b->n] = (struct action){.dir = dir, .name = name, .what = what, .slot = i};
  b->slot[i] = (int32_t)++b->n;
}

/* Sends the batch's notifications, in the order their first events came, and empties it. */
static void batch_send(struct watcher *w, struct batch *b) {
  struct fs *fs = w->fs;
  for (size_t k = 0; k < b->n; k++) {
    struct action *a = &b->a[k];
    if (a->what & A_ENTRY) {
      /*
       * The name now means something else (or nothing): its dentry goes, negative ones too. An
       * invalidation, not FUSE_LL_EXPIRE_ONLY: a lookup in flight (revalidating that dentry)
       * could set a merely expired one valid again with what it read before the change, while
       * an unhashed one is never found again. A change that keeps the name (attributes,
       * contents) leaves the dentry alone: it is still true, and a mount stacked on it stays.
       */
      notify_inval_entry(fs, node_id(fs, a->dir), a->name, strlen(a->name));
      count_add(fs, C_INVALS, 1);
      count_add(fs, C_INVAL_ENTRY, 1);
    }
    /* The listing, the directory's mtime and link count (a new name has no dentry to find, so this is needed too), or the directory's own change. */
    if (a->what & A_DIR) inval_inode(w, a->dir);
    if (a->what & A_CHILD) {
      /*
       * A directory past the fd budget keeps a file handle: opened here for this name (the
       * watcher thread has the daemon's credentials), or its children's changes would go unseen
       * for as long as their attributes are cached.
       */
      int opened = -1, dfd = a->dir->fd;
      if (dfd < 0) dfd = opened = node_reopen(fs, a->dir);
      inval_child(w, dfd, a->name);
      if (opened >= 0) close(opened);
    }
    node_forget(fs, a->dir, 1);
    b->slot[a->slot] = 0;
  }
  b->n = 0;
}

static void handle(struct watcher *w, struct batch *b, const struct inotify_event *ev, uint64_t *budget) {
  struct fs *fs = w->fs;
  if (ev->mask & IN_Q_OVERFLOW) {
    ours_purge(w, -1);
    batch_send(w, b); /* what came before, then everything */
    return overflow(w);
  }
  if (ev->mask & IN_IGNORED) {
    ours_purge(w, ev->wd);
    /* The watch is gone (its directory removed, or we removed it): that node is unwatched now. */
    pthread_mutex_lock(&w->lock);
    struct node *n = map_find(w, ev->wd);
    if (n) {
      map_remove(w, n);
      count_add(fs, C_WATCHES, (uint64_t)-1);
    }
    pthread_mutex_unlock(&w->lock);
    return;
  }
  struct node *dir = hold_wd(w, ev->wd);
  if (!dir) return;
  if (!(ev->len && ev->name[0])) return batch_add(b, fs, dir, NULL, A_DIR); /* the directory itself: its mode, owner, times */
  /* A name we made or removed, and answered: the kernel knows the name, the directory's change and the inode's attributes (no notification). */
  int ours_kind = ev->mask & IN_CREATE ? OURS_MADE : ev->mask & IN_DELETE ? OURS_GONE : -1;
  if (ours_kind >= 0) {
    /* -1 when a directory past the fd budget is gone: then nothing is ours. */
    int opened = -1, dfd = dir->fd;
    if (dfd < 0) dfd = opened = node_reopen(fs, dir);
    int ours = ours_take(w, ev->wd, ev->name, ours_kind, dfd, budget);
    if (opened >= 0) close(opened);
    if (ours) {
      count_add(fs, C_EVENTS_OURS, 1);
      node_forget(fs, dir, 1);
      return;
    }
  }
  unsigned what = 0;
  if (ev->mask & NAME_CHANGES) what |= A_ENTRY;
  /* What stands at the name now, if the kernel holds it: its attributes and pages. */
  if (!(ev->mask & (IN_DELETE | IN_MOVED_FROM))) what |= A_CHILD;
  if (!what) return node_forget(fs, dir, 1);
  if (ev->mask & NAME_CHANGES) {
    if (dir != &fs->root) node_hold(fs, dir); /* a second reference, for the directory's own action (the root has none) */
    batch_add(b, fs, dir, NULL, A_DIR);
  }
  batch_add(b, fs, dir, ev->name, what);
}

/*
 * Events are read at most once per GATHER_NS: a change alone is handled at once, a burst of them
 * (an untar, a build through the mount) waits up to this long and comes in one read, one batch.
 * Well within the 1 s a change beside the mount may take to be seen.
 */
#define GATHER_NS 5000000ull

static void *run_notifier(void *arg) {
  struct watcher *w = arg;
  pthread_setname_np(pthread_self(), "mountie-fuse");
  char *buf = malloc(EVENT_BUF);
  struct batch *b = calloc(1, sizeof *b);
  if (!buf || !b) {
    free(buf);
    free(b);
    return NULL;
  }
  struct pollfd pfd[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->stop_fd, .events = POLLIN}};
  uint64_t last = 0;
  for (;;) {
    if (poll(pfd, 2, -1) == -1) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents) break;
    uint64_t since = now_ns() - last;
    if (last && since < GATHER_NS) {
      /* Gather: the stop fd alone, until the interval is over (a stop still ends this at once). */
      struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(GATHER_NS - since)};
      if (ppoll(&pfd[1], 1, &ts, NULL) > 0) break;
    }
    ssize_t len = read(w->ifd, buf, EVENT_BUF);
    last = now_ns();
    if (len <= 0) continue;
    count_add(w->fs, C_EVENT_READS, 1);
    uint64_t budget = OURS_BUDGET_NS, events = 0;
    for (char *p = buf; p < buf + len; events++) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      handle(w, b, ev, &budget);
    }
    batch_send(w, b);
    /* Counted once their notifications are written: a reader that sees them counted sees them handled. */
    count_add(w->fs, C_EVENTS, events);
  }
  free(b);
  free(buf);
  return NULL;
}

int watch_start(struct fs *fs) {
  if (remote_fs(fs->root.fd)) return EREMOTE;
  struct watcher *w = calloc(1, sizeof *w);
  if (!w) return ENOMEM;
  w->fs = fs;
  w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->ifd == -1) {
    int err = errno;
    free(w);
    return err;
  }
  w->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (w->stop_fd == -1) {
    int err = errno;
    close(w->ifd);
    free(w);
    return err;
  }
  pthread_mutex_init(&w->lock, NULL);
  pthread_mutex_init(&w->ours_lock, NULL);
  pthread_cond_init(&w->ours_wake, NULL);
  w->budget = fs->cfg.watch_budget ? (uint64_t)fs->cfg.watch_budget : watch_budget();
  fs->watch = w;
  watch_dir(fs, &fs->root, fs->root.fd);
  if (__atomic_load_n(&fs->root.wd, __ATOMIC_RELAXED) < 0) {
    /* Not even the root: no watching at all (short timeouts everywhere, as before). */
    watch_stop(fs);
    return EPERM;
  }
  int rc = pthread_create(&w->thread, NULL, run_notifier, w);
  if (rc) {
    watch_stop(fs);
    return rc;
  }
  w->started = 1;
  return 0;
}

/* After the session loop ended (nothing looks nodes up any more), before the table is freed. */
void watch_stop(struct fs *fs) {
  struct watcher *w = fs->watch;
  if (!w) return;
  if (w->started) {
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof one) < 0) { /* an eventfd write cannot fail here */ }
    pthread_join(w->thread, NULL);
  }
  fs->watch = NULL;
  close(w->ifd);
  close(w->stop_fd);
  pthread_mutex_destroy(&w->lock);
  while (w->ours) {
    struct ours *o = w->ours;
    w->ours = o->next;
    free(o);
  }
  pthread_mutex_destroy(&w->ours_lock);
  pthread_cond_destroy(&w->ours_wake);
  free(w);
}

/*
 * The timeouts of an entry answered below `parent`: long only where the notifier keeps them
 * true. The name: when its directory is watched. The attributes: a directory's when it is
 * watched itself, a file's when it has one link (a change through another name, perhaps in a
 * directory nobody watches, would send no event here) and its directory is watched.
 */
void entry_ttl(struct fs *fs, struct node *parent, struct fuse_entry_param *e) {
  e->entry_timeout = fs->cfg.entry_timeout;
  e->attr_timeout = fs->cfg.attr_timeout;
  if (!watch_active(fs) || __atomic_load_n(&parent->wd, __ATOMIC_ACQUIRE) < 0) return;
  e->entry_timeout = fs->cfg.watch_timeout;
  if (!e->ino) return; /* a negative entry */
  struct node *n = node_of(fs, e->ino); /* the caller holds its reference */
  if (!n) return;
  if (S_ISDIR(e->attr.st_mode)) {
    if (__atomic_load_n(&n->wd, __ATOMIC_ACQUIRE) >= 0) e->attr_timeout = fs->cfg.watch_timeout;
  } else if (e->attr.st_nlink == 1) {
    __atomic_store_n(&n->covered, 1, __ATOMIC_RELAXED);
    e->attr_timeout = fs->cfg.watch_timeout;
  }
}

/* The attribute timeout of a getattr/setattr answer (no parent known): as the node was last looked up. */
double attr_ttl(struct fs *fs, struct node *n, const struct stat *st) {
  if (!watch_active(fs)) return fs->cfg.attr_timeout;
  if (S_ISDIR(st->st_mode)) return __atomic_load_n(&n->wd, __ATOMIC_ACQUIRE) >= 0 ? fs->cfg.watch_timeout : fs->cfg.attr_timeout;
  return st->st_nlink == 1 && __atomic_load_n(&n->covered, __ATOMIC_RELAXED) ? fs->cfg.watch_timeout : fs->cfg.attr_timeout;
}
