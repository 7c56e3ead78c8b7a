// Inside the daemon: the harness and the pieces another FUSE daemon can reuse.
export { runDaemon, DAEMON_EXIT, exitCodeForStartError } from './run.js';
export { createShutdown, type Shutdown, type ShutdownStep, type ShutdownResult } from './shutdown.js';
export { installLifecycleHandlers, TERMINATION_SIGNALS } from './signals.js';
export { mountFuse, installSafeUnmount, type MountedFuse, type MountFuseOptions } from './fuse/mount.js';
export { createPassthroughOps } from './passthrough/ops.js';
export { mountNative, loadNative, readCounters, type MountedNative, type MountNativeOptions, type NativeCounters, type NativeLoad } from './native/index.js';
export { openLogger, type Logger } from './log.js';
export { notifySystemd } from './notify.js';
export type { DaemonOptions } from './options.js';
