import { access, writeFile } from 'node:fs/promises';
import { runFile, type RunResult } from './run.js';
import { fuseConnection, mountAt, readMountInfo, type MountEntry } from './mountinfo.js';

const FUSECTL = '/sys/fs/fuse/connections';

export interface UnmountResult {
  readonly unmounted: boolean;
  /** 'normal' (fusermount -u), 'lazy' (-uz: detached, busy users keep it alive until they leave), or 'none'. */
  readonly how: 'normal' | 'lazy' | 'none';
  readonly detail?: string;
}

async function fusermount(args: string[], timeoutMs: number): Promise<RunResult> {
  // fusermount (libfuse2) is what fuse-native mounts with; fusermount3 also unmounts it.
  const first = await runFile('fusermount', args, timeoutMs);
  if (first.spawnError !== 'ENOENT') return first;
  return runFile('fusermount3', args, timeoutMs);
}

/**
 * Unmount `path`: `fusermount -u` first, `-uz` (lazy) when busy. Argument arrays only.
 * Resolves whether or not it was mounted; checks /proc/self/mountinfo, never the path itself.
 * `path` must be canonical (absolute, no symlinks, no trailing slash) as mountinfo shows it:
 * resolving it here would mean a realpath, i.e. a stat of a mount that may hang. Workspace
 * configs store canonical mountpoints for this reason.
 */
export async function unmountPath(path: string, opts: { timeoutMs?: number; lazyOnly?: boolean } = {}): Promise<UnmountResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  if (!mountAt(await readMountInfo(), path)) return { unmounted: true, how: 'none' };
  if (!opts.lazyOnly) {
    const r = await fusermount(['-u', '--', path], timeoutMs);
    if (r.exitCode === 0 && !mountAt(await readMountInfo(), path)) return { unmounted: true, how: 'normal' };
  }
  const lazy = await fusermount(['-uz', '--', path], timeoutMs);
  const still = mountAt(await readMountInfo(), path);
  return still
    ? { unmounted: false, how: 'lazy', detail: (lazy.stderr || lazy.spawnError || 'fusermount failed').trim() }
    : { unmounted: true, how: 'lazy' };
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

/**
 * Abort a FUSE connection: every waiter gets ENOTCONN at once, even when the daemon's
 * thread is wedged. Afterwards `fusermount -uz` can detach the mountpoint.
 *
 * Connection numbers are reused as soon as a mount's superblock is gone, so an entry read a moment
 * ago may by now name someone else's live connection. Right before the write, no other mount may
 * show that number, and unless the caller knows the connection is its own (`pinned`: a daemon
 * taking down its own lazily detached mount, which mountinfo no longer lists) the entry itself must
 * still be there: same mount, device, path and source.
 */
export async function abortConnection(entry: MountEntry, opts: { pinned?: boolean } = {}): Promise<boolean> {
  const conn = fuseConnection(entry);
  if (conn === undefined || !(await ensureFusectl())) return false;
  const now = await readMountInfo();
  // Whoever pins it, a connection number that another mount now shows was recycled: not ours.
  if (now.some((e) => e.device === entry.device && e.mountId !== entry.mountId)) return false;
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
