/**
 * Mount and unmount through fuse-native with the sharp edges filed off: bounded mount,
 * no shell in unmount, option strings checked, and no sync fs call on any mountpoint
 * (the kernel would park this thread waiting for itself to answer).
 */
import type Fuse from 'fuse-native';
import type { FuseOps, FuseOptions, FuseTimeout } from 'fuse-native';
import { createRequire } from 'node:module';
import { opendir, realpath } from 'node:fs/promises';
import { MountieError } from '../../errors.js';
import { mountAt, readMountInfo, type MountEntry } from '../../sys/mountinfo.js';
import { isOwnFuseMount } from '../../protocol/tag.js';
import { unmountPath, type UnmountResult } from '../../sys/fusermount.js';
import { readOnlyOps } from '../passthrough/guard-ops.js';
import { MOUNT_TIMEOUT_MS } from '../mount-budget.js';

export type { UnmountResult } from '../../sys/fusermount.js';

export interface MountFuseOptions {
  readonly mountpoint: string;
  readonly ops: FuseOps;
  /** Shows as the mount source in /proc/self/mountinfo, e.g. "mountie:ws". */
  readonly fsname: string;
  /** The type becomes "fuse.<subtype>". */
  readonly subtype: string;
  /** Limit for the whole mount, from stat of the mountpoint to the kernel's INIT. Default 10 s. */
  readonly timeoutMs?: number;
  /** Per-op limit: an op not answered by then gets ETIMEDOUT. Default 15 s; false: none. */
  readonly opTimeoutMs?: FuseTimeout;
  /** Let the kernel send writes larger than one page. Default true. */
  readonly bigWrites?: boolean;
  /** Keep cached pages across opens only while mtime and size are unchanged. Default true. */
  readonly autoCache?: boolean;
  readonly readOnly?: boolean;
  /** Let other users in; the kernel then checks permissions (default_permissions), as the daemon would answer them all as itself. */
  readonly allowOther?: boolean;
}

export interface MountedFuse {
  /** The real path, as /proc/self/mountinfo shows it. */
  readonly mountpoint: string;
  /** The options handed to libfuse (after "-o"), for logs. */
  readonly options: string;
  /** Detach the mount (lazily if busy). Resolves with what happened; rejects only on timeout. */
  unmount(opts?: { timeoutMs?: number }): Promise<UnmountResult>;
}

const DEFAULT_MOUNT_TIMEOUT_MS = MOUNT_TIMEOUT_MS;
const DEFAULT_UNMOUNT_TIMEOUT_MS = 5_000;
/** Seconds the kernel may trust attributes and names; auto_cache revalidates data on open. */
const CACHE_TIMEOUT_S = 1;
/** Anything outside this set could end or escape a comma-separated libfuse option. */
const SAFE_NAME = /^[A-Za-z0-9._:@+/-]{1,128}$/;

/** Mountpoints this process serves: mounting on or below one would deadlock on ourselves. */
const active = new Set<string>();
/** How each mountpoint this process mounts through fuse-native knows its own mount: only that one is unmounted there. */
const owners = new Map<string, (e: MountEntry) => boolean>();

/** Is `path` on or below a mountpoint this process serves (through either data path)? */
export function servedByUs(path: string): boolean {
  return [...active].some((m) => isWithin(path, m));
}

/** Mark a mountpoint served by this process (the native path shares the set); returns the unmark. */
export function markServed(path: string): () => void {
  active.add(path);
  return () => active.delete(path);
}

/**
 * fuse-native's own Fuse.unmount runs `exec("fusermount -uz " + JSON.stringify(path))`
 * through a shell, so `$(...)` in a path executes. Ours passes an argument array.
 */
function safeUnmount(mnt: string, cb: (err: Error | null) => void): void {
  // A path we did not mount through mountFuse has nothing of ours to unmount.
  unmountPath(mnt, { ours: owners.get(mnt) ?? (() => false) }).then(
    (r) => cb(r.unmounted ? null : new MountieError('ERR_UNMOUNT_FAILED', `could not unmount ${mnt}: ${r.detail ?? r.how}`, { data: { path: mnt } })),
    (err: unknown) => cb(err instanceof MountieError ? err : new MountieError('ERR_UNMOUNT_FAILED', `could not unmount ${mnt}`, { data: { path: mnt }, cause: err })),
  );
}

/**
 * Idempotent. mountFuse calls it before it creates a Fuse instance, so no mount of ours can reach
 * the shell version; it is not run at import (importing mountie patches nothing).
 */
export function installSafeUnmount(): void {
  const F = fuseNative();
  if (F.unmount !== safeUnmount) F.unmount = safeUnmount;
}

let fuseClass: typeof Fuse | undefined;

/**
 * fuse-native, loaded when first used: the native data path imports this module's helpers
 * (checkEmptyDir, markServed, …) and never mounts through fuse-native, so its daemons skip loading
 * it (~27 ms of CPU at start, BENCHMARKS.md issue 18).
 */
export function fuseNative(): typeof Fuse {
  return (fuseClass ??= createRequire(import.meta.url)('fuse-native') as typeof Fuse);
}

export function checkName(what: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new MountieError('ERR_INVALID_OPTION', `${what} may only hold letters, digits and ._:@+/-`, { data: { value } });
  }
}

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : root + '/');
}

export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Our mount at `path` if it is not the one that was there before (`beforeId`). */
async function detachIfNew(path: string, beforeId: number | undefined, ours: (e: MountEntry) => boolean): Promise<void> {
  const now = mountAt(await readMountInfo(), path);
  if (now && now.mountId !== beforeId) await unmountPath(path, { lazyOnly: true, ours: (e) => ours(e) && e.mountId !== beforeId });
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

function fuseMount(fuse: Fuse): Promise<void> {
  return new Promise((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
}

export async function mountFuse(opts: MountFuseOptions): Promise<MountedFuse> {
  installSafeUnmount();
  checkName('fsname', opts.fsname);
  checkName('subtype', opts.subtype);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS;
  const failed = (message: string, cause?: unknown): MountieError =>
    new MountieError('ERR_MOUNT_FAILED', message, { data: { path: opts.mountpoint }, cause });

  // big_writes and ro have no fuse-native option; it joins options with commas, so they ride
  // along in the fsname value (checkName keeps the caller's part free of commas).
  const fsname = [opts.fsname, opts.bigWrites !== false && 'big_writes', opts.readOnly && 'ro'].filter(Boolean).join(',');
  const fuseOpts: FuseOptions = {
    fsname,
    subtype: opts.subtype,
    autoCache: opts.autoCache !== false,
    attrTimeout: CACHE_TIMEOUT_S,
    entryTimeout: CACHE_TIMEOUT_S,
    timeout: opts.opTimeoutMs ?? 15_000,
    ...(opts.allowOther ? { allowOther: true, defaultPermissions: true } : {}),
  };
  const ops = opts.readOnly ? readOnlyOps(opts.ops) : opts.ops;

  // Filled in as the attempt gets further; read by the cleanup paths below.
  const st: { fuse?: Fuse; mountpoint: string; beforeId?: number; added: boolean; timedOut: boolean } = {
    mountpoint: opts.mountpoint,
    added: false,
    timedOut: false,
  };
  // Ours: our fsname and type, mounted by us (fuse-native passes the fsname through; options after its comma are separate).
  const ours = isOwnFuseMount(opts.fsname, opts.subtype);
  const forget = (): void => {
    if (st.added) {
      active.delete(st.mountpoint);
      owners.delete(st.mountpoint);
    }
    st.added = false;
  };
  const attempt = (async () => {
    // realpath: mountinfo (and so unmountPath) knows mounts by their real path only.
    st.mountpoint = await realpath(opts.mountpoint);
    if (servedByUs(st.mountpoint)) throw failed(`${st.mountpoint} is on a mount this process serves`);
    await checkEmptyDir(st.mountpoint, failed);
    st.beforeId = mountAt(await readMountInfo(), st.mountpoint)?.mountId;
    const fuse = new (fuseNative())(st.mountpoint, ops, fuseOpts);
    st.fuse = fuse;
    active.add(st.mountpoint);
    owners.set(st.mountpoint, ours);
    st.added = true;
    await fuseMount(fuse);
    return fuse;
  })();
  // After a timeout nobody waits for the attempt: a late mount must not stay behind, and a
  // late failure must not leave its mountpoint marked as served.
  attempt.then(
    (fuse) => {
      if (st.timedOut) fuse.unmount(forget);
    },
    () => {
      if (st.timedOut) forget();
    },
  );

  try {
    const fuse = await withDeadline(attempt, timeoutMs, () => {
      st.timedOut = true;
      return failed(`mount of ${opts.mountpoint} did not complete within ${timeoutMs} ms`);
    });
    const options = [`fsname=${fsname}`, `subtype=${opts.subtype}`, fuseOpts.autoCache && 'auto_cache', opts.allowOther && 'allow_other,default_permissions', `entry_timeout=${CACHE_TIMEOUT_S}`, `attr_timeout=${CACHE_TIMEOUT_S}`];
    return handle(fuse, st.mountpoint, options.filter(Boolean).join(','), ours);
  } catch (err) {
    if (!st.timedOut) {
      forget();
      // fuse-native can fail after the kernel mount exists (fuse_new failing): detach that.
      // Best effort: the mount error is what the caller needs to see.
      if (st.fuse) await detachIfNew(st.mountpoint, st.beforeId, ours).catch(() => undefined);
    }
    if (err instanceof MountieError) throw err;
    throw failed(`could not mount ${opts.mountpoint}: ${(err as Error).message}`, err);
  }
}

function handle(fuse: Fuse, mountpoint: string, options: string, ours: (e: MountEntry) => boolean): MountedFuse {
  let result: Promise<UnmountResult> | undefined;

  async function detach(timeoutMs: number): Promise<UnmountResult> {
    const r = await unmountPath(mountpoint, { timeoutMs: Math.max(500, Math.floor(timeoutMs / 2)), ours });
    if (!r.unmounted) return r;
    // Let fuse-native drop its native state; its close() reaches safeUnmount, which now finds
    // nothing mounted and returns at once. Its error is ignored: it could only say the mount
    // is still there, and unmountPath just saw it gone.
    await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
    active.delete(mountpoint);
    owners.delete(mountpoint);
    return r;
  }

  return {
    mountpoint,
    options,
    unmount(opts = {}) {
      const timeoutMs = opts.timeoutMs ?? DEFAULT_UNMOUNT_TIMEOUT_MS;
      // One unmount at a time; a failed one may be retried.
      result ??= detach(timeoutMs).then(
        (r) => {
          if (!r.unmounted) result = undefined;
          return r;
        },
        (err: unknown) => {
          // Refused (ERR_MOUNT_NOT_OURS) or failed: a later call tries again.
          result = undefined;
          throw err;
        },
      );
      return withDeadline(result, timeoutMs, () => {
        result = undefined;
        return new MountieError('ERR_UNMOUNT_FAILED', `unmount of ${mountpoint} did not finish within ${timeoutMs} ms`, { data: { path: mountpoint, timeoutMs } });
      });
    },
  };
}
