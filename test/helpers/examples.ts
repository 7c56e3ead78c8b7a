/**
 * The examples' own commands (dist-examples/<name>/cli.js, built by `npm run build`), run as a
 * user runs them: a real process, in a test home named by the kind's variable (MEMFS_HOME,
 * HTTPFS_HOME), bounded. The home is made by makeHome, so reapAll cleans it in teardown.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { REPO } from './sandbox.js';
import type { CliResult } from './cli.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';
import { readMountInfo, type MountEntry } from '../../src/sys/mountinfo.js';

export type Example = 'memfs' | 'httpfs' | 'ramfs';

export const exampleCli = (example: Example): string => join(REPO, 'dist-examples', example, 'cli.js');

/** Run `<example> <args…>` against `home` (never throws on a non-zero exit; a hang past `timeoutMs` fails the test). */
export async function runExample(example: Example, home: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const r = await execa(process.execPath, [exampleCli(example), ...args], {
    env: { ...process.env, ...opts.env, [`${example.toUpperCase()}_HOME`]: home },
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
  });
  if (r.timedOut) throw new Error(`${example} ${args.join(' ')} timed out\n${r.stderr}`);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** The pid and mountpoint a successful `mount` printed (`ws: mounted at <mp> (pid=N)`). */
export function mounted(r: CliResult): { pid: number; mountpoint: string } {
  const m = /mounted at (.+) \(pid=(\d+)\)/.exec(r.stdout);
  if (!m) throw new Error(`mount did not say where (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  return { mountpoint: m[1] as string, pid: Number(m[2]) };
}

/** A live (not zombie) process? */
export function alive(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z';
}

export async function mountAtPath(path: string): Promise<MountEntry | undefined> {
  return (await readMountInfo()).find((e) => e.mountPoint === path);
}
