import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { acquireLock } from '../protocol/lock.js';
import { tempPid } from '../state/atomic.js';
import { kindOf, type HomeLayout } from '../state/paths.js';
import { validateName } from '../state/names.js';
import { mountAt, readMountInfo } from '../sys/mountinfo.js';
import { scanMarked } from '../protocol/daemons.js';
import { fromSystemError } from '../sys/errno-error.js';
import { discover, homeFacts } from './discover.js';
import { isKindConfig } from '../state/workspace.js';
import { DATA_FILE } from '../daemon/data-store.js';

export interface ForgetReport {
  readonly workspace: string;
  /** What was deleted (files of the workspace directory, the directory, an empty default mountpoint). */
  readonly removed: readonly string[];
  /** Left on purpose: the source, a mountpoint chosen with --at. */
  readonly kept: readonly { readonly path: string; readonly reason: string }[];
  /** Could not or would not be removed (a file mountie does not make, a directory where a file belongs). */
  readonly left: readonly { readonly path: string; readonly reason: string }[];
  readonly ok: boolean;
}

/** The files a workspace directory holds, all made by mountie (the lock goes last, while we hold it). */
const OWN_FILES = ['workspace.json', 'state.json', 'daemon.pid', 'daemon.log', 'daemon.log.1', 'epoch'];
const OWN_TEMPS = ['workspace.json', 'state.json', 'daemon.pid', 'epoch'];

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, { path });
  }
}

/**
 * Forget a stopped workspace: its config, state, pidfile, log, epoch, lock and directory, and its
 * default mountpoint when empty. Never the source, never a mountpoint chosen with --at, never
 * anything mounted, never through a symlink (unlink removes a link itself; directories are only
 * ever rmdir'ed, so nothing non-empty goes). Refuses while a daemon of it lives or a mount of it
 * remains (ERR_WORKSPACE_ACTIVE), and holds the workspace lock while deleting, so no daemon can
 * start on it meanwhile.
 */
export async function forgetWorkspace(layout: HomeLayout, name: string, opts: { readonly dropData?: boolean } = {}): Promise<ForgetReport> {
  const ws = validateName(name);
  const wsDirStat = await checkDirs(layout, ws);
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const d = await discover(layout, ws, { procs: scanMarked(kindOf(layout)), mounts }, facts);
  // Another kind's workspace in this home: never ours to delete.
  if (d.configErrorCode === 'ERR_KIND_MISMATCH' && d.configErrorCause) throw d.configErrorCause;
  if (d.daemons.length > 0 || d.lockHeld) {
    const pid = (d.daemons.find((x) => x.holdsLock) ?? d.daemons[0])?.pid;
    throw new MountieError('ERR_WORKSPACE_ACTIVE', `workspace ${ws} is running${pid === undefined ? '' : ` (pid ${pid})`}; only a stopped workspace can be forgotten`, {
      data: { workspace: ws, ...(pid === undefined ? {} : { pid }) },
      hint: `run: mountie stop ${ws}   then: mountie forget ${ws}`,
    });
  }
  if (d.mounts.length > 0) {
    throw new MountieError('ERR_WORKSPACE_ACTIVE', `workspace ${ws} is still mounted at ${d.mounts.map((m) => m.mountPoint).join(', ')} (a stale mount)`, {
      data: { workspace: ws, path: d.mounts[0]?.mountPoint },
      hint: `run: mountie stop ${ws}   (it cleans the stale mount), then: mountie forget ${ws}`,
    });
  }
  if (!wsDirStat) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${ws}: nothing to forget`, { data: { workspace: ws }, hint: 'run: mountie status   (lists the known workspaces)' });
  }
  const mountpoint = d.config?.mountpoint ?? d.paths.defaultMountpoint;
  // Anything mounted at the mountpoint or inside the workspace directory: not ours to step around.
  const foreign = mounts.find((m) => m.mountPoint === mountpoint || inside(m.mountPoint, d.paths.dir));
  if (foreign) {
    throw new MountieError('ERR_MOUNTPOINT_BUSY', `${foreign.mountPoint} is a mount point (${foreign.fstype} ${foreign.source}); forget leaves nothing half-removed, so it did nothing`, {
      data: { workspace: ws, path: foreign.mountPoint },
      hint: `unmount ${foreign.mountPoint} first, then run: mountie forget ${ws}`,
    });
  }
  const removed: string[] = [];
  const kept: { path: string; reason: string }[] = [];
  const left: { path: string; reason: string }[] = [];
  if (wsDirStat) await removeWorkspaceDir(d.paths, ws, removed, left, kept, opts.dropData === true);
  await removeMountpoint(mountpoint, d.paths.defaultMountpoint, removed, kept, left);
  if (d.config && !isKindConfig(d.config)) kept.push({ path: d.config.source, reason: 'the source: never touched' });
  return { workspace: ws, removed, kept, left, ok: left.length === 0 };
}

/** The workspaces dir and the workspace dir must be real directories (never followed through a symlink). */
async function checkDirs(layout: HomeLayout, ws: string): Promise<boolean> {
  for (const dir of [layout.workspacesDir, join(layout.workspacesDir, ws)]) {
    const st = await lstatOrUndefined(dir);
    if (!st) return false;
    if (st.isSymbolicLink()) {
      throw new MountieError('ERR_SYMLINK_REFUSED', `${dir} is a symbolic link; forget never deletes through one`, {
        data: { path: dir, workspace: ws },
        hint: `replace the symlink ${dir} by the real directory, or remove what it points to yourself`,
      });
    }
    if (!st.isDirectory()) {
      throw new MountieError('ERR_NOT_DIRECTORY', `${dir} is not a directory`, { data: { path: dir, workspace: ws }, hint: `remove or rename the file ${dir}` });
    }
  }
  return true;
}

async function removeWorkspaceDir(paths: { dir: string; lock: string }, ws: string, removed: string[], left: { path: string; reason: string }[], kept: { path: string; reason: string }[], dropData: boolean): Promise<void> {
  let keptData = false;
  const lock = await acquireLock(paths.lock, ws).catch((err: unknown) => {
    if (err instanceof MountieError && err.code === 'ERR_WORKSPACE_LOCKED') {
      throw new MountieError('ERR_WORKSPACE_ACTIVE', `workspace ${ws} is starting or being stopped right now; nothing was removed`, { data: err.data, hint: `wait for it, stop it (mountie stop ${ws}), then run: mountie forget ${ws}` });
    }
    throw err;
  });
  try {
    for (const name of await readdir(paths.dir)) {
      const path = join(paths.dir, name);
      const own = OWN_FILES.includes(name) || OWN_TEMPS.some((base) => tempPid(name, base) !== undefined) || (dropData && (name === DATA_FILE || tempPid(name, DATA_FILE) !== undefined));
      if (name === 'lock') continue;
      if (name === DATA_FILE && !dropData) {
        kept.push({ path, reason: "the kind's own data (ctx.data): kept; forget with dropData to delete it" });
        keptData = true;
        continue;
      }
      if (!own) {
        left.push({ path, reason: 'not a file mountie makes; remove it yourself if it is not needed' });
        continue;
      }
      const st = await lstatOrUndefined(path);
      if (!st) continue;
      if (st.isDirectory()) {
        left.push({ path, reason: 'a directory where mountie keeps a file; remove it yourself' });
        continue;
      }
      await unlink(path); // a symlink is removed itself, never what it points to
      removed.push(path);
    }
    // Last, while we hold it: a daemon that opens it later finds no config and starts nothing.
    await unlink(paths.lock);
    removed.push(paths.lock);
  } finally {
    await lock.release();
  }
  try {
    await rmdir(paths.dir);
    removed.push(paths.dir);
  } catch (err) {
    if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST') throw fromSystemError(err, { path: paths.dir });
    if (keptData && left.length === 0) kept.push({ path: paths.dir, reason: 'holds the kept data.json' });
    else left.push({ path: paths.dir, reason: 'not empty (see above)' });
  }
}

/** Only the default mountpoint (mountie made it), only when it is an empty real directory with nothing mounted. */
async function removeMountpoint(mountpoint: string, defaultMp: string, removed: string[], kept: { path: string; reason: string }[], left: { path: string; reason: string }[]): Promise<void> {
  if (mountpoint !== defaultMp) {
    kept.push({ path: mountpoint, reason: 'a mountpoint chosen with --at: mountie may not have made it' });
    return;
  }
  const st = await lstatOrUndefined(mountpoint);
  if (!st) return;
  if (!st.isDirectory() || st.isSymbolicLink()) {
    left.push({ path: mountpoint, reason: 'not a directory (mountie never follows a symlink there)' });
    return;
  }
  // Mounted meanwhile? rmdir would refuse with EBUSY anyway; mountinfo says it without touching it.
  if (mountAt(await readMountInfo(), mountpoint)) {
    left.push({ path: mountpoint, reason: 'something is mounted there' });
    return;
  }
  try {
    await rmdir(mountpoint);
    removed.push(mountpoint);
  } catch (err) {
    if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST' && errnoCode(err) !== 'EBUSY') throw fromSystemError(err, { path: mountpoint });
    left.push({ path: mountpoint, reason: 'not empty: its files are yours, mountie leaves them' });
  }
}
