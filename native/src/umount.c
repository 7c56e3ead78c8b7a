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
 * component is not followed (as fusermount). MNT_DETACH for `lazy`.
 */
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

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

static void *run(void *arg) {
  struct umount_job *job = arg;
  int r;
  do r = umount2(job->path, UMOUNT_NOFOLLOW | (job->lazy ? MNT_DETACH : 0));
  while (r != 0 && errno == EINTR);
  job->err = r == 0 ? 0 : errno;
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
