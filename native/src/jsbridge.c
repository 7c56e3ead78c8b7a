/*
 * The JS-ops mode's JavaScript surface (jsfs.h):
 *   startOps(mountpoint, options, dispatch) → Promise<{ handle, counters }>
 *   stopOps(handle, timeoutMs) → Promise<boolean>; cancelOps(handle) → number
 *   reply(handle, id, errno, value?) → 0 answered, 1 already answered (late: timed out or
 *     cancelled), 2 the value was malformed (answered EIO)
 * dispatch(id, op, uid, gid, pid, umask, path, a, b, c, d) is called on the JavaScript thread for
 * each request (op: its index in layout().ops; a–d per op, src/daemon/native/ops-bridge.ts). It
 * must never throw; if it does, the request is answered EIO.
 */
#include "jsbridge.h"
#include "jsfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <uv.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "ERR_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* A stat object's keys, made once per session (a key by C string is made and looked up in V8's string table every time). */
enum { K_MODE, K_UID, K_GID, K_SIZE, K_NLINK, K_INO, K_RDEV, K_BLKSIZE, K_BLOCKS, K_ATIME, K_MTIME, K_CTIME, K_COUNT };
static const char *const STAT_KEYS[K_COUNT] = {"mode", "uid", "gid", "size", "nlink", "ino", "rdev", "blksize", "blocks", "atime", "mtime", "ctime"};

struct jhandle {
  napi_ref keys[K_COUNT];
  struct jsession *session;
  struct jfs *fs;
  napi_threadsafe_function tsfn;
  napi_ref counters;
  int busy;
  /* The reader (the JavaScript thread polls /dev/fuse): what it calls and in which async context. */
  napi_env env;
  napi_ref dispatch, resource;
  napi_async_context async;
  uv_poll_t *poll;
};

struct jstart {
  napi_async_work work;
  napi_deferred deferred;
  char *mountpoint, *fsname, *subtype;
  struct jfs_config cfg;
  uint64_t *counters;
  napi_ref counters_ref;
  napi_ref fn_ref; /* dispatch: the reader calls it */
  struct jhandle *h;
  struct jsession *session;
  char err[256];
};

struct jstop {
  napi_async_work work;
  napi_deferred deferred;
  struct jhandle *h;
  unsigned timeout_ms;
  int rc;
};

static char *str_of(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static int prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  napi_valuetype t;
  return napi_get_named_property(env, obj, key, out) == napi_ok && napi_typeof(env, *out, &t) == napi_ok && t != napi_undefined && t != napi_null;
}

static double num_opt(napi_env env, napi_value obj, const char *key, double dflt) {
  napi_value v;
  double d;
  if (!prop(env, obj, key, &v) || napi_get_value_double(env, v, &d) != napi_ok) return dflt;
  return d;
}

/* ---- from JavaScript values ---- */

/* A whole number ≥ 0 from a number (exact) or a bigint. */
static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok && lossless;
  }
  double d;
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 18446744073709549568.0) || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

static int field_u64(napi_env env, napi_value obj, const char *key, uint64_t *out, int required) {
  napi_value v;
  if (!prop(env, obj, key, &v)) return !required;
  return get_u64(env, v, out);
}

/* A time: a Date or a number (ms since the epoch, fractions kept to the ns), or a bigint (ns). */
static int get_time(napi_env env, napi_value v, struct timespec *ts) {
  napi_valuetype t;
  bool is_date = false;
  double ms;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    int64_t ns;
    bool lossless;
    if (napi_get_value_bigint_int64(env, v, &ns, &lossless) != napi_ok || !lossless) return 0;
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
    if (ts->tv_nsec < 0) ts->tv_sec--, ts->tv_nsec += 1000000000;
    return 1;
  }
  if (napi_is_date(env, v, &is_date) == napi_ok && is_date) {
    if (napi_get_date_value(env, v, &ms) != napi_ok) return 0;
  } else if (t != napi_number || napi_get_value_double(env, v, &ms) != napi_ok) return 0;
  if (ms != ms) return 0; /* NaN: an invalid Date */
  double s = ms / 1000.0;
  ts->tv_sec = (time_t)s;
  if ((double)ts->tv_sec > s) ts->tv_sec--;
  ts->tv_nsec = (long)((ms - (double)ts->tv_sec * 1000.0) * 1000000.0);
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
  if (ts->tv_nsec < 0) ts->tv_nsec = 0;
  return 1;
}

/* prop() with one of the session's keys; falls back to the C string when the keys were not made. */
static int propk(napi_env env, const struct jhandle *h, napi_value obj, int k, napi_value *out) {
  napi_value key;
  napi_valuetype t;
  if (!h->keys[k] || napi_get_reference_value(env, h->keys[k], &key) != napi_ok) return prop(env, obj, STAT_KEYS[k], out);
  return napi_get_property(env, obj, key, out) == napi_ok && napi_typeof(env, *out, &t) == napi_ok && t != napi_undefined && t != napi_null;
}

static int fieldk_u64(napi_env env, const struct jhandle *h, napi_value obj, int k, uint64_t *out, int required) {
  napi_value v;
  if (!propk(env, h, obj, k, &v)) return !required;
  return get_u64(env, v, out);
}

/* A stat object: mode, uid, gid and size required; the rest optional (0). */
static int get_stat(napi_env env, const struct jhandle *h, napi_value obj, struct stat *st) {
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return 0;
  memset(st, 0, sizeof *st);
  uint64_t mode = 0, uid = 0, gid = 0, size = 0, nlink = 1, ino = 0, rdev = 0, blksize = 4096, blocks = 0;
  if (!fieldk_u64(env, h, obj, K_MODE, &mode, 1) || !fieldk_u64(env, h, obj, K_UID, &uid, 1) || !fieldk_u64(env, h, obj, K_GID, &gid, 1) ||
      !fieldk_u64(env, h, obj, K_SIZE, &size, 1) || !fieldk_u64(env, h, obj, K_NLINK, &nlink, 0) || !fieldk_u64(env, h, obj, K_INO, &ino, 0) ||
      !fieldk_u64(env, h, obj, K_RDEV, &rdev, 0) || !fieldk_u64(env, h, obj, K_BLKSIZE, &blksize, 0) || !fieldk_u64(env, h, obj, K_BLOCKS, &blocks, 0))
    return 0;
  if (mode > 0xffff || uid > 0xffffffffu || gid > 0xffffffffu || size > INT64_MAX) return 0;
  st->st_mode = (mode_t)mode;
  st->st_uid = (uid_t)uid;
  st->st_gid = (gid_t)gid;
  st->st_size = (off_t)size;
  st->st_nlink = (nlink_t)nlink;
  st->st_ino = (ino_t)ino;
  st->st_rdev = (dev_t)rdev;
  st->st_blksize = (blksize_t)blksize;
  st->st_blocks = blocks ? (blkcnt_t)blocks : (blkcnt_t)((size + 511) / 512);
  napi_value v;
  struct timespec *tss[3] = {&st->st_atim, &st->st_mtim, &st->st_ctim};
  for (int i = 0; i < 3; i++)
    if (propk(env, h, obj, K_ATIME + i, &v) && !get_time(env, v, tss[i])) return 0;
  return 1;
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t n, off;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &n, data, &ab, &off) != napi_ok || type != napi_uint8_array) return 0;
    *len = n;
    return 1;
  }
  return 0;
}

/* readdir's answer: [names, stats?]; a stat may be absent (type unknown). */
static int reply_dir(napi_env env, const struct jhandle *h, struct jfs *fs, struct jreq *r, napi_value v) {
  napi_value names, stats = NULL, e;
  uint32_t n = 0, ns = 0;
  bool is;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_element(env, v, 0, &names) != napi_ok) return 0;
  if (napi_is_array(env, names, &is) != napi_ok || !is || napi_get_array_length(env, names, &n) != napi_ok) return 0;
  if (napi_get_element(env, v, 1, &stats) == napi_ok && napi_is_array(env, stats, &is) == napi_ok && is) napi_get_array_length(env, stats, &ns);
  else stats = NULL;
  char **list = calloc(n ? n : 1, sizeof *list);
  struct stat *sts = calloc(n ? n : 1, sizeof *sts);
  int ok = list && sts;
  for (uint32_t i = 0; ok && i < n; i++) {
    ok = napi_get_element(env, names, i, &e) == napi_ok && (list[i] = str_of(env, e)) != NULL && list[i][0] && !strchr(list[i], '/');
    if (ok && stats && i < ns && napi_get_element(env, stats, i, &e) == napi_ok) {
      napi_valuetype t;
      if (napi_typeof(env, e, &t) == napi_ok && t == napi_object && !get_stat(env, h, e, &sts[i])) ok = 0;
    }
  }
  if (ok) jfs_reply_dir(fs, r, list, sts, n);
  for (uint32_t i = 0; list && i < n; i++) free(list[i]);
  free(list);
  free(sts);
  return ok;
}

static int reply_statfs(napi_env env, struct jfs *fs, struct jreq *r, napi_value v) {
  struct statvfs sv = {0};
  uint64_t x[11];
  static const char *const keys[11] = {"bsize", "frsize", "blocks", "bfree", "bavail", "files", "ffree", "favail", "fsid", "flag", "namemax"};
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) return 0;
  for (int i = 0; i < 11; i++) {
    x[i] = 0;
    if (!field_u64(env, v, keys[i], &x[i], 0)) return 0;
  }
  sv.f_bsize = x[0], sv.f_frsize = x[1], sv.f_blocks = x[2], sv.f_bfree = x[3], sv.f_bavail = x[4];
  sv.f_files = x[5], sv.f_ffree = x[6], sv.f_favail = x[7], sv.f_fsid = x[8], sv.f_flag = x[9], sv.f_namemax = x[10] ? x[10] : 255;
  jfs_reply_statfs(fs, r, &sv);
  return 1;
}

static int reply_list(napi_env env, struct jfs *fs, struct jreq *r, napi_value v) {
  bool is;
  uint32_t n;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok) return 0;
  size_t len = 0, cap = 256;
  char *buf = malloc(cap);
  for (uint32_t i = 0; buf && i < n; i++) {
    napi_value e;
    char *s = napi_get_element(env, v, i, &e) == napi_ok ? str_of(env, e) : NULL;
    if (!s || !*s) {
      free(s);
      free(buf);
      return 0;
    }
    size_t l = strlen(s) + 1;
    while (buf && len + l > cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
    if (buf) memcpy(buf + len, s, l), len += l;
    free(s);
  }
  if (!buf) {
    jfs_reply_err(fs, r, ENOMEM);
    return 1;
  }
  jfs_reply_xattr(fs, r, buf, len);
  free(buf);
  return 1;
}

/* read's answer as an array of byte arrays: one writev of them all (at most 256 pieces). */
static int reply_pieces(napi_env env, struct jfs *fs, struct jreq *r, napi_value v) {
  uint32_t n;
  if (napi_get_array_length(env, v, &n) != napi_ok || n > 256) return 0;
  struct iovec iov[256];
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_bytes(env, e, &iov[i].iov_base, &iov[i].iov_len)) return 0;
  }
  jfs_reply_iov(fs, r, iov, (int)n);
  return 1;
}

/* The answer `v` for request r (claimed); 0 when v is not what the op answers (nothing sent). */
static int answer(napi_env env, const struct jhandle *h, struct jfs *fs, struct jreq *r, napi_value v) {
  struct stat st;
  uint64_t u;
  void *data;
  size_t len;
  napi_value e0, e1;
  switch (r->op) {
    case OP_LOOKUP: case OP_MKNOD: case OP_MKDIR: case OP_SYMLINK: case OP_LINK:
      if (!get_stat(env, h, v, &st)) return 0;
      jfs_reply_entry(fs, r, &st, 0);
      return 1;
    case OP_CREATE:
      if (napi_get_element(env, v, 0, &e0) != napi_ok || napi_get_element(env, v, 1, &e1) != napi_ok || !get_u64(env, e0, &u) || !get_stat(env, h, e1, &st)) return 0;
      jfs_reply_entry(fs, r, &st, u);
      return 1;
    case OP_GETATTR: case OP_SETATTR:
      if (!get_stat(env, h, v, &st)) return 0;
      jfs_reply_attr(fs, r, &st);
      return 1;
    case OP_READLINK: {
      char *s = str_of(env, v);
      if (!s) return 0;
      jfs_reply_readlink(fs, r, s);
      free(s);
      return 1;
    }
    case OP_OPEN: case OP_OPENDIR:
      if (!get_u64(env, v, &u)) return 0;
      jfs_reply_open(fs, r, u);
      return 1;
    case OP_READ: case OP_GETXATTR: {
      bool is_array = false;
      if (r->op == OP_READ && napi_is_array(env, v, &is_array) == napi_ok && is_array) return reply_pieces(env, fs, r, v);
      if (!get_bytes(env, v, &data, &len)) return 0;
      if (r->op == OP_READ) jfs_reply_buf(fs, r, data, len);
      else jfs_reply_xattr(fs, r, data, len);
      return 1;
    }
    case OP_WRITE:
      if (!get_u64(env, v, &u)) return 0;
      jfs_reply_write(fs, r, (size_t)u);
      return 1;
    case OP_LSEEK:
      if (!get_u64(env, v, &u) || u > INT64_MAX) return 0;
      jfs_reply_lseek(fs, r, (int64_t)u);
      return 1;
    case OP_READDIR:
      return reply_dir(env, h, fs, r, v);
    case OP_STATFS:
      return reply_statfs(env, fs, r, v);
    case OP_LISTXATTR:
      return reply_list(env, fs, r, v);
    case OP_UNLINK: case OP_RMDIR: case OP_RENAME:
      jfs_names_changed(fs, r);
      jfs_reply_err(fs, r, 0);
      return 1;
    default:
      jfs_reply_err(fs, r, 0);
      return 1;
  }
}

static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  void *data;
  double id, err;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || napi_get_value_external(env, argv[0], &data) != napi_ok || napi_get_value_double(env, argv[1], &id) != napi_ok || napi_get_value_double(env, argv[2], &err) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "reply(handle, id, errno, value?)");
    return NULL;
  }
  struct jhandle *h = data;
  int code = 1;
  struct jreq *r = h->session && id >= 1 ? jfs_claim(h->fs, (uint64_t)id) : NULL;
  if (r) {
    if (err != 0) {
      /* an errno: 1..4095 (the kernel's range); anything else is no errno at all */
      int e = err >= 1 && err <= 4095 && err == (double)(int)err ? (int)err : EIO;
      jfs_reply_err(h->fs, r, e);
      code = e == (int)err ? 0 : 2;
    } else if (argc < 4 || !answer(env, h, h->fs, r, argv[3])) {
      jfs_reply_err(h->fs, r, EIO);
      code = 2;
    } else code = 0;
  }
  CHECK(napi_create_int32(env, code, &result));
  return result;
}

/* ---- to JavaScript ---- */

static void wake(void *arg);

static napi_value u64v(napi_env env, uint64_t v) {
  napi_value r;
  if (v <= 9007199254740991ull) napi_create_double(env, (double)v, &r);
  else napi_create_bigint_uint64(env, v, &r);
  return r;
}

static napi_value i64v(napi_env env, int64_t v) {
  napi_value r;
  napi_create_double(env, (double)v, &r);
  return r;
}

static napi_value strv(napi_env env, const char *s) {
  napi_value r;
  napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value bufv(napi_env env, const void *data, size_t len) {
  napi_value r;
  void *out;
  napi_create_buffer_copy(env, len, data ? data : "", &out, &r);
  return r;
}

static void free_external(napi_env env, void *data, void *hint) {
  int64_t ignored;
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, &ignored);
  free(data);
}

/*
 * A Buffer over `data` (malloc'd, len bytes), freed when the Buffer is collected: write's bytes
 * reach JavaScript without a second copy, and read's buffer costs no JavaScript allocation. V8 is
 * told of the memory, so it collects these as it would its own.
 */
static napi_value external(napi_env env, void *data, size_t len) {
  napi_value r;
  int64_t ignored;
  if (napi_create_external_buffer(env, len, data, free_external, (void *)(uintptr_t)len, &r) != napi_ok) {
    napi_value copy = bufv(env, data, len);
    free(data);
    return copy;
  }
  napi_adjust_external_memory(env, (int64_t)len, &ignored);
  return r;
}

static uint64_t now_real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* setattr's changes: { mode?, uid?, gid?, size?, atimeNs?, mtimeNs? } (times as bigint ns; "now" resolved here). */
static napi_value setattr_value(napi_env env, struct jreq *r) {
  napi_value o, v;
  napi_create_object(env, &o);
  const struct stat *a = &r->attr;
  if (r->to_set & FUSE_SET_ATTR_MODE) napi_set_named_property(env, o, "mode", u64v(env, a->st_mode));
  if (r->to_set & FUSE_SET_ATTR_UID) napi_set_named_property(env, o, "uid", u64v(env, a->st_uid));
  if (r->to_set & FUSE_SET_ATTR_GID) napi_set_named_property(env, o, "gid", u64v(env, a->st_gid));
  if (r->to_set & FUSE_SET_ATTR_SIZE) napi_set_named_property(env, o, "size", u64v(env, (uint64_t)a->st_size));
  if (r->to_set & FUSE_SET_ATTR_ATIME) {
    int64_t ns = r->to_set & FUSE_SET_ATTR_ATIME_NOW ? (int64_t)now_real_ns() : (int64_t)a->st_atim.tv_sec * 1000000000 + a->st_atim.tv_nsec;
    napi_create_bigint_int64(env, ns, &v);
    napi_set_named_property(env, o, "atimeNs", v);
  }
  if (r->to_set & FUSE_SET_ATTR_MTIME) {
    int64_t ns = r->to_set & FUSE_SET_ATTR_MTIME_NOW ? (int64_t)now_real_ns() : (int64_t)a->st_mtim.tv_sec * 1000000000 + a->st_mtim.tv_nsec;
    napi_create_bigint_int64(env, ns, &v);
    napi_set_named_property(env, o, "mtimeNs", v);
  }
  return o;
}

static void dispatch(napi_env env, napi_value fn, struct jhandle *h, struct jreq *r) {
  napi_value undef, argv[11];
  napi_get_undefined(env, &undef);
  for (int i = 0; i < 11; i++) argv[i] = undef;
  argv[0] = u64v(env, r->id);
  napi_create_int32(env, r->op, &argv[1]);
  argv[2] = u64v(env, r->caller.uid);
  argv[3] = u64v(env, r->caller.gid);
  argv[4] = u64v(env, (uint64_t)r->caller.pid);
  argv[5] = u64v(env, r->caller.umask);
  argv[6] = strv(env, r->path);
  napi_value *a = &argv[7];
  napi_value fh = r->has_fh ? u64v(env, r->fh) : undef;
  switch (r->op) {
    case OP_GETATTR: a[0] = fh; break;
    case OP_SETATTR: a[0] = fh; a[1] = setattr_value(env, r); break;
    case OP_MKNOD: a[0] = u64v(env, r->mode); a[1] = u64v(env, r->rdev); break;
    case OP_MKDIR: a[0] = u64v(env, r->mode); break;
    case OP_SYMLINK: case OP_LINK: a[0] = strv(env, r->path2); break;
    case OP_RENAME: a[0] = strv(env, r->path2); a[1] = u64v(env, (uint64_t)r->flags); break;
    case OP_OPEN: case OP_OPENDIR: a[0] = i64v(env, r->flags); break;
    case OP_READ: {
      a[0] = fh;
      a[1] = u64v(env, r->size);
      a[2] = i64v(env, r->off);
      /* Callback-style ops fill a buffer they are given: zeroed (what they do not fill is zeros, never old memory). */
      void *mem = jfs_config(h->fs)->read_buffers ? malloc(r->size ? r->size : 1) : NULL;
      if (mem) {
        memset(mem, 0, r->size);
        a[3] = external(env, mem, r->size);
      }
      break;
    }
    case OP_WRITE:
      a[0] = fh;
      /* The request's copy of the bytes becomes the Buffer's (no second copy). */
      a[1] = r->data ? external(env, r->data, r->data_len) : bufv(env, NULL, 0);
      r->data = NULL;
      a[2] = i64v(env, r->off);
      break;
    case OP_FLUSH: case OP_RELEASE: case OP_READDIR: case OP_RELEASEDIR: a[0] = fh; a[1] = i64v(env, r->flags); break;
    case OP_FSYNC: case OP_FSYNCDIR: a[0] = fh; a[1] = i64v(env, r->datasync); break;
    case OP_SETXATTR: a[0] = strv(env, r->name); a[1] = bufv(env, r->data, r->data_len); a[2] = i64v(env, r->flags); break;
    case OP_GETXATTR: a[0] = strv(env, r->name); a[1] = u64v(env, r->size); break;
    case OP_LISTXATTR: a[0] = u64v(env, r->size); break;
    case OP_REMOVEXATTR: a[0] = strv(env, r->name); break;
    case OP_ACCESS: a[0] = i64v(env, r->flags); break;
    case OP_CREATE: a[0] = u64v(env, r->mode); a[1] = i64v(env, r->flags); break;
    case OP_FALLOCATE: a[0] = fh; a[1] = i64v(env, r->flags); a[2] = i64v(env, r->off); a[3] = i64v(env, r->len); break;
    case OP_LSEEK: a[0] = fh; a[1] = i64v(env, r->off); a[2] = i64v(env, r->flags); break;
    default: break;
  }
  if (napi_call_function(env, undef, fn, 11, argv, NULL) != napi_ok) {
    /* The dispatcher threw (it must not): the exception is dropped, the request answered EIO. */
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    struct jreq *c = jfs_claim(h->fs, r->id);
    if (c) jfs_reply_err(h->fs, c, EIO);
  }
}

/*
 * Rounds of taking the queue per wake-up: what arrives while a round is dispatched (the answers of
 * synchronous ops let their callers send the next request at once) is taken without a wake-up of
 * its own. Bounded, so promise answers (microtasks, after this returns) and timers are not held up.
 */
#define BATCH_ROUNDS 8

/* Dispatches a taken list (oldest first), each request in its own handle scope; gives back the list's references. */
static void dispatch_list(napi_env env, napi_value fn, struct jhandle *h, struct jreq *r) {
  for (struct jreq *next; r; r = next) {
    next = r->qnext;
    if (!jreq_answered(r)) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) == napi_ok) {
        dispatch(env, fn, h, r);
        napi_close_handle_scope(env, scope);
      }
    }
    jreq_put(r);
  }
}

/* The JavaScript thread woken (the rescue reader queued, or the watchdog asks): every queued request. */
static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  struct jhandle *h = context;
  if (!env || !h->session) return;
  jsession_seen(h->session);
  for (int round = 0; round < BATCH_ROUNDS; round++) {
    struct jreq *r = jfs_take_batch(h->fs, round == 0);
    if (!r) return;
    dispatch_list(env, fn, h, r);
  }
  if (jfs_batch_end(h->fs)) wake(h);
}

static void wake(void *arg) {
  struct jhandle *h = arg;
  napi_call_threadsafe_function(h->tsfn, NULL, napi_tsfn_nonblocking);
}

/*
 * Reads per poll event: what the clients send while these are answered is read without a wake-up
 * (the poll is level-triggered: what is left is read on the loop's next turn). Bounded, so promise
 * answers (microtasks, when the callback scope closes), timers and I/O are not held up.
 */
#define READS_PER_EVENT 64

static void close_poll(struct jhandle *h);

/*
 * The JavaScript thread reads /dev/fuse (jsfs.c, "Who reads"): each request read is run (its op
 * queues it) and dispatched at once, inside one callback scope, so an op that answers with a value
 * is answered before the next read, and promises settle when the scope closes.
 */
static void on_readable(uv_poll_t *p, int status, int events) {
  struct jhandle *h = p->data;
  if (!h || !h->session) return;
  /* libuv stopped the poll on POLLERR (the connection is gone: the read below says so); else poll again. */
  if (status < 0) uv_poll_start(p, UV_READABLE, on_readable);
  napi_env env = h->env;
  napi_handle_scope hs;
  napi_callback_scope cs = NULL;
  napi_value fn = NULL, resource;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  if (napi_get_reference_value(env, h->dispatch, &fn) != napi_ok || napi_get_reference_value(env, h->resource, &resource) != napi_ok ||
      napi_open_callback_scope(env, resource, h->async, &cs) != napi_ok)
    fn = NULL, cs = NULL;
  jfs_reader_enter(h->fs);
  int ended = 0;
  for (int i = 0; i < READS_PER_EVENT; i++) {
    int rc = jsession_read(h->session);
    if (fn) dispatch_list(env, fn, h, jfs_take_queue(h->fs));
    if (rc < 0) ended = 1;
    if (rc <= 0) break;
  }
  if (jfs_batch_end(h->fs)) wake(h);
  if (cs) napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
  /* The connection is gone (unmounted, aborted): nothing to read again; stopOps frees the rest. */
  if (ended) close_poll(h);
}

static void free_poll(uv_handle_t *p) {
  free(p);
}

static void close_poll(struct jhandle *h) {
  if (!h->poll) return;
  uv_poll_stop(h->poll);
  uv_close((uv_handle_t *)h->poll, free_poll);
  h->poll = NULL;
}

/* After a successful start (the JavaScript thread): the reader's poll. 0, or why not. */
static const char *open_poll(napi_env env, struct jhandle *h, napi_value fn) {
  uv_loop_t *loop;
  napi_value resource, name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return "napi_get_uv_event_loop";
  if (napi_create_reference(env, fn, 1, &h->dispatch) != napi_ok) return "napi_create_reference";
  if (napi_create_object(env, &resource) != napi_ok || napi_create_reference(env, resource, 1, &h->resource) != napi_ok) return "napi_create_object";
  if (napi_create_string_utf8(env, "mountie.native.read", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_async_init(env, resource, name, &h->async) != napi_ok)
    return "napi_async_init";
  h->env = env;
  uv_poll_t *p = calloc(1, sizeof *p);
  if (!p) return "out of memory";
  if (uv_poll_init(loop, p, jsession_fd(h->session)) != 0) {
    free(p);
    return "uv_poll_init";
  }
  p->data = h;
  h->poll = p;
  if (uv_poll_start(p, UV_READABLE, on_readable) != 0) return "uv_poll_start";
  /* Not what keeps the daemon alive (the mount does, in JavaScript). */
  uv_unref((uv_handle_t *)p);
  return NULL;
}

static void drop_reader(napi_env env, struct jhandle *h) {
  close_poll(h);
  if (h->async) napi_async_destroy(env, h->async), h->async = NULL;
  if (h->dispatch) napi_delete_reference(env, h->dispatch), h->dispatch = NULL;
  if (h->resource) napi_delete_reference(env, h->resource), h->resource = NULL;
}

/* ---- start, stop, cancel ---- */

static void drop_keys(napi_env env, struct jhandle *h) {
  for (int k = 0; k < K_COUNT; k++)
    if (h->keys[k]) napi_delete_reference(env, h->keys[k]), h->keys[k] = NULL;
}

static void start_execute(napi_env env, void *data) {
  struct jstart *j = data;
  j->session = jsession_start(j->mountpoint, &j->cfg, j->fsname, j->subtype, j->counters, wake, j->h, j->err, sizeof j->err);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  struct jhandle *h = data;
  if (!h->session) free(h); /* a live session keeps its handle: threads may still wake it */
}

static void start_complete(napi_env env, napi_status status, void *data) {
  struct jstart *j = data;
  napi_value result, counters, external;
  struct jhandle *h = j->h;
  if (j->session) {
    h->session = j->session;
    napi_value fn;
    const char *why = napi_get_reference_value(env, j->fn_ref, &fn) == napi_ok ? open_poll(env, h, fn) : "napi_get_reference_value";
    if (why) {
      /* Nobody could read: the mount is taken down, the start fails. */
      drop_reader(env, h);
      jsession_abort(j->session);
      h->session = NULL;
      j->session = NULL;
      snprintf(j->err, sizeof j->err, "the JavaScript thread cannot poll /dev/fuse: %s", why);
    }
  }
  if (j->session) {
    h->fs = jsession_fs(j->session);
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
    drop_keys(env, h);
    napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort);
    napi_reject_deferred(env, j->deferred, err);
    free(h);
  }
  napi_delete_async_work(env, j->work);
  napi_delete_reference(env, j->fn_ref);
  free(j->mountpoint);
  free(j->fsname);
  free(j->subtype);
  free(j);
}

static napi_value js_start_ops(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise, name, ab, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t;
  if (argc < 3 || napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "startOps(mountpoint, options, dispatch)");
    return NULL;
  }
  struct jstart *j = calloc(1, sizeof *j);
  struct jhandle *h = calloc(1, sizeof *h);
  if (!j || !h) {
    free(j), free(h);
    napi_throw_error(env, "ERR_NATIVE", "out of memory");
    return NULL;
  }
  j->h = h;
  j->mountpoint = str_of(env, argv[0]);
  j->fsname = prop(env, argv[1], "fsname", &v) ? str_of(env, v) : strdup("mountie");
  j->subtype = prop(env, argv[1], "subtype", &v) ? str_of(env, v) : strdup("mountie");
  if (!j->mountpoint || !j->fsname || !j->subtype) {
    free(j->mountpoint), free(j->fsname), free(j->subtype), free(j), free(h);
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mountpoint, fsname and subtype must be strings");
    return NULL;
  }
  j->cfg.attr_timeout = num_opt(env, argv[1], "attrTimeout", 1.0);
  j->cfg.entry_timeout = num_opt(env, argv[1], "entryTimeout", 1.0);
  j->cfg.read_only = num_opt(env, argv[1], "readOnly", 0) != 0;
  j->cfg.allow_other = num_opt(env, argv[1], "allowOther", 0) != 0;
  double deadline = num_opt(env, argv[1], "deadlineMs", 0);
  j->cfg.deadline_ms = deadline >= 0 && deadline <= 86400000 ? (unsigned)deadline : 0;
  j->cfg.read_buffers = num_opt(env, argv[1], "readBuffers", 0) != 0;
  j->cfg.keep_cache = num_opt(env, argv[1], "keepCache", 0) != 0;
  double max_read = num_opt(env, argv[1], "maxRead", 0);
  j->cfg.max_read = max_read >= 4096 && max_read <= (1 << 20) ? (unsigned)max_read : 0;
  /* implemented: the op names the author answers */
  napi_value list;
  bool is = false;
  uint32_t n = 0;
  if (prop(env, argv[1], "implemented", &list) && napi_is_array(env, list, &is) == napi_ok && is) napi_get_array_length(env, list, &n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    char *s = napi_get_element(env, list, i, &e) == napi_ok ? str_of(env, e) : NULL;
    for (int op = 0; s && op < OP_COUNT; op++)
      if (!strcmp(s, op_name(op))) j->cfg.implemented |= 1ull << op;
    free(s);
  }
  void *mem;
  CHECK(napi_create_arraybuffer(env, C_TOTAL * sizeof(uint64_t), &mem, &ab));
  memset(mem, 0, C_TOTAL * sizeof(uint64_t));
  j->counters = mem;
  CHECK(napi_create_reference(env, ab, 1, &j->counters_ref));
  for (int k = 0; k < K_COUNT; k++) {
    napi_value key;
    if (napi_create_string_utf8(env, STAT_KEYS[k], NAPI_AUTO_LENGTH, &key) == napi_ok) napi_create_reference(env, key, 1, &h->keys[k]);
  }
  CHECK(napi_create_reference(env, argv[2], 1, &j->fn_ref));
  CHECK(napi_create_string_utf8(env, "mountie.native.ops", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, h, call_js, &h->tsfn));
  /* Not what keeps the daemon alive (the mount does, in JavaScript). */
  napi_unref_threadsafe_function(env, h->tsfn);
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  CHECK(napi_create_async_work(env, NULL, name, start_execute, start_complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static void stop_execute(napi_env env, void *data) {
  struct jstop *j = data;
  j->rc = jsession_stop(j->h->session, j->timeout_ms);
}

static void stop_complete(napi_env env, napi_status status, void *data) {
  struct jstop *j = data;
  napi_value done;
  struct jhandle *h = j->h;
  h->busy = 0;
  if (j->rc == 0) {
    /* Every worker ended: nothing wakes JavaScript again; a wake-up still queued finds no session. */
    drop_reader(env, h);
    jsession_free(h->session);
    h->session = NULL;
    h->fs = NULL;
    napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
    napi_delete_reference(env, h->counters);
    h->counters = NULL;
    drop_keys(env, h);
  }
  napi_get_boolean(env, j->rc == 0, &done);
  napi_resolve_deferred(env, j->deferred, done);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_stop_ops(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  void *data;
  double timeout;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_external(env, argv[0], &data) != napi_ok || napi_get_value_double(env, argv[1], &timeout) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "stopOps(handle, timeoutMs)");
    return NULL;
  }
  struct jhandle *h = data;
  struct jstop *j = calloc(1, sizeof *j);
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
  CHECK(napi_create_string_utf8(env, "mountie.native.stopOps", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, stop_execute, stop_complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static napi_value js_cancel_ops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "cancelOps(handle)");
    return NULL;
  }
  struct jhandle *h = data;
  unsigned n = h->session && !h->busy ? jsession_cancel(h->session) : 0;
  CHECK(napi_create_uint32(env, n, &result));
  return result;
}

void jsbridge_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"startOps", NULL, js_start_ops, NULL, NULL, NULL, napi_default, NULL},
    {"stopOps", NULL, js_stop_ops, NULL, NULL, NULL, napi_default, NULL},
    {"cancelOps", NULL, js_cancel_ops, NULL, NULL, NULL, napi_default, NULL},
    {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
