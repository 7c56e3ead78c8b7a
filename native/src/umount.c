/*
 * umount(path, lazy) → Promise<string | null>: umount2(2) of the daemon's own mount, for a process
 * allowed to (root, or CAP_SYS_ADMIN over the mount's namespace). null: unmounted; else the errno's
 * name (EPERM: not allowed, use fusermount; EBUSY: in use, try lazy; EINVAL: not a mount point).
 *
 * Why: a daemon's shutdown unmounted through `fusermount -u`, a spawn from a Node process of 70+
 * threads and ~100 MB (loading node:child_process, fork, exec, a PATH walk): 60–190 ms of the ~230
 * ms between a `stop`'s SIGTERM and the daemon's exit, measured under load. As root fusermount
 * itself does no more than umount2(UMOUNT_NOFOLLOW) on the last component (src/sys/fusermount.ts
 * keeps the checks that the mount at the path is ours and topmost, before either way).
 *
 * The call runs on a thread of its own, detached, never on the JavaScript thread nor in libuv's
 * pool: the JavaScript side bounds its wait, and a umount2 that never returned would otherwise
 * hold the event loop or the pool's join at exit. UMOUNT_NOFOLLOW: a symlink planted at the last
 * component is not followed (as fusermount); the walk starts at the parent directory held open and
 * checked (umount_via_parent), so no component above can be swapped under it. MNT_DETACH for `lazy`.
 * "MOVED": the parent is no longer the path's; nothing was unmounted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH (binding.gyp defines it too) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* Not an errno: the parent directory is no longer where the path says (a component swapped). */
#define E_MOVED (-1)

napi_value js_umount(napi_env env, napi_callback_info info);

struct umount_job {
  napi_threadsafe_function tsfn;
  napi_deferred deferred;
  int lazy;
  int err; /* 0, or errno */
  char path[];
};

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOTDIR: return "ENOTDIR";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case E_MOVED: return "MOVED";
    default: return "ERR_UMOUNT";
  }
}

/* On the JavaScript thread: settle the promise, free the job. */
static void settle(napi_env env, napi_value js_cb, void *context, void *data) {
  struct umount_job *job = data;
  if (env) {
    napi_value v;
    if (job->err == 0) napi_get_null(env, &v);
    else napi_create_string_utf8(env, errno_name(job->err), NAPI_AUTO_LENGTH, &v);
    napi_resolve_deferred(env, job->deferred, v);
  }
  free(job);
}

/*
 * umount2 of `path` through its parent directory held open: the parent is opened O_PATH and must
 * still be the directory the path names (its /proc/self/fd link reads back as that path), then the
 * last component is unmounted relative to it (/proc/self/fd/N/<name>, UMOUNT_NOFOLLOW). A parent
 * or grandparent swapped for a symlink after the caller read mountinfo cannot steer the unmount to
 * another mount: the walk starts at the directory we checked. 0, an errno, or E_MOVED.
 */
static int umount_via_parent(const char *path, int flags) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash[1] == '\0' || path[0] != '/') return EINVAL;
  char parent[PATH_MAX];
  size_t plen = slash == path ? 1 : (size_t)(slash - path);
  if (plen >= sizeof parent) return ENAMETOOLONG;
  memcpy(parent, path, plen);
  parent[plen] = '\0';
  int fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  char link[64], real[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof real - 1);
  int err = 0;
  if (n < 0) err = errno;
  else {
    real[n] = '\0';
    if (strcmp(real, parent) != 0) err = E_MOVED;
  }
  if (err == 0) {
    char target[PATH_MAX + 64];
    if ((size_t)snprintf(target, sizeof target, "%s/%s", link, slash + 1) >= sizeof target) err = ENAMETOOLONG;
    else {
      int r;
      do r = umount2(target, flags);
      while (r != 0 && errno == EINTR);
      err = r == 0 ? 0 : errno;
    }
  }
  close(fd);
  return err;
}

static void *run(void *arg) {
  struct umount_job *job = arg;
  job->err = umount_via_parent(job->path, UMOUNT_NOFOLLOW | (job->lazy ? MNT_DETACH : 0));
  napi_threadsafe_function tsfn = job->tsfn;
  if (napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking) != napi_ok) free(job); /* the env is gone: nobody waits */
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static napi_value usage(napi_env env) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", "umount(path: string, lazy: boolean)");
  return NULL;
}

napi_value js_umount(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2], promise, name;
  bool lazy;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return usage(env);
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0 || len > 4095) return usage(env);
  if (napi_get_value_bool(env, argv[1], &lazy) != napi_ok) return usage(env);
  struct umount_job *job = calloc(1, sizeof *job + len + 1);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "umount: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], job->path, len + 1, &len);
  job->lazy = lazy;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok || napi_create_string_utf8(env, "mountie umount", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &job->tsfn) != napi_ok) {
    free(job);
    napi_throw_error(env, "ERR_UMOUNT", "umount: could not set up the call");
    return NULL;
  }
  /* A umount2 that never returns must not keep the process alive: the caller's own bound decides. */
  napi_unref_threadsafe_function(env, job->tsfn);
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  int e = pthread_create(&t, &attr, run, job);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    napi_value v;
    napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &v);
    napi_resolve_deferred(env, job->deferred, v);
    free(job);
  }
  return promise;
}
