/*
 * The passthrough's requests, each the same operation on the source inode, through the
 * node's O_PATH fd (*at calls, or /proc/self/fd/N where no *at form exists; xattrs: xattr.c). Every request
 * is answered from the worker thread that received it; none waits on JavaScript.
 * With default_permissions the kernel has checked access (mode bits) before a request reaches
 * us; requests that create, open, change or read names then run with the caller's credentials
 * (AS_CALLER, creds.c), so the source checks them once more as the caller's own call would be
 * (ACLs, LSMs, reserved blocks), and what they create is the caller's from the start.
 *
 * The request itself (`req`) is touched only before op_begin and through op_claim: once the
 * watchdog answered it, libfuse has freed it (our own session's request lives on, but its answer
 * was sent). What an op needs later comes from `fs` (its own variable) and op_caller().
 * The ops are called by either session (lfops.c adapts libfuse's callbacks; own.c decodes ours)
 * and answer through req.h's send_* writers.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <limits.h>
#include <unistd.h>

#define FS(req) ((req)->fs)
/* NODE() and TARGET(): core.h. */
/* The fd of the request's file handle (handles.c): one that names no open file is answered EBADF. */
#define FD(var, fi) \
  int var = fh_fd(fs, (fi)); \
  if (var == -1) return reply_err(req, EBADF)
/*
 * The node's fd for this request (a handle-only node is reopened once, then held until the answer,
 * so the NFD() calls after this cannot fail): a node whose source inode is gone answers its errno
 * (ENOENT) instead of passing fd -1 to a syscall (EBADF).
 */
#define USE(fs, n) \
  if (node_use((fs), (n)) == -1) return reply_err(req, errno)
/* From here on the worker acts with the caller's credentials (until the answer). */
#define AS_CALLER() \
  do { \
    int as_err_ = op_as_caller(); \
    if (as_err_) return reply_err(req, as_err_); \
  } while (0)

/* Flags the kernel resolved already, or that our buffers cannot serve (O_DIRECT: unaligned). */
#define DROP_OPEN_FLAGS (O_NOFOLLOW | O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT)

void proc_path(char *buf, size_t len, int fd) {
  snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/*
 * Every answer goes through op_claim: when the watchdog answered ETIMEDOUT first, nothing is
 * sent and whatever the late success holds (a node reference, an fd) is given back.
 */
static void reply_err(req_t req, int err) {
  op_fail(req, err);
}

static void reply_entry(struct fs *fs, req_t req, const struct fuse_entry_param *e) {
  if (op_claim()) send_entry(req, e);
  else node_forget(fs, node_of(fs, e->ino), 1); /* our own reference keeps the id */
  op_end(0);
}

static void reply_attr(struct fs *fs, req_t req, struct node *n, const struct stat *st) {
  if (op_claim()) send_attr(req, st, attr_ttl(fs, n, st));
  op_end(0);
}

static int refuse_ro(struct fs *fs, req_t req) {
  if (!fs->cfg.read_only) return 0;
  reply_err(req, EROFS);
  return 1;
}

void do_lookup(req_t req, fuse_ino_t parent, const char *name) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_LOOKUP)) return;
  NODE(dir, parent);
  USE(fs, dir);
  AS_CALLER(); /* search permission on the directory is the caller's */
  struct fuse_entry_param e;
  int err = node_lookup(fs, dir, name, &e);
  if (err == ENOENT && watch_active(fs) && __atomic_load_n(&dir->wd, __ATOMIC_ACQUIRE) >= 0) {
    /*
     * A negative entry (node id 0), cached as long as a name where the directory is watched: a
     * name made beside the mount sends IN_CREATE, whose INVAL_ENTRY drops it (entry_ttl leaves
     * the short timeout elsewhere). git asks for many names that do not exist.
     */
    memset(&e, 0, sizeof e);
    entry_ttl(fs, dir, &e);
    if (op_claim()) send_entry(req, &e);
    op_end(ENOENT); /* counted as the error it is */
    return;
  }
  if (err) reply_err(req, err);
  else reply_entry(fs, req, &e);
}

void do_forget(req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_FORGET)) return;
  struct node *n = node_of(fs, ino);
  if (n) node_forget(fs, n, nlookup); /* an id that names nothing: nothing to give back */
  if (op_claim()) send_none(req);
  op_end(0);
}

void do_forget_multi(req_t req, size_t count, struct fuse_forget_data *forgets) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_FORGET)) return;
  for (size_t i = 0; i < count; i++) {
    struct node *n = node_of(fs, forgets[i].ino);
    if (n) node_forget(fs, n, forgets[i].nlookup);
  }
  if (op_claim()) send_none(req);
  op_end(0);
}

/* Through the open file when the kernel named one (`fd` ≥ 0), else through the node. */
static int stat_node(struct fs *fs, struct node *n, int fd, struct stat *st) {
  if (fd < 0 && node_use(fs, n) == -1) return errno;
  int res = fd >= 0 ? fstat(fd, st) : fstatat(NFD(n), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  return res == -1 ? errno : 0;
}

/* The fd of `fi`'s handle, -1 without one (fi NULL: the request names no open file); -2: a handle that names nothing (EBADF). */
static int fd_or_none(struct fs *fs, const struct fuse_file_info *fi) {
  if (!fi) return -1;
  int fd = fh_fd(fs, fi);
  return fd == -1 ? -2 : fd;
}

void do_getattr(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_GETATTR)) return;
  NODE(n, ino);
  TARGET(n);
  int fd = fd_or_none(fs, fi);
  if (fd == -2) return reply_err(req, EBADF);
  struct stat st;
  int err = stat_node(fs, n, fd, &st);
  if (err) return reply_err(req, err);
  reply_attr(fs, req, n, &st);
}

static struct timespec time_of(int valid, int set, int now, struct timespec t) {
  if (!(valid & set)) return (struct timespec){0, UTIME_OMIT};
  if (valid & now) return (struct timespec){0, UTIME_NOW};
  return t;
}

/*
 * FUSE_HANDLE_KILLPRIV_V2 (our own session): the kernel leaves it to us to drop the setuid bit,
 * the setgid bit (with group execute, as the VFS does) and the file capabilities when a write,
 * truncate or O_TRUNC open comes from a caller without CAP_FSETID, and on every chown (req's
 * kill_priv). A worker acting for a non-root caller has that caller's ids and no capability, so
 * the source's own write, truncate or chown dropped them already, as for the caller's own call. A
 * worker with uid 0 keeps root's CAP_FSETID, and the source keeps the bits: that is a root caller
 * the kernel found without CAP_FSETID (a capability-dropped root), and the bits are dropped here,
 * through the open file or the node's own fd (never a name).
 */
static mode_t setid_to_drop(mode_t mode) {
  return (mode & S_ISUID) | ((mode & S_IXGRP) ? (mode & S_ISGID) : 0);
}

#define CAPS_XATTR "security.capability"

/* `fd` is an open file, or an O_PATH one (`is_path`: it takes no fchmod or fgetxattr, its /proc/self/fd link does, as the inode itself). */
static void drop_privs(req_t req, int fd, int is_path) {
  if (!req->kill_priv || geteuid() != 0) return;
  struct stat st;
  if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) return;
  mode_t drop = setid_to_drop(st.st_mode);
  char p[64];
  proc_path(p, sizeof p, fd);
  if (drop) (void)(is_path ? chmod(p, st.st_mode & 07777 & ~drop) : fchmod(fd, st.st_mode & 07777 & ~drop));
  /* Every write of a caller without CAP_FSETID carries the flag: a look first (cheap), the removal only when there is one. */
  if ((is_path ? getxattr(p, CAPS_XATTR, NULL, 0) : fgetxattr(fd, CAPS_XATTR, NULL, 0)) > 0) (void)(is_path ? removexattr(p, CAPS_XATTR) : fremovexattr(fd, CAPS_XATTR));
}

/*
 * libfuse 3.14's session negotiates no FUSE_HANDLE_KILLPRIV_V2 and passes no kill flag on. The
 * kernel then drops set-id bits itself around a write or a truncate (a SETATTR of the mode), but
 * an O_TRUNC open (atomic_o_trunc) truncates here, with the caller's credentials: a non-root
 * caller's own open drops them on the source, a root caller's keeps them, and that is right only
 * if the caller has CAP_FSETID (read from /proc, creds_caller_caps). Our own session is told by
 * the kernel (the open's FUSE_OPEN_KILL_SUIDGID).
 */
#define CAP_FSETID_BIT (1ull << 4) /* CAP_FSETID */
static void trunc_kill_priv(req_t req) {
  if (req->to.own) return;
  const struct caller *c = op_caller();
  if (c->uid == 0 && !(creds_caller_caps(c) & CAP_FSETID_BIT)) req->kill_priv = 1;
}

/* Is `mode` the node's current mode less some of its setuid/setgid bits, on a file the caller does not own? */
static int drops_only_setid(struct fs *fs, struct node *n, int fd, mode_t mode) {
  struct stat st;
  if (stat_node(fs, n, fd, &st) || st.st_uid == op_caller()->uid) return 0;
  mode_t have = st.st_mode & 07777, want = mode & 07777;
  return want != have && (want & ~have) == 0 && ((have & ~want) & ~(mode_t)(S_ISUID | S_ISGID)) == 0;
}

void do_setattr(req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_SETATTR)) return;
  NODE(n, ino);
  TARGET(n);
  if (refuse_ro(fs, req)) return;
  int fd = fd_or_none(fs, fi); /* ≥ 0: through the open file (ftruncate, …) */
  if (fd == -2) return reply_err(req, EBADF);
  USE(fs, n);
  char p[64];
  proc_path(p, sizeof p, NFD(n));
  int res = 0;
  /*
   * After a write or truncate by someone who does not own the file, the kernel itself asks to
   * drop setuid/setgid (ATTR_FORCE: no permission check on its side): a mode request that only
   * takes those bits away. The caller may not chmod the file, but dropping them grants nothing,
   * so that one change is made with the daemon's rights, on the node's own inode (never a name).
   */
  if ((valid & FUSE_SET_ATTR_MODE) && creds_needed(fs, op_caller()) && drops_only_setid(fs, n, fd, attr->st_mode)) {
    res = fd >= 0 ? fchmod(fd, attr->st_mode & 07777) : fchmodat(AT_FDCWD, p, attr->st_mode & 07777, 0);
    if (res == -1) return reply_err(req, errno);
    valid &= ~FUSE_SET_ATTR_MODE;
  }
  AS_CALLER();
  if (valid & FUSE_SET_ATTR_MODE)
    res = fd >= 0 ? fchmod(fd, attr->st_mode & 07777) : fchmodat(AT_FDCWD, p, attr->st_mode & 07777, 0);
  if (res == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
    uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
    gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
    res = fchownat(NFD(n), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  }
  if (res == 0 && (valid & FUSE_SET_ATTR_SIZE))
    res = fd >= 0 ? ftruncate(fd, attr->st_size) : truncate(p, attr->st_size);
  if (res == 0 && (valid & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) drop_privs(req, fd >= 0 ? fd : NFD(n), fd < 0);
  if (res == 0 && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
    struct timespec tv[2] = {
      time_of(valid, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
      time_of(valid, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
    };
    if (fd >= 0) res = futimens(fd, tv);
    else if (S_ISLNK(n->type)) res = utimensat(NFD(n), "", tv, AT_EMPTY_PATH);
    else res = utimensat(AT_FDCWD, p, tv, 0);
  }
  if (res == -1) return reply_err(req, errno);
  struct stat st;
  int err = stat_node(fs, n, fd, &st);
  if (err) return reply_err(req, err);
  reply_attr(fs, req, n, &st);
}

void do_readlink(req_t req, fuse_ino_t ino) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_READLINK)) return;
  NODE(n, ino);
  TARGET(n);
  USE(fs, n);
  char buf[PATH_MAX + 1];
  ssize_t len = readlinkat(NFD(n), "", buf, sizeof buf);
  if (len == -1) return reply_err(req, errno);
  if (len == (ssize_t)sizeof buf) return reply_err(req, ENAMETOOLONG);
  buf[len] = '\0';
  if (op_claim()) send_readlink(req, buf);
  op_end(0);
}

/*
 * A worker without a umask of its own (unshare refused) had the process umask cut the mode it
 * was asked for: put it back, through the new node's own fd (never by name: the name may name
 * something else by now), with the caller's credentials like the creation itself.
 */
static int restore_mode(int fd, mode_t mode) {
  if (thread_own_umask() || S_ISLNK(mode)) return 0;
  char p[64];
  proc_path(p, sizeof p, fd);
  return fchmodat(AT_FDCWD, p, mode & 07777, 0) == -1 ? errno : 0;
}

enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_SYMLINK };

static void make(req_t req, enum op_kind op, fuse_ino_t parent_ino, const char *name, enum make_kind kind, mode_t mode, dev_t rdev, const char *target) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, op)) return;
  if (refuse_ro(fs, req)) return;
  NODE(parent, parent_ino);
  USE(fs, parent);
  AS_CALLER();
  /* Recorded before the call: its IN_CREATE needs no notification once answered (notify.c). */
  uint64_t mine = watch_ours_begin(fs, parent, name);
  int res = kind == MAKE_DIR ? mkdirat(NFD(parent), name, mode)
          : kind == MAKE_SYMLINK ? symlinkat(target, NFD(parent), name)
          : mknodat(NFD(parent), name, mode, rdev);
  if (res == -1) {
    int err = errno;
    watch_ours_drop(fs, mine);
    return reply_err(req, err);
  }
  /*
   * The entry answered is what now stands at the name, opened without following it; if that is
   * no longer what we made (renamed over meanwhile), the kernel is told so (EIO) rather than
   * handed another object as the new one.
   */
  int fd = openat(NFD(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  int err = fd == -1 ? errno : fstat(fd, &st) == -1 ? errno : 0;
  if (!err && (st.st_mode & S_IFMT) != (kind == MAKE_SYMLINK ? S_IFLNK : (mode & S_IFMT))) err = EIO;
  if (!err) err = restore_mode(fd, kind == MAKE_SYMLINK ? S_IFLNK : mode);
  struct fuse_entry_param e;
  if (!err) err = node_adopt(fs, fd, &e), fd = -1; /* the O_PATH fd becomes the node's, or is closed */
  if (err) {
    if (fd != -1) close(fd);
    watch_ours_drop(fs, mine);
    return reply_err(req, err);
  }
  entry_ttl(fs, parent, &e);
  /* The made name's event: the kernel has the answer, or it did not take it (then handled as anyone's). */
  if (op_claim() && send_entry(req, &e) == 0) watch_ours_done(fs, mine, &e.attr);
  else {
    watch_ours_drop(fs, mine);
    node_forget(fs, node_of(fs, e.ino), 1);
  }
  op_end(0);
}

void do_mknod(req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  make(req, OP_MKNOD, parent, name, MAKE_NODE, mode, rdev, NULL);
}

void do_mkdir(req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  make(req, OP_MKDIR, parent, name, MAKE_DIR, S_IFDIR | mode, 0, NULL);
}

void do_symlink(req_t req, const char *target, fuse_ino_t parent, const char *name) {
  make(req, OP_SYMLINK, parent, name, MAKE_SYMLINK, S_IFLNK | 0777, 0, target);
}

static void remove_entry(req_t req, enum op_kind op, fuse_ino_t parent, const char *name, int flags) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, op)) return;
  if (refuse_ro(fs, req)) return;
  NODE(dir, parent);
  USE(fs, dir);
  AS_CALLER();
  /* Recorded before the call, as a made name (make()): its IN_DELETE needs no notification once answered. */
  uint64_t mine = watch_ours_begin_gone(fs, dir, name);
  if (unlinkat(NFD(dir), name, flags) == -1) {
    int err = errno;
    watch_ours_drop(fs, mine);
    return reply_err(req, err);
  }
  if (op_claim() && send_err(req, 0) == 0) watch_ours_done(fs, mine, NULL);
  else watch_ours_drop(fs, mine);
  op_end(0);
}

void do_unlink(req_t req, fuse_ino_t parent, const char *name) {
  remove_entry(req, OP_UNLINK, parent, name, 0);
}

void do_rmdir(req_t req, fuse_ino_t parent, const char *name) {
  remove_entry(req, OP_RMDIR, parent, name, AT_REMOVEDIR);
}

void do_rename(req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_RENAME)) return;
  if (refuse_ro(fs, req)) return;
  NODE(from, parent);
  NODE(to, newparent);
  USE(fs, from);
  USE(fs, to);
  AS_CALLER();
  int res = renameat2(NFD(from), name, NFD(to), newname, flags);
  reply_err(req, res == -1 ? errno : 0);
}

void do_link(req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_LINK)) return;
  if (refuse_ro(fs, req)) return;
  NODE(n, ino);
  NODE(np, newparent);
  USE(fs, n);
  USE(fs, np);
  AS_CALLER();
  int res = linkat(NFD(n), "", NFD(np), newname, AT_EMPTY_PATH);
  if (res == -1 && (errno == ENOENT || errno == EPERM) && !S_ISLNK(n->type)) {
    /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (a caller's credentials lack it); the /proc link works for everyone. */
    char p[64];
    proc_path(p, sizeof p, NFD(n));
    res = linkat(AT_FDCWD, p, NFD(np), newname, AT_SYMLINK_FOLLOW);
  }
  if (res == -1) return reply_err(req, errno);
  /* The new name is the node's own inode: answered from the node, not from what the name shows now. */
  struct fuse_entry_param e = {.attr_timeout = fs->cfg.attr_timeout, .entry_timeout = fs->cfg.entry_timeout};
  if (fstatat(NFD(n), "", &e.attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) return reply_err(req, errno);
  node_hold(fs, n);
  e.ino = node_id(fs, n);
  entry_ttl(fs, np, &e); /* two links now: short attributes */
  reply_entry(fs, req, &e);
}

/* A file just opened as `fd` on node `n`: its handle (fi->fh) in the table, passthrough where negotiated (backing.c). 0, or ENOMEM (nothing kept). */
static int opened(struct fs *fs, req_t req, struct node *n, struct fuse_file_info *fi, int fd) {
  fi->keep_cache = fs->cfg.keep_cache ? 1 : 0;
  uint32_t flags = backing_open(fs, req, n, fd, fi);
  fi->fh = fh_new(fs, fd, flags, NULL, n->id);
  if (fi->fh) return 0;
  backing_release(fs, n, flags);
  req->backing_id = 0;
  return ENOMEM;
}

/* An open that was not answered (timed out, or the caller is gone): nobody will release it. */
static void unopened(struct fs *fs, struct node *n, struct fuse_file_info *fi) {
  struct fh *h = fh_take(fs, fi->fh);
  if (!h) return;
  backing_release(fs, n, h->flags);
  close(h->fd);
  free(h);
}

void do_open(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_OPEN)) return;
  NODE(n, ino);
  TARGET(n);
  if (fs->cfg.read_only && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))) return reply_err(req, EROFS);
  USE(fs, n);
  AS_CALLER();
  char p[64];
  proc_path(p, sizeof p, NFD(n));
  int fd = open(p, (fi->flags & ~DROP_OPEN_FLAGS) | O_CLOEXEC);
  if (fd == -1) return reply_err(req, errno);
  if (fi->flags & O_TRUNC) trunc_kill_priv(req), drop_privs(req, fd, 0);
  int err = opened(fs, req, n, fi, fd);
  if (err) {
    close(fd);
    return reply_err(req, err);
  }
  if (!op_claim() || send_open(req, fi) != 0) unopened(fs, n, fi);
  op_end(0);
}

void do_create(req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_CREATE)) return;
  if (refuse_ro(fs, req)) return;
  NODE(parent, parent_ino);
  USE(fs, parent);
  AS_CALLER();
  /*
   * A new file, never a name that is already there (O_EXCL: not a symlink planted meanwhile, not
   * another user's file), made by the caller's credentials: it is the caller's from the start.
   */
  int flags = (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT)) | O_NOFOLLOW | O_CLOEXEC;
  uint64_t mine = watch_ours_begin(fs, parent, name); /* as in make() */
  int fd = openat(NFD(parent), name, flags | O_CREAT | O_EXCL, mode);
  int made = fd != -1;
  if (!made) watch_ours_drop(fs, mine), mine = 0; /* no IN_CREATE of ours will come */
  /*
   * The name appeared beside the mount after the kernel's lookup and the caller did not ask for
   * O_EXCL: open what is there as the caller's own open(2) would, but never through a symlink.
   */
  if (!made && errno == EEXIST && !(fi->flags & O_EXCL)) fd = openat(NFD(parent), name, flags);
  if (fd == -1) return reply_err(req, errno);
  if (!made && (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) trunc_kill_priv(req), drop_privs(req, fd, 0);
  int err = made ? restore_mode(fd, mode) : 0;
  /* The entry is the inode of the fd we answer with, whatever the name shows by now. */
  struct fuse_entry_param e;
  if (!err) err = node_of_fd(fs, fd, &e);
  if (err) {
    close(fd);
    watch_ours_drop(fs, mine);
    return reply_err(req, err);
  }
  entry_ttl(fs, parent, &e);
  struct node *n = node_of(fs, e.ino); /* ours: node_of_fd took a reference */
  err = opened(fs, req, n, fi, fd);
  if (err) {
    close(fd);
    watch_ours_drop(fs, mine);
    node_forget(fs, n, 1);
    return reply_err(req, err);
  }
  if (!op_claim() || send_create(req, &e, fi) != 0) {
    watch_ours_drop(fs, mine);
    unopened(fs, n, fi);
    node_forget(fs, n, 1);
  } else
    watch_ours_done(fs, mine, &e.attr);
  op_end(0);
}

static __thread char *read_buf;
static __thread size_t read_cap;

/* Freed by the thread-exit hook (stats.c) through this. */
void ops_thread_exit(void) {
  free(read_buf);
  read_buf = NULL;
  read_cap = 0;
}

void do_read(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_READ)) return;
  NODE(node, ino);
  TARGET(node);
  FD(fd, fi);
  if (size > read_cap) {
    char *b = realloc(read_buf, size);
    if (!b) return reply_err(req, ENOMEM);
    read_buf = b;
    read_cap = size;
  }
  ssize_t n = pread(fd, read_buf, size, off);
  if (n == -1) return reply_err(req, errno);
  count_add(fs, C_BYTES_READ, (uint64_t)n);
  if (op_claim()) send_buf(req, read_buf, (size_t)n);
  op_end(0);
}

void do_write(req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_WRITE)) return;
  NODE(node, ino);
  TARGET(node);
  if (refuse_ro(fs, req)) return;
  FD(fd, fi);
  /* One pwrite and its count, as libfuse's fuse_buf_copy did (a short count goes back to the writer). */
  ssize_t n = pwrite(fd, data, size, off);
  if (n < 0) return reply_err(req, errno);
  drop_privs(req, fd, 0);
  count_add(fs, C_BYTES_WRITTEN, (uint64_t)n);
  if (op_claim()) send_write(req, (size_t)n);
  op_end(0);
}

void do_release(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req); /* before op_begin: the request is alive */
  if (!op_begin(req, fs, OP_RELEASE)) return;
  struct fh *h = fh_take(fs, fi->fh);
  if (!h) return reply_err(req, EBADF);
  /* The node the handle was opened on: the kernel holds it while the file is open. */
  struct node *n = node_of(fs, h->node);
  if (n) backing_release(fs, n, h->flags);
  /* A file the kernel wrote itself (passthrough): the change cursor moves once, at its close. */
  if (h->flags & FH_PT_WRITE) count_add(fs, C_CHANGES, 1);
  close(h->fd);
  free(h);
  reply_err(req, 0);
}

void do_fsync(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_FSYNC)) return;
  NODE(n, ino);
  TARGET(n);
  FD(fd, fi);
  int res = datasync ? fdatasync(fd) : fsync(fd);
  reply_err(req, res == -1 ? errno : 0);
}

void do_statfs(req_t req, fuse_ino_t ino) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_STATFS)) return;
  NODE(n, ino);
  TARGET(n);
  USE(fs, n);
  struct statvfs sv;
  if (fstatvfs(NFD(n), &sv) == -1) return reply_err(req, errno);
  if (op_claim()) send_statfs(req, &sv);
  op_end(0);
}

void do_access(req_t req, fuse_ino_t ino, int mask) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_ACCESS)) return;
  NODE(n, ino);
  TARGET(n);
  if (fs->cfg.read_only && (mask & W_OK)) return reply_err(req, EROFS);
  USE(fs, n);
  AS_CALLER();
  char p[64];
  proc_path(p, sizeof p, NFD(n));
  /* AT_EACCESS: the effective ids, which are the caller's now (the real ones stay the daemon's). */
  reply_err(req, faccessat(AT_FDCWD, p, mask, AT_EACCESS) == -1 ? errno : 0);
}

void do_getxattr(req_t req, fuse_ino_t ino, const char *name, size_t size) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_GETXATTR)) return;
  NODE(node, ino);
  TARGET(node);
  USE(fs, node);
  AS_CALLER();
  char *buf = size ? malloc(size) : NULL;
  if (size && !buf) return reply_err(req, ENOMEM);
  ssize_t n = xattr_get(NFD(node), node->type, name, buf, size);
  if (n == -1) {
    free(buf);
    return reply_err(req, errno);
  }
  if (op_claim()) {
    if (size) send_buf(req, buf, (size_t)n);
    else send_xattr(req, (size_t)n);
  }
  free(buf);
  op_end(0);
}

void do_listxattr(req_t req, fuse_ino_t ino, size_t size) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_LISTXATTR)) return;
  NODE(node, ino);
  TARGET(node);
  USE(fs, node);
  AS_CALLER();
  char *buf = size ? malloc(size) : NULL;
  if (size && !buf) return reply_err(req, ENOMEM);
  ssize_t n = xattr_list(NFD(node), node->type, buf, size);
  if (n == -1) {
    free(buf);
    return reply_err(req, errno);
  }
  if (op_claim()) {
    if (size) send_buf(req, buf, (size_t)n);
    else send_xattr(req, (size_t)n);
  }
  free(buf);
  op_end(0);
}

void do_setxattr(req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_SETXATTR)) return;
  NODE(n, ino);
  TARGET(n);
  if (refuse_ro(fs, req)) return;
  USE(fs, n);
  AS_CALLER();
  reply_err(req, xattr_set(NFD(n), n->type, name, value, size, flags) == -1 ? errno : 0);
}

void do_removexattr(req_t req, fuse_ino_t ino, const char *name) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_REMOVEXATTR)) return;
  NODE(n, ino);
  TARGET(n);
  if (refuse_ro(fs, req)) return;
  USE(fs, n);
  AS_CALLER();
  reply_err(req, xattr_remove(NFD(n), n->type, name) == -1 ? errno : 0);
}

void do_fallocate(req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_FALLOCATE)) return;
  NODE(n, ino);
  TARGET(n);
  if (refuse_ro(fs, req)) return;
  FD(fd, fi);
  reply_err(req, fallocate(fd, mode, offset, length) == -1 ? errno : 0);
}

void do_copy_file_range(req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_COPY_FILE_RANGE)) return;
  NODE(node_in, ino_in);
  TARGET(node_in);
  if (refuse_ro(fs, req)) return;
  FD(fd_in, fi_in);
  FD(fd_out, fi_out);
  ssize_t n = copy_file_range(fd_in, &off_in, fd_out, &off_out, len, (unsigned)flags);
  if (n == -1) return reply_err(req, errno);
  count_add(fs, C_BYTES_WRITTEN, (uint64_t)n);
  if (op_claim()) send_write(req, (size_t)n);
  op_end(0);
}

void do_lseek(req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_LSEEK)) return;
  NODE(n, ino);
  TARGET(n);
  FD(fd, fi);
  off_t res = lseek(fd, off, whence);
  if (res == -1) return reply_err(req, errno);
  if (op_claim()) send_lseek(req, res);
  op_end(0);
}

