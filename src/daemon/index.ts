// The daemon side: define a kind and a daemon of it, run one in the foreground. Nothing here
// loads the native addon until a daemon starts (the launcher's child, or runForeground, import the
// harness src/daemon/run.ts only then). The harness itself (runDaemon) is internal since kinds:
// a daemon is run through its definition.
export { MountieError, isMountieError } from '../errors.js';
export { defineKind, MOUNTIE, type Kind } from '../protocol/kind.js';
export { defineDaemon, type DaemonDefinition, type MountieDaemon, type MountContext, type Served, type DaemonLog } from './define.js';
export type { FsOps, FsStat, FsStatfs, FsDone, FsCode } from './fs-ops.js';
export type { FsMountOptions } from './mount-options.js';
export { FsError, type FileSystem, type FsCaller, type FsAttr, type FsDirent, type FsNumber, type FsTime, type FsTimes, type FsHandle, type ErrnoName, type FsStatvfs } from './file-system.js';
export { runForeground, type ForegroundOptions } from '../launcher/foreground.js';
