/*
 * libfuse 3.14's session, adapted to the session layer's shapes (req.h): each callback wraps
 * libfuse's request in a `struct req` on this worker's stack (the caller copied from
 * fuse_req_ctx) and calls the same op our own session calls (own.c). The op answers through
 * send_*, which on this session are the fuse_reply_* calls. Nothing keeps the wrapper after the
 * op returns; the watchdog answers from its own copy of `to` (stats.c).
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>

#define WRAP(lf) \
  struct req r_ = {.fs = fuse_req_userdata(lf), .to = {.lf = (lf)}, .ctx = *fuse_req_ctx(lf)}; \
  req_t req = &r_

static void lf_lookup(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  do_lookup(req, parent, name);
}

static void lf_forget(fuse_req_t lf, fuse_ino_t ino, uint64_t nlookup) {
  WRAP(lf);
  do_forget(req, ino, nlookup);
}

static void lf_forget_multi(fuse_req_t lf, size_t count, struct fuse_forget_data *forgets) {
  WRAP(lf);
  do_forget_multi(req, count, forgets);
}

static void lf_getattr(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  do_getattr(req, ino, fi);
}

static void lf_setattr(fuse_req_t lf, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi) {
  WRAP(lf);
  do_setattr(req, ino, attr, valid, fi);
}

static void lf_readlink(fuse_req_t lf, fuse_ino_t ino) {
  WRAP(lf);
  do_readlink(req, ino);
}

static void lf_mknod(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  WRAP(lf);
  do_mknod(req, parent, name, mode, rdev);
}

static void lf_mkdir(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode) {
  WRAP(lf);
  do_mkdir(req, parent, name, mode);
}

static void lf_symlink(fuse_req_t lf, const char *target, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  do_symlink(req, target, parent, name);
}

static void lf_unlink(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  do_unlink(req, parent, name);
}

static void lf_rmdir(fuse_req_t lf, fuse_ino_t parent, const char *name) {
  WRAP(lf);
  do_rmdir(req, parent, name);
}

static void lf_rename(fuse_req_t lf, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  WRAP(lf);
  do_rename(req, parent, name, newparent, newname, flags);
}

static void lf_link(fuse_req_t lf, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  WRAP(lf);
  do_link(req, ino, newparent, newname);
}

static void lf_open(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  do_open(req, ino, fi);
}

static void lf_create(fuse_req_t lf, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  WRAP(lf);
  do_create(req, parent, name, mode, fi);
}

static void lf_read(fuse_req_t lf, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  do_read(req, ino, size, off, fi);
}

static void lf_write_buf(fuse_req_t lf, fuse_ino_t ino, struct fuse_bufvec *in, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  if (in->count == 1 && !(in->buf[0].flags & FUSE_BUF_IS_FD)) return do_write(req, ino, in->buf[0].mem, in->buf[0].size, off, fi);
  /* A spliced request (the `splice` option): its bytes into memory first. */
  size_t size = fuse_buf_size(in);
  char *mem = malloc(size ? size : 1);
  if (!mem) return (void)fuse_reply_err(lf, ENOMEM);
  struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
  out.buf[0].mem = mem;
  ssize_t n = fuse_buf_copy(&out, in, 0);
  if (n < 0) fuse_reply_err(lf, (int)-n);
  else do_write(req, ino, mem, (size_t)n, off, fi);
  free(mem);
}

static void lf_release(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  do_release(req, ino, fi);
}

static void lf_fsync(fuse_req_t lf, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  WRAP(lf);
  do_fsync(req, ino, datasync, fi);
}

static void lf_opendir(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  do_opendir(req, ino, fi);
}

static void lf_readdir(fuse_req_t lf, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  do_readdir(req, ino, size, off, fi);
}

static void lf_readdirplus(fuse_req_t lf, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  WRAP(lf);
  do_readdirplus(req, ino, size, off, fi);
}

static void lf_releasedir(fuse_req_t lf, fuse_ino_t ino, struct fuse_file_info *fi) {
  WRAP(lf);
  do_releasedir(req, ino, fi);
}

static void lf_fsyncdir(fuse_req_t lf, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  WRAP(lf);
  do_fsyncdir(req, ino, datasync, fi);
}

static void lf_statfs(fuse_req_t lf, fuse_ino_t ino) {
  WRAP(lf);
  do_statfs(req, ino);
}

static void lf_access(fuse_req_t lf, fuse_ino_t ino, int mask) {
  WRAP(lf);
  do_access(req, ino, mask);
}

static void lf_getxattr(fuse_req_t lf, fuse_ino_t ino, const char *name, size_t size) {
  WRAP(lf);
  do_getxattr(req, ino, name, size);
}

static void lf_listxattr(fuse_req_t lf, fuse_ino_t ino, size_t size) {
  WRAP(lf);
  do_listxattr(req, ino, size);
}

static void lf_setxattr(fuse_req_t lf, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  WRAP(lf);
  do_setxattr(req, ino, name, value, size, flags);
}

static void lf_removexattr(fuse_req_t lf, fuse_ino_t ino, const char *name) {
  WRAP(lf);
  do_removexattr(req, ino, name);
}

static void lf_fallocate(fuse_req_t lf, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  WRAP(lf);
  do_fallocate(req, ino, mode, offset, length, fi);
}

static void lf_copy_file_range(fuse_req_t lf, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags) {
  WRAP(lf);
  do_copy_file_range(req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags);
}

static void lf_lseek(fuse_req_t lf, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  WRAP(lf);
  do_lseek(req, ino, off, whence, fi);
}

/* What the connection asks for: own.c's do_init asks for the same flags on our own session. */
static void lf_init(void *userdata, struct fuse_conn_info *conn) {
  struct fs *fs = userdata;
  conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_HANDLE_KILLPRIV);
  if (fs->cfg.rdplus != RDPLUS_OFF && (conn->capable & FUSE_CAP_READDIRPLUS)) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    if (fs->cfg.rdplus == RDPLUS_AUTO && (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
  }
  /* Symlinks never change content: let the kernel keep what readlink answered. */
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  if (fs->cfg.splice) conn->want |= conn->capable & (FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  else conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  if (fs->cfg.max_write) conn->max_write = fs->cfg.max_write;
  if (fs->cfg.max_readahead) conn->max_readahead = fs->cfg.max_readahead;
}

const struct fuse_lowlevel_ops mountie_ops = {
  .init = lf_init,
  .lookup = lf_lookup,
  .forget = lf_forget,
  .forget_multi = lf_forget_multi,
  .getattr = lf_getattr,
  .setattr = lf_setattr,
  .readlink = lf_readlink,
  .mknod = lf_mknod,
  .mkdir = lf_mkdir,
  .symlink = lf_symlink,
  .unlink = lf_unlink,
  .rmdir = lf_rmdir,
  .rename = lf_rename,
  .link = lf_link,
  .open = lf_open,
  .create = lf_create,
  .read = lf_read,
  .write_buf = lf_write_buf,
  /*
   * No flush: nothing is buffered here and close() happens in release, so a flush would be an
   * empty round trip on every close(2). Without the handler libfuse answers the first FLUSH
   * ENOSYS and the kernel never sends another (fc->no_flush). No POSIX lock ops either, so the
   * kernel keeps locks itself and needs no flush to drop them. (Our own session: own.c's default.)
   */
  .release = lf_release,
  .fsync = lf_fsync,
  .opendir = lf_opendir,
  .readdir = lf_readdir,
  .readdirplus = lf_readdirplus,
  .releasedir = lf_releasedir,
  .fsyncdir = lf_fsyncdir,
  .statfs = lf_statfs,
  .access = lf_access,
  .getxattr = lf_getxattr,
  .listxattr = lf_listxattr,
  .setxattr = lf_setxattr,
  .removexattr = lf_removexattr,
  .fallocate = lf_fallocate,
  .copy_file_range = lf_copy_file_range,
  .lseek = lf_lseek,
};
