/**
 * `mountie restart --live` (issue 21; docs/ARCHITECTURE.md, "Live restart"): the real CLI and
 * daemons in a temporary home, on our own FUSE session (MOUNTIE_SESSION=own), a client workload
 * in the mount throughout (test/helpers/workload.ts). Live restarts one after another: the client
 * sees no error, the inode numbers and the appended bytes stay, each restart changes the daemon's
 * pid and epoch, the mount never leaves mountinfo. The new daemon killed at each step before its
 * acknowledgement: the old one serves on and the command exits 4 with ERR_HANDOVER. A daemon on
 * libfuse's session cannot hand over: --live says so and restarts plainly. Root only (our session
 * mounts with mount(2)); skipped without the addon.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, makeHome, reapAll, REPO, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, logOf, pidfileOf, setupWorkspace } from '../helpers/daemons.js';
import { seedSource, startWorkload, type Workload } from '../helpers/workload.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { execa } from 'execa';

afterEach(reapAll);

const native = loadNative();
const root = process.getuid?.() === 0;
const OWN = { MOUNTIE_SESSION: 'own' };
/** Live restarts in a row under the workload (the issue asks for 100; MOUNTIE_TEST_LIVE_RESTARTS overrides). */
const RESTARTS = Number(process.env.MOUNTIE_TEST_LIVE_RESTARTS ?? 100);

async function mountIdAt(mp: string): Promise<number | undefined> {
  return (await readMountInfo()).find((e) => e.mountPoint === mp)?.mountId;
}

/** Polls mountinfo every 5 ms until stopped: every moment the mount was missing. */
function watchMountinfo(mp: string, id: number): { stop(): number } {
  let missing = 0;
  let on = true;
  void (async () => {
    while (on) {
      if ((await mountIdAt(mp)) !== id) missing++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: () => {
      on = false;
      return missing;
    },
  };
}

async function mounted(home: string, src: string, env: NodeJS.ProcessEnv = OWN): Promise<number> {
  const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env });
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { pid: number }).pid;
}

/** Stop the workload: no client error, no failed find, every appended line once and in order. */
async function expectUnharmed(work: Workload, src: string): Promise<Awaited<ReturnType<Workload['done']>>> {
  const seen = await work.done();
  expect(seen.client.errors, seen.client.firstError).toBe(0);
  expect(seen.findFailures, seen.findFirstError).toBe(0);
  expect(seen.finds).toBeGreaterThan(0);
  const lines = (await readFile(join(src, 'log'), 'utf8')).split('\n').filter(Boolean);
  expect(lines).toEqual(Array.from({ length: seen.client.appended }, (_, n) => `line ${n}`));
  return seen;
}

describe.skipIf(!root || !native.ok)('restart --live', () => {
  it(`hands the mount over ${RESTARTS} times while a client works: no error, no inode changed, no byte lost, a new pid and epoch each time`, async () => {
    const { home, src, mp } = await setupWorkspace();
    const inos = await seedSource(src);
    let pid = await mounted(home, src);
    let epoch = (await pidfileOf(home, 'ws'))?.epoch ?? 0;
    const id = (await mountIdAt(mp)) as number;
    const work = await startWorkload(mp, inos);
    const watch = watchMountinfo(mp, id);
    const pids = new Set([pid]);
    for (let i = 0; i < RESTARTS; i++) {
      const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: OWN });
      expect(r.exitCode, `restart ${i}: ${r.stdout} ${r.stderr}`).toBe(0);
      const doc = JSON.parse(r.stdout) as { ok: boolean; live: { done: boolean; from: number; to: number; oldExited: boolean } };
      expect(doc.live, JSON.stringify(doc.live)).toMatchObject({ done: true, from: pid, oldExited: true });
      const pf = await pidfileOf(home, 'ws');
      expect(pf?.pid).toBe(doc.live.to);
      expect(pf?.epoch).toBeGreaterThan(epoch);
      expect(pids.has(doc.live.to)).toBe(false);
      pid = doc.live.to;
      epoch = pf?.epoch ?? 0;
      pids.add(pid);
      expect(await daemonsOf(home, 'ws')).toEqual([pid]);
    }
    const missing = watch.stop();
    // No client error, every byte appended once and in order.
    await expectUnharmed(work, src);
    expect(missing).toBe(0);
    const status = await runCli(home, ['status', 'ws', '--json']);
    const ws = (JSON.parse(status.stdout) as { workspaces: { tokens: string[]; state: { takenOverFrom?: number; live?: { ready: boolean } } }[] }).workspaces[0];
    expect(ws?.tokens).toEqual([`running(pid=${pid})`]);
    expect(ws?.state.live?.ready).toBe(true);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(await mountIdAt(mp)).toBeUndefined();
    expect(await daemonsOf(home, 'ws')).toEqual([]);
  }, 60_000 + RESTARTS * 4_000);

  for (const point of ['before-adopt', 'after-adopt', 'before-ack'] as const) {
    it(`the new daemon killed ${point.replace('-', ' ')}: the old one serves on, the command exits 4 with ERR_HANDOVER, the client sees no error`, async () => {
      const { home, src, mp } = await setupWorkspace();
      const inos = await seedSource(src);
      const pid = await mounted(home, src);
      const work = await startWorkload(mp, inos);
      const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: { ...OWN, MOUNTIE_TEST_FAULT: `take-over-${point}` } });
      expect(r.exitCode, r.stdout + r.stderr).toBe(4);
      const err = JSON.parse(r.stdout) as { error: { code: string; data: { servedBy?: number; reason?: string } } };
      expect(err.error.code).toBe('ERR_HANDOVER');
      expect(err.error.data.servedBy).toBe(pid);
      expect((await pidfileOf(home, 'ws'))?.pid).toBe(pid);
      await waitFor('one daemon', async () => ((await daemonsOf(home, 'ws')).join() === String(pid) ? true : undefined));
      const status = await runCli(home, ['status', 'ws']);
      expect(status.stdout).toContain(`running(pid=${pid})`);
      // And the next live restart takes it over.
      const again = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: OWN });
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      await expectUnharmed(work, src);
      expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
      expect(await daemonsOf(home, 'ws')).toEqual([]);
      expect(await mountIdAt(mp)).toBeUndefined();
    }, 60_000);
  }

  it('the new daemon killed right after the commit (the window the protocol cannot close): the old one lets go at once, status says stale-mount, stop cleans it', async () => {
    const { home, src, mp } = await setupWorkspace();
    const pid = await mounted(home, src);
    const t0 = Date.now();
    const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: { ...OWN, MOUNTIE_TEST_FAULT: 'take-over-after-commit' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(4);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('ERR_HANDOVER');
    // Not its 10 s wait for a pidfile: it saw the new daemon die.
    await waitFor('the old daemon gone', async () => ((await daemonsOf(home, 'ws')).length === 0 ? true : undefined), 8000);
    expect(Date.now() - t0).toBeLessThan(9000);
    const log = await logOf(home, 'ws');
    expect(log).toContain(`died after it took the mount over`);
    expect(log).not.toContain(`received SIGTERM`);
    expect(pid).toBeGreaterThan(0);
    const status = await runCli(home, ['status', 'ws']);
    expect(status.stdout).toContain('stale-mount');
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(await mountIdAt(mp)).toBeUndefined();
    expect((await runCli(home, ['mount', 'ws', '--background'], { env: OWN })).exitCode).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it('status during a handover names both daemons; a stop then ends both and leaves nothing', async () => {
    const { home, src, mp } = await setupWorkspace();
    const pid = await mounted(home, src);
    // The new daemon waits 2 s before its acknowledgement: the handover is under way meanwhile.
    const restart = execa(process.execPath, [CLI, 'restart', 'ws', '--live', '--json'], { env: { ...process.env, ...OWN, MOUNTIE_HOME: home, MOUNTIE_TEST_FAULT: 'take-over-slow-ack' }, reject: false, timeout: 30_000 });
    const tokens = await waitFor(
      'a handover under way',
      async () => {
        const s = JSON.parse((await runCli(home, ['status', 'ws', '--json'])).stdout) as { workspaces: { tokens: string[] }[] };
        const t = s.workspaces[0]?.tokens ?? [];
        return t.some((x) => x.startsWith('starting(')) ? t : undefined;
      },
      10_000,
      50,
    );
    expect(tokens[0]).toBe(`handing-over(pid=${pid})`);
    expect(tokens).toHaveLength(2);
    const stop = await runCli(home, ['stop', 'ws', '--json']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    // Either the stop came before the acknowledgement (the handover fails: 4) or, on a slow machine
    // (seen under TSan), after the commit (it succeeds, and the stop ends the new daemon): nothing is left either way.
    const r = await restart;
    expect([0, 4], r.stdout).toContain(r.exitCode);
    expect(await daemonsOf(home, 'ws')).toEqual([]);
    expect(await mountIdAt(mp)).toBeUndefined();
    expect((await runCli(home, ['status', 'ws'])).stdout).toContain('stopped');
  }, 60_000);

  it("kernel passthrough and our own session follow the connection, not the restart's environment", async () => {
    const { home, src, mp } = await setupWorkspace();
    const inos = await seedSource(src);
    // Passthrough on by default (issue 20): neither variable says so.
    const pid = await mounted(home, src, { MOUNTIE_SESSION: '', MOUNTIE_PASSTHROUGH: '' });
    const mode = async (): Promise<string | undefined> => (JSON.parse((await runCli(home, ['status', 'ws', '--json'])).stdout) as { workspaces: { state: { backend?: { passthrough?: { mode: string } } } }[] }).workspaces[0]?.state.backend?.passthrough?.mode;
    await waitFor('passthrough on', async () => ((await mode()) === 'on' ? true : undefined));
    const work = await startWorkload(mp, inos);
    // Both variables in the restart's environment say the contrary: the connection decides.
    const contrary = { MOUNTIE_SESSION: 'libfuse', MOUNTIE_PASSTHROUGH: '0' };
    const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: contrary });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { live: { from: number } }).live.from).toBe(pid);
    await waitFor('passthrough still on', async () => ((await mode()) === 'on' ? true : undefined));
    const again = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: contrary });
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    await expectUnharmed(work, src);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it("libfuse's session cannot hand over: --live says why and restarts by unmounting", async () => {
    const { home, src } = await setupWorkspace();
    const pid = await mounted(home, src, { MOUNTIE_SESSION: 'libfuse' });
    const st = JSON.parse((await runCli(home, ['status', 'ws', '--json'])).stdout) as { workspaces: { state: { live?: { ready: boolean; reason?: string } } }[] };
    expect(st.workspaces[0]?.state.live).toMatchObject({ ready: false });
    expect(st.workspaces[0]?.state.live?.reason).toContain("libfuse's session");
    const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: { MOUNTIE_SESSION: 'libfuse' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { live: { done: boolean; reason: string }; stop: { processes: { pid: number }[] }; mount: { pid: number } };
    expect(doc.live.done).toBe(false);
    expect(doc.live.reason).toContain("libfuse's session");
    expect(doc.stop.processes.map((p) => p.pid)).toEqual([pid]);
    expect(doc.mount.pid).not.toBe(pid);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it('an upgrade: a daemon of a build copied elsewhere hands over to this build', async () => {
    const { home, src, mp } = await setupWorkspace();
    const inos = await seedSource(src);
    // The other build: dist, the addon and package.json copied, node_modules shared.
    const other = await makeHome('mountie-build-');
    await cp(join(REPO, 'dist'), join(other, 'dist'), { recursive: true });
    await mkdir(join(other, 'native/build'), { recursive: true });
    await cp(join(REPO, 'native/build/Release'), join(other, 'native/build/Release'), { recursive: true });
    await cp(join(REPO, 'package.json'), join(other, 'package.json'));
    await symlink(join(REPO, 'node_modules'), join(other, 'node_modules'));
    // Each build its own addon (scripts/sanitize.sh points MOUNTIE_NATIVE_ADDON at its build: not here).
    const own = { ...OWN, MOUNTIE_NATIVE_ADDON: '' };
    const r0 = await execa(process.execPath, [join(other, 'dist/cli/bin.cjs'), 'mount', 'ws', '--source', src, '--background', '--json'], { env: { ...process.env, ...own, MOUNTIE_HOME: home }, reject: false, timeout: 30_000 });
    expect(r0.exitCode, r0.stderr).toBe(0);
    const oldPid = (JSON.parse(r0.stdout) as { pid: number }).pid;
    // Which build serves: the addon its process has mapped (its title hides the script's path).
    const addonOf = async (pid: number): Promise<string | undefined> => (await readFile(`/proc/${pid}/maps`, 'utf8')).split('\n').find((l) => l.endsWith('mountie_native.node'))?.split(/\s+/).pop();
    expect(await addonOf(oldPid)).toBe(join(other, 'native/build/Release/mountie_native.node'));
    const work = await startWorkload(mp, inos);
    const r = await runCli(home, ['restart', 'ws', '--live', '--json'], { env: own });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { live: { done: boolean; from: number; to: number } };
    expect(doc.live).toMatchObject({ done: true, from: oldPid });
    expect(await addonOf(doc.live.to)).toBe(join(REPO, 'native/build/Release/mountie_native.node'));
    await expectUnharmed(work, src);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(await daemonsOf(home, 'ws')).toEqual([]);
  }, 60_000);
});
