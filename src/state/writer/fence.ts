/**
 * The fencing rule of StateWriter: a document on disk with a higher epoch, or the same epoch
 * from another instance, means another writer owns the file and we must stop for good.
 */
import { MountieError } from '../../errors.js';
import type { FenceHeader } from '../state-schema.js';
import type { FenceInfo } from './types.js';

/** Thrown inside beforeRename to abort a write once fenced; never leaves the writer. */
export class FencedAbort extends Error {}

/** Why `disk` fences the writer (epoch, instanceId) of `path`; undefined when it does not. */
export function fenceReason(disk: FenceHeader | undefined, epoch: number, instanceId: string, path: string): string | undefined {
  if (!disk || !(disk.epoch > epoch || (disk.epoch === epoch && disk.instanceId !== instanceId))) return undefined;
  const why = disk.epoch > epoch ? `epoch ${disk.epoch} > ours ${epoch}` : `same epoch ${disk.epoch}, instance ${disk.instanceId}`;
  return `another writer owns ${path}: ${why}`;
}

export function fencedError(path: string, epoch: number, info: FenceInfo | undefined): MountieError {
  return new MountieError('ERR_FENCED', `state writer fenced: ${info?.reason ?? 'unknown'}`, {
    data: { path, epoch, by: info?.by },
  });
}
