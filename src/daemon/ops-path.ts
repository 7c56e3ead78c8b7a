/**
 * A daemon's own operations (`mount(ctx)` returned `{ ops }`), mounted through fuse-native: the
 * ops counted for state.json (the state sink's instrument), the read-only guard when the
 * workspace is read-only (in mountFuse), and the kind's tag and fstype. It looks like the
 * passthrough's data path to the harness (./data-path.ts), with the JS path's views.
 */
import type { FuseOps } from 'fuse-native';
import { holdsOpen } from '../sys/proc-fds.js';
import { poolCallsPending } from '../sys/pool-calls.js';
import type { Scheduler } from './backend/scheduler.js';
import { backendView } from './backend/view.js';
import type { DataPath } from './data-path.js';
import type { FsOps } from './fs-ops.js';
import { mountFuse } from './fuse/mount.js';
import { fuseThreadsCreated, installFuseThreadCounter } from './fuse/threads.js';
import type { DaemonStateSink } from './state-sink.js';

export interface MountOpsOptions {
  readonly ops: FsOps;
  readonly mountpoint: string;
  readonly fsname: string;
  /** The kind's name: the mount's type becomes `fuse.<subtype>`. */
  readonly subtype: string;
  readonly readOnly: boolean;
  readonly allowOther: boolean;
  readonly state: DaemonStateSink;
  readonly scheduler: Scheduler;
  /** Bound of the mount itself (below the daemon's mount step: ./mount-budget.ts). */
  readonly timeoutMs?: number;
}

export async function mountOps(opts: MountOpsOptions): Promise<DataPath> {
  installFuseThreadCounter();
  // FsOps is fuse-native's FuseOps declared in mountie's own terms (no fuse-native types shipped).
  const ops = opts.state.instrument(opts.ops as FuseOps);
  const mounted = await mountFuse({ mountpoint: opts.mountpoint, ops, fsname: opts.fsname, subtype: opts.subtype, readOnly: opts.readOnly, allowOther: opts.allowOther, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  return {
    kind: 'js',
    mounted,
    backendView: (h) => backendView(opts.scheduler.stats(), h, fuseThreadsCreated()),
    load: () => ({ ...opts.scheduler.stats(), fuseThreads: fuseThreadsCreated() }),
    // The author's ops end their work on ctx.signal (aborted at shutdown start); nothing to answer here.
    cancel: () => undefined,
    sessionAlive: () => holdsOpen('/dev/fuse'),
    stuckCalls: poolCallsPending,
  };
}
