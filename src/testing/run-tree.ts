/**
 * The processes of a test run, for the session reaper (src/cli/test-reaper.ts): the runner's
 * descendants, each known by pid and start time from the moment the reaper first sees it, so that
 * a worker re-parented when its runner died (SIGKILL ends the runner, not its children) is still
 * known as the run's, and so are the processes it starts afterwards. Only /proc/<pid>/stat is read
 * (never environ or cmdline, which can hang on a wedged process).
 */
import { isMarkedAnyKind } from '../protocol/marker.js';
import { readProcStat, scanProcStats, type ProcStat } from '../sys/proc-stat-scan.js';

/** The runner's process tree as last seen; `update()` takes one look at /proc. */
export class RunTree {
  /** pid → start time of every live process known to be the run's (the runner excluded). */
  private readonly known = new Map<number, number>();

  constructor(
    private readonly runnerPid: number,
    private readonly runnerStart: number,
    /** Never counted (the reaper itself is the runner's child). */
    private readonly self: number = process.pid,
  ) {}

  /**
   * Look once: forget the members that ended (a pid now naming another process included), then
   * add every process whose parent is the runner (while it lives) or a member, children after
   * their parents (by start time). Returns the live members.
   */
  update(stats: readonly ProcStat[] = scanProcStats()): ProcStat[] {
    const byPid = new Map(stats.map((p) => [p.pid, p]));
    for (const [pid, start] of this.known) {
      const p = byPid.get(pid);
      if (p === undefined || p.startTime !== start || p.state === 'Z') this.known.delete(pid);
    }
    const runner = byPid.get(this.runnerPid);
    const runnerLives = runner !== undefined && runner.startTime === this.runnerStart && runner.state !== 'Z';
    for (const p of [...stats].sort((a, b) => a.startTime - b.startTime)) {
      if (p.pid === this.self || p.pid === this.runnerPid || p.state === 'Z' || this.known.has(p.pid)) continue;
      const parentIsRun = (runnerLives && p.ppid === this.runnerPid) || this.known.has(p.ppid);
      if (parentIsRun) this.known.set(p.pid, p.startTime);
    }
    return stats.filter((p) => this.known.get(p.pid) === p.startTime);
  }
}

/** A member that a reap of the session handles itself: a daemon (any kind's marker). */
export function isDaemon(p: ProcStat): boolean {
  return isMarkedAnyKind(p.comm);
}

/** How {@link endRun} waits. */
export interface EndRunOptions {
  /** Between SIGTERM and SIGKILL. Default 2000 ms. */
  readonly graceMs?: number;
  /** After the first SIGKILL, until the verdict. Default 5000 ms. */
  readonly killMs?: number;
  readonly pollMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Signal `p` only while its pid still names it (start time read right before). */
function signalIfSame(p: ProcStat, signal: NodeJS.Signals): void {
  const now = readProcStat(p.pid);
  if (now === undefined || now.startTime !== p.startTime || now.state === 'Z') return;
  try {
    process.kill(p.pid, signal);
  } catch {
    // Gone in between: nothing to end.
  }
}

/**
 * End every member of the run but its daemons (the reap stops those, and detaches their mounts):
 * SIGTERM, then SIGKILL after `graceMs` to whatever is left, and to what they started meanwhile,
 * until none is left or `killMs` passed. Returns the members it signalled and those that survived.
 */
export async function endRun(tree: RunTree, opts: EndRunOptions = {}): Promise<{ ended: number[]; survivors: number[] }> {
  const poll = opts.pollMs ?? 100;
  const ended = new Set<number>();
  const others = (): ProcStat[] => tree.update().filter((p) => !isDaemon(p));
  const end = (p: ProcStat, signal: NodeJS.Signals): void => {
    ended.add(p.pid);
    signalIfSame(p, signal);
  };
  let left = others();
  for (const p of left) end(p, 'SIGTERM');
  for (const deadline = Date.now() + (opts.graceMs ?? 2000); left.length > 0 && Date.now() < deadline; ) {
    await sleep(poll);
    left = others();
    // Started since the SIGTERM (a launch in progress): told the same.
    for (const p of left) if (!ended.has(p.pid)) end(p, 'SIGTERM');
  }
  for (const deadline = Date.now() + (opts.killMs ?? 5000); left.length > 0 && Date.now() < deadline; ) {
    for (const p of left) end(p, 'SIGKILL');
    await sleep(poll);
    left = others();
  }
  return { ended: [...ended], survivors: left.map((p) => p.pid) };
}
