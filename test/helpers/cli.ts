import { execa } from 'execa';
import type { ChildProcess } from 'node:child_process';
import { CLI, spawnTracked } from './sandbox.js';

export interface CliResult {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the built CLI against a home, bounded; never throws on a non-zero exit. */
/** `wrap`: a command the CLI runs under, e.g. `nsenter --mount=… --` (test/helpers/mount-ns.ts). */
export async function runCli(home: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; wrap?: readonly string[] } = {}): Promise<CliResult> {
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const r = await execa(cmd as string, [...pre, CLI, ...args], {
    env: { ...process.env, MOUNTIE_HOME: home, ...opts.env },
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    stdin: 'ignore',
  });
  if (r.timedOut) throw new Error(`mountie ${args.join(' ')} timed out\n${r.stderr}`);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Start `mountie mount ... ` in the foreground as a tracked child (reaped in teardown). */
export function startForeground(home: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawnTracked(process.execPath, [CLI, 'mount', ...args], { env: { ...process.env, MOUNTIE_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolve with stdout once `pattern` appears on it, or reject after `timeoutMs` or on exit. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; stdout: ${out} stderr: ${err}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ${pattern}; stdout: ${out} stderr: ${err}`));
    });
  });
}

export function waitExit(child: ChildProcess, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}
