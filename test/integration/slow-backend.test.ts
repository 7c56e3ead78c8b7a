/**
 * A slow or wedged backend never wedges the daemon, end to end on two real FUSE layers: slow-fs
 * (test/fixtures/slow-fs.mjs) mounted at A is the source of a mountie workspace mounted at B.
 * Everything that touches B or A runs in a separate, bounded child: a hang there must fail the
 * test, never wedge the test runner's own threadpool.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { isMounted, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit } from '../helpers/cli.js';
import { daemonsOf, logOf, pidfileOf } from '../helpers/daemons.js';
import { startSlowFs, type SlowFs } from '../helpers/slow-fs.js';
import { collect, procState, runBounded } from '../helpers/stuck.js';

interface Layers {
  readonly home: string;
  readonly slow: SlowFs;
  /** The workspace's mountpoint (B). */
  readonly mp: string;
  readonly pid: number;
}

interface StateView {
  status: string;
  reason?: string;
  backend?: { consecutiveFailures: number };
}

/** slow-fs at <home>/A, then `mountie mount ws --source A --at B` with the daemon's env. */
async function layers(env: NodeJS.ProcessEnv = {}): Promise<Layers> {
  const home = await makeHome('mountie-slow-');
  const slow = await startSlowFs(home, join(home, 'A'));
  const mp = join(home, 'B');
  const r = await runCli(home, ['mount', 'ws', '--source', slow.mountpoint, '--at', mp, '--background', '--json'], { env });
  expect(r.exitCode, r.stderr).toBe(0);
  return { home, slow, mp, pid: (JSON.parse(r.stdout) as { pid: number }).pid };
}

interface Reader {
  readonly child: ChildProcess;
  readonly file: string;
  readonly stderr: () => string;
}

function reader(home: string, file: string): Reader {
  const child = spawnTracked('cat', [file], { env: { ...process.env, MOUNTIE_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  return { child, file, stderr: collect(child).stderr };
}

const running = (r: Reader): boolean => r.child.exitCode === null && r.child.signalCode === null;

/** `mountie status ws --json`, bounded; the daemon's state as status reports it. */
async function stateOf(home: string): Promise<StateView | undefined> {
  const r = await runCli(home, ['status', 'ws', '--json'], { timeoutMs: 15_000 });
  const doc = JSON.parse(r.stdout) as { workspaces: { state?: StateView }[] };
  return doc.workspaces[0]?.state;
}

async function stateOnDisk(home: string): Promise<StateView> {
  return JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'state.json'), 'utf8')) as StateView;
}

/**
 * /fast through B answers: stat, readdir and read, each in its own bounded child. Soft: the
 * test goes on to prove the rest (status, stop, readers) and reports every failure at the end.
 */
async function expectFastAnswers(mp: string): Promise<void> {
  const attempt = async (cmd: string, args: string[], want: (out: string) => void): Promise<void> => {
    try {
      const r = await runBounded(cmd, args);
      expect.soft(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
      want(r.stdout);
    } catch (err) {
      expect.soft(undefined, (err as Error).message).toBeDefined();
    }
  };
  await attempt('stat', ['-c', '%s', join(mp, 'fast/a.txt')], (out) => expect.soft(out.trim()).toBe('10'));
  await attempt('ls', [join(mp, 'fast')], (out) => expect.soft(out.split('\n').filter(Boolean)).toEqual(['a.txt', 'b.txt', 'c.txt']));
  await attempt('cat', [join(mp, 'fast/b.txt')], (out) => expect.soft(out).toBe('b is fast\n'));
}

async function expectStopped(l: Layers): Promise<void> {
  const stop = await runCli(l.home, ['stop', 'ws', '--json'], { timeoutMs: 20_000 });
  expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
  expect((JSON.parse(stop.stdout) as { ok: boolean }).ok).toBe(true);
  expect(await isMounted(l.mp)).toBe(false);
  expect(await daemonsOf(l.home, 'ws')).toEqual([]);
  expect(await pidfileOf(l.home, 'ws')).toBeUndefined();
  expect((await stateOnDisk(l.home)).status).toBe('stopped');
}

describe('a slow or wedged backend', () => {
  afterEach(reapAll);

  it('16 reads hung in the source: /fast, status and stop still answer, and stop ends the readers with an error', async () => {
    // The longest deadline there is, so the reads stay hung until stop (not the deadline) ends them.
    const l = await layers({ MOUNTIE_OP_DEADLINE_MS: '14000' });
    const readers = Array.from({ length: 16 }, (_, i) => reader(l.home, join(l.mp, `slow/file${i}`)));
    // Hung = held by the source and no longer growing (the daemon may queue some of the 16).
    let last = -1;
    await waitFor('reads held by the source', async () => {
      const n = await l.slow.hung();
      const settled = n > 0 && n === last;
      last = n;
      return settled ? n : undefined;
    }, 10_000, 300);
    expect(readers.filter(running).map((r) => r.file)).toHaveLength(16);

    await expectFastAnswers(l.mp);
    const status = await runCli(l.home, ['status', 'ws', '--json'], { timeoutMs: 15_000 });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`running(pid=${l.pid})`);
    // Still hung when stop comes: it is the stop that must end them.
    expect(readers.filter(running)).toHaveLength(16);

    await expectStopped(l);
    for (const r of readers) {
      const end = await waitExit(r.child, 10_000).catch(async (err: unknown) => {
        throw new Error(`reader of ${r.file} still hangs after stop (state ${await procState(r.child.pid ?? 0)})`, { cause: err });
      });
      expect(end.code, `${r.file}: ${r.stderr()}`).not.toBe(0);
      expect(end.code, `${r.file} was killed by ${end.signal}`).not.toBeNull();
      // Not the deadline's ETIMEDOUT ("Connection timed out"): the shutdown answered it.
      expect(r.stderr(), r.file).toMatch(/Input\/output error|Transport endpoint is not connected|Software caused connection abort/);
    }
  }, 90_000);

  it('a read that never returns is answered with ETIMEDOUT at the per-op deadline', async () => {
    const l = await layers({ MOUNTIE_OP_DEADLINE_MS: '1500' });
    const started = Date.now();
    const r = await runBounded('cat', [join(l.mp, 'slow/file0')], { timeoutMs: 12_000 });
    const tookMs = Date.now() - started;
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('Connection timed out');
    // It really hung (no instant refusal), and the source still holds it: the answer came from mountie.
    expect(tookMs).toBeGreaterThanOrEqual(1000);
    expect(await l.slow.hung()).toBeGreaterThanOrEqual(1);
    await expectFastAnswers(l.mp);
    await expectStopped(l);
  });

  it('an unreachable source (every op hangs): status shows degraded, then failed with a reason; stop ends it stopped', async () => {
    const l = await layers({ MOUNTIE_HEALTH_INTERVAL_MS: '1000', MOUNTIE_PROBE_TIMEOUT_MS: '500' });
    expect((await stateOf(l.home))?.status).toBe('active');
    await l.slow.send('hang-all');
    const degraded = await waitFor('status degraded', async () => {
      const s = await stateOf(l.home);
      expect(s?.status, JSON.stringify(s)).not.toBe('failed'); // degraded must come first
      return s?.status === 'degraded' ? s : undefined;
    }, 20_000, 200);
    expect(degraded.reason).toBeTruthy();
    const failed = await waitFor('status failed', async () => {
      const s = await stateOf(l.home);
      return s?.status === 'failed' ? s : undefined;
    }, 30_000, 200);
    expect(failed.reason).toBeTruthy();
    // The CLI's plain line carries the reason too.
    const text = await runCli(l.home, ['status', 'ws'], { timeoutMs: 15_000 });
    expect(text.stdout).toContain('state=failed');
    // A failed mount is not "running and clean": exit 1, and no writer "ok" beside it (issue 9, item 13).
    expect(text.exitCode).toBe(1);
    expect(text.stdout).not.toMatch(/health=ok/);
    expect((await runCli(l.home, ['status'], { timeoutMs: 15_000 })).exitCode).toBe(1);
    await expectStopped(l);
  }, 90_000);

  it('a stop while the source is failing never recovers it: the state ends stopped, not active', async () => {
    const l = await layers({ MOUNTIE_HEALTH_INTERVAL_MS: '1000', MOUNTIE_PROBE_TIMEOUT_MS: '500' });
    await l.slow.send('fail-all');
    await waitFor('status degraded', async () => ((await stateOf(l.home))?.status === 'degraded' ? true : undefined), 20_000, 100);
    // The source comes back; once one probe passed, recovery is one clean check away: stop now.
    await l.slow.send('heal');
    await waitFor('a clean probe', async () => {
      const s = await stateOf(l.home);
      expect(s?.status).not.toBe('failed');
      return s?.status === 'degraded' && s.backend?.consecutiveFailures === 0 ? true : undefined;
    }, 20_000, 50); // a bound: under load 12 a probe can outlast its 500 ms several times in a row
    await expectStopped(l);
    const log = await logOf(l.home, 'ws');
    expect(log).toContain('received SIGTERM');
    expect(log.slice(log.indexOf('received SIGTERM'))).not.toMatch(/source health: active/);
    // A health reason left over from running would say the stop was about the source.
    expect((await stateOnDisk(l.home)).reason ?? '').not.toMatch(/probe|source/);
  }, 60_000);
});
