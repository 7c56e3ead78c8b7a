/**
 * Claiming a workspace, inside the daemon: whose home this is, the lock, and a mountpoint that is
 * free and really where the config says. Each function is one bounded startup step of run.ts.
 */
import { lstat, realpath } from 'node:fs/promises';
import { MountieError } from '../errors.js';
import { findHomeDaemons, scanMarked, type DaemonRef } from '../protocol/daemons.js';
import { acquireLock, type HeldLock } from '../protocol/lock.js';
import { homeIdOf } from '../protocol/tag.js';
import { kindOf, type HomeLayout, type WorkspacePaths } from '../state/paths.js';
import type { Kind } from '../protocol/kind.js';
import { mountAt, readMountInfo } from '../sys/mountinfo.js';

export interface HomeOfDaemon {
  readonly homeId: string;
  /** The kind of the home's daemons. */
  readonly kind: Kind;
  /** Live daemons of this workspace other than us, found afresh on each call. */
  others(): Promise<DaemonRef[]>;
}

export async function homeOf(layout: HomeLayout, workspace: string, selfPid: number): Promise<HomeOfDaemon> {
  const homeId = await homeIdOf(layout.home);
  if (homeId === undefined) throw new MountieError('ERR_MOUNT_FAILED', `home ${layout.home} is not reachable`, { data: { path: layout.home } });
  const dirs = { workspacesDir: layout.workspacesDir, realWorkspacesDir: await realpath(layout.workspacesDir).catch(() => undefined) };
  return { homeId, kind: kindOf(layout), others: async () => findHomeDaemons(scanMarked(kindOf(layout)), dirs, await readMountInfo(), { ws: workspace, selfPid, kind: kindOf(layout) }) };
}

/**
 * Take the workspace lock. It counts only while its path still names the file we locked: a lock
 * file deleted or replaced meanwhile would let a second daemon lock a new one.
 */
export async function takeWorkspaceLock(paths: WorkspacePaths, workspace: string, home: HomeOfDaemon): Promise<HeldLock> {
  const lock = await acquireLock(paths.lock, workspace, async () => (await home.others()).find((d) => d.holdsLock)?.pid, home.kind);
  const now = await lstat(paths.lock).catch(() => undefined);
  if (now?.ino !== lock.ino || now.dev !== lock.dev) {
    await lock.release();
    throw new MountieError('ERR_WORKSPACE_LOCKED', `the lock file of workspace ${workspace} was replaced while taking it`, { data: { workspace, path: paths.lock }, hint: 'try again' });
  }
  return lock;
}

/**
 * Right before mounting: nothing else is mounted at the mountpoint, and it is a real directory at
 * exactly the configured (canonical) path: a mountpoint swapped for a symlink would send the
 * mount somewhere nobody looks for it.
 */
export async function checkMountpointFree(mountpoint: string, workspace: string): Promise<void> {
  const entry = mountAt(await readMountInfo(), mountpoint);
  if (entry) {
    throw new MountieError('ERR_MOUNTPOINT_BUSY', `${mountpoint} is already a mount point (${entry.fstype} ${entry.source})`, {
      data: { path: mountpoint, workspace },
      hint: 'unmount it first or choose another mountpoint',
    });
  }
  const st = await lstat(mountpoint).catch(() => undefined);
  const real = st?.isDirectory() ? await realpath(mountpoint).catch(() => undefined) : undefined;
  if (!st?.isDirectory() || real !== mountpoint) {
    throw new MountieError('ERR_MOUNTPOINT_NOT_DIR', `mountpoint ${mountpoint} is ${st?.isSymbolicLink() ? 'a symlink' : st ? 'not a directory' : 'missing'}${real && real !== mountpoint ? ` (it resolves to ${real})` : ''}`, {
      data: { path: mountpoint, workspace },
      hint: `make ${mountpoint} an empty directory again, then mount`,
    });
  }
}
