/*
 * A kind's own operations served by the native core (issue 19): a FUSE session in C (our own,
 * own.c, by default; libfuse 3.14's with MOUNTIE_SESSION=libfuse), each request handed to the
 * daemon's JavaScript thread and answered from there through the session layer's send_* (req.h). The node table (ids, lookup counts, FORGET, renames) lives here, so JavaScript
 * sees paths; the reply is C's: a request JavaScript never answers gets ETIMEDOUT at its deadline
 * (the watchdog), and an answer that comes after that is dropped.
 *
 * Threads: the JavaScript thread reads /dev/fuse itself (jsession_read, from a libuv poll), runs
 * the op in C (jsfs_ops: the request is built and queued), dispatches what is queued and answers
 * through jfs_reply_*; the watchdog times requests out and, when JavaScript is late, hands the
 * reading to a rescue thread that only queues (never waiting on JavaScript). One mutex guards the
 * node tree, another the pending requests.
 */
#ifndef MOUNTIE_JSFS_H
#define MOUNTIE_JSFS_H

#include "core.h"

#include <sys/uio.h>

/* What a request carries to JavaScript; which fields are set depends on the op. */
struct jreq {
  uint64_t id;
  struct req_to to;    /* where the answer goes (req.h): libfuse's request, or our session's unique */
  int op;              /* enum op_kind */
  int refs;            /* atomic: the queue's and the pending table's */
  uint64_t t0;
  uint64_t deadline;   /* ns, CLOCK_MONOTONIC; 0: none */
  struct caller caller;
  fuse_ino_t ino;      /* the node it works on (the parent, for ops that name a child) */
  fuse_ino_t ino2;     /* rename: the new parent */
  char *name;          /* the child's name (lookup, create, mkdir, …; rename: the old name) */
  char *name2;         /* rename: the new name */
  char *path;          /* the node's path (or the child's), from the mount's root: "/a/b" */
  char *path2;         /* rename, link: the new path; symlink: the target */
  uint64_t fh;         /* the author's handle (0: none) */
  int has_fh;
  void *dir;           /* opendir/readdir/releasedir: the directory handle (struct jdir) */
  int flags;
  mode_t mode;
  dev_t rdev;
  uint64_t size;
  int64_t off;
  int64_t len;
  int datasync;
  int to_set;          /* setattr: FUSE_SET_ATTR_* */
  struct stat attr;    /* setattr's values */
  char *data;          /* write's bytes, setxattr's value, getxattr's name */
  size_t data_len;
  struct jreq *qnext;  /* the queue to JavaScript */
  struct jreq *hnext;  /* the pending table */
};

struct jfs;
struct jsession;

/* The JS-ops mode's ops (jsfs.c), called by either session: our own's decoder (own.c) or libfuse's through jsfs_lf_ops. */
extern const struct own_ops jsfs_req_ops;
/* jslfops.c: libfuse 3.14's callbacks, each wrapping its request in a req_t for jsfs_req_ops; its init is the JS-ops mode's INIT choice. */
extern const struct fuse_lowlevel_ops jsfs_lf_ops;

/* Called from a worker when requests were queued and the queue was empty (one wake-up per batch). */
typedef void (*jfs_wake_fn)(void *arg);

struct jfs_config {
  double attr_timeout;
  double entry_timeout;
  int read_only;
  int allow_other;
  unsigned deadline_ms;
  int keep_cache;       /* open answers keep the file's cached pages (the author says files change only through the mount) */
  unsigned max_read;    /* largest read request in bytes; 0: the kernel's */
  int read_buffers;     /* read hands JavaScript a zeroed buffer to fill (the callback-style ops, as fuse-native did) */
  uint64_t implemented; /* bit per op_kind: the author answers it; others get ENOSYS without a round trip */
};

struct jsession *jsession_start(const char *mountpoint, const struct jfs_config *cfg, const char *fsname, const char *subtype, uint64_t *counters, jfs_wake_fn wake, void *wake_arg, char *err, size_t errlen);
/* 0 once the loop and every worker ended (the kernel closed the connection); ETIMEDOUT: still running. */
int jsession_stop(struct jsession *s, unsigned timeout_ms);
/* Frees what jsession_stop left (the pending requests, the table); after a 0 from jsession_stop only. */
void jsession_free(struct jsession *s);
/* Answer every pending request EIO and every later one at once. Returns how many. */
unsigned jsession_cancel(struct jsession *s);
/* A started session nobody will read: unmounted and freed (the start fails). */
void jsession_abort(struct jsession *s);
struct jfs *jsession_fs(struct jsession *s);
/* The session's /dev/fuse fd (non-blocking): the JavaScript thread polls it. */
int jsession_fd(struct jsession *s);
/* JavaScript thread: read one request and run its op (a JS op is queued). 1 read, 0 none waiting, -1 the session ended. */
int jsession_read(struct jsession *s);
/* JavaScript thread: it is here (took the queue): the rescue reader, if reading, stops. */
void jsession_seen(struct jsession *s);
const struct jfs_config *jfs_config(struct jfs *fs);

/* The JavaScript thread's side. */
/* Takes the whole queue (oldest first); each taken request holds one reference, given back by jreq_put. */
struct jreq *jfs_take_queue(struct jfs *fs);
void jreq_put(struct jreq *r);
/*
 * A batch: the first call (first = 1, on a wake-up) and each later one take what is queued; while
 * a batch goes on, workers queue without waking JavaScript (it comes back for them). A NULL ends
 * the batch; so does jfs_batch_end, which says whether requests are left (then wake JavaScript).
 */
struct jreq *jfs_take_batch(struct jfs *fs, int first);
int jfs_batch_end(struct jfs *fs);
/*
 * The JavaScript thread as the reader (jsession_read): jfs_reader_enter starts a batch (workers'
 * and the rescue reader's requests are queued without a wake-up), jfs_take_queue takes what is
 * queued (the batch goes on), jfs_batch_end ends it.
 */
void jfs_reader_enter(struct jfs *fs);
/* The pending request `id`, taken out of the table: the caller answers it. NULL when it was answered already (timed out, cancelled). */
struct jreq *jfs_claim(struct jfs *fs, uint64_t id);

/* 1 once the request was answered (claimed, timed out, cancelled): the queue's reader skips it. */
int jreq_answered(struct jreq *r);
/* After a successful unlink, rmdir or rename: the node table follows (before the answer is sent). */
void jfs_names_changed(struct jfs *fs, struct jreq *r);

/* Answers (each ends the request: counts it, frees it). */
void jfs_reply_err(struct jfs *fs, struct jreq *r, int err);
/* lookup, mknod, mkdir, symlink, link, create: a new name; `st` its attributes (st_ino 0: the node id). */
void jfs_reply_entry(struct jfs *fs, struct jreq *r, struct stat *st, uint64_t fh);
void jfs_reply_attr(struct jfs *fs, struct jreq *r, struct stat *st);
void jfs_reply_open(struct jfs *fs, struct jreq *r, uint64_t fh);
void jfs_reply_buf(struct jfs *fs, struct jreq *r, const void *buf, size_t len);
/* read's answer in pieces (sent with one writev, no joining copy). */
void jfs_reply_iov(struct jfs *fs, struct jreq *r, struct iovec *iov, int n);
void jfs_reply_write(struct jfs *fs, struct jreq *r, size_t n);
void jfs_reply_readlink(struct jfs *fs, struct jreq *r, const char *target);
void jfs_reply_statfs(struct jfs *fs, struct jreq *r, const struct statvfs *sv);
void jfs_reply_lseek(struct jfs *fs, struct jreq *r, int64_t off);
/* readdir: the directory's names (and types from st_mode, inode numbers from st_ino, 0: unknown). */
void jfs_reply_dir(struct jfs *fs, struct jreq *r, char **names, const struct stat *st, size_t n);
/* getxattr, listxattr: the whole value (listxattr: names each ended by NUL); sizes per the request's. */
void jfs_reply_xattr(struct jfs *fs, struct jreq *r, const void *value, size_t len);

#endif
