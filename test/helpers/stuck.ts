/**
 * Looking at processes that may be stuck in the kernel on a FUSE mount, without ever touching
 * the mount: everything here reads /proc (readlink of cwd and fds is d_path, no FUSE request),
 * and every command run on a mount is a separate, tracked, bounded child.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from './sandbox.js';
import { waitExit } from './cli.js';

/** The state letter of a task's stat file (R, S, D, Z, ...), undefined once it is gone. */
async function stateAt(statPath: string): Promise<string | undefined> {
  try {
    const text = await readFile(statPath, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    // ENOENT/ESRCH: the task is gone.
    return undefined;
  }
}

/** State letter of a process (its main thread). */
export function procState(pid: number): Promise<string | undefined> {
  return stateAt(`/proc/${pid}/stat`);
}

/** State letter of every thread of a process: a zombie leader can hide a live thread stuck in D. */
export async function threadStates(pid: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    // Gone (or fully reaped): no threads.
    return out;
  }
  for (const tid of tids) {
    const s = await stateAt(`/proc/${pid}/task/${tid}/stat`);
    if (s !== undefined) out.set(Number(tid), s);
  }
  return out;
}

/** The kernel function a task sleeps in (e.g. request_wait_answer), for failure messages. */
export async function wchanOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/wchan`, 'utf8').catch(() => '?');
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(dir + '/');

/** Processes whose cwd or any open fd is at or below `dir`, with their state letter. */
export async function processesUsing(dir: string): Promise<{ pid: number; state: string; why: string }[]> {
  const found: { pid: number; state: string; why: string }[] = [];
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let why: string | undefined;
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => ''); // gone or not readable: skip
    if (within(cwd, dir)) why = `cwd ${cwd}`;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]); // gone: no fds
    for (const fd of fds) {
      if (why) break;
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''); // closed meanwhile
      if (within(target, dir)) why = `fd ${fd} ${target}`;
    }
    const state = why ? await procState(pid) : undefined;
    if (why && state !== undefined && state !== 'Z') found.push({ pid, state, why });
  }
  return found;
}

export interface BoundedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collect a tracked child's output. */
export function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout: () => out, stderr: () => err };
}

/**
 * Run a command that touches a mount as a tracked child. Rejects if it has not exited within
 * `timeoutMs` (it may be stuck in the kernel: the test's reaper aborts the connection and kills it).
 */
export async function runBounded(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<BoundedRun> {
  const child = spawnTracked(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const io = collect(child);
  try {
    const { code, signal } = await waitExit(child, opts.timeoutMs ?? 5000);
    return { code, signal, stdout: io.stdout(), stderr: io.stderr() };
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 5000} ms (state ${await procState(child.pid ?? 0)}, in ${await wchanOf(child.pid ?? 0)})`, { cause: err });
  }
}
