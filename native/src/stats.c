/*
 * Counters shared with JavaScript (plain uint64 slots updated with relaxed atomics), and the
 * per-thread bookkeeping of the request being served: each worker serves one request at a
 * time, so the request's start time and kind live in thread-local storage.
 */
#include "core.h"

#include <errno.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const NAMES[OP_COUNT] = {
  "lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink",
  "rmdir", "symlink", "rename", "link", "open", "read", "write", "flush", "release",
  "fsync", "opendir", "readdir", "readdirplus", "releasedir", "fsyncdir", "statfs",
  "setxattr", "getxattr", "listxattr", "removexattr", "access", "create", "fallocate",
  "copy_file_range", "lseek",
};

#define MAX_HELD 8

/* Requests that change the tree: each success advances the change cursor (as instrument.ts). */
#define BIT(op) (1ull << (op))
static const uint64_t MUTATIONS = BIT(OP_SETATTR) | BIT(OP_MKNOD) | BIT(OP_MKDIR) | BIT(OP_UNLINK) | BIT(OP_RMDIR) |
  BIT(OP_SYMLINK) | BIT(OP_RENAME) | BIT(OP_LINK) | BIT(OP_WRITE) | BIT(OP_CREATE) | BIT(OP_SETXATTR) |
  BIT(OP_REMOVEXATTR) | BIT(OP_FALLOCATE) | BIT(OP_COPY_FILE_RANGE);

struct current {
  struct fs *fs;
  const void *held_key[MAX_HELD];
  int held[MAX_HELD];
  int nheld;
  uint64_t t0;
  int op;
  int entered;
  int own_umask;
  struct caller caller;
  struct slot slot;
};

static __thread struct current cur;

const char *op_name(int op) {
  return op >= 0 && op < OP_COUNT ? NAMES[op] : "?";
}

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void count_add(struct fs *fs, int index, uint64_t n) {
  __atomic_fetch_add(&fs->counters[index], n, __ATOMIC_RELAXED);
}

void stats_thread_exit(void *arg) {
  struct fs *fs = arg;
  ops_thread_exit();
  pthread_mutex_lock(&fs->slots_lock);
  for (struct slot **p = &fs->slots; *p; p = &(*p)->next) {
    if (*p == &cur.slot) {
      *p = cur.slot.next;
      break;
    }
  }
  pthread_mutex_unlock(&fs->slots_lock);
  __atomic_fetch_sub(&fs->counters[C_THREADS], 1, __ATOMIC_RELAXED);
}

/*
 * First request on a worker thread: give the thread its own umask (0), so the mode the kernel
 * sends (already masked with the caller's umask) reaches the source unchanged, without touching
 * the umask of the JavaScript thread (unshare(CLONE_FS) splits cwd/root/umask per thread).
 */
void thread_enter(struct fs *fs) {
  if (cur.entered) return;
  cur.entered = 1;
  if (unshare(CLONE_FS) == 0) {
    umask(0);
    cur.own_umask = 1;
  }
  /* Else the process umask applies on top; ops.c then restores the mode it was asked for. */
  __atomic_fetch_add(&fs->counters[C_THREADS], 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&fs->slots_lock);
  cur.slot.next = fs->slots;
  fs->slots = &cur.slot;
  pthread_mutex_unlock(&fs->slots_lock);
  pthread_setspecific(fs->thread_key, fs);
}


int thread_own_umask(void) {
  return cur.own_umask;
}

int op_begin(req_t req, struct fs *fs, enum op_kind op) {
  if (!cur.entered) thread_enter(fs);
  /* Every request starts with the daemon's own credentials, whatever the one before did. */
  creds_leave(fs);
  cur.fs = fs;
  cur.op = op;
  cur.t0 = now_ns();
  /*
   * Everything the op needs from the request is copied now, while the request is certainly
   * alive: once the slot is active the watchdog may answer it, and libfuse then frees it.
   */
  const struct fuse_ctx *ctx = &req->ctx;
  cur.caller = (struct caller){.uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid, .umask = ctx->umask};
  /* forget has no answer to send: it is never timed out. */
  /* The watchdog reads these racing with us (a seqlock on `word`): atomics, published by the store below. */
  __atomic_store_n(&cur.slot.req, req, __ATOMIC_RELAXED);
  /* Where the watchdog sends its answer: a copy, as `req` dies with this op (libfuse frees it once answered). */
  __atomic_store_n(&cur.slot.to.own, req->to.own, __ATOMIC_RELAXED);
  __atomic_store_n(&cur.slot.to.lf, req->to.lf, __ATOMIC_RELAXED);
  __atomic_store_n(&cur.slot.to.unique, req->to.unique, __ATOMIC_RELAXED);
  __atomic_store_n(&cur.slot.node, NULL, __ATOMIC_RELAXED);
  cur.slot.held = NULL;
  __atomic_store_n(&cur.slot.answerable, op != OP_FORGET, __ATOMIC_RELAXED);
  __atomic_store_n(&cur.slot.deadline_ns, fs->cfg.deadline_ms && op != OP_FORGET ? cur.t0 + (uint64_t)fs->cfg.deadline_ms * 1000000u : 0, __ATOMIC_RELAXED);
  uint64_t gen = (__atomic_load_n(&cur.slot.word, __ATOMIC_RELAXED) >> 2) + 1;
  __atomic_store_n(&cur.slot.word, gen << 2 | SLOT_ACTIVE, __ATOMIC_RELEASE);
  __atomic_fetch_add(&fs->counters[C_INFLIGHT], 1, __ATOMIC_RELAXED);
  /* After cancel nothing reaches the source; releases still close what they hold. */
  if (__atomic_load_n(&fs->cancelled, __ATOMIC_ACQUIRE) && op != OP_FORGET && op != OP_RELEASE && op != OP_RELEASEDIR) {
    if (op_claim()) send_err(req, EIO);
    op_end(EIO);
    return 0;
  }
  return 1;
}

const struct caller *op_caller(void) {
  return &cur.caller;
}

int op_as_caller(void) {
  return creds_enter(cur.fs, &cur.caller);
}

int op_target(struct fs *fs, struct node *n) {
  /* Published for the watchdog, which reads it without the worker's help. */
  __atomic_store_n(&cur.slot.node, n, __ATOMIC_RELEASE);
  if (!n || __atomic_load_n(&n->stuck, __ATOMIC_ACQUIRE) == 0) return 1;
  if (op_claim()) send_err(__atomic_load_n(&cur.slot.req, __ATOMIC_RELAXED), ETIMEDOUT);
  __atomic_fetch_add(&fs->counters[C_TIMED_OUT], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&fs->counters[C_FAST_FAILED], 1, __ATOMIC_RELAXED);
  op_end(ETIMEDOUT);
  return 0;
}

int held_fd(const void *key) {
  for (int i = 0; i < cur.nheld; i++)
    if (cur.held_key[i] == key) return cur.held[i];
  return -1;
}

/* Returns fd, or -1 (EMFILE) when this request holds too many already (closing fd). */
int hold_fd(const void *key, int fd) {
  if (cur.nheld == MAX_HELD) {
    close(fd);
    errno = EMFILE;
    return -1;
  }
  cur.held_key[cur.nheld] = key;
  cur.held[cur.nheld++] = fd;
  return fd;
}

int op_claim(void) {
  uint64_t w = __atomic_load_n(&cur.slot.word, __ATOMIC_ACQUIRE);
  if ((w & 3) == SLOT_ACTIVE && __atomic_compare_exchange_n(&cur.slot.word, &w, (w & ~3ull) | SLOT_CLAIMED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 1;
  return (w & 3) == SLOT_CLAIMED; /* claimed before by this worker: still ours */
}

/* Answers `err` to every request in flight that is past `now` (all answerable ones when `all`). */
static unsigned expire(struct fs *fs, uint64_t now, int all, int err) {
  unsigned n = 0;
  pthread_mutex_lock(&fs->slots_lock);
  for (struct slot *s = fs->slots; s; s = s->next) {
    uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
    if ((w & 3) != SLOT_ACTIVE) continue;
    struct req_to to = {
      .own = __atomic_load_n(&s->to.own, __ATOMIC_RELAXED),
      .lf = __atomic_load_n(&s->to.lf, __ATOMIC_RELAXED),
      .unique = __atomic_load_n(&s->to.unique, __ATOMIC_RELAXED),
    };
    uint64_t deadline = __atomic_load_n(&s->deadline_ns, __ATOMIC_RELAXED);
    int answerable = __atomic_load_n(&s->answerable, __ATOMIC_RELAXED);
    /* `to` and the deadline belong to generation w only if the word is still w after reading them. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->word, __ATOMIC_ACQUIRE) != w || !answerable) continue;
    if (!all && (!deadline || now < deadline)) continue;
    if (!__atomic_compare_exchange_n(&s->word, &w, (w & ~3ull) | SLOT_TIMED_OUT, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
    /*
     * Until its worker returns, new requests on the node fail fast. Held before the answer (the
     * kernel cannot forget a node while a request on it is unanswered), and under slots_lock,
     * which op_end takes before letting go: the worker never undoes what is not done yet. The
     * node read here may be NULL while the worker is about to publish one (op_target): what
     * op_end gives back is `held`, what was really taken here, never the slot's node.
     */
    struct node *node = __atomic_load_n(&s->node, __ATOMIC_ACQUIRE);
    s->held = node;
    if (node) {
      node_hold(fs, node);
      __atomic_fetch_add(&node->stuck, 1, __ATOMIC_RELEASE);
    }
    send_err_to(&to, err);
    n++;
    if (err == ETIMEDOUT) __atomic_fetch_add(&fs->counters[C_TIMED_OUT], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fs->counters[C_STUCK], 1, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&fs->slots_lock);
  return n;
}

void slots_expire(struct fs *fs, uint64_t now) {
  expire(fs, now, 0, ETIMEDOUT);
}

unsigned slots_cancel(struct fs *fs) {
  __atomic_store_n(&fs->cancelled, 1, __ATOMIC_RELEASE);
  return expire(fs, 0, 1, EIO);
}

void op_end(int err) {
  while (cur.nheld > 0) close(cur.held[--cur.nheld]);
  struct fs *fs = cur.fs;
  if (!fs) return;
  creds_leave(fs);
  uint64_t w = __atomic_load_n(&cur.slot.word, __ATOMIC_ACQUIRE);
  if ((w & 3) == SLOT_ACTIVE) {
    /* Ended without an answer (none was due): make sure the watchdog cannot answer it now. */
    if (!__atomic_compare_exchange_n(&cur.slot.word, &w, (w & ~3ull) | SLOT_CLAIMED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) w = __atomic_load_n(&cur.slot.word, __ATOMIC_ACQUIRE);
  }
  if ((w & 3) == SLOT_TIMED_OUT) {
    /* The watchdog answered this one: the worker is free again, and so is its node. */
    pthread_mutex_lock(&fs->slots_lock);
    struct node *node = cur.slot.held;
    cur.slot.held = NULL;
    if (node) __atomic_fetch_sub(&node->stuck, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fs->slots_lock);
    if (node) node_forget(fs, node, 1);
    __atomic_fetch_sub(&fs->counters[C_STUCK], 1, __ATOMIC_RELAXED);
    err = ETIMEDOUT;
  } else if (!err && ((MUTATIONS >> cur.op) & 1)) {
    __atomic_fetch_add(&fs->counters[C_CHANGES], 1, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&cur.slot.node, NULL, __ATOMIC_RELAXED);
  __atomic_store_n(&cur.slot.word, (w & ~3ull) | SLOT_IDLE, __ATOMIC_RELEASE);
  uint64_t us = (now_ns() - cur.t0) / 1000u;
  int b = 0;
  while (us > 0 && b < LAT_BUCKETS - 1) {
    us >>= 1;
    b++;
  }
  __atomic_fetch_add(&fs->counters[C_OPS + cur.op], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&fs->counters[C_LAT + b], 1, __ATOMIC_RELAXED);
  if (err) __atomic_fetch_add(&fs->counters[C_ERRORS], 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(&fs->counters[C_INFLIGHT], 1, __ATOMIC_RELAXED);
  cur.fs = NULL;
}
