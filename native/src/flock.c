/*
 * flock(fd, mode, nonblock) → boolean: flock(2) for the workspace lock (src/protocol/lock.ts), so
 * a process that has this addon loaded need not spawn flock(1) (a fork and exec, ~10–30 ms) for
 * it. mode is "exclusive" or "shared". true: taken; false: nonblock and someone else holds it
 * (EWOULDBLOCK); any other failure throws an Error whose code is the errno's name (EBADF,
 * EINVAL, ENOLCK, else ERR_FLOCK). A blocking call (nonblock false) waits on the JavaScript
 * thread: the JavaScript side only ever asks without blocking and polls for a bounded wait.
 */
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

napi_value js_flock(napi_env env, napi_callback_info info);

static const char *errno_code(int e) {
  switch (e) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOLCK: return "ENOLCK";
    default: return "ERR_FLOCK";
  }
}

static napi_value usage(napi_env env) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", "flock(fd: integer, mode: 'exclusive' | 'shared', nonblock: boolean)");
  return NULL;
}

napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int32_t fd;
  char mode[16];
  size_t len;
  bool nonblock;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return usage(env);
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return usage(env);
  if (napi_get_value_string_utf8(env, argv[1], mode, sizeof mode, &len) != napi_ok) return usage(env);
  if (napi_get_value_bool(env, argv[2], &nonblock) != napi_ok) return usage(env);
  int op;
  if (strcmp(mode, "exclusive") == 0) op = LOCK_EX;
  else if (strcmp(mode, "shared") == 0) op = LOCK_SH;
  else return usage(env);
  if (nonblock) op |= LOCK_NB;
  int r;
  do r = flock(fd, op); /* a signal while blocked: ask again */
  while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EWOULDBLOCK) {
    char msg[160];
    int e = errno;
    snprintf(msg, sizeof msg, "flock(%d): %s (errno %d)", fd, strerror(e), e);
    napi_throw_error(env, errno_code(e), msg);
    return NULL;
  }
  if (napi_get_boolean(env, r == 0, &result) != napi_ok) return NULL;
  return result;
}
