import { jsStalled } from '../sys/thread-names.js';
import { readdir, readFile } from 'node:fs/promises';
import { readState } from '../state/state-schema.js';
import type { StateDoc } from '../state/state-schema.js';
import { kindOf, type HomeLayout } from '../state/paths.js';
import { isKindConfig } from '../state/workspace.js';
import { WORKSPACE_NAME } from '../state/names.js';
import { findHomeDaemons } from '../protocol/daemons.js';
import type { Discovery, HomeFacts, Snapshot } from './discover.js';

/** running: a daemon serves it; leftovers: something is left that nobody serves; failed: its daemon runs but the mount failed; stopped: nothing. */
export type Verdict = 'running' | 'leftovers' | 'failed' | 'stopped';

/** One daemon as `status` shows it. */
export interface DaemonView {
  readonly pid: number;
  readonly uptimeSec: number | undefined;
  readonly argv: readonly string[];
  readonly instanceId?: string;
  readonly holdsLock: boolean;
  /** Its leader exited but a thread is stuck in the kernel, keeping the mount's files open. */
  readonly exiting?: boolean;
}

/** One workspace as `mountie status` shows it; `verdict` sums it up. */
export interface WorkspaceStatus {
  readonly workspace: string;
  readonly verdict: Verdict;
  /** The words of the status line: running(pid=N), orphan(pid=N), stale-pidfile(pid=N), stale-mount, starting(pid=N), stopping(pid=N), handing-over(pid=N), stopped. */
  readonly tokens: readonly string[];
  readonly known: boolean;
  readonly mountpoint: string | undefined;
  readonly source: string | undefined;
  readonly mounted: boolean;
  /** Every mountpoint where a mount of this workspace sits. */
  readonly mountpoints: readonly string[];
  readonly logFile: string;
  readonly daemon: DaemonView | undefined;
  readonly orphans: readonly DaemonView[];
  readonly starting: readonly DaemonView[];
  /** A daemon handing its live mount to a new one (`restart --live`), until it has exited. */
  readonly handingOver: readonly DaemonView[];
  readonly stalePidfile: { readonly pid: number | undefined; readonly reason?: string } | undefined;
  readonly staleMount: boolean;
  readonly configError: string | undefined;
  readonly state: Pick<StateDoc, 'status' | 'cursor' | 'health' | 'counters' | 'reason' | 'exitCode' | 'backend' | 'dataPath' | 'live' | 'takenOverFrom'> | undefined;
}

const TICKS_PER_SEC = 100; // USER_HZ on every Linux ABI Node supports
/** A daemon that has our lock file open but not the lock is still starting (or about to give up); after this long it is a leftover. */
const STARTING_GRACE_SEC = 30;

async function uptimeOf(startTime: number): Promise<number | undefined> {
  try {
    const up = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    return Math.max(0, Math.round(up - startTime / TICKS_PER_SEC));
  } catch {
    // No /proc/uptime: uptime is unknown, which status shows as such.
    return undefined;
  }
}

/** What status says of a daemon whose JavaScript thread leaves requests untaken (it cannot write state.json itself then). */
export const STALL_REASON = 'its JavaScript thread has left requests untaken for over 1 s (busy or blocked): they are answered ETIMEDOUT at their deadline';

export async function inspectWorkspace(d: Discovery): Promise<WorkspaceStatus> {
  const onDisk = await readState(d.paths.state).catch(() => undefined);
  const main0 = d.daemons.find((x) => x.inPidfile && !x.exiting);
  // A blocked JavaScript thread cannot say so in state.json: the native core's watchdog says it in /proc (src/sys/thread-names.ts).
  // Only a kind's own ops run in JavaScript (mountie's passthrough answers in C: its JavaScript thread holds up no request).
  const ownOps = d.config !== undefined && isKindConfig(d.config) && onDisk?.dataPath === 'native';
  const stalled = ownOps && main0 !== undefined && onDisk?.pid === main0.pid && onDisk.status === 'active' && (await jsStalled(main0.pid));
  const state = stalled && onDisk ? { ...onDisk, status: 'degraded' as const, reason: STALL_REASON } : onDisk;
  const view = async (x: Discovery['daemons'][number]): Promise<DaemonView> => ({
    pid: x.pid,
    uptimeSec: await uptimeOf(x.startTime),
    argv: x.argv,
    holdsLock: x.holdsLock,
    ...(x.exiting ? { exiting: true } : {}),
    ...(x.instanceId ? { instanceId: x.instanceId } : {}),
  });
  const main = main0;
  const others = await Promise.all(d.daemons.filter((x) => x !== main).map(async (x) => ({ x, v: await view(x) })));
  // Between taking the lock and writing its pidfile a daemon is starting, not an orphan: its
  // state.json says so. One that has the lock file open without the lock is about to take it or give up.
  const liveState = main && state && state.pid === main.pid ? state : undefined;
  // A live restart (issue 21): the daemon handing its mount over says so in state.json until the
  // new one writes its own, which names the pid it took over from. Both hold the lock meanwhile
  // (one open file description), so neither is an orphan: the old one is handing over, the new
  // one starting, until the old one has exited.
  const handingOver = liveState?.status === 'handing-over' ? main?.pid : state?.takenOverFrom !== undefined && state.pid !== state.takenOverFrom && d.daemons.some((x) => x.pid === state.pid && x.holdsLock) ? state.takenOverFrom : undefined;
  const isStarting = ({ x, v }: (typeof others)[number]): boolean =>
    !x.exiting &&
    x.pid !== handingOver &&
    (x.holdsLock
      ? (d.pidfileState !== 'live' || (handingOver !== undefined && handingOver === main?.pid)) && (state?.pid === x.pid ? state.status === 'starting' : liveState?.status === 'handing-over')
      : (v.uptimeSec ?? 0) < STARTING_GRACE_SEC);
  const starting = others.filter(isStarting).map((o) => o.v);
  const handing = others.filter((o) => !o.x.exiting && o.x.pid === handingOver).map((o) => o.v);
  const orphans = others.filter((o) => !isStarting(o) && !handing.includes(o.v)).map((o) => o.v);
  const tokens: string[] = [];
  if (main) {
    // Starting until its mount is there: state.json's 'active' is written (coalesced, fsynced) after the
    // mount and may land after READY, so a status right after a launch must not say starting then.
    const phase = main.pid === handingOver ? 'handing-over' : liveState?.status === 'starting' && d.mount === undefined ? 'starting' : liveState?.status === 'stopping' ? 'stopping' : 'running';
    tokens.push(`${phase}(pid=${main.pid})`);
  }
  for (const h of handing) tokens.push(`handing-over(pid=${h.pid})`);
  for (const s of starting) tokens.push(`starting(pid=${s.pid})`);
  for (const o of orphans) tokens.push(`orphan(pid=${o.pid})`);
  // Another kind's workspace (two kinds in one home): its pidfile names a daemon we cannot see, not a stale one.
  const foreign = d.configErrorCode === 'ERR_KIND_MISMATCH';
  const stalePidfile =
    !foreign && (d.pidfileState === 'stale' || d.pidfileState === 'corrupt')
      ? { pid: d.pidfile.kind === 'ok' ? d.pidfile.doc.pid : undefined, ...(d.pidfile.kind === 'corrupt' ? { reason: d.pidfile.reason } : {}) }
      : undefined;
  if (stalePidfile) tokens.push(`stale-pidfile(pid=${stalePidfile.pid ?? '?'})`);
  const staleMount = d.mounts.length > 0 && d.daemons.length === 0;
  if (staleMount) tokens.push('stale-mount');
  // The last daemon died of a crash (state.json has its exit code, written on the way out) and none runs now.
  const crashedState = tokens.length === 0 && state?.status === 'failed' && typeof state.exitCode === 'number' && !d.daemons.some((x) => x.pid === state.pid) ? state : undefined;
  if (crashedState) tokens.push(`failed(exit=${crashedState.exitCode})`);
  if (tokens.length === 0) tokens.push('stopped');
  const leftovers = orphans.length > 0 || stalePidfile !== undefined || staleMount;
  const failed = liveState?.status === 'failed' || d.configError !== undefined || crashedState !== undefined;
  const serving = main !== undefined || starting.length > 0 || handing.length > 0;
  const verdict: Verdict = leftovers ? 'leftovers' : failed ? 'failed' : serving ? 'running' : 'stopped';
  return {
    workspace: d.workspace,
    verdict,
    tokens,
    known: d.config !== undefined || d.configError !== undefined || d.pidfile.kind !== 'absent' || d.daemons.length > 0 || d.mounts.length > 0,
    mountpoint: d.mountpoint,
    source: d.config && !isKindConfig(d.config) ? d.config.source : undefined,
    mounted: d.mount !== undefined,
    mountpoints: d.mounts.map((m) => m.mountPoint),
    logFile: d.paths.log,
    daemon: main ? await view(main) : undefined,
    orphans,
    starting,
    handingOver: handing,
    stalePidfile,
    staleMount,
    configError: d.configError,
    state: state
      ? { status: state.status, cursor: state.cursor, health: state.health, counters: state.counters, ...(state.reason ? { reason: state.reason } : {}), ...(state.exitCode !== undefined ? { exitCode: state.exitCode } : {}), ...(state.backend ? { backend: state.backend } : {}), ...(state.dataPath ? { dataPath: state.dataPath } : {}), ...(state.live ? { live: state.live } : {}), ...(state.takenOverFrom !== undefined ? { takenOverFrom: state.takenOverFrom } : {}) }
      : undefined,
  };
}

/** Configured workspaces plus any whose daemons run without a workspace directory (same home). */
export async function listWorkspaces(layout: HomeLayout, snap: Snapshot, facts: HomeFacts): Promise<string[]> {
  const names = new Set<string>();
  try {
    for (const n of await readdir(layout.workspacesDir)) if (WORKSPACE_NAME.test(n)) names.add(n);
  } catch {
    // No workspaces directory yet: nothing configured.
  }
  const daemons = snap.daemons ?? (await findHomeDaemons(snap.procs, { workspacesDir: layout.workspacesDir, realWorkspacesDir: facts.realWorkspacesDir }, snap.mounts, { kind: kindOf(layout) }));
  for (const d of daemons) names.add(d.workspace);
  return [...names].sort();
}
