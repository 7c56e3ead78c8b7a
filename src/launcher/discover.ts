import { lstat, realpath } from 'node:fs/promises';
import { findHomeDaemons, scanMarked, type DaemonRef } from '../protocol/daemons.js';
import { isMountieError, type MountieError } from '../errors.js';
import { lockHeldNow } from '../protocol/lock.js';
import { homeIdOf, mountsOf } from '../protocol/tag.js';
import { readPidfile, type PidfileRead } from '../state/pidfile.js';
import { kindOf, workspacePaths, type HomeLayout, type WorkspacePaths } from '../state/paths.js';
import { loadAnyConfig, type AnyConfig } from '../state/workspace.js';
import { mountAt, type MountEntry } from '../sys/mountinfo.js';
import type { ProcStat } from '../sys/proc-stat-scan.js';

/** A live daemon of one workspace of this home (proven: marker + our lock file open), and what the pidfile says of it. */
export interface Daemon extends DaemonRef {
  /** The process the pidfile names (pid, start time and boot id all match). */
  readonly inPidfile: boolean;
  readonly instanceId?: string;
  /** argv as its pidfile recorded it (other processes' cmdline is never read: it can hang). */
  readonly argv: readonly string[];
}

/** What {@link discover} found for one workspace, unjudged. */
export interface Discovery {
  readonly workspace: string;
  readonly paths: WorkspacePaths;
  readonly homeId: string | undefined;
  /** workspace.json: mountie's own (with `source`) or another kind's (with `options`). */
  readonly config: AnyConfig | undefined;
  /** Why workspace.json could not be read, when it exists but is unusable. */
  readonly configError: string | undefined;
  /** Its code: `ERR_CONFIG_CORRUPT`, or `ERR_KIND_MISMATCH` for another kind's workspace. */
  readonly configErrorCode?: string;
  /** @internal The error itself (stop rethrows a kind mismatch). */
  readonly configErrorCause?: MountieError;
  readonly pidfile: PidfileRead;
  /** 'stale' = a pidfile whose process is gone or is not that daemon any more. */
  readonly pidfileState: 'absent' | 'corrupt' | 'live' | 'stale';
  readonly daemons: readonly Daemon[];
  /** The lock is held (by a daemon, or by a `stop` cleaning up). */
  readonly lockHeld: boolean;
  readonly mountpoint: string | undefined;
  /** Every mount tagged for this home and workspace, wherever it sits. */
  readonly mounts: readonly MountEntry[];
  /** The primary one: at the configured mountpoint if there is one there, else the first. */
  readonly mount: MountEntry | undefined;
}

export interface Snapshot {
  readonly procs: readonly ProcStat[];
  readonly mounts: readonly MountEntry[];
  /**
   * The home's daemons of every workspace, found in `procs` ({@link homeSnapshot}): listing the
   * workspaces and discovering each then share one read of every candidate's fds (status read
   * them once per workspace, after once for the list).
   */
  readonly daemons?: readonly DaemonRef[];
}

/** One look at the process table and the home's daemons in it, for commands that discover several workspaces (or list them first). */
export async function homeSnapshot(layout: HomeLayout, mounts: readonly MountEntry[], facts: HomeFacts): Promise<Snapshot> {
  const procs = scanMarked(kindOf(layout));
  const daemons = await findHomeDaemons(procs, { workspacesDir: layout.workspacesDir, realWorkspacesDir: facts.realWorkspacesDir }, mounts, { kind: kindOf(layout) });
  return { procs, mounts, daemons };
}

/** What discovery of one home needs once per command: its id and the real spelling of its workspaces dir. */
export interface HomeFacts {
  readonly homeId: string | undefined;
  readonly realWorkspacesDir: string | undefined;
}

export async function homeFacts(layout: HomeLayout): Promise<HomeFacts> {
  const [homeId, real] = await Promise.all([homeIdOf(layout.home), realpath(layout.workspacesDir).catch(() => undefined)]);
  return { homeId, realWorkspacesDir: real };
}

/**
 * Everything known about one workspace: the daemons proven to be its own (see
 * src/protocol/daemons.ts), the pidfile judged against them, the lock, and every mount it tagged.
 */
export async function discover(layout: HomeLayout, workspace: string, snap: Snapshot, facts?: HomeFacts): Promise<Discovery> {
  const paths = workspacePaths(layout, workspace);
  const home = facts ?? (await homeFacts(layout));
  const kind = kindOf(layout);
  let configError: string | undefined;
  let configErrorCause: MountieError | undefined;
  const [config, pidfile, lockId] = await Promise.all([
    loadAnyConfig(paths, kind).catch((err: unknown) => {
      // A corrupt config: status still reports processes and mounts, and says the config is broken.
      configError = err instanceof Error ? err.message : String(err);
      if (isMountieError(err)) configErrorCause = err;
      return undefined;
    }),
    readPidfile(paths.pidfile),
    lstat(paths.lock).then((st) => (st.isFile() ? st : undefined)).catch(() => undefined),
  ]);
  const dirs = { workspacesDir: layout.workspacesDir, realWorkspacesDir: home.realWorkspacesDir };
  const lockedNow = lockId !== undefined && (await lockHeldNow(lockId)) === true;
  let refs = snap.daemons ? snap.daemons.filter((r) => r.workspace === workspace) : await findHomeDaemons(snap.procs, dirs, snap.mounts, { ws: workspace, kind });
  // The snapshot may predate the holder (a daemon that started and locked since): look again,
  // so that a held lock is attributed whenever its holder is a daemon.
  if (lockedNow && !refs.some((r) => r.holdsLock)) refs = await findHomeDaemons(scanMarked(kind), dirs, snap.mounts, { ws: workspace, kind });
  const doc = pidfile.kind === 'ok' ? pidfile.doc : undefined;
  const described = doc ? refs.find((r) => r.pid === doc.pid && r.startTime === doc.startTime && r.bootId === doc.bootId) : undefined;
  const pidfileState: Discovery['pidfileState'] = pidfile.kind === 'ok' ? (described ? 'live' : 'stale') : pidfile.kind;
  const daemons: Daemon[] = refs.map((r) => ({
    ...r,
    inPidfile: r === described,
    argv: r === described && doc ? doc.argv : [],
    ...(r === described && doc ? { instanceId: doc.instanceId } : {}),
  }));
  const lockHeld = lockedNow || daemons.some((d) => d.holdsLock);
  const mountpoint = config?.mountpoint ?? doc?.mountpoint;
  const mounts = mountsOf(snap.mounts, workspace, home.homeId, kind);
  const atMp = mountpoint === undefined ? undefined : mountAt(snap.mounts, mountpoint);
  const mount = atMp && mounts.includes(atMp) ? atMp : mounts[0];
  return { workspace, paths, homeId: home.homeId, config, configError, ...(configErrorCause ? { configErrorCode: configErrorCause.code, configErrorCause } : {}), pidfile, pidfileState, daemons, lockHeld, mountpoint, mounts, mount };
}
