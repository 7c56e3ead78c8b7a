// The controlling side: start a daemon and wait for READY, discover, stop, inspect.
export { startDaemon, DEFAULT_READY_TIMEOUT_MS, DAEMON_THREADPOOL_SIZE, type StartOptions, type StartResult } from './start.js';
export { discover, type Daemon, type Discovery, type Snapshot } from './discover.js';
export { stopWorkspace, type StopOptions, type StopReport, type ProcessEnd } from './stop.js';
export { inspectWorkspace, listWorkspaces, type WorkspaceStatus, type Verdict } from './inspect.js';
export { findDaemons, type DaemonProcess } from './scan.js';
export { matchDaemon, isEntryScript } from './match.js';
export { homeOfProcess } from './home-of.js';
