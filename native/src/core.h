/*
 * The native passthrough core: shared types. Requests are served in libfuse's worker threads
 * and never call into JavaScript; JavaScript reads the counters from shared memory.
 */
#ifndef MOUNTIE_CORE_H
#define MOUNTIE_CORE_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include "req.h"
#include <fcntl.h> /* MAX_HANDLE_SZ */
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Request kinds counted one by one; the order is the counters' layout (stats.c names them). */
enum op_kind {
  OP_LOOKUP, OP_FORGET, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK,
  OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH, OP_RELEASE,
  OP_FSYNC, OP_OPENDIR, OP_READDIR, OP_READDIRPLUS, OP_RELEASEDIR, OP_FSYNCDIR, OP_STATFS,
  OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE, OP_FALLOCATE,
  OP_COPY_FILE_RANGE, OP_LSEEK,
  OP_COUNT
};

/* Latency buckets: bucket i counts requests answered in [2^(i-1), 2^i) µs; the last one, the rest. */
#define LAT_BUCKETS 24

/* Layout of the shared counter array (uint64 each). */
enum counter_index {
  C_OPS = 0,
  C_ERRORS = OP_COUNT,
  C_BYTES_READ,
  C_BYTES_WRITTEN,
  C_INFLIGHT,
  C_THREADS,     /* worker threads alive that served at least one request */
  C_NODES,       /* inodes the kernel holds (entries in the table) */
  C_TIMED_OUT,   /* requests answered ETIMEDOUT by the watchdog */
  C_STUCK,       /* workers still blocked in a request that was timed out */
  C_CHANGES,     /* mutations answered with success (the change cursor) */
  C_FAST_FAILED, /* requests answered ETIMEDOUT at once because their node has a stuck request */
  C_LOOP_ENDED,  /* 1 once the session loop returned (unmounted, or the connection was aborted) */
  C_STALLS,      /* JS-ops mode: times JavaScript left queued requests untaken over 1 s (jsfs.c) */
  C_RESCUED,     /* JS-ops mode: requests read by the rescue reader while JavaScript was late (jsfs.c) */
  C_WATCHES,     /* directories watched now (notify.c): their names and attributes may be cached long */
  C_UNWATCHED,   /* directories whose watch could not be added (ENOSPC, EACCES): short timeouts there */
  C_INVALS,      /* invalidations written to the kernel (INVAL_ENTRY, INVAL_INODE) */
  C_OVERFLOWS,   /* inotify queue overflows: everything known was invalidated */
  C_PT_OPENS,    /* opens answered with kernel passthrough (backing.c): their reads and writes never reach us */
  C_PT_FALLBACKS,/* opens on a passthrough session served by us instead (the kernel refused the backing file, or the inode is open that way) */
  C_SESSION,     /* the FUSE session serving the mount: SESSION_LIBFUSE or SESSION_OWN (set at start: with SESSION_OWN there is no libfuse session at all) */
  C_PT_MODE,     /* kernel passthrough: enum pt_mode */
  C_EVENTS,      /* inotify events the notifier handled, counted once their notifications are written (notify.c) */
  C_EVENT_READS, /* the reads that brought them */
  C_EVENTS_OURS, /* of those, changes made through the mount that needed no notification */
  C_INVAL_ENTRY, /* of C_INVALS: FUSE_NOTIFY_INVAL_ENTRY */
  C_INVAL_INODE, /* of C_INVALS: FUSE_NOTIFY_INVAL_INODE */
  C_LAT,
  C_TOTAL = C_LAT + LAT_BUCKETS
};

enum session_kind { SESSION_LIBFUSE = 1, SESSION_OWN = 2 };

/* Kernel passthrough per mount: not asked for; asked, INIT not seen yet; on; refused by the kernel at INIT; on, but the source is remote (each file served by us). */
enum pt_mode { PT_OFF = 0, PT_PENDING = 1, PT_ON = 2, PT_REFUSED = 3, PT_REMOTE = 4 };

enum rdplus_policy { RDPLUS_OFF = 0, RDPLUS_AUTO = 1, RDPLUS_ON = 2 };

/*
 * A table of ids with a generation (ids.c): id = generation << 32 | slot. Node ids and file
 * handles are such ids, so they name the same objects in a process that rebuilds the tables
 * (issue 21). Adding and removing under the owner's lock; finding without one.
 */
#define ID_CHUNKS 23 /* chunk k holds 1024 << k slots: 23 chunks cover every 32-bit slot */
struct id_entry {
  uint64_t id;     /* atomic: the id this slot answers to now, 0: free */
  void *ptr;       /* what it names (written before id is published) */
  uint32_t gen;    /* owner's lock: the generation of the slot's next id */
  uint32_t next;   /* owner's lock: the next free slot, 0: none */
};
struct id_table {
  struct id_entry *chunks[ID_CHUNKS]; /* atomic pointers: allocated once, never moved */
  uint32_t next;   /* slots below this were handed out at least once */
  uint32_t free;   /* the first free slot (LIFO), 0: none */
  uint32_t live;   /* ids that name something now */
};
void ids_init(struct id_table *t, uint32_t first);
void ids_destroy(struct id_table *t);
/* A new id naming ptr (owner's lock held); 0 when out of memory or slots. */
uint64_t ids_add(struct id_table *t, void *ptr);
/* What `id` names, or NULL (never handed out, freed, or another generation). Any thread, no lock. */
void *ids_get(const struct id_table *t, uint64_t id);
/* `id` names nothing from now on; its slot is reused with the next generation (owner's lock held). */
void ids_remove(struct id_table *t, uint64_t id);
/* Enumeration (owner's lock held): the next live entry at or after *slot, or NULL at the end. */
void *ids_next(const struct id_table *t, uint32_t *slot, uint64_t *id);
/* The generation of `slot`'s current id (live) or next one (free); 0 for a slot never handed out. */
uint32_t ids_gen(const struct id_table *t, uint32_t slot);
/* A rebuilt table (handover.c): `id` names ptr again (NULL: only the free slot's generation); 0 or an errno. */
int ids_place(struct id_table *t, uint64_t id, void *ptr);
/* Then the free list: every slot below `next` that names nothing; 0 or ENOMEM. */
int ids_seal(struct id_table *t, uint32_t next);

struct node {
  uint64_t id;       /* the FUSE node id: this node's id in the table's `ids` (FUSE_ROOT_ID for the root) */
  struct node *next; /* hash chain */
  int fd;            /* O_PATH fd on the source inode, or -1: then reopened from `handle` per request */
  struct file_handle *handle; /* set only on nodes without a kept fd */
  ino_t ino;
  dev_t dev;
  mode_t type;       /* S_IFMT bits */
  uint64_t nlookup;  /* kernel references; table lock */
  uint32_t stuck;    /* atomic: requests on this node timed out whose worker is still blocked */
  int hashed;        /* in the table (table lock); a stale handle node is taken out, kept until forgotten */
  int wd;            /* atomic: a directory's inotify watch (notify.c), -1: none (short timeouts) */
  struct node *wd_next; /* the watcher's wd map chain (its lock) */
  uint8_t covered;   /* atomic: a file last looked up in a watched directory (its attributes may be cached long) */
  int32_t backing_id;   /* table lock: the kernel's backing id of this inode's passthrough opens (0: none) */
  uint32_t backing_refs; /* table lock: passthrough opens of this inode not yet released */
  uint32_t plain_opens;  /* table lock: opens of this inode served by us on a passthrough session */
  uid_t backing_uid;     /* table lock: whose credentials the kernel keeps for the backing file's I/O */
  gid_t backing_gid;
  uint64_t backing_caps; /* ... and which capabilities (a root caller's own; creds_caller_caps) */
};

struct node_table {
  pthread_mutex_t lock;
  struct id_table ids;  /* node id → node, every node the kernel holds (the root at slot 1, stale nodes until forgotten) */
  struct node **buckets; /* (ino, dev) → node, the nodes a lookup may find */
  size_t nbuckets;
  size_t count;
  size_t fds;        /* nodes that keep an fd */
  size_t fd_budget;  /* beyond this many, new nodes keep a file handle instead */
};

struct config {
  double attr_timeout;
  double entry_timeout;
  int keep_cache;
  int read_only;
  int allow_other;
  int rdplus;
  unsigned max_threads;
  unsigned max_write;
  unsigned max_readahead;
  int splice;
  size_t fd_budget; /* node fds at most (0: half of RLIMIT_NOFILE); past it, file handles */
  unsigned deadline_ms; /* a request not answered by then gets ETIMEDOUT (0: never) */
  double watch_timeout; /* entry/attr timeout where the source is watched (notify.c); 0: no watching */
  size_t watch_budget;  /* at most this many inotify watches; 0: a quarter of fs.inotify.max_user_watches */
};

/*
 * The request a worker serves, seen by the watchdog. `word` = generation << 2 | state; the
 * generation changes with every request, so a compare-and-swap can only ever win for the
 * request it looked at: the reply is sent exactly once, by the worker or by the watchdog.
 */
enum slot_state { SLOT_IDLE = 0, SLOT_ACTIVE = 1, SLOT_CLAIMED = 2, SLOT_TIMED_OUT = 3 };
struct slot {
  uint64_t word;
  struct req *req;     /* the worker's own use only (its request, alive while it serves it) */
  struct req_to to;    /* where the answer goes, copied: the watchdog answers from this, never from req */
  uint64_t deadline_ns;
  int answerable;      /* 0 for forget: nothing to answer */
  struct node *node;   /* atomic: the node the request works on, when it has one (op_target) */
  struct node *held;   /* slots_lock: the node the watchdog held and marked stuck when it answered */
  struct slot *next;
};

/* Who a request is for: copied from the request when it starts, so nothing reads the request later. */
struct caller {
  uid_t uid;
  gid_t gid;
  pid_t pid;
  mode_t umask;
};

/*
 * An open file or directory the kernel holds (handles.c): fi->fh is its id in the handle
 * table. Written before the id is handed to the kernel, read-only after.
 */
struct fh {
  int fd;            /* the open file; a directory's is its stream's */
  uint32_t flags;    /* FH_PASSTHROUGH, FH_PLAIN (backing.c) */
  struct dir *dir;   /* a directory's stream (ops_dir.c), NULL for a file */
  uint64_t node;     /* the node id it was opened on */
};
struct fh_table {
  pthread_mutex_t lock;
  struct id_table ids;
};

struct fs {
  struct config cfg;
  pthread_mutex_t slots_lock;
  struct slot *slots;  /* every worker's slot: the watchdog scans them */
  struct node root;
  int root_remote;    /* the source's root is on a remote or FUSE file system (notify.c's remote_fs) */
  int mount_fd;       /* the source root opened for real (open_by_handle_at refuses O_PATH fds) */
  struct node_table nodes;
  struct fh_table handles;
  uint64_t *counters; /* C_TOTAL entries, shared with JavaScript */
  uid_t uid;          /* the daemon's own ids (creds.c: a root daemon takes a caller's ids per request) */
  gid_t gid;
  gid_t *groups;      /* the daemon's own supplementary groups, put back after each request */
  size_t ngroups;
  int handles_ok;     /* open_by_handle_at works here (CAP_DAC_READ_SEARCH): nodes past the fd budget may keep a handle */
  pthread_key_t thread_key;
  int cancelled;      /* atomic: shutting down, every request is answered EIO */
  struct watcher *watch; /* the source's watcher (notify.c), NULL: none */
  struct fuse_session *se; /* libfuse's session, or NULL when our own serves (own) */
  struct own *own;       /* our own session (own.c), or NULL */
};

/* nodes.c */
/* The table, with `root` at FUSE_ROOT_ID. */
int nodes_init(struct node_table *t, struct node *root);
void nodes_destroy(struct node_table *t);
/* The node the kernel means by `ino`, or NULL when no node has that id now (stale or unknown): answer ESTALE. O(1), no lock. */
struct node *node_of(struct fs *fs, fuse_ino_t ino);
fuse_ino_t node_id(struct fs *fs, struct node *n);
/* What a snapshot of the node table holds of one node (nodes_snapshot). */
struct node_info {
  uint64_t id;
  uint64_t nlookup;
  ino_t ino;
  dev_t dev;
  mode_t type;
  int fd;            /* the node's O_PATH fd, or -1: then `handle` */
  int hashed;        /* 0: a stale node the kernel has not forgotten yet */
  unsigned handle_bytes; /* 0: no file handle */
  int handle_type;
  unsigned char handle[MAX_HANDLE_SZ];
};
/* Every node the kernel holds, in slot order, copied under the table lock (*out malloc'd, freed by the caller); -1: out of memory. */
ssize_t nodes_snapshot(struct fs *fs, struct node_info **out);
/* A node carried from another process (handover.c), at its id (n->id) with its fd or handle, in the index when n->hashed. 0 or an errno. */
int nodes_place(struct fs *fs, struct node *n);
/* Watches every directory node the table holds (a carried table; before the loop runs). */
void nodes_watch_all(struct fs *fs);
/* Looks `name` up below `parent`; on success fills e (ino, attr, timeouts) and takes one reference. */
int node_lookup(struct fs *fs, struct node *parent, const char *name, struct fuse_entry_param *e);
/*
 * The node of the inode `fd` refers to (any fd; an O_PATH one of its own is opened): attributes
 * and identity both from that fd, never from a name. Fills e and takes one reference.
 */
int node_of_fd(struct fs *fs, int fd, struct fuse_entry_param *e);
/* The same for an O_PATH fd of the caller's, which it takes over (kept by a new node or closed). */
int node_adopt(struct fs *fs, int fd, struct fuse_entry_param *e);
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup);
/* The node of (ino, dev) the kernel holds (the root included), or NULL. Table lock held. */
struct node *node_find(struct fs *fs, ino_t ino, dev_t dev);
/* One more reference (given back with node_forget(fs, n, 1)); the root needs none. */
void node_hold(struct fs *fs, struct node *n);
/* An O_PATH fd on the node for the rest of this request (-1 and errno set when it is gone). */
int node_use(struct fs *fs, struct node *n);
/* A new O_PATH fd on a node past the fd budget, from its file handle (the caller closes it); -1 and errno (EBADF: no handle). With the calling thread's credentials. */
int node_reopen(struct fs *fs, const struct node *n);
#define NFD(n) node_use(fs, (n))

/* stats.c: every request starts with op_begin and ends through one of the reply_* helpers. */
/* 0: the request was answered already (EIO after cancel): the op must return at once. */
int op_begin(req_t req, struct fs *fs, enum op_kind op);
/* The request's caller, as it was when the request started. */
const struct caller *op_caller(void);
/*
 * From here to the answer this worker acts with the caller's credentials (creds.c). 0, or an
 * errno to answer. Every request that creates, opens, changes or reads names on a caller's
 * behalf calls it before its first such call on the source.
 */
int op_as_caller(void);
/*
 * The node the request works on. 0 when that node has a request stuck in the source: the
 * request was answered ETIMEDOUT at once (the op must return), as a second call would hang too.
 */
int op_target(struct fs *fs, struct node *n);
/* 1: this worker answers the request; 0: the watchdog already did (answer nothing, undo). */
int op_claim(void);
void op_end(int err);
/* An op's failure: `err` answered (unless the watchdog answered first) and the op ended. */
static inline void op_fail(req_t req, int err) {
  if (op_claim()) send_err(req, err);
  op_end(err);
}
/*
 * In an op (with `fs` and `req`): the node the kernel means by `ino` (a table index, nodes.c); an
 * id that names no node now (forgotten, never given) is answered ESTALE, never followed.
 */
#define NODE(var, ino) \
  struct node *var = node_of(fs, (ino)); \
  if (!var) return op_fail(req, ESTALE)
/* The request works on this node: fail fast while a request on it is stuck in the source. */
#define TARGET(n) \
  if (!op_target(fs, (n))) return
uint64_t now_ns(void);
/* The watchdog's scan: answers ETIMEDOUT to every request past its deadline. */
void slots_expire(struct fs *fs, uint64_t now);
/* Shutdown: answer every request in flight EIO now, and every later one at once. Returns how many. */
unsigned slots_cancel(struct fs *fs);
void count_add(struct fs *fs, int index, uint64_t n);
const char *op_name(int op);
void thread_enter(struct fs *fs);
/* Fds opened for the current request only, closed when it is answered. */
int held_fd(const void *key);
int hold_fd(const void *key, int fd);
int thread_own_umask(void);
void stats_thread_exit(void *arg);

/* creds.c */
int creds_needed(const struct fs *fs, const struct caller *c);
int creds_enter(struct fs *fs, const struct caller *c);
void creds_leave(struct fs *fs);
/* Around one call that needs the daemon's own privileges (1 when it switched back: pass to resume). */
int creds_suspend(struct fs *fs);
/* For the backing registration: the caller's ids and capabilities with CAP_SYS_ADMIN (1: changed, 0: as it was, -1: failed). */
int creds_admin_only(const struct fs *fs, const struct caller *c);
/* A root caller's effective capabilities (cached 1 s per thread id), 0 for any other caller. */
uint64_t creds_caller_caps(const struct caller *c);
void creds_admin_drop(int raised);
void creds_resume(struct fs *fs, const struct caller *c, int suspended);

/* ops.c: the passthrough's ops, called by either session (lfops.c for libfuse's, own.c for ours). */
void proc_path(char *buf, size_t len, int fd);
void ops_thread_exit(void);
void do_lookup(req_t req, fuse_ino_t parent, const char *name);
void do_forget(req_t req, fuse_ino_t ino, uint64_t nlookup);
void do_forget_multi(req_t req, size_t count, struct fuse_forget_data *forgets);
void do_getattr(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void do_setattr(req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi);
void do_readlink(req_t req, fuse_ino_t ino);
void do_mknod(req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void do_mkdir(req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void do_symlink(req_t req, const char *target, fuse_ino_t parent, const char *name);
void do_unlink(req_t req, fuse_ino_t parent, const char *name);
void do_rmdir(req_t req, fuse_ino_t parent, const char *name);
void do_rename(req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags);
void do_link(req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void do_open(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void do_create(req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi);
void do_read(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
/* `data`: the request's bytes in memory (libfuse's adapter copies a spliced buffer first). */
void do_write(req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off, struct fuse_file_info *fi);
void do_release(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void do_fsync(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void do_statfs(req_t req, fuse_ino_t ino);
void do_access(req_t req, fuse_ino_t ino, int mask);
void do_getxattr(req_t req, fuse_ino_t ino, const char *name, size_t size);
void do_listxattr(req_t req, fuse_ino_t ino, size_t size);
void do_setxattr(req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags);
void do_removexattr(req_t req, fuse_ino_t ino, const char *name);
void do_fallocate(req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi);
void do_copy_file_range(req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags);
void do_lseek(req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);

/* lfops.c: libfuse's session calls the ops through this table. */
extern const struct fuse_lowlevel_ops mountie_ops;

struct fuse_init_in;
struct fuse_init_out;
/*
 * own.c's decoder calls a session's ops through this table (the passthrough's do_* above, or the
 * JS-ops mode's in jsfs.c): the shapes of libfuse's low-level ops with our req_t. A NULL op is
 * answered ENOSYS (forget: nothing), as libfuse answers an op a file system lacks.
 */
struct own_ops {
  void (*lookup)(req_t req, fuse_ino_t parent, const char *name);
  void (*forget)(req_t req, fuse_ino_t ino, uint64_t nlookup);
  void (*forget_multi)(req_t req, size_t count, struct fuse_forget_data *forgets);
  void (*getattr)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*setattr)(req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi);
  void (*readlink)(req_t req, fuse_ino_t ino);
  void (*mknod)(req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
  void (*mkdir)(req_t req, fuse_ino_t parent, const char *name, mode_t mode);
  void (*unlink)(req_t req, fuse_ino_t parent, const char *name);
  void (*rmdir)(req_t req, fuse_ino_t parent, const char *name);
  void (*symlink)(req_t req, const char *target, fuse_ino_t parent, const char *name);
  void (*rename)(req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags);
  void (*link)(req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
  void (*open)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*read)(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
  void (*write)(req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off, struct fuse_file_info *fi);
  void (*flush)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*release)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*fsync)(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
  void (*opendir)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*readdir)(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
  void (*readdirplus)(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
  void (*releasedir)(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
  void (*fsyncdir)(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
  void (*statfs)(req_t req, fuse_ino_t ino);
  void (*setxattr)(req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags);
  void (*getxattr)(req_t req, fuse_ino_t ino, const char *name, size_t size);
  void (*listxattr)(req_t req, fuse_ino_t ino, size_t size);
  void (*removexattr)(req_t req, fuse_ino_t ino, const char *name);
  void (*access)(req_t req, fuse_ino_t ino, int mask);
  void (*create)(req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi);
  void (*fallocate)(req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi);
  void (*copy_file_range)(req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags);
  void (*lseek)(req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
};
/* The passthrough's table (own.c): ops.c's and ops_dir.c's do_*. */
extern const struct own_ops own_passthrough_ops;

/* What a session of ours mounts with and asks for at INIT (own_open fills it from the passthrough's config). */
struct own_conf {
  const struct own_ops *ops;
  struct fs *fs;          /* req->fs: the passthrough's (NULL in the JS-ops mode) */
  void *user;             /* req->user */
  uint64_t want;          /* INIT flags asked for; the kernel's offer decides */
  int passthrough;        /* ask for kernel passthrough at INIT (the passthrough's own_open: a root daemon) */
  uint32_t max_readahead; /* 0: the kernel's */
  uint32_t max_write;     /* 0: 1 MiB (the largest) */
  unsigned max_read;      /* the mount's max_read option, 0: none */
  int allow_other;
  int default_permissions;
  int read_only;
};
/* own.c: our own /dev/fuse session (docs/ARCHITECTURE.md, "FUSE session layer"). The passthrough's. */
struct own *own_open(struct fs *fs, const char *mountpoint, const char *fsname, const char *subtype, const char **what, int *code);
/* Any session's (the JS-ops mode's: jsfs.c): mounted as `conf` says. */
struct own *own_open_conf(const struct own_conf *conf, const char *mountpoint, const char *fsname, const char *subtype, const char **what, int *code);
/* One read without waiting (the JS-ops mode's reader): as own_receive, -EAGAIN when nothing waits. */
int own_read(struct own *o, char *buf, size_t size);
/* A worker's read buffer: one request of the largest size we negotiate. */
size_t own_bufsize(void);
int own_fd(const struct own *o);
int own_exited(const struct own *o);
/* One request into buf: its length, 0 once the kernel closed the connection, -EINTR/-EAGAIN: again, else -errno. */
int own_receive(struct own *o, char *buf, size_t size);
/* Decodes the request and runs its op (which answers it), on the calling worker. */
void own_process(struct own *o, char *buf, size_t len);
int own_send(struct own *o, uint64_t unique, int err, const struct iovec *iov, int count);
int own_notify(struct own *o, int code, const struct iovec *iov, int count);
void own_unmount(struct own *o);
/* Passthrough negotiated at INIT (root, not MOUNTIE_PASSTHROUGH=0, the kernel offered it). */
int own_passthrough(const struct own *o);
/* The kernel's id for `fd` as a backing file (> 0), or -errno. */
int own_backing_open(struct own *o, int fd);
void own_backing_close(struct own *o, int32_t id);

/* notify.c: a file system whose changes may be made elsewhere (NFS, FUSE, SMB, …): `fd`'s (1), or a local one (0). */
int remote_fs(int fd);

/* handles.c: the file handle table (fi->fh is an id in it, not an fd). */
int handles_init(struct fh_table *t);
/* Closes what the kernel never released: only once no worker runs any more. */
void handles_destroy(struct fh_table *t);
/* A new handle for `fd` (and a directory's stream), opened on node `node`: its id, or 0 (out of memory). */
uint64_t fh_new(struct fs *fs, int fd, uint32_t flags, struct dir *dir, uint64_t node);
/* The handle `fh` names, or NULL (stale or unknown: answer EBADF). O(1), no lock. */
struct fh *fh_get(struct fs *fs, uint64_t fh);
/* The fd of the request's file handle, or -1 with errno EBADF: every op reaches its fd through this. */
int fh_fd(struct fs *fs, const struct fuse_file_info *fi);
/* The handle names nothing from now on; returns it (the caller closes and frees), or NULL when stale. */
struct fh *fh_take(struct fs *fs, uint64_t fh);
struct fh_info {
  uint64_t fh;
  uint64_t node;
  int fd;
  uint32_t flags;
  int dir;           /* a directory's handle */
};
/* Every open handle, in slot order (*out malloc'd, freed by the caller); -1: out of memory. */
ssize_t handles_snapshot(struct fs *fs, struct fh_info **out);

/* A handle carried from another process (handover.c), at its id. 0 or an errno. */
int handles_place(struct fs *fs, uint64_t id, struct fh *h);

/* backing.c: per-file kernel passthrough on our own session (issue 20, step 2). */
/* Flags of a file handle (struct fh's flags). */
#define FH_PASSTHROUGH (1u << 0) /* answered with passthrough: release gives the backing id back */
#define FH_PLAIN (1u << 1)       /* served by us on a passthrough session: counted in plain_opens */
#define FH_PT_WRITE (1u << 2)    /* passed through and open for writing: its release counts one change (the cursor) */
/*
 * A regular file just opened as `fd` for this open or create: passthrough if it may be (sets
 * req->backing_id and fi's keep_cache/direct_io). Returns the handle's flags.
 */
uint32_t backing_open(struct fs *fs, req_t req, struct node *n, int fd, struct fuse_file_info *fi);
/* The open was not answered (or is released): what backing_open took (its `flags`) is given back. */
void backing_release(struct fs *fs, struct node *n, uint32_t flags);
void own_close(struct own *o);
/* Handover (issue 21, handover.c): loop.c's pool while it serves us (own_attach), reached under the session's lock. */
void own_attach(struct own *o, void *pool);
void *own_attached_lock(struct own *o);
void own_attached_unlock(struct own *o);
/* Wake a reader in poll (the loop is paused), and reset once resumed. */
void own_wake(struct own *o);
void own_unwake(struct own *o);
void own_init_pair(const struct own *o, struct fuse_init_in *in, struct fuse_init_out *out, int *by_fusermount);
struct own *own_adopt(struct fs *fs, int fd, const char *mountpoint, int by_fusermount, const struct fuse_init_in *in, const struct fuse_init_out *out, const char **what, int *code);
int own_resend(struct own *o);
const char *own_mountpoint(const struct own *o);

struct session;
/* handover.c: our own session handed to another process (issue 21). */
struct ho_stats {
  unsigned inflight;  /* requests being served when the pause began (all answered before the snapshot) */
  unsigned nodes, handles, fds; /* carried (fds: the /dev/fuse fd and the extra ones included) */
  double drain_ms;    /* pause until nobody reads or serves */
  double paused_ms;   /* pause until the commit (or the resume) */
  int resend;         /* after a failed handover: own_resend's answer (0, -errno) */
  int peer_pid;       /* the new process (SO_PEERCRED), 0 before one connected */
};
/* The caller's own fds a handover carries at most (the workspace lock's, ...). */
#define HO_EXTRA 8u
/* A SOCK_SEQPACKET socket listening at `path` (*fd_out). 0 or an errno. */
int handover_listen(const char *path, int *fd_out);
/*
 * Waits (timeout_ms) for a peer on listen_fd, pauses, sends, and waits for its acknowledgement
 * (timeout_ms each). 0: handed over, the loop has ended (session_stop frees the session, nothing
 * is unmounted); else an errno with *code (ERR_HANDOVER_*) and err, and the session serves on.
 * `extra` (nextra ≤ HO_EXTRA; EINVAL otherwise): the caller's own fds, sent after the tables'
 * (the caller keeps its copies).
 */
int handover_export(struct session *s, int listen_fd, unsigned timeout_ms, const char *tag, const int *extra, unsigned nextra, struct ho_stats *st, const char **code, char *err, size_t errlen);
struct adoption;
/*
 * Connects to `path` (retrying until timeout_ms), receives and rebuilds the session; NULL with
 * *code and err (the old one is told, and serves on). The old process's extra fds land in `extra`
 * (room for HO_EXTRA), *nextra of them: the caller's on success (no adoption call closes them),
 * closed here on failure.
 */
struct adoption *handover_receive(const char *path, const char *source, const struct config *cfg, uint64_t *counters, unsigned timeout_ms, int *extra, unsigned *nextra, const char **code, char *err, size_t errlen);
const char *adoption_mountpoint(const struct adoption *a);
const char *adoption_tag(const struct adoption *a);
/* Acknowledges, waits for the commit, starts serving, writes FUSE_NOTIFY_RESEND (*resend: 0 or -errno). The adoption is consumed either way. */
struct session *handover_commit(struct adoption *a, unsigned timeout_ms, int *resend, const char **code, char *err, size_t errlen);
/* Given up before the acknowledgement: the old one resumes. */
void handover_discard(struct adoption *a);

/* xattr.c: the *xattr calls on a node's O_PATH fd (type: its S_IFMT bits); -1 and errno on failure. */
ssize_t xattr_get(int fd, mode_t type, const char *name, void *buf, size_t size);
ssize_t xattr_list(int fd, mode_t type, char *buf, size_t size);
int xattr_set(int fd, mode_t type, const char *name, const void *value, size_t size, int flags);
int xattr_remove(int fd, mode_t type, const char *name);

/* session.c */
struct session;
struct session *session_start(const char *mountpoint, const char *source, const struct config *cfg, const char *fsname, const char *subtype, uint64_t *counters, char *err, size_t errlen);
/* 0 once the loop and every worker ended and everything is freed; ETIMEDOUT: still running. */
int session_stop(struct session *s, unsigned timeout_ms);
unsigned session_cancel(struct session *s);
/* handover.c's halves of a start: the file system and tables only; then an own session attached; then the threads (0 or an errno). */
struct session *session_prepare(const char *source, const struct config *cfg, uint64_t *counters, char *err, size_t errlen);
void session_attach_own(struct session *s, struct own *o);
int session_run(struct session *s);
/* Frees a session that never ran (nothing unmounted). */
void session_discard(struct session *s);
/* Our own session's, or NULL (libfuse's serves). */
struct own *session_own(struct session *s);
/* The session's tables, for a snapshot (nodes_snapshot, handles_snapshot) while it serves. */
struct fs *session_fs(struct session *s);

/* notify.c: longer caches kept true by invalidation (inotify on the source, FUSE notify). */
struct watcher;
/* 0, or why the source is not watched (then every reply keeps the configured timeouts). */
int watch_start(struct fs *fs);
void watch_stop(struct fs *fs);
/* A directory node the kernel now holds: watch it (a failure leaves it unwatched). */
/* Watches directory node `n`, opened as `fd` (its own, or one opened from its file handle for the call: the watch outlives it). */
void watch_dir(struct fs *fs, struct node *n, int fd);
/* A directory node the kernel forgot: its watch goes. */
void watch_forget(struct fs *fs, struct node *n);
int watch_active(const struct fs *fs);
/*
 * A name about to be made below `dir` by this request: its IN_CREATE needs no notification once
 * the kernel has the answer (watch_ours_done). 0: not recorded (not watched). Called before the
 * call that makes the name; drop it when that call made nothing.
 */
uint64_t watch_ours_begin(struct fs *fs, struct node *dir, const char *name);
/* The same for a name about to be removed (unlink, rmdir): its IN_DELETE. */
uint64_t watch_ours_begin_gone(struct fs *fs, struct node *dir, const char *name);
/* Answered (the reply was taken by the kernel) with the entry of this inode (NULL: a removal). */
void watch_ours_done(struct fs *fs, uint64_t id, const struct stat *st);
void watch_ours_drop(struct fs *fs, uint64_t id);
/* The timeouts of an entry answered below `parent` (e->ino 0: a negative entry). */
void entry_ttl(struct fs *fs, struct node *parent, struct fuse_entry_param *e);
double attr_ttl(struct fs *fs, struct node *n, const struct stat *st);

/* ops_dir.c */
struct dir;
/* Closes a directory's stream (its fd with it) and frees it. */
void dir_free(struct dir *d);
/* A directory's stream position (the kernel's next READDIR offset), and a stream on a carried fd that continues there (NULL: errno). */
off_t dir_offset(const struct dir *d);
struct dir *dir_adopt(int fd, off_t offset);
void do_opendir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void do_readdir(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void do_readdirplus(req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void do_releasedir(req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void do_fsyncdir(req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* loop.c: serve the session (libfuse's `se`, or our own `own`) until the kernel closes it (0), or a read error (-errno). */
int loop_run(struct fuse_session *se, struct own *own, unsigned max_threads);
/* Our own session's pause at a request boundary (issue 21): 0, ETIMEDOUT (still serving; the caller resumes), ENODEV. */
int loop_pause(struct own *own, unsigned timeout_ms, unsigned *inflight);
void loop_resume(struct own *own);
/* A paused loop ends for good (the connection is another process's now). */
void loop_end(struct own *own);
/* A new session with these mount options, mounted at `mountpoint`; NULL with *what and *code (an errno) on failure. */
struct fuse_session *session_open(const char *mountpoint, const char *opts, const struct fuse_lowlevel_ops *ops, size_t ops_size, void *userdata, const char **what, int *code);
/* Around the creation of the session's threads: they take no signal but their own faults. */
void threads_mask(sigset_t *old);
void threads_unmask(const sigset_t *old);

#endif
