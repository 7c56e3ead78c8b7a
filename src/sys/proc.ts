// The process API in one place, so callers need not know how it is split into modules.
export { parseStat, parseCmdline, procCwd, readGroupNow, readProc, readSmallNow, readStatNow, type ProcInfo, type StatFields } from './proc-read.js';
export { scanProcesses, type ScanOptions } from './proc-scan.js';
export {
  bootId,
  procSelfPid,
  probeLiveness,
  identityOf,
  sameIdentity,
  verifyIdentity,
  ancestorsOf,
  type Liveness,
  type ProcessIdentity,
  type KillFn,
} from './proc-identity.js';
