/*
 * The answers of the session layer (req.h): each `send_*` writes the same bytes whichever session
 * serves the mount. On libfuse's it is the matching `fuse_reply_*` call; on our own (own.c) the
 * reply is encoded here, as the kernel's protocol (<linux/fuse.h>) lays it out, and written with
 * one writev: the out header, then the payload. The encoders follow libfuse 3.14's, so the two
 * sessions answer the kernel alike (timeouts split into seconds and nanoseconds the same way,
 * a negative entry as node id 0, getxattr's size query as fuse_getxattr_out).
 */
#include "core.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static uint64_t timeout_sec(double t) {
  if (t > (double)ULONG_MAX) return ULONG_MAX;
  if (t < 0.0) return 0;
  return (uint64_t)t;
}

static uint32_t timeout_nsec(double t) {
  double f = t - (double)timeout_sec(t);
  if (f < 0.0) return 0;
  if (f >= 0.999999999) return 999999999;
  return (uint32_t)(f * 1.0e9);
}

static void fill_attr(struct fuse_attr *a, const struct stat *st) {
  memset(a, 0, sizeof *a);
  a->ino = st->st_ino;
  a->mode = st->st_mode;
  a->nlink = (uint32_t)st->st_nlink;
  a->uid = st->st_uid;
  a->gid = st->st_gid;
  a->rdev = (uint32_t)st->st_rdev;
  a->size = (uint64_t)st->st_size;
  a->blksize = (uint32_t)st->st_blksize;
  a->blocks = (uint64_t)st->st_blocks;
  a->atime = (uint64_t)st->st_atim.tv_sec;
  a->mtime = (uint64_t)st->st_mtim.tv_sec;
  a->ctime = (uint64_t)st->st_ctim.tv_sec;
  a->atimensec = (uint32_t)st->st_atim.tv_nsec;
  a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
  a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
}

static void fill_entry(struct fuse_entry_out *o, const struct fuse_entry_param *e) {
  memset(o, 0, sizeof *o);
  o->nodeid = e->ino;
  o->generation = e->generation;
  o->entry_valid = timeout_sec(e->entry_timeout);
  o->entry_valid_nsec = timeout_nsec(e->entry_timeout);
  o->attr_valid = timeout_sec(e->attr_timeout);
  o->attr_valid_nsec = timeout_nsec(e->attr_timeout);
  fill_attr(&o->attr, &e->attr);
}

static void fill_open(struct fuse_open_out *o, const struct fuse_file_info *fi, int32_t backing_id) {
  memset(o, 0, sizeof *o);
  if (backing_id > 0) {
    /* Reads, writes and mmap of this file go to the backing file in the kernel (backing.c). */
    o->open_flags |= X_FOPEN_PASSTHROUGH;
    o->padding = (uint32_t)backing_id; /* 7.40's backing_id */
  }
  o->fh = fi->fh;
  if (fi->direct_io) o->open_flags |= FOPEN_DIRECT_IO;
  if (fi->keep_cache) o->open_flags |= FOPEN_KEEP_CACHE;
  if (fi->nonseekable) o->open_flags |= FOPEN_NONSEEKABLE;
  if (fi->cache_readdir) o->open_flags |= FOPEN_CACHE_DIR;
  if (fi->noflush) o->open_flags |= FOPEN_NOFLUSH;
}

/* Our session: one reply, header and payload. */
static int own_reply(req_t req, int err, const struct iovec *iov, int count) {
  return own_send(req->to.own, req->to.unique, err, iov, count);
}

static int own_reply1(req_t req, const void *p, size_t len) {
  struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
  return own_reply(req, 0, &iov, len ? 1 : 0);
}

int send_err_to(const struct req_to *to, int err) {
  if (to->own) return own_send(to->own, to->unique, err, NULL, 0);
  return fuse_reply_err(to->lf, err);
}

int send_err(req_t req, int err) {
  return send_err_to(&req->to, err);
}

void send_none(req_t req) {
  if (!req->to.own) fuse_reply_none(req->to.lf);
  /* Our session: nothing to send (forget has no answer). */
}

int send_entry(req_t req, const struct fuse_entry_param *e) {
  if (!req->to.own) return fuse_reply_entry(req->to.lf, e);
  struct fuse_entry_out o;
  fill_entry(&o, e);
  return own_reply1(req, &o, sizeof o);
}

int send_attr(req_t req, const struct stat *st, double timeout) {
  if (!req->to.own) return fuse_reply_attr(req->to.lf, st, timeout);
  struct fuse_attr_out o;
  memset(&o, 0, sizeof o);
  o.attr_valid = timeout_sec(timeout);
  o.attr_valid_nsec = timeout_nsec(timeout);
  fill_attr(&o.attr, st);
  return own_reply1(req, &o, sizeof o);
}

int send_open(req_t req, const struct fuse_file_info *fi) {
  if (!req->to.own) return fuse_reply_open(req->to.lf, fi);
  struct fuse_open_out o;
  fill_open(&o, fi, req->backing_id);
  return own_reply1(req, &o, sizeof o);
}

int send_create(req_t req, const struct fuse_entry_param *e, const struct fuse_file_info *fi) {
  if (!req->to.own) return fuse_reply_create(req->to.lf, e, fi);
  struct {
    struct fuse_entry_out e;
    struct fuse_open_out o;
  } out;
  fill_entry(&out.e, e);
  fill_open(&out.o, fi, req->backing_id);
  return own_reply1(req, &out, sizeof out);
}

int send_buf(req_t req, const void *buf, size_t size) {
  if (!req->to.own) return fuse_reply_buf(req->to.lf, buf, size);
  return own_reply1(req, buf, size);
}

int send_iov(req_t req, const struct iovec *iov, int count) {
  if (!req->to.own) return fuse_reply_iov(req->to.lf, iov, count);
  return own_reply(req, 0, iov, count);
}

int send_write(req_t req, size_t count) {
  if (!req->to.own) return fuse_reply_write(req->to.lf, count);
  struct fuse_write_out o = {.size = (uint32_t)count};
  return own_reply1(req, &o, sizeof o);
}

int send_statfs(req_t req, const struct statvfs *sv) {
  if (!req->to.own) return fuse_reply_statfs(req->to.lf, sv);
  struct fuse_statfs_out o;
  memset(&o, 0, sizeof o);
  o.st.bsize = (uint32_t)sv->f_bsize;
  o.st.frsize = (uint32_t)sv->f_frsize;
  o.st.blocks = sv->f_blocks;
  o.st.bfree = sv->f_bfree;
  o.st.bavail = sv->f_bavail;
  o.st.files = sv->f_files;
  o.st.ffree = sv->f_ffree;
  o.st.namelen = (uint32_t)sv->f_namemax;
  return own_reply1(req, &o, sizeof o);
}

int send_xattr(req_t req, size_t size) {
  if (!req->to.own) return fuse_reply_xattr(req->to.lf, size);
  struct fuse_getxattr_out o = {.size = (uint32_t)size};
  return own_reply1(req, &o, sizeof o);
}

int send_readlink(req_t req, const char *link) {
  if (!req->to.own) return fuse_reply_readlink(req->to.lf, link);
  return own_reply1(req, link, strlen(link));
}

int send_lseek(req_t req, off_t off) {
  if (!req->to.own) return fuse_reply_lseek(req->to.lf, off);
  struct fuse_lseek_out o = {.offset = (uint64_t)off};
  return own_reply1(req, &o, sizeof o);
}

/* One entry's dirent (both packers), its name followed by `pad` zero bytes up to the entry's aligned end. */
static void fill_dirent(struct fuse_dirent *d, const char *name, size_t namelen, const struct stat *st, off_t off, size_t pad) {
  d->ino = st->st_ino;
  d->off = (uint64_t)off;
  d->namelen = (uint32_t)namelen;
  d->type = (st->st_mode & S_IFMT) >> 12;
  memcpy(d->name, name, namelen);
  memset(d->name + namelen, 0, pad);
}

size_t add_direntry(char *buf, size_t size, const char *name, const struct stat *st, off_t off) {
  size_t namelen = strlen(name);
  size_t entlen = FUSE_NAME_OFFSET + namelen;
  size_t padded = FUSE_DIRENT_ALIGN(entlen);
  if (!buf || padded > size) return padded;
  fill_dirent((struct fuse_dirent *)buf, name, namelen, st, off, padded - entlen);
  return padded;
}

size_t add_direntry_plus(char *buf, size_t size, const char *name, const struct fuse_entry_param *e, off_t off) {
  size_t namelen = strlen(name);
  size_t entlen = FUSE_NAME_OFFSET_DIRENTPLUS + namelen;
  size_t padded = FUSE_DIRENT_ALIGN(entlen);
  if (!buf || padded > size) return padded;
  struct fuse_direntplus *dp = (struct fuse_direntplus *)buf;
  memset(&dp->entry_out, 0, sizeof dp->entry_out);
  fill_entry(&dp->entry_out, e);
  fill_dirent(&dp->dirent, name, namelen, &e->attr, off, padded - entlen);
  return padded;
}

int notify_inval_inode(struct fs *fs, uint64_t ino, int64_t off, int64_t len) {
  if (!fs->own) return fuse_lowlevel_notify_inval_inode(fs->se, ino, off, len);
  struct fuse_notify_inval_inode_out o = {.ino = ino, .off = off, .len = len};
  struct iovec iov = {.iov_base = &o, .iov_len = sizeof o};
  return own_notify(fs->own, FUSE_NOTIFY_INVAL_INODE, &iov, 1);
}

int notify_inval_entry(struct fs *fs, uint64_t parent, const char *name, size_t namelen) {
  if (!fs->own) return fuse_lowlevel_notify_inval_entry(fs->se, parent, name, namelen);
  struct fuse_notify_inval_entry_out o = {.parent = parent, .namelen = (uint32_t)namelen};
  struct iovec iov[2] = {{.iov_base = &o, .iov_len = sizeof o}, {.iov_base = (void *)name, .iov_len = namelen + 1}};
  return own_notify(fs->own, FUSE_NOTIFY_INVAL_ENTRY, iov, 2);
}

int notify_raw(struct fs *fs, int code, const void *payload, size_t len) {
  struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
  if (fs->own) return own_notify(fs->own, code, &iov, len ? 1 : 0);
  /* libfuse's session: the same bytes written on its fd (libfuse 3.14 has no call for newer codes). */
  struct fuse_out_header h = {.len = (uint32_t)(sizeof h + len), .error = code, .unique = 0};
  struct iovec v[2] = {{.iov_base = &h, .iov_len = sizeof h}, iov};
  ssize_t n = writev(fuse_session_fd(fs->se), v, len ? 2 : 1);
  return n == (ssize_t)h.len ? 0 : -(n < 0 ? errno : EIO);
}
