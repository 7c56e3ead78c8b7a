/**
 * Cleaning the mounts a dead daemon left. A mount is stale only when its owner is proven dead: it
 * carries this home's and workspace's tag, the caller holds the workspace lock, and no live daemon
 * of the workspace exists (a daemon whose lock file was deleted under it still counts as live).
 * A mount of another home or of anything else is never touched.
 */
import { stat } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { abortConnection, unmountPath } from '../sys/fusermount.js';
import { mountAt, readMountInfo, sameMount, type MountEntry } from '../sys/mountinfo.js';
import { withTimeout } from '../sys/time.js';
import type { DaemonRef } from './daemons.js';
import { mountsOf } from './tag.js';
import { stopHint, type Kind } from './kind.js';

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

export interface StaleCleanupInput {
  readonly workspace: string;
  readonly homeId: string;
  /**
   * Live daemons of this workspace other than the caller (from findHomeDaemons), or how to find
   * them: then a /proc scan is paid only when there is a mount of ours to judge (a daemon's start
   * nearly never finds one; with 2,000 processes a scan costs it tens of ms).
   */
  readonly liveDaemons: readonly DaemonRef[] | (() => Promise<readonly DaemonRef[]>);
  readonly log: (line: string) => void;
  /** Whose mounts: default mountie's own. */
  readonly kind?: Kind;
}

/** Abort and lazily detach one of our mounts; true when it is gone from mountinfo. */
async function detach(entry: MountEntry, log: (line: string) => void): Promise<boolean> {
  // Abort first so that anything blocked on it is released; then detach lazily. Only if the
  // topmost mount at that path is still this one: never unmount what was stacked on top of it.
  const aborted = await abortConnection(entry);
  const isEntry = sameMount(entry);
  const top = mountAt(await readMountInfo(), entry.mountPoint);
  if (top === undefined || !isEntry(top)) {
    const gone = top === undefined || !(await readMountInfo()).some(isEntry);
    if (!gone && top) log(`stale mount at ${entry.mountPoint} is under another mount (${top.fstype} ${top.source}); both left alone`);
    return gone;
  }
  const r = await unmountPath(entry.mountPoint, { lazyOnly: true, ours: isEntry });
  log(`stale mount at ${entry.mountPoint} (connection ${entry.device}, aborted=${aborted}) cleaned: ${r.unmounted}`);
  return r.unmounted;
}

/**
 * Clean every stale mount of this workspace, wherever it sits. Call ONLY while holding the
 * workspace lock. Throws ERR_WORKSPACE_LOCKED when a live daemon owns them (nothing is touched).
 */
export async function cleanStaleMounts(input: StaleCleanupInput): Promise<number> {
  const mine = mountsOf(await readMountInfo(), input.workspace, input.homeId, input.kind);
  if (mine.length === 0) return 0;
  // Looked for after the mounts were read: at least as fresh as a look before (the caller holds the lock).
  const live = (typeof input.liveDaemons === 'function' ? await input.liveDaemons() : input.liveDaemons)[0];
  if (live) {
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${input.workspace} is still served by pid ${live.pid}; its mount is not stale`, {
      data: { workspace: input.workspace, pid: live.pid, path: mine[0]?.mountPoint },
      hint: `run: ${stopHint(input.workspace, input.kind)}`,
    });
  }
  let cleaned = 0;
  for (const e of mine.reverse()) {
    if (await detach(e, input.log)) cleaned++;
    else {
      throw new MountieError('ERR_UNMOUNT_FAILED', `could not clean the stale mount at ${e.mountPoint}`, {
        data: { path: e.mountPoint, workspace: input.workspace },
        // Never `fusermount -uz <path>` here: it takes whatever is on top, which may not be ours.
        hint: `see what is mounted there (findmnt -R ${e.mountPoint}); unmount what covers it, then try again`,
      });
    }
  }
  return cleaned;
}
