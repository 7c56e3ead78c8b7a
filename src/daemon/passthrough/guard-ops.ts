import { constants } from 'node:fs';
import type { FuseOps } from 'fuse-native';
import { EIO, EROFS } from './errno.js';

/** Ops that change the tree or file contents; on a read-only mount they answer EROFS. */
const WRITE_OPS = [
  'create', 'write', 'unlink', 'mkdir', 'rmdir', 'rename', 'truncate', 'ftruncate', 'utimens',
  'chmod', 'chown', 'symlink', 'link', 'mknod', 'setxattr', 'removexattr',
] as const satisfies readonly (keyof FuseOps)[];

const ACCMODE = constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR;

function refuse(...args: unknown[]): void {
  const cb = args[args.length - 1];
  if (typeof cb === 'function') (cb as (code: number) => void)(EROFS);
}

/**
 * Wrap ops so that nothing can write, whatever the kernel lets through. The `ro` mount
 * option already makes the kernel refuse most writes; this is the second wall (and covers
 * opens for writing, which the kernel would otherwise forward).
 */
export function readOnlyOps(ops: FuseOps): FuseOps {
  const out: FuseOps = { ...ops };
  const table = out as Record<string, unknown>;
  for (const name of WRITE_OPS) if (table[name]) table[name] = refuse;
  const { open, access } = ops;
  if (open) {
    out.open = (path, flags, cb) => {
      if ((flags & ACCMODE) !== constants.O_RDONLY || (flags & constants.O_TRUNC) !== 0) return cb(EROFS);
      open.call(ops, path, flags, cb);
    };
  }
  if (access) {
    out.access = (path, mode, cb) => ((mode & constants.W_OK) !== 0 ? cb(EROFS) : access(path, mode, cb));
  }
  return out;
}

/**
 * Wrap ops so that once `signal` aborts (this daemon was fenced or is shutting down) no op
 * touches the source again; each answers EIO. release still runs so open fds get closed.
 */
export function abortableOps(ops: FuseOps, signal: AbortSignal): FuseOps {
  const out: FuseOps = { ...ops };
  const table = out as Record<string, unknown>;
  for (const [name, fn] of Object.entries(ops)) {
    if (typeof fn !== 'function' || name === 'release' || name === 'releasedir' || name === 'init') continue;
    table[name] = (...args: unknown[]) => {
      if (!signal.aborted) return (fn as (...a: unknown[]) => void).apply(ops, args);
      const cb = args[args.length - 1];
      if (typeof cb === 'function') (cb as (code: number) => void)(EIO);
    };
  }
  return out;
}
