/**
 * A cheap, hang-free listing of every process: only /proc/<pid>/stat is read (never cmdline or
 * environ, which take the target's mmap lock and can hang on a process wedged on a FUSE mapping).
 * stat carries what discovery needs: comm (the daemon marker), state, parent, group, session and
 * start time. Synchronous: ~15 µs a process, no threadpool hand-off, nothing that can block.
 */
import { readdirSync } from 'node:fs';
import { readSmallNow } from './proc-read.js';

export interface ProcStat {
  readonly pid: number;
  /** Field 2 without its parentheses: the kernel's 15-byte task name (prctl PR_SET_NAME). */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly sid: number;
  /** Field 22: clock ticks after boot. */
  readonly startTime: number;
}

/** Parse a whole stat line, comm included (it may hold spaces and parentheses: it ends at the LAST ')'). */
export function parseStatLine(pid: number, text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const [state, ppid, pgrp, sid, startTime] = [rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3]), Number(rest[19])];
  if (!state || ![ppid, pgrp, sid, startTime].every(Number.isInteger)) return undefined;
  return { pid, comm: text.slice(open + 1, close), state, ppid, pgrp, sid, startTime };
}

export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  const text = readSmallNow(`${procRoot}/${pid}/stat`);
  return text === undefined ? undefined : parseStatLine(pid, text);
}

/** Every process's stat, by pid. Processes that exit while we look are simply absent. */
export function scanProcStats(procRoot = '/proc'): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const st = readProcStat(Number(name), procRoot);
    if (st) out.push(st);
  }
  return out.sort((a, b) => a.pid - b.pid);
}
