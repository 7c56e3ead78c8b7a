/*
 * The JavaScript surface: start(mountpoint, source, options) → Promise<{ handle, counters }>,
 * stop(handle, timeoutMs) → Promise<boolean> (true once every thread ended and the session is
 * freed), layout() → where each counter sits in the shared array, tables(handle) → the node and
 * file handle tables now. The mount and the join run on libuv's pool, never on the JavaScript
 * thread (mounting or joining may wait on the kernel).
 */
#include "core.h"
#include "jsbridge.h"

#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "ERR_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

struct handle {
  struct session *session;
  napi_ref counters; /* keeps the shared array alive while threads may write it */
  int busy;          /* a stop is under way */
};

struct start_job {
  napi_async_work work;
  napi_deferred deferred;
  char *mountpoint, *source, *fsname, *subtype;
  struct config cfg;
  uint64_t *counters;
  napi_ref counters_ref;
  struct handle *h;    /* allocated up front: nothing can fail once the mount is live */
  struct session *session;
  char err[256];
};

struct stop_job {
  napi_async_work work;
  napi_deferred deferred;
  struct handle *h;
  unsigned timeout_ms;
  int rc;
};

static char *get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static double opt_number(napi_env env, napi_value obj, const char *key, double dflt) {
  napi_value v;
  napi_valuetype t;
  double d;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return dflt;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return dflt;
  napi_get_value_double(env, v, &d);
  return d;
}

/*
 * A whole number option in [0, max], or dflt when absent. Anything else (negative, fractional,
 * NaN, too large) is refused with a RangeError: a negative fd budget cast to size_t would mean
 * "no budget at all". Sets *bad and throws once.
 */
static double opt_count(napi_env env, napi_value obj, const char *key, double dflt, double max, int *bad) {
  double d = opt_number(env, obj, key, dflt);
  if (*bad) return dflt;
  if (!(d >= 0 && d <= max) || d != (double)(uint64_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "option %s must be a whole number from 0 to %.0f", key, max);
    napi_throw_range_error(env, "ERR_INVALID_ARG", msg);
    *bad = 1;
    return dflt;
  }
  return d;
}

static char *opt_string(napi_env env, napi_value obj, const char *key, const char *dflt) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok && t == napi_string) return get_string(env, v);
  return strdup(dflt);
}

/* The session's options (start, adoptReceive); *bad set (and a RangeError thrown) on a bad one. */
static void read_config(napi_env env, napi_value o, struct config *cfg, int *bad) {
  cfg->attr_timeout = opt_number(env, o, "attrTimeout", 1.0);
  cfg->entry_timeout = opt_number(env, o, "entryTimeout", 1.0);
  cfg->keep_cache = (int)opt_number(env, o, "keepCache", 1);
  cfg->read_only = (int)opt_number(env, o, "readOnly", 0);
  cfg->allow_other = (int)opt_number(env, o, "allowOther", 0);
  cfg->rdplus = (int)opt_number(env, o, "readdirplus", RDPLUS_OFF);
  cfg->max_threads = (unsigned)opt_count(env, o, "maxThreads", 16, 4096, bad);
  cfg->max_write = (unsigned)opt_count(env, o, "maxWrite", 1 << 20, 1 << 30, bad);
  cfg->max_readahead = (unsigned)opt_count(env, o, "maxReadahead", 1 << 20, 1 << 30, bad);
  cfg->splice = (int)opt_number(env, o, "splice", 0);
  cfg->fd_budget = (size_t)opt_count(env, o, "fdBudget", 0, 1 << 30, bad);
  cfg->deadline_ms = (unsigned)opt_count(env, o, "deadlineMs", 0, 86400000, bad);
  cfg->watch_timeout = opt_number(env, o, "watchTimeout", 0);
  cfg->watch_budget = (size_t)opt_count(env, o, "watchBudget", 0, 1 << 30, bad);
  if (cfg->max_threads < 1) cfg->max_threads = 1;
}

static void start_execute(napi_env env, void *data) {
  struct start_job *j = data;
  j->session = session_start(j->mountpoint, j->source, &j->cfg, j->fsname, j->subtype, j->counters, j->err, sizeof j->err);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  struct handle *h = data;
  /* A handle dropped while mounted keeps its session (threads may still run): only a stopped one is freed. */
  if (!h->session) free(h);
}

static void start_complete(napi_env env, napi_status status, void *data) {
  struct start_job *j = data;
  napi_value result, counters, external;
  if (j->session) {
    struct handle *h = j->h;
    h->session = j->session;
    h->counters = j->counters_ref;
    napi_create_object(env, &result);
    napi_create_external(env, h, handle_finalize, NULL, &external);
    napi_get_reference_value(env, j->counters_ref, &counters);
    napi_set_named_property(env, result, "handle", external);
    napi_set_named_property(env, result, "counters", counters);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value msg, code, err;
    napi_create_string_utf8(env, j->err, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, "ERR_MOUNT_FAILED", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_delete_reference(env, j->counters_ref);
    napi_reject_deferred(env, j->deferred, err);
    free(j->h);
  }
  napi_delete_async_work(env, j->work);
  free(j->mountpoint);
  free(j->source);
  free(j->fsname);
  free(j->subtype);
  free(j);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise, name, ab;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "start(mountpoint, source, options)");
    return NULL;
  }
  struct start_job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, "ERR_NATIVE", "out of memory");
    return NULL;
  }
  j->mountpoint = get_string(env, argv[0]);
  j->source = get_string(env, argv[1]);
  j->fsname = opt_string(env, argv[2], "fsname", "mountie");
  j->subtype = opt_string(env, argv[2], "subtype", "mountie");
  if (!j->mountpoint || !j->source || !j->fsname || !j->subtype) {
    free(j->mountpoint), free(j->source), free(j->fsname), free(j->subtype), free(j);
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mountpoint and source must be strings");
    return NULL;
  }
  int bad = 0;
  read_config(env, argv[2], &j->cfg, &bad);
  j->h = bad ? NULL : calloc(1, sizeof *j->h);
  if (bad || !j->h) {
    free(j->mountpoint), free(j->source), free(j->fsname), free(j->subtype), free(j);
    if (!bad) napi_throw_error(env, "ERR_NATIVE", "out of memory");
    return NULL;
  }

  void *mem;
  CHECK(napi_create_arraybuffer(env, C_TOTAL * sizeof(uint64_t), &mem, &ab));
  memset(mem, 0, C_TOTAL * sizeof(uint64_t));
  j->counters = mem;
  CHECK(napi_create_reference(env, ab, 1, &j->counters_ref));
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "mountie.native.start", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, start_execute, start_complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static void stop_execute(napi_env env, void *data) {
  struct stop_job *j = data;
  j->rc = session_stop(j->h->session, j->timeout_ms);
}

static void stop_complete(napi_env env, napi_status status, void *data) {
  struct stop_job *j = data;
  napi_value done;
  j->h->busy = 0;
  if (j->rc == 0) {
    j->h->session = NULL;
    napi_delete_reference(env, j->h->counters);
    j->h->counters = NULL;
  }
  napi_get_boolean(env, j->rc == 0, &done);
  napi_resolve_deferred(env, j->deferred, done);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  void *data;
  double timeout;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_external(env, argv[0], &data) != napi_ok || napi_get_value_double(env, argv[1], &timeout) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "stop(handle, timeoutMs)");
    return NULL;
  }
  struct handle *h = data;
  struct stop_job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, "ERR_NATIVE", "out of memory");
    return NULL;
  }
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  if (!h->session || h->busy) {
    napi_value v;
    napi_get_boolean(env, !h->session, &v);
    napi_resolve_deferred(env, j->deferred, v);
    free(j);
    return promise;
  }
  h->busy = 1;
  j->h = h;
  j->timeout_ms = timeout < 0 ? 0 : (unsigned)timeout;
  CHECK(napi_create_string_utf8(env, "mountie.native.stop", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, stop_execute, stop_complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

/* cancel(handle) → number: answers every request in flight EIO now, and every later one at once. */
static napi_value js_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "cancel(handle)");
    return NULL;
  }
  struct handle *h = data;
  unsigned n = h->session && !h->busy ? session_cancel(h->session) : 0; /* busy: a stop may free it */
  CHECK(napi_create_uint32(env, n, &result));
  return result;
}

static void set_bigint(napi_env env, napi_value obj, const char *key, uint64_t v) {
  napi_value x;
  napi_create_bigint_uint64(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

static void set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

static void set_bool(napi_env env, napi_value obj, const char *key, int v) {
  napi_value x;
  napi_get_boolean(env, v != 0, &x);
  napi_set_named_property(env, obj, key, x);
}

static napi_value node_value(napi_env env, const struct node_info *i) {
  napi_value o, handle;
  napi_create_object(env, &o);
  set_bigint(env, o, "id", i->id);
  set_number(env, o, "nlookup", (double)i->nlookup);
  set_bigint(env, o, "ino", (uint64_t)i->ino);
  set_bigint(env, o, "dev", (uint64_t)i->dev);
  set_number(env, o, "type", (double)i->type);
  set_number(env, o, "fd", i->fd);
  set_bool(env, o, "stale", !i->hashed);
  if (i->handle_bytes) {
    /* The file handle as "type:hex" (open_by_handle_at's input). */
    char hex[16 + 2 * MAX_HANDLE_SZ + 1];
    int len = snprintf(hex, sizeof hex, "%d:", i->handle_type);
    for (unsigned b = 0; b < i->handle_bytes && len + 2 < (int)sizeof hex; b++) len += snprintf(hex + len, sizeof hex - (size_t)len, "%02x", i->handle[b]);
    napi_create_string_utf8(env, hex, (size_t)len, &handle);
  } else
    napi_get_null(env, &handle);
  napi_set_named_property(env, o, "handle", handle);
  return o;
}

static napi_value fh_value(napi_env env, const struct fh_info *i) {
  napi_value o;
  napi_create_object(env, &o);
  set_bigint(env, o, "fh", i->fh);
  set_bigint(env, o, "node", i->node);
  set_number(env, o, "fd", i->fd);
  set_number(env, o, "flags", i->flags);
  set_bool(env, o, "dir", i->dir);
  return o;
}

/*
 * tables(handle) → { nodes, handles } or null (stopped, or a stop under way): the passthrough's
 * node table (id, nlookup, ino, dev, type, fd or file handle) and its open file handles (fh, node,
 * fd, flags), as the kernel knows them now: what a handover to another process would carry
 * (issue 21). Each table is copied under its own lock; the two copies are not one instant.
 */
static napi_value js_tables(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, nodes, handles;
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "tables(handle)");
    return NULL;
  }
  struct handle *h = data;
  if (!h->session || h->busy) { /* busy: a stop may free it */
    CHECK(napi_get_null(env, &result));
    return result;
  }
  struct fs *fs = session_fs(h->session);
  struct node_info *ni = NULL;
  struct fh_info *hi = NULL;
  ssize_t nn = nodes_snapshot(fs, &ni);
  ssize_t nh = nn < 0 ? -1 : handles_snapshot(fs, &hi);
  if (nn < 0 || nh < 0) {
    free(ni);
    napi_throw_error(env, "ERR_NATIVE", "out of memory");
    return NULL;
  }
  napi_create_array_with_length(env, (size_t)nn, &nodes);
  for (ssize_t i = 0; i < nn; i++) napi_set_element(env, nodes, (uint32_t)i, node_value(env, &ni[i]));
  napi_create_array_with_length(env, (size_t)nh, &handles);
  for (ssize_t i = 0; i < nh; i++) napi_set_element(env, handles, (uint32_t)i, fh_value(env, &hi[i]));
  free(ni);
  free(hi);
  CHECK(napi_create_object(env, &result));
  napi_set_named_property(env, result, "nodes", nodes);
  napi_set_named_property(env, result, "handles", handles);
  return result;
}

static napi_value int_value(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value js_layout(napi_env env, napi_callback_info info) {
  napi_value obj, ops;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_array_with_length(env, OP_COUNT, &ops));
  for (int i = 0; i < OP_COUNT; i++) {
    napi_value s;
    CHECK(napi_create_string_utf8(env, op_name(i), NAPI_AUTO_LENGTH, &s));
    CHECK(napi_set_element(env, ops, (uint32_t)i, s));
  }
  napi_set_named_property(env, obj, "ops", ops);
  napi_set_named_property(env, obj, "errors", int_value(env, C_ERRORS));
  napi_set_named_property(env, obj, "bytesRead", int_value(env, C_BYTES_READ));
  napi_set_named_property(env, obj, "bytesWritten", int_value(env, C_BYTES_WRITTEN));
  napi_set_named_property(env, obj, "inFlight", int_value(env, C_INFLIGHT));
  napi_set_named_property(env, obj, "threads", int_value(env, C_THREADS));
  napi_set_named_property(env, obj, "nodes", int_value(env, C_NODES));
  napi_set_named_property(env, obj, "timedOut", int_value(env, C_TIMED_OUT));
  napi_set_named_property(env, obj, "stuck", int_value(env, C_STUCK));
  napi_set_named_property(env, obj, "changes", int_value(env, C_CHANGES));
  napi_set_named_property(env, obj, "fastFailed", int_value(env, C_FAST_FAILED));
  napi_set_named_property(env, obj, "loopEnded", int_value(env, C_LOOP_ENDED));
  napi_set_named_property(env, obj, "stalls", int_value(env, C_STALLS));
  napi_set_named_property(env, obj, "rescued", int_value(env, C_RESCUED));
  napi_set_named_property(env, obj, "watches", int_value(env, C_WATCHES));
  napi_set_named_property(env, obj, "unwatched", int_value(env, C_UNWATCHED));
  napi_set_named_property(env, obj, "invalidations", int_value(env, C_INVALS));
  napi_set_named_property(env, obj, "overflows", int_value(env, C_OVERFLOWS));
  napi_set_named_property(env, obj, "events", int_value(env, C_EVENTS));
  napi_set_named_property(env, obj, "eventReads", int_value(env, C_EVENT_READS));
  napi_set_named_property(env, obj, "eventsOurs", int_value(env, C_EVENTS_OURS));
  napi_set_named_property(env, obj, "invalEntries", int_value(env, C_INVAL_ENTRY));
  napi_set_named_property(env, obj, "invalInodes", int_value(env, C_INVAL_INODE));
  napi_set_named_property(env, obj, "session", int_value(env, C_SESSION));
  napi_set_named_property(env, obj, "passthroughOpens", int_value(env, C_PT_OPENS));
  napi_set_named_property(env, obj, "passthroughFallbacks", int_value(env, C_PT_FALLBACKS));
  napi_set_named_property(env, obj, "passthroughMode", int_value(env, C_PT_MODE));
  napi_set_named_property(env, obj, "latency", int_value(env, C_LAT));
  napi_set_named_property(env, obj, "latencyBuckets", int_value(env, LAT_BUCKETS));
  napi_set_named_property(env, obj, "total", int_value(env, C_TOTAL));
  return obj;
}

#include "addon_handover.inc"

napi_value js_flock(napi_env env, napi_callback_info info); /* flock.c */
napi_value js_proc_scan(napi_env env, napi_callback_info info); /* procscan.c */
napi_value js_umount(napi_env env, napi_callback_info info); /* umount.c */
napi_value js_quick_exit(napi_env env, napi_callback_info info); /* exit.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
    {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
    {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_default, NULL},
    {"tables", NULL, js_tables, NULL, NULL, NULL, napi_default, NULL},
    {"layout", NULL, js_layout, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
    {"procScan", NULL, js_proc_scan, NULL, NULL, NULL, napi_default, NULL},
    {"umount", NULL, js_umount, NULL, NULL, NULL, napi_default, NULL},
    {"quickExit", NULL, js_quick_exit, NULL, NULL, NULL, napi_default, NULL},
    {"handoverListen", NULL, js_handover_listen, NULL, NULL, NULL, napi_default, NULL},
    {"handoverExport", NULL, js_handover_export, NULL, NULL, NULL, napi_default, NULL},
    {"adoptReceive", NULL, js_adopt_receive, NULL, NULL, NULL, napi_default, NULL},
    {"adoptCommit", NULL, js_adopt_commit, NULL, NULL, NULL, napi_default, NULL},
    {"adoptDiscard", NULL, js_adopt_discard, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  jsbridge_define(env, exports); /* a kind's own operations: startOps, stopOps, cancelOps, reply */
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
