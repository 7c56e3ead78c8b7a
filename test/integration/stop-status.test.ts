import { afterEach, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMounted, REPO, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, startForeground, waitForOutput } from '../helpers/cli.js';
import { setupWorkspace, daemonsOf, pidfileOf } from '../helpers/daemons.js';
import { identityOf } from '../../src/sys/proc.js';

interface StatusDoc {
  schema: string;
  workspaces: { workspace: string; tokens: string[]; verdict: string; orphans: { pid: number }[]; daemon?: { pid: number }; stalePidfile?: { pid?: number } }[];
}

const setup = setupWorkspace;

async function startBg(home: string, args: string[] = []): Promise<number> {
  const r = await runCli(home, ['mount', 'ws', ...args, '--background', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { pid: number }).pid;
}

async function status(home: string): Promise<{ exitCode: number | undefined; doc: StatusDoc; text: string }> {
  const j = await runCli(home, ['status', 'ws', '--json']);
  const t = await runCli(home, ['status', 'ws']);
  expect(t.exitCode).toBe(j.exitCode);
  return { exitCode: j.exitCode, doc: JSON.parse(j.stdout) as StatusDoc, text: t.stdout };
}

describe('stop and status', () => {
  afterEach(reapAll);

  it('reports running(pid) and stopped with their exit codes', async () => {
    const { home, src } = await setup();
    const pid = await startBg(home, ['--source', src]);
    const s = await status(home);
    expect(s.exitCode).toBe(0);
    expect(s.text).toMatch(new RegExp(`^ws\\s+running\\(pid=${pid}\\)`));
    expect(s.doc.schema).toBe('mountie.status/v1');
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const after = await status(home);
    expect(after.exitCode).toBe(3);
    expect(after.text).toMatch(/^ws\s+stopped/);
    expect((await runCli(home, ['status', 'nope'])).exitCode).toBe(4);
  });

  it('a daemon whose pidfile was deleted is an orphan: status exits 1, stop kills it', async () => {
    const { home, src, mp } = await setup();
    const pid = await startBg(home, ['--source', src]);
    await unlink(join(home, 'workspaces', 'ws', 'daemon.pid'));
    const s = await status(home);
    expect(s.exitCode).toBe(1);
    expect(s.text).toContain(`orphan(pid=${pid})`);
    expect(s.doc.workspaces[0]?.orphans.map((o) => o.pid)).toEqual([pid]);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`pid ${pid} (orphan) stopped by SIGTERM`);
    expect(await daemonsOf(home)).toEqual([]);
    expect(await isMounted(mp)).toBe(false);
  });

  it('stop from this copy kills a daemon started from another copy of mountie', async () => {
    const { home, src, mp } = await setup();
    const copy = await mkdtemp(join(tmpdir(), 'mountie-oldcopy-'));
    try {
      await cp(join(REPO, 'dist'), join(copy, 'dist'), { recursive: true });
      await writeFile(join(copy, 'package.json'), JSON.stringify({ name: 'mountie', version: '0.0.1-old', type: 'module' }));
      await symlink(join(REPO, 'node_modules'), join(copy, 'node_modules'));
      // Its own addon beside it, as an installed copy has (the native core serves every mount).
      await mkdir(join(copy, 'native/build/Release'), { recursive: true });
      await cp(join(REPO, 'native/build/Release/mountie_native.node'), join(copy, 'native/build/Release/mountie_native.node'));
      const old = spawnTracked(process.execPath, [join(copy, 'dist/cli/main.js'), 'mount', 'ws', '--source', src], { env: { ...process.env, MOUNTIE_HOME: home } });
      await waitForOutput(old, /press Ctrl-C/);
      await unlink(join(home, 'workspaces', 'ws', 'daemon.pid')); // as if an old version wrote none
      const stop = await runCli(home, ['stop', 'ws']);
      expect(stop.exitCode, stop.stdout).toBe(0);
      expect(stop.stdout).toContain(`pid ${old.pid}`);
      await waitFor('old daemon gone', async () => ((await identityOf(old.pid!)) ? undefined : true));
      expect(await isMounted(mp)).toBe(false);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('a pidfile pointing at an unrelated live process is stale, and stop leaves that process alone', async () => {
    const { home, src } = await setup();
    const daemon = await startBg(home, ['--source', src]);
    const sleeper = spawnTracked('sleep', ['300']);
    const id = await waitFor('sleep identity', () => identityOf(sleeper.pid!));
    const pf = await pidfileOf(home, 'ws');
    // A previous instance's pidfile whose pid now names `sleep`, identity fields included: only the
    // argv check can tell that this is no daemon.
    await writeFile(join(home, 'workspaces', 'ws', 'daemon.pid'), JSON.stringify({ ...pf, pid: id.pid, startTime: id.startTime, instanceId: 'previous-instance' }));
    const s = await status(home);
    expect(s.exitCode).toBe(1);
    expect(s.text).toContain(`stale-pidfile(pid=${id.pid})`);
    expect(s.text).toContain(`orphan(pid=${daemon})`);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout).toBe(0);
    expect(stop.stdout).toContain('removed a stale pidfile');
    expect(await identityOf(sleeper.pid!)).toEqual(id);
    expect(await daemonsOf(home)).toEqual([]);
  });

  it('a daemon that ignores SIGTERM is killed after the grace period and its mount cleaned', async () => {
    const { home, src, mp } = await setup();
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env: { MOUNTIE_TEST_IGNORE_SIGTERM: '1' } });
    const { pid } = JSON.parse(r.stdout) as { pid: number };
    const stop = await runCli(home, ['stop', 'ws', '--grace', '500', '--json']);
    expect(stop.exitCode, stop.stdout).toBe(0);
    const doc = JSON.parse(stop.stdout) as { schema: string; workspaces: { processes: { pid: number; ended: string }[]; cleaned: { mount: boolean } }[] };
    expect(doc.schema).toBe('mountie.stop/v1');
    expect(doc.workspaces[0]?.processes).toEqual([{ pid, ended: 'KILL', inPidfile: true }]);
    expect(doc.workspaces[0]?.cleaned.mount).toBe(true);
    expect(await isMounted(mp)).toBe(false);
    expect(await pidfileOf(home, 'ws')).toBeUndefined();
    // The killed daemon never wrote its final state; stop, under the lock, does.
    const state = JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'state.json'), 'utf8')) as { status: string; reason?: string };
    expect(state.status).toBe('stopped');
    expect(state.reason).toMatch(/without shutting down/);
  });

  it('20 cycles of start / stop / start / SIGKILL never show two daemons and end with nothing', async () => {
    const { home, src, mp } = await setup();
    await runCli(home, ['mount', 'ws', '--source', src, '--background']);
    await runCli(home, ['stop', 'ws']);
    for (let i = 0; i < 20; i++) {
      await startBg(home);
      expect((await daemonsOf(home)).length).toBe(1);
      expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
      expect(await daemonsOf(home)).toEqual([]);
      const pid = await startBg(home);
      expect(await daemonsOf(home)).toEqual([pid]);
      process.kill(pid, 'SIGKILL');
      await waitFor('SIGKILLed daemon gone', async () => ((await identityOf(pid)) ? undefined : true));
    }
    const s = await status(home);
    expect(s.text).toMatch(/stale-mount/);
    expect(s.text).toMatch(/stale-pidfile/);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(await daemonsOf(home)).toEqual([]);
    expect(await isMounted(mp)).toBe(false);
    expect((await status(home)).exitCode).toBe(3);
    // 66-94 s alone on 2 cores, 134-179 s with the other files running beside it (issue 18): twice that.
  }, 600_000);

  it('a reader with its cwd inside the mount does not keep stop from completing', async () => {
    const { home, src, mp } = await setup();
    const pid = await startBg(home, ['--source', src]);
    const reader = spawnTracked('sleep', ['300'], { cwd: mp });
    await waitFor('reader started', () => (reader.pid ? identityOf(reader.pid) : undefined));
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout).toBe(0);
    expect(stop.stdout).toContain(`pid ${pid}`);
    expect(await isMounted(mp)).toBe(false);
    expect(await daemonsOf(home)).toEqual([]);
  });

  it('finds a daemon started in the foreground by hand, and stop --all reaches it', async () => {
    const { home, src } = await setup();
    const fg = startForeground(home, ['ws', '--source', src]);
    await waitForOutput(fg, /press Ctrl-C/);
    const s = await status(home);
    expect(s.text).toContain(`running(pid=${fg.pid})`);
    const stop = await runCli(home, ['stop', '--all']);
    expect(stop.exitCode, stop.stdout).toBe(0);
    expect(stop.stdout).toContain(`pid ${fg.pid}`);
    expect(await daemonsOf(home)).toEqual([]);
  });

  it('ignores a daemon of the same workspace name in another MOUNTIE_HOME', async () => {
    const a = await setup();
    const b = await setup();
    const pa = await startBg(a.home, ['--source', a.src]);
    const pb = await startBg(b.home, ['--source', b.src]);
    expect((await runCli(a.home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(await daemonsOf(a.home)).toEqual([]);
    expect(await daemonsOf(b.home)).toEqual([pb]);
    expect(pa).not.toBe(pb);
    expect(await isMounted(b.mp)).toBe(true);
  });
});
