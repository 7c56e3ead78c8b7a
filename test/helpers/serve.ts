/**
 * The passthrough stand-in daemon (test/fixtures/serve-passthrough.mjs) as a tracked child:
 * started until READY, stopped with SIGTERM and a bounded wait for its exit code.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMounted, makeHome, REPO, spawnTracked, waitFor } from './sandbox.js';
import { startSlowFs, type SlowFs } from './slow-fs.js';

export const SERVE = join(REPO, 'test/fixtures/serve-passthrough.mjs');

/**
 * Whether a root daemon started with `env` has kernel passthrough of file I/O (on by default on
 * our own session; off on libfuse's, with MOUNTIE_PASSTHROUGH=0, or for a daemon not root).
 */
export function passthroughIn(env: NodeJS.ProcessEnv = process.env, root = process.getuid?.() === 0): boolean {
  return root && env.MOUNTIE_SESSION !== 'libfuse' && env.MOUNTIE_PASSTHROUGH !== '0';
}

export interface ServeDaemon {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then wait (bounded) for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * `wrap`: a command the daemon runs under, which execs it (`setpriv ... --`: another user, fewer
 * capabilities); the tracked pid is then still the daemon's own.
 */
export async function startServe(home: string, source: string, mountpoint: string, flags: string[] = [], wrap: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ServeDaemon> {
  const argv = [...wrap, process.execPath, SERVE, ...flags, source, mountpoint];
  const child = spawnTracked(argv[0] ?? process.execPath, argv.slice(1), {
    env: { ...env, MOUNTIE_HOME: home },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // A death by signal is recorded in the output, so a failed `stop() === 0` says which.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => (signal && (out += `\nKILLED BY ${signal}\n`), resolve(code))));
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  const daemon: ServeDaemon = {
    child,
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      return waitFor('daemon exit', () => (exitCode === undefined ? undefined : exitCode), 10_000);
    },
  };
  await waitFor('daemon READY', () => {
    if (out.includes('READY\n')) return true;
    if (exitCode !== undefined) throw new Error(`daemon exited (${exitCode}) before READY: ${out}`);
    return undefined;
  });
  return daemon;
}

/** A fresh home with `source/` and `mnt/`, the stand-in serving one at the other (mounted when it returns); `env`: the daemon's whole environment. */
export async function serveInNewHome(flags: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ home: string; source: string; mnt: string; daemon: ServeDaemon }> {
  const home = await makeHome();
  const source = join(home, 'source');
  const mnt = join(home, 'mnt');
  await mkdir(source);
  await mkdir(mnt);
  const daemon = await startServe(home, source, mnt, flags, [], env);
  expect(await isMounted(mnt)).toBe(true);
  return { home, source, mnt, daemon };
}

/**
 * The core's counters once `settled` holds of them, or the last ones read after `ms` (the caller's
 * assertions then say what is missing). A request's op count is added after its answer is sent
 * (stats.c op_end): a client that saw its write done may read the counters before its WRITE is counted.
 */
export async function serveCountersWhen<T>(daemon: ServeDaemon, settled: (c: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const c = await serveCounters<T>(daemon);
    if (settled(c) || Date.now() > until) return c;
    await sleep(20);
  }
}

/** The stand-in over a slow source (slow-fs.ts: a FUSE file system whose reads under slow/ it holds until released), in a new home. */
export async function serveOverSlowFs(flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ home: string; mnt: string; slow: SlowFs; daemon: ServeDaemon }> {
  const home = await makeHome();
  const slowSrc = join(home, 'slow-src');
  const slow = await startSlowFs(home, slowSrc);
  const mnt = join(home, 'mnt');
  await mkdir(mnt);
  const daemon = await startServe(home, slowSrc, mnt, flags, [], env);
  return { home, mnt, slow, daemon };
}

/** The core's node and file handle tables now (ids as decimal strings): the stand-in prints them on SIGWINCH (bounded: 5 s). */
export async function serveTables<T>(daemon: ServeDaemon): Promise<T> {
  const before = daemon.output().split('TABLES ').length;
  daemon.child.kill('SIGWINCH');
  for (let i = 0; i < 500; i++) {
    const parts = daemon.output().split('TABLES ');
    const last = parts[parts.length - 1] ?? '';
    // The whole line: a large table may arrive in several chunks.
    if (parts.length > before && last.includes('\n')) return JSON.parse(last.split('\n')[0] ?? 'null') as T;
    await sleep(10);
  }
  throw new Error(`no tables: ${daemon.output().slice(-500)}`);
}

/** The core's counters now: the stand-in prints them on SIGUSR2 (bounded: 5 s). */
export async function serveCounters<T>(daemon: ServeDaemon): Promise<T> {
  const before = daemon.output().split('COUNTERS ').length;
  daemon.child.kill('SIGUSR2');
  for (let i = 0; i < 500; i++) {
    const parts = daemon.output().split('COUNTERS ');
    if (parts.length > before) return JSON.parse(parts[parts.length - 1]?.split('\n')[0] ?? '{}') as T;
    await sleep(10);
  }
  throw new Error(`no counters: ${daemon.output().slice(-500)}`);
}
