/*
 * Our own FUSE session (docs/ARCHITECTURE.md, "FUSE session layer"): the /dev/fuse fd, its mount,
 * INIT, and each request decoded into the session's ops table (struct own_ops): the passthrough's
 * (ops.c, ops_dir.c; the same calls libfuse's session makes through lfops.c) or the JS-ops mode's
 * (jsfs.c; libfuse's through jslfops.c). The default for both since 2026-12-08 (session.c,
 * jsfs.c); MOUNTIE_SESSION=libfuse selects libfuse 3.14's.
 *
 *  - Mount: as root, /dev/fuse opened here and mount(2) with fd=N,rootmode,user_id,group_id (what
 *    libfuse's fuse_kern_mount does); otherwise fusermount3 mounts and hands the fd back over the
 *    _FUSE_COMMFD socket (SCM_RIGHTS), as libfuse does.
 *  - Transport: read(2) of one request into the worker's buffer (the JS-ops mode: the JavaScript
 *    thread's, with own_read, which never waits; loop.c keeps one reader at a
 *    time; the fd is O_NONBLOCK, and an idle reader sleeps in poll beside an eventfd that
 *    loop_pause writes: issue 21's handover), writev(2) of header + payload per answer; answers may come from any thread (the
 *    watchdog's ETIMEDOUT): each is one write, which the kernel takes whole.
 *  - INIT: the flags libfuse 3.14 asks for on our behalf (ops.c's choices included), answered
 *    with protocol 7.38 at most (the structs of <linux/fuse.h>); the kernel's INIT and our answer
 *    are kept (a later handover replays them: issue 21).
 *  - INTERRUPT: no op of ours can be interrupted (none waits on anything but the source), so
 *    interrupts are dropped unanswered, as libfuse 3.14 effectively does for a file system
 *    without an interrupt handler; the request is answered when its op (or the deadline) ends.
 *  - DESTROY (fuseblk and virtiofs only): answered; the loop then ends on ENODEV.
 */
#include "core.h"
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* libfuse's FUSE_MAX_MAX_PAGES: requests carry at most 256 pages of data (the kernel's default limit too). */
#define OWN_MAX_WRITE (256u * 4096u)

struct own {
  int fd;
  struct fs *fs;          /* the passthrough's (NULL: the JS-ops mode's session) */
  const struct own_ops *ops; /* what each request's op calls (own_passthrough_ops, or jsfs.c's) */
  void *user;             /* req->user (jsfs.c's struct jfs) */
  uint64_t want;          /* INIT flags asked for (own_conf) */
  uint32_t max_readahead; /* 0: the kernel's */
  uint32_t max_write;     /* 0: OWN_MAX_WRITE */
  char *mountpoint;
  int by_fusermount;      /* unmounted with fusermount3 (we are not allowed umount2) */
  int got_init;           /* atomic */
  int got_destroy;        /* atomic */
  int exited;             /* atomic: the kernel closed the connection */
  uint32_t minor;         /* the protocol minor both sides speak */
  int want_passthrough;   /* a root daemon, unless MOUNTIE_PASSTHROUGH=0: ask for it at INIT */
  int passthrough;        /* atomic: negotiated */
  struct fuse_init_in init_in;   /* the kernel's INIT, as received */
  struct fuse_init_out init_out; /* our answer */
  int wake_fd;            /* eventfd: readable while the loop is paused (loop_pause wakes a reader in poll) */
  pthread_mutex_t ctl;    /* guards `pool` against the loop's end */
  void *pool;             /* loop.c's pool while loop_run serves us, else NULL */
};

size_t own_bufsize(void) {
  return OWN_MAX_WRITE + OWN_HEADER_ROOM;
}

int own_fd(const struct own *o) {
  return o->fd;
}

int own_exited(const struct own *o) {
  return __atomic_load_n(&o->exited, __ATOMIC_ACQUIRE);
}

/* ---- transport ---- */

/*
 * The fd is O_NONBLOCK: the read is tried first (under load it finds a request: one syscall, as
 * a blocking read), and only when nothing is queued does the reader sleep in poll, on the fd and
 * the wake eventfd together, so loop_pause can wake it without a request being consumed.
 */
int own_receive(struct own *o, char *buf, size_t size) {
  for (;;) {
    int n = own_read(o, buf, size);
    if (n != -EAGAIN) return n;
    struct pollfd pf[2] = {{.fd = o->fd, .events = POLLIN}, {.fd = o->wake_fd, .events = POLLIN}};
    if (poll(pf, 2, -1) == -1 && errno != EINTR) return -errno;
    if (pf[1].revents & POLLIN) return -EAGAIN; /* paused: the loop decides */
    /* POLLERR/POLLHUP on the fd (the connection ended): the next read says ENODEV. */
  }
}

/* One read(2), never waiting (the fd is O_NONBLOCK): the JS-ops mode's reader is the JavaScript thread. */
int own_read(struct own *o, char *buf, size_t size) {
  ssize_t n = read(o->fd, buf, size);
  if (n == -1 && errno == EAGAIN) return -EAGAIN;
  if (n == -1) {
    int err = errno;
    if (err == ENODEV) { /* unmounted, or the connection aborted */
      __atomic_store_n(&o->exited, 1, __ATOMIC_RELEASE);
      return 0;
    }
    /* ENOENT: the request went away between poll and read (its caller was killed): read again. */
    return err == ENOENT ? -EINTR : -err;
  }
  if (n == 0) {
    __atomic_store_n(&o->exited, 1, __ATOMIC_RELEASE);
    return 0;
  }
  if ((size_t)n < sizeof(struct fuse_in_header)) return -EIO;
  return (int)n;
}

/*
 * The header and the payload's pieces in one writev. Up to 15 pieces on the stack (every answer of
 * the passthrough); more (a JS-ops read answered in up to 256 pieces, jsbridge.c) on the heap, as
 * fuse_reply_iov does; beyond IOV_MAX the kernel's writev refuses (EINVAL), as it would libfuse's.
 */
static int send_raw(struct own *o, uint64_t unique, int32_t error, const struct iovec *iov, int count) {
  struct iovec small[16];
  if (count < 0) return -EINVAL;
  struct iovec *v = count < 16 ? small : malloc(((size_t)count + 1) * sizeof *v);
  if (!v) return -ENOMEM;
  struct fuse_out_header h = {.len = sizeof h, .error = error, .unique = unique};
  v[0].iov_base = &h;
  v[0].iov_len = sizeof h;
  for (int i = 0; i < count; i++) {
    v[i + 1] = iov[i];
    h.len += (uint32_t)iov[i].iov_len;
  }
  ssize_t n = writev(o->fd, v, count + 1);
  int err = n == -1 ? errno : 0; /* ENOENT: the request is gone (interrupted, its caller killed) */
  if (v != small) free(v);
  if (err) return -err;
  return n == (ssize_t)h.len ? 0 : -EIO;
}

int own_send(struct own *o, uint64_t unique, int err, const struct iovec *iov, int count) {
  if (err < 0 || err >= 1000) err = EIO; /* libfuse's rule: only real errnos reach the kernel */
  return send_raw(o, unique, -err, err ? NULL : iov, err ? 0 : count);
}

int own_notify(struct own *o, int code, const struct iovec *iov, int count) {
  return send_raw(o, 0, code, iov, count);
}

/* ---- INIT ---- */

static void do_init(struct own *o, req_t req, const char *arg, size_t alen) {
  struct fuse_init_in in;
  memset(&in, 0, sizeof in);
  if (alen < 16) return (void)send_err(req, EIO); /* major, minor, max_readahead, flags at least */
  memcpy(&in, arg, alen < sizeof in ? alen : sizeof in);
  struct fuse_init_out out;
  memset(&out, 0, sizeof out);
  out.major = FUSE_KERNEL_VERSION;
  out.minor = OWN_MAX_MINOR;
  if (in.major < 7) return (void)send_err(req, EPROTO);
  if (in.major > 7) {
    /* A newer major: say ours, the kernel asks again in it (the protocol's rule). */
    struct iovec iov = {.iov_base = &out, .iov_len = FUSE_COMPAT_INIT_OUT_SIZE};
    own_send(o, req->to.unique, 0, &iov, 1);
    return;
  }
  if (in.minor < OWN_MIN_MINOR) return (void)send_err(req, EPROTO);
  uint64_t offered = in.flags;
  if (in.flags & FUSE_INIT_EXT) offered |= (uint64_t)in.flags2 << 32;
  /* What the session asked for (own_conf: the passthrough's pt_want, or the JS-ops mode's). */
  uint64_t want = o->want;
  struct fs *fs = o->fs;
  /*
   * Kernel passthrough (step 2, opt-in; the passthrough's sessions only): never with the writeback
   * cache (never asked for here), max_stack_depth 1 (a source that is itself a stacked file
   * system falls back per file).
   */
  if (o->want_passthrough) want |= X_FUSE_PASSTHROUGH;
  want &= offered;
  out.flags = (uint32_t)want;
  out.flags2 = (uint32_t)(want >> 32);
  uint32_t ra = o->max_readahead ? o->max_readahead : in.max_readahead;
  out.max_readahead = ra < in.max_readahead ? ra : in.max_readahead;
  uint32_t mw = o->max_write ? o->max_write : OWN_MAX_WRITE;
  if (mw > OWN_MAX_WRITE) mw = OWN_MAX_WRITE;
  out.max_write = mw;
  if (want & FUSE_MAX_PAGES) out.max_pages = (uint16_t)((mw - 1) / 4096 + 1);
  out.time_gran = 1;
  if (want & X_FUSE_PASSTHROUGH) {
    out.unused[0] = 1; /* 7.40's max_stack_depth */
    __atomic_store_n(&o->passthrough, 1, __ATOMIC_RELEASE);
  }
  if (o->want_passthrough)
    __atomic_store_n(&fs->counters[C_PT_MODE], !(want & X_FUSE_PASSTHROUGH) ? PT_REFUSED : fs->root_remote ? PT_REMOTE : PT_ON, __ATOMIC_RELEASE);
  o->minor = in.minor < OWN_MAX_MINOR ? in.minor : OWN_MAX_MINOR;
  o->init_in = in;
  o->init_out = out;
  size_t outlen = in.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof out;
  struct iovec iov = {.iov_base = &out, .iov_len = outlen};
  /* Set before the answer: the kernel sends the next request as soon as it has it. */
  __atomic_store_n(&o->got_init, 1, __ATOMIC_RELEASE);
  if (own_send(o, req->to.unique, 0, &iov, 1) != 0) __atomic_store_n(&o->got_init, 0, __ATOMIC_RELEASE);
}

/* ---- requests ---- */

/* The name at the start of `p` (NUL-terminated within `len`), or NULL. */
static const char *name_in(const char *p, size_t len) {
  return len > 0 && memchr(p, '\0', len) ? p : NULL;
}

void own_process(struct own *o, char *buf, size_t len) {
  const struct fuse_in_header *ih = (const struct fuse_in_header *)buf;
  struct req r = {
    .fs = o->fs,
    .user = o->user,
    .to = {.own = o, .unique = ih->unique},
    .ctx = {.uid = ih->uid, .gid = ih->gid, .pid = (pid_t)ih->pid},
  };
  req_t req = &r;
  if (ih->len != len) return (void)send_err(req, EIO);
  const char *arg = buf + sizeof *ih;
  size_t alen = len - sizeof *ih;
  uint64_t nodeid = ih->nodeid;
  if (!__atomic_load_n(&o->got_init, __ATOMIC_ACQUIRE)) {
    if (ih->opcode == FUSE_INIT) return do_init(o, req, arg, alen);
    return (void)send_err(req, EIO);
  }
  const struct own_ops *ops = o->ops;
  /* The session's op, or ENOSYS where it has none (libfuse's answer for an op a file system lacks). */
#define CALL(name, ...) (ops->name ? ops->name(__VA_ARGS__) : (void)send_err(req, ENOSYS))
  /* A fixed-size argument of type T, checked against the request's length. */
#define ARG(T, v) \
  if (alen < sizeof(T)) return (void)send_err(req, EIO); \
  const T *v = (const T *)arg
#define NAME(p, n, v) \
  const char *v = name_in((p), (n)); \
  if (!v) return (void)send_err(req, EIO)
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  switch (ih->opcode) {
  case FUSE_INIT:
    return (void)send_err(req, EIO); /* only once */
  case FUSE_DESTROY:
    __atomic_store_n(&o->got_destroy, 1, __ATOMIC_RELEASE);
    return (void)send_err(req, 0);
  case FUSE_INTERRUPT:
  case FUSE_NOTIFY_REPLY:
    return; /* nothing to interrupt; we never ask for retrieves: no answer either way */
  case FUSE_LOOKUP: {
    NAME(arg, alen, name);
    return CALL(lookup, req, nodeid, name);
  }
  case FUSE_FORGET: {
    ARG(struct fuse_forget_in, a);
    if (ops->forget) ops->forget(req, nodeid, a->nlookup); /* no answer either way */
    return;
  }
  case FUSE_BATCH_FORGET: {
    ARG(struct fuse_batch_forget_in, a);
    if ((alen - sizeof *a) / sizeof(struct fuse_forget_one) < a->count) return; /* malformed: no answer is due */
    /* struct fuse_forget_one and libfuse's fuse_forget_data have one layout: (node id, count). */
    if (ops->forget_multi) ops->forget_multi(req, a->count, (struct fuse_forget_data *)(void *)(a + 1));
    return;
  }
  case FUSE_GETATTR: {
    ARG(struct fuse_getattr_in, a);
    if (a->getattr_flags & FUSE_GETATTR_FH) {
      fi.fh = a->fh;
      return CALL(getattr, req, nodeid, &fi);
    }
    return CALL(getattr, req, nodeid, NULL);
  }
  case FUSE_SETATTR: {
    ARG(struct fuse_setattr_in, a);
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = a->mode;
    st.st_uid = a->uid;
    st.st_gid = a->gid;
    st.st_size = (off_t)a->size;
    st.st_atim.tv_sec = (time_t)a->atime;
    st.st_atim.tv_nsec = a->atimensec;
    st.st_mtim.tv_sec = (time_t)a->mtime;
    st.st_mtim.tv_nsec = a->mtimensec;
    st.st_ctim.tv_sec = (time_t)a->ctime;
    st.st_ctim.tv_nsec = a->ctimensec;
    /* FATTR_* and FUSE_SET_ATTR_* share their values; what libfuse passes on, no more. */
    int valid = (int)(a->valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
                                  FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME));
    r.kill_priv = (a->valid & FATTR_KILL_SUIDGID) != 0;
    if (a->valid & FATTR_FH) {
      fi.fh = a->fh;
      return CALL(setattr, req, nodeid, &st, valid, &fi);
    }
    return CALL(setattr, req, nodeid, &st, valid, NULL);
  }
  case FUSE_READLINK:
    return CALL(readlink, req, nodeid);
  case FUSE_MKNOD: {
    ARG(struct fuse_mknod_in, a);
    NAME(arg + sizeof *a, alen - sizeof *a, name);
    r.ctx.umask = a->umask;
    return CALL(mknod, req, nodeid, name, a->mode, a->rdev);
  }
  case FUSE_MKDIR: {
    ARG(struct fuse_mkdir_in, a);
    NAME(arg + sizeof *a, alen - sizeof *a, name);
    r.ctx.umask = a->umask;
    return CALL(mkdir, req, nodeid, name, a->mode);
  }
  case FUSE_SYMLINK: {
    NAME(arg, alen, name);
    size_t used = strlen(name) + 1;
    NAME(arg + used, alen - used, target);
    return CALL(symlink, req, target, nodeid, name);
  }
  case FUSE_UNLINK: {
    NAME(arg, alen, name);
    return CALL(unlink, req, nodeid, name);
  }
  case FUSE_RMDIR: {
    NAME(arg, alen, name);
    return CALL(rmdir, req, nodeid, name);
  }
  case FUSE_RENAME:
  case FUSE_RENAME2: {
    size_t head = ih->opcode == FUSE_RENAME ? sizeof(struct fuse_rename_in) : sizeof(struct fuse_rename2_in);
    if (alen < head) return (void)send_err(req, EIO);
    const struct fuse_rename2_in *a = (const struct fuse_rename2_in *)arg; /* newdir first in both */
    unsigned flags = ih->opcode == FUSE_RENAME ? 0 : a->flags;
    NAME(arg + head, alen - head, name);
    size_t used = head + strlen(name) + 1;
    NAME(arg + used, alen - used, newname);
    return CALL(rename, req, nodeid, name, a->newdir, newname, flags);
  }
  case FUSE_LINK: {
    ARG(struct fuse_link_in, a);
    NAME(arg + sizeof *a, alen - sizeof *a, name);
    return CALL(link, req, a->oldnodeid, nodeid, name);
  }
  case FUSE_OPEN: {
    ARG(struct fuse_open_in, a);
    fi.flags = (int)a->flags;
    r.kill_priv = (a->open_flags & FUSE_OPEN_KILL_SUIDGID) != 0;
    return CALL(open, req, nodeid, &fi);
  }
  case FUSE_CREATE: {
    ARG(struct fuse_create_in, a);
    NAME(arg + sizeof *a, alen - sizeof *a, name);
    fi.flags = (int)a->flags;
    r.ctx.umask = a->umask;
    r.kill_priv = (a->open_flags & FUSE_OPEN_KILL_SUIDGID) != 0;
    return CALL(create, req, nodeid, name, a->mode, &fi);
  }
  case FUSE_READ: {
    ARG(struct fuse_read_in, a);
    fi.fh = a->fh;
    fi.flags = (int)a->flags;
    if (a->read_flags & FUSE_READ_LOCKOWNER) fi.lock_owner = a->lock_owner;
    return CALL(read, req, nodeid, a->size, (off_t)a->offset, &fi);
  }
  case FUSE_WRITE: {
    ARG(struct fuse_write_in, a);
    if (alen - sizeof *a < a->size) return (void)send_err(req, EIO);
    fi.fh = a->fh;
    fi.flags = (int)a->flags;
    fi.writepage = (a->write_flags & FUSE_WRITE_CACHE) != 0;
    r.kill_priv = (a->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
    return CALL(write, req, nodeid, arg + sizeof *a, a->size, (off_t)a->offset, &fi);
  }
  case FUSE_FLUSH: {
    /* The passthrough has no flush (ENOSYS: the kernel sends no more); the JS-ops mode's, as libfuse decodes it. */
    ARG(struct fuse_flush_in, a);
    fi.fh = a->fh;
    fi.flush = 1;
    fi.lock_owner = a->lock_owner;
    return CALL(flush, req, nodeid, &fi);
  }
  case FUSE_RELEASE:
  case FUSE_RELEASEDIR: {
    ARG(struct fuse_release_in, a);
    fi.fh = a->fh;
    fi.flags = (int)a->flags;
    fi.flush = (a->release_flags & FUSE_RELEASE_FLUSH) != 0;
    fi.lock_owner = a->lock_owner;
    if (ih->opcode == FUSE_RELEASE) return CALL(release, req, nodeid, &fi);
    return CALL(releasedir, req, nodeid, &fi);
  }
  case FUSE_FSYNC:
  case FUSE_FSYNCDIR: {
    ARG(struct fuse_fsync_in, a);
    fi.fh = a->fh;
    int datasync = (a->fsync_flags & 1) != 0;
    if (ih->opcode == FUSE_FSYNC) return CALL(fsync, req, nodeid, datasync, &fi);
    return CALL(fsyncdir, req, nodeid, datasync, &fi);
  }
  case FUSE_OPENDIR: {
    ARG(struct fuse_open_in, a);
    fi.flags = (int)a->flags;
    return CALL(opendir, req, nodeid, &fi);
  }
  case FUSE_READDIR:
  case FUSE_READDIRPLUS: {
    ARG(struct fuse_read_in, a);
    fi.fh = a->fh;
    if (ih->opcode == FUSE_READDIR) return CALL(readdir, req, nodeid, a->size, (off_t)a->offset, &fi);
    return CALL(readdirplus, req, nodeid, a->size, (off_t)a->offset, &fi);
  }
  case FUSE_STATFS:
    return CALL(statfs, req, nodeid);
  case FUSE_ACCESS: {
    ARG(struct fuse_access_in, a);
    return CALL(access, req, nodeid, (int)a->mask);
  }
  case FUSE_SETXATTR: {
    /* Without FUSE_SETXATTR_EXT (not asked for) the header is the 8-byte one of before 7.33. */
    if (alen < FUSE_COMPAT_SETXATTR_IN_SIZE) return (void)send_err(req, EIO);
    const struct fuse_setxattr_in *a = (const struct fuse_setxattr_in *)arg;
    size_t head = FUSE_COMPAT_SETXATTR_IN_SIZE;
    NAME(arg + head, alen - head, name);
    size_t used = head + strlen(name) + 1;
    if (alen - used < a->size) return (void)send_err(req, EIO);
    return CALL(setxattr, req, nodeid, name, arg + used, a->size, (int)a->flags);
  }
  case FUSE_GETXATTR: {
    ARG(struct fuse_getxattr_in, a);
    NAME(arg + sizeof *a, alen - sizeof *a, name);
    return CALL(getxattr, req, nodeid, name, a->size);
  }
  case FUSE_LISTXATTR: {
    ARG(struct fuse_getxattr_in, a);
    return CALL(listxattr, req, nodeid, a->size);
  }
  case FUSE_REMOVEXATTR: {
    NAME(arg, alen, name);
    return CALL(removexattr, req, nodeid, name);
  }
  case FUSE_FALLOCATE: {
    ARG(struct fuse_fallocate_in, a);
    fi.fh = a->fh;
    return CALL(fallocate, req, nodeid, (int)a->mode, (off_t)a->offset, (off_t)a->length, &fi);
  }
  case FUSE_COPY_FILE_RANGE: {
    ARG(struct fuse_copy_file_range_in, a);
    struct fuse_file_info fo;
    memset(&fo, 0, sizeof fo);
    fi.fh = a->fh_in;
    fo.fh = a->fh_out;
    return CALL(copy_file_range, req, nodeid, (off_t)a->off_in, &fi, a->nodeid_out, (off_t)a->off_out, &fo, a->len, (int)a->flags);
  }
  case FUSE_LSEEK: {
    ARG(struct fuse_lseek_in, a);
    fi.fh = a->fh;
    return CALL(lseek, req, nodeid, (off_t)a->offset, (int)a->whence, &fi);
  }
  default:
    /*
     * What neither mode serves (locks, ioctl, poll, bmap, …): ENOSYS, as
     * libfuse answers for an op the file system lacks; the kernel stops sending most of them.
     */
    return (void)send_err(req, ENOSYS);
  }
#undef CALL
#undef ARG
#undef NAME
}

/* ---- mount ---- */

/* Appends `s` to the option string with ',' and '\' escaped (fusermount3 splits on unescaped commas). */
static void opt_escaped(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  for (; *s && n + 2 < cap; s++) {
    if (*s == ',' || *s == '\\') out[n++] = '\\';
    out[n++] = *s;
  }
  out[n] = '\0';
}

/* fusermount3 mounts (we may not), and sends the /dev/fuse fd back over a socket (_FUSE_COMMFD). */
static int mount_fusermount(struct own *o, const char *mountpoint, const char *fsname, const char *subtype, const struct own_conf *c, const char **what) {
  char opts[1024] = "fsname=";
  opt_escaped(opts, sizeof opts, fsname);
  size_t n = strlen(opts);
  snprintf(opts + n, sizeof opts - n, ",subtype=");
  opt_escaped(opts, sizeof opts, subtype);
  n = strlen(opts);
  char max_read[32] = "";
  if (c->max_read) snprintf(max_read, sizeof max_read, ",max_read=%u", c->max_read);
  snprintf(opts + n, sizeof opts - n, ",nosuid,nodev%s%s%s%s", c->default_permissions ? ",default_permissions" : "", c->allow_other ? ",allow_other" : "", max_read,
           c->read_only ? ",ro" : ",rw");
  int sv[2];
  *what = "fusermount3 socket";
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) return errno;
  if (fcntl(sv[0], F_SETFD, FD_CLOEXEC) == -1) {
    int err = errno;
    close(sv[0]), close(sv[1]);
    return err;
  }
  char commfd[32];
  snprintf(commfd, sizeof commfd, "_FUSE_COMMFD=%d", sv[1]);
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  char **env = calloc(nenv + 2, sizeof *env);
  if (!env) {
    close(sv[0]), close(sv[1]);
    return ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++)
    if (strncmp(environ[i], "_FUSE_COMMFD=", 13) != 0) env[k++] = environ[i];
  env[k++] = commfd;
  char *argv[] = {"fusermount3", "-o", opts, "--", (char *)mountpoint, NULL};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none); /* our threads block every signal: the child must not */
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  *what = "spawn fusermount3";
  int rc = posix_spawnp(&pid, "fusermount3", NULL, &attr, argv, env);
  posix_spawnattr_destroy(&attr);
  free(env);
  close(sv[1]);
  if (rc) {
    close(sv[0]);
    return rc;
  }
  /* One byte with the fd attached; EOF when fusermount3 failed (it said why on stderr). */
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cbuf;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof cbuf.buf};
  ssize_t got;
  do got = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
  while (got == -1 && errno == EINTR);
  int fd = -1;
  struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  close(sv[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {}
  *what = "fusermount3 (see stderr)";
  if (fd < 0) return EIO;
  o->fd = fd;
  o->by_fusermount = 1;
  return 0;
}

static int mount_direct(struct own *o, const char *mountpoint, const char *fsname, const char *subtype, const struct own_conf *c, const char **what) {
  struct stat st;
  *what = "stat mountpoint";
  if (stat(mountpoint, &st) == -1) return errno;
  *what = "open /dev/fuse";
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd == -1) return errno;
  char data[256], type[128];
  char max_read[32] = "";
  if (c->max_read) snprintf(max_read, sizeof max_read, ",max_read=%u", c->max_read);
  snprintf(data, sizeof data, "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s%s", fd, st.st_mode & S_IFMT, (unsigned)getuid(), (unsigned)getgid(),
           c->default_permissions ? ",default_permissions" : "", c->allow_other ? ",allow_other" : "", max_read);
  snprintf(type, sizeof type, "fuse.%s", subtype);
  /* nosuid,nodev: libfuse's defaults for every mount. */
  unsigned long flags = MS_NOSUID | MS_NODEV | (c->read_only ? MS_RDONLY : 0);
  *what = "mount";
  if (mount(fsname, mountpoint, type, flags, data) == -1) {
    int err = errno;
    close(fd);
    return err;
  }
  o->fd = fd;
  return 0;
}

/* The reader's non-blocking read and its wake-up (own_receive, loop_pause): set on every session's fd. */
static int own_arm(struct own *o, const char **what) {
  *what = "own session: O_NONBLOCK";
  int fl = fcntl(o->fd, F_GETFL);
  if (fl == -1 || fcntl(o->fd, F_SETFL, fl | O_NONBLOCK) == -1) return errno;
  *what = "own session: eventfd";
  o->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (o->wake_fd == -1) return errno;
  pthread_mutex_init(&o->ctl, NULL);
  return 0;
}

const struct own_ops own_passthrough_ops = {
  .lookup = do_lookup,
  .forget = do_forget,
  .forget_multi = do_forget_multi,
  .getattr = do_getattr,
  .setattr = do_setattr,
  .readlink = do_readlink,
  .mknod = do_mknod,
  .mkdir = do_mkdir,
  .unlink = do_unlink,
  .rmdir = do_rmdir,
  .symlink = do_symlink,
  .rename = do_rename,
  .link = do_link,
  .open = do_open,
  .read = do_read,
  .write = do_write,
  .release = do_release,
  .fsync = do_fsync,
  .opendir = do_opendir,
  .readdir = do_readdir,
  .readdirplus = do_readdirplus,
  .releasedir = do_releasedir,
  .fsyncdir = do_fsyncdir,
  .statfs = do_statfs,
  .setxattr = do_setxattr,
  .getxattr = do_getxattr,
  .listxattr = do_listxattr,
  .removexattr = do_removexattr,
  .access = do_access,
  .create = do_create,
  .fallocate = do_fallocate,
  .copy_file_range = do_copy_file_range,
  .lseek = do_lseek,
};

/*
 * The passthrough's INIT: what libfuse 3.14 asks for by default, less what ops.c's init took away
 * (readdirplus unless configured, writeback cache, kill-priv handling, splice), plus symlink
 * caching: the same connection either way. We read requests into memory, so splice is never
 * asked for here.
 */
static uint64_t pt_want(const struct fs *fs) {
  uint64_t want = FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA | FUSE_ASYNC_DIO | FUSE_ATOMIC_O_TRUNC |
                  FUSE_BIG_WRITES | FUSE_IOCTL_DIR | FUSE_CACHE_SYMLINKS | FUSE_MAX_PAGES | FUSE_INIT_EXT;
  /*
   * The set-id bits and file capabilities a write, truncate or chown drops are ours to drop (ops.c,
   * drop_privs): the kernel then stops asking for security.capability before every write (it marks
   * the superblock SB_NOSEC and an inode found clean S_NOSEC until its attributes change), one
   * GETXATTR per write with passthrough on (BENCHMARKS.md).
   */
  want |= FUSE_HANDLE_KILLPRIV_V2;
  if (fs->cfg.rdplus != RDPLUS_OFF) {
    want |= FUSE_DO_READDIRPLUS;
    if (fs->cfg.rdplus == RDPLUS_AUTO) want |= FUSE_READDIRPLUS_AUTO;
  }
  return want;
}

struct own *own_open(struct fs *fs, const char *mountpoint, const char *fsname, const char *subtype, const char **what, int *code) {
  struct own_conf c = {
    .ops = &own_passthrough_ops,
    .fs = fs,
    .want = pt_want(fs),
    .max_readahead = fs->cfg.max_readahead,
    .max_write = fs->cfg.max_write,
    .allow_other = fs->cfg.allow_other,
    .default_permissions = 1,
    .read_only = fs->cfg.read_only,
  };
  const char *pt = getenv("MOUNTIE_PASSTHROUGH");
  /* On by default (issue 20); MOUNTIE_PASSTHROUGH=0 turns it off. Backing files need CAP_SYS_ADMIN:
     only a root daemon asks (otherwise every open would fall back). */
  c.passthrough = !(pt && strcmp(pt, "0") == 0) && geteuid() == 0;
  if (c.passthrough) __atomic_store_n(&fs->counters[C_PT_MODE], PT_PENDING, __ATOMIC_RELEASE);
  return own_open_conf(&c, mountpoint, fsname, subtype, what, code);
}

struct own *own_open_conf(const struct own_conf *c, const char *mountpoint, const char *fsname, const char *subtype, const char **what, int *code) {
  struct own *o = calloc(1, sizeof *o);
  if (!o || !(o->mountpoint = strdup(mountpoint))) {
    free(o);
    *what = "own session", *code = ENOMEM;
    return NULL;
  }
  o->fd = -1;
  o->wake_fd = -1;
  o->fs = c->fs;
  o->ops = c->ops;
  o->user = c->user;
  o->want = c->want;
  o->want_passthrough = c->passthrough;
  o->max_readahead = c->max_readahead;
  o->max_write = c->max_write;
  int err = mount_direct(o, mountpoint, fsname, subtype, c, what);
  /* Not allowed to mount (not root, no CAP_SYS_ADMIN here): as libfuse, through fusermount3. */
  if (err == EPERM) err = mount_fusermount(o, mountpoint, fsname, subtype, c, what);
  if (!err) err = own_arm(o, what);
  if (err) {
    *code = err;
    if (o->fd >= 0) {
      own_unmount(o);
      close(o->fd);
    }
    free(o->mountpoint);
    free(o);
    return NULL;
  }
  return o;
}

int own_passthrough(const struct own *o) {
  return __atomic_load_n(&o->passthrough, __ATOMIC_ACQUIRE);
}

int own_backing_open(struct own *o, int fd) {
  struct x_backing_map map = {.fd = fd};
  int id = ioctl(o->fd, X_FUSE_DEV_IOC_BACKING_OPEN, &map);
  return id > 0 ? id : id == 0 ? -EIO : -errno;
}

void own_backing_close(struct own *o, int32_t id) {
  uint32_t v = (uint32_t)id;
  ioctl(o->fd, X_FUSE_DEV_IOC_BACKING_CLOSE, &v);
}

/* Only where the start failed after the mount: JavaScript unmounts a live session itself. */
void own_unmount(struct own *o) {
  if (!o->by_fusermount) {
    umount2(o->mountpoint, MNT_DETACH);
    return;
  }
  char *argv[] = {"fusermount3", "-u", "-z", "--", o->mountpoint, NULL};
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) == 0)
    while (waitpid(pid, NULL, 0) == -1 && errno == EINTR) {}
}

void own_close(struct own *o) {
  if (!o) return;
  if (o->fd >= 0) close(o->fd);
  if (o->wake_fd >= 0) {
    close(o->wake_fd);
    pthread_mutex_destroy(&o->ctl);
  }
  free(o->mountpoint);
  free(o);
}

/* ---- handover (issue 21; handover.c) ---- */

void own_attach(struct own *o, void *pool) {
  pthread_mutex_lock(&o->ctl);
  o->pool = pool;
  pthread_mutex_unlock(&o->ctl);
}

void *own_attached_lock(struct own *o) {
  pthread_mutex_lock(&o->ctl);
  return o->pool;
}

void own_attached_unlock(struct own *o) {
  pthread_mutex_unlock(&o->ctl);
}

void own_wake(struct own *o) {
  uint64_t one = 1;
  if (write(o->wake_fd, &one, sizeof one) == -1) {} /* EAGAIN: already readable, which is all we need */
}

void own_unwake(struct own *o) {
  uint64_t v;
  if (read(o->wake_fd, &v, sizeof v) == -1) {} /* EAGAIN: was not readable */
}

const char *own_mountpoint(const struct own *o) {
  return o->mountpoint;
}

void own_init_pair(const struct own *o, struct fuse_init_in *in, struct fuse_init_out *out, int *by_fusermount) {
  *in = o->init_in;
  *out = o->init_out;
  *by_fusermount = o->by_fusermount;
}

/*
 * A session on a live connection another process set up (a handover): no mount, no INIT
 * exchange, the kernel's INIT and our answer as that process kept them. The fd is ours now.
 */
struct own *own_adopt(struct fs *fs, int fd, const char *mountpoint, int by_fusermount, const struct fuse_init_in *in, const struct fuse_init_out *out, const char **what, int *code) {
  struct own *o = calloc(1, sizeof *o);
  if (!o || !(o->mountpoint = strdup(mountpoint))) {
    free(o);
    *what = "own session", *code = ENOMEM;
    return NULL;
  }
  o->fs = fs;
  o->ops = &own_passthrough_ops;
  o->fd = fd;
  o->wake_fd = -1;
  o->by_fusermount = by_fusermount;
  o->init_in = *in;
  o->init_out = *out;
  o->minor = in->minor < OWN_MAX_MINOR ? in->minor : OWN_MAX_MINOR;
  uint64_t flags = out->flags | (uint64_t)out->flags2 << 32;
  o->want_passthrough = (flags & X_FUSE_PASSTHROUGH) != 0;
  o->passthrough = o->want_passthrough;
  if (o->want_passthrough) __atomic_store_n(&fs->counters[C_PT_MODE], fs->root_remote ? PT_REMOTE : PT_ON, __ATOMIC_RELEASE);
  o->got_init = 1;
  int err = own_arm(o, what);
  if (err) {
    *code = err;
    o->fd = -1; /* the caller's still */
    own_close(o);
    return NULL;
  }
  return o;
}

/*
 * FUSE_NOTIFY_RESEND (kernel 6.9+; notify code 7 from protocol 7.41, no payload): the kernel puts
 * every request read from this connection and not answered back in its queue, to be read again
 * (flagged with FUSE_UNIQUE_RESEND in `unique`). 0, or -errno (EINVAL: a kernel without it).
 */
int own_resend(struct own *o) {
  return send_raw(o, 0, X_FUSE_NOTIFY_RESEND, NULL, 0);
}
