import { readdir } from 'node:fs/promises';
import { parseStat, probeLiveness, readGroupNow, readSmallNow, scanProcesses, verifyIdentity, type KillFn, type ProcessIdentity } from '../sys/proc.js';
import type { Clock } from '../sys/time.js';

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
 * Signal a daemon and everything it started: its process group when it leads one (a --background
 * daemon always does), else the process alone (a foreground daemon inside someone's shell job
 * must not take the shell down). Re-verifies identity first: a reused pid is left alone.
 */
export async function signalDaemon(id: ProcessIdentity, signal: NodeJS.Signals, kill: KillFn): Promise<'sent' | 'identity-mismatch'> {
  if (!(await verifyIdentity(id))) return 'identity-mismatch';
  const g = await groupOf(id.pid);
  if (!(g && g.pgrp === id.pid && trySignal(kill, -id.pid, signal))) trySignal(kill, id.pid, signal);
  return 'sent';
}

/**
 * Poll `ids` until `remains(id)` is false for all of them, or the time is up. Returns those that
 * remain. One bounded loop for every "wait until they are gone" in stop.
 */
async function pollWhile(ids: readonly ProcessIdentity[], remains: (id: ProcessIdentity) => Promise<boolean>, ms: number, clock: Clock, everyMs: number): Promise<ProcessIdentity[]> {
  const deadline = clock.now() + ms;
  let left = [...ids];
  for (;;) {
    const next: ProcessIdentity[] = [];
    for (const id of left) if (await remains(id)) next.push(id);
    left = next;
    if (left.length === 0 || clock.now() >= deadline) return left;
    await clock.sleep(Math.min(everyMs, Math.max(1, deadline - clock.now())));
  }
}

async function stillAlive(id: ProcessIdentity): Promise<boolean> {
  const l = await probeLiveness(id.pid);
  return (l === 'alive' || l === 'alive-not-ours') && (await verifyIdentity(id));
}

/** Poll until every process is dead (or a zombie), or the time is up. Returns the survivors. */
export function waitGone(ids: readonly ProcessIdentity[], ms: number, clock: Clock, everyMs = 25): Promise<ProcessIdentity[]> {
  return pollWhile(ids, stillAlive, ms, clock, everyMs);
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
 * Descendants that left the daemon's process group (setpgid) but not its session: a process-group
 * kill misses them, a session sweep does not. Only for daemons that led their own session.
 */
export async function sweepSession(sids: readonly number[], kill: KillFn): Promise<number[]> {
  if (sids.length === 0) return [];
  const wanted = new Set(sids);
  const hit: number[] = [];
  for (const p of await scanProcesses()) {
    if (p.state === 'Z' || p.pid === process.pid) continue;
    const g = await groupOf(p.pid);
    if (g && wanted.has(g.sid) && trySignal(kill, p.pid, 'SIGKILL')) hit.push(p.pid);
  }
  return hit;
}
