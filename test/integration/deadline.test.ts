/**
 * The per-op deadline against the real kernel: a read whose source never answers gets
 * ETIMEDOUT after the deadline while other ops keep working, the health shows it, and a stop
 * answers what is still hung at once and ends the daemon anyway. The source is
 * test/fixtures/slow-fs.mjs (reads of /slow/* are held until released).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, makeHome, REPO, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, logOf } from '../helpers/daemons.js';

const SLOW_FS = join(REPO, 'test/fixtures/slow-fs.mjs');

interface Ended {
  readonly code: number | null;
  readonly stderr: string;
  readonly ms: number;
}

/** A tracked child; `ended` resolves with its exit code, stderr and how long it ran. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; ended: Promise<Ended>; out: () => string } {
  const t0 = Date.now();
  const child = spawnTracked(cmd, args, { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<Ended>((resolve) => child.once('exit', (code) => resolve({ code, stderr, ms: Date.now() - t0 })));
  return { child, ended, out: () => stdout };
}

/** The data path (the native core, the only one), as state.json and the log name it. */
type DataPath = 'native';

async function setup(path: DataPath, env: Record<string, string>): Promise<{ home: string; mnt: string; slow: ReturnType<typeof run> }> {
  const home = await makeHome();
  const src = join(home, 'slow-src');
  const slow = run(process.execPath, [SLOW_FS, src], { MOUNTIE_HOME: home });
  await waitFor('slow-fs READY', () => (slow.out().includes('READY\n') ? true : undefined), 15_000);
  const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env: { ...env, MOUNTIE_HOME: home } });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(await logOf(home, 'ws')).toContain(`(data path: ${path})`);
  return { home, mnt: join(home, 'mnt', 'ws'), slow };
}

/** Reads slow-fs holds right now (its `count` command). */
async function heldReads(slow: ReturnType<typeof run>): Promise<number> {
  const from = slow.out().length;
  slow.child.stdin?.write('count\n');
  return Number(await waitFor('slow-fs count', () => /HUNG \d+ reads=(\d+)/.exec(slow.out().slice(from))?.[1], 5000, 20));
}

const reached = (slow: ReturnType<typeof run>) => async (): Promise<true | undefined> => ((await heldReads(slow)) > 0 ? true : undefined);

const statusLine = async (home: string): Promise<string> => (await runCli(home, ['status', 'ws'])).stdout;

describe('per-op deadline', () => {
  const path: DataPath = 'native';
  afterEach(reapAll);

  it('a read the source never answers fails with ETIMEDOUT after the deadline; other ops carry on', async () => {
    const { home, mnt, slow } = await setup(path, { MOUNTIE_OP_DEADLINE_MS: '1000', MOUNTIE_HEALTH_INTERVAL_MS: '200' });
    const cat = run('cat', [join(mnt, 'slow', 'file0')], { MOUNTIE_HOME: home });
    await waitFor('the read to reach the source', reached(slow), 10_000, 50);
    const t0 = Date.now();
    expect(await readFile(join(mnt, 'fast', 'a.txt'), 'utf8')).toBe('a is fast\n');
    expect((await stat(join(mnt, 'fast', 'b.txt'))).size).toBe(10);
    expect(Date.now() - t0).toBeLessThan(500);
    const ended = await cat.ended;
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toMatch(/Connection timed out/);
    // One deadline, not two: the kernel retries a failed readahead, and the retry on a path
    // whose call is stuck is answered at once.
    expect(ended.ms).toBeGreaterThanOrEqual(900);
    expect(ended.ms).toBeLessThan(1900);
    await waitFor('status degraded', async () => ((await statusLine(home)).includes('state=degraded') ? true : undefined), 5000, 100);
    expect(await statusLine(home)).toMatch(/reason=".*source calls stuck/);
    slow.child.stdin?.write('release\n');
    await waitFor('status active again', async () => ((await statusLine(home)).includes('state=active') ? true : undefined), 5000, 100);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });

  it('stop answers hung ops at once and the daemon exits although its source calls never return', async () => {
    const { home, mnt, slow } = await setup(path, { MOUNTIE_OP_DEADLINE_MS: '10000' });
    const cat = run('cat', [join(mnt, 'slow', 'file1')], { MOUNTIE_HOME: home });
    await waitFor('the read to reach the source', reached(slow), 10_000, 50);
    const [pid] = await daemonsOf(home, 'ws');
    expect(pid).toBeDefined();
    const t0 = Date.now();
    const stop = await runCli(home, ['stop', 'ws', '--grace', '8000']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(stop.stdout).toContain('stopped by SIGTERM'); // its own shutdown, no SIGKILL from stop
    expect(Date.now() - t0).toBeLessThan(4000);
    const ended = await cat.ended;
    expect(ended.code).not.toBe(0); // EIO at shutdown, long before the 10 s deadline
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await isMounted(mnt)).toBe(false);
    expect(await daemonsOf(home, 'ws')).toEqual([]);
    // Native workers stuck in the source are not joined at exit (libuv's pool threads would be).
    expect(await logOf(home, 'ws')).toMatch(/1 calls on the source never returned/);
    expect(await heldReads(slow)).toBeGreaterThan(0); // the source still holds the read: nothing waited for it
  });
});
