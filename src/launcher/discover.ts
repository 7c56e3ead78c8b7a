import { lockAddress, probeLock, type LockProbe } from '../daemon/lock.js';
import { readPidfile, type PidfileRead } from '../state/pidfile.js';
import { workspacePaths, type HomeLayout, type WorkspacePaths } from '../state/paths.js';
import { fsnameFor } from '../state/tag.js';
import { loadConfig, type WorkspaceConfig } from '../state/workspace.js';
import { mountAt, type MountEntry } from '../sys/mountinfo.js';
import { bootId, procCwd, readProc, verifyIdentity, type ProcInfo } from '../sys/proc.js';
import { homeOfProcess } from './home-of.js';
import { matchDaemon } from './match.js';
import { findDaemons } from './scan.js';

/** A live mountie daemon of one workspace and home, with where we learned of it. */
export interface Daemon {
  readonly pid: number;
  readonly startTime: number;
  readonly bootId: string;
  readonly argv: readonly string[];
  /** The process the pidfile names (pid, start time and boot id all match). */
  readonly inPidfile: boolean;
  readonly holdsLock: boolean;
  readonly instanceId?: string;
}

export interface Discovery {
  readonly workspace: string;
  readonly paths: WorkspacePaths;
  readonly config: WorkspaceConfig | undefined;
  readonly pidfile: PidfileRead;
  /** 'stale' = a pidfile whose process is gone or is not that daemon any more. */
  readonly pidfileState: 'absent' | 'corrupt' | 'live' | 'stale';
  readonly daemons: readonly Daemon[];
  readonly lock: LockProbe;
  readonly mountpoint: string | undefined;
  /** This workspace's FUSE mount at its mountpoint, if mounted. */
  readonly mount: MountEntry | undefined;
}

export interface Snapshot {
  readonly procs: readonly ProcInfo[];
  readonly mounts: readonly MountEntry[];
}

/**
 * Everything that is known about one workspace, from three sources merged by pid: the pidfile,
 * a scan of the process table (exact argv tokens, same home), and the lock holder.
 */
export async function discover(layout: HomeLayout, workspace: string, snap: Snapshot): Promise<Discovery> {
  const paths = workspacePaths(layout, workspace);
  const [config, pidfile, lock, boot] = await Promise.all([
    loadConfig(paths).catch(() => undefined), // corrupt config: status still reports processes and mounts
    readPidfile(paths.pidfile),
    probeLock(lockAddress(layout.home, workspace)),
    bootId(),
  ]);
  const found = new Map<number, { startTime: number; argv: readonly string[] }>();
  for (const d of await findDaemons({ ws: workspace, scan: async () => [...snap.procs] })) {
    if ((await homeOfProcess(d.pid)) === layout.home) found.set(d.pid, { startTime: d.startTime, argv: d.argv });
  }
  const lockOwner = lock.held ? lock.owner : undefined;
  if (lockOwner && !found.has(lockOwner.pid)) {
    const p = await readProc(lockOwner.pid);
    if (p && p.state !== 'Z' && (lockOwner.startTime === undefined || lockOwner.startTime === p.startTime)) found.set(p.pid, { startTime: p.startTime, argv: p.argv });
  }
  let pidfileState: Discovery['pidfileState'] = pidfile.kind === 'ok' ? 'stale' : pidfile.kind;
  if (pidfile.kind === 'ok') {
    const { pid, startTime } = pidfile.doc;
    const sameProcess = await verifyIdentity({ pid, startTime, bootId: pidfile.doc.bootId });
    if (sameProcess) {
      // Identity alone is not enough if a hand-edited pidfile names some other process.
      const p = found.get(pid) ?? (await readProc(pid));
      if (p && matchDaemon(p.argv, workspace, { cwd: await procCwd(pid) })) {
        pidfileState = 'live';
        found.set(pid, { startTime: p.startTime, argv: p.argv });
      }
    }
  }
  const daemons: Daemon[] = [...found].map(([pid, p]) => ({
    pid,
    startTime: p.startTime,
    bootId: boot,
    argv: p.argv,
    inPidfile: pidfileState === 'live' && pidfile.kind === 'ok' && pidfile.doc.pid === pid,
    holdsLock: lockOwner?.pid === pid,
    ...(pidfile.kind === 'ok' && pidfile.doc.pid === pid ? { instanceId: pidfile.doc.instanceId } : {}),
  }));
  const mountpoint = config?.mountpoint ?? (pidfile.kind === 'ok' ? pidfile.doc.mountpoint : undefined);
  const entry = mountpoint === undefined ? undefined : mountAt(snap.mounts, mountpoint);
  const mount = entry && entry.source === fsnameFor(workspace) ? entry : undefined;
  return { workspace, paths, config, pidfile, pidfileState, daemons, lock, mountpoint, mount };
}
