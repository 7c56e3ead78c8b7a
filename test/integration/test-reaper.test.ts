/**
 * The test session reaper (mountie/testing): when a runner dies, even by SIGKILL, every daemon and
 * mount of its session is gone within 5 s, and another session running beside it is left alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeHome, reapAll, REPO, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { waitForOutput } from '../helpers/cli.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { readStatNow } from '../../src/sys/proc.js';
import { reapUnder } from '../../src/testing/reap.js';

const RUNNER = join(REPO, 'test/fixtures/fake-runner.mjs');

interface RunnerInfo {
  readonly dir: string;
  readonly reaperPid: number;
  readonly daemons: number[];
  readonly mounts: string[];
}

const sessions: string[] = [];

async function startRunner(parent: string, homes: number): Promise<{ child: ChildProcess; info: RunnerInfo }> {
  const child = spawnTracked(process.execPath, [RUNNER, parent, String(homes)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
});
