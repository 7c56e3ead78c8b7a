/*
 * The session layer's request and answers, one shape for both sessions (docs/ARCHITECTURE.md,
 * "FUSE session layer"): libfuse 3.14's (`fuse_req_t` inside) and our own (own.c: the request's
 * `unique` and the /dev/fuse fd). The passthrough's ops (ops.c, ops_dir.c) see only this: a
 * request handle with its caller, and `send_*` writers with the shapes of the `fuse_reply_*`
 * family. The argument types (struct fuse_file_info, fuse_entry_param, fuse_forget_data, stat,
 * statvfs) are libfuse's public header structs, used as plain data by both sessions.
 */
#ifndef MOUNTIE_REQ_H
#define MOUNTIE_REQ_H

#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

struct fs;
struct own; /* own.c: our own /dev/fuse session */

/* Where an answer goes: enough to send it without the request (the watchdog keeps a copy). */
struct req_to {
  struct own *own; /* our session, or NULL: libfuse's */
  fuse_req_t lf;   /* libfuse's request (freed by libfuse once answered) */
  uint64_t unique; /* our session: the kernel's request id */
};

/* A request being served: lives while its op runs (a worker's stack), never after the answer. */
struct req {
  struct fs *fs;       /* the passthrough's file system (NULL in the JS-ops mode) */
  void *user;          /* the JS-ops mode's (jsfs.c: its struct jfs; NULL for the passthrough) */
  struct req_to to;
  struct fuse_ctx ctx; /* the caller: uid, gid, pid, umask (0 where the request carries none) */
  int32_t backing_id;  /* our session: an open answered with kernel passthrough on this backing id (0: none) */
  uint8_t kill_priv;   /* drop set-id bits and capabilities: our session's kernel flag (FUSE_HANDLE_KILLPRIV_V2) on a write, truncate, chown or O_TRUNC open; on libfuse's, an O_TRUNC open by root without CAP_FSETID (ops.c) */
};
typedef struct req *req_t;

/* Each returns 0, or -errno (-ENOENT: the caller is gone, nobody will use what was answered). */
int send_err(req_t req, int err);
void send_none(req_t req);
int send_entry(req_t req, const struct fuse_entry_param *e);
int send_attr(req_t req, const struct stat *st, double timeout);
int send_open(req_t req, const struct fuse_file_info *fi);
int send_create(req_t req, const struct fuse_entry_param *e, const struct fuse_file_info *fi);
int send_buf(req_t req, const void *buf, size_t size);
int send_iov(req_t req, const struct iovec *iov, int count);
int send_write(req_t req, size_t count);
int send_statfs(req_t req, const struct statvfs *sv);
int send_xattr(req_t req, size_t size);
int send_readlink(req_t req, const char *link);
int send_lseek(req_t req, off_t off);
/* The watchdog's answer, from its copy of where the answer goes. */
int send_err_to(const struct req_to *to, int err);

/*
 * Directory entries, packed as the kernel reads them (struct fuse_dirent / fuse_direntplus).
 * Returns the entry's padded size; it was written only when that fits in `size`.
 */
size_t add_direntry(char *buf, size_t size, const char *name, const struct stat *st, off_t off);
size_t add_direntry_plus(char *buf, size_t size, const char *name, const struct fuse_entry_param *e, off_t off);

/* Notifications (notify.c): 0 or -errno. */
int notify_inval_inode(struct fs *fs, uint64_t ino, int64_t off, int64_t len);
int notify_inval_entry(struct fs *fs, uint64_t parent, const char *name, size_t namelen);
/* A raw notification (code, payload) on the session's fd: for codes libfuse 3.14 does not know. */
int notify_raw(struct fs *fs, int code, const void *payload, size_t len);

#endif
