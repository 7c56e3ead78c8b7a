// The daemon side: define a daemon of a kind, run one in the foreground. Nothing here loads
// fuse-native until a daemon starts (src/daemon/entry.ts, src/launcher/foreground.ts).
export { defineKind, MOUNTIE, type Kind } from '../protocol/kind.js';
export { defineDaemon, type DaemonDefinition, type MountieDaemon, type MountContext, type Served, type DaemonLog } from './define.js';
export type { FsOps, FsStat, FsStatfs, FsDone } from './fs-ops.js';
export { runForeground, type ForegroundOptions } from '../launcher/foreground.js';
export { runDaemon } from './entry.js';
export type { DaemonOptions } from './options.js';
