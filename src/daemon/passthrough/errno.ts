import { constants } from 'node:os';
import { errnoCode, isMountieError } from '../../errors.js';

const ERRNO = constants.errno as Readonly<Record<string, number>>;

export const EBADF = -(ERRNO.EBADF ?? 9);
export const EIO = -(ERRNO.EIO ?? 5);
export const EROFS = -(ERRNO.EROFS ?? 30);
export const ETIMEDOUT = -(ERRNO.ETIMEDOUT ?? 110);

/**
 * The negative errno FUSE expects for a failed node:fs call, or for a scheduler answer (a
 * MountieError carrying `data.errno`: ETIMEDOUT at the deadline, EIO when cancelled). Unknown
 * or non-system errors become EIO: the kernel needs some errno, and EIO says "the backing store
 * failed".
 */
export function toFuseErrno(err: unknown): number {
  const code = isMountieError(err) && typeof err.data.errno === 'string' ? err.data.errno : errnoCode(err);
  const n = code === undefined ? undefined : ERRNO[code];
  return n === undefined ? EIO : -n;
}
