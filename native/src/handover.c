/*
 * Live handover of our own session to another process (issue 21; docs/ARCHITECTURE.md, "FUSE
 * session layer", "2026-12-08: step 2 for 21"). The old process pauses at a request boundary
 * (loop_pause: every request read is answered, new ones wait in the kernel), then sends over a
 * unix socket (SOCK_SEQPACKET: one message per send, fds attached with SCM_RIGHTS in batches)
 * the /dev/fuse fd, a versioned snapshot (the INIT pair, what must match, both tables slot by
 * slot), every node's O_PATH fd and every open handle's fd, then the caller's own extra fds (the
 * workspace lock's: the new process holds the same open file description, so the same flock).
 * The new process rebuilds the tables so that every node id and file handle the kernel holds
 * names the same object (ids_place), acknowledges, and starts serving only once the old one has
 * committed (or died): two processes never read the connection at once. Without the commit (a
 * refusal, a peer that died or never answered) the old one resumes, and writes FUSE_NOTIFY_RESEND
 * in case the peer read anything.
 *
 * Messages, each one datagram starting with its type:
 *   old → new  HELLO  (struct ho_hello, the /dev/fuse fd attached)
 *   old → new  BODY   the snapshot's bytes in chunks: node generations, handle generations, nodes, handles
 *   old → new  FDS    a batch of fds (count, then the fds attached): node fds in node order, then handle fds
 *   old → new  EXTRA  the caller's own fds (count, then the fds attached; none when HELLO says 0), e.g. the
 *                     workspace lock's: the new process's JavaScript owns them, apart from the tables
 *   new → old  ACK    tables rebuilt, ready to serve; or NAK (a code and a message): refused
 *   old → new  COMMIT the old one serves no more (its loop ended); or ABORT: it resumed, the new one must not serve
 */
#include "core.h"
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HO_MAGIC "MOUNTIEH"
#define HO_VERSION 2u     /* 2: HELLO carries nextra and EXTRA follows the table fds */
#define HO_BATCH 250      /* fds per message: the kernel's SCM_MAX_FD is 253 */
#define HO_CHUNK 65536    /* snapshot bytes per message */
#define HO_TAG 1024       /* the caller's own words about the mount (JavaScript's: fsname, device) */
/* HO_EXTRA, the caller's own fds at most, is in core.h. */

enum { MSG_HELLO = 1, MSG_BODY, MSG_FDS, MSG_ACK, MSG_NAK, MSG_COMMIT, MSG_ABORT, MSG_EXTRA };

struct ho_hello {
  uint32_t type;
  char magic[8];
  uint32_t version;
  uint32_t size;           /* sizeof (struct ho_hello) as the sender built it */
  uint32_t by_fusermount;
  struct fuse_init_in init_in;
  struct fuse_init_out init_out;
  /* What must match: the mount and the INIT answer were made with these. */
  uint32_t read_only, allow_other, rdplus, max_write, max_readahead, want_passthrough;
  uint64_t root_ino, root_dev;
  /* The tables. */
  uint32_t node_next, fh_next, nnodes, nhandles, nfds;
  uint32_t nextra;         /* the caller's own fds, sent after the tables' (MSG_EXTRA), at most HO_EXTRA */
  uint64_t body_size;
  char mountpoint[4096];
  char tag[HO_TAG];
};

struct ho_node {
  uint64_t id, nlookup, ino, dev, backing_caps;
  uint32_t type, hashed, has_fd, handle_bytes;
  int32_t handle_type, backing_id;
  uint32_t backing_refs, plain_opens, backing_uid, backing_gid, covered, pad;
  unsigned char handle[MAX_HANDLE_SZ];
};

struct ho_fh {
  uint64_t id, node;
  int64_t dir_offset;
  uint32_t flags, dir;
};

struct ho_word {
  uint32_t type;
  int32_t code;
  char text[240];
};

static void say(char *err, size_t errlen, const char *fmt, const char *what, int code) {
  snprintf(err, errlen, fmt, what, code ? strerror(code) : "");
}

/* Waits for `events` on fd until `until_ns` (CLOCK_MONOTONIC): 0, ETIMEDOUT, or an errno. */
static int wait_fd(int fd, short events, uint64_t until_ns) {
  for (;;) {
    uint64_t now = now_ns();
    if (now >= until_ns) return ETIMEDOUT;
    struct pollfd pf = {.fd = fd, .events = events};
    int r = poll(&pf, 1, (int)((until_ns - now) / 1000000u) + 1);
    if (r > 0) return 0;
    if (r == -1 && errno != EINTR) return errno;
  }
}

/* One datagram with `nfds` fds attached. 0 or an errno. */
static int send_msg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * HO_BATCH)];
  } c;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds) {
    memset(&c, 0, sizeof c);
    m.msg_control = c.buf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(sock, &m, MSG_NOSIGNAL);
  while (n == -1 && errno == EINTR);
  if (n == -1) return errno;
  return (size_t)n == len ? 0 : EIO;
}

/*
 * One datagram into buf (at most cap bytes), its fds into fds (at most *nfds; *nfds set to how
 * many came), by `until_ns`. Its length; 0: the peer closed; -errno (ETIMEDOUT, EMSGSIZE: cut).
 */
static ssize_t recv_msg(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, uint64_t until_ns) {
  int w = wait_fd(sock, POLLIN, until_ns);
  if (w) return -w;
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * HO_BATCH)];
  } c;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf};
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n == -1 && errno == EINTR);
  /*
   * A peer that closed with our messages unread resets the socket, and that error comes before
   * what it sent last (a NAK): reported once, so whatever is queued is read now, or it went away.
   */
  if (n == -1 && errno == ECONNRESET) {
    m.msg_controllen = sizeof c.buf;
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n == -1) return 0;
  }
  if (n == -1) return -errno;
  unsigned got = 0, room = nfds ? *nfds : 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    unsigned k = (unsigned)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *in = (int *)(void *)CMSG_DATA(h);
    for (unsigned i = 0; i < k; i++) {
      if (got < room) fds[got++] = in[i];
      else close(in[i]); /* more than announced: not ours to keep */
    }
  }
  if (nfds) *nfds = got;
  if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (unsigned i = 0; i < got; i++) close(fds[i]);
    if (nfds) *nfds = 0;
    return -EMSGSIZE;
  }
  return n;
}

static void send_word(int sock, uint32_t type, int code, const char *text) {
  struct ho_word w = {.type = type, .code = code};
  if (text) snprintf(w.text, sizeof w.text, "%s", text);
  send_msg(sock, &w, sizeof w, NULL, 0); /* best effort: a peer that is gone reads nothing anyway */
}

/* ---- the old process ---- */

int handover_listen(const char *path, int *fd_out) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) return ENAMETOOLONG;
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd == -1) return errno;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == -1 || listen(fd, 4) == -1) {
    int err = errno;
    close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

/* The snapshot: body bytes and the fds to send, built while the loop is paused. */
struct snap {
  char *body;
  size_t size;
  int *fds;
  unsigned nfds;
};

static int snapshot(struct fs *fs, struct ho_hello *h, struct snap *sn) {
  struct node_table *nt = &fs->nodes;
  struct fh_table *ft = &fs->handles;
  pthread_mutex_lock(&nt->lock);
  pthread_mutex_lock(&ft->lock);
  h->node_next = nt->ids.next;
  h->fh_next = ft->ids.next;
  h->nnodes = nt->ids.live;
  h->nhandles = ft->ids.live;
  size_t size = ((size_t)h->node_next + h->fh_next) * sizeof(uint32_t) + (size_t)h->nnodes * sizeof(struct ho_node) + (size_t)h->nhandles * sizeof(struct ho_fh);
  sn->body = calloc(1, size ? size : 1);
  sn->fds = malloc(((size_t)h->nnodes + h->nhandles + 1) * sizeof(int));
  int rc = sn->body && sn->fds ? 0 : ENOMEM;
  char *p = sn->body;
  for (uint32_t s = 0; !rc && s < h->node_next; s++, p += sizeof(uint32_t)) {
    uint32_t g = ids_gen(&nt->ids, s);
    memcpy(p, &g, sizeof g);
  }
  for (uint32_t s = 0; !rc && s < h->fh_next; s++, p += sizeof(uint32_t)) {
    uint32_t g = ids_gen(&ft->ids, s);
    memcpy(p, &g, sizeof g);
  }
  uint32_t at = 0, k = 0;
  uint64_t id;
  struct node *n;
  while (!rc && k < h->nnodes && (n = ids_next(&nt->ids, &at, &id))) {
    struct ho_node e;
    memset(&e, 0, sizeof e);
    e.id = id;
    e.nlookup = n->nlookup;
    e.ino = n->ino;
    e.dev = n->dev;
    e.type = n->type;
    e.hashed = n == &fs->root || n->hashed;
    e.covered = __atomic_load_n(&n->covered, __ATOMIC_RELAXED);
    e.backing_id = n->backing_id;
    e.backing_refs = n->backing_refs;
    e.plain_opens = n->plain_opens;
    e.backing_uid = n->backing_uid;
    e.backing_gid = n->backing_gid;
    e.backing_caps = n->backing_caps;
    if (__atomic_load_n(&n->stuck, __ATOMIC_RELAXED)) rc = EBUSY; /* a worker still blocked on it */
    if (n != &fs->root && n->fd >= 0) {
      e.has_fd = 1;
      sn->fds[sn->nfds++] = n->fd;
    } else if (n != &fs->root && n->handle) {
      e.handle_bytes = n->handle->handle_bytes;
      e.handle_type = n->handle->handle_type;
      memcpy(e.handle, n->handle->f_handle, n->handle->handle_bytes);
    } else if (n != &fs->root)
      rc = EBADF; /* neither: nothing names its inode */
    memcpy(p, &e, sizeof e);
    p += sizeof e;
    k++;
  }
  if (!rc && k != h->nnodes) rc = EIO;
  at = 0, k = 0;
  struct fh *f;
  while (!rc && k < h->nhandles && (f = ids_next(&ft->ids, &at, &id))) {
    struct ho_fh e = {.id = id, .node = f->node, .flags = f->flags, .dir = f->dir != NULL, .dir_offset = f->dir ? (int64_t)dir_offset(f->dir) : 0};
    sn->fds[sn->nfds++] = f->fd;
    memcpy(p, &e, sizeof e);
    p += sizeof e;
    k++;
  }
  if (!rc && k != h->nhandles) rc = EIO;
  pthread_mutex_unlock(&ft->lock);
  pthread_mutex_unlock(&nt->lock);
  sn->size = size;
  h->body_size = size;
  h->nfds = sn->nfds;
  return rc;
}

static int send_snapshot(int sock, int fuse_fd, const struct ho_hello *h, const struct snap *sn, const int *extra) {
  int rc = send_msg(sock, h, sizeof *h, &fuse_fd, 1);
  char *chunk = rc ? NULL : malloc(sizeof(uint32_t) + HO_CHUNK);
  if (!rc && !chunk) rc = ENOMEM;
  for (size_t off = 0; !rc && off < sn->size; off += HO_CHUNK) {
    size_t len = sn->size - off < HO_CHUNK ? sn->size - off : HO_CHUNK;
    uint32_t t = MSG_BODY;
    memcpy(chunk, &t, sizeof t);
    memcpy(chunk + sizeof t, sn->body + off, len);
    rc = send_msg(sock, chunk, sizeof t + len, NULL, 0);
  }
  free(chunk);
  for (unsigned i = 0; !rc && i < sn->nfds; i += HO_BATCH) {
    uint32_t m[2] = {MSG_FDS, sn->nfds - i < HO_BATCH ? sn->nfds - i : HO_BATCH};
    rc = send_msg(sock, m, sizeof m, sn->fds + i, m[1]);
  }
  if (!rc && h->nextra) {
    uint32_t m[2] = {MSG_EXTRA, h->nextra};
    rc = send_msg(sock, m, sizeof m, extra, h->nextra);
  }
  return rc;
}

int handover_export(struct session *s, int listen_fd, unsigned timeout_ms, const char *tag, const int *extra, unsigned nextra, struct ho_stats *st, const char **code, char *err, size_t errlen) {
  memset(st, 0, sizeof *st);
  struct own *o = session_own(s);
  struct fs *fs = session_fs(s);
  if (!o) {
    *code = "ERR_HANDOVER_UNSUPPORTED";
    snprintf(err, errlen, "only our own session (the default; not MOUNTIE_SESSION=libfuse) can be handed over");
    return ENOTSUP;
  }
  if (nextra > HO_EXTRA || (nextra && !extra)) {
    *code = "ERR_HANDOVER_SNAPSHOT";
    snprintf(err, errlen, "%u extra fds: at most %u", nextra, HO_EXTRA);
    return EINVAL;
  }
  for (unsigned i = 0; i < nextra; i++)
    if (extra[i] < 0) {
      *code = "ERR_HANDOVER_SNAPSHOT";
      snprintf(err, errlen, "extra fd %d is no fd", extra[i]);
      return EBADF;
    }
  uint64_t step = (uint64_t)timeout_ms * 1000000ull;
  if (wait_fd(listen_fd, POLLIN, now_ns() + step) != 0) {
    *code = "ERR_HANDOVER_NO_PEER";
    snprintf(err, errlen, "nobody connected within %u ms", timeout_ms);
    return ETIMEDOUT;
  }
  int sock = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (sock == -1) {
    int e = errno;
    *code = "ERR_HANDOVER_NO_PEER";
    say(err, errlen, "%s: %s", "accept", e);
    return e;
  }
  /*
   * What is sent opens everything this daemon can reach (the /dev/fuse fd, every node's fd): only
   * to a process of our own user, whatever the socket file's mode and directory allow.
   */
  struct ucred peer;
  socklen_t plen = sizeof peer;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &plen) == 0) st->peer_pid = peer.pid;
  if (st->peer_pid == 0 || peer.uid != geteuid()) {
    close(sock);
    *code = "ERR_HANDOVER_NO_PEER";
    say(err, errlen, "%s: %s", "a peer of another user", EPERM);
    return EPERM;
  }
  uint64_t t0 = now_ns();
  int rc = loop_pause(o, timeout_ms, &st->inflight);
  if (rc) {
    if (rc != ENODEV) loop_resume(o);
    close(sock);
    *code = "ERR_HANDOVER_BUSY";
    snprintf(err, errlen, rc == ETIMEDOUT ? "requests still served after %u ms: not paused, serving on" : "the session has ended (%u)", timeout_ms);
    return rc;
  }
  st->drain_ms = (double)(now_ns() - t0) / 1e6;
  struct ho_hello *h = calloc(1, sizeof *h);
  struct snap sn = {0};
  int sent = 0;
  if (!h) rc = ENOMEM;
  else {
    h->type = MSG_HELLO;
    memcpy(h->magic, HO_MAGIC, sizeof h->magic);
    h->version = HO_VERSION;
    h->size = sizeof *h;
    own_init_pair(o, &h->init_in, &h->init_out, (int *)&h->by_fusermount);
    h->read_only = (uint32_t)fs->cfg.read_only;
    h->allow_other = (uint32_t)fs->cfg.allow_other;
    h->rdplus = (uint32_t)fs->cfg.rdplus;
    h->max_write = fs->cfg.max_write;
    h->max_readahead = fs->cfg.max_readahead;
    h->want_passthrough = __atomic_load_n(&fs->counters[C_PT_MODE], __ATOMIC_RELAXED) != PT_OFF;
    h->root_ino = fs->root.ino;
    h->root_dev = fs->root.dev;
    snprintf(h->mountpoint, sizeof h->mountpoint, "%s", own_mountpoint(o));
    snprintf(h->tag, sizeof h->tag, "%s", tag ? tag : "");
    h->nextra = nextra;
    rc = snapshot(fs, h, &sn);
  }
  if (rc) {
    *code = "ERR_HANDOVER_SNAPSHOT";
    say(err, errlen, "%s: %s", "snapshot", rc);
  } else {
    st->nodes = h->nnodes;
    st->handles = h->nhandles;
    st->fds = h->nfds + 1 + nextra;
    rc = send_snapshot(sock, own_fd(o), h, &sn, extra);
    sent = 1; /* perhaps partly: the peer may hold the fd */
    if (rc) {
      *code = "ERR_HANDOVER_SEND";
      say(err, errlen, "%s: %s", "send", rc);
    }
  }
  free(sn.body);
  free(sn.fds);
  free(h);
  /* Sent, or cut short by a peer that refused early and went: its answer says which. */
  if (!rc || (sent && (rc == EPIPE || rc == ECONNRESET))) {
    struct ho_word w;
    ssize_t n = recv_msg(sock, &w, sizeof w, NULL, NULL, now_ns() + (rc ? 100000000ull : step));
    if (n == (ssize_t)sizeof w && w.type == MSG_ACK) {
      /* rc stays: an acknowledgement of a snapshot cut short is not believed */
    } else if (n == (ssize_t)sizeof w && w.type == MSG_NAK) {
      rc = EPROTO;
      *code = "ERR_HANDOVER_REFUSED";
      w.text[sizeof w.text - 1] = '\0';
      snprintf(err, errlen, "the new process refused: %s", w.text);
    } else {
      rc = n < 0 ? (int)-n : ECONNRESET;
      *code = "ERR_HANDOVER_NO_ACK";
      snprintf(err, errlen, "the new process %s before its acknowledgement", n == 0 ? "went away" : n == -ETIMEDOUT ? "did not answer" : "answered wrongly");
    }
  }
  if (!rc) {
    /* From here on the connection is the new process's: a commit it never reads leaves the mount unserved (the one window). */
    uint32_t c = MSG_COMMIT;
    rc = send_msg(sock, &c, sizeof c, NULL, 0);
    if (rc) {
      *code = "ERR_HANDOVER_NO_ACK";
      say(err, errlen, "%s: %s", "commit", rc);
    }
  }
  if (!rc) {
    loop_end(o);
    close(sock);
    st->paused_ms = (double)(now_ns() - t0) / 1e6;
    return 0;
  }
  /* Not handed over: tell the peer (it must not serve), and serve on. */
  send_word(sock, MSG_ABORT, 0, NULL);
  close(sock);
  /*
   * The peer had the fd (it reads nothing before a commit, but a safety net costs one write):
   * whatever was read and not answered goes back in the queue. Before the resume, while nobody
   * here reads: a request we read after it would be put back under us and served twice.
   */
  if (sent) st->resend = own_resend(o);
  loop_resume(o);
  st->paused_ms = (double)(now_ns() - t0) / 1e6;
  return rc;
}

/* ---- the new process ---- */

struct adoption {
  struct session *s;
  int sock;
  char mountpoint[4096];
  char tag[HO_TAG];
};

static int connect_within(const char *path, uint64_t until_ns, int *out) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) return ENAMETOOLONG;
  strcpy(a.sun_path, path);
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd == -1) return errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      *out = fd;
      return 0;
    }
    int err = errno;
    close(fd);
    /* Not listening yet: the old process is still starting. */
    if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) || now_ns() >= until_ns) return err;
    struct timespec t = {0, 20 * 1000000L};
    nanosleep(&t, NULL);
  }
}

/*
 * The options this process would mount and answer INIT with, against those the connection was
 * made with. Kernel passthrough is not among them: it was negotiated at INIT, and own_adopt takes
 * it from the INIT pair (both processes are of one uid: SO_PEERCRED), whatever MOUNTIE_PASSTHROUGH
 * says here (a restart's environment need not repeat the mount's).
 */
static const char *mismatch(const struct ho_hello *h, const struct fs *fs) {
  if (h->root_ino != (uint64_t)fs->root.ino || h->root_dev != (uint64_t)fs->root.dev) return "source (another directory)";
  if (h->read_only != (uint32_t)fs->cfg.read_only) return "readOnly";
  if (h->allow_other != (uint32_t)fs->cfg.allow_other) return "allowOther";
  if (h->rdplus != (uint32_t)fs->cfg.rdplus) return "readdirplus";
  if (h->max_write != fs->cfg.max_write) return "maxWrite";
  if (h->max_readahead != fs->cfg.max_readahead) return "maxReadahead";
  return NULL;
}

static int take_fd(int *fds, unsigned nfds, unsigned *next) {
  if (*next >= nfds) return -1;
  int fd = fds[*next];
  fds[(*next)++] = -1;
  return fd;
}

/* Both tables as the old process had them. 0 or an errno; the fds taken are owned by the tables. */
static int rebuild(struct fs *fs, const struct ho_hello *h, const char *body, int *fds, unsigned nfds) {
  const char *p = body;
  const uint32_t *ngens = (const uint32_t *)(const void *)p;
  p += (size_t)h->node_next * sizeof(uint32_t);
  const uint32_t *fgens = (const uint32_t *)(const void *)p;
  p += (size_t)h->fh_next * sizeof(uint32_t);
  unsigned next = 0;
  for (uint32_t i = 0; i < h->nnodes; i++, p += sizeof(struct ho_node)) {
    struct ho_node e;
    memcpy(&e, p, sizeof e);
    struct node *n;
    if (e.id == FUSE_ROOT_ID) {
      n = &fs->root; /* ours, opened from our source (checked: the same inode) */
    } else {
      n = calloc(1, sizeof *n);
      if (!n) return ENOMEM;
      n->id = e.id;
      n->fd = e.has_fd ? take_fd(fds, nfds, &next) : -1;
      n->wd = -1;
      n->ino = (ino_t)e.ino;
      n->dev = (dev_t)e.dev;
      n->type = (mode_t)e.type;
      n->hashed = (int)e.hashed;
      if (!e.has_fd) {
        if (e.handle_bytes == 0 || e.handle_bytes > MAX_HANDLE_SZ || !(n->handle = malloc(sizeof *n->handle + e.handle_bytes))) {
          free(n);
          return e.handle_bytes ? ENOMEM : EPROTO;
        }
        n->handle->handle_bytes = e.handle_bytes;
        n->handle->handle_type = e.handle_type;
        memcpy(n->handle->f_handle, e.handle, e.handle_bytes);
      } else if (n->fd < 0) {
        free(n);
        return EPROTO; /* fewer fds than the snapshot names */
      }
    }
    n->nlookup = e.nlookup;
    n->covered = (uint8_t)e.covered;
    n->backing_id = e.backing_id;
    n->backing_refs = e.backing_refs;
    n->plain_opens = e.plain_opens;
    n->backing_uid = e.backing_uid;
    n->backing_gid = e.backing_gid;
    n->backing_caps = e.backing_caps;
    if (n == &fs->root) continue;
    int rc = nodes_place(fs, n);
    if (rc) {
      if (n->fd >= 0) close(n->fd);
      free(n->handle);
      free(n);
      return rc;
    }
  }
  for (uint32_t i = 0; i < h->nhandles; i++, p += sizeof(struct ho_fh)) {
    struct ho_fh e;
    memcpy(&e, p, sizeof e);
    int fd = take_fd(fds, nfds, &next);
    if (fd < 0) return EPROTO;
    struct fh *f = malloc(sizeof *f);
    if (!f) {
      close(fd);
      return ENOMEM;
    }
    *f = (struct fh){.fd = fd, .flags = e.flags, .node = e.node};
    if (e.dir && !(f->dir = dir_adopt(fd, (off_t)e.dir_offset))) {
      int rc = errno;
      close(fd);
      free(f);
      return rc;
    }
    int rc = handles_place(fs, e.id, f);
    if (rc) {
      if (f->dir) dir_free(f->dir);
      else close(fd);
      free(f);
      return rc;
    }
  }
  /* Free slots keep their generation: an id the old process handed out and took back stays unknown here. */
  pthread_mutex_lock(&fs->nodes.lock);
  int rc = 0;
  for (uint32_t s = 1; !rc && s < h->node_next; s++)
    if (!ids_get(&fs->nodes.ids, (uint64_t)ngens[s] << 32 | s)) rc = ids_place(&fs->nodes.ids, (uint64_t)ngens[s] << 32 | s, NULL);
  if (!rc) rc = ids_seal(&fs->nodes.ids, h->node_next);
  pthread_mutex_unlock(&fs->nodes.lock);
  pthread_mutex_lock(&fs->handles.lock);
  for (uint32_t s = 1; !rc && s < h->fh_next; s++)
    if (!ids_get(&fs->handles.ids, (uint64_t)fgens[s] << 32 | s)) rc = ids_place(&fs->handles.ids, (uint64_t)fgens[s] << 32 | s, NULL);
  if (!rc) rc = ids_seal(&fs->handles.ids, h->fh_next);
  pthread_mutex_unlock(&fs->handles.lock);
  return rc;
}

struct adoption *handover_receive(const char *path, const char *source, const struct config *cfg, uint64_t *counters, unsigned timeout_ms, int *extra, unsigned *nextra, const char **code, char *err, size_t errlen) {
  uint64_t until = now_ns() + (uint64_t)timeout_ms * 1000000ull;
  struct adoption *a = calloc(1, sizeof *a);
  struct ho_hello *h = calloc(1, sizeof *h);
  char *body = NULL;
  int *fds = NULL;
  unsigned nfds = 0, got_extra = 0;
  *nextra = 0;
  int fuse_fd = -1, rc = 0;
  const char *refuse = NULL; /* why, told to the old process too */
  *code = "ERR_HANDOVER_RECEIVE";
  if (!a || !h) {
    free(a), free(h);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  a->sock = -1;
  rc = connect_within(path, until, &a->sock);
  if (rc) {
    snprintf(err, errlen, "connect %s: %s", path, strerror(rc));
    goto fail;
  }
  unsigned one = 1;
  ssize_t n = recv_msg(a->sock, h, sizeof *h, &fuse_fd, &one, until);
  if (n <= 0 || one != 1) {
    snprintf(err, errlen, "no handover from the old process (%s)", n < 0 ? strerror((int)-n) : one != 1 ? "no fd" : "it went away");
    goto fail;
  }
  if ((size_t)n < sizeof h->type + sizeof h->magic + sizeof h->version + sizeof h->size || h->type != MSG_HELLO || memcmp(h->magic, HO_MAGIC, sizeof h->magic) != 0 ||
      h->version != HO_VERSION || h->size != sizeof *h || (size_t)n != sizeof *h || h->nextra > HO_EXTRA) {
    *code = "ERR_HANDOVER_VERSION";
    snprintf(err, errlen, "a snapshot of another format (version %u, %zd bytes; this one reads version %u, %zu bytes)", h->version, n, HO_VERSION, sizeof *h);
    refuse = err;
    goto fail;
  }
  h->mountpoint[sizeof h->mountpoint - 1] = '\0';
  h->tag[sizeof h->tag - 1] = '\0';
  a->s = session_prepare(source, cfg, counters, err, errlen);
  if (!a->s) {
    refuse = err;
    goto fail;
  }
  struct fs *fs = session_fs(a->s);
  const char *diff = mismatch(h, fs);
  if (diff) {
    *code = "ERR_HANDOVER_MISMATCH";
    snprintf(err, errlen, "the mount was made with another %s than this process's", diff);
    refuse = err;
    goto fail;
  }
  body = malloc(h->body_size ? h->body_size : 1);
  fds = malloc(((size_t)h->nfds + 1) * sizeof *fds);
  char *chunk = malloc(sizeof(uint32_t) + HO_CHUNK);
  if (!body || !fds || !chunk) {
    free(chunk);
    snprintf(err, errlen, "out of memory for a snapshot of %llu bytes", (unsigned long long)h->body_size);
    refuse = err;
    goto fail;
  }
  for (uint64_t off = 0; off < h->body_size;) {
    n = recv_msg(a->sock, chunk, sizeof(uint32_t) + HO_CHUNK, NULL, NULL, until);
    uint32_t t = 0;
    if (n > (ssize_t)sizeof t) memcpy(&t, chunk, sizeof t);
    if (n <= (ssize_t)sizeof t || t != MSG_BODY || off + (uint64_t)(n - (ssize_t)sizeof t) > h->body_size) {
      free(chunk);
      snprintf(err, errlen, "the snapshot came short (%llu of %llu bytes)", (unsigned long long)off, (unsigned long long)h->body_size);
      goto fail;
    }
    memcpy(body + off, chunk + sizeof t, (size_t)n - sizeof t);
    off += (uint64_t)n - sizeof t;
  }
  free(chunk);
  while (nfds < h->nfds) {
    uint32_t m[2];
    unsigned got = h->nfds - nfds < HO_BATCH ? h->nfds - nfds : HO_BATCH;
    n = recv_msg(a->sock, m, sizeof m, fds + nfds, &got, until);
    if (n != (ssize_t)sizeof m || m[0] != MSG_FDS || got != m[1]) {
      nfds += n > 0 ? got : 0;
      snprintf(err, errlen, "the fds came short (%u of %u)", nfds, h->nfds);
      goto fail;
    }
    nfds += got;
  }
  if (h->nextra) {
    /* The caller's own fds, kept apart from the tables': handed to the caller, or closed on failure. */
    uint32_t m[2];
    got_extra = h->nextra;
    n = recv_msg(a->sock, m, sizeof m, extra, &got_extra, until);
    if (n <= 0) got_extra = 0;
    if (n != (ssize_t)sizeof m || m[0] != MSG_EXTRA || m[1] != h->nextra || got_extra != h->nextra) {
      snprintf(err, errlen, "the extra fds came short (%u of %u)", got_extra, h->nextra);
      goto fail;
    }
  }
  struct own *o = own_adopt(fs, fuse_fd, h->mountpoint, (int)h->by_fusermount, &h->init_in, &h->init_out, &refuse, &rc);
  if (!o) {
    snprintf(err, errlen, "%s: %s", refuse, strerror(rc));
    refuse = err;
    goto fail;
  }
  fuse_fd = -1; /* the session's */
  session_attach_own(a->s, o);
  rc = rebuild(fs, h, body, fds, nfds);
  if (rc) {
    snprintf(err, errlen, "the tables could not be rebuilt: %s", strerror(rc));
    refuse = err;
    goto fail;
  }
  snprintf(a->mountpoint, sizeof a->mountpoint, "%s", h->mountpoint);
  snprintf(a->tag, sizeof a->tag, "%s", h->tag);
  for (unsigned i = 0; i < nfds; i++)
    if (fds[i] >= 0) close(fds[i]); /* more than the tables named: none expected */
  *nextra = got_extra; /* the caller's from here */
  free(body);
  free(fds);
  free(h);
  return a;
fail:
  if (a->sock >= 0) {
    /* Refused for a reason the old process can say; otherwise it sees us go (both make it resume). */
    if (refuse) send_word(a->sock, MSG_NAK, 0, refuse);
    close(a->sock);
  }
  for (unsigned i = 0; fds && i < nfds; i++)
    if (fds[i] >= 0) close(fds[i]);
  for (unsigned i = 0; i < got_extra; i++) close(extra[i]);
  if (fuse_fd >= 0) close(fuse_fd);
  if (a->s) session_discard(a->s); /* what the tables took is closed with them; nothing is unmounted */
  free(body);
  free(fds);
  free(h);
  free(a);
  return NULL;
}

const char *adoption_mountpoint(const struct adoption *a) {
  return a->mountpoint;
}

const char *adoption_tag(const struct adoption *a) {
  return a->tag;
}

struct session *handover_commit(struct adoption *a, unsigned timeout_ms, int *resend, const char **code, char *err, size_t errlen) {
  uint64_t until = now_ns() + (uint64_t)timeout_ms * 1000000ull;
  struct ho_word w = {.type = MSG_ACK};
  int rc = send_msg(a->sock, &w, sizeof w, NULL, 0);
  if (rc) {
    *code = "ERR_HANDOVER_SEND";
    snprintf(err, errlen, "acknowledgement: %s", strerror(rc));
    handover_discard(a);
    return NULL;
  }
  uint32_t t = 0;
  ssize_t n = recv_msg(a->sock, &w, sizeof w, NULL, NULL, until);
  if (n >= (ssize_t)sizeof t) memcpy(&t, &w, sizeof t);
  /* The commit, or the old process gone (it serves nothing then either): ours from now on. */
  if (!(n == 0 || t == MSG_COMMIT)) {
    *code = "ERR_HANDOVER_ABORTED";
    snprintf(err, errlen, n < 0 ? "no commit from the old process (%s): it serves on" : "the old process gave up the handover%s: it serves on", n < 0 ? strerror((int)-n) : "");
    handover_discard(a);
    return NULL;
  }
  close(a->sock);
  struct session *s = a->s;
  free(a);
  /*
   * Before our loop reads anything: a request we read ourselves would otherwise be put back in
   * the queue under us and served twice (a WRITE appended twice).
   */
  *resend = own_resend(session_own(s));
  rc = session_run(s);
  if (rc) {
    *code = "ERR_MOUNT_FAILED";
    snprintf(err, errlen, "start loop thread: %s (the mount is left unserved)", strerror(rc));
    session_discard(s);
    return NULL;
  }
  return s;
}

void handover_discard(struct adoption *a) {
  if (!a) return;
  if (a->sock >= 0) close(a->sock);
  session_discard(a->s);
  free(a);
}
