/**
 * Running the CLI for the chaos driver: any copy of the build (`cli`), any spelling of the home,
 * every call bounded. A call that dies by a signal nobody sent, or exits 70, is reported as such.
 */
import { execa } from 'execa';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../helpers/sandbox.js';

export interface Call {
  readonly cli: string;
  readonly home: string;
  readonly args: readonly string[];
}

export interface CallResult {
  readonly call: Call;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export const CALL_TIMEOUT_MS = 25_000;

export async function runCall(call: Call, timeoutMs = CALL_TIMEOUT_MS): Promise<CallResult> {
  const t0 = Date.now();
  const r = await execa(process.execPath, [call.cli, ...call.args], {
    env: { ...process.env, MOUNTIE_HOME: call.home },
    reject: false,
    timeout: timeoutMs,
    forceKillAfterDelay: 1000,
    stdin: 'ignore',
  });
  return { call, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** A tracked CLI process (a launcher to kill mid-start, or a foreground daemon). */
export function spawnCall(call: Call): ChildProcess {
  return spawnTracked(process.execPath, [call.cli, ...call.args], { env: { ...process.env, MOUNTIE_HOME: call.home }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolve with the exit of a child, or undefined after `ms`. */
export function exitWithin(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(undefined);
    }, ms);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}

/** Collect a child's output as it comes. */
export function outputOf(child: ChildProcess): () => string {
  let all = '';
  child.stdout?.on('data', (d: Buffer) => (all += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (all += d.toString()));
  return () => all;
}

/** Resolve true once `pattern` shows in the child's output, false on exit or after `ms`. */
export function outputMatches(child: ChildProcess, text: () => string, pattern: RegExp, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      resolve(v);
    };
    const onExit = (): void => done(pattern.test(text()));
    const timer = setTimeout(() => done(false), ms);
    const poll = setInterval(() => pattern.test(text()) && done(true), 20);
    child.once('exit', onExit);
  });
}

/** One line per call; the output too when the exit code is not the plain 0 or 3. */
export function describeCall(r: CallResult): string {
  const head = `${r.call.args.join(' ')} [home=${r.call.home}${r.call.cli.includes('/copy/') ? ' copy' : ''}] -> ${r.timedOut ? 'TIMEOUT' : r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`} ${r.ms}ms`;
  if (r.exitCode === 0 || r.exitCode === 3) return head;
  const said = `${r.stdout} ${r.stderr}`.replace(/\s+/g, ' ').trim();
  return `${head}: ${said.length > 400 ? `${said.slice(0, 400)}…` : said}`;
}
