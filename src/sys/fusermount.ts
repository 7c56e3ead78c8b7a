import { access, open, writeFile, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { MountieError } from '../errors.js';
import type { NativeBinding } from '../daemon/native/binding.js';
import { addonCall } from '../daemon/native/addon-call.js';
import { runFile, type RunResult } from './run.js';
import { fuseConnection, mountAt, readMountInfo, sameMount, type MountEntry } from './mountinfo.js';

const FUSECTL = '/sys/fs/fuse/connections';

export interface UnmountResult {
  readonly unmounted: boolean;
  /** 'normal' (fusermount -u), 'lazy' (-uz: detached, busy users keep it alive until they leave), or 'none'. */
  readonly how: 'normal' | 'lazy' | 'none';
  readonly detail?: string;
  /** The read of /proc/self/mountinfo that showed the mount gone (a caller checks it instead of reading again). */
  readonly entries?: readonly MountEntry[];
  /**
   * The connection outlived the unmount and was aborted: a copy of the mount in another mount
   * namespace (one made by `unshare -m` while it was mounted, with private propagation) kept its
   * superblock, so the daemon's threads would have waited for that namespace to end.
   */
  readonly aborted?: boolean;
}

async function fusermount(args: string[], timeoutMs: number): Promise<RunResult> {
  // fusermount3 (the fuse3 package, which the native core needs anyway); libfuse 2's fusermount unmounts as well.
  const first = await runFile('fusermount3', args, timeoutMs);
  if (first.spawnError !== 'ENOENT') return first;
  return runFile('fusermount', args, timeoutMs);
}

/** The addon's umount for a process that may unmount itself (euid 0), else undefined: fusermount. */
function addonUmount(): NonNullable<NativeBinding['umount']> | undefined {
  return process.geteuid?.() === 0 ? addonCall('umount') : undefined;
}

/**
 * Unmount `path` (the caller checked that the topmost mount there is its own): umount2 through the
 * addon where this process may (root: what `fusermount -u` does as root, without a fork and exec
 * of this process, 60–190 ms of a daemon's shutdown under load), else fusermount. Like
 * fusermount's, the outcome is not trusted: the caller reads mountinfo afterwards. A umount2 refused
 * for lack of rights (EPERM: a user namespace that does not own the mount) goes to fusermount; busy
 * (EBUSY) does not (fusermount would be refused the same); one that outlives `timeoutMs` is left to
 * its thread, as a fusermount that timed out.
 */
async function unmountCall(path: string, lazy: boolean, timeoutMs: number): Promise<{ stderr?: string; spawnError?: string }> {
  const umount = addonUmount();
  if (umount) {
    let timer: NodeJS.Timeout | undefined;
    const err = await Promise.race([umount(path, lazy), new Promise<string>((r) => (timer = setTimeout(() => r('ETIMEDOUT'), timeoutMs)))]).finally(() => clearTimeout(timer));
    // MOVED: the path's parent is no longer the directory it names (a component swapped since the
    // caller read mountinfo): nothing is unmounted, and fusermount, which walks the path, is not run.
    if (err === null || err === 'EBUSY' || err === 'ETIMEDOUT' || err === 'MOVED') return err === null ? {} : { stderr: `umount2: ${err}` };
  }
  return fusermount([lazy ? '-uz' : '-u', '--', path], timeoutMs);
}

export interface UnmountOptions {
  readonly timeoutMs?: number;
  readonly lazyOnly?: boolean;
  /** Which mount is the caller's (its mount id, or its tag and fuse type): only that one is ever unmounted. */
  readonly ours: (entry: MountEntry) => boolean;
  /** A read of /proc/self/mountinfo the caller made just now: the check before the first unmount uses it instead of a second read. */
  readonly entries?: readonly MountEntry[];
}

/**
 * The caller's mount, while it is the topmost at `path`; undefined when none of its mounts is there.
 * Something else on top (a mount stacked over ours, or a foreign one where ours was) would be what
 * fusermount takes away: ERR_MOUNT_NOT_OURS, and nothing is touched.
 */
function ownTop(entries: readonly MountEntry[], path: string, ours: (e: MountEntry) => boolean): MountEntry | undefined {
  const top = mountAt(entries, path);
  if (top === undefined || ours(top)) return top;
  const covered = entries.some((e) => e.mountPoint === path && ours(e));
  if (!covered) return undefined;
  throw new MountieError('ERR_MOUNT_NOT_OURS', `another mount (${top.fstype} ${top.source}) sits over ours at ${path}; left alone`, {
    data: { path, mountId: top.mountId, fstype: top.fstype, source: top.source },
    hint: `unmount what was mounted over it first: umount ${path}`,
  });
}

/**
 * Unmount the caller's mount at `path`: `fusermount -u` first (umount2 through the addon as root), `-uz` (lazy) when busy. Argument
 * arrays only. fusermount takes whatever is topmost at the path, so before each run that topmost
 * mount must be the caller's (`ours`); a mount stacked over it is never taken away
 * (ERR_MOUNT_NOT_OURS). Resolves 'none' when no mount of the caller's is at `path`. Checks
 * /proc/self/mountinfo, never the path itself. `path` must be canonical (absolute, no symlinks, no
 * trailing slash) as mountinfo shows it: resolving it here would mean a realpath, i.e. a stat of a
 * mount that may hang. Workspace configs store canonical mountpoints for this reason.
 */
export async function unmountPath(path: string, opts: UnmountOptions): Promise<UnmountResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const mine = ownTop(opts.entries ?? (await readMountInfo()), path, opts.ours);
  if (!mine) return { unmounted: true, how: 'none' };
  const isMine = sameMount(mine);
  // Gone from `path`: not "nowhere", since the id and connection number it freed may at once be a
  // new mount's elsewhere, one with the same source when another process serves the same name.
  const gone = (entries: readonly MountEntry[]): boolean => !entries.some((e) => isMine(e) && e.mountPoint === path);
  if (!opts.lazyOnly) {
    await unmountCall(path, false, timeoutMs);
    const now = await readMountInfo();
    if (gone(now)) return { unmounted: true, how: 'normal', entries: now };
    // Busy, or something was stacked over ours meanwhile: checked again before the lazy one.
    if (!ownTop(now, path, isMine)) return { unmounted: false, how: 'none', detail: `our mount is no longer at ${path}` };
  }
  const lazy = await unmountCall(path, true, timeoutMs);
  const after = await readMountInfo();
  return gone(after)
    ? { unmounted: true, how: 'lazy', entries: after }
    : { unmounted: false, how: 'lazy', detail: (lazy.stderr || lazy.spawnError || 'fusermount failed').trim() };
}

/** Make sure fusectl is mounted so /sys/fs/fuse/connections/<n>/abort exists. */
export async function ensureFusectl(timeoutMs = 2000): Promise<boolean> {
  try {
    await access(FUSECTL);
    const mounted = (await readMountInfo()).some((e) => e.mountPoint === FUSECTL);
    if (mounted) return true;
  } catch {
    // No connections directory: fuse module not loaded; nothing to abort then.
    return false;
  }
  const r = await runFile('mount', ['-t', 'fusectl', 'none', FUSECTL], timeoutMs);
  return r.exitCode === 0;
}

/** The abort file of one connection, held: see holdConnectionAbort. */
export interface ConnectionAbort {
  /** Aborts the connection if it is still alive; true when the write was taken. */
  abort(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Opens the abort file of the connection behind `entry`, a mount the caller has just made and
 * found in mountinfo, and keeps it. The number is proven the caller's by the mount still showing
 * after the open (the kernel frees a number only when the connection's superblock is gone). From
 * then on the held file is the proof: fusectl empties a removed connection's files, so a write
 * through it reaches that connection or, once the kernel has ended it, none, never a later
 * connection that took the number. Undefined where fusectl is not mounted (it is not mounted for
 * this: a mount must not change what the whole machine sees) or the file cannot be opened.
 */
export async function holdConnectionAbort(entry: MountEntry): Promise<ConnectionAbort | undefined> {
  const conn = fuseConnection(entry);
  if (conn === undefined) return undefined;
  let fh: FileHandle;
  try {
    fh = await open(`${FUSECTL}/${conn}/abort`, constants.O_WRONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const mine = sameMount(entry);
  const still = await readMountInfo().then((now) => now.some((e) => mine(e) && e.mountPoint === entry.mountPoint), () => false);
  if (!still) {
    await fh.close();
    return undefined;
  }
  let closed = false;
  return {
    abort: async () => {
      if (closed) return false;
      try {
        await fh.write('1');
        return true;
      } catch {
        return false;
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await fh.close().catch(() => undefined);
    },
  };
}

/**
 * Abort a FUSE connection: every waiter gets ENOTCONN at once, even when the daemon's
 * thread is wedged. Afterwards `fusermount -uz` can detach the mountpoint.
 *
 * Connection numbers are reused as soon as a mount's superblock is gone, so an entry read a moment
 * ago may by now name someone else's live connection. Right before the write, no other mount may
 * show that number, and unless the caller knows the connection is its own (`pinned`: a daemon
 * taking down its own lazily detached mount, which mountinfo no longer lists, and whose superblock
 * its busy users keep, with the number) the entry itself must still be there: same mount, device,
 * path and source. A pinned number that any mount shows is not the caller's.
 */
export async function abortConnection(entry: MountEntry, opts: { pinned?: boolean } = {}): Promise<boolean> {
  const conn = fuseConnection(entry);
  if (conn === undefined || !(await ensureFusectl())) return false;
  const now = await readMountInfo();
  // Whoever pins it, a connection number that another mount now shows was recycled: not ours. A
  // pinned one (its mount detached) shows nowhere: a mount showing it, even with its mount id and
  // source (both recycled as well), is another's.
  if (now.some((e) => e.device === entry.device && (opts.pinned || e.mountId !== entry.mountId))) return false;
  if (!opts.pinned) {
    const same = now.some((e) => e.mountId === entry.mountId && e.device === entry.device && e.mountPoint === entry.mountPoint && e.source === entry.source);
    if (!same) return false;
  }
  try {
    await writeFile(`${FUSECTL}/${conn}/abort`, '1');
    return true;
  } catch {
    // The connection may already be gone (daemon exited between our read and the write).
    return false;
  }
}
