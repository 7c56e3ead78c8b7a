/**
 * A daemon's own operations (`mount(ctx)` returned `{ ops }`): served by the native core's JS-ops
 * mode (libfuse 3; C owns the session, the node table and every reply, ./native/ops-bridge.ts)
 * when the addon loads, else through fuse-native (MOUNTIE_DATA_PATH=js forces it), the ops then
 * counted for state.json by the state sink's instrument, with the read-only guard in mountFuse.
 * Either way it looks like the passthrough's data path to the harness (./data-path.ts).
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
import type { FileSystem } from './file-system.js';
import { fileSystemOfOps } from './fs-ops-adapter.js';
import type { CheckedMountOptions } from './mount-options.js';
import { chooseDataPath } from './native/choose.js';
import { mountNative } from './native/mount.js';
import { nativeDataPath } from './native/as-data-path.js';
import { MountieError } from '../errors.js';
import { checkAllowOther } from '../sys/fuse-conf.js';

/** Requests a kind's ops may have in flight at once in JavaScript, as the health monitor weighs them. */
const OPS_LIMIT = 64;

export interface MountOpsOptions {
  /** The author's ops: callback style (FsOps), or a FileSystem (promise style, native core only). */
  readonly ops: FsOps | { readonly fs: FileSystem };
  /** The kind's mount options, checked (./mount-options.ts). */
  readonly mount?: CheckedMountOptions;
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
  /** A request the author's ops have not answered by then gets ETIMEDOUT. Default 5000. */
  readonly deadlineMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Lines for daemon.log: a faulty op's name and why, which data path serves. */
  readonly log?: (line: string) => void;
}

export async function mountOps(opts: MountOpsOptions): Promise<DataPath> {
  const log = opts.log ?? (() => undefined);
  // Checked by the launcher already; again here, as fuse.conf may have changed since the config was
  // stored. No root refusal here (./native/choose.ts): that rule guards a passthrough's source, and
  // a kind's own ops act with the daemon's rights on either path, under the kernel's permission checks.
  if (opts.allowOther) await checkAllowOther();
  const choice = chooseDataPath(opts.env ?? process.env);
  if (choice.kind === 'unavailable') throw new MountieError('ERR_MOUNT_FAILED', choice.reason, { hint: 'run npm run build:native (mountie doctor says what is missing), or unset MOUNTIE_DATA_PATH' });
  const given = opts.ops;
  const isFs = 'fs' in given && typeof given.fs === 'object' && given.fs !== null;
  if (isFs && choice.kind !== 'native') throw new MountieError('ERR_MOUNT_FAILED', `a { fs } file system is served by the native core only, and it is not available: ${choice.reason}`, { hint: 'run npm run build:native (mountie doctor says what is missing)' });
  if (choice.kind === 'native') {
    const fs = isFs ? (given as { fs: FileSystem }).fs : fileSystemOfOps(given as FsOps, log);
    const m = await mountNative({
      mountpoint: opts.mountpoint,
      source: '',
      ops: { fs, log, ...(opts.mount ? { mount: opts.mount } : {}) },
      fsname: opts.fsname,
      subtype: opts.subtype,
      readOnly: opts.readOnly,
      allowOther: opts.allowOther,
      deadlineMs: opts.deadlineMs ?? 5000,
      binding: choice.binding,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    return nativeDataPath(m, opts.state, { limit: OPS_LIMIT, cancelOnFailure: false, stuckInCore: false });
  }
  log(choice.forced ? `data path: fuse-native (${choice.reason})` : `data path: fuse-native, the native core is unavailable: ${choice.reason}`);
  installFuseThreadCounter();
  // FsOps is fuse-native's FuseOps declared in mountie's own terms (no fuse-native types shipped).
  const ops = opts.state.instrument(given as FuseOps);
  const mounted = await mountFuse({ mountpoint: opts.mountpoint, ops, fsname: opts.fsname, subtype: opts.subtype, readOnly: opts.readOnly, allowOther: opts.allowOther, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  return {
    kind: 'js',
    mounted,
    backendView: (h) => backendView(opts.scheduler.stats(), h, fuseThreadsCreated()),
    load: () => ({ ...opts.scheduler.stats(), fuseThreads: fuseThreadsCreated() }),
    // The author's ops end their work on ctx.signal (aborted at shutdown start); nothing to answer here.
    cancel: () => undefined,
    cancelOnFailure: false,
    sessionAlive: () => holdsOpen('/dev/fuse'),
    stuckCalls: poolCallsPending,
  };
}
