/*
 * Probe (not built by CI, not part of the package): kernel FUSE passthrough on libfuse 3.14 by
 * patching the INIT and OPEN replies in a custom_io writev (docs/ARCHITECTURE.md, "FUSE session
 * layer"). Build: gcc -O2 -Wall passthrough-probe.c $(pkg-config --cflags --libs fuse3) -o ptprobe
 * Run as root: ./ptprobe <empty dir> <backing file> [1|0 passthrough]  (OPATH=1: register an O_PATH fd)
 * then read <dir>/f with cat, dd iflag=direct or mmap; the log prints "daemon reads 0" when every
 * read went to the backing file. 2026-12-06, kernel 6.18: reads 0 with passthrough on, O_PATH fds
 * accepted; a second open of the same inode answered with another backing id fails with EIO.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fuse.h>
/* 7.40 bits missing from Debian 12's <linux/fuse.h> (7.38) */
#define X_FUSE_PASSTHROUGH (1ULL << 37)
#define X_FOPEN_PASSTHROUGH (1 << 7)
struct x_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
#define X_IOC_BACKING_OPEN _IOW(229, 1, struct x_backing_map)
#define X_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)
struct x_init_out { uint32_t major, minor, max_readahead, flags; uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran; uint16_t max_pages, map_alignment; uint32_t flags2, max_stack_depth; uint16_t request_timeout, unused[11]; };
struct x_open_out { uint64_t fh; uint32_t open_flags; int32_t backing_id; };

static const char *backing_path; static int sfd; static uint64_t init_unique; static int init_seen;
static __thread int pending_backing_id; static volatile long daemon_reads;
static int want_pt = 1;

static ssize_t io_read(int fd, void *buf, size_t len, void *ud) { (void)ud;
  ssize_t n = read(fd, buf, len);
  if (n >= (ssize_t)sizeof(struct fuse_in_header) && !init_seen) { struct fuse_in_header *ih = buf;
    if (ih->opcode == FUSE_INIT) { init_unique = ih->unique; init_seen = 1;
      struct fuse_init_in *ii = (void *)(ih + 1);
      fprintf(stderr, "INIT in: %u.%u flags=0x%x flags2=0x%x\n", ii->major, ii->minor, ii->flags, ii->flags2); } }
  return n; }

static ssize_t io_writev(int fd, struct iovec *iov, int cnt, void *ud) { (void)ud;
  struct fuse_out_header *oh = iov[0].iov_base;
  if (init_seen == 1 && oh->unique == init_unique && cnt >= 2 && iov[1].iov_len >= 40) {
    init_seen = 2; struct x_init_out *o = iov[1].iov_base;
    fprintf(stderr, "INIT out from libfuse 3.14: minor=%u flags=0x%x flags2=0x%x len=%zu\n", o->minor, o->flags, o->flags2, iov[1].iov_len);
    if (want_pt && (o->flags & FUSE_INIT_EXT)) { o->flags2 |= (uint32_t)(X_FUSE_PASSTHROUGH >> 32); o->max_stack_depth = 1;
      fprintf(stderr, "patched: flags2=0x%x max_stack_depth=1 (writeback_cache bit %s)\n", o->flags2, (o->flags & FUSE_WRITEBACK_CACHE) ? "SET" : "clear"); }
  }
  if (pending_backing_id && oh->error == 0 && cnt >= 2 && iov[cnt-1].iov_len >= sizeof(struct x_open_out)) {
    struct x_open_out *oo = (void *)((char *)iov[cnt-1].iov_base + iov[cnt-1].iov_len - sizeof *oo);
    oo->open_flags |= X_FOPEN_PASSTHROUGH; oo->backing_id = pending_backing_id; pending_backing_id = 0; }
  return writev(fd, iov, cnt); }

static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; struct stat st; memset(&st,0,sizeof st);
  if (ino == 1) { st.st_mode = S_IFDIR|0755; st.st_nlink = 2; } else { stat(backing_path, &st); st.st_mode = S_IFREG|0644; }
  st.st_ino = ino; fuse_reply_attr(req, &st, 0); }
static void ll_lookup(fuse_req_t req, fuse_ino_t p, const char *name) {
  if (p != 1 || strcmp(name, "f")) { fuse_reply_err(req, ENOENT); return; }
  struct fuse_entry_param e; memset(&e,0,sizeof e); e.ino = 2; stat(backing_path, &e.attr); e.attr.st_ino = 2; fuse_reply_entry(req, &e); }
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  int bfd = getenv("OPATH") ? open(backing_path, O_PATH) : open(backing_path, fi->flags & O_ACCMODE);
  if (bfd < 0) { fuse_reply_err(req, errno); return; }
  fi->fh = (uint64_t)bfd;
  if (want_pt) { struct x_backing_map m = {.fd = bfd};
    int id = ioctl(sfd, X_IOC_BACKING_OPEN, &m);
    fprintf(stderr, "BACKING_OPEN ino=%lu -> %d (%s)\n", (unsigned long)ino, id, id < 0 ? strerror(errno) : "ok");
    if (id > 0) pending_backing_id = id; }
  fuse_reply_open(req, fi); }
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)ino; (void)off; (void)fi;
  __atomic_add_fetch(&daemon_reads, 1, __ATOMIC_RELAXED); fprintf(stderr, "daemon READ size=%zu\n", size);
  const char *s = "FROM-DAEMON\n"; fuse_reply_buf(req, s, strlen(s) < size ? strlen(s) : size); }
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)ino; close((int)fi->fh); fuse_reply_err(req, 0); }
static const struct fuse_lowlevel_ops ops = {.lookup = ll_lookup, .getattr = ll_getattr, .open = ll_open, .read = ll_read, .release = ll_release};

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  backing_path = argv[2];
  if (argc > 3) want_pt = atoi(argv[3]);
  char *a[] = {argv[0], "-o", "fsname=ptprobe"}; struct fuse_args args = FUSE_ARGS_INIT(3, a);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_session_mount(se, argv[1])) { fprintf(stderr, "mount failed\n"); return 1; }
  sfd = fuse_session_fd(se); fuse_session_custom_io(se, &io, sfd);
  int r = fuse_session_loop(se); fprintf(stderr, "loop end %d, daemon reads %ld\n", r, daemon_reads);
  fuse_session_unmount(se); fuse_session_destroy(se); return 0; }
