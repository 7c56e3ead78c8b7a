/*
 * One mount: the session, its mount, and the thread that runs libfuse's multithreaded loop.
 * Unmounting is the caller's job (JavaScript, with fusermount and its own checks): the loop
 * ends when the kernel closes the connection; session_stop then joins it (libfuse joins its
 * workers before the loop returns) and frees everything.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct session {
  struct fs fs;
  struct fuse_session *se; /* libfuse's session, or NULL: */
  struct own *own;         /* our own (MOUNTIE_SESSION=own) */
  pthread_t loop;
  int loop_result;
  int key_made;
  int nodes_made;
  int handles_made;
  int slots_made;
  pthread_t watchdog;
  int watchdog_started;
  int stopping;             /* atomic */
  pthread_mutex_t wd_lock;
  pthread_cond_t wd_wake;
};

/* Answers ETIMEDOUT to requests past their deadline, checking 4 times per deadline (≤ 50 ms apart). */
static void *run_watchdog(void *arg) {
  struct session *s = arg;
  pthread_setname_np(pthread_self(), "mountie-fuse");
  unsigned step_ms = s->fs.cfg.deadline_ms / 4;
  if (step_ms > 50) step_ms = 50;
  if (step_ms < 1) step_ms = 1;
  pthread_mutex_lock(&s->wd_lock);
  while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)step_ms * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->wd_wake, &s->wd_lock, &until);
    pthread_mutex_unlock(&s->wd_lock);
    slots_expire(&s->fs, now_ns());
    pthread_mutex_lock(&s->wd_lock);
  }
  pthread_mutex_unlock(&s->wd_lock);
  return NULL;
}

static void stop_watchdog(struct session *s) {
  if (!s->watchdog_started) return;
  pthread_mutex_lock(&s->wd_lock);
  __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
  pthread_cond_signal(&s->wd_wake);
  pthread_mutex_unlock(&s->wd_lock);
  pthread_join(s->watchdog, NULL);
  s->watchdog_started = 0;
}

static void *run_loop(void *arg) {
  struct session *s = arg;
  /* Workers inherit the name: /proc/<pid>/task/<tid>/comm shows every thread of the data path. */
  pthread_setname_np(pthread_self(), "mountie-fuse");
  /* One reader at a time, at most max_threads workers, idle ones kept (loop.c). */
  s->loop_result = loop_run(s->se, s->own, s->fs.cfg.max_threads);
  /* JavaScript's mount watch reads this: a session ended under a live mount (an abort) is a lost mount. */
  __atomic_store_n(&s->fs.counters[C_LOOP_ENDED], 1, __ATOMIC_RELEASE);
  return NULL;
}

/*
 * Every inode the kernel holds costs one O_PATH fd: a `find` over 20k entries needs 20k fds.
 * Raise the soft limit to 1 Mi (the hard one too when allowed: root), else to the hard limit.
 */
static size_t raise_fd_limit(void) {
  const rlim_t want = (rlim_t)1 << 20;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur >= want) return (size_t)rl.rlim_cur;
  struct rlimit up = {want, rl.rlim_max > want ? rl.rlim_max : want};
  if (setrlimit(RLIMIT_NOFILE, &up) == 0) return (size_t)want;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return (size_t)rl.rlim_cur;
}

/*
 * Nodes past the fd budget keep a file handle only where it can be opened again: open_by_handle_at
 * needs CAP_DAC_READ_SEARCH (a daemon that is not root, or a container's root, may lack it), and
 * some file systems have no handles. Probed once on the source's root; without it every node
 * keeps its fd (bounded by RLIMIT_NOFILE instead).
 */
static int handles_work(int root_fd, int mount_fd) {
  struct {
    struct file_handle h;
    unsigned char bytes[MAX_HANDLE_SZ];
  } b;
  b.h.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(root_fd, "", &b.h, &mount_id, AT_EMPTY_PATH) == -1) return 0;
  int fd = open_by_handle_at(mount_fd, &b.h, O_PATH | O_CLOEXEC);
  if (fd == -1) return 0;
  close(fd);
  return 1;
}

static void free_session(struct session *s) {
  stop_watchdog(s);
  watch_stop(&s->fs); /* before the table and the session it uses */
  if (s->slots_made) {
    pthread_mutex_destroy(&s->fs.slots_lock);
    pthread_mutex_destroy(&s->wd_lock);
    pthread_cond_destroy(&s->wd_wake);
  }
  if (s->se) fuse_session_destroy(s->se);
  own_close(s->own);
  if (s->handles_made) handles_destroy(&s->fs.handles); /* what the kernel never released (an aborted connection) */
  if (s->nodes_made) nodes_destroy(&s->fs.nodes);
  if (s->fs.root.fd >= 0) close(s->fs.root.fd);
  if (s->fs.mount_fd >= 0) close(s->fs.mount_fd);
  free(s->fs.groups);
  if (s->key_made) pthread_key_delete(s->fs.thread_key);
  free(s);
}

static struct session *fail(struct session *s, char *err, size_t errlen, const char *what, int code) {
  snprintf(err, errlen, "%s: %s", what, strerror(code));
  free_session(s);
  return NULL;
}

/* The session's file system and tables, before any mount or thread: session_start's first half, and an adopted session's (handover.c). */
struct session *session_prepare(const char *source, const struct config *cfg, uint64_t *counters, char *err, size_t errlen) {
  struct session *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  /* fd 0 is a valid fd (a daemon started with stdin closed): "none" is -1 from the start. */
  s->fs.root.fd = -1;
  s->fs.root.wd = -1;
  s->fs.mount_fd = -1;
  s->fs.cfg = *cfg;
  s->fs.counters = counters;
  /* Half the fds for nodes; the rest for open files (one each), pipes, and JavaScript. */
  s->fs.nodes.fd_budget = s->fs.cfg.fd_budget ? s->fs.cfg.fd_budget : raise_fd_limit() / 2;
  s->fs.uid = geteuid();
  s->fs.gid = getegid();
  /* The daemon's own supplementary groups, put back after every request served with a caller's. */
  int ng = getgroups(0, NULL);
  if (ng < 0) return fail(s, err, errlen, "getgroups", errno);
  s->fs.groups = calloc((size_t)ng + 1, sizeof *s->fs.groups);
  if (!s->fs.groups) return fail(s, err, errlen, "getgroups", ENOMEM);
  ng = getgroups(ng, s->fs.groups);
  if (ng < 0) return fail(s, err, errlen, "getgroups", errno);
  s->fs.ngroups = (size_t)ng;
  s->fs.root.fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->fs.root.fd == -1) return fail(s, err, errlen, "open source", errno);
  s->fs.mount_fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->fs.mount_fd == -1) return fail(s, err, errlen, "open source", errno);
  struct stat st;
  if (fstat(s->fs.root.fd, &st) == -1) return fail(s, err, errlen, "stat source", errno);
  s->fs.handles_ok = handles_work(s->fs.root.fd, s->fs.mount_fd);
  s->fs.root.ino = st.st_ino;
  s->fs.root.dev = st.st_dev;
  s->fs.root_remote = remote_fs(s->fs.mount_fd); /* once: backing.c asks it per open */
  s->fs.root.type = S_IFDIR;
  s->fs.root.nlookup = 2;
  pthread_mutex_init(&s->fs.slots_lock, NULL);
  pthread_mutex_init(&s->wd_lock, NULL);
  pthread_cond_init(&s->wd_wake, NULL);
  s->slots_made = 1;
  int rc = nodes_init(&s->fs.nodes, &s->fs.root);
  if (rc) return fail(s, err, errlen, "inode table", rc);
  s->nodes_made = 1;
  rc = handles_init(&s->fs.handles);
  if (rc) return fail(s, err, errlen, "file handle table", rc);
  s->handles_made = 1;
  rc = pthread_key_create(&s->fs.thread_key, stats_thread_exit);
  if (rc) return fail(s, err, errlen, "thread key", rc);
  s->key_made = 1;
  return s;
}

struct session *session_start(const char *mountpoint, const char *source, const struct config *cfg, const char *fsname, const char *subtype, uint64_t *counters, char *err, size_t errlen) {
  struct session *s = session_prepare(source, cfg, counters, err, errlen);
  if (!s) return NULL;
  int rc;
  char opts[512];
  int n = snprintf(opts, sizeof opts, "fsname=%s,subtype=%s,default_permissions%s%s", fsname, subtype,
                   cfg->allow_other ? ",allow_other" : "", cfg->read_only ? ",ro" : "");
  if (n < 0 || (size_t)n >= sizeof opts) return fail(s, err, errlen, "mount options", E2BIG);
  const char *what;
  int code;
  /*
   * Which session serves the mount, chosen per start (docs/ARCHITECTURE.md, "FUSE session
   * layer"): our own (own.c) by default since 2026-12-08; MOUNTIE_SESSION=libfuse is libfuse
   * 3.14's, as before (splice is libfuse's only).
   */
  const char *kind = getenv("MOUNTIE_SESSION");
  if (!kind || strcmp(kind, "libfuse") != 0) {
    s->own = own_open(&s->fs, mountpoint, fsname, subtype, &what, &code);
    if (!s->own) return fail(s, err, errlen, what, code);
    s->fs.own = s->own;
    __atomic_store_n(&s->fs.counters[C_SESSION], SESSION_OWN, __ATOMIC_RELAXED);
  } else {
    s->se = session_open(mountpoint, opts, &mountie_ops, sizeof mountie_ops, &s->fs, &what, &code);
    if (!s->se) return fail(s, err, errlen, what, code);
    s->fs.se = s->se;
    __atomic_store_n(&s->fs.counters[C_SESSION], SESSION_LIBFUSE, __ATOMIC_RELAXED);
  }
  rc = session_run(s);
  if (rc) {
    if (s->se) fuse_session_unmount(s->se);
    else own_unmount(s->own);
    return fail(s, err, errlen, "start loop thread", rc);
  }
  return s;
}

/* The watcher, the watchdog and the loop: the session serves from here on. 0 or an errno (nothing started then). */
int session_run(struct session *s) {
  int rc;
  sigset_t old;
  threads_mask(&old); /* loop.c: the threads take no signal but their own faults */
  /* The notifier too. Not watched (a remote source, no inotify, the root refused): every reply keeps the configured timeouts, as before. */
  /* A carried table's directories too (handover.c); a new one holds only the root, watched by watch_start. */
  if (s->fs.cfg.watch_timeout > 0 && watch_start(&s->fs) == 0) nodes_watch_all(&s->fs);
  rc = s->fs.cfg.deadline_ms ? pthread_create(&s->watchdog, NULL, run_watchdog, s) : 0;
  if (rc == 0) {
    s->watchdog_started = s->fs.cfg.deadline_ms != 0;
    rc = pthread_create(&s->loop, NULL, run_loop, s);
  }
  threads_unmask(&old);
  return rc; /* on failure, free_session stops the watcher and the watchdog */
}

/* Our own session on a connection handed over (own_adopt), before session_run. */
void session_attach_own(struct session *s, struct own *o) {
  s->own = o;
  s->fs.own = o;
  __atomic_store_n(&s->fs.counters[C_SESSION], SESSION_OWN, __ATOMIC_RELAXED);
}

struct own *session_own(struct session *s) {
  return s->own;
}

/* A session that never ran (session_prepare, an adoption given up): freed, nothing unmounted. */
void session_discard(struct session *s) {
  free_session(s);
}

int session_stop(struct session *s, unsigned timeout_ms) {
  /*
   * No fuse_session_exit here: on a live mount it would stop the workers and leave the mount
   * unanswered. The loop ends by itself once the kernel closes the connection (unmount, abort).
   */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int rc = pthread_timedjoin_np(s->loop, NULL, &until);
  if (rc) return rc;
  free_session(s);
  return 0;
}

struct fs *session_fs(struct session *s) {
  return &s->fs;
}

unsigned session_cancel(struct session *s) {
  return slots_cancel(&s->fs);
}
