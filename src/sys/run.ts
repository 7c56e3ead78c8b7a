import { execFile } from 'node:child_process';

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT for a missing binary). */
  readonly spawnError?: string;
}

/**
 * Run a program with an argument array and a hard time limit. Never through a shell:
 * a path that holds `$(...)` must stay a path. Never throws; how it ended is data.
 */
export function runFile(file: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve({ exitCode: 0, signal: null, stdout, stderr, timedOut: false });
      const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: NodeJS.Signals | null };
      if (typeof e.code === 'string') {
        return resolve({ exitCode: null, signal: null, stdout, stderr, timedOut: false, spawnError: e.code });
      }
      resolve({
        exitCode: typeof e.code === 'number' ? e.code : null,
        signal: e.signal ?? null,
        stdout,
        stderr,
        timedOut: e.killed === true && e.signal === 'SIGKILL',
      });
    });
  });
}
