/*
 * procScan(root, prefixes, sids[, threads]) → [{ pid, comm, state, ppid, pgrp, sid, startTime }]: the process
 * table as discovery reads it (src/sys/proc-stat-scan.ts), in C. Only `<root>/<pid>/stat` is read:
 * never cmdline or environ, which take the target's mmap lock and can hang on a process wedged on
 * a FUSE mapping. The JavaScript scan pays a readSync/openSync/closeSync round trip, a string and a
 * split per process (~15–60 µs each, 2,000 processes cost `stop` ~100 ms); here each is three
 * syscalls and a parse, and only the processes asked for become JavaScript objects.
 *
 * The stat files are read by two threads, each half of the table, when the table has 256 processes
 * or more and the machine more than one CPU (threads 0 or absent; 1 forces one, 2 forces two): the
 * reads are kernel work a syscall at a time, which two cores do side by side.
 *
 * Which are kept (each process is read once; the choice is made after the whole table is read):
 *   - prefixes empty and sids empty: every process;
 *   - else a process whose comm starts with one of `prefixes` (a daemon marker), one whose session
 *     id is in `sids`, and one whose session id is the pid of a process kept by its prefix (the
 *     members of a marked session leader's session, which stop reads before it signals).
 * The same rule in JavaScript is selectStats() (src/sys/proc-stat-scan.ts): the fallback when the
 * addon does not load, and what test/unit/sys/proc-scan-native.test.ts compares this with.
 *
 * comm is returned as latin1 (its bytes, as the JavaScript scan decodes them); startTime is clock
 * ticks after boot (field 22). A process that exits while we look (ENOENT, ESRCH) or is hidden
 * (EACCES, EPERM) is left out; the root that cannot be opened throws an Error whose code is the
 * errno's name (ENOENT where there is no /proc), as readdirSync does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

napi_value js_proc_scan(napi_env env, napi_callback_info info);

#define MAX_PREFIXES 16
#define MAX_SIDS 256
#define PREFIX_MAX 64

struct pstat {
  int32_t pid, ppid, pgrp, sid;
  double start;
  char state;
  uint8_t comm_len;
  char comm[64];
  uint8_t kept;
  uint8_t valid;
};

static const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EIO: return "EIO";
    default: return "ERR_PROC_SCAN";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char msg[640];
  snprintf(msg, sizeof msg, "%.511s: %s (errno %d)", what, strerror(e), e);
  napi_throw_error(env, errno_name(e), msg);
  return NULL;
}

static napi_value usage(napi_env env) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", "procScan(root: string, prefixes: string[], sids: number[], threads?: 0 | 1 | 2)");
  return NULL;
}

/* Parse one stat line. 0 on success. comm may hold spaces and ')': it ends at the LAST ')'. */
int procscan_parse(const char *buf, size_t len, struct pstat *out) {
  const char *open = memchr(buf, '(', len);
  const char *close = NULL;
  for (const char *p = buf + len; p > buf; p--)
    if (p[-1] == ')') {
      close = p - 1;
      break;
    }
  if (!open || !close || close < open || (size_t)(close - buf) + 3 > len) return -1;
  size_t clen = (size_t)(close - open - 1);
  if (clen > sizeof out->comm) clen = sizeof out->comm;
  memcpy(out->comm, open + 1, clen);
  out->comm_len = (uint8_t)clen;
  const char *p = close + 2; /* ") " then the state letter */
  const char *end = buf + len;
  out->state = *p++;
  /* Fields after the state: index 0 is field 4 (ppid); field 22 (starttime) is index 18. */
  long long v[19];
  for (int i = 0; i < 19; i++) {
    if (p >= end || *p != ' ') return -1;
    p++;
    char *e;
    errno = 0;
    v[i] = strtoll(p, &e, 10);
    if (e == p || errno) return -1;
    p = e;
  }
  out->ppid = (int32_t)v[0];
  out->pgrp = (int32_t)v[1];
  out->sid = (int32_t)v[2];
  out->start = (double)v[18];
  return 0;
}

static int is_gone(int e) { return e == ENOENT || e == ESRCH || e == EACCES || e == EPERM; }

static int set_int(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok ? 0 : -1;
}

/* One half of the table: each pid's stat read into its own slot (valid set when parsed). The first
   hard error stops this half and is kept in *fail; gone and hidden processes are left out. */
struct scan_part {
  int dfd;
  const int32_t *pids;
  struct pstat *ps;
  size_t lo, hi;
  int fail;
};

static void scan_range(struct scan_part *w) {
  char buf[4096];
  for (size_t i = w->lo; i < w->hi; i++) {
    struct pstat *p = &w->ps[i];
    p->valid = 0;
    char path[48];
    snprintf(path, sizeof path, "%d/stat", (int)w->pids[i]);
    int fd = openat(w->dfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (is_gone(errno)) continue;
      w->fail = errno;
      return;
    }
    ssize_t len;
    do len = read(fd, buf, sizeof buf - 1);
    while (len < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (len < 0) {
      if (is_gone(e)) continue;
      w->fail = e;
      return;
    }
    if (procscan_parse(buf, (size_t)len, p) != 0) continue; /* an empty read: it exited meanwhile */
    p->pid = w->pids[i];
    p->valid = 1;
  }
}

static void *scan_thread(void *arg) {
  scan_range(arg);
  return NULL;
}

/* Below this many processes a second thread costs more than it saves. */
#define THREAD_MIN 256

napi_value js_proc_scan(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return usage(env);
  char root[512];
  size_t rlen;
  if (napi_get_value_string_utf8(env, argv[0], root, sizeof root, &rlen) != napi_ok || rlen == 0 || rlen >= sizeof root - 1) return usage(env);
  bool isarr;
  uint32_t npre = 0, nsid = 0;
  if (napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &npre) != napi_ok || npre > MAX_PREFIXES) return usage(env);
  if (napi_is_array(env, argv[2], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[2], &nsid) != napi_ok || nsid > MAX_SIDS) return usage(env);
  /* threads: 0 or absent = chosen here (two on a machine with more than one CPU and a table of
     THREAD_MIN or more); 1 = one; 2 = two whatever the table's size (the tests' fake trees). */
  int32_t threads = 0;
  if (argc >= 4) {
    napi_valuetype t;
    if (napi_typeof(env, argv[3], &t) != napi_ok) return usage(env);
    if (t != napi_undefined && (napi_get_value_int32(env, argv[3], &threads) != napi_ok || threads < 0 || threads > 2)) return usage(env);
  }
  char prefixes[MAX_PREFIXES][PREFIX_MAX];
  size_t prelen[MAX_PREFIXES];
  int32_t sids[MAX_SIDS];
  for (uint32_t i = 0; i < npre; i++) {
    napi_value s;
    if (napi_get_element(env, argv[1], i, &s) != napi_ok || napi_get_value_string_latin1(env, s, prefixes[i], PREFIX_MAX, &prelen[i]) != napi_ok || prelen[i] >= PREFIX_MAX - 1) return usage(env);
  }
  for (uint32_t i = 0; i < nsid; i++) {
    napi_value s;
    if (napi_get_element(env, argv[2], i, &s) != napi_ok || napi_get_value_int32(env, s, &sids[i]) != napi_ok) return usage(env);
  }
  const int all = npre == 0 && nsid == 0;

  int dfd = open(root, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (dfd < 0) return throw_errno(env, errno, root);
  DIR *dir = fdopendir(dfd);
  if (!dir) {
    int e = errno;
    close(dfd);
    return throw_errno(env, e, root);
  }
  /* First the names (getdents is cheap), then the stat files, split between two threads when it
     pays: each read is a few syscalls of kernel work, and with 2,000 processes the scan was the
     largest step of status and stop after Node's start-up (BENCHMARKS.md, issue 18). */
  size_t cap = 512, n = 0;
  int32_t *pids = malloc(cap * sizeof *pids);
  if (!pids) {
    closedir(dir);
    return throw_errno(env, ENOMEM, root);
  }
  int fail = 0;
  for (;;) {
    errno = 0;
    struct dirent *d = readdir(dir);
    if (!d) {
      if (errno) fail = errno;
      break;
    }
    const char *name = d->d_name;
    if (name[0] < '1' || name[0] > '9') continue;
    long pid = 0;
    int digits = 1;
    for (const char *c = name; *c; c++) {
      if (*c < '0' || *c > '9' || pid > 0x3fffffff) {
        digits = 0;
        break;
      }
      pid = pid * 10 + (*c - '0');
    }
    if (!digits) continue;
    if (n == cap) {
      int32_t *more = realloc(pids, 2 * cap * sizeof *pids);
      if (!more) {
        fail = ENOMEM;
        break;
      }
      pids = more;
      cap *= 2;
    }
    pids[n++] = (int32_t)pid;
  }
  struct pstat *ps = fail ? NULL : malloc((n ? n : 1) * sizeof *ps);
  if (!fail && !ps) fail = ENOMEM;
  if (!fail) {
    int two = threads == 2 || (threads == 0 && n >= THREAD_MIN && sysconf(_SC_NPROCESSORS_ONLN) > 1);
    struct scan_part a = {dfd, pids, ps, 0, two ? n / 2 : n, 0}, b = {dfd, pids, ps, a.hi, n, 0};
    pthread_t t;
    int started = two && pthread_create(&t, NULL, scan_thread, &b) == 0;
    scan_range(&a);
    if (started) pthread_join(t, NULL);
    else if (two) scan_range(&b); /* no thread to be had: the second half here */
    fail = a.fail ? a.fail : b.fail;
  }
  free(pids);
  /* Keep the parsed ones, in directory order, and mark those the filter asks for. */
  size_t kept_n = 0;
  for (size_t i = 0; !fail && i < n; i++) {
    if (!ps[i].valid) continue;
    struct pstat *p = &ps[kept_n++];
    if (p != &ps[i]) *p = ps[i];
    p->kept = (uint8_t)all;
    for (uint32_t k = 0; !p->kept && k < npre; k++) p->kept = p->comm_len >= prelen[k] && memcmp(p->comm, prefixes[k], prelen[k]) == 0;
    for (uint32_t k = 0; !p->kept && k < nsid; k++) p->kept = p->sid == sids[k];
  }
  n = kept_n;
  closedir(dir);
  if (fail) {
    free(ps);
    return throw_errno(env, fail, root);
  }
  /* Members of a marked leader's session: its session id is the leader's pid. The marked are few
     (daemons), so they are listed first and every process is checked against that short list. */
  if (!all && npre > 0) {
    int32_t *leaders = malloc((n ? n : 1) * sizeof *leaders);
    if (!leaders) {
      free(ps);
      return throw_errno(env, ENOMEM, root);
    }
    size_t nl = 0;
    for (size_t i = 0; i < n; i++) {
      for (uint32_t k = 0; k < npre; k++)
        if (ps[i].comm_len >= prelen[k] && memcmp(ps[i].comm, prefixes[k], prelen[k]) == 0) {
          leaders[nl++] = ps[i].pid;
          break;
        }
    }
    for (size_t i = 0; i < n && nl > 0; i++)
      for (size_t j = 0; !ps[i].kept && j < nl; j++) ps[i].kept = ps[i].sid == leaders[j];
    free(leaders);
  }
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) {
    free(ps);
    return NULL;
  }
  uint32_t out = 0;
  for (size_t i = 0; i < n; i++) {
    struct pstat *p = &ps[i];
    if (!p->kept) continue;
    napi_value obj, comm, state;
    char st[2] = {p->state, 0};
    if (napi_create_object(env, &obj) != napi_ok || set_int(env, obj, "pid", p->pid) || napi_create_string_latin1(env, p->comm, p->comm_len, &comm) != napi_ok ||
        napi_set_named_property(env, obj, "comm", comm) != napi_ok || napi_create_string_latin1(env, st, 1, &state) != napi_ok || napi_set_named_property(env, obj, "state", state) != napi_ok ||
        set_int(env, obj, "ppid", p->ppid) || set_int(env, obj, "pgrp", p->pgrp) || set_int(env, obj, "sid", p->sid) || set_int(env, obj, "startTime", p->start) || napi_set_element(env, arr, out++, obj) != napi_ok) {
      free(ps);
      return NULL;
    }
  }
  free(ps);
  return arr;
}
