// Helpers the bench scripts share (not a benchmark: scripts/bench/index.mjs leaves it out): a bounded
// spawnSync, a check of its exit, a process's CPU time and RSS from /proc, the load average.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICK = 100; // USER_HZ on Linux

/** spawnSync with UTF-8 output and a bound (default 120 s). */
export const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts });

/** `r` when it exited 0; else throws naming `what`. */
export const must = (r, what) => {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr || r.error}`);
  return r;
};

/** User + system CPU of `pid` so far, in ms (parsed after the last ')', whatever its comm holds). */
export const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICK;
};

export const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

export const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
