/*
 * quickExit(code): _exit(2) for a daemon whose shutdown is complete (src/cli/daemon-child.ts).
 * process.exit() tears Node down in order: its environment, the platform's workers, then libuv's
 * uv_library_shutdown(), which wakes and joins every thread of the pool, 64 in a daemon
 * (UV_THREADPOOL_SIZE), and waits on any of them that is still in a call on the source. By then
 * the daemon has unmounted, written state.json (fsynced), removed its pidfile and released its
 * lock, and its log lines went out with write(2) (Node's stdio to files and pipes is synchronous
 * on Linux): nothing is left that the ordered teardown would save. Measured: 20–70 ms between
 * "shutdown complete" and the exit a `stop` waits for, under load.
 */
#include <node_api.h>
#include <unistd.h>

napi_value js_quick_exit(napi_env env, napi_callback_info info);

napi_value js_quick_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &code) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "quickExit(code: integer)");
    return NULL;
  }
  _exit(code & 0xff);
}
