/** Is a process alive, and is it still the one we mean? For signalling without hitting a reused pid. */
import { existsSync, readlinkSync } from 'node:fs';
import { MountieError, errnoCode } from '../errors.js';
import { readSmallNow, readStatNow } from './proc-read.js';

export type Liveness = 'alive' | 'zombie' | 'dead' | 'alive-not-ours';

/** What names one process across time: a pid alone is reused, pid+starttime+boot is not. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: number;
  readonly bootId: string;
}

function checkPid(pid: number): void {
  // kill(0) and kill(-1) address groups and everyone: never let a bad pidfile get there.
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new MountieError('ERR_INTERNAL', `not a process id: ${String(pid)}`, { data: { pid } });
  }
}

let cachedBootId: string | undefined;

/** This boot's id, cached; '' where the kernel has none (no /proc): equal only to itself. */
export async function bootId(): Promise<string> {
  cachedBootId ??= (readSmallNow('/proc/sys/kernel/random/boot_id') ?? '').trim();
  return cachedBootId;
}

let cachedHaveProc: boolean | undefined;
const haveProc = (): boolean => (cachedHaveProc ??= existsSync('/proc/self/stat'));

export type KillFn = (pid: number, signal: NodeJS.Signals | 0) => void;

/** Is the process there? A zombie has exited and only waits to be reaped: dead for us. */
export async function probeLiveness(pid: number, kill: KillFn = process.kill.bind(process)): Promise<Liveness> {
  checkPid(pid);
  let ours = true;
  try {
    kill(pid, 0);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ESRCH') return 'dead';
    if (code !== 'EPERM') throw err;
    ours = false; // it exists, but belongs to someone we may not signal: NOT dead
  }
  const st = readStatNow(pid);
  if (st && (st.state === 'Z' || st.state === 'X')) return 'zombie';
  // No stat although kill() found it: it exited in between, unless there is no /proc to ask.
  if (!st && haveProc()) return 'dead';
  return ours ? 'alive' : 'alive-not-ours';
}

export async function identityOf(pid: number): Promise<ProcessIdentity | undefined> {
  checkPid(pid);
  const st = readStatNow(pid);
  return st ? { pid, startTime: st.startTime, bootId: await bootId() } : undefined;
}

export function sameIdentity(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.bootId === b.bootId;
}

/** Call right before signalling: true only if `id` still names a live (non-zombie) process. */
export async function verifyIdentity(id: ProcessIdentity): Promise<boolean> {
  checkPid(id.pid);
  if (id.bootId !== (await bootId())) return false;
  const st = readStatNow(id.pid);
  return st !== undefined && st.startTime === id.startTime && st.state !== 'Z' && st.state !== 'X';
}

/** Parent, grandparent, ... up to init (1), at most 64 steps (a ppid loop cannot hang us). */
export async function ancestorsOf(pid: number): Promise<number[]> {
  checkPid(pid);
  const out: number[] = [];
  let cur = pid;
  for (let i = 0; i < 64 && cur > 1; i++) {
    const st = readStatNow(cur);
    if (!st || st.ppid <= 0) break;
    out.push(st.ppid);
    cur = st.ppid;
  }
  return out;
}

/**
 * This process's pid as /proc names it. Inside a pid namespace that still sees the host's /proc
 * (a container without its own /proc mount) process.pid is 1 while /proc/1 is the host's init:
 * everything we record about ourselves for others to verify must use /proc's numbering.
 */
export function procSelfPid(): number {
  try {
    const n = Number(readlinkSync('/proc/self'));
    return Number.isSafeInteger(n) && n > 0 ? n : process.pid;
  } catch {
    // No /proc: nobody can verify us through it anyway.
    return process.pid;
  }
}
