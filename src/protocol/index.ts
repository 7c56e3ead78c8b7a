// What the launcher and the daemon agree on: the lock, the daemon marker, the mount tag, the
// readiness channel, how daemons of a home are found and when a mount is stale.
export { acquireLock, lockHeldNow, type HeldLock, type LockRef } from './lock.js';
export { DAEMON_COMM, isMarked, markDaemon } from './marker.js';
export { FUSE_SUBTYPE, FUSE_FSTYPE, mountTag, parseTag, isTagOf, mountsOf, homeIdOf, type MountTag } from './tag.js';
export { openReadyChannel, READY_FD_ENV, type ChannelMessage, type ReadyChannel } from './channel.js';
export { findHomeDaemons, type DaemonRef, type HomeDirs } from './daemons.js';
export { cleanStaleMounts, probeMountpoint } from './stale.js';
