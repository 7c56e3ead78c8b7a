/**
 * The new daemon's side of a live restart (issue 21; docs/ARCHITECTURE.md, "Live restart"): take
 * the mount and the workspace lock over from the daemon serving them (./handover.ts is its side),
 * instead of taking the lock and mounting. Nothing here unmounts or takes a lock by itself: until
 * the old daemon's commit, the mount and the lock are the old daemon's, and any failure leaves it
 * serving.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { MountieError } from '../errors.js';
import { checkLockFd, lockFromFd, type HeldLock, type LockRef } from '../protocol/lock.js';
import type { WorkspacePaths } from '../state/paths.js';
import type { WorkspaceConfig } from '../state/workspace.js';
import { passthroughNativeOptions } from './data-path.js';
import { HANDOVER_STEP_MS, openWorkspaceDir } from './handover.js';
import { socketPath } from '../protocol/handover.js';
import { adoptNative } from './native/handover.js';
import type { MountedNative } from './native/mount.js';
import { requireNative } from './native/require-native.js';

/**
 * Where a test makes the new daemon die (MOUNTIE_TEST_FAULT=take-over-<point>): three before the
 * acknowledgement (the old daemon serves on), and `after-commit`, the one window the protocol
 * cannot close (nobody serves; the old daemon lets go at once).
 */
export type TakeOverFault = 'before-adopt' | 'after-adopt' | 'before-ack' | 'after-commit' | 'slow-ack';

export interface TakeOverOptions {
  readonly paths: WorkspacePaths;
  readonly workspace: string;
  readonly config: WorkspaceConfig;
  readonly deadlineMs: number | undefined;
  readonly sourceWatch: boolean | undefined;
  /** Test hook: SIGKILL this process at that point (`slow-ack`: wait 2 s before the acknowledgement). */
  readonly fault?: TakeOverFault | undefined;
  /** True once this daemon is shutting down: then it does not take the mount (the old daemon serves on, and is stopped itself). */
  readonly stopping?: () => boolean;
  readonly stepMs?: number;
}

export interface TakenOver {
  readonly mounted: MountedNative;
  readonly lock: HeldLock;
  /** FUSE_NOTIFY_RESEND's answer (0, or -errno on a kernel without it). */
  readonly resend: number;
}

function die(point: TakeOverFault, fault: TakeOverFault | undefined): void {
  if (point === fault) process.kill(process.pid, 'SIGKILL');
}

export async function takeOverMount(o: TakeOverOptions): Promise<TakenOver> {
  const binding = requireNative();
  // The lock file open (not locked) from the start: discovery sees this daemon as starting, so a
  // `stop` or `status` meanwhile knows it (src/protocol/daemons.ts). No O_CREAT: no lock file, nothing to take over.
  let placeholder: number;
  try {
    placeholder = openSync(o.paths.lock, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new MountieError('ERR_HANDOVER', `workspace ${o.workspace} has no lock file: no daemon serves it to take over from`, { data: { workspace: o.workspace, reason: 'ERR_HANDOVER_NO_PEER' }, cause: err });
  }
  const dirFd = openWorkspaceDir(o.paths.dir);
  let ref: LockRef | undefined;
  try {
    die('before-adopt', o.fault);
    const r = await adoptNative({
      socket: socketPath(dirFd),
      ...passthroughNativeOptions(o.config, o),
      binding,
      timeoutMs: o.stepMs ?? HANDOVER_STEP_MS,
      checkFds: async (fds) => {
        die('after-adopt', o.fault);
        const lockFd = fds[0];
        if (lockFd === undefined) throw new MountieError('ERR_HANDOVER', 'the old daemon handed over no lock', { data: { workspace: o.workspace, reason: 'ERR_HANDOVER_LOCK' } });
        ref = await checkLockFd(lockFd, o.paths.lock, o.workspace);
        if (o.fault === 'slow-ack') await new Promise((r) => setTimeout(r, 2000));
        die('before-ack', o.fault);
        if (o.stopping?.()) throw new MountieError('ERR_HANDOVER', 'stopped before taking the mount over', { data: { workspace: o.workspace, reason: 'ERR_HANDOVER_STOPPED' } });
      },
    });
    die('after-commit', o.fault);
    const [lockFd, ...extra] = r.fds;
    for (const fd of extra) closeSync(fd);
    // Both set: checkFds ran before the commit, or adoptNative threw.
    return { mounted: r.mounted, lock: lockFromFd(lockFd as number, ref as LockRef), resend: r.resend };
  } finally {
    closeSync(dirFd);
    closeSync(placeholder);
  }
}
