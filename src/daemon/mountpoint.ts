/**
 * What a daemon checks about a mountpoint before it mounts, and what it knows of its mounts after:
 * the names it hands to the kernel, an empty directory, never a mount on or below one of its own
 * (the kernel would park the thread waiting for this process to answer), and the mounted result's
 * shape. The mount itself is the native core's (./native/mount.ts).
 */
import { opendir } from 'node:fs/promises';
import { MountieError } from '../errors.js';
import type { UnmountResult } from '../sys/fusermount.js';

export type { UnmountResult } from '../sys/fusermount.js';

/** A mount this process serves. */
export interface MountedFuse {
  /** The real path, as /proc/self/mountinfo shows it. */
  readonly mountpoint: string;
  /** The options handed to libfuse (after "-o"), for logs. */
  readonly options: string;
  /** Detach the mount (lazily if busy). Resolves with what happened; rejects only on timeout. */
  unmount(opts?: { timeoutMs?: number }): Promise<UnmountResult>;
}

/** Anything outside this set could end or escape a comma-separated libfuse option. */
const SAFE_NAME = /^[A-Za-z0-9._:@+/-]{1,128}$/;

/** Mountpoints this process serves: mounting on or below one would deadlock on ourselves. */
const active = new Set<string>();

/** Is `path` on or below a mountpoint this process serves? */
export function servedByUs(path: string): boolean {
  return [...active].some((m) => isWithin(path, m));
}

/** Mark a mountpoint served by this process; returns the unmark. */
export function markServed(path: string): () => void {
  active.add(path);
  return () => active.delete(path);
}

/** A name that goes into libfuse's comma-separated options (fsname, subtype). */
export function checkName(what: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new MountieError('ERR_INVALID_OPTION', `${what} may only hold letters, digits and ._:@+/-`, { data: { value } });
  }
}

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : root + '/');
}

/** `work`, or `onTimeout()`'s error once `ms` passed (the work itself goes on). */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** libfuse refuses a non-empty mountpoint with only "fuse failed"; say why, before trying. */
export async function checkEmptyDir(path: string, failed: (message: string) => MountieError): Promise<void> {
  const dir = await opendir(path);
  try {
    if (await dir.read()) throw failed(`mountpoint ${path} is not empty`);
  } finally {
    await dir.close();
  }
}
