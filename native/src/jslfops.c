/*
 * libfuse 3.14's session for the JS-ops mode (MOUNTIE_SESSION=libfuse), adapted to the session
 * layer's shapes (req.h), as lfops.c does for the passthrough: each callback wraps libfuse's
 * request in a `struct req` on the reader's stack (the caller copied from fuse_req_ctx, the
 * session's struct jfs as `user`) and calls the op our own session's decoder calls
 * (jsfs_req_ops). The op copies what it keeps (jsfs.c keeps `to`, where the answer goes) and
 * answers through send_*, which on this session are the fuse_reply_* calls.
 */
#include "jsfs.h"

#include <string.h>

#define WRAP(lf) \
  struct req r_ = {.user = fuse_req_userdata(lf), .to = {.lf = (lf)}, .ctx = *fuse_req_ctx(lf)}; \
  req_t req = &r_
#define OPS jsfs_req_ops

/*
 * The JS-ops mode's INIT on libfuse's session (our own session asks for the same: jsfs.c's
 * JS_WANT). O_TRUNC comes as a setattr of the size (the author's truncate), as with libfuse's
 * high-level API; the kernel clears setuid bits itself; no writeback cache (the author's data is
 * the truth). Lookups and readdirs in one directory run at once: without parallel dirops the
 * kernel holds the directory's lock across each, so one op hanging in JavaScript would hold up
 * every new name in that directory (the node table takes its own lock).
 */
static void lf_init(void *userdata, struct fuse_conn_info *conn) {
  const struct jfs_config *cfg = jfs_config(userdata);
  if (cfg->max_read) conn->max_read = cfg->max_read;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void lf_lookup(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  OPS.lookup(req, parent, name);
}

static void lf_forget(fuse_req_t lf, fuse_ino_t ino, uint64_t nlookup) {
  WRAP(lf);
  OPS.forget(req, ino, nlookup);
}

static void lf_forget_multi(fuse_req_t lf, size_t count, struct fuse_forget_data *forgets) {
  WRAP(lf);
  OPS.forget_multi(req, count, forgets);
}

static void lf_getattr(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.getattr(req, ino, fi);
}

static void lf_setattr(fuse_req_t lf, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.setattr(req, ino, attr, to_set, fi);
}

static void lf_readlink(fuse_req_t lf, fuse_ino_t ino) {
  WRAP(lf);
  OPS.readlink(req, ino);
}

static void lf_mknod(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  WRAP(lf);
  OPS.mknod(req, parent, name, mode, rdev);
}

static void lf_mkdir(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode) {
  WRAP(lf);
  OPS.mkdir(req, parent, name, mode);
}

static void lf_unlink(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  OPS.unlink(req, parent, name);
}

static void lf_rmdir(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  OPS.rmdir(req, parent, name);
}

static void lf_symlink(fuse_req_t lf, const char *target, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  OPS.symlink(req, target, parent, name);
}

static void lf_rename(fuse_req_t lf, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  WRAP(lf);
  OPS.rename(req, parent, name, newparent, newname, flags);
}

static void lf_link(fuse_req_t lf, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  WRAP(lf);
  OPS.link(req, ino, newparent, newname);
}

static void lf_open(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.open(req, ino, fi);
}

static void lf_read(fuse_req_t lf, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.read(req, ino, size, off, fi);
}

static void lf_write(fuse_req_t lf, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.write(req, ino, buf, size, off, fi);
}

static void lf_flush(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.flush(req, ino, fi);
}

static void lf_release(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.release(req, ino, fi);
}

static void lf_fsync(fuse_req_t lf, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.fsync(req, ino, datasync, fi);
}

static void lf_opendir(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.opendir(req, ino, fi);
}

static void lf_readdir(fuse_req_t lf, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.readdir(req, ino, size, off, fi);
}

static void lf_releasedir(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.releasedir(req, ino, fi);
}

static void lf_fsyncdir(fuse_req_t lf, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.fsyncdir(req, ino, datasync, fi);
}

static void lf_statfs(fuse_req_t lf, fuse_ino_t ino) {
  WRAP(lf);
  OPS.statfs(req, ino);
}

static void lf_setxattr(fuse_req_t lf, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  WRAP(lf);
  OPS.setxattr(req, ino, name, value, size, flags);
}

static void lf_getxattr(fuse_req_t lf, fuse_ino_t ino, const char *name, size_t size) {
  WRAP(lf);
  OPS.getxattr(req, ino, name, size);
}

static void lf_listxattr(fuse_req_t lf, fuse_ino_t ino, size_t size) {
  WRAP(lf);
  OPS.listxattr(req, ino, size);
}

static void lf_removexattr(fuse_req_t lf, fuse_ino_t ino, const char *name) {
  WRAP(lf);
  OPS.removexattr(req, ino, name);
}

static void lf_access(fuse_req_t lf, fuse_ino_t ino, int mask) {
  WRAP(lf);
  OPS.access(req, ino, mask);
}

static void lf_create(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.create(req, parent, name, mode, fi);
}

static void lf_fallocate(fuse_req_t lf, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.fallocate(req, ino, mode, offset, length, fi);
}

static void lf_lseek(fuse_req_t lf, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  WRAP(lf);
  OPS.lseek(req, ino, off, whence, fi);
}

const struct fuse_lowlevel_ops jsfs_lf_ops = {
  .init = lf_init,
  .lookup = lf_lookup,
  .forget = lf_forget,
  .forget_multi = lf_forget_multi,
  .getattr = lf_getattr,
  .setattr = lf_setattr,
  .readlink = lf_readlink,
  .mknod = lf_mknod,
  .mkdir = lf_mkdir,
  .unlink = lf_unlink,
  .rmdir = lf_rmdir,
  .symlink = lf_symlink,
  .rename = lf_rename,
  .link = lf_link,
  .open = lf_open,
  .read = lf_read,
  .write = lf_write,
  .flush = lf_flush,
  .release = lf_release,
  .fsync = lf_fsync,
  .opendir = lf_opendir,
  .readdir = lf_readdir,
  .releasedir = lf_releasedir,
  .fsyncdir = lf_fsyncdir,
  .statfs = lf_statfs,
  .setxattr = lf_setxattr,
  .getxattr = lf_getxattr,
  .listxattr = lf_listxattr,
  .removexattr = lf_removexattr,
  .access = lf_access,
  .create = lf_create,
  .fallocate = lf_fallocate,
  .lseek = lf_lseek,
};
