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

#endif
