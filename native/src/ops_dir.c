/*
 * Directory listing. Plain readdir answers every entry with its type and source inode
 * number (from the dirent, no stat), so `find` and git need no LOOKUP per entry to learn
 * what is a directory. readdirplus (when the mount's policy lets the kernel ask for it) also
 * looks every entry up, which fills the kernel's caches for `ls -l` at a stat per entry.
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FS(req) ((req)->fs)
/* NODE() and TARGET(): core.h. A handle that names no open directory is answered EBADF. */
#define DIR_OF(var, fi) \
  struct dir *var = dir_of(fs, (fi)); \
  if (!var) return finish(req, EBADF)

struct dir {
  DIR *dp;
  off_t offset;          /* where the stream stands */
  struct dirent *entry;  /* read but not yet handed out (the last answer was full) */
};

/* The directory stream of `fi`'s handle (handles.c), or NULL when it names no open directory. */
static struct dir *dir_of(struct fs *fs, const struct fuse_file_info *fi) {
  struct fh *h = fh_get(fs, fi->fh);
  return h ? h->dir : NULL;
}

off_t dir_offset(const struct dir *d) {
  return d->offset;
}

/*
 * A directory handle carried from another process (handover.c): its fd is the same open file,
 * whose position the other process's stream buffered past; the stream starts again at `offset`,
 * where the kernel's next READDIR continues (a cookie of the source's file system, as telldir's).
 */
struct dir *dir_adopt(int fd, off_t offset) {
  struct dir *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->dp = fdopendir(fd);
  if (!d->dp) {
    free(d);
    return NULL;
  }
  seekdir(d->dp, offset);
  d->offset = offset;
  return d;
}

void dir_free(struct dir *d) {
  closedir(d->dp);
  free(d);
}

static void finish(req_t req, int err) {
  op_fail(req, err);
}

void do_opendir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_OPENDIR)) return;
  NODE(n, ino);
  TARGET(n);
  if (node_use(fs, n) == -1) return finish(req, errno); /* its source inode is gone: ENOENT */
  int as_err = op_as_caller(); /* read permission on the directory is the caller's */
  if (as_err) return finish(req, as_err);
  struct dir *d = calloc(1, sizeof *d);
  if (!d) return finish(req, ENOMEM);
  /*
   * Through the fd's magic link, not "." relative to it: "." would need search permission on the
   * directory, and a directory that may be read but not searched (0600) opens for its owner.
   */
  char p[64];
  proc_path(p, sizeof p, NFD(n));
  int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    int err = errno;
    free(d);
    return finish(req, err);
  }
  d->dp = fdopendir(fd);
  if (!d->dp) {
    int err = errno;
    close(fd);
    free(d);
    return finish(req, err);
  }
  fi->fh = fh_new(fs, fd, 0, d, n->id);
  if (!fi->fh) {
    dir_free(d);
    return finish(req, ENOMEM);
  }
  /* The kernel may keep the listing while the directory's mtime is unchanged. */
  fi->cache_readdir = fs->cfg.keep_cache ? 1 : 0;
  fi->keep_cache = fi->cache_readdir;
  if (!op_claim() || send_open(req, fi) != 0) {
    /* Not answered: nobody will release it. */
    struct fh *h = fh_take(fs, fi->fh);
    if (h) dir_free(h->dir), free(h);
  }
  op_end(0);
}

static int is_dot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void list(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, int plus) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, plus ? OP_READDIRPLUS : OP_READDIR)) return;
  NODE(parent, ino);
  TARGET(parent);
  DIR_OF(d, fi);
  /* readdirplus looks every entry up: with the caller's search permission, as a lookup. */
  int as_err = plus ? op_as_caller() : 0;
  if (as_err) return finish(req, as_err);
  char *buf = malloc(size);
  if (!buf) return finish(req, ENOMEM);
  if (off != d->offset) {
    seekdir(d->dp, off);
    d->entry = NULL;
    d->offset = off;
  }
  size_t used = 0;
  int err = 0;
  /* Nodes referenced by this answer: given back if the answer is never sent. */
  struct node **refs = NULL;
  size_t nrefs = 0, caprefs = 0;
  for (;;) {
    if (!d->entry) {
      errno = 0;
      d->entry = readdir(d->dp);
      if (!d->entry) {
        err = errno;
        break;
      }
    }
    const char *name = d->entry->d_name;
    off_t next = d->entry->d_off;
    size_t len;
    if (plus) {
      struct fuse_entry_param e;
      int looked = 0;
      if (!is_dot(name) && node_lookup(fs, parent, name, &e) == 0) looked = 1;
      if (!looked) {
        /* "." and "..", or an entry gone meanwhile: a name without attributes (node id 0). */
        memset(&e, 0, sizeof e);
        e.attr.st_ino = d->entry->d_ino;
        e.attr.st_mode = (mode_t)d->entry->d_type << 12;
      }
      len = add_direntry_plus(buf + used, size - used, name, &e, next);
      if (len > size - used) {
        if (looked) node_forget(fs, node_of(fs, e.ino), 1);
        break;
      }
      if (looked) {
        if (nrefs == caprefs) {
          size_t nc = caprefs ? caprefs * 2 : 64;
          struct node **r = realloc(refs, nc * sizeof *r);
          if (!r) {
            node_forget(fs, node_of(fs, e.ino), 1);
            break;
          }
          refs = r;
          caprefs = nc;
        }
        refs[nrefs++] = node_of(fs, e.ino);
      }
    } else {
      struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12};
      len = add_direntry(buf + used, size - used, name, &st, next);
      if (len > size - used) break;
    }
    used += len;
    d->entry = NULL;
    d->offset = next;
  }
  /* An error after some entries: hand out those; the next call reports it. */
  if (err && used == 0) {
    free(buf);
    free(refs);
    return finish(req, err);
  }
  if (op_claim()) send_buf(req, buf, used);
  else
    for (size_t i = 0; i < nrefs; i++) node_forget(fs, refs[i], 1);
  free(buf);
  free(refs);
  op_end(0);
}

void do_readdir(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  list(req, ino, size, off, fi, 0);
}

void do_readdirplus(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  list(req, ino, size, off, fi, 1);
}

void do_releasedir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_RELEASEDIR)) return;
  struct fh *h = fh_take(fs, fi->fh);
  if (!h) return finish(req, EBADF);
  if (h->dir) dir_free(h->dir); /* its fd with it */
  else close(h->fd);
  free(h);
  finish(req, 0);
}

void do_fsyncdir(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  if (!op_begin(req, fs, OP_FSYNCDIR)) return;
  NODE(n, ino);
  TARGET(n);
  DIR_OF(d, fi);
  int fd = dirfd(d->dp);
  int res = datasync ? fdatasync(fd) : fsync(fd);
  finish(req, res == -1 ? errno : 0);
}
