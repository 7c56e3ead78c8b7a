/*
 * The JS-ops mode (jsfs.h): each request read (by the JavaScript thread itself, or the rescue
 * reader while it is late: "Who reads" below) becomes a `struct jreq` with its path(s), queued for
 * JavaScript; the answer comes back through jfs_claim and a jfs_reply_*. Exactly one answer per request: whoever takes it out of the pending table (the
 * JavaScript thread's claim, the watchdog at the deadline, a cancel) answers it, nobody else.
 * Requests are kept in arrival order, and every one has the same deadline, so the watchdog
 * looks at the oldest only.
 */
#include "jsfs.h"
#include "jsnodes.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define PENDING_BUCKETS 4096

struct jdir {
  uint64_t fh;   /* the author's handle */
  char *buf;     /* the whole listing as dirents, filled by the last readdir at offset 0 */
  size_t len;
  int filled;
};

struct jfs {
  struct jfs_config cfg;
  uint64_t *counters;
  struct jnodes nodes;
  pthread_mutex_t lock;           /* the pending table, the order list and the queue */
  struct jreq *pending[PENDING_BUCKETS];
  struct jreq *oldest, *newest;   /* pending, in arrival order (prev/next below) */
  struct jreq *qhead, *qtail;     /* queued for JavaScript */
  int woken;                      /* JavaScript was asked to take the queue and has not yet */
  int in_batch;                   /* JavaScript is taking the queue again and again (jfs_take_batch): no wake-up needed */
  uint64_t woken_at;              /* since when (ns, CLOCK_MONOTONIC) */
  uint64_t next_id;
  int cancelled;
  jfs_wake_fn wake;
  void *wake_arg;
};

/* The order list's links live beside the request; kept out of jsfs.h (nobody else walks it). */
struct jlink {
  struct jreq r;
  struct jreq *prev, *next;
};
#define LINK(r) ((struct jlink *)(r))

struct jsession {
  struct jfs fs;
  struct fuse_session *se;   /* libfuse's session (MOUNTIE_SESSION=libfuse), or NULL: */
  struct own *own;           /* our own (own.c; the default) */
  pthread_t watchdog, rescue;
  int watchdog_started, rescue_started;
  int stopping;
  pthread_mutex_t wd_lock;
  pthread_cond_t wd_wake;
  int nodes_made;
  /* The JavaScript thread reads (jsession_read); nobody else, but the rescue reader while it is late. */
  int fd;
  struct fuse_buf js_buf, rescue_buf; /* libfuse's session: its buffers */
  char *js_mem, *rescue_mem;          /* our own: one request each (own_bufsize), allocated at the first read */
  uint64_t js_seen;          /* atomic: when the JavaScript thread last came to read or take (ns) */
  int rescuing;              /* atomic: the rescue reader reads */
  int ended;                 /* wd_lock: the connection is gone (a read saw the end) */
  pthread_cond_t ended_wake; /* with wd_lock: jsession_stop waits for `ended` */
  pthread_cond_t rescue_wake;/* with wd_lock: the rescue reader waits to be needed */
  uint64_t readable_since;   /* the watchdog's: since when the fd had requests the JavaScript thread did not come for */
  uint64_t readable_seen;    /* js_seen then */
};

#define BIT(op) (1ull << (op))
static const uint64_t MUTATIONS = BIT(OP_SETATTR) | BIT(OP_MKNOD) | BIT(OP_MKDIR) | BIT(OP_UNLINK) | BIT(OP_RMDIR) |
  BIT(OP_SYMLINK) | BIT(OP_RENAME) | BIT(OP_LINK) | BIT(OP_WRITE) | BIT(OP_CREATE) | BIT(OP_SETXATTR) |
  BIT(OP_REMOVEXATTR) | BIT(OP_FALLOCATE);

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(struct jfs *fs, int i, int64_t n) {
  __atomic_fetch_add(&fs->counters[i], (uint64_t)n, __ATOMIC_RELAXED);
}

static void jreq_free(struct jreq *r) {
  free(r->name);
  free(r->name2);
  free(r->path);
  free(r->path2);
  free(r->data);
  free(LINK(r));
}

void jreq_put(struct jreq *r) {
  if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) jreq_free(r);
}

/* Counts the answered request and drops the pending table's reference (the answerer's now). */
static void finish(struct jfs *fs, struct jreq *r, int err, size_t bytes) {
  uint64_t us = (mono_ns() - r->t0) / 1000u;
  int b = 0;
  while (us > 0 && b < LAT_BUCKETS - 1) us >>= 1, b++;
  add(fs, C_OPS + r->op, 1);
  add(fs, C_LAT + b, 1);
  if (err) add(fs, C_ERRORS, 1);
  else if ((MUTATIONS >> r->op) & 1) add(fs, C_CHANGES, 1);
  if (!err && r->op == OP_READ) add(fs, C_BYTES_READ, (int64_t)bytes);
  if (!err && r->op == OP_WRITE) add(fs, C_BYTES_WRITTEN, (int64_t)bytes);
  add(fs, C_INFLIGHT, -1);
  jreq_put(r);
}

/* Lock held. Out of the pending table and the order list; marks it answered for the queue's reader. */
static void unpend(struct jfs *fs, struct jreq *r) {
  struct jreq **p = &fs->pending[r->id & (PENDING_BUCKETS - 1)];
  while (*p && *p != r) p = &(*p)->hnext;
  if (*p) *p = r->hnext;
  struct jlink *l = LINK(r);
  if (l->prev) LINK(l->prev)->next = l->next;
  else fs->oldest = l->next;
  if (l->next) LINK(l->next)->prev = l->prev;
  else fs->newest = l->prev;
  l->prev = l->next = NULL;
  r->hnext = NULL;
  /* The request stays readable (the queue's reference keeps it) and says it was answered. */
  __atomic_store_n(&r->deadline, UINT64_MAX, __ATOMIC_RELEASE); /* UINT64_MAX: answered */
}

int jreq_answered(struct jreq *r) {
  return __atomic_load_n(&r->deadline, __ATOMIC_ACQUIRE) == UINT64_MAX;
}

/* An answer's request handle (req.h) from the copy of where it goes: the request itself is gone once its op returned. */
#define RQ(r) (&(struct req){.to = (r)->to})

static struct jreq *jreq_new(req_t req, int op) {
  struct jlink *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  struct jreq *r = &l->r;
  r->to = req->to;
  r->op = op;
  r->t0 = mono_ns();
  const struct fuse_ctx *ctx = &req->ctx;
  r->caller = (struct caller){.uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid, .umask = ctx->umask};
  return r;
}

static void answer_now(struct jfs *fs, req_t req, int op, int err) {
  send_err(req, err);
  add(fs, C_OPS + op, 1);
  add(fs, C_LAT, 1);
  if (err) add(fs, C_ERRORS, 1);
}

/* Hand `r` to JavaScript (the reader's last step for the request): pending with its deadline, queued, JavaScript woken once per batch (never while it reads). */
static void submit(struct jfs *fs, struct jreq *r) {
  pthread_mutex_lock(&fs->lock);
  if (fs->cancelled) {
    pthread_mutex_unlock(&fs->lock);
    answer_now(fs, RQ(r), r->op, EIO);
    jreq_free(r);
    return;
  }
  r->id = ++fs->next_id;
  r->refs = 2;
  r->deadline = fs->cfg.deadline_ms ? r->t0 + (uint64_t)fs->cfg.deadline_ms * 1000000u : 0;
  struct jreq **b = &fs->pending[r->id & (PENDING_BUCKETS - 1)];
  r->hnext = *b;
  *b = r;
  LINK(r)->prev = fs->newest;
  if (fs->newest) LINK(fs->newest)->next = r;
  else fs->oldest = r;
  fs->newest = r;
  if (fs->qtail) fs->qtail->qnext = r;
  else fs->qhead = r;
  fs->qtail = r;
  /* Not while JavaScript is in a batch: it takes this one before it returns to its loop. */
  int wake = !fs->woken && !fs->in_batch;
  if (wake) fs->woken_at = r->t0, fs->woken = 1;
  pthread_mutex_unlock(&fs->lock);
  add(fs, C_INFLIGHT, 1);
  if (wake) fs->wake(fs->wake_arg);
}

struct jreq *jfs_take_queue(struct jfs *fs) {
  pthread_mutex_lock(&fs->lock);
  struct jreq *q = fs->qhead;
  fs->qhead = fs->qtail = NULL;
  fs->woken = 0;
  pthread_mutex_unlock(&fs->lock);
  return q;
}

struct jreq *jfs_take_batch(struct jfs *fs, int first) {
  pthread_mutex_lock(&fs->lock);
  struct jreq *q = fs->qhead;
  fs->qhead = fs->qtail = NULL;
  if (first) fs->woken = 0;
  fs->in_batch = q != NULL;
  pthread_mutex_unlock(&fs->lock);
  return q;
}

void jfs_reader_enter(struct jfs *fs) {
  pthread_mutex_lock(&fs->lock);
  fs->in_batch = 1;
  pthread_mutex_unlock(&fs->lock);
}

int jfs_batch_end(struct jfs *fs) {
  pthread_mutex_lock(&fs->lock);
  fs->in_batch = 0;
  int wake = fs->qhead && !fs->woken;
  if (wake) fs->woken = 1, fs->woken_at = mono_ns();
  pthread_mutex_unlock(&fs->lock);
  return wake;
}

struct jreq *jfs_claim(struct jfs *fs, uint64_t id) {
  pthread_mutex_lock(&fs->lock);
  struct jreq *r = fs->pending[id & (PENDING_BUCKETS - 1)];
  while (r && r->id != id) r = r->hnext;
  if (r) unpend(fs, r);
  pthread_mutex_unlock(&fs->lock);
  return r;
}

/* Answers `err` to every pending request past `now` (all of them when `all`). */
static unsigned expire(struct jfs *fs, uint64_t now, int all, int err) {
  struct jreq *done = NULL;
  unsigned n = 0;
  pthread_mutex_lock(&fs->lock);
  while (fs->oldest) {
    struct jreq *r = fs->oldest;
    if (!all && (r->deadline == 0 || r->deadline > now)) break;
    unpend(fs, r);
    r->hnext = done;
    done = r;
    n++;
  }
  pthread_mutex_unlock(&fs->lock);
  while (done) {
    struct jreq *r = done;
    done = r->hnext;
    send_err_to(&r->to, err);
    if (err == ETIMEDOUT) add(fs, C_TIMED_OUT, 1);
    finish(fs, r, err, 0);
  }
  return n;
}

/* ---- answers (the JavaScript thread, after jfs_claim) ---- */

void jfs_reply_err(struct jfs *fs, struct jreq *r, int err) {
  send_err_to(&r->to, err);
  finish(fs, r, err, 0);
}

/*
 * No flush of the author's: files are opened with FOPEN_NOFLUSH, so close(2) costs no FLUSH request
 * (C would only answer it 0; nothing is buffered in the kernel without a writeback cache, and locks
 * are the kernel's own). The passthrough does the same.
 */
static unsigned no_flush(struct jfs *fs) {
  return !((fs->cfg.implemented >> OP_FLUSH) & 1);
}

/*
 * Open handles per node: an unlinked file that is still open keeps working through its handle. The
 * kernel sends fstat's GETATTR (and fchmod's, fchown's SETATTR) without one, and the file's name is
 * gone or taken by another: such a request gets the latest handle opened on the node that is still
 * open (one released may be answered by the path, now another file's).
 */
static void note_open(struct jfs *fs, fuse_ino_t ino, uint64_t fh) {
  pthread_mutex_lock(&fs->nodes.lock);
  struct jnode *n = jnodes_get(&fs->nodes, ino);
  if (n) jnodes_opened(n, fh);
  pthread_mutex_unlock(&fs->nodes.lock);
}

static void note_release(struct jfs *fs, fuse_ino_t ino, uint64_t fh) {
  pthread_mutex_lock(&fs->nodes.lock);
  struct jnode *n = jnodes_get(&fs->nodes, ino);
  if (n) jnodes_released(n, fh);
  pthread_mutex_unlock(&fs->nodes.lock);
}

/* A request on `ino` without a handle: the open one, when the node's name is gone. */
static void handle_of_unlinked(struct jfs *fs, struct jreq *r, fuse_ino_t ino) {
  pthread_mutex_lock(&fs->nodes.lock);
  struct jnode *n = jnodes_get(&fs->nodes, ino);
  if (n && n != &fs->nodes.root && !n->hashed && jnodes_open_fh(n, &r->fh)) r->has_fh = 1;
  pthread_mutex_unlock(&fs->nodes.lock);
}

static void fill_entry(struct jfs *fs, struct fuse_entry_param *e, fuse_ino_t id, struct stat *st) {
  memset(e, 0, sizeof *e);
  e->ino = id;
  e->generation = 1;
  e->attr = *st;
  if (!e->attr.st_ino) e->attr.st_ino = id;
  e->attr_timeout = fs->cfg.attr_timeout;
  e->entry_timeout = fs->cfg.entry_timeout;
}

void jfs_reply_entry(struct jfs *fs, struct jreq *r, struct stat *st, uint64_t fh) {
  /* link names the new entry by its new parent and name; the others by the request's parent and name */
  fuse_ino_t parent = r->op == OP_LINK ? r->ino2 : r->ino;
  const char *name = r->op == OP_LINK ? r->name2 : r->name;
  fuse_ino_t id;
  pthread_mutex_lock(&fs->nodes.lock);
  /* Keyed by the author's ino (jsnodes.c): a name of a file the kernel knows already is that node. */
  int rc = jnodes_add(&fs->nodes, parent, name, (uint64_t)st->st_ino, st->st_mode, r->op == OP_LINK ? r->ino : 0, &id);
  __atomic_store_n(&fs->counters[C_NODES], fs->nodes.count, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&fs->nodes.lock);
  if (rc) {
    jfs_reply_err(fs, r, rc);
    return;
  }
  struct fuse_entry_param e;
  fill_entry(fs, &e, id, st);
  int sent;
  if (r->op == OP_CREATE) {
    struct fuse_file_info fi = {.fh = fh, .keep_cache = fs->cfg.keep_cache ? 1 : 0, .noflush = no_flush(fs)};
    note_open(fs, id, fh);
    sent = send_create(RQ(r), &e, &fi);
    if (sent == -ENOENT) note_release(fs, id, fh);
  } else {
    sent = send_entry(RQ(r), &e);
  }
  if (sent == -ENOENT) {
    /* The caller was interrupted: the kernel never got the entry, so it holds no reference. */
    pthread_mutex_lock(&fs->nodes.lock);
    jnodes_forget(&fs->nodes, id, 1);
    pthread_mutex_unlock(&fs->nodes.lock);
  }
  finish(fs, r, 0, 0);
}

void jfs_reply_attr(struct jfs *fs, struct jreq *r, struct stat *st) {
  if (!st->st_ino) st->st_ino = r->ino;
  send_attr(RQ(r), st, fs->cfg.attr_timeout);
  finish(fs, r, 0, 0);
}

void jfs_reply_open(struct jfs *fs, struct jreq *r, uint64_t fh) {
  struct fuse_file_info fi = {.fh = fh, .keep_cache = fs->cfg.keep_cache ? 1 : 0, .noflush = r->op == OP_OPEN && no_flush(fs)};
  if (r->op == OP_OPENDIR) {
    struct jdir *d = calloc(1, sizeof *d);
    if (!d) {
      /* The author opened it; nothing can carry it: say so (the kernel sends no releasedir). */
      jfs_reply_err(fs, r, ENOMEM);
      return;
    }
    d->fh = fh;
    fi.fh = (uint64_t)(uintptr_t)d;
    if (send_open(RQ(r), &fi) == -ENOENT) free(d);
  } else {
    note_open(fs, r->ino, fh);
    if (send_open(RQ(r), &fi) == -ENOENT) note_release(fs, r->ino, fh);
  }
  finish(fs, r, 0, 0);
}

void jfs_reply_buf(struct jfs *fs, struct jreq *r, const void *buf, size_t len) {
  if (len > r->size) len = r->size;
  send_buf(RQ(r), buf, len);
  finish(fs, r, 0, len);
}

void jfs_reply_iov(struct jfs *fs, struct jreq *r, struct iovec *iov, int n) {
  /* At most the size asked for: the last pieces are cut, none is sent beyond it. */
  size_t left = r->size, total = 0;
  int k = 0;
  for (; k < n && left > 0; k++) {
    if (iov[k].iov_len > left) iov[k].iov_len = left;
    left -= iov[k].iov_len;
    total += iov[k].iov_len;
  }
  send_iov(RQ(r), iov, k);
  finish(fs, r, 0, total);
}

void jfs_reply_write(struct jfs *fs, struct jreq *r, size_t n) {
  if (n > r->data_len) n = r->data_len;
  send_write(RQ(r), n);
  finish(fs, r, 0, n);
}

void jfs_reply_readlink(struct jfs *fs, struct jreq *r, const char *target) {
  send_readlink(RQ(r), target);
  finish(fs, r, 0, 0);
}

void jfs_reply_statfs(struct jfs *fs, struct jreq *r, const struct statvfs *sv) {
  send_statfs(RQ(r), sv);
  finish(fs, r, 0, 0);
}

void jfs_reply_lseek(struct jfs *fs, struct jreq *r, int64_t off) {
  send_lseek(RQ(r), off);
  finish(fs, r, 0, 0);
}

/* The slice of a directory's listing from `off` (a byte offset into it), at most `size` bytes. */
static void reply_slice(req_t req, struct jdir *d, int64_t off, size_t size) {
  if (off < 0 || (size_t)off >= d->len) {
    send_buf(req, NULL, 0);
    return;
  }
  size_t n = d->len - (size_t)off;
  send_buf(req, d->buf + off, n < size ? n : size);
}

void jfs_reply_dir(struct jfs *fs, struct jreq *r, char **names, const struct stat *st, size_t n) {
  struct jdir *d = r->dir;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int dots = 0; /* "." and ".." are the listing's first entries, given or not */
  for (size_t i = 0; i < n; i++)
    if (!strcmp(names[i], ".") || !strcmp(names[i], "..")) dots = 1;
  for (size_t i = 0; buf && i < n + (dots ? 0 : 2); i++) {
    size_t k = dots ? i : i - 2;
    const char *name = !dots && i < 2 ? (i == 0 ? "." : "..") : names[k];
    struct stat s = {0};
    if (!dots && i < 2) s.st_mode = S_IFDIR;
    else {
      s.st_mode = st[k].st_mode & S_IFMT;
      s.st_ino = st[k].st_ino;
    }
    if (!s.st_ino) s.st_ino = 0xffffffffu; /* unknown, as libfuse's high-level API says it */
    size_t need = add_direntry(NULL, 0, name, NULL, 0);
    while (len + need > cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    if (!buf) break;
    add_direntry(buf + len, need, name, &s, (off_t)(len + need));
    len += need;
  }
  if (!buf) {
    jfs_reply_err(fs, r, ENOMEM);
    return;
  }
  free(d->buf);
  d->buf = buf;
  d->len = len;
  d->filled = 1;
  reply_slice(RQ(r), d, r->off, r->size);
  finish(fs, r, 0, 0);
}

void jfs_reply_xattr(struct jfs *fs, struct jreq *r, const void *value, size_t len) {
  if (r->size == 0) send_xattr(RQ(r), len);
  else if (len > r->size) {
    send_err_to(&r->to, ERANGE);
    finish(fs, r, ERANGE, 0);
    return;
  } else send_buf(RQ(r), value, len);
  finish(fs, r, 0, 0);
}

/* ---- the ops (run by whichever thread read the request) ---- */

#define JFS(req) ((struct jfs *)(req)->user)
#define HAS(fs, op) (((fs)->cfg.implemented >> (op)) & 1)

/* The request's path (of `ino`, or of `child` below it); 0, or the errno answered. */
static int with_path(struct jfs *fs, struct jreq *r, fuse_ino_t ino, const char *child, char **out) {
  pthread_mutex_lock(&fs->nodes.lock);
  int rc = jnodes_path(&fs->nodes, ino, child, out);
  pthread_mutex_unlock(&fs->nodes.lock);
  return rc;
}

/* A new request on `ino` (and its child `name`), or NULL when it was answered here already. */
static struct jreq *begin(req_t req, int op, fuse_ino_t ino, const char *name) {
  struct jfs *fs = JFS(req);
  if (!HAS(fs, op)) {
    answer_now(fs, req, op, ENOSYS);
    return NULL;
  }
  if (fs->cfg.read_only && ((MUTATIONS >> op) & 1)) {
    answer_now(fs, req, op, EROFS);
    return NULL;
  }
  struct jreq *r = jreq_new(req, op);
  if (!r) {
    answer_now(fs, req, op, ENOMEM);
    return NULL;
  }
  r->ino = ino;
  int rc = name && !(r->name = strdup(name)) ? ENOMEM : with_path(fs, r, ino, name, &r->path);
  if (rc) {
    answer_now(fs, req, op, rc);
    jreq_free(r);
    return NULL;
  }
  return r;
}

static void set_fh(struct jreq *r, struct fuse_file_info *fi) {
  if (!fi) return;
  r->fh = fi->fh;
  r->has_fh = 1;
}

static void js_lookup(req_t req, fuse_ino_t parent, const char *name) {
  struct jreq *r = begin(req, OP_LOOKUP, parent, name);
  if (r) submit(JFS(req), r);
}

static void js_forget(req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct jfs *fs = JFS(req);
  pthread_mutex_lock(&fs->nodes.lock);
  jnodes_forget(&fs->nodes, ino, nlookup);
  __atomic_store_n(&fs->counters[C_NODES], fs->nodes.count, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&fs->nodes.lock);
  add(fs, C_OPS + OP_FORGET, 1);
  send_none(req);
}

static void js_forget_multi(req_t req, size_t count, struct fuse_forget_data *forgets) {
  struct jfs *fs = JFS(req);
  pthread_mutex_lock(&fs->nodes.lock);
  for (size_t i = 0; i < count; i++) jnodes_forget(&fs->nodes, forgets[i].ino, forgets[i].nlookup);
  __atomic_store_n(&fs->counters[C_NODES], fs->nodes.count, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&fs->nodes.lock);
  add(fs, C_OPS + OP_FORGET, (int64_t)count);
  send_none(req);
}

static void js_getattr(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_GETATTR, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  if (!fi) handle_of_unlinked(JFS(req), r, ino);
  submit(JFS(req), r);
}

static void js_setattr(req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_SETATTR, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  if (!fi) handle_of_unlinked(JFS(req), r, ino);
  r->attr = *attr;
  r->to_set = to_set;
  submit(JFS(req), r);
}

static void js_readlink(req_t req, fuse_ino_t ino) {
  struct jreq *r = begin(req, OP_READLINK, ino, NULL);
  if (r) submit(JFS(req), r);
}

static void js_mknod(req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  struct jreq *r = begin(req, OP_MKNOD, parent, name);
  if (!r) return;
  r->mode = mode;
  r->rdev = rdev;
  submit(JFS(req), r);
}

static void js_mkdir(req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  struct jreq *r = begin(req, OP_MKDIR, parent, name);
  if (!r) return;
  r->mode = mode | S_IFDIR;
  submit(JFS(req), r);
}

static void js_unlink(req_t req, fuse_ino_t parent, const char *name) {
  struct jreq *r = begin(req, OP_UNLINK, parent, name);
  if (r) submit(JFS(req), r);
}

static void js_rmdir(req_t req, fuse_ino_t parent, const char *name) {
  struct jreq *r = begin(req, OP_RMDIR, parent, name);
  if (r) submit(JFS(req), r);
}

static void js_symlink(req_t req, const char *target, fuse_ino_t parent, const char *name) {
  struct jreq *r = begin(req, OP_SYMLINK, parent, name);
  if (!r) return;
  if (!(r->path2 = strdup(target))) {
    answer_now(JFS(req), req, OP_SYMLINK, ENOMEM);
    jreq_free(r);
    return;
  }
  submit(JFS(req), r);
}

static void js_rename(req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  struct jfs *fs = JFS(req);
  struct jreq *r = begin(req, OP_RENAME, parent, name);
  if (!r) return;
  r->ino2 = newparent;
  r->flags = (int)flags;
  int rc = !(r->name2 = strdup(newname)) ? ENOMEM : with_path(fs, r, newparent, newname, &r->path2);
  if (rc) {
    answer_now(fs, req, OP_RENAME, rc);
    jreq_free(r);
    return;
  }
  submit(fs, r);
}

static void js_link(req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  struct jfs *fs = JFS(req);
  struct jreq *r = begin(req, OP_LINK, ino, NULL);
  if (!r) return;
  r->ino2 = newparent;
  int rc = !(r->name2 = strdup(newname)) ? ENOMEM : with_path(fs, r, newparent, newname, &r->path2);
  if (rc) {
    answer_now(fs, req, OP_LINK, rc);
    jreq_free(r);
    return;
  }
  submit(fs, r);
}

static void js_open(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct jfs *fs = JFS(req);
  if (!HAS(fs, OP_OPEN)) {
    /* No open of the author's: every open succeeds with handle 0 (as libfuse's high-level API). */
    if (fs->cfg.read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
      answer_now(fs, req, OP_OPEN, EROFS);
      return;
    }
    fi->fh = 0;
    fi->keep_cache = fs->cfg.keep_cache ? 1 : 0;
    fi->noflush = no_flush(fs);
    note_open(fs, ino, 0);
    if (send_open(req, fi) == -ENOENT) note_release(fs, ino, 0);
    add(fs, C_OPS + OP_OPEN, 1);
    return;
  }
  if (fs->cfg.read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
    answer_now(fs, req, OP_OPEN, EROFS);
    return;
  }
  struct jreq *r = begin(req, OP_OPEN, ino, NULL);
  if (!r) return;
  r->flags = fi->flags;
  submit(fs, r);
}

static void js_read(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_READ, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  r->size = size;
  r->off = off;
  submit(JFS(req), r);
}

static void js_write(req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_WRITE, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  r->off = off;
  /* The session's buffer is reused once this returns: the bytes travel in a copy */
  if (!(r->data = malloc(size ? size : 1))) {
    answer_now(JFS(req), req, OP_WRITE, ENOMEM);
    jreq_free(r);
    return;
  }
  memcpy(r->data, buf, size);
  r->data_len = size;
  submit(JFS(req), r);
}

/* Ops whose answer is only an error code, on an open handle. */
static void handle_op(req_t req, int op, fuse_ino_t ino, struct fuse_file_info *fi, int datasync, int answer_if_absent) {
  struct jfs *fs = JFS(req);
  if (!HAS(fs, op) && answer_if_absent >= 0) {
    send_err(req, answer_if_absent);
    add(fs, C_OPS + op, 1);
    return;
  }
  struct jreq *r = begin(req, op, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  r->flags = fi ? fi->flags : 0;
  r->datasync = datasync;
  submit(fs, r);
}

static void js_flush(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  handle_op(req, OP_FLUSH, ino, fi, 0, 0);
}

static void js_release(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  note_release(JFS(req), ino, fi->fh);
  handle_op(req, OP_RELEASE, ino, fi, 0, 0);
}

static void js_fsync(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  handle_op(req, OP_FSYNC, ino, fi, datasync, -1);
}

static void js_opendir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct jfs *fs = JFS(req);
  if (!HAS(fs, OP_OPENDIR)) {
    struct jdir *d = calloc(1, sizeof *d);
    if (!d) {
      answer_now(fs, req, OP_OPENDIR, ENOMEM);
      return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    if (send_open(req, fi) == -ENOENT) free(d);
    add(fs, C_OPS + OP_OPENDIR, 1);
    return;
  }
  struct jreq *r = begin(req, OP_OPENDIR, ino, NULL);
  if (!r) return;
  r->flags = fi->flags;
  submit(fs, r);
}

static void js_readdir(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct jfs *fs = JFS(req);
  struct jdir *d = (struct jdir *)(uintptr_t)fi->fh;
  if (off > 0 && d->filled) {
    /* The rest of a listing read from offset 0: served from it, as one directory read is one answer of the author's. */
    reply_slice(req, d, off, size);
    add(fs, C_OPS + OP_READDIR, 1);
    return;
  }
  struct jreq *r = begin(req, OP_READDIR, ino, NULL);
  if (!r) return;
  r->fh = d->fh;
  r->has_fh = 1;
  r->dir = d;
  r->size = size;
  r->off = off;
  submit(fs, r);
}

static void js_releasedir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct jfs *fs = JFS(req);
  struct jdir *d = (struct jdir *)(uintptr_t)fi->fh;
  uint64_t fh = d->fh;
  free(d->buf);
  free(d);
  if (!HAS(fs, OP_RELEASEDIR)) {
    send_err(req, 0);
    add(fs, C_OPS + OP_RELEASEDIR, 1);
    return;
  }
  struct jreq *r = begin(req, OP_RELEASEDIR, ino, NULL);
  if (!r) return;
  r->fh = fh;
  r->has_fh = 1;
  submit(fs, r);
}

static void js_fsyncdir(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct jdir *d = (struct jdir *)(uintptr_t)fi->fh;
  struct fuse_file_info f = {.fh = d->fh, .flags = fi->flags};
  handle_op(req, OP_FSYNCDIR, ino, &f, datasync, -1);
}

static void js_statfs(req_t req, fuse_ino_t ino) {
  struct jfs *fs = JFS(req);
  if (!HAS(fs, OP_STATFS)) {
    struct statvfs sv = {.f_namemax = 255, .f_bsize = 512};
    send_statfs(req, &sv);
    add(fs, C_OPS + OP_STATFS, 1);
    return;
  }
  struct jreq *r = begin(req, OP_STATFS, ino, NULL);
  if (r) submit(fs, r);
}

static void js_setxattr(req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  struct jreq *r = begin(req, OP_SETXATTR, ino, NULL);
  if (!r) return;
  r->flags = flags;
  if (!(r->name = strdup(name)) || !(r->data = malloc(size ? size : 1))) {
    answer_now(JFS(req), req, OP_SETXATTR, ENOMEM);
    jreq_free(r);
    return;
  }
  memcpy(r->data, value, size);
  r->data_len = size;
  submit(JFS(req), r);
}

static void js_getxattr(req_t req, fuse_ino_t ino, const char *name, size_t size) {
  struct jreq *r = begin(req, OP_GETXATTR, ino, NULL);
  if (!r) return;
  r->size = size;
  if (!(r->name = strdup(name))) {
    answer_now(JFS(req), req, OP_GETXATTR, ENOMEM);
    jreq_free(r);
    return;
  }
  submit(JFS(req), r);
}

static void js_listxattr(req_t req, fuse_ino_t ino, size_t size) {
  struct jreq *r = begin(req, OP_LISTXATTR, ino, NULL);
  if (!r) return;
  r->size = size;
  submit(JFS(req), r);
}

static void js_removexattr(req_t req, fuse_ino_t ino, const char *name) {
  struct jreq *r = begin(req, OP_REMOVEXATTR, ino, NULL);
  if (!r) return;
  if (!(r->name = strdup(name))) {
    answer_now(JFS(req), req, OP_REMOVEXATTR, ENOMEM);
    jreq_free(r);
    return;
  }
  submit(JFS(req), r);
}

static void js_access(req_t req, fuse_ino_t ino, int mask) {
  struct jreq *r = begin(req, OP_ACCESS, ino, NULL);
  if (!r) return;
  r->flags = mask;
  submit(JFS(req), r);
}

static void js_create(req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_CREATE, parent, name);
  if (!r) return;
  r->mode = mode;
  r->flags = fi->flags;
  submit(JFS(req), r);
}

static void js_fallocate(req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_FALLOCATE, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  r->flags = mode;
  r->off = offset;
  r->len = length;
  submit(JFS(req), r);
}

static void js_lseek(req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  struct jreq *r = begin(req, OP_LSEEK, ino, NULL);
  if (!r) return;
  set_fh(r, fi);
  r->off = off;
  r->flags = whence;
  submit(JFS(req), r);
}

/* Both sessions call these: our own through own.c's decoder, libfuse's through jslfops.c. */
const struct own_ops jsfs_req_ops = {
  .lookup = js_lookup,
  .forget = js_forget,
  .forget_multi = js_forget_multi,
  .getattr = js_getattr,
  .setattr = js_setattr,
  .readlink = js_readlink,
  .mknod = js_mknod,
  .mkdir = js_mkdir,
  .unlink = js_unlink,
  .rmdir = js_rmdir,
  .symlink = js_symlink,
  .rename = js_rename,
  .link = js_link,
  .open = js_open,
  .read = js_read,
  .write = js_write,
  .flush = js_flush,
  .release = js_release,
  .fsync = js_fsync,
  .opendir = js_opendir,
  .readdir = js_readdir,
  .releasedir = js_releasedir,
  .fsyncdir = js_fsyncdir,
  .statfs = js_statfs,
  .setxattr = js_setxattr,
  .getxattr = js_getxattr,
  .listxattr = js_listxattr,
  .removexattr = js_removexattr,
  .access = js_access,
  .create = js_create,
  .fallocate = js_fallocate,
  .lseek = js_lseek,
};

/* After a successful answer of an op that changed names: the table follows. JavaScript thread. */
void jfs_names_changed(struct jfs *fs, struct jreq *r) {
  pthread_mutex_lock(&fs->nodes.lock);
  if (r->op == OP_UNLINK || r->op == OP_RMDIR) jnodes_remove(&fs->nodes, r->ino, r->name);
  else if (r->op == OP_RENAME) jnodes_rename(&fs->nodes, r->ino, r->name, r->ino2, r->name2, (r->flags & RENAME_EXCHANGE) != 0);
  __atomic_store_n(&fs->counters[C_NODES], fs->nodes.count, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&fs->nodes.lock);
}

/* ---- the session ---- */

/*
 * Who reads /dev/fuse. The JavaScript thread does (jsession_read, from a libuv poll on the fd, made
 * non-blocking): it reads a request, runs its op (which queues it for JavaScript), dispatches it
 * and answers it, and reads again until nothing waits. A request then costs one wake-up of one
 * thread (epoll), where a worker that read it and woke JavaScript cost two, with the kernel's
 * context switch the dearest part of a request on this machine (BENCHMARKS.md, issue 19).
 * JavaScript can be late (a busy loop in an op, a blocking call): the watchdog sees requests
 * waiting in the kernel that the JavaScript thread has not come for in RESCUE_NS, and hands the
 * reading to the rescue reader, a C thread that reads and queues them as workers did (ops C
 * answers are answered, the others get their deadline and the stall is seen), until JavaScript
 * comes back (it stamps js_seen whenever it reads or takes the queue).
 */
#define RESCUE_NS 100000000ull

static void session_ended(struct jsession *s) {
  __atomic_store_n(&s->fs.counters[C_LOOP_ENDED], 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&s->wd_lock);
  s->ended = 1;
  pthread_cond_broadcast(&s->ended_wake);
  pthread_cond_broadcast(&s->rescue_wake);
  pthread_mutex_unlock(&s->wd_lock);
}

/*
 * One request read and processed: 1; nothing waiting: 0; the session ended: -1. On our own
 * session (own.c) the read never waits (own_read) and the request is decoded, length-checked, by
 * own_process into jsfs_req_ops; on libfuse's, its receive and process do the same.
 */
static int read_one(struct jsession *s, struct fuse_buf *buf, char **mem) {
  int res;
  if (s->own) {
    size_t size = own_bufsize();
    res = *mem || (*mem = malloc(size)) ? own_read(s->own, *mem, size) : -ENOMEM;
  } else {
    res = fuse_session_receive_buf(s->se, buf);
  }
  if (res == -EAGAIN || res == -EINTR) return 0;
  if (res <= 0) {
    session_ended(s);
    return -1;
  }
  if (s->own) own_process(s->own, *mem, (size_t)res);
  else fuse_session_process_buf(s->se, buf);
  return 1;
}

int jsession_read(struct jsession *s) {
  __atomic_store_n(&s->js_seen, mono_ns(), __ATOMIC_RELEASE);
  return read_one(s, &s->js_buf, &s->js_mem);
}

void jsession_seen(struct jsession *s) {
  __atomic_store_n(&s->js_seen, mono_ns(), __ATOMIC_RELEASE);
}

int jsession_fd(struct jsession *s) {
  return s->fd;
}

/* Requests wait in the kernel that nobody has read yet. */
static int fd_readable(int fd) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLIN | POLLERR));
}

/* The watchdog's check: requests waited RESCUE_NS in the kernel and JavaScript did not come for them. */
static void check_rescue(struct jsession *s, uint64_t now) {
  if (__atomic_load_n(&s->rescuing, __ATOMIC_ACQUIRE)) return;
  uint64_t seen = __atomic_load_n(&s->js_seen, __ATOMIC_ACQUIRE);
  if (!fd_readable(s->fd)) {
    s->readable_since = 0;
    return;
  }
  if (!s->readable_since || s->readable_seen != seen) {
    s->readable_since = now, s->readable_seen = seen;
    return;
  }
  if (now - s->readable_since < RESCUE_NS) return;
  s->readable_since = 0;
  pthread_mutex_lock(&s->wd_lock);
  __atomic_store_n(&s->rescuing, 1, __ATOMIC_RELEASE);
  pthread_cond_signal(&s->rescue_wake);
  pthread_mutex_unlock(&s->wd_lock);
}

static void *run_rescue(void *arg) {
  struct jsession *s = arg;
  pthread_setname_np(pthread_self(), "mountie-fuse");
  pthread_mutex_lock(&s->wd_lock);
  for (;;) {
    while (!s->stopping && !s->ended && !__atomic_load_n(&s->rescuing, __ATOMIC_ACQUIRE)) pthread_cond_wait(&s->rescue_wake, &s->wd_lock);
    if (s->stopping || s->ended) break;
    pthread_mutex_unlock(&s->wd_lock);
    uint64_t seen = __atomic_load_n(&s->js_seen, __ATOMIC_ACQUIRE);
    /* Until JavaScript comes back (it reads, or takes what this queued), the session ends or stops. */
    while (__atomic_load_n(&s->js_seen, __ATOMIC_ACQUIRE) == seen && !__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
      struct pollfd pf = {.fd = s->fd, .events = POLLIN};
      if (poll(&pf, 1, 20) <= 0) continue;
      int rc = read_one(s, &s->rescue_buf, &s->rescue_mem);
      if (rc > 0) add(&s->fs, C_RESCUED, 1);
      if (rc < 0) break;
    }
    pthread_mutex_lock(&s->wd_lock);
    __atomic_store_n(&s->rescuing, 0, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&s->wd_lock);
  return NULL;
}

/*
 * Whether the JavaScript thread is stalled (a busy loop, a blocking call): it was asked to take the
 * queue over STALL_NS ago and has not. A request pending over PING_NS asks it again (an empty
 * take answers), so one op blocking the thread shows even when nothing else arrives; an op that
 * is only slow (awaiting) leaves the thread free to answer the ask. While stalled the watchdog
 * thread names itself STALL_NAME, which `status` reads from /proc (the JavaScript thread cannot
 * write state.json then), and takes its own name back once the thread answers.
 */
#define STALL_NS 1000000000ull
#define PING_NS 250000000ull
#define STALL_NAME "mountie-stall"

static int js_stalled(struct jfs *fs, uint64_t now) {
  pthread_mutex_lock(&fs->lock);
  int ping = !fs->woken && fs->oldest && now - fs->oldest->t0 > PING_NS;
  if (ping) fs->woken = 1, fs->woken_at = now;
  int stalled = fs->woken && now - fs->woken_at > STALL_NS;
  pthread_mutex_unlock(&fs->lock);
  if (ping) fs->wake(fs->wake_arg);
  return stalled;
}

static void *run_watchdog(void *arg) {
  struct jsession *s = arg;
  int named_stalled = 0;
  pthread_setname_np(pthread_self(), "mountie-fuse");
  unsigned step_ms = s->fs.cfg.deadline_ms / 4;
  if (step_ms > 50) step_ms = 50;
  if (step_ms < 1) step_ms = 1;
  pthread_mutex_lock(&s->wd_lock);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)step_ms * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->wd_wake, &s->wd_lock, &until);
    pthread_mutex_unlock(&s->wd_lock);
    uint64_t now = mono_ns();
    expire(&s->fs, now, 0, ETIMEDOUT);
    if (s->rescue_started) check_rescue(s, now);
    int stalled = js_stalled(&s->fs, now);
    if (stalled != named_stalled) {
      pthread_setname_np(pthread_self(), stalled ? STALL_NAME : "mountie-fuse");
      if (stalled) add(&s->fs, C_STALLS, 1);
      named_stalled = stalled;
    }
    pthread_mutex_lock(&s->wd_lock);
  }
  pthread_mutex_unlock(&s->wd_lock);
  return NULL;
}

/* The watchdog and the rescue reader (bounded: the rescue polls 20 ms at a time). */
static void stop_watchdog(struct jsession *s) {
  pthread_mutex_lock(&s->wd_lock);
  __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
  pthread_cond_signal(&s->wd_wake);
  pthread_cond_broadcast(&s->rescue_wake);
  pthread_mutex_unlock(&s->wd_lock);
  if (s->watchdog_started) pthread_join(s->watchdog, NULL);
  if (s->rescue_started) pthread_join(s->rescue, NULL);
  s->watchdog_started = s->rescue_started = 0;
}

void jsession_free(struct jsession *s) {
  stop_watchdog(s);
  /* Nothing can answer now (the connection is gone): what is still pending is only freed. */
  struct jfs *fs = &s->fs;
  while (fs->oldest) {
    struct jreq *r = fs->oldest;
    unpend(fs, r);
    jreq_put(r);
  }
  for (struct jreq *r = jfs_take_queue(fs), *next; r; r = next) {
    next = r->qnext;
    jreq_put(r);
  }
  if (s->se) fuse_session_destroy(s->se);
  own_close(s->own);
  if (s->nodes_made) jnodes_destroy(&fs->nodes);
  free(s->js_buf.mem);
  free(s->rescue_buf.mem);
  free(s->js_mem);
  free(s->rescue_mem);
  pthread_mutex_destroy(&fs->lock);
  pthread_mutex_destroy(&s->wd_lock);
  pthread_cond_destroy(&s->wd_wake);
  pthread_cond_destroy(&s->ended_wake);
  pthread_cond_destroy(&s->rescue_wake);
  free(s);
}

/* Where the start failed after the mount, and jsession_abort: the mount taken down (libfuse's, or ours as own.c made it). */
static void unmount_session(struct jsession *s) {
  if (s->se) fuse_session_unmount(s->se);
  else own_unmount(s->own);
}

/*
 * Our own session's INIT for the JS-ops mode: what libfuse 3.14 asks for by default for these ops
 * (async read, parallel dirops, auto inval data, async DIO, ioctl dir, big writes, max pages), less
 * what libfuse's init (jslfops.c) takes away: no atomic O_TRUNC (truncation comes as a setattr of
 * the size), no kill-priv handling (the kernel clears setuid bits itself), no writeback cache, no
 * readdirplus, no splice; no symlink caching (libfuse 3.14 does not ask for it either).
 */
#define JS_WANT (FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA | FUSE_ASYNC_DIO | FUSE_IOCTL_DIR | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_INIT_EXT)

static struct jsession *fail(struct jsession *s, char *err, size_t errlen, const char *what, int code) {
  snprintf(err, errlen, "%s: %s", what, strerror(code));
  jsession_free(s);
  return NULL;
}

struct jsession *jsession_start(const char *mountpoint, const struct jfs_config *cfg, const char *fsname, const char *subtype, uint64_t *counters, jfs_wake_fn wake, void *wake_arg, char *err, size_t errlen) {
  struct jsession *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->fs.cfg = *cfg;
  s->fs.counters = counters;
  s->fs.wake = wake;
  s->fs.wake_arg = wake_arg;
  pthread_mutex_init(&s->fs.lock, NULL);
  pthread_mutex_init(&s->wd_lock, NULL);
  pthread_cond_init(&s->wd_wake, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->ended_wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&s->rescue_wake, NULL);
  s->fd = -1;
  int rc = jnodes_init(&s->fs.nodes);
  if (rc) return fail(s, err, errlen, "node table", rc);
  s->nodes_made = 1;

  char opts[512];
  /* With other users in, the kernel checks permissions (the author's ops answer as the daemon). */
  char max_read[32] = "";
  if (cfg->max_read) snprintf(max_read, sizeof max_read, ",max_read=%u", cfg->max_read);
  int n = snprintf(opts, sizeof opts, "fsname=%s,subtype=%s%s%s%s", fsname, subtype, cfg->allow_other ? ",allow_other,default_permissions" : "", cfg->read_only ? ",ro" : "", max_read);
  if (n < 0 || (size_t)n >= sizeof opts) return fail(s, err, errlen, "mount options", E2BIG);
  const char *what;
  int code;
  /*
   * Which session serves the mount, as for the passthrough (session.c): our own (own.c) unless
   * MOUNTIE_SESSION=libfuse. The same ops either way (jsfs_req_ops); only the reading differs.
   */
  const char *kind = getenv("MOUNTIE_SESSION");
  if (!kind || strcmp(kind, "libfuse") != 0) {
    struct own_conf oc = {
      .ops = &jsfs_req_ops,
      .user = &s->fs,
      .want = JS_WANT,
      .max_read = cfg->max_read,
      .allow_other = cfg->allow_other,
      .default_permissions = cfg->allow_other, /* as the libfuse mount's options above */
      .read_only = cfg->read_only,
    };
    s->own = own_open_conf(&oc, mountpoint, fsname, subtype, &what, &code);
    if (!s->own) return fail(s, err, errlen, what, code);
    s->fd = own_fd(s->own);
    __atomic_store_n(&counters[C_SESSION], SESSION_OWN, __ATOMIC_RELAXED);
  } else {
    s->se = session_open(mountpoint, opts, &jsfs_lf_ops, sizeof jsfs_lf_ops, &s->fs, &what, &code);
    if (!s->se) return fail(s, err, errlen, what, code);
    s->fd = fuse_session_fd(s->se);
    __atomic_store_n(&counters[C_SESSION], SESSION_LIBFUSE, __ATOMIC_RELAXED);
  }

  /* The JavaScript thread reads from a libuv poll: a read must never block it (our own session's fd is so already). */
  int fl = fcntl(s->fd, F_GETFL);
  if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    rc = errno;
    unmount_session(s);
    return fail(s, err, errlen, "fcntl O_NONBLOCK on /dev/fuse", rc);
  }
  __atomic_store_n(&s->js_seen, mono_ns(), __ATOMIC_RELEASE);
  sigset_t old;
  threads_mask(&old); /* loop.c: the threads take no signal but their own faults */
  /* The rescue reader first: the watchdog reads rescue_started (set before it exists, never after). */
  rc = cfg->deadline_ms ? pthread_create(&s->rescue, NULL, run_rescue, s) : 0;
  if (rc == 0 && cfg->deadline_ms) {
    s->rescue_started = 1;
    rc = pthread_create(&s->watchdog, NULL, run_watchdog, s);
    s->watchdog_started = rc == 0;
  }
  threads_unmask(&old);
  if (rc) {
    unmount_session(s);
    return fail(s, err, errlen, "start watchdog thread", rc);
  }
  return s;
}

int jsession_stop(struct jsession *s, unsigned timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&s->wd_lock);
  while (!s->ended)
    if (pthread_cond_timedwait(&s->ended_wake, &s->wd_lock, &until) == ETIMEDOUT) break;
  int ended = s->ended;
  pthread_mutex_unlock(&s->wd_lock);
  if (!ended) return ETIMEDOUT;
  stop_watchdog(s);
  return 0;
}

unsigned jsession_cancel(struct jsession *s) {
  pthread_mutex_lock(&s->fs.lock);
  s->fs.cancelled = 1;
  pthread_mutex_unlock(&s->fs.lock);
  return expire(&s->fs, 0, 1, EIO);
}

void jsession_abort(struct jsession *s) {
  unmount_session(s);
  jsession_free(s);
}

struct jfs *jsession_fs(struct jsession *s) {
  return &s->fs;
}

const struct jfs_config *jfs_config(struct jfs *fs) {
  return &fs->cfg;
}
