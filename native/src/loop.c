/*
 * The session loop: libfuse's multithreaded loop, with one reader at a time. It serves either
 * session (docs/ARCHITECTURE.md, "FUSE session layer"): libfuse's receive/process, or our own's
 * (own.c: read(2) into the worker's buffer, decode, run the op), with the same threads.
 *
 * fuse_session_loop_mt keeps every idle worker blocked in read(/dev/fuse), and the kernel wakes
 * the one that has waited longest for each request: with one client, every request woke a
 * sleeping thread while the worker that had just answered went back to sleep (1.3 context
 * switches per request against bindfs's 0.9, 1.5–2× its CPU; BENCHMARKS.md). Here one worker
 * reads; it serves what it read itself and then reads again, so back-to-back requests often find
 * it awake, as a single-threaded server does. Concurrency stays:
 *   - the loop thread checks every RESCUE_NS while requests are served (it sleeps while idle): one
 *     request served that long with nobody reading (a slow or hung source), or requests queued in
 *     the kernel (parallel clients), hand the reading to one more worker; so a hung source stalls
 *     other requests for about that long, then holds one worker per stuck request, as before, and
 *     a backlog gets one more reader per interval until it clears.
 * Workers are created when a hand-off finds none idle (at most max_threads) and stay until the
 * session ends: the kernel closes the connection (unmount, abort), every reader gets ENODEV,
 * and the loop thread joins them all (a worker blocked in the source keeps the join waiting, as
 * with libfuse's own loop).
 */
#include "core.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

/* How long a request may be served with nobody reading before another worker reads. */
#define RESCUE_NS 1000000ull
/* Idle checks in a row before the loop thread stops checking (no wake-ups while idle). */
#define QUIET_CHECKS 3

struct pool {
  struct fuse_session *se; /* libfuse's session, or NULL: */
  struct own *own;         /* our own (own.c) */
  pthread_mutex_t lock;
  pthread_cond_t idle_wake; /* idle workers */
  pthread_cond_t mon_wake;  /* the loop thread */
  unsigned max;
  unsigned workers;
  unsigned idle;
  int reading;      /* a worker is (or is about to be) in receive */
  unsigned busy;    /* workers serving a request */
  uint64_t taken;   /* requests read so far */
  int mon_asleep;   /* the loop thread waits without a timeout */
  int handoff;      /* one idle worker is asked to read */
  int exiting;
  int error;
  int paused;       /* our own session: nobody reads (loop_pause, issue 21's handover) */
  pthread_cond_t pause_wake; /* the pauser: the last reader or busy worker left */
  pthread_t *threads;
  unsigned char *ended; /* per worker: past its last wait (set under the lock, right before it returns) */
};

static void *worker(void *arg);

/* Lock held. Someone else should read now: an idle worker, else a new one (bounded). */
static void hand_off(struct pool *p) {
  if (p->handoff || p->exiting || p->paused) return;
  if (p->idle > 0) {
    p->handoff = 1;
    pthread_cond_signal(&p->idle_wake);
    return;
  }
  if (p->workers >= p->max) return;
  if (pthread_create(&p->threads[p->workers], NULL, worker, p) == 0) {
    p->workers++;
    p->handoff = 1;
  }
}

static void *worker(void *arg) {
  struct pool *p = arg;
  struct fuse_buf buf = {.mem = NULL};
  /* Our own session: the worker's buffer, allocated at its first read (libfuse allocates its own). */
  char *obuf = NULL;
  size_t ocap = p->own ? own_bufsize() : 0;
  pthread_mutex_lock(&p->lock);
  /* A new worker is started by a hand-off: the reading is its job. */
  for (;;) {
    if (p->exiting || (p->own ? own_exited(p->own) : fuse_session_exited(p->se))) {
      p->exiting = 1;
      pthread_cond_broadcast(&p->idle_wake);
      pthread_cond_broadcast(&p->pause_wake);
      pthread_cond_signal(&p->mon_wake);
      break;
    }
    /* Paused (a handover): nobody reads; requests wait in the kernel until loop_resume or the end. */
    if (p->paused || (p->reading && !p->handoff)) {
      p->idle++;
      pthread_cond_wait(&p->idle_wake, &p->lock);
      p->idle--;
      continue;
    }
    p->handoff = 0; /* asked for a reader (us, or whoever comes first): there is one now */
    p->reading++;
    pthread_mutex_unlock(&p->lock);
    int res;
    if (!p->own) res = fuse_session_receive_buf(p->se, &buf);
    else if (!obuf && !(obuf = malloc(ocap))) res = -ENOMEM;
    else res = own_receive(p->own, obuf, ocap);
    pthread_mutex_lock(&p->lock);
    p->reading--;
    if (p->paused) pthread_cond_broadcast(&p->pause_wake);
    if (res == -EINTR || res == -EAGAIN) continue; /* -EAGAIN: woken by loop_pause */
    if (res <= 0) {
      if (res < 0 && !p->error) p->error = res;
      p->exiting = 1;
      pthread_cond_broadcast(&p->idle_wake);
      pthread_cond_broadcast(&p->pause_wake);
      pthread_cond_signal(&p->mon_wake);
      break;
    }
    p->busy++;
    p->taken++;
    /* Nobody reads while we serve this: the loop thread watches from now on (one wake-up per idle spell). */
    if (!p->reading && p->mon_asleep) pthread_cond_signal(&p->mon_wake);
    pthread_mutex_unlock(&p->lock);
    if (p->own) own_process(p->own, obuf, (size_t)res);
    else fuse_session_process_buf(p->se, &buf);
    pthread_mutex_lock(&p->lock);
    p->busy--;
    if (p->paused) pthread_cond_broadcast(&p->pause_wake);
  }
  /* Under the lock since our creation (hand_off and loop_run hold it around pthread_create): our slot is set. */
  for (unsigned i = 0; i < p->workers; i++)
    if (pthread_equal(p->threads[i], pthread_self())) p->ended[i] = 1;
  pthread_cond_signal(&p->mon_wake); /* the loop thread joins workers as they end */
  pthread_mutex_unlock(&p->lock);
  free(buf.mem);
  free(obuf);
  return NULL;
}

static void deadline_in(struct timespec *t, uint64_t ns) {
  clock_gettime(CLOCK_MONOTONIC, t);
  t->tv_nsec += (long)ns;
  while (t->tv_nsec >= 1000000000L) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000L;
  }
}

/* Requests queued in the kernel that nobody has read yet. */
static int pending(int fd) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  return poll(&pf, 1, 0) > 0 && (pf.revents & POLLIN);
}

int loop_run(struct fuse_session *se, struct own *own, unsigned max_threads) {
  struct pool p = {.se = se, .own = own, .max = max_threads ? max_threads : 1};
  int fd = own ? own_fd(own) : fuse_session_fd(se);
  p.threads = calloc(p.max, sizeof *p.threads);
  p.ended = calloc(p.max, 1);
  if (!p.threads || !p.ended) {
    free(p.threads);
    free(p.ended);
    return -ENOMEM;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&p.lock, NULL);
  pthread_cond_init(&p.idle_wake, NULL);
  pthread_cond_init(&p.mon_wake, &ca);
  pthread_cond_init(&p.pause_wake, &ca);
  pthread_condattr_destroy(&ca);
  if (own) own_attach(own, &p); /* loop_pause finds us from now on */

  pthread_mutex_lock(&p.lock);
  if (pthread_create(&p.threads[0], NULL, worker, &p) == 0) p.workers = 1;
  else p.exiting = 1, p.error = -EAGAIN;
  /* The rescue: a request served for RESCUE_NS while nobody reads gets another reader. */
  uint64_t seen = p.taken;
  unsigned quiet = 0;
  while (!p.exiting) {
    if (quiet >= QUIET_CHECKS) {
      p.mon_asleep = 1;
      pthread_cond_wait(&p.mon_wake, &p.lock);
      p.mon_asleep = 0;
      quiet = 0;
      seen = p.taken;
      continue;
    }
    struct timespec until;
    deadline_in(&until, RESCUE_NS);
    pthread_cond_timedwait(&p.mon_wake, &p.lock, &until);
    if (p.exiting) break;
    /* One request served a whole interval with nobody reading (slow, hung), or a backlog (parallel clients). */
    int stalled = p.busy > 0 && !p.reading && !p.handoff;
    if (stalled && p.taken == seen) hand_off(&p);
    else if (p.busy > 0 && !p.handoff && pending(fd)) hand_off(&p);
    quiet = (!stalled && p.busy == 0) ? quiet + 1 : 0;
    seen = p.taken;
  }
  /*
   * Join the workers as they end, in whatever order: one stuck in a source that never answers
   * must not keep those that ended after it unjoined. A daemon that exits with a worker stuck
   * (by design: session_stop's bounded join) then leaves that one behind and no other.
   */
  unsigned n = p.workers, left = n;
  unsigned char *joined = calloc(n ? n : 1, 1);
  while (joined && left > 0) {
    for (unsigned i = 0; i < n; i++) {
      if (joined[i]) continue;
      /*
       * A worker that marked itself ended only unlocks, frees its buffer and returns: joined at
       * once, without the lock it may still need. It signalled mon_wake before that, so waiting
       * for the next signal (the timed wait below) would sleep the whole 10 ms every time the
       * join came first: measured 8-10 ms of a daemon's ~25 ms shutdown in about half the stops.
       */
      if (p.ended[i]) {
        pthread_mutex_unlock(&p.lock);
        pthread_join(p.threads[i], NULL);
        pthread_mutex_lock(&p.lock);
        joined[i] = 1, left--;
      } else if (pthread_tryjoin_np(p.threads[i], NULL) == 0) joined[i] = 1, left--;
    }
    if (left == 0) break;
    struct timespec until;
    deadline_in(&until, 10 * 1000000ull); /* a worker's last steps after it counted itself ended */
    pthread_cond_timedwait(&p.mon_wake, &p.lock, &until);
  }
  pthread_mutex_unlock(&p.lock);
  if (own) own_attach(own, NULL); /* waits for a loop_pause under way (bounded by its own wait) */
  if (!joined)
    for (unsigned i = 0; i < n; i++) pthread_join(p.threads[i], NULL); /* no memory for the list: in order */
  free(joined);
  free(p.ended);
  int err = p.error;
  pthread_cond_destroy(&p.idle_wake);
  pthread_cond_destroy(&p.mon_wake);
  pthread_cond_destroy(&p.pause_wake);
  pthread_mutex_destroy(&p.lock);
  free(p.threads);
  return err == -ENODEV ? 0 : err;
}

/*
 * Shared by both modes' session starts (session.c, jsfs.c). The loop and its workers never take a
 * signal: they stay with the JavaScript thread. Except the ones a fault raises in the thread
 * itself: blocked, a crash kills the process before any handler runs (node's, a sanitizer's
 * report), with nothing said about where it happened. Threads created until threads_unmask inherit it.
 */
void threads_mask(sigset_t *old) {
  sigset_t all;
  sigfillset(&all);
  static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&all, faults[i]);
  pthread_sigmask(SIG_SETMASK, &all, old);
}

void threads_unmask(const sigset_t *old) {
  pthread_sigmask(SIG_SETMASK, old, NULL);
}

struct fuse_session *session_open(const char *mountpoint, const char *opts, const struct fuse_lowlevel_ops *ops, size_t ops_size, void *userdata, const char **what, int *code) {
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  if (fuse_opt_add_arg(&args, "mountie") || fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts)) {
    fuse_opt_free_args(&args);
    *what = "mount options", *code = ENOMEM;
    return NULL;
  }
  struct fuse_session *se = fuse_session_new(&args, ops, ops_size, userdata);
  fuse_opt_free_args(&args);
  if (!se) {
    *what = "fuse_session_new (see stderr)", *code = EINVAL;
    return NULL;
  }
  if (fuse_session_mount(se, mountpoint) != 0) {
    fuse_session_destroy(se);
    *what = "fuse_session_mount (see stderr)", *code = EIO;
    return NULL;
  }
  return se;
}

/*
 * Pause at a request boundary (our own session; issue 21's handover): no worker takes a new
 * request (a reader blocked in poll is woken through the session's eventfd: own_wake, without
 * consuming a request), the requests already read are served and answered, and whatever arrives
 * meanwhile waits in the kernel. 0 once nobody reads or serves, with *inflight the requests being
 * served when the pause began; ETIMEDOUT: some still served after timeout_ms (the pause stays: the
 * caller resumes); ENODEV: the loop has ended (or never ran).
 */
int loop_pause(struct own *own, unsigned timeout_ms, unsigned *inflight) {
  struct pool *p = own_attached_lock(own);
  if (!p) {
    own_attached_unlock(own);
    return ENODEV;
  }
  struct timespec until;
  deadline_in(&until, (uint64_t)timeout_ms * 1000000ull);
  pthread_mutex_lock(&p->lock);
  p->paused = 1;
  *inflight = p->busy;
  own_wake(own);
  int rc = 0;
  while (!p->exiting && (p->reading > 0 || p->busy > 0) && rc == 0) rc = pthread_cond_timedwait(&p->pause_wake, &p->lock, &until);
  if (p->exiting) rc = ENODEV;
  else if (p->reading > 0 || p->busy > 0) rc = ETIMEDOUT;
  else rc = 0;
  pthread_mutex_unlock(&p->lock);
  own_attached_unlock(own);
  return rc;
}

/* Reading again after loop_pause (a handover refused or failed). */
void loop_resume(struct own *own) {
  struct pool *p = own_attached_lock(own);
  if (p) {
    pthread_mutex_lock(&p->lock);
    own_unwake(own); /* nobody polls while paused: the eventfd is reset before anyone reads again */
    p->paused = 0;
    pthread_cond_broadcast(&p->idle_wake);
    pthread_mutex_unlock(&p->lock);
  }
  own_attached_unlock(own);
}

/*
 * The end of a paused loop whose connection another process now serves (a handover done): every
 * worker ends without reading again, and loop_run returns 0; the connection stays (the fd is
 * closed by session_stop, which ends nothing while the other process holds it).
 */
void loop_end(struct own *own) {
  struct pool *p = own_attached_lock(own);
  if (p) {
    pthread_mutex_lock(&p->lock);
    p->exiting = 1;
    pthread_cond_broadcast(&p->idle_wake);
    pthread_cond_signal(&p->mon_wake);
    pthread_mutex_unlock(&p->lock);
  }
  own_attached_unlock(own);
}
