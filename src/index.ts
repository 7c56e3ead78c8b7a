// mountie as a library: the controlling side (launch, stop, status, discover), the daemon side
// (defineKind, defineDaemon, runForeground), the files on disk (read only) and the error type. The same names, split by side, are
// the subpaths `mountie/launcher`, `mountie/daemon`, `mountie/state`. Importing any of them has no
// side effect (no native module, no patch, no handler).
export { MountieError, isMountieError, type ErrorCode, type ErrorData } from './errors.js';
export * from './launcher/index.js';
export * from './daemon/index.js';
export * from './state/index.js';
