/**
 * The test session reaper (mountie/testing): when a runner dies, even by SIGKILL, every daemon and
 * mount of its session is gone within 5 s, and another session running beside it is left alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeHome, reapAll, REPO, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { waitForOutput } from '../helpers/cli.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { readStatNow } from '../../src/sys/proc.js';
import { leftoversUnder, reapUnder } from '../../src/testing/reap.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const RUNNER = join(REPO, 'test/fixtures/fake-runner.mjs');

interface RunnerInfo {
  readonly dir: string;
  readonly reaperPid: number;
  readonly daemons: number[];
  readonly mounts: string[];
  readonly workerPid?: number;
}

const sessions: string[] = [];

async function startRunner(parent: string, homes: number, flags: readonly string[] = []): Promise<{ child: ChildProcess; info: RunnerInfo }> {
  // spawnTracked: its own process group, killed whole in teardown (the runner's workers are in it).
  const child = spawnTracked(process.execPath, [RUNNER, parent, String(homes), ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = await waitForOutput(child, /\}\n/, 30_000);
  const info = JSON.parse(out.trim().split('\n').pop() ?? '') as RunnerInfo;
  sessions.push(info.dir);
  return { child, info };
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  const st = readStatNow(pid);
  return st !== undefined && st.state !== 'Z';
}

async function mounted(mp: string): Promise<boolean> {
  return (await readMountInfo()).some((e) => e.mountPoint === mp);
}

async function expectAllUp(info: RunnerInfo): Promise<void> {
  for (const pid of info.daemons) expect(alive(pid), `daemon ${pid}`).toBe(true);
  for (const mp of info.mounts) expect(await mounted(mp), mp).toBe(true);
  expect(alive(info.reaperPid), `reaper ${info.reaperPid}`).toBe(true);
}

/** Bounded at 5 s from the kill: the promise of the reaper. */
async function expectReapedWithin5s(info: RunnerInfo, killedAt: number): Promise<number> {
  await waitFor(
    `session ${info.dir} reaped (daemons ${info.daemons.join(',')}, mounts ${info.mounts.join(',')})`,
    async () => {
      if (info.daemons.some(alive)) return undefined;
      for (const mp of info.mounts) if (await mounted(mp)) return undefined;
      return true;
    },
    Math.max(0, 5000 - (Date.now() - killedAt)),
  );
  return Date.now() - killedAt;
}

describe('test session reaper', () => {
  afterEach(async () => {
    // Whatever the reaper did or did not do, nothing of these sessions survives the test.
    for (const dir of sessions.splice(0)) await reapUnder(dir, { remove: true });
    await reapAll();
  });

  it('a SIGKILLed runner: its session is reaped within 5 s; a second session beside it survives', async () => {
    const parent = await makeHome('mountie-sessions-');
    const [a, b] = await Promise.all([startRunner(parent, 2), startRunner(parent, 1)]);
    await expectAllUp(a.info);
    await expectAllUp(b.info);

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    const took = await expectReapedWithin5s(a.info, killedAt);
    await waitFor('reaper A exits', () => (alive(a.info.reaperPid) ? undefined : true), 5000);
    expect(existsSync(a.info.dir), 'session A directory removed').toBe(false);
    // The other session is untouched: its daemon, its mount, its reaper.
    await expectAllUp(b.info);
    expect(took).toBeLessThan(5000);
    console.info(`session A reaped ${took} ms after the SIGKILL`);

    // And B's own end is handled the same way.
    const killedB = Date.now();
    b.child.kill('SIGKILL');
    await expectReapedWithin5s(b.info, killedB);
  });

  // Issue 23 (2): a worker that outlives its SIGKILLed runner and launches afterwards. The reaper
  // must not finish while a process of the run lives (it ends them), and a clean reap leaves no log.
  it.each([
    ['launches after the reaper would have finished', ['--worker-launch-after', '2500']],
    ['ignores SIGTERM and launches while the reaper waits for it', ['--worker-launch-after', '100', '--worker-ignore-term']],
  ])('a SIGKILLed runner whose worker %s: nothing of the session is left, nor its log', async (_what, flags) => {
    const parent = await makeHome('mountie-sessions-');
    const { child, info } = await startRunner(parent, 0, flags);
    expect(info.workerPid, 'the runner forked a worker').toBeGreaterThan(0);
    const worker = info.workerPid as number;
    // The reaper learns the run's processes by looking at /proc every 200 ms (src/testing/run-tree.ts):
    // a worker forked in the last look's interval before its runner's death is not known as the
    // run's (docs/ARCHITECTURE.md, "Test sessions"). The runner printed right after its fork, so the
    // kill waits five looks: this test is about a worker the reaper knows, outliving its runner.
    await sleep(1000);
    child.kill('SIGKILL');
    // The worker either launched (worker.json holds its daemon) or is gone; 20 s bounds both.
    const launched = await waitFor('the worker launched or ended', async () => {
      const text = await readFile(join(parent, 'worker.json'), 'utf8').catch(() => '');
      if (text.startsWith('{')) return JSON.parse(text) as { pid: number; mountpoint: string };
      if (alive(worker)) return undefined;
      return text === 'launching' ? ('ended while launching' as const) : ('ended' as const);
    }, 20_000);
    // Then, within 20 s: the reaper has exited, and nothing of the run is left below `parent`.
    await waitFor('the reaper exits and the session is clean', async () => {
      if (alive(info.reaperPid) || alive(worker)) return undefined;
      const left = await leftoversUnder(parent);
      return left.daemons.length + left.mounts.length === 0 ? true : undefined;
    }, 20_000).catch(() => undefined);
    console.info(`worker ${worker}: ${typeof launched === 'string' ? launched : `launched daemon ${launched.pid}`}`);
    expect(await leftoversUnder(parent), 'daemons and mounts of the run').toEqual({ daemons: [], mounts: [] });
    if (typeof launched !== 'string') expect(alive(launched.pid), `daemon ${launched.pid}`).toBe(false);
    expect(alive(worker), `worker ${worker}`).toBe(false);
    expect(alive(info.reaperPid), `reaper ${info.reaperPid}`).toBe(false);
    expect(existsSync(info.dir), 'session directory removed').toBe(false);
    expect(existsSync(`${info.dir}.reaper.log`), 'no reaper log after a clean reap').toBe(false);
  }, 60_000);
});
