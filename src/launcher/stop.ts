import { mkdir, readFile } from 'node:fs/promises';
import { errnoCode, isMountieError } from '../errors.js';
import { acquireLock, type HeldLock } from '../protocol/lock.js';
import { cleanStaleMounts } from '../protocol/stale.js';
import { removeStalePidfile } from '../state/pidfile.js';
import { readState } from '../state/state-schema.js';
import { DIR_MODE, kindOf, type HomeLayout } from '../state/paths.js';
import { isMarked } from '../protocol/marker.js';
import { findHomeDaemons, scanMarked } from '../protocol/daemons.js';
import { holdInitExit } from '../protocol/init-wait.js';
import { isNamespaceInit, isOurNamespaceInit } from '../sys/pid-ns.js';
import { abortConnection } from '../sys/fusermount.js';
import { readMountInfo } from '../sys/mountinfo.js';
import type { ProcessIdentity } from '../sys/proc.js';
import { readProcStat, type ProcStat } from '../sys/proc-stat-scan.js';
import { systemClock, type Clock } from '../sys/time.js';
import { trace } from '../sys/trace.js';
import { discover, homeFacts, type Discovery } from './discover.js';
import { finalizeDeadState } from './finalize-state.js';
import { DEFAULT_GRACE_MS } from './defaults.js';
import { exitingThreads, sessionMembers, signalDaemon, sweepSession, waitGone, waitThreadsGone, type KillFn } from './kill.js';

/** How each daemon ended. 'appeared': started while we stopped, never signalled by us. */
export type ProcessEnd = 'TERM' | 'KILL' | 'already-gone' | 'survived' | 'left-alone' | 'appeared';

/** How a stop went: each daemon and how it ended, what was cleaned, what survived (`ok` false then). */
export interface StopReport {
  readonly workspace: string;
  readonly processes: readonly { pid: number; ended: ProcessEnd; inPidfile: boolean }[];
  readonly swept: readonly number[];
  readonly cleaned: { readonly mount: boolean; readonly pidfile: boolean; readonly state: boolean; readonly aborted: boolean };
  /** Daemons that started while this stop ran: not signalled (they are not what we were asked to stop). */
  readonly appeared: readonly number[];
  readonly survivors: readonly number[];
  readonly mountLeft: string | undefined;
  readonly notes: readonly string[];
  readonly ok: boolean;
  /** Set when stopping this workspace failed outright (the others were still stopped). */
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string };
}

export interface StopOptions {
  readonly graceMs?: number;
  readonly killWaitMs?: number;
  readonly clock?: Clock;
  readonly kill?: KillFn;
  /** Told before each wait for signalled daemons to exit (the CLI shows it as a progress line). */
  readonly onWait?: (w: { readonly signal: 'SIGTERM' | 'SIGKILL'; readonly pids: readonly number[]; readonly ms: number }) => void;
}

async function freshDiscovery(layout: HomeLayout, ws: string, procs: readonly ProcStat[] = scanMarked(kindOf(layout))): Promise<Discovery> {
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  return discover(layout, ws, { procs, mounts }, facts);
}

/** How long a normal exit may take to end the threads of a process whose leader is a zombie. */
const EXIT_SETTLE_MS = 300;

/** SIGTERM → SIGKILL delay: above the daemon's own shutdown deadline (5 s), so a stop never kills a daemon mid-cleanup. */
export { DEFAULT_GRACE_MS };

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


/**
 * Stop every daemon of a workspace: TERM to each (its group), wait up to the grace period, KILL
 * what is left, abort a wedged FUSE connection if something still clings, sweep the sessions,
 * then confirm with a fresh scan. Afterwards, holding the lock itself, clean what the dead left.
 * A daemon that is PID 1 of our own pid namespace (a stop inside a container whose entrypoint it
 * is) is signalled by its pid, counts as stopped once it let go of the workspace, and waits for
 * this process to exit before it exits itself (src/protocol/init-wait.ts).
 */
export async function stopWorkspace(layout: HomeLayout, ws: string, opts: StopOptions = {}): Promise<StopReport> {
  const clock = opts.clock ?? systemClock;
  const kill: KillFn = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
  const notes: string[] = [];
  const kind = kindOf(layout);
  // One scan serves the discovery and the session members read before any signal: the marked
  // processes and the members of the sessions they lead (src/protocol/daemons.ts scanMarked).
  const scan = scanMarked(kind);
  const before = await freshDiscovery(layout, ws, scan);
  // Another kind's workspace (two kinds pointed at one home): nothing of it is ours to signal or clean.
  if (before.configErrorCode === 'ERR_KIND_MISMATCH' && before.configErrorCause) throw before.configErrorCause;
  const marked = (comm: string): boolean => isMarked(comm, kind);
  const ends = new Map<number, ProcessEnd>();
  const targets: ProcessIdentity[] = [];
  const sessions: ProcessIdentity[] = [];
  // A zombie leader whose thread is stuck in the kernel takes no signal; it goes straight to the abort below.
  const stuckLeaders: ProcessIdentity[] = [];
  // A daemon that is PID 1 of a pid namespace (a container's entrypoint) leads the session of
  // everything there: its session is never swept. PID 1 of OUR namespace ends us when it exits.
  const nsInit = new Set(before.daemons.filter((d) => !d.exiting && isNamespaceInit(d.pid) === true).map((d) => d.pid));
  const ourInit = new Set(before.daemons.filter((d) => nsInit.has(d.pid) && isOurNamespaceInit(d.pid)).map((d) => d.pid));
  // Before any signal: such a daemon waits, once shut down, until we have reported (src/protocol/init-wait.ts).
  if (ourInit.size > 0) await holdInitExit(before.paths.dir);
  // Read while the session leaders live: once they are gone, their ids alone prove nothing (kill.ts,
  // which also leaves out the session of a namespace's PID 1).
  const members = sessionMembers(before.daemons.filter((d) => !d.exiting && d.sid === d.pid).map((d) => ({ pid: d.pid, startTime: d.startTime, bootId: d.bootId })), scan);
  for (const d of before.daemons) {
    const id = { pid: d.pid, startTime: d.startTime, bootId: d.bootId };
    if (d.exiting) {
      stuckLeaders.push(id);
      ends.set(d.pid, 'already-gone');
      continue;
    }
    if ((await signalDaemon(id, 'SIGTERM', kill, marked)) === 'sent') {
      targets.push(id);
      ends.set(d.pid, 'TERM');
      if (d.sid === d.pid && !nsInit.has(d.pid)) sessions.push(id);
    } else ends.set(d.pid, 'already-gone');
  }
  // PID 1 of our namespace cannot be waited out (its exit is ours): it is done once it let go of the workspace.
  const serving = ourInit.size === 0 ? undefined : await servingCheck(layout, ws, ourInit);
  if (targets.length) opts.onWait?.({ signal: 'SIGTERM', pids: targets.map((t) => t.pid), ms: opts.graceMs ?? DEFAULT_GRACE_MS });
  trace('signalled; wait');
  let alive = await waitGone(targets, opts.graceMs ?? DEFAULT_GRACE_MS, clock, 25, serving);
  if (alive.length) {
    for (const id of alive) if ((await signalDaemon(id, 'SIGKILL', kill, marked)) === 'sent') ends.set(id.pid, 'KILL');
    opts.onWait?.({ signal: 'SIGKILL', pids: alive.map((t) => t.pid), ms: opts.killWaitMs ?? 2000 });
    alive = await waitGone(alive, opts.killWaitMs ?? 2000, clock, 25, serving);
    // The kernel drops SIGKILL sent to PID 1 from inside its own namespace (kill() still returns 0).
    const deaf = alive.filter((a) => ourInit.has(a.pid)).map((a) => a.pid);
    if (deaf.length) notes.push(`pid ${deaf.join(', ')} is PID 1 of this pid namespace: the kernel drops SIGKILL sent to it from inside; stop it from outside (docker stop/kill, or kill from the host)`);
  }
  // A zombie leader is not a dead process: a thread of it may still sleep in the kernel, holding
  // the lock file and /dev/fuse. A normal exit ends such threads within the settle time.
  const lingering = (ms: number): Promise<ProcessIdentity[]> => waitThreadsGone([...stuckLeaders, ...targets.filter((t) => !alive.includes(t))], ms, clock);
  trace('gone; threads');
  let exiting = await lingering(EXIT_SETTLE_MS);
  trace('threads gone');
  let aborted = false;
  if (alive.length || exiting.length) {
    // Immune to SIGKILL means stuck in the kernel (state D), most likely on our own FUSE mount:
    // aborting the connection fails those waits with ENOTCONN, then the kill lands. Nobody else
    // serves that connection once its daemon is dying, so the abort is safe wherever they wait.
    // Fresh: a connection number read before the grace period may since name someone else's mount.
    const entries = (await freshDiscovery(layout, ws)).mounts;
    for (const entry of entries) aborted = (await abortConnection(entry)) || aborted;
    if (alive.length) notes.push(`processes ${alive.map((a) => a.pid).join(', ')} survived SIGKILL; aborted FUSE connection: ${aborted}`);
    if (exiting.length) notes.push(`processes ${exiting.map((a) => a.pid).join(', ')} exited but kept a thread stuck in the kernel; aborted FUSE connection: ${aborted}`);
    alive = await waitGone(alive, opts.killWaitMs ?? 2000, clock);
    // Without an abort nothing will wake those threads soon (they wait on the source): no wait.
    exiting = await lingering(aborted ? (opts.killWaitMs ?? 2000) : 0);
  }
  for (const id of alive) ends.set(id.pid, 'survived');
  for (const id of exiting) {
    ends.set(id.pid, 'survived');
    notes.push(await describeStuck(id));
  }
  // One scan, after every daemon is gone, serves the sweep and the confirming discovery (the marked
  // processes and the members of the signalled sessions); a sweep that killed something changed
  // the table, and the confirmation then scans again. Never skipped: a member that joined a
  // signalled session after the first scan (a child the daemon forked meanwhile) is found only by
  // a scan, and left unswept it would be the orphan mountie exists to prevent.
  const sids = sessions.map((s) => s.pid);
  const confirm = scanMarked(kind, sids);
  const swept = await sweepSession(sessions, kill, members, confirm);
  const after = await freshDiscovery(layout, ws, swept.length ? scanMarked(kind, sids) : confirm);
  trace('confirmed by a scan');
  const cleaned = { mount: false, pidfile: false, state: false, aborted };
  // Looked again only when the cleanup touched something: otherwise `after` is still the state.
  const touched = after.daemons.length === 0 && (await cleanLeftovers(layout, after, cleaned, notes));
  const final = touched ? await freshDiscovery(layout, ws) : after;
  const appeared: number[] = [];
  for (const d of final.daemons) {
    if (!ends.has(d.pid)) {
      ends.set(d.pid, 'appeared');
      appeared.push(d.pid);
    }
  }
  const survivors = final.daemons.filter((d) => !appeared.includes(d.pid)).map((d) => d.pid);
  return {
    workspace: ws,
    processes: [...ends].map(([pid, ended]) => ({ pid, ended, inPidfile: before.daemons.some((d) => d.pid === pid && d.inPidfile) })),
    swept,
    cleaned,
    appeared,
    survivors,
    mountLeft: final.daemons.length === 0 ? final.mount?.mountPoint : undefined,
    notes,
    ok: final.daemons.length === 0 && final.mounts.length === 0,
  };
}

/**
 * Does a daemon that is PID 1 of our pid namespace still serve workspace `ws`? The same proof as
 * discovery's (marker + the lock file open), for that process alone: once its shutdown released
 * the lock file it has nothing of the workspace left, and waits for us to finish before it exits.
 */
async function servingCheck(layout: HomeLayout, ws: string, pids: ReadonlySet<number>): Promise<(id: ProcessIdentity) => Promise<boolean>> {
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const dirs = { workspacesDir: layout.workspacesDir, realWorkspacesDir: facts.realWorkspacesDir };
  return async (id) => {
    if (!pids.has(id.pid)) return true;
    const st = readProcStat(id.pid);
    return st !== undefined && st.startTime === id.startTime && (await findHomeDaemons([st], dirs, mounts, { ws, kind: kindOf(layout) })).length > 0;
  };
}

/** Take the workspace lock to clean up; undefined (with a note) when it is held or cannot be taken. */
async function lockForCleanup(d: Discovery, notes: string[]): Promise<HeldLock | undefined> {
  try {
    // A workspace directory deleted under a dead daemon's mount: the lock must live somewhere.
    if (d.mounts.length) await mkdir(d.paths.dir, { mode: DIR_MODE }).catch((err: unknown) => void (errnoCode(err) === 'EEXIST' || notes.push(`cannot create ${d.paths.dir}: ${String(err)}`)));
    return await acquireLock(d.paths.lock, d.workspace);
  } catch (err) {
    notes.push(
      isMountieError(err) && err.code === 'ERR_WORKSPACE_LOCKED'
        ? 'the workspace lock is held (a daemon started meanwhile, or another stop is cleaning); leaving its mount and pidfile alone'
        : `cannot take the workspace lock to clean up: ${err instanceof Error ? err.message : String(err)}`,
    );
    return undefined;
  }
}

/** Only with the lock held by us and no live daemon: then nobody owns the mounts or the pidfile. */
/** Resolves true when it looked at more than `d` (took or tried the lock), false when nothing was left to clean. */
async function cleanLeftovers(layout: HomeLayout, d: Discovery, cleaned: { mount: boolean; pidfile: boolean; state: boolean }, notes: string[]): Promise<boolean> {
  const status = (await readState(d.paths.state).catch(() => undefined))?.status;
  const stateLies = status !== undefined && status !== 'stopped' && status !== 'failed';
  // Take the lock only when there is something to clean: a concurrent start must rarely meet it.
  if (d.mounts.length === 0 && d.pidfileState !== 'stale' && d.pidfileState !== 'corrupt' && !stateLies) return false;
  const lock = await lockForCleanup(d, notes);
  if (!lock) return true;
  const note = (what: string) => (err: unknown) => {
    // Each cleanup is reported on its own; one that fails (read-only dir, EIO) does not stop the others.
    notes.push(`could not ${what}: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  };
  try {
    // Re-check under the lock: a daemon that appeared since the scan makes the mounts live again.
    const live = (await freshDiscovery(layout, d.workspace)).daemons;
    if (live.length) {
      notes.push(`a daemon of the workspace appeared meanwhile (pid ${live.map((x) => x.pid).join(', ')}); its mount and pidfile are left alone`);
      return true;
    }
    if (d.mounts.length) cleaned.mount = (await cleanStaleMounts({ workspace: d.workspace, homeId: d.homeId ?? '', liveDaemons: live, log: (l) => void notes.push(l), kind: kindOf(layout) }).catch(note('clean the stale mount'))) !== false;
    if (d.pidfileState === 'stale' || d.pidfileState === 'corrupt') cleaned.pidfile = await removeStalePidfile(d.paths.pidfile, d.pidfile).catch(note('remove the stale pidfile'));
    if (stateLies) cleaned.state = await finalizeDeadState(d.paths, 'the daemon ended without shutting down; cleaned up by mountie stop').catch(note('mark state.json stopped'));
  } finally {
    await lock.release();
  }
  return true;
}
