/*
 * Counters shared with JavaScript (plain uint64 slots updated with relaxed atomics), and the
 * per-thread bookkeeping of the request being served: each worker serves one request at a
 * time, so the request's start time and kind live in thread-local storage.
 */
#include "core.h"

#include <errno.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const NAMES[OP_COUNT] = {
  "lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink",
  "rmdir", "symlink", "rename", "link", "open", "read", "write", "flush", "release",
  "fsync", "opendir", "readdir", "readdirplus", "releasedir", "fsyncdir", "statfs",
  "setxattr", "getxattr", "listxattr", "removexattr", "access", "create", "fallocate",
  "copy_file_range", "lseek",
};

#define MAX_HELD 8

struct current {
  struct fs *fs;
  const void *held_key[MAX_HELD];
  int held[MAX_HELD];
  int nheld;
  uint64_t t0;
  int op;
  int entered;
  int own_umask;
};

static __thread struct current cur;

const char *op_name(int op) {
  return op >= 0 && op < OP_COUNT ? NAMES[op] : "?";
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void count_add(struct fs *fs, int index, uint64_t n) {
  __atomic_fetch_add(&fs->counters[index], n, __ATOMIC_RELAXED);
}

void stats_thread_exit(void *arg) {
  struct fs *fs = arg;
  ops_thread_exit();
  __atomic_fetch_sub(&fs->counters[C_THREADS], 1, __ATOMIC_RELAXED);
}

/*
 * First request on a worker thread: give the thread its own umask (0), so the mode the kernel
 * sends (already masked with the caller's umask) reaches the source unchanged, without touching
 * the umask of the JavaScript thread (unshare(CLONE_FS) splits cwd/root/umask per thread).
 */
void thread_enter(struct fs *fs) {
  if (cur.entered) return;
  cur.entered = 1;
  if (unshare(CLONE_FS) == 0) {
    umask(0);
    cur.own_umask = 1;
  }
  /* Else the process umask applies on top; ops.c then restores the mode it was asked for. */
  __atomic_fetch_add(&fs->counters[C_THREADS], 1, __ATOMIC_RELAXED);
  pthread_setspecific(fs->thread_key, fs);
}


int thread_own_umask(void) {
  return cur.own_umask;
}

void op_begin(struct fs *fs, enum op_kind op) {
  if (!cur.entered) thread_enter(fs);
  cur.fs = fs;
  cur.op = op;
  cur.t0 = now_ns();
  __atomic_fetch_add(&fs->counters[C_INFLIGHT], 1, __ATOMIC_RELAXED);
}

int held_fd(const void *key) {
  for (int i = 0; i < cur.nheld; i++)
    if (cur.held_key[i] == key) return cur.held[i];
  return -1;
}

/* Returns fd, or -1 (EMFILE) when this request holds too many already (closing fd). */
int hold_fd(const void *key, int fd) {
  if (cur.nheld == MAX_HELD) {
    close(fd);
    errno = EMFILE;
    return -1;
  }
  cur.held_key[cur.nheld] = key;
  cur.held[cur.nheld++] = fd;
  return fd;
}

void op_end(int err) {
  while (cur.nheld > 0) close(cur.held[--cur.nheld]);
  struct fs *fs = cur.fs;
  if (!fs) return;
  uint64_t us = (now_ns() - cur.t0) / 1000u;
  int b = 0;
  while (us > 0 && b < LAT_BUCKETS - 1) {
    us >>= 1;
    b++;
  }
  __atomic_fetch_add(&fs->counters[C_OPS + cur.op], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&fs->counters[C_LAT + b], 1, __ATOMIC_RELAXED);
  if (err) __atomic_fetch_add(&fs->counters[C_ERRORS], 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(&fs->counters[C_INFLIGHT], 1, __ATOMIC_RELAXED);
  cur.fs = NULL;
}
