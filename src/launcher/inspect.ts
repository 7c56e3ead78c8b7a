import { readdir, readFile } from 'node:fs/promises';
import { readState } from '../state/state-schema.js';
import type { StateDoc } from '../state/state-schema.js';
import type { HomeLayout } from '../state/paths.js';
import { WORKSPACE_NAME } from '../state/names.js';
import type { ProcInfo } from '../sys/proc.js';
import type { Discovery } from './discover.js';
import { findDaemons } from './scan.js';
import { homeOfProcess } from './home-of.js';

export type Verdict = 'running' | 'leftovers' | 'stopped';

export interface DaemonView {
  readonly pid: number;
  readonly uptimeSec: number | undefined;
  readonly argv: readonly string[];
  readonly instanceId?: string;
}

export interface WorkspaceStatus {
  readonly workspace: string;
  readonly verdict: Verdict;
  /** The words of the status line: running(pid=N), orphan(pid=N), stale-pidfile(pid=N), stale-mount, starting, stopping, stopped. */
  readonly tokens: readonly string[];
  readonly known: boolean;
  readonly mountpoint: string | undefined;
  readonly source: string | undefined;
  readonly mounted: boolean;
  readonly daemon: DaemonView | undefined;
  readonly orphans: readonly DaemonView[];
  readonly stalePidfile: { readonly pid: number | undefined } | undefined;
  readonly staleMount: boolean;
  readonly state: Pick<StateDoc, 'status' | 'cursor' | 'health' | 'counters' | 'reason' | 'backend'> | undefined;
}

const TICKS_PER_SEC = 100; // USER_HZ on every Linux ABI Node supports

async function uptimeOf(startTime: number): Promise<number | undefined> {
  try {
    const up = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    return Math.max(0, Math.round(up - startTime / TICKS_PER_SEC));
  } catch {
    // No /proc/uptime: uptime is unknown, which status shows as such.
    return undefined;
  }
}

export async function inspectWorkspace(d: Discovery): Promise<WorkspaceStatus> {
  const state = await readState(d.paths.state).catch(() => undefined);
  const view = async (x: Discovery['daemons'][number]): Promise<DaemonView> => ({
    pid: x.pid,
    uptimeSec: await uptimeOf(x.startTime),
    argv: x.argv,
    ...(x.instanceId ? { instanceId: x.instanceId } : {}),
  });
  const main = d.daemons.find((x) => x.inPidfile);
  const orphans = await Promise.all(d.daemons.filter((x) => !x.inPidfile).map(view));
  const tokens: string[] = [];
  const liveState = main && state && state.pid === main.pid ? state : undefined;
  if (main) {
    const phase = liveState?.status === 'starting' ? 'starting' : liveState?.status === 'stopping' ? 'stopping' : 'running';
    tokens.push(`${phase}(pid=${main.pid})`);
  }
  for (const o of orphans) tokens.push(`orphan(pid=${o.pid})`);
  const stalePidfile = d.pidfileState === 'stale' || d.pidfileState === 'corrupt' ? { pid: d.pidfile.kind === 'ok' ? d.pidfile.doc.pid : undefined } : undefined;
  if (stalePidfile) tokens.push(`stale-pidfile(pid=${stalePidfile.pid ?? '?'})`);
  const staleMount = d.mount !== undefined && d.daemons.length === 0 && !d.lock.held;
  if (staleMount) tokens.push('stale-mount');
  if (tokens.length === 0) tokens.push(d.lock.held ? 'starting' : 'stopped');
  const leftovers = orphans.length > 0 || stalePidfile !== undefined || staleMount;
  const verdict: Verdict = leftovers ? 'leftovers' : main || d.lock.held ? 'running' : 'stopped';
  return {
    workspace: d.workspace,
    verdict,
    tokens,
    known: d.config !== undefined || d.pidfile.kind !== 'absent' || d.daemons.length > 0 || d.mount !== undefined,
    mountpoint: d.mountpoint,
    source: d.config?.source,
    mounted: d.mount !== undefined,
    daemon: main ? await view(main) : undefined,
    orphans,
    stalePidfile,
    staleMount,
    state: state
      ? { status: state.status, cursor: state.cursor, health: state.health, counters: state.counters, ...(state.reason ? { reason: state.reason } : {}), ...(state.backend ? { backend: state.backend } : {}) }
      : undefined,
  };
}

/** Configured workspaces plus any seen only in the process table (same home). */
export async function listWorkspaces(layout: HomeLayout, procs: readonly ProcInfo[]): Promise<string[]> {
  const names = new Set<string>();
  try {
    for (const n of await readdir(layout.workspacesDir)) if (WORKSPACE_NAME.test(n)) names.add(n);
  } catch {
    // No workspaces directory yet: nothing configured.
  }
  for (const d of await findDaemons({ scan: async () => [...procs] })) {
    if (!names.has(d.workspace) && (await homeOfProcess(d.pid)) === layout.home) names.add(d.workspace);
  }
  return [...names].sort();
}
