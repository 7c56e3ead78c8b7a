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
 * The registration needs CAP_SYS_ADMIN (the kernel's check on the calling task), and the kernel
 * keeps the registering task's credentials for the file's I/O. A worker registers with the
 * caller's ids and the caller's own capabilities plus CAP_SYS_ADMIN (creds_admin_only): the reads
 * and writes are then the caller's, as when we serve them, and never root's (which would write
 * into ext4's reserved blocks and past quota limits, and keep set-id bits a write by a caller
 * without CAP_FSETID must drop). So a backing file is shared
 * only by opens of the caller it was registered for (same uid and gid, and for root the same
 * capabilities). Another caller's open of
 * an inode passed through for someone else must name the same backing file too (the kernel
 * refuses, EINVAL, any open of such an inode without FOPEN_PASSTHROUGH), so it is answered
 * FOPEN_PASSTHROUGH with FOPEN_DIRECT_IO, which the kernel defines as "reads and writes go to the
 * server, mmap to the backing file": we serve its reads and writes with that caller's own
 * credentials, from the same file, so both see the same bytes. Where the kernel
 * refuses (a source that is itself stacked: ELOOP, a file system without the ops: EOPNOTSUPP, …)
 * the file is served by us, as before, and counted (C_PT_FALLBACKS). So is a file on a remote or
 * FUSE file system (notify.c's remote_fs: NFS, SMB, another FUSE daemon, …): those are the sources
 * that hang, and a read the kernel passes through to them has no deadline, while one that reaches
 * us gets ETIMEDOUT after deadlineMs and leaves the other requests served.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>

uint32_t backing_open(struct fs *fs, req_t req, struct node *n, int fd, struct fuse_file_info *fi) {
  if (!req->to.own || !own_passthrough(req->to.own) || !S_ISREG(n->type)) return 0;
  const struct caller *c = op_caller();
  uint64_t caps = creds_caller_caps(c);
  /* The source's own file system is known from the start; another one mounted inside it is asked (fstatfs, outside the lock). */
  int remote = n->dev == fs->root.dev ? fs->root_remote : remote_fs(fd);
  pthread_mutex_lock(&fs->nodes.lock);
  int32_t id = 0;
  int beside = 0; /* reads and writes served by us, beside another caller's passthrough opens */
  if (n->plain_opens == 0 && n->backing_refs > 0) {
    id = n->backing_id;
    n->backing_refs++;
    beside = n->backing_uid != c->uid || n->backing_gid != c->gid || n->backing_caps != caps;
  } else if (n->plain_opens == 0 && !remote) {
    int raised = creds_admin_only(fs, c);
    int r = raised >= 0 ? own_backing_open(req->to.own, fd) : -EPERM;
    creds_admin_drop(raised);
    if (r > 0) {
      id = r;
      n->backing_id = r;
      n->backing_refs = 1;
      n->backing_uid = c->uid;
      n->backing_gid = c->gid;
      n->backing_caps = caps;
    }
  }
  if (id == 0) n->plain_opens++;
  pthread_mutex_unlock(&fs->nodes.lock);
  if (id > 0) {
    req->backing_id = id;
    fi->keep_cache = 0; /* the backing file's page cache is the one in use */
    fi->direct_io = beside ? 1 : 0;
    count_add(fs, beside ? C_PT_FALLBACKS : C_PT_OPENS, 1);
    /* Its writes never reach us (unless beside: then they are WRITEs of ours): its release stands for them in the change cursor. */
    return FH_PASSTHROUGH | (!beside && (fi->flags & O_ACCMODE) != O_RDONLY ? FH_PT_WRITE : 0);
  }
  count_add(fs, C_PT_FALLBACKS, 1);
  return FH_PLAIN;
}

void backing_release(struct fs *fs, struct node *n, uint32_t flags) {
  if (!(flags & (FH_PASSTHROUGH | FH_PLAIN))) return;
  int32_t drop = 0;
  pthread_mutex_lock(&fs->nodes.lock);
  if (flags & FH_PASSTHROUGH) {
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
