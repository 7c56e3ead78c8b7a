/*
 * Kernel passthrough per file, on our own session (issue 20, step 2; docs/ARCHITECTURE.md,
 * "FUSE session layer"). An open (or create) of a regular file registers the source file it
 * opened as the inode's backing file (FUSE_DEV_IOC_BACKING_OPEN) and answers FOPEN_PASSTHROUGH
 * with its id: the kernel then reads, writes and maps that file itself, and no READ or WRITE
 * reaches us. Each node keeps at most one backing id, shared by every passthrough open of the
 * inode and dropped at the last release (the kernel takes one backing file per inode), and an
 * inode is either passed through or served by us while any open of it lasts (the kernel's I/O
 * modes do not mix on one inode): the first open decides.
 *
 * The registration needs CAP_SYS_ADMIN (the kernel's check on the calling task), which a worker
 * acting as a non-root caller (creds.c) does not have: it is made with the daemon's own
 * credentials (creds_suspend), which the kernel keeps for the file's I/O. The caller's rights
 * were checked when the source file was opened, as the caller. Where the kernel refuses (a
 * source that is itself stacked: ELOOP, a file system without the ops: EOPNOTSUPP, …) the file
 * is served by us, as before, and counted (C_PT_FALLBACKS).
 */
#include "core.h"

#include <errno.h>

void backing_open(struct fs *fs, req_t req, struct node *n, struct fuse_file_info *fi) {
  if (!req->to.own || !own_passthrough(req->to.own) || !S_ISREG(n->type)) return;
  int fd = (int)fi->fh;
  pthread_mutex_lock(&fs->nodes.lock);
  int32_t id = 0;
  if (n->plain_opens == 0 && n->backing_refs > 0) {
    id = n->backing_id;
    n->backing_refs++;
  } else if (n->plain_opens == 0) {
    int back = creds_suspend(fs);
    int r = own_backing_open(req->to.own, fd);
    creds_resume(fs, op_caller(), back);
    if (r > 0) {
      id = r;
      n->backing_id = r;
      n->backing_refs = 1;
    }
  }
  if (id == 0) n->plain_opens++;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (id > 0) {
    req->backing_id = id;
    fi->fh |= FH_PASSTHROUGH;
    fi->keep_cache = 0; /* the backing file's page cache is the one in use */
    count_add(fs, C_PT_OPENS, 1);
  } else {
    fi->fh |= FH_PLAIN;
    count_add(fs, C_PT_FALLBACKS, 1);
  }
}

void backing_release(struct fs *fs, struct node *n, uint64_t fh) {
  if (!(fh & (FH_PASSTHROUGH | FH_PLAIN))) return;
  int32_t drop = 0;
  pthread_mutex_lock(&fs->nodes.lock);
  if (fh & FH_PASSTHROUGH) {
    if (n->backing_refs > 0 && --n->backing_refs == 0) {
      drop = n->backing_id;
      n->backing_id = 0;
    }
  } else if (n->plain_opens > 0)
    n->plain_opens--;
  pthread_mutex_unlock(&fs->nodes.lock);
  /* The kernel holds its own reference to the backing file of every open file: dropping the id ends none. */
  if (drop > 0) own_backing_close(fs->own, drop);
}
