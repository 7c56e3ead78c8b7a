/**
 * What a command line built on mountie does with an error: its exit code and its "what to do"
 * line, the same as the `mountie` command's, so an author's CLI keeps no table of its own.
 */
import { ENVIRONMENT_CODES, isMountieError, USAGE_CODES } from '../errors.js';
import { fromSystemError } from '../sys/errno-error.js';
import { EXIT } from '../cli/exit-codes.js';

/**
 * The exit code a command should end with for `err`, as `mountie` itself does: 2 bad input or
 * environment (nothing was changed on disk), 3 already running (`ERR_WORKSPACE_LOCKED`,
 * `ERR_WORKSPACE_ACTIVE`), 4 failed to start (and `ERR_UNKNOWN_WORKSPACE`), 1 a stop or unmount
 * that failed, 70 anything that is not a coded error (a bug). A Node system error (EACCES, ENOSPC,
 * …) counts as the coded error mountie would make of it.
 */
export function exitCodeOf(err: unknown): number {
  const e = fromSystemError(err);
  if (!isMountieError(e)) return EXIT.internal;
  if (USAGE_CODES.has(e.code) || ENVIRONMENT_CODES.has(e.code)) return EXIT.usage;
  switch (e.code) {
    case 'ERR_WORKSPACE_LOCKED':
    case 'ERR_WORKSPACE_ACTIVE':
      return EXIT.alreadyRunning;
    case 'ERR_UNKNOWN_WORKSPACE':
      return EXIT.unknownWorkspace;
    case 'ERR_STOP_FAILED':
    case 'ERR_UNMOUNT_FAILED':
      return EXIT.failure;
    default:
      return EXIT.startFailed;
  }
}

/**
 * What the user should do about `err`, worded for a command line (a kind defined with `command`
 * names `<command> stop <ws>`, not a library call): the coded error's hint, or the hint of the
 * coded error mountie makes of a Node system error; `undefined` for anything else (a bug: show the
 * stack).
 */
export function hintOf(err: unknown): string | undefined {
  const e = fromSystemError(err);
  return isMountieError(e) ? e.hint : undefined;
}
