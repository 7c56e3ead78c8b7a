/*
 * Extended attributes of a node, through its O_PATH fd. fgetxattr and getxattrat(fd, "",
 * AT_EMPTY_PATH) both refuse an O_PATH fd (EBADF, measured on 6.18), so the fd is reached
 * through its /proc magic link. Where the *xattrat syscalls exist (Linux 6.13+) the link is
 * resolved relative to a /proc/self/fd directory fd opened once, one path component instead
 * of four (/proc, self, fd, N): about 1.9 µs per getxattr against 2.7 µs; a directory needs no
 * link at all, "." relative to its own fd (1.1 µs). On an older kernel (ENOSYS, remembered once
 * for the process) or when /proc/self/fd cannot be opened, the full /proc/self/fd/N path is
 * used as before.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The unified syscall numbers (asm-generic and x86_64 alike); glibc 2.36 has no wrappers. */
#if defined(__x86_64__) || defined(__aarch64__)
#define NR_SETXATTRAT 463
#define NR_GETXATTRAT 464
#define NR_LISTXATTRAT 465
#define NR_REMOVEXATTRAT 466
#define HAVE_XATTRAT 1
#else
#define HAVE_XATTRAT 0
#endif

/* The kernel's struct xattr_args (include/uapi/linux/xattr.h, 6.13+). */
struct xattr_args_v0 {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int fd_dir = -1; /* /proc/self/fd, or -1: use full paths */

static void open_fd_dir(void) {
  if (HAVE_XATTRAT) fd_dir = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The fd directory to resolve against, or -1 when the *xattrat calls are not to be used. */
static int at_dir(void) {
  pthread_once(&once, open_fd_dir);
  return __atomic_load_n(&fd_dir, __ATOMIC_RELAXED);
}

/* Where an *xattrat call finds the node: (*dir, rel), false when the calls are not to be used. */
static int at(int fd, mode_t type, int *dir, char *rel, size_t len) {
  int procfd = at_dir();
  if (procfd < 0) return 0;
  if (type == S_IFDIR) {
    *dir = fd;
    snprintf(rel, len, ".");
  } else {
    *dir = procfd;
    snprintf(rel, len, "%d", fd);
  }
  return 1;
}

/* The kernel has no *xattrat calls: use full paths from now on (the fd stays open, unused). */
static int gone(long res) {
  if (res == -1 && errno == ENOSYS) {
    __atomic_store_n(&fd_dir, -1, __ATOMIC_RELAXED);
    return 1;
  }
  return 0;
}

ssize_t xattr_get(int fd, mode_t type, const char *name, void *buf, size_t size) {
  char n[16];
  int dir;
  if (at(fd, type, &dir, n, sizeof n)) {
    struct xattr_args_v0 a = {.value = (uintptr_t)buf, .size = (uint32_t)size};
    long res = syscall(NR_GETXATTRAT, dir, n, 0, name, &a, sizeof a);
    if (!gone(res)) return res;
  }
  char p[64];
  proc_path(p, sizeof p, fd);
  return getxattr(p, name, buf, size);
}

ssize_t xattr_list(int fd, mode_t type, char *buf, size_t size) {
  char n[16];
  int dir;
  if (at(fd, type, &dir, n, sizeof n)) {
    long res = syscall(NR_LISTXATTRAT, dir, n, 0, buf, size);
    if (!gone(res)) return res;
  }
  char p[64];
  proc_path(p, sizeof p, fd);
  return listxattr(p, buf, size);
}

int xattr_set(int fd, mode_t type, const char *name, const void *value, size_t size, int flags) {
  char n[16];
  int dir;
  if (at(fd, type, &dir, n, sizeof n)) {
    struct xattr_args_v0 a = {.value = (uintptr_t)value, .size = (uint32_t)size, .flags = (uint32_t)flags};
    long res = syscall(NR_SETXATTRAT, dir, n, 0, name, &a, sizeof a);
    if (!gone(res)) return (int)res;
  }
  char p[64];
  proc_path(p, sizeof p, fd);
  return setxattr(p, name, value, size, flags);
}

int xattr_remove(int fd, mode_t type, const char *name) {
  char n[16];
  int dir;
  if (at(fd, type, &dir, n, sizeof n)) {
    long res = syscall(NR_REMOVEXATTRAT, dir, n, 0, name);
    if (!gone(res)) return (int)res;
  }
  char p[64];
  proc_path(p, sizeof p, fd);
  return removexattr(p, name);
}
