import { stat } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { abortConnection, unmountPath } from '../sys/fusermount.js';
import { isFuse, mountAt, readMountInfo } from '../sys/mountinfo.js';
import { withTimeout } from '../sys/time.js';
import { fsnameFor } from '../state/tag.js';
import type { Logger } from './log.js';

export type StaleCleanup = 'none' | 'cleaned';

/**
 * Bounded probe of a mountpoint: 'enotconn' for a dead FUSE server, 'hung' when it does not answer
 * in time (the stat keeps one threadpool thread until the connection is aborted), 'ok' otherwise.
 */
export async function probeMountpoint(path: string, timeoutMs = 500): Promise<'ok' | 'enotconn' | 'hung' | 'error'> {
  try {
    await withTimeout(`stat ${path}`, timeoutMs, stat(path));
    return 'ok';
  } catch (err) {
    if (errnoCode(err) === 'ENOTCONN') return 'enotconn';
    return err instanceof Error && err.name === 'TimeoutError' ? 'hung' : 'error';
  }
}

/**
 * Clean a leftover mount of this workspace at its mountpoint. Call ONLY while holding the
 * workspace lock: then no live daemon owns the mount, whatever a probe says (MusicFS unmounted
 * its live twin because it looked before locking). A foreign mount there is refused.
 */
export async function cleanStaleMount(mountpoint: string, workspace: string, log: Logger): Promise<StaleCleanup> {
  const entry = mountAt(await readMountInfo(), mountpoint);
  if (!entry) return 'none';
  if (!isFuse(entry) || entry.source !== fsnameFor(workspace)) {
    throw new MountieError('ERR_MOUNTPOINT_BUSY', `${mountpoint} is already a mount point (${entry.fstype} ${entry.source})`, {
      data: { path: mountpoint, workspace },
      hint: 'unmount it first or choose another mountpoint',
    });
  }
  // Skip the probe altogether: with the lock held it is stale by definition; the probe result is
  // only logged. Abort first so that anything blocked on it is released, then detach lazily.
  const aborted = await abortConnection(entry);
  const result = await unmountPath(mountpoint, { lazyOnly: true });
  log.info(`stale mount at ${mountpoint} (connection ${entry.device}, aborted=${aborted}) cleaned: ${result.unmounted}`);
  if (!result.unmounted) {
    throw new MountieError('ERR_UNMOUNT_FAILED', `could not clean the stale mount at ${mountpoint}: ${result.detail ?? 'unknown'}`, {
      data: { path: mountpoint, workspace },
      hint: `run: fusermount -uz ${mountpoint}`,
    });
  }
  return 'cleaned';
}
