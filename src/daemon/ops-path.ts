/**
 * A daemon's own operations (`mount(ctx)` returned `{ fs }` or `{ ops }`): served by the native
 * core's JS-ops mode (C owns the session, our own or libfuse 3.14's, the node table and every reply,
 * ./native/ops-bridge.ts). Callback-style `{ ops }` (FsOps) reach it through an adapter
 * (./fs-ops-adapter.ts). To the harness it looks like the passthrough's data path (./data-path.ts).
 */
import { sessionLine, type DataPath } from './data-path.js';
import type { FsOps } from './fs-ops.js';
import type { FileSystem } from './file-system.js';
import { fileSystemOfOps } from './fs-ops-adapter.js';
import type { CheckedMountOptions } from './mount-options.js';
import { mountNative } from './native/mount.js';
import { nativeDataPath } from './native/as-data-path.js';
import { requireNative } from './native/require-native.js';
import type { DaemonStateSink } from './state-sink.js';
import { checkAllowOther } from '../sys/fuse-conf.js';

/** Requests a kind's ops may have in flight at once in JavaScript, as the health monitor weighs them. */
const OPS_LIMIT = 64;

export interface MountOpsOptions {
  /** The author's ops: a FileSystem (promise style) or callback-style FsOps. */
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
  /** Bound of the mount itself (below the daemon's mount step: ./mount-budget.ts). */
  readonly timeoutMs?: number;
  /** A request the author's ops have not answered by then gets ETIMEDOUT. Default 5000; 0: never. */
  readonly deadlineMs?: number;
  /** Lines for daemon.log: a faulty op's name and why. */
  readonly log?: (line: string) => void;
}

export async function mountOps(opts: MountOpsOptions): Promise<DataPath> {
  const log = opts.log ?? (() => undefined);
  // Checked by the launcher already; again here, as fuse.conf may have changed since the config was stored.
  if (opts.allowOther) await checkAllowOther();
  const binding = requireNative();
  const given = opts.ops;
  const isFs = 'fs' in given && typeof given.fs === 'object' && given.fs !== null;
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
    binding,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  log(sessionLine(m));
  return nativeDataPath(m, opts.state, { limit: OPS_LIMIT, cancelOnFailure: false, stuckInCore: false });
}
