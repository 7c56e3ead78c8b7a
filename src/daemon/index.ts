// The daemon side: the harness a daemon process runs. Nothing here loads fuse-native until a
// daemon starts (src/daemon/entry.ts).
export { runDaemon } from './entry.js';
export type { DaemonOptions } from './options.js';
