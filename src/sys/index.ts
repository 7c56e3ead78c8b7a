// Operating-system facts both sides use: /proc, the mount table, fusermount, bounded runs.
export { readProc, scanProcesses, bootId, identityOf, verifyIdentity, sameIdentity, probeLiveness, ancestorsOf, type ProcInfo, type ProcessIdentity, type Liveness } from './proc.js';
export { readMountInfo, parseMountInfo, mountAt, isFuse, fuseConnection, type MountEntry } from './mountinfo.js';
export { unmountPath, abortConnection, ensureFusectl, type UnmountResult } from './fusermount.js';
export { runFile, type RunResult } from './run.js';
export { withTimeout, systemClock, TimeoutError, type Clock } from './time.js';
