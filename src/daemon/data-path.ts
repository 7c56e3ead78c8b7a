/**
 * The daemon's data path, mounted: the native core (libfuse 3 worker threads, native/) when its
 * addon loads, else fuse-native with the passthrough ops in JavaScript. Both look the same to
 * the daemon: counters for state.json, a backend view and load for the health monitor, a cancel
 * that answers everything EIO (shutdown, a failed source), and whether the FUSE session still runs.
 */
import type { BackendView } from '../state/state-schema.js';
import type { WorkspaceConfig } from '../state/workspace.js';
import { MountieError } from '../errors.js';
import { checkAllowOther } from '../sys/fuse-conf.js';
import type { BackendLoad, HealthReport } from './backend/health.js';
import type { Scheduler } from './backend/scheduler.js';
import type { MountedFuse } from './fuse/mount.js';
import { mountOps } from './ops-path.js';
import { chooseDataPath, refuseUnsafeAllowOther, type DataPathKind } from './native/choose.js';
import { mountNative } from './native/mount.js';
import { nativeDataPath } from './native/as-data-path.js';
import { createPassthroughOps } from './passthrough/ops.js';
import type { DaemonStateSink } from './state-sink.js';

/** Native workers at most: a hung source holds one per stuck request (one per node, then fail-fast), the rest keep serving. */
export const NATIVE_MAX_THREADS = 64;
/** As the JS path's scheduler default. */
const DEFAULT_DEADLINE_MS = 5000;

export interface DataPath {
  readonly kind: DataPathKind;
  readonly mounted: MountedFuse;
  backendView(health: HealthReport | undefined): BackendView;
  load(): BackendLoad;
  /** Answer every request in flight EIO now and every later one at once. */
  cancel(reason: Error): void;
  /**
   * Whether a failed health check cancels (the passthrough: its source failed, so every request
   * fails fast). A kind's own ops keep serving: the author's probe says how the backend is, the
   * ops decide what to answer; they are cancelled at shutdown only.
   */
  readonly cancelOnFailure: boolean;
  /** False once the FUSE session ended (the connection was aborted under the mount). */
  sessionAlive(): boolean;
  /** Source calls that never returned (each holds a thread until the process ends). */
  stuckCalls(): number;
}

export interface MountDataPathOptions {
  readonly config: WorkspaceConfig;
  readonly fsname: string;
  /** The kind's name: the mount's type becomes `fuse.<subtype>`. */
  readonly subtype: string;
  readonly state: DaemonStateSink;
  /** JS path only: every source call goes through it; `backend` aborts it. */
  readonly scheduler: Scheduler;
  readonly backend: AbortController;
  readonly signal: AbortSignal;
  readonly deadlineMs: number | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Why the JS path serves, when it was not asked for. */
  readonly log: (line: string) => void;
  /** Bound of the mount itself (below the daemon's mount step: ./mount-budget.ts). */
  readonly timeoutMs?: number;
}

export async function mountDataPath(opts: MountDataPathOptions): Promise<DataPath> {
  const { config } = opts;
  // Checked by the CLI already; again here, as fuse.conf may have changed since the config was stored.
  if (config.allowOther) await checkAllowOther();
  const choice = chooseDataPath(opts.env);
  if (choice.kind === 'unavailable') throw new MountieError('ERR_MOUNT_FAILED', choice.reason, { hint: 'run npm run build:native, or unset MOUNTIE_DATA_PATH to fall back to fuse-native' });
  refuseUnsafeAllowOther(config.allowOther, choice);
  if (choice.kind === 'native') {
    const m = await mountNative({
      mountpoint: config.mountpoint,
      source: config.source,
      fsname: opts.fsname,
      subtype: opts.subtype,
      readOnly: config.readOnly,
      allowOther: config.allowOther === true,
      maxThreads: NATIVE_MAX_THREADS,
      deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS,
      binding: choice.binding,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    return nativeDataPath(m, opts.state, { limit: NATIVE_MAX_THREADS, cancelOnFailure: true, stuckInCore: true });
  }
  opts.log(choice.forced ? `data path: fuse-native (${choice.reason})` : `data path: fuse-native, the native core is unavailable: ${choice.reason}`);
  // The passthrough's ops in JavaScript, mounted as any daemon's own ops are (./ops-path.ts); its
  // source calls run through the scheduler, so a cancel aborts them all at once.
  const ops = createPassthroughOps(config.source, { readOnly: config.readOnly, signal: opts.signal, scheduler: opts.scheduler });
  const data = await mountOps({ ops, mountpoint: config.mountpoint, fsname: opts.fsname, subtype: opts.subtype, readOnly: config.readOnly, allowOther: config.allowOther === true, state: opts.state, scheduler: opts.scheduler, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  return { ...data, cancel: (reason) => opts.backend.abort(reason), cancelOnFailure: true };
}
