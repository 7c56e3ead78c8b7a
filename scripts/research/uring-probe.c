/*
 * Probe (not built by CI, not part of the package): FUSE over io_uring against read(2)/writev(2)
 * on /dev/fuse, kernel 6.18, issue 20. Our own minimal FUSE server speaking the kernel protocol
 * (no libfuse), our own mount(2) as root, and an in-process client that times stat() and
 * open+read+close on the mount while the server's threads' CPU time is sampled.
 * Build: gcc -O2 -Wall -Wextra uring-probe.c -luring -lpthread -o uring-probe
 * Run (root; use uring-probe.sh, which sets and restores enable_uring):
 *   ./uring-probe <empty dir> read|read-x|uring|uring-x|uring-handover|uring-stuck-sleep|uring-stuck-fuse [readers=2] [stats=100000] [ios=20000]
 * Output: one line per phase (stat1, stat4, io1, io4), see uring-probe.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuse.h>

/* 7.42+ bits missing from Debian 12's <linux/fuse.h> (7.38); layouts from the kernel's
 * include/uapi/linux/fuse.h (dev_uring.c reads them at these offsets). */
#define X_FUSE_OVER_IO_URING (1ULL << 41)
#define X_URING_CMD_REGISTER 1
#define X_URING_CMD_COMMIT_AND_FETCH 2
struct x_uring_ent_in_out { uint64_t flags, commit_id; uint32_t payload_sz, padding; uint64_t reserved; };
struct x_uring_req_header { char in_out[128]; char op_in[128]; struct x_uring_ent_in_out ent; };
struct x_uring_cmd_req { uint64_t flags, commit_id; uint16_t qid; uint8_t padding[6]; };
struct x_init_out { uint32_t major, minor, max_readahead, flags; uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran; uint16_t max_pages, map_alignment; uint32_t flags2, max_stack_depth;
  uint16_t request_timeout, unused[11]; };

#define MAX_WRITE (128 * 1024)
#define MAX_PAGES 32
#define PAYLOAD_SZ (MAX_PAGES * 4096) /* >= the kernel's max(8192, max_write, max_pages * PAGE_SIZE) */
#define RING_DEPTH 4                  /* entries per queue; the kernel sets no limit */
#define FILE_SIZE 4096

static int fuse_fd = -1, use_uring, kernel_offers_uring, ring_ready;
static int cross_thread; /* uring-x / read-x: replies sent by another thread than the one that took the request */
static int handover;     /* uring-handover: a second ring takes over from a closed first one */
static int stuck_kind;   /* uring-stuck-sleep (1) / uring-stuck-fuse (2): a queue's thread blocked in an op */
static char hang_path[4200];
static const char *mnt;
static long counts[64], via_ring, via_read;          /* requests served, by opcode and by transport */
static pthread_t srv_threads[64]; static int n_srv;   /* every server thread, for CPU sampling */
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what) { perror(what); umount2(mnt, MNT_DETACH); _exit(1); }
static void add_srv_thread(pthread_t t) { pthread_mutex_lock(&srv_mu); srv_threads[n_srv++] = t; pthread_mutex_unlock(&srv_mu); }
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }

static void fill_attr(struct fuse_attr *a, uint64_t ino) {
  memset(a, 0, sizeof *a); a->ino = ino; a->blksize = 4096;
  if (ino == FUSE_ROOT_ID) { a->mode = S_IFDIR | 0755; a->nlink = 2; }
  else { a->mode = S_IFREG | 0644; a->nlink = 1; a->size = FILE_SIZE; a->blocks = FILE_SIZE / 512; }
}

/* Size of an opcode's fixed header: read(2) delivers it right after fuse_in_header; the ring puts
 * it in op_in and whatever follows (a LOOKUP's name) in the payload buffer. */
static size_t op_header_size(uint32_t op) {
  switch (op) {
  case FUSE_GETATTR: return sizeof(struct fuse_getattr_in);
  case FUSE_OPEN: case FUSE_OPENDIR: return sizeof(struct fuse_open_in);
  case FUSE_READ: case FUSE_READDIR: return sizeof(struct fuse_read_in);
  case FUSE_RELEASE: case FUSE_RELEASEDIR: return sizeof(struct fuse_release_in);
  case FUSE_FLUSH: return sizeof(struct fuse_flush_in);
  default: return 0; /* LOOKUP: the name is all there is */
  }
}

/* One request: fills out (up to PAYLOAD_SZ), returns the payload length or a negative errno;
 * NO_REPLY for FORGET and friends. Shared by both transports, so only the transport differs. */
#define NO_REPLY 1000000
static int handle(const struct fuse_in_header *ih, const void *hdr, const void *payload, char *out) {
  uint32_t op = ih->opcode;
  __atomic_add_fetch(&counts[op < 64 ? op : 0], 1, __ATOMIC_RELAXED);
  switch (op) {
  case FUSE_LOOKUP: {
    if (stuck_kind && !strcmp(payload, "hang")) { /* 3 s interruptible, or a killable wait on a FUSE request */
      struct stat st; if (stuck_kind == 1) usleep(3000 * 1000); else stat(hang_path, &st);
      return -ENOENT; }
    if (ih->nodeid != FUSE_ROOT_ID || strcmp(payload, "f")) return -ENOENT;
    struct fuse_entry_out *e = (void *)out; memset(e, 0, sizeof *e);
    e->nodeid = 2; e->entry_valid = 3600; e->attr_valid = 0; fill_attr(&e->attr, 2);
    return sizeof *e; }
  case FUSE_GETATTR: {
    struct fuse_attr_out *a = (void *)out; memset(a, 0, sizeof *a);
    a->attr_valid = 0; fill_attr(&a->attr, ih->nodeid); return sizeof *a; }
  case FUSE_OPEN: case FUSE_OPENDIR: {
    struct fuse_open_out *o = (void *)out; memset(o, 0, sizeof *o);
    o->open_flags = op == FUSE_OPEN ? FOPEN_DIRECT_IO : 0; return sizeof *o; }
  case FUSE_READ: {
    const struct fuse_read_in *r = hdr;
    if (r->offset >= FILE_SIZE) return 0;
    uint32_t n = FILE_SIZE - r->offset; if (n > r->size) n = r->size;
    for (uint32_t i = 0; i < n; i++) out[i] = (char)('a' + (r->offset + i) % 26);
    return (int)n; }
  case FUSE_READDIR: {
    const struct fuse_read_in *r = hdr; static const char *names[] = {".", "..", "f"};
    static const uint64_t inos[] = {1, 1, 2}; static const uint32_t types[] = {4, 4, 8};
    size_t len = 0;
    for (uint64_t i = r->offset; i < 3; i++) {
      struct fuse_dirent *d = (void *)(out + len); size_t nl = strlen(names[i]);
      size_t sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
      if (len + sz > r->size) break;
      memset(d, 0, sz); d->ino = inos[i]; d->off = i + 1; d->namelen = nl; d->type = types[i];
      memcpy(d->name, names[i], nl); len += sz;
    }
    return (int)len; }
  case FUSE_STATFS: {
    struct fuse_statfs_out *s = (void *)out; memset(s, 0, sizeof *s);
    s->st.bsize = s->st.frsize = 4096; s->st.namelen = 255; s->st.files = 2; return sizeof *s; }
  case FUSE_RELEASE: case FUSE_RELEASEDIR: case FUSE_FLUSH: case FUSE_DESTROY: return 0;
  case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_INTERRUPT: return NO_REPLY;
  default: return -ENOSYS;
  }
}

/* ---- read(2)/writev(2) transport ---- */
static int reply_fd(uint64_t unique, int res, const void *out) {
  struct fuse_out_header oh = {.unique = unique, .error = res < 0 ? res : 0};
  struct iovec iov[2] = {{&oh, sizeof oh}, {(void *)out, res > 0 ? (size_t)res : 0}};
  oh.len = sizeof oh + iov[1].iov_len;
  return writev(fuse_fd, iov, res > 0 ? 2 : 1) < 0 ? -errno : 0;
}

static void do_init(const struct fuse_in_header *ih, const struct fuse_init_in *ii) {
  struct x_init_out o; memset(&o, 0, sizeof o);
  uint64_t offered = ii->flags | (ii->flags & FUSE_INIT_EXT ? (uint64_t)ii->flags2 << 32 : 0);
  kernel_offers_uring = !!(offered & X_FUSE_OVER_IO_URING);
  uint64_t want = FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES | FUSE_ASYNC_READ;
  if (use_uring && kernel_offers_uring) want |= X_FUSE_OVER_IO_URING;
  want &= offered;
  o.major = FUSE_KERNEL_VERSION; o.minor = ii->minor < 45 ? ii->minor : 45;
  o.max_readahead = ii->max_readahead; o.flags = (uint32_t)want; o.flags2 = (uint32_t)(want >> 32);
  o.max_background = 16; o.congestion_threshold = 12; o.max_write = MAX_WRITE; o.time_gran = 1;
  o.max_pages = MAX_PAGES;
  fprintf(stderr, "INIT %u.%u offered flags2=0x%x (io_uring %s), answered flags2=0x%x\n", ii->major, ii->minor,
          ii->flags2, kernel_offers_uring ? "offered" : "not offered", o.flags2);
  struct fuse_out_header oh = {.len = sizeof oh + sizeof o, .unique = ih->unique};
  struct iovec iov[2] = {{&oh, sizeof oh}, {&o, sizeof o}};
  if (writev(fuse_fd, iov, 2) < 0) die("INIT reply");
}

static void start_ring(void);
static void xq_push_copy(const char *req, size_t len);
static void *reader(void *arg) {
  (void)arg;
  char *buf = malloc(PAYLOAD_SZ + 4096), *out = malloc(PAYLOAD_SZ);
  for (;;) {
    ssize_t n = read(fuse_fd, buf, PAYLOAD_SZ + 4096);
    if (n < 0) { if (errno == EINTR || errno == ENOENT || errno == EAGAIN) continue; break; } /* ENODEV: unmounted */
    struct fuse_in_header *ih = (void *)buf;
    if (ih->opcode == FUSE_INIT) {
      do_init(ih, (void *)(ih + 1));
      if (use_uring && kernel_offers_uring) start_ring(); /* registering needs fc->initialized: after the reply */
      continue;
    }
    __atomic_add_fetch(&via_read, 1, __ATOMIC_RELAXED);
    if (cross_thread) { xq_push_copy(buf, (size_t)n); continue; } /* read-x: a copy to the replier */
    const char *hdr = (char *)(ih + 1);
    int res = handle(ih, hdr, hdr + op_header_size(ih->opcode), out);
    if (res != NO_REPLY && reply_fd(ih->unique, res, out) < 0 && errno != ENOENT) break;
  }
  free(buf); free(out); return NULL;
}

/* ---- io_uring transport: one queue per possible CPU, its thread pinned to that CPU ---- */
struct ent { struct x_uring_req_header *hdr; char *payload; struct iovec iov[2]; volatile pid_t armed_by; };
struct queue { int qid; struct io_uring ring; struct ent ents[RING_DEPTH]; pthread_t tid; pthread_mutex_t mu; };
static struct queue *queues; static int n_queues, queues_registered; static volatile int ring_stop;
static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER; static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;

static void prep_cmd(struct queue *q, struct ent *e, uint32_t cmd, uint64_t commit_id) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
  if (!sqe) die("no sqe");
  memset(sqe, 0, 128);
  sqe->opcode = IORING_OP_URING_CMD; sqe->fd = fuse_fd; sqe->cmd_op = cmd;
  io_uring_sqe_set_data(sqe, e); e->armed_by = (pid_t)syscall(SYS_gettid);
  if (cmd == X_URING_CMD_REGISTER) { sqe->addr = (uint64_t)(uintptr_t)e->iov; sqe->len = 2; }
  struct x_uring_cmd_req *c = (void *)sqe->cmd; c->qid = q->qid; c->commit_id = commit_id;
}

/* The reply: out header and payload length into the entry's registered buffers, then
 * COMMIT_AND_FETCH. Any thread of the process may do it (the ring is not SINGLE_ISSUER): the
 * queue's lock serialises the SQ between the queue's thread and the replier. */
static void reply_ring(struct queue *q, struct ent *e) {
  struct fuse_in_header *ih = (void *)e->hdr->in_out;
  uint64_t commit_id = e->hdr->ent.commit_id, unique = ih->unique;
  /* handle() writes the reply straight into the registered payload buffer: no copy */
  int res = handle(ih, e->hdr->op_in, e->payload, e->payload);
  struct fuse_out_header *oh = (void *)e->hdr->in_out;
  memset(oh, 0, sizeof *oh); oh->unique = unique; oh->error = res < 0 ? res : 0;
  e->hdr->ent.payload_sz = res > 0 && res != NO_REPLY ? (uint32_t)res : 0;
  pthread_mutex_lock(&q->mu);
  prep_cmd(q, e, X_URING_CMD_COMMIT_AND_FETCH, commit_id);
  if (cross_thread || stuck_kind) io_uring_submit(&q->ring); /* else the queue's next submit_and_wait sends it */
  pthread_mutex_unlock(&q->mu);
}

/* uring-x: a hand-off to one replier thread, as mountie's worker (or its watchdog, through
 * op_claim) answers a request the reader did not run. */
struct item { struct queue *q; struct ent *e; char *req; };
static struct item xq[256]; static unsigned xq_head, xq_tail;
static pthread_mutex_t xq_mu = PTHREAD_MUTEX_INITIALIZER; static pthread_cond_t xq_cv = PTHREAD_COND_INITIALIZER;
static void *replier(void *arg) {
  (void)arg; char *out = malloc(PAYLOAD_SZ);
  for (;;) {
    pthread_mutex_lock(&xq_mu);
    while (xq_head == xq_tail) pthread_cond_wait(&xq_cv, &xq_mu);
    struct item it = xq[xq_head++ % 256];
    pthread_mutex_unlock(&xq_mu);
    if (it.q) { reply_ring(it.q, it.e); continue; }
    struct fuse_in_header *ih = (void *)it.req; const char *hdr = (char *)(ih + 1);
    int res = handle(ih, hdr, hdr + op_header_size(ih->opcode), out);
    if (res != NO_REPLY) reply_fd(ih->unique, res, out);
    free(it.req);
  }
  return NULL;
}
static void xq_push(struct queue *q, struct ent *e) {
  pthread_mutex_lock(&xq_mu); xq[xq_tail++ % 256] = (struct item){q, e, NULL};
  pthread_cond_signal(&xq_cv); pthread_mutex_unlock(&xq_mu);
}
void xq_push_copy(const char *req, size_t len) {
  char *c = malloc(len + 1); memcpy(c, req, len); c[len] = 0;
  pthread_mutex_lock(&xq_mu); xq[xq_tail++ % 256] = (struct item){NULL, NULL, c};
  pthread_cond_signal(&xq_cv); pthread_mutex_unlock(&xq_mu);
}

/* uring-stuck-*: two threads per queue take completions from the same ring (a rescuer beside the
 * queue's thread, as loop.c hands the reading to another worker when one is slow); each commits its
 * own replies at once. Which thread re-armed an entry decides where the kernel's task work puts the
 * next request for it. */
static volatile pid_t stuck_tid, served_armed_by[8]; static volatile int n_served_b;
static void *stuck_loop(void *arg) {
  struct queue *q = arg;
  cpu_set_t set; CPU_ZERO(&set); CPU_SET(q->qid, &set); sched_setaffinity(0, sizeof set, &set);
  for (;;) {
    struct io_uring_cqe *cqe; struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
    pthread_mutex_lock(&q->mu);
    if (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
      struct ent *e = io_uring_cqe_get_data(cqe); int res = cqe->res;
      io_uring_cqe_seen(&q->ring, cqe); pthread_mutex_unlock(&q->mu);
      if (res < 0) return NULL;
      __atomic_add_fetch(&via_ring, 1, __ATOMIC_RELAXED);
      struct fuse_in_header *ih = (void *)e->hdr->in_out;
      if (ih->opcode == FUSE_LOOKUP && !strcmp(e->payload, "hang")) stuck_tid = (pid_t)syscall(SYS_gettid);
      else if (ih->opcode == FUSE_GETATTR && stuck_tid && n_served_b < 8) served_armed_by[n_served_b++] = e->armed_by;
      reply_ring(q, e);
      continue;
    }
    pthread_mutex_unlock(&q->mu);
    io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
  }
}

static void *ring_thread(void *arg) {
  struct queue *q = arg;
  cpu_set_t set; CPU_ZERO(&set); CPU_SET(q->qid, &set);
  if (sched_setaffinity(0, sizeof set, &set)) perror("pin ring thread");
  struct io_uring_params p; memset(&p, 0, sizeof p); p.flags = IORING_SETUP_SQE128;
  int r = io_uring_queue_init_params(RING_DEPTH * 2, &q->ring, &p);
  if (r) { errno = -r; die("io_uring_queue_init"); }
  for (int i = 0; i < RING_DEPTH; i++) {
    struct ent *e = &q->ents[i];
    if (posix_memalign((void **)&e->hdr, 4096, 4096) || posix_memalign((void **)&e->payload, 4096, PAYLOAD_SZ)) die("alloc");
    e->iov[0] = (struct iovec){e->hdr, sizeof *e->hdr}; e->iov[1] = (struct iovec){e->payload, PAYLOAD_SZ};
    prep_cmd(q, e, X_URING_CMD_REGISTER, 0);
  }
  r = io_uring_submit(&q->ring);
  if (r != RING_DEPTH) { errno = r < 0 ? -r : EIO; die("register entries"); }
  pthread_mutex_lock(&ready_mu); queues_registered++; pthread_cond_broadcast(&ready_cv); pthread_mutex_unlock(&ready_mu);
  if (stuck_kind) { pthread_t r; pthread_create(&r, NULL, stuck_loop, q); add_srv_thread(r); return stuck_loop(q); }
  while (!ring_stop) {
    struct io_uring_cqe *cqe;
    if (cross_thread || handover) { /* wait only; the replier submits under the queue's lock */
      struct __kernel_timespec ts = {0, 50 * 1000 * 1000};
      if (!cross_thread) { pthread_mutex_lock(&q->mu); io_uring_submit(&q->ring); pthread_mutex_unlock(&q->mu); }
      r = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
      if (r == -ETIME || r == -EINTR) continue;
    } else r = io_uring_submit_and_wait(&q->ring, 1);
    if (r < 0 && r != -EINTR) break;
    unsigned head, seen = 0; int stop = 0;
    io_uring_for_each_cqe(&q->ring, head, cqe) {
      seen++;
      struct ent *e = io_uring_cqe_get_data(cqe);
      if (cqe->res < 0) { /* -ENOTCONN at unmount/abort: the kernel gives the entries back */
        if (cqe->res != -ENOTCONN) fprintf(stderr, "qid %d: cqe %d (%s)\n", q->qid, cqe->res, strerror(-cqe->res));
        stop = 1; continue;
      }
      __atomic_add_fetch(&via_ring, 1, __ATOMIC_RELAXED);
      if (cross_thread) xq_push(q, e); else reply_ring(q, e);
    }
    io_uring_cq_advance(&q->ring, seen);
    if (stop) break;
  }
  /* Closing the ring cancels its parked commands (fuse_uring_cancel): the kernel keeps the
   * entries but never uses them again. Buffers are freed only after the ring is gone. */
  io_uring_queue_exit(&q->ring);
  for (int i = 0; i < RING_DEPTH; i++) { free(q->ents[i].hdr); free(q->ents[i].payload); }
  return NULL;
}

static int possible_cpus(void) {
  FILE *f = fopen("/sys/devices/system/cpu/possible", "r"); int a = 0, b = 0;
  if (!f) return (int)sysconf(_SC_NPROCESSORS_CONF);
  int n = fscanf(f, "%d-%d", &a, &b); fclose(f);
  return n == 2 ? b + 1 : a + 1;
}

static void start_ring(void) {
  n_queues = possible_cpus(); queues = calloc(n_queues, sizeof *queues); queues_registered = 0; ring_stop = 0;
  for (int i = 0; i < n_queues; i++) {
    queues[i].qid = i; pthread_mutex_init(&queues[i].mu, NULL);
    if (pthread_create(&queues[i].tid, NULL, ring_thread, &queues[i])) die("ring thread");
    add_srv_thread(queues[i].tid);
  }
  pthread_mutex_lock(&ready_mu);
  while (queues_registered < n_queues) pthread_cond_wait(&ready_cv, &ready_mu);
  pthread_mutex_unlock(&ready_mu);
  __atomic_store_n(&ring_ready, 1, __ATOMIC_RELEASE);
}

/* ---- client ---- */
static char fpath[4096];
static long per_thread_ops; static int phase_io;
static void *client(void *arg) {
  (void)arg; struct stat st; char b[FILE_SIZE];
  for (long i = 0; i < per_thread_ops; i++) {
    if (!phase_io) { if (stat(fpath, &st)) die("stat"); continue; }
    int fd = open(fpath, O_RDONLY);
    if (fd < 0) die("open");
    if (read(fd, b, sizeof b) != FILE_SIZE || b[1] != 'b') die("read");
    close(fd);
  }
  return NULL;
}

static double server_cpu_us(void) {
  double s = 0; pthread_mutex_lock(&srv_mu);
  for (int i = 0; i < n_srv; i++) {
    clockid_t c; struct timespec t;
    if (pthread_getcpuclockid(srv_threads[i], &c) == 0 && clock_gettime(c, &t) == 0) s += t.tv_sec * 1e6 + t.tv_nsec / 1e3;
  }
  pthread_mutex_unlock(&srv_mu); return s;
}
static long total_reqs(void) { return __atomic_load_n(&via_read, __ATOMIC_RELAXED) + __atomic_load_n(&via_ring, __ATOMIC_RELAXED); }

static void phase(const char *name, int io, int threads, long ops) {
  pthread_t t[8]; phase_io = io; per_thread_ops = ops / threads;
  long r0 = total_reqs(), ring0 = via_ring; double c0 = server_cpu_us(), w0 = now_us();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, client, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double w = now_us() - w0, c = server_cpu_us() - c0; long reqs = total_reqs() - r0, nops = per_thread_ops * threads;
  printf("transport=%s phase=%s threads=%d ops=%ld reqs=%ld ring_share=%.3f us_per_op=%.2f us_per_req=%.2f srv_cpu_us_per_req=%.2f\n",
         use_uring ? (cross_thread ? "uring-x" : "uring") : (cross_thread ? "read-x" : "read"), name, threads, nops, reqs, reqs ? (double)(via_ring - ring0) / reqs : 0,
         w / nops, w / reqs, c / reqs);
  fflush(stdout);
}

/* uring-handover: the first ring's queues close (as when the daemon that registered them exits
 * after passing /dev/fuse on) and a second set, with new buffers, registers on the same
 * connection. A stat issued in the gap shows what the kernel does with requests meanwhile. */
static volatile int gap_done; static double gap_t0, gap_t1;
static void *gap_stat(void *arg) { (void)arg; struct stat st; int r = stat(fpath, &st); gap_t1 = now_us(); gap_done = r ? -1 : 1; return NULL; }
static void drop_queue_threads(void) {
  ring_stop = 1;
  for (int i = 0; i < n_queues; i++) pthread_join(queues[i].tid, NULL);
  pthread_mutex_lock(&srv_mu);
  int k = 0;
  for (int i = 0; i < n_srv; i++) { int is_q = 0; for (int j = 0; j < n_queues; j++) is_q |= pthread_equal(srv_threads[i], queues[j].tid);
    if (!is_q) srv_threads[k++] = srv_threads[i]; }
  n_srv = k; pthread_mutex_unlock(&srv_mu);
  free(queues); queues = NULL;
}
static void do_handover(void) {
  phase("gen1", 0, 1, 2000);
  drop_queue_threads();
  fprintf(stderr, "handover: first ring closed\n");
  pthread_t g; gap_t0 = now_us(); pthread_create(&g, NULL, gap_stat, NULL);
  usleep(1000 * 1000);
  fprintf(stderr, "handover: stat issued with no ring registered: %s after 1 s\n", gap_done ? "answered" : "still waiting");
  start_ring();
  fprintf(stderr, "handover: second ring registered (%d queues)\n", n_queues);
  for (int i = 0; i < 300 && !gap_done; i++) usleep(10 * 1000);
  fprintf(stderr, "handover: the gap's stat %s\n", gap_done ? (gap_done > 0 ? "answered" : "failed") : "still waiting 3 s after the second ring registered");
  if (gap_done) fprintf(stderr, "handover: the gap's stat took %.0f ms\n", (gap_t1 - gap_t0) / 1000);
  phase("gen2", 0, 1, 2000);
  for (int i = 0; i < 300 && !gap_done; i++) usleep(10 * 1000);
  fprintf(stderr, "handover: after gen2's 2000 stats the gap's stat %s", gap_done ? "answered" : "still waiting\n");
  if (gap_done) fprintf(stderr, " (%.0f ms)\n", (gap_t1 - gap_t0) / 1000);
}

/* uring-stuck-*: a second mount whose server answers LOOKUP after 3 s; a stat() there from the
 * main server's op is a FUSE request the queue's thread waits for (killable, not interruptible). */
static int hang_fd = -1; static char hang_mnt[4096];
static void *hang_server(void *arg) {
  (void)arg; char *buf = malloc(PAYLOAD_SZ + 4096);
  for (;;) {
    ssize_t n = read(hang_fd, buf, PAYLOAD_SZ + 4096);
    if (n < 0) { if (errno == EINTR || errno == ENOENT) continue; break; }
    struct fuse_in_header *ih = (void *)buf; struct fuse_out_header oh = {.len = sizeof oh, .unique = ih->unique};
    struct iovec iov[2] = {{&oh, sizeof oh}, {NULL, 0}}; struct x_init_out o; struct fuse_attr_out a;
    if (ih->opcode == FUSE_INIT) {
      struct fuse_init_in *ii = (void *)(ih + 1); memset(&o, 0, sizeof o);
      o.major = FUSE_KERNEL_VERSION; o.minor = ii->minor < 45 ? ii->minor : 45; o.max_readahead = ii->max_readahead;
      o.max_write = 4096; o.time_gran = 1; o.max_background = 16; o.congestion_threshold = 12;
      iov[1] = (struct iovec){&o, sizeof o};
    } else if (ih->opcode == FUSE_LOOKUP) { sleep(3); oh.error = -ENOENT; }
    else if (ih->opcode == FUSE_GETATTR) { memset(&a, 0, sizeof a); fill_attr(&a.attr, 1); iov[1] = (struct iovec){&a, sizeof a}; }
    else if (ih->opcode == FUSE_FORGET || ih->opcode == FUSE_BATCH_FORGET || ih->opcode == FUSE_INTERRUPT) continue;
    else oh.error = -ENOSYS;
    oh.len += iov[1].iov_len;
    if (writev(hang_fd, iov, iov[1].iov_len ? 2 : 1) < 0 && errno != ENOENT) break;
  }
  free(buf); return NULL;
}
struct pinned { const char *path; int cpu; double ms; };
static void *pinned_stat(void *arg) {
  struct pinned *p = arg; cpu_set_t set; CPU_ZERO(&set); CPU_SET(p->cpu, &set); sched_setaffinity(0, sizeof set, &set);
  struct stat st; double t0 = now_us(); stat(p->path, &st); p->ms = (now_us() - t0) / 1000; return NULL;
}
static double run_pinned(const char *path, int cpu) {
  struct pinned p = {path, cpu, 0}; pthread_t t; pthread_create(&t, NULL, pinned_stat, &p); pthread_join(t, NULL); return p.ms;
}
static void do_stuck(void) {
  snprintf(hang_mnt, sizeof hang_mnt, "%s-hang", mnt); mkdir(hang_mnt, 0755);
  snprintf(hang_path, sizeof hang_path, "%s/x", hang_mnt);
  hang_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  char opts[128]; snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", hang_fd);
  if (hang_fd < 0 || mount("uringprobe-hang", hang_mnt, "fuse.uringprobe", MS_NOSUID | MS_NODEV, opts)) die("hang mount");
  pthread_t h; pthread_create(&h, NULL, hang_server, NULL);
  char hang_here[4200]; snprintf(hang_here, sizeof hang_here, "%s/hang", mnt);
  for (int trial = 1; trial <= 4; trial++) {
    for (int i = 0; i < 50; i++) run_pinned(fpath, 0); /* re-arm queue 0's entries */
    stuck_tid = 0; n_served_b = 0;
    struct pinned a = {hang_here, 0, 0}; pthread_t ta; pthread_create(&ta, NULL, pinned_stat, &a);
    usleep(200 * 1000);
    double b = run_pinned(fpath, 0), c = run_pinned(fpath, 1);
    pthread_join(ta, NULL);
    printf("stuck=%s trial=%d op_blocked_ms=%.0f same_cpu_stat_ms=%.1f other_cpu_stat_ms=%.1f entry_armed_by_blocked_thread=%s\n",
           stuck_kind == 1 ? "sleep" : "fuse", trial, a.ms, b, c,
           n_served_b ? (served_armed_by[0] == stuck_tid ? "yes" : "no") : "unknown");
    fflush(stdout);
  }
  umount2(hang_mnt, MNT_DETACH); rmdir(hang_mnt);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s <empty dir> read|read-x|uring|uring-x|uring-handover|uring-stuck-sleep|uring-stuck-fuse [readers] [stats] [ios]\n", argv[0]); return 2; }
  mnt = argv[1]; use_uring = !strncmp(argv[2], "uring", 5);
  stuck_kind = !strcmp(argv[2], "uring-stuck-sleep") ? 1 : !strcmp(argv[2], "uring-stuck-fuse") ? 2 : 0;
  cross_thread = !strcmp(argv[2], "uring-x") || !strcmp(argv[2], "read-x"); handover = !strcmp(argv[2], "uring-handover");
  int readers = argc > 3 ? atoi(argv[3]) : 2; long stats = argc > 4 ? atol(argv[4]) : 100000, ios = argc > 5 ? atol(argv[5]) : 20000;
  if (use_uring) readers = 1; /* INIT, FORGET, INTERRUPT and requests before the ring is ready still come by read(2) */
  snprintf(fpath, sizeof fpath, "%s/f", mnt);
  /* the replier exists before the mount: the first request may already come by the ring */
  if (cross_thread) { pthread_t t; if (pthread_create(&t, NULL, replier, NULL)) die("replier"); add_srv_thread(t); }
  fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse_fd < 0) die("/dev/fuse");
  char opts[128]; snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fuse_fd);
  if (mount("uringprobe", mnt, "fuse.uringprobe", MS_NOSUID | MS_NODEV, opts)) die("mount");
  for (int i = 0; i < readers; i++) { pthread_t t; if (pthread_create(&t, NULL, reader, NULL)) die("reader"); add_srv_thread(t); }
  struct stat st; if (stat(fpath, &st)) die("first stat"); /* blocks until INIT (and, on uring, the ring) is done */
  if (use_uring && !kernel_offers_uring) { fprintf(stderr, "kernel did not offer FUSE_OVER_IO_URING (enable_uring=N?)\n"); umount2(mnt, MNT_DETACH); return 3; }
  if (handover || stuck_kind) { if (handover) do_handover(); else do_stuck(); umount2(mnt, MNT_DETACH); _exit(0); } /* exit closes /dev/fuse: anything stuck is aborted */
  phase("stat1", 0, 1, stats); phase("stat4", 0, 4, stats);
  phase("io1", 1, 1, ios); phase("io4", 1, 4, ios);
  fprintf(stderr, "served via read(2) %ld, via ring %ld; GETATTR %ld LOOKUP %ld OPEN %ld READ %ld FLUSH %ld RELEASE %ld FORGET %ld\n",
          via_read, via_ring, counts[FUSE_GETATTR], counts[FUSE_LOOKUP], counts[FUSE_OPEN], counts[FUSE_READ],
          counts[FUSE_FLUSH], counts[FUSE_RELEASE], counts[FUSE_FORGET]);
  if (umount2(mnt, 0)) { perror("umount"); umount2(mnt, MNT_DETACH); }
  /* the unmount ends the connection: readers get ENODEV, ring entries complete with -ENOTCONN */
  for (int i = 0; i < n_queues; i++) pthread_join(queues[i].tid, NULL);
  return 0;
}
