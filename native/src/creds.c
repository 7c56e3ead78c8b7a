/*
 * A root daemon acts on the caller's behalf with the caller's credentials, as virtiofsd does:
 * around every request that creates, opens, changes or reads names for a caller other than the
 * daemon itself, the worker thread takes the caller's effective uid and gid and supplementary
 * groups, so the source's own checks (mode bits, ACLs, LSM policy, reserved blocks, sticky
 * directories) apply to the caller, and what is created belongs to the caller from its first
 * instant (no chown or chmod after the fact, so nothing can be swapped in between).
 *
 * Raw syscalls: glibc's setresuid/setresgid/setgroups change every thread of the process (they
 * broadcast to all threads); the kernel calls change only the calling one. The real and saved
 * ids stay the daemon's, so the way back (op_end) always works, and with the effective uid no
 * longer 0 the kernel clears the thread's effective capabilities (restored from the permitted
 * set when it goes back to 0).
 *
 * A daemon that is not root never switches: it could not, and acts with its own ids as before.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

struct switched {
  int on;        /* this thread has the caller's ids now */
  int suspended; /* ... but is back to the daemon's for one call (node_use) */
};

static __thread struct switched sw;

static long set_groups(size_t n, const gid_t *list) {
  return syscall(SYS_setgroups, n, list);
}

static long set_egid(gid_t gid) {
  return syscall(SYS_setresgid, (gid_t)-1, gid, (gid_t)-1);
}

static long set_euid(uid_t uid) {
  return syscall(SYS_setresuid, (uid_t)-1, uid, (uid_t)-1);
}

/* The number after `key` on its line of a /proc status text, field `index` (0-based), or -1. */
static long status_field(const char *text, const char *key, int index) {
  const char *p = strstr(text, key);
  if (!p) return -1;
  p += strlen(key);
  for (int i = 0; i <= index; i++) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) return -1;
    if (i == index) return v;
    p = end;
  }
  return -1;
}

/*
 * The caller's supplementary groups from /proc/<tid>/status (the request carries none), taken
 * only when that thread still has the request's uid and gid as its effective and filesystem ids:
 * a thread gone, or a number reused by another process meanwhile, gives no groups at all (fewer
 * rights, never more). Returns how many, at most MAX_GROUPS.
 */
/*
 * /proc/<tid>/status into `text`, NUL-terminated, while that thread's effective and filesystem uid
 * are still `uid` (Uid: lines are real, effective, saved, filesystem): 0, or -1 (gone, unreadable,
 * or no longer the request's caller: a number reused by another process meanwhile).
 */
static int caller_status(pid_t pid, uid_t uid, char *text, size_t size) {
  if (pid <= 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -1;
  ssize_t len = read(fd, text, size - 1);
  close(fd);
  if (len <= 0) return -1;
  text[len] = '\0';
  return status_field(text, "\nUid:", 1) == (long)uid && status_field(text, "\nUid:", 3) == (long)uid ? 0 : -1;
}

static size_t caller_groups(pid_t pid, uid_t uid, gid_t gid, gid_t *list) {
  char text[8192];
  if (caller_status(pid, uid, text, sizeof text) != 0) return 0;
  if (status_field(text, "\nGid:", 1) != (long)gid || status_field(text, "\nGid:", 3) != (long)gid) return 0;
  const char *p = strstr(text, "\nGroups:");
  if (!p) return 0;
  p += strlen("\nGroups:");
  const char *eol = strchr(p, '\n');
  if (!eol) return 0; /* cut off (more groups than the buffer holds): none rather than some */
  size_t n = 0;
  while (p < eol && n < MAX_GROUPS) {
    char *end;
    unsigned long g = strtoul(p, &end, 10);
    if (end == p) break;
    list[n++] = (gid_t)g;
    p = end;
  }
  return n;
}

/*
 * Back to the daemon's own ids. A failure here would leave a worker with a caller's ids (or a
 * caller's groups with root's uid) serving the next request: that must never happen, so the
 * process ends instead (the mount is then lost, which `stop` and `status` handle).
 */
static void restore(struct fs *fs) {
  if (set_euid(fs->uid) == -1 || set_egid(fs->gid) == -1 || set_groups(fs->ngroups, fs->groups) == -1) {
    static const char msg[] = "mountie native core: cannot restore the daemon's credentials; aborting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    abort();
  }
  sw.on = 0;
  sw.suspended = 0;
}

int creds_needed(const struct fs *fs, const struct caller *c) {
  return fs->uid == 0 && (c->uid != fs->uid || c->gid != fs->gid);
}

int creds_enter(struct fs *fs, const struct caller *c) {
  if (sw.on || !creds_needed(fs, c)) return 0;
  /* -1 is "leave unchanged" to setres*id: an id the kernel could not map must never mean "stay root". */
  if (c->uid == (uid_t)-1 || c->gid == (gid_t)-1) return EPERM;
  gid_t groups[MAX_GROUPS];
  size_t n = caller_groups(c->pid, c->uid, c->gid, groups);
  /* Groups and gid first: once the uid is not 0 the thread may no longer change them. */
  sw.on = 1; /* from here on, whatever happens, the way back restores all three */
  if (set_groups(n, groups) == -1 || set_egid(c->gid) == -1 || set_euid(c->uid) == -1) {
    int err = errno;
    restore(fs);
    return err;
  }
  return 0;
}

void creds_leave(struct fs *fs) {
  if (sw.on) restore(fs);
}

/*
 * For one call that needs the daemon's own privileges and acts on nothing the caller names
 * (open_by_handle_at of a node the kernel already holds): back to the daemon's uid, then again
 * the caller's. Only the uid changes: groups and gid do not grant what root has anyway.
 */
int creds_suspend(struct fs *fs) {
  if (!sw.on || sw.suspended) return 0;
  if (set_euid(fs->uid) == -1) return 0;
  sw.suspended = 1;
  return 1;
}

void creds_resume(struct fs *fs, const struct caller *c, int suspended) {
  if (!suspended) return;
  sw.suspended = 0;
  /* Cannot fail (root may take any uid); if it ever did, going on as root would be the one wrong answer. */
  if (set_euid(c->uid) == -1) abort();
}

/* The thread's effective capabilities before creds_admin_only (restored by creds_admin_drop). */
static __thread uint32_t saved_effective[2];

/* The thread's effective capabilities set to e0 (capabilities 0–31: CAP_SYS_ADMIN is 21) and e1 (32–63), the permitted and inheritable sets kept; the old ones saved. */
static int set_effective(uint32_t e0, uint32_t e1, int save) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) == -1) return -1;
  if (save) saved_effective[0] = d[0].effective, saved_effective[1] = d[1].effective;
  d[0].effective = e0;
  d[1].effective = e1;
  return (int)syscall(SYS_capset, &h, d); /* the calling thread only, like the id calls above */
}

/*
 * The caller's effective capabilities from /proc/<tid>/status (the request carries none), taken
 * only while that thread still has the request's uid as its effective and filesystem uid; 0 (none)
 * when it cannot be read or no longer matches: fewer rights, never more.
 */
static uint64_t read_capeff(const struct caller *c) {
  char text[8192];
  if (caller_status(c->pid, c->uid, text, sizeof text) != 0) return 0;
  const char *p = strstr(text, "\nCapEff:");
  return p ? strtoull(p + strlen("\nCapEff:"), NULL, 16) : 0;
}

/*
 * Read again at most once a second per thread id: a root process that drops a capability sees
 * the change within that second. The read costs about as much as a request (one open, one read of
 * /proc), and `tar x` as root registers a backing file per file it creates.
 */
#define CAPS_SLOTS 64
#define CAPS_TTL_NS 1000000000ull
static struct {
  pid_t pid;
  uint64_t eff;
  uint64_t at;
} caps_cache[CAPS_SLOTS];
static pthread_mutex_t caps_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t creds_caller_caps(const struct caller *c) {
  if (c->uid != 0 || c->pid <= 0) return 0; /* a non-root caller is registered with none of its own */
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  uint64_t now = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
  unsigned slot = (unsigned)c->pid % CAPS_SLOTS;
  pthread_mutex_lock(&caps_lock);
  int hit = caps_cache[slot].pid == c->pid && now - caps_cache[slot].at < CAPS_TTL_NS;
  uint64_t eff = caps_cache[slot].eff;
  pthread_mutex_unlock(&caps_lock);
  if (hit) return eff;
  eff = read_capeff(c);
  pthread_mutex_lock(&caps_lock);
  caps_cache[slot].pid = c->pid;
  caps_cache[slot].eff = eff;
  caps_cache[slot].at = now;
  pthread_mutex_unlock(&caps_lock);
  return eff;
}

/*
 * For the one call whose credentials the kernel keeps (backing.c: FUSE_DEV_IOC_BACKING_OPEN checks
 * CAP_SYS_ADMIN, then does the backing file's reads and writes with the credentials of the task
 * that registered it, as they were at the call). The thread keeps the caller's ids (creds_enter)
 * and takes the caller's own effective capabilities plus CAP_SYS_ADMIN, which the ioctl needs:
 *   - a non-root caller's ids leave the thread no capability, so what the kernel keeps is the
 *     caller's fsuid, fsgid and groups with CAP_SYS_ADMIN alone: no CAP_SYS_RESOURCE (ext4's
 *     reserved blocks, quota limits), no CAP_FSETID, no CAP_DAC_OVERRIDE. Registered with the
 *     daemon's root credentials instead, a user's writes through the mount filled the blocks ext4
 *     keeps for root (measured: 14.0 MB where the same user writing the source directly got
 *     ENOSPC at 5.6 MB);
 *   - a root caller has what its process has (/proc/<tid>/status CapEff): one that dropped
 *     CAP_FSETID must see its writes drop set-id bits, as on the source, and the backing file's
 *     own write decides that with these credentials.
 * Returns 1 when changed (creds_admin_drop puts the old set back), 0 when nothing needed changing
 * (a non-root daemon, which registers nothing, or a root caller with all of root's capabilities),
 * -1 when it could not be changed (no registration then).
 */
int creds_admin_only(const struct fs *fs, const struct caller *c) {
  if (fs->uid != 0) return 0;
  if (sw.suspended) return -1;
  uint64_t want = 1ull << CAP_SYS_ADMIN;
  if (geteuid() == 0) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) == -1) return -1;
    uint64_t have = (uint64_t)d[0].effective | ((uint64_t)d[1].effective << 32);
    want |= creds_caller_caps(c) & have;
    if (want == have) return 0;
  }
  return set_effective((uint32_t)want, (uint32_t)(want >> 32), 1) == 0 ? 1 : -1;
}

void creds_admin_drop(int raised) {
  if (raised != 1) return;
  /* A worker must never serve on with a caller's ids and CAP_SYS_ADMIN: ending the process is the one safe answer. */
  if (set_effective(saved_effective[0], saved_effective[1], 0) == -1) abort();
}
