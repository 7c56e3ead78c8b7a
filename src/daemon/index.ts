// Inside the daemon: the harness and the pieces another FUSE daemon can reuse.
export { runDaemon, DAEMON_EXIT, exitCodeForStartError } from './run.js';
export { acquireLock, probeLock, lockAddress, type HeldLock, type LockOwner, type LockProbe } from './lock.js';
export { createShutdown, type Shutdown, type ShutdownStep, type ShutdownResult } from './shutdown.js';
export { installLifecycleHandlers, TERMINATION_SIGNALS } from './signals.js';
export { openReadyChannel, READY_FD_ENV, type ChannelMessage, type ReadyChannel } from './channel.js';
export { mountFuse, installSafeUnmount, type MountedFuse, type MountFuseOptions } from './fuse.js';
export { createPassthroughOps } from './passthrough.js';
export { mountNative, loadNative, readCounters, type MountedNative, type MountNativeOptions, type NativeCounters, type NativeLoad } from './native/index.js';
export { cleanStaleMount, probeMountpoint } from './stale.js';
export { openLogger, type Logger } from './log.js';
export { notifySystemd } from './notify.js';
export type { DaemonOptions } from './options.js';
