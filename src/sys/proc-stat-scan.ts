/**
 * A cheap, hang-free listing of every process: only /proc/<pid>/stat is read (never cmdline or
 * environ, which take the target's mmap lock and can hang on a process wedged on a FUSE mapping).
 * stat carries what discovery needs: comm (the daemon marker), state, parent, group, session and
 * start time. Synchronous, no threadpool hand-off, nothing that can block. Through the native
 * addon's `procScan` (native/src/procscan.c: three syscalls and a parse a process, and only the
 * processes asked for become objects) when it loads; else here, ~15–60 µs a process.
 */
import { readdirSync } from 'node:fs';
import type { NativeBinding } from '../daemon/native/binding.js';
import { addonCall } from '../daemon/native/addon-call.js';
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

/**
 * Which processes a scan keeps (a filter is what a command needs, not a proof: discovery still
 * proves each candidate, src/protocol/daemons.ts). Without one, or with both lists empty: every
 * process. Else a process whose comm starts with one of `prefixes` (a daemon marker), one whose
 * session id is in `sids`, and each member of the session of a process kept by its prefix (its
 * session id is that process's pid): what stop reads before it signals (kill.ts sessionMembers).
 */
export interface ScanFilter {
  readonly prefixes?: readonly string[];
  readonly sids?: readonly number[];
}

/** The rule of {@link ScanFilter} over a whole table (the native scan applies the same one in C). */
export function selectStats(all: readonly ProcStat[], filter: ScanFilter = {}): ProcStat[] {
  const prefixes = filter.prefixes ?? [];
  const sids = new Set(filter.sids ?? []);
  if (prefixes.length === 0 && sids.size === 0) return [...all];
  const marked = (p: ProcStat): boolean => prefixes.some((x) => p.comm.startsWith(x));
  const leaders = new Set(all.filter(marked).map((p) => p.pid));
  return all.filter((p) => marked(p) || sids.has(p.sid) || leaders.has(p.sid));
}

/** The scan in JavaScript: the fallback without the addon. */
export function scanProcStatsJs(procRoot = '/proc', filter?: ScanFilter): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const st = readProcStat(Number(name), procRoot);
    if (st) out.push(st);
  }
  return selectStats(out.sort((a, b) => a.pid - b.pid), filter);
}

/** The addon's procScan, or undefined: not built, not loadable, or a build older than it. */
export function addonProcScan(): NonNullable<NativeBinding['procScan']> | undefined {
  return addonCall('procScan');
}

/**
 * Every process's stat that `filter` keeps (all without one), by pid. Processes that exit while we
 * look are simply absent. The same table either way; where there is no /proc both throw ENOENT.
 */
export function scanProcStats(procRoot = '/proc', filter?: ScanFilter): ProcStat[] {
  const native = addonProcScan();
  if (!native) return scanProcStatsJs(procRoot, filter);
  return native(procRoot, filter?.prefixes ?? [], filter?.sids ?? []).sort((a, b) => a.pid - b.pid);
}
