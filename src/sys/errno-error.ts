import { MountieError, errnoCode, isMountieError, type ErrorCode } from '../errors.js';
import { TimeoutError } from './time.js';

/**
 * Node system errors (EACCES, EROFS, ...) turned into coded MountieErrors at the boundary: the
 * user gets the path, what the errno means and what to do, never a stack trace. An errno not in
 * the table still becomes a coded error (ERR_ENVIRONMENT), quoting it.
 */
const TABLE: Record<string, { code: ErrorCode; what: string; hint: (path: string) => string }> = {
  EACCES: { code: 'ERR_PERMISSION_DENIED', what: 'permission denied', hint: (p) => `run as the user who owns ${p}, or give this user access to it` },
  EPERM: { code: 'ERR_PERMISSION_DENIED', what: 'operation not permitted', hint: (p) => `${p} cannot be changed by this user (or at all: /proc, /sys); choose another path` },
  EROFS: { code: 'ERR_READ_ONLY_FS', what: 'read-only file system', hint: (p) => `${p} is on a read-only file system; choose a writable place (set MOUNTIE_HOME, or --at)` },
  ENOSPC: { code: 'ERR_NO_SPACE', what: 'no space left on device', hint: (p) => `free space on the file system of ${p}, or set MOUNTIE_HOME to another one` },
  EDQUOT: { code: 'ERR_NO_SPACE', what: 'disk quota exceeded', hint: (p) => `free space within your quota on the file system of ${p}` },
  ENAMETOOLONG: { code: 'ERR_NAME_TOO_LONG', what: 'file name too long', hint: () => 'use a shorter path (each name at most 255 bytes, the whole path at most 4095)' },
  EISDIR: { code: 'ERR_IS_DIRECTORY', what: 'is a directory where a file belongs', hint: (p) => `remove or rename the directory ${p} (while the workspace is stopped)` },
  ENOTDIR: { code: 'ERR_NOT_DIRECTORY', what: 'a part of the path is not a directory', hint: (p) => `check each part of ${p}: one of them is a file` },
  ELOOP: { code: 'ERR_SYMLINK_REFUSED', what: 'symbolic link loop, or a symbolic link where mountie refuses one', hint: (p) => `replace the symlink ${p} by a real file or directory (mountie never writes through symlinks)` },
  EMFILE: { code: 'ERR_TOO_MANY_FILES', what: 'too many open files', hint: () => 'raise the open-file limit (ulimit -n) or close other programs, then retry' },
  ENFILE: { code: 'ERR_TOO_MANY_FILES', what: 'too many open files in the system', hint: () => 'close other programs, then retry' },
};

/** The path a Node system error names, if any. */
function pathOf(err: unknown): string | undefined {
  const p = typeof err === 'object' && err !== null ? (err as { path?: unknown }).path : undefined;
  return typeof p === 'string' ? p : undefined;
}

/**
 * A coded error for `err`: MountieErrors pass through; errno errors map by TABLE; a TimeoutError
 * becomes ERR_ENVIRONMENT naming what did not finish. Anything else (a bug) is returned as is.
 */
export function fromSystemError(err: unknown, ctx: { path?: string; doing?: string } = {}): unknown {
  if (isMountieError(err)) return err;
  if (err instanceof TimeoutError) {
    return new MountieError('ERR_ENVIRONMENT', `${err.what} did not finish within ${err.ms} ms`, {
      data: { ...(ctx.path ? { path: ctx.path } : {}), timeoutMs: err.ms },
      hint: 'a file system did not answer (a hung network or FUSE mount?); fix or unmount it, then retry',
      cause: err,
    });
  }
  const errno = errnoCode(err);
  if (errno === undefined || !/^E[A-Z0-9]+$/.test(errno)) return err;
  const path = pathOf(err) ?? ctx.path ?? '';
  const syscall = typeof err === 'object' && err !== null ? (err as { syscall?: unknown }).syscall : undefined;
  const doing = ctx.doing ?? (typeof syscall === 'string' ? syscall : 'access');
  const entry = TABLE[errno];
  if (entry) {
    return new MountieError(entry.code, `${path || 'a file'}: ${entry.what} (${errno}, ${doing})`, {
      data: { ...(path ? { path } : {}), errno },
      hint: entry.hint(path || 'the path'),
      cause: err,
    });
  }
  return new MountieError('ERR_ENVIRONMENT', `${path || 'a file'}: ${errno} (${doing})`, {
    data: { ...(path ? { path } : {}), errno },
    hint: `the system refused to ${doing}${path ? ` ${path}` : ''} (${errno}); check the path and the file system, then retry`,
    cause: err,
  });
}
