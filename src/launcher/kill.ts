import { readFile } from 'node:fs/promises';
import { probeLiveness, scanProcesses, verifyIdentity, type ProcessIdentity } from '../sys/proc.js';
import type { Clock } from '../sys/time.js';

export type KillFn = (pid: number, signal: NodeJS.Signals | 0) => void;

/** Process group and session of a live process (fields 5 and 6 of /proc/<pid>/stat). */
export async function groupOf(pid: number): Promise<{ pgrp: number; sid: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pgrp: Number(f[2]), sid: Number(f[3]) };
  } catch {
    // Gone.
    return undefined;
  }
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

/** Poll until every process is dead (or a zombie), or the time is up. Returns the survivors. */
export async function waitGone(ids: readonly ProcessIdentity[], ms: number, clock: Clock, everyMs = 25): Promise<ProcessIdentity[]> {
  const deadline = clock.now() + ms;
  let alive = [...ids];
  for (;;) {
    const next: ProcessIdentity[] = [];
    for (const id of alive) {
      const l = await probeLiveness(id.pid);
      if ((l === 'alive' || l === 'alive-not-ours') && (await verifyIdentity(id))) next.push(id);
    }
    alive = next;
    if (alive.length === 0 || clock.now() >= deadline) return alive;
    await clock.sleep(Math.min(everyMs, Math.max(1, deadline - clock.now())));
  }
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
