import { readdir } from 'node:fs/promises';
import { isMarked } from '../protocol/marker.js';
import { ancestorsOf, parseStat, probeLiveness, readGroupNow, readSmallNow, verifyIdentity, type KillFn, type ProcessIdentity } from '../sys/proc.js';
import { readProcStat, scanProcStats, type ProcStat } from '../sys/proc-stat-scan.js';
import type { Clock } from '../sys/time.js';
import { isNamespaceInit } from '../sys/pid-ns.js';

export type { KillFn };

/** Process group and session of a live process (fields 5 and 6 of /proc/<pid>/stat). */
export async function groupOf(pid: number): Promise<{ pgrp: number; sid: number } | undefined> {
  return readGroupNow(pid);
}

function trySignal(kill: KillFn, pid: number, signal: NodeJS.Signals): boolean {
  try {
    kill(pid, signal);
    return true;
  } catch {
    // ESRCH: already gone. EPERM: not ours; the caller's identity check decided it was.
    return false;
  }
}

/**
 * Groups and sessions we must never signal as a whole: our own (we would kill ourselves and our
 * shell) and init's (in a container, a daemon that is PID 1 of its namespace leads the group of
 * everything there). Group 0 and 1 are never valid targets.
 */
function protectedGroups(): { pgrps: Set<number>; sids: Set<number> } {
  const pgrps = new Set<number>([0, 1]);
  const sids = new Set<number>([0, 1]);
  for (const pid of [process.pid, 1]) {
    const g = readGroupNow(pid);
    if (g) {
      pgrps.add(g.pgrp);
      sids.add(g.sid);
    }
  }
  return { pgrps, sids };
}

/**
 * May this pid's process group be signalled as a whole? Only a group it leads that holds neither
 * us nor init, and only when it is no PID 1 of a pid namespace of its own: a container's
 * entrypoint, seen from outside under another pid, still leads the group of everything in the
 * container. (A leader gone meanwhile cannot be told; had it been such a PID 1, the kernel killed
 * its whole namespace with it, so its group holds nobody else any more.)
 */
export function groupSignalAllowed(pid: number, pgrp: number | undefined): boolean {
  return pid > 1 && pgrp === pid && !protectedGroups().pgrps.has(pgrp) && isNamespaceInit(pid) !== true;
}

/**
 * Signal a daemon and everything it started: its process group when it leads one (a --background
 * daemon always does), else the process alone (a foreground daemon inside someone's shell job
 * must not take the shell down). Right before the signal, identity (pid + start time + boot) and
 * the daemon marker are checked again: a reused pid or a process that is not a daemon is left
 * alone. pid <= 0 is never signalled (a group, everyone), nor a group containing us or init, nor
 * the group of a PID 1 of any pid namespace. pid 1 itself may be: a daemon that is PID 1 of our
 * pid namespace (a container's entrypoint, stopped from inside it), proven like any other daemon,
 * is signalled by its pid alone.
 */
/**
 * `marked`: whose marker the process must carry (default mountie's; a reap takes any kind's).
 * `pidOnly`: the daemon alone, never its group (a request such as a live restart's SIGUSR2, which
 * would kill a fusermount3 child).
 */
export async function signalDaemon(id: ProcessIdentity, signal: NodeJS.Signals, kill: KillFn, marked: (comm: string) => boolean = isMarked, pidOnly = false): Promise<'sent' | 'identity-mismatch'> {
  if (!Number.isSafeInteger(id.pid) || id.pid < 1) return 'identity-mismatch';
  if (!(await verifyIdentity(id))) return 'identity-mismatch';
  const st = readProcStat(id.pid);
  if (!st || !marked(st.comm)) return 'identity-mismatch';
  if (!(!pidOnly && groupSignalAllowed(id.pid, st.pgrp) && trySignal(kill, -id.pid, signal))) trySignal(kill, id.pid, signal);
  return 'sent';
}

/**
 * Poll `ids` until `remains(id)` is false for all of them, or the time is up. Returns those that
 * remain. One bounded loop for every "wait until they are gone" in stop.
 */
async function pollWhile(ids: readonly ProcessIdentity[], remains: (id: ProcessIdentity) => Promise<boolean>, ms: number, clock: Clock, everyMs: number): Promise<ProcessIdentity[]> {
  const start = clock.now();
  const deadline = start + ms;
  let left = [...ids];
  for (;;) {
    const next: ProcessIdentity[] = [];
    for (const id of left) if (await remains(id)) next.push(id);
    left = next;
    if (left.length === 0 || clock.now() >= deadline) return left;
    // A healthy daemon exits some 20-150 ms after SIGTERM: polled finely then, a stop returns
    // within ~5 ms of the exit instead of up to `everyMs` later (a poll is one kill(0) and a stat read).
    const every = clock.now() - start < FINE_POLL_MS ? Math.min(everyMs, 5) : everyMs;
    await clock.sleep(Math.min(every, Math.max(1, deadline - clock.now())));
  }
}

/** How long pollWhile polls every 5 ms before it falls back to its own interval. */
const FINE_POLL_MS = 300;

async function stillAlive(id: ProcessIdentity): Promise<boolean> {
  const l = await probeLiveness(id.pid);
  return (l === 'alive' || l === 'alive-not-ours') && (await verifyIdentity(id));
}

/**
 * Poll until every process is dead (or a zombie), or the time is up. Returns the survivors.
 * `serving`, when given, narrows "still there" for a process that cannot be waited out (PID 1 of
 * our own pid namespace: its exit kills us): it counts as gone once `serving` says it let go.
 */
export function waitGone(ids: readonly ProcessIdentity[], ms: number, clock: Clock, everyMs = 25, serving?: (id: ProcessIdentity) => Promise<boolean>): Promise<ProcessIdentity[]> {
  return pollWhile(ids, async (id) => (await stillAlive(id)) && (serving === undefined || (await serving(id))), ms, clock, everyMs);
}

/** State letter and start time of a task from its stat file; undefined once it is gone. */
async function taskStat(path: string): Promise<{ state: string; startTime: number } | undefined> {
  const text = readSmallNow(path);
  return text === undefined ? undefined : parseStat(text);
}

/**
 * Threads of a process whose leader has already exited (a zombie) but which has not: one of its
 * threads still sleeps in the kernel (a FUSE request nobody answers), and until it returns the
 * process keeps every open file, the workspace lock socket and /dev/fuse included. kill(0) and
 * the leader's state call such a process dead; it is not. Empty when the leader is not a zombie.
 */
export async function exitingThreads(id: ProcessIdentity): Promise<number[]> {
  const leader = await taskStat(`/proc/${id.pid}/stat`);
  if (!leader || leader.state !== 'Z' || leader.startTime !== id.startTime) return [];
  let tids: string[];
  try {
    tids = await readdir(`/proc/${id.pid}/task`);
  } catch {
    // Reaped meanwhile.
    return [];
  }
  const live: number[] = [];
  for (const tid of tids) {
    const t = await taskStat(`/proc/${id.pid}/task/${tid}/stat`);
    if (t && t.state !== 'Z' && t.state !== 'X') live.push(Number(tid));
  }
  return live;
}

/** Poll until no process has an exiting thread left (see exitingThreads), or the time is up. Returns those that still have. */
export function waitThreadsGone(ids: readonly ProcessIdentity[], ms: number, clock: Clock, everyMs = 25): Promise<ProcessIdentity[]> {
  return pollWhile(ids, async (id) => (await exitingThreads(id)).length > 0, ms, clock, everyMs);
}

/**
 * The members of each leader's session, read while the leader is proven alive (same start time,
 * checked after the scan): a session id is not reused while its leader lives, so every process the
 * scan shows with that id is the leader's (the scan may be one taken just before, e.g. the stop's
 * discovery's). Read before the leader is signalled, this is what a later sweep may still trust
 * once the leader is gone.
 */
export function sessionMembers(leaders: readonly ProcessIdentity[], scan: readonly ProcStat[] = scanProcStats()): ProcessIdentity[] {
  if (leaders.length === 0) return [];
  // A PID 1 of a pid namespace leads the session of everything in it: never its members.
  const proven = new Map(leaders.filter((l) => l.pid > 1 && readProcStat(l.pid)?.startTime === l.startTime && isNamespaceInit(l.pid) !== true).map((l) => [l.pid, l.bootId]));
  return scan.filter((p) => p.state !== 'Z' && proven.has(p.sid)).map((p) => ({ pid: p.pid, startTime: p.startTime, bootId: proven.get(p.sid) ?? '' }));
}

/**
 * Descendants that left the daemon's process group (setpgid) but not its session: a process-group
 * kill misses them, a session sweep does not. Only for daemons that led their own session.
 * A session id is the leader's pid; once the leader is gone the number may name someone else's
 * session (pid_max can be 32768), so the id alone proves nothing then. A member is signalled only
 * when its session id still names the daemon (the leader alive or a zombie, same start time,
 * checked after the scan), or when it is one of `proven` (sessionMembers, read while the leader
 * lived) with the same start time. Right before each signal the member's start time and session
 * are read again. `scan`: one taken after the leaders were signalled and waited for (stop passes
 * the one its confirming discovery then reads, so that a stop scans /proc twice, not four times).
 */
export async function sweepSession(leaders: readonly ProcessIdentity[], kill: KillFn, proven: readonly ProcessIdentity[] = [], scan: readonly ProcStat[] = scanProcStats()): Promise<number[]> {
  const never = protectedGroups().sids;
  // A leader that is PID 1 of a pid namespace (still there to say so) leads the whole namespace's session. Once it is gone
  // its namespace is too (the kernel killed every member), so nothing of it is left to sweep.
  const sids = new Set(leaders.filter((l) => l.pid > 1 && !never.has(l.pid) && isNamespaceInit(l.pid) !== true).map((l) => l.pid));
  if (sids.size === 0) return [];
  const spare = new Set([process.pid, 1, ...(await ancestorsOf(process.pid))]);
  // After the scan: a leader still there (same start time) held its id through the whole scan.
  const named = new Set(leaders.filter((l) => sids.has(l.pid) && readProcStat(l.pid)?.startTime === l.startTime).map((l) => l.pid));
  const known = new Map(proven.map((p) => [p.pid, p.startTime]));
  const hit: number[] = [];
  for (const p of scan) {
    if (p.state === 'Z' || p.pid <= 1 || spare.has(p.pid) || !sids.has(p.sid)) continue;
    if (!named.has(p.sid) && known.get(p.pid) !== p.startTime) continue;
    const now = readProcStat(p.pid);
    if (now?.startTime !== p.startTime || now.sid !== p.sid) continue;
    if (trySignal(kill, p.pid, 'SIGKILL')) hit.push(p.pid);
  }
  return hit;
}
