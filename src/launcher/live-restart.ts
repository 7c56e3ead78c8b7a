/**
 * `restart --live` (issue 21; docs/ARCHITECTURE.md, "Live restart"): start a new daemon (this
 * build: also how an upgrade happens) that takes the live mount and the workspace lock over from
 * the daemon serving them, so nothing is unmounted and no open file breaks.
 *
 * The order: the serving daemon is found and proven (marker, lock held, pidfile); its state.json
 * must say it can hand over; the new daemon starts and, once its Node is up and its config read,
 * says `waiting`; only then is the serving daemon, proven again, sent SIGUSR2 (by pid, never its
 * group). The new daemon's READY comes after it serves, its pidfile is written with the next
 * epoch, and the old one then exits by itself. A failure before the new daemon's acknowledgement
 * leaves the old one serving: ERR_HANDOVER, with the reason and the pid that serves.
 */
import { MountieError, isMountieError } from '../errors.js';
import { scanMarked } from '../protocol/daemons.js';
import { isMarked } from '../protocol/marker.js';
import { kindOf, workspacePaths, type HomeLayout } from '../state/paths.js';
import type { MountPlan } from '../state/plan.js';
import { readState } from '../state/state-schema.js';
import { loadConfig, type WorkspaceConfig } from '../state/workspace.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { verifyIdentity, type ProcessIdentity } from '../sys/proc.js';
import { systemClock } from '../sys/time.js';
import { discover, homeFacts } from './discover.js';
import { signalDaemon, waitGone } from './kill.js';
import { HANDOVER_SIGNAL } from '../protocol/handover.js';
import { DAEMON_ENTRY, PASSTHROUGH_MODULE } from './prepare.js';
import { startDaemon, type StartResult } from './start.js';

/** How long the old daemon is given to exit once the new one is ready (it waits for the new pidfile, then lets go). */
const OLD_EXIT_MS = 12_000;
/** How long a failed handover is given to put the old daemon back to serving, for the report. */
const RESUME_WAIT_MS = 10_000;

export interface LiveRestartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

/** A live restart done: who served before, who serves now. */
export interface LiveRestarted {
  readonly live: true;
  readonly from: { readonly pid: number };
  readonly to: StartResult;
  /** The old daemon exited within the bound (it always should). */
  readonly oldExited: boolean;
}

/** Not possible for this workspace (the caller may restart it plainly): why. */
export interface LiveRefused {
  readonly live: false;
  readonly reason: string;
  /** Nothing serves the workspace (a plain start is all a restart can do). */
  readonly running: boolean;
}

/** The daemon serving `ws` as discovery proves it: the pidfile's, holding the lock, alive (not a zombie). */
async function servingDaemon(layout: HomeLayout, ws: string): Promise<ProcessIdentity | undefined> {
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const d = (await discover(layout, ws, { procs: scanMarked(kindOf(layout)), mounts }, facts)).daemons.find((x) => x.inPidfile && x.holdsLock && !x.exiting);
  return d ? { pid: d.pid, startTime: d.startTime, bootId: d.bootId } : undefined;
}

/** SIGUSR2 to the daemon itself (never its group: a fusermount3 child would die of it), proven again right before. */
async function askToHandOver(id: ProcessIdentity): Promise<void> {
  if ((await signalDaemon(id, HANDOVER_SIGNAL, process.kill.bind(process), isMarked, true)) !== 'sent') {
    throw new MountieError('ERR_HANDOVER', `daemon ${id.pid} is gone (or is another process now): nothing to take over from`, { data: { pid: id.pid, reason: 'ERR_HANDOVER_NO_PEER' } });
  }
}

/** After a failed handover: the pid serving the workspace again (bounded wait), if any. */
async function servingAfter(layout: HomeLayout, ws: string, old: ProcessIdentity): Promise<number | undefined> {
  const statePath = workspacePaths(layout, ws).state;
  const deadline = Date.now() + RESUME_WAIT_MS;
  for (;;) {
    const st = await readState(statePath).catch(() => undefined);
    const back = st?.pid === old.pid && st.status !== 'handing-over';
    if (back || !(await verifyIdentity(old)) || Date.now() >= deadline) return (await servingDaemon(layout, ws))?.pid;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Restart `ws` live. Resolves `{ live: false }` (nothing done) when it cannot be: no daemon serves
 * it, or its daemon cannot hand over (state.json's `live.reason`). Rejects ERR_HANDOVER when the
 * handover was tried and failed (the old daemon serves on: `data.servedBy`).
 */
export async function restartLive(layout: HomeLayout, ws: string, opts: LiveRestartOptions = {}): Promise<LiveRestarted | LiveRefused> {
  const paths = workspacePaths(layout, ws);
  const config = await loadConfig(paths);
  if (!config) throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${ws}: it has no stored config`, { data: { workspace: ws } });
  const old = await servingDaemon(layout, ws);
  if (!old) return { live: false, reason: 'no daemon serves it', running: false };
  const state = await readState(paths.state).catch(() => undefined);
  if (state?.pid !== old.pid) return { live: false, reason: 'its daemon has not said whether it can hand over (state.json names another process)', running: true };
  if (state.status === 'handing-over') {
    throw new MountieError('ERR_HANDOVER', `daemon ${old.pid} is handing ${ws} over already`, { data: { workspace: ws, pid: old.pid, reason: 'ERR_HANDOVER_BUSY' }, hint: `wait, then see: mountie status ${ws}` });
  }
  if (state.live?.ready !== true) return { live: false, reason: state.live?.reason ?? 'its daemon cannot hand over (it predates live restarts)', running: true };
  if (state.status !== 'active' && state.status !== 'degraded') return { live: false, reason: `its daemon is ${state.status}`, running: true };
  const plan: MountPlan<WorkspaceConfig> = { paths, config, isNew: false, isDemo: ws === 'demo', ownMountPresent: true, demoSourcePending: false, reconfigured: false };
  let to: StartResult;
  try {
    to = await startDaemon({
      layout,
      plan,
      cliPath: DAEMON_ENTRY,
      module: PASSTHROUGH_MODULE,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
      takeOver: { pid: old.pid, onWaiting: () => askToHandOver(old) },
    });
  } catch (err) {
    const servedBy = await servingAfter(layout, ws, old);
    const e = isMountieError(err) ? err : undefined;
    const reason = e?.code === 'ERR_HANDOVER' ? (e.data.reason ?? 'ERR_HANDOVER_FAILED') : (e?.code ?? 'ERR_HANDOVER_FAILED');
    const serving = servedBy === undefined ? 'and nothing serves it now' : servedBy === old.pid ? `daemon ${old.pid} serves on` : `daemon ${servedBy} serves it`;
    throw new MountieError('ERR_HANDOVER', `live restart of ${ws} failed (${e?.message ?? String(err)}); ${serving}`, {
      data: { ...(e?.data ?? {}), workspace: ws, reason, from: old.pid, ...(servedBy !== undefined ? { servedBy } : {}) },
      hint: servedBy === undefined ? `see mountie status ${ws} and mountie logs ${ws}` : `nothing was unmounted; see mountie logs ${ws}`,
      cause: err,
    });
  }
  const left = await waitGone([old], OLD_EXIT_MS, systemClock);
  return { live: true, from: { pid: old.pid }, to, oldExited: left.length === 0 };
}
