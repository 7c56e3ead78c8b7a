// mountie as a library. Subpaths (mountie/launcher, mountie/daemon, mountie/state, mountie/sys)
// mirror the architecture; this root re-exports them as namespaces plus the error type.
export { MountieError, isMountieError, type ErrorCode, type ErrorData } from './errors.js';
export * as launcher from './launcher/index.js';
export * as daemon from './daemon/index.js';
export * as state from './state/index.js';
export * as protocol from './protocol/index.js';
export * as sys from './sys/index.js';
