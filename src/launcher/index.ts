// The controlling side: start a daemon and wait for READY, discover, stop, inspect.
export { startDaemon, DEFAULT_READY_TIMEOUT_MS, DAEMON_THREADPOOL_SIZE, type StartOptions, type StartResult } from './start.js';
export { discover, homeFacts, type Daemon, type Discovery, type Snapshot, type HomeFacts } from './discover.js';
export { stopWorkspace, DEFAULT_GRACE_MS, type StopOptions, type StopReport, type ProcessEnd } from './stop.js';
export { inspectWorkspace, listWorkspaces, type WorkspaceStatus, type Verdict } from './inspect.js';
