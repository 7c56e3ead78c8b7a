/** Listing every process: /proc in parallel, or `ps` where there is no /proc. */
import { readdir } from 'node:fs/promises';
import type psListFn from 'ps-list';
import { errnoCode } from '../errors.js';
import { readProcWith, type ProcInfo } from './proc-read.js';

export interface ScanOptions {
  readonly procRoot?: string;
  /** cmdline reads in flight: measured flat from 8 to 32 on 2 CPUs; 16 leaves headroom. */
  readonly concurrency?: number;
  readonly psList?: typeof psListFn;
}

/** Every process on the machine, read from /proc; via `ps` where there is no /proc. */
export async function scanProcesses(opts: ScanOptions = {}): Promise<ProcInfo[]> {
  const procRoot = opts.procRoot ?? '/proc';
  let names: string[];
  try {
    names = await readdir(procRoot);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    // Loaded only here: ps-list imports node:process, whose module facade creates the stdio
    // streams; importing mountie must not.
    return scanWithPs(opts.psList ?? (await import('ps-list')).default);
  }
  const pids = names.filter((n) => /^[1-9][0-9]*$/.test(n)).map(Number);
  const out: ProcInfo[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    const scratch = { buf: Buffer.allocUnsafe(64 * 1024) };
    while (next < pids.length) {
      const pid = pids[next++] as number;
      const info = await readProcWith(pid, procRoot, scratch);
      if (info) out.push(info);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 16) }, worker));
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * Fallback without /proc (macOS). ps gives the command line as ONE space-joined string, so an
 * argument holding a space cannot be told from two arguments: we split on whitespace as a best
 * effort and mark the entry argvExact: false. There is no state letter ('?'), and startTime is
 * ps's start date in whole seconds since the epoch, not clock ticks since boot.
 */
async function scanWithPs(list: typeof psListFn): Promise<ProcInfo[]> {
  return (await list({ all: true })).map((p) => ({
    pid: p.pid,
    ppid: p.ppid,
    uid: p.uid ?? -1, // -1: unknown owner, which matches no real uid
    state: '?',
    startTime: p.startTime ? Math.floor(p.startTime.getTime() / 1000) : 0,
    argv: (p.cmd ?? p.name).split(/\s+/).filter((s) => s !== ''),
    argvExact: false,
  }));
}
