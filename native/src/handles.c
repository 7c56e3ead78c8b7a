/*
 * The file handle table: what the kernel calls fh (an open file or directory) is an id in a
 * table with a generation (ids.c), not an fd and not a pointer. Each handle keeps the fd, its
 * flags (backing.c's FH_PASSTHROUGH, FH_PLAIN) and a directory's stream; every op reaches the fd
 * through fh_fd, so a handle that was released (or never given) answers EBADF, never another
 * file's fd, and the handles can be carried to another process (issue 21).
 *
 * The kernel sends RELEASE once per handle, after every request on it was answered, so a handle
 * found by a request stays for that request.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int handles_init(struct fh_table *t) {
  ids_init(&t->ids, 1);
  return pthread_mutex_init(&t->lock, NULL);
}

void handles_destroy(struct fh_table *t) {
  uint32_t at = 0;
  uint64_t id;
  struct fh *h;
  while ((h = ids_next(&t->ids, &at, &id))) {
    if (h->dir) dir_free(h->dir); /* closes its fd */
    else close(h->fd);
    free(h);
  }
  ids_destroy(&t->ids);
  pthread_mutex_destroy(&t->lock);
}

uint64_t fh_new(struct fs *fs, int fd, uint32_t flags, struct dir *dir, uint64_t node) {
  struct fh *h = malloc(sizeof *h);
  if (!h) return 0;
  *h = (struct fh){.fd = fd, .flags = flags, .dir = dir, .node = node};
  pthread_mutex_lock(&fs->handles.lock);
  uint64_t id = ids_add(&fs->handles.ids, h);
  pthread_mutex_unlock(&fs->handles.lock);
  if (!id) free(h);
  return id;
}

struct fh *fh_get(struct fs *fs, uint64_t fh) {
  return ids_get(&fs->handles.ids, fh);
}

int fh_fd(struct fs *fs, const struct fuse_file_info *fi) {
  struct fh *h = fi ? fh_get(fs, fi->fh) : NULL;
  if (!h) {
    errno = EBADF;
    return -1;
  }
  return h->fd;
}

struct fh *fh_take(struct fs *fs, uint64_t fh) {
  pthread_mutex_lock(&fs->handles.lock);
  struct fh *h = ids_get(&fs->handles.ids, fh);
  if (h) ids_remove(&fs->handles.ids, fh);
  pthread_mutex_unlock(&fs->handles.lock);
  return h;
}

ssize_t handles_snapshot(struct fs *fs, struct fh_info **out) {
  pthread_mutex_lock(&fs->handles.lock);
  size_t cap = fs->handles.ids.live, k = 0;
  struct fh_info *all = malloc((cap ? cap : 1) * sizeof *all);
  if (!all) {
    pthread_mutex_unlock(&fs->handles.lock);
    return -1;
  }
  uint32_t at = 0;
  uint64_t id;
  struct fh *h;
  while (k < cap && (h = ids_next(&fs->handles.ids, &at, &id)))
    all[k++] = (struct fh_info){.fh = id, .node = h->node, .fd = h->fd, .flags = h->flags, .dir = h->dir != NULL};
  pthread_mutex_unlock(&fs->handles.lock);
  *out = all;
  return (ssize_t)k;
}

int handles_place(struct fs *fs, uint64_t id, struct fh *h) {
  pthread_mutex_lock(&fs->handles.lock);
  int err = ids_place(&fs->handles.ids, id, h);
  pthread_mutex_unlock(&fs->handles.lock);
  return err;
}
