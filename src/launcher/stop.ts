import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { acquireLock } from '../daemon/lock.js';
import { lockAddress } from '../daemon/lock.js';
import { cleanStaleMount } from '../daemon/stale.js';
import type { Logger } from '../daemon/log.js';
import { removeStalePidfile } from '../state/pidfile.js';
import { readState } from '../state/state-schema.js';
import type { HomeLayout } from '../state/paths.js';
import { abortConnection } from '../sys/fusermount.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { scanProcesses, type ProcessIdentity } from '../sys/proc.js';
import { systemClock, type Clock } from '../sys/time.js';
import { discover, type Discovery } from './discover.js';
import { finalizeDeadState } from './finalize-state.js';
import { exitingThreads, groupOf, signalDaemon, sweepSession, waitGone, waitThreadsGone, type KillFn } from './kill.js';

export type ProcessEnd = 'TERM' | 'KILL' | 'already-gone' | 'survived' | 'left-alone';

export interface StopReport {
  readonly workspace: string;
  readonly processes: readonly { pid: number; ended: ProcessEnd; inPidfile: boolean }[];
  readonly swept: readonly number[];
  readonly cleaned: { readonly mount: boolean; readonly pidfile: boolean; readonly state: boolean; readonly aborted: boolean };
  readonly survivors: readonly number[];
  readonly mountLeft: string | undefined;
  readonly notes: readonly string[];
  readonly ok: boolean;
}

export interface StopOptions {
  readonly graceMs?: number;
  readonly killWaitMs?: number;
  readonly clock?: Clock;
  readonly kill?: KillFn;
}

async function freshDiscovery(layout: HomeLayout, ws: string): Promise<Discovery> {
  const [procs, mounts] = await Promise.all([scanProcesses(), readMountInfo()]);
  return discover(layout, ws, { procs, mounts });
}

/** How long a normal exit may take to end the threads of a process whose leader is a zombie. */
const EXIT_SETTLE_MS = 300;

/** Where an exited process's remaining threads wait (wchan), for the report. */
async function describeStuck(id: ProcessIdentity): Promise<string> {
  const where: string[] = [];
  for (const tid of await exitingThreads(id)) {
    // The thread may end between the listing and this read: then its wait is unknown, and over.
    const wchan = await readFile(`/proc/${id.pid}/task/${tid}/wchan`, 'utf8').catch(() => '');
    where.push(`${tid} in ${wchan || '?'}`);
  }
  return `pid ${id.pid} exited, but thread(s) ${where.join(', ')} still wait in the kernel (a call on the source that never returns?); the process keeps its open files until they do`;
}

function collector(notes: string[]): Logger {
  return { info: (m) => void notes.push(m), error: (m, e) => void notes.push(`${m}${e ? `: ${String(e)}` : ''}`), close: () => undefined };
}

/**
 * Stop every daemon of a workspace: TERM to each (its group), wait up to the grace period, KILL
 * what is left, abort a wedged FUSE connection if something still clings, sweep the sessions,
 * then confirm with a fresh scan. Afterwards, holding the lock itself, clean what the dead left.
 */
export async function stopWorkspace(layout: HomeLayout, ws: string, opts: StopOptions = {}): Promise<StopReport> {
  const clock = opts.clock ?? systemClock;
  const kill: KillFn = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
  const notes: string[] = [];
  const before = await freshDiscovery(layout, ws);
  const ends = new Map<number, ProcessEnd>();
  const targets: ProcessIdentity[] = [];
  const sessions: number[] = [];
  for (const d of before.daemons) {
    const id = { pid: d.pid, startTime: d.startTime, bootId: d.bootId };
    const g = await groupOf(d.pid);
    if ((await signalDaemon(id, 'SIGTERM', kill)) === 'sent') {
      targets.push(id);
      ends.set(d.pid, 'TERM');
      if (g?.sid === d.pid) sessions.push(d.pid);
    } else ends.set(d.pid, 'already-gone');
  }
  let alive = await waitGone(targets, opts.graceMs ?? 5000, clock);
  if (alive.length) {
    for (const id of alive) if ((await signalDaemon(id, 'SIGKILL', kill)) === 'sent') ends.set(id.pid, 'KILL');
    alive = await waitGone(alive, opts.killWaitMs ?? 2000, clock);
  }
  // A zombie leader is not a dead process: a thread of it may still sleep in the kernel, holding
  // the lock socket and /dev/fuse. A normal exit ends such threads within the settle time.
  const lingering = (ms: number): Promise<ProcessIdentity[]> => waitThreadsGone(targets.filter((t) => !alive.includes(t)), ms, clock);
  let exiting = await lingering(EXIT_SETTLE_MS);
  let aborted = false;
  if (alive.length || exiting.length) {
    // Immune to SIGKILL means stuck in the kernel (state D), most likely on our own FUSE mount:
    // aborting the connection fails those waits with ENOTCONN, then the kill lands. Nobody else
    // serves that connection once its daemon is dying, so the abort is safe wherever they wait.
    const entry = before.mount ?? (await freshDiscovery(layout, ws)).mount;
    if (entry) aborted = await abortConnection(entry);
    if (alive.length) notes.push(`processes ${alive.map((a) => a.pid).join(', ')} survived SIGKILL; aborted FUSE connection: ${aborted}`);
    if (exiting.length) notes.push(`processes ${exiting.map((a) => a.pid).join(', ')} exited but kept a thread stuck in the kernel; aborted FUSE connection: ${aborted}`);
    alive = await waitGone(alive, opts.killWaitMs ?? 2000, clock);
    // Without an abort nothing will wake those threads soon (they wait on the source): no wait.
    exiting = await lingering(aborted ? (opts.killWaitMs ?? 2000) : 0);
  }
  for (const id of alive) ends.set(id.pid, 'survived');
  for (const id of exiting) notes.push(await describeStuck(id));
  const swept = await sweepSession(sessions, kill);
  const after = await freshDiscovery(layout, ws);
  const cleaned = { mount: false, pidfile: false, state: false, aborted };
  if (after.daemons.length === 0) await cleanLeftovers(layout, ws, after, cleaned, notes);
  const final = after.daemons.length === 0 ? await freshDiscovery(layout, ws) : after;
  const survivors = final.daemons.map((d) => d.pid);
  for (const pid of survivors) if (!ends.has(pid)) ends.set(pid, 'survived');
  return {
    workspace: ws,
    processes: [...ends].map(([pid, ended]) => ({ pid, ended, inPidfile: before.daemons.some((d) => d.pid === pid && d.inPidfile) })),
    swept,
    cleaned,
    survivors,
    mountLeft: final.mount?.mountPoint,
    notes,
    ok: survivors.length === 0 && final.mount === undefined,
  };
}

/** Only with the lock held by us: then no live daemon owns the mount or the pidfile. */
async function cleanLeftovers(layout: HomeLayout, ws: string, d: Discovery, cleaned: { mount: boolean; pidfile: boolean; state: boolean }, notes: string[]): Promise<void> {
  const status = (await readState(d.paths.state).catch(() => undefined))?.status;
  const stateLies = status !== undefined && status !== 'stopped' && status !== 'failed';
  // Take the lock only when there is something to clean: a concurrent start must rarely meet it.
  if (!d.mount && d.pidfileState !== 'stale' && d.pidfileState !== 'corrupt' && !stateLies) return;
  let lock;
  try {
    lock = await acquireLock(lockAddress(layout.home, ws), { pid: process.pid, instanceId: `stop-${randomUUID()}` }, ws);
  } catch {
    notes.push('the workspace lock is held (a daemon started meanwhile, or an exited one still holds its files); leaving its mount and pidfile alone');
    return;
  }
  try {
    if (d.mount && d.mountpoint) cleaned.mount = (await cleanStaleMount(d.mountpoint, ws, collector(notes))) === 'cleaned';
    if (d.pidfileState === 'stale' || d.pidfileState === 'corrupt') cleaned.pidfile = await removeStalePidfile(d.paths.pidfile, d.pidfile);
    if (stateLies) cleaned.state = await finalizeDeadState(d.paths, 'the daemon ended without shutting down; cleaned up by mountie stop').catch((err: unknown) => {
      // A state file we cannot fix is reported, not fatal: the processes and the mount are what stop is for.
      notes.push(`could not mark state.json stopped: ${String(err)}`);
      return false;
    });
  } finally {
    await lock.release();
  }
}
