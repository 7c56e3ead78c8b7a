/*
 * The kernel's FUSE protocol as our own session speaks it: the structs and constants of the
 * system's <linux/fuse.h> (Debian 12: protocol 7.38), and below, written here, the few 7.39+
 * additions we use (names prefixed X_, values from the kernel's protocol 7.45). We answer INIT
 * with minor 38 at most: the kernel then speaks 7.38 to us.
 */
#ifndef MOUNTIE_PROTO_H
#define MOUNTIE_PROTO_H

#include <linux/fuse.h>

/* The oldest kernel protocol our decoders accept (Linux 5.x speaks 7.31 and later). */
#define OWN_MIN_MINOR 31
/* What we answer at most: the structs of <linux/fuse.h>. */
#define OWN_MAX_MINOR FUSE_KERNEL_MINOR_VERSION

/* Mount options' room for the kernel's read buffer: requests up to 1 MiB of data, plus headers. */
#define OWN_HEADER_ROOM 4096

/*
 * Passthrough (protocol 7.40; kernel Documentation/filesystems/fuse-passthrough.rst): the INIT
 * flag, the open flag, and the /dev/fuse ioctls that register a backing file and drop it. In
 * 7.40's fuse_init_out, max_stack_depth took the place of 7.38's unused[0]; in fuse_open_out,
 * backing_id that of padding.
 */
#include <sys/ioctl.h>
#define X_FUSE_PASSTHROUGH (1ULL << 37)
#define X_FOPEN_PASSTHROUGH (1u << 7)
struct x_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define X_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct x_backing_map)
#define X_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/*
 * FUSE_NOTIFY_RESEND (protocol 7.41, Linux 6.9): the kernel requeues the requests it sent and
 * that were not answered (a handover's safety net, issue 21). No payload. Older kernels: EINVAL.
 */
#define X_FUSE_NOTIFY_RESEND 7

#endif
