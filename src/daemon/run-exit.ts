import { isMountieError, USAGE_CODES } from '../errors.js';

/** Exit codes shared with the CLI (README documents them). */
export const DAEMON_EXIT = { ok: 0, runtimeFailure: 1, usage: 2, locked: 3, startFailed: 4 } as const;

/** The exit code of a daemon whose start failed with `err`. */
export function exitCodeForStartError(err: unknown): number {
  if (isMountieError(err)) {
    if (err.code === 'ERR_WORKSPACE_LOCKED') return DAEMON_EXIT.locked;
    if (USAGE_CODES.has(err.code)) return DAEMON_EXIT.usage;
  }
  return DAEMON_EXIT.startFailed;
}
