/**
 * Issue 9, "Identity": only what is proven ours is signalled or unmounted. Each test stages one
 * of the holes outside testing found, for real, and checks the victim survives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI, isMounted, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, startForeground, waitExit, waitForOutput } from '../helpers/cli.js';
import { daemonsOf, pidfileOf, setupWorkspace } from '../helpers/daemons.js';
import { identityOf } from '../../src/sys/proc.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';

interface StatusDoc {
  workspaces: { workspace: string; tokens: string[]; verdict: string; daemon?: { pid: number }; orphans: { pid: number }[]; starting: { pid: number }[] }[];
}

async function startBg(home: string, ws: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const r = await runCli(home, ['mount', ws, ...args, '--background', '--json'], { env });
  expect(r.exitCode, r.stderr + r.stdout).toBe(0);
  return (JSON.parse(r.stdout) as { pid: number }).pid;
}

async function statusJson(home: string, ws?: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | undefined; doc: StatusDoc }> {
  const r = await runCli(home, ['status', ...(ws ? [ws] : []), '--json'], { env });
  return { code: r.exitCode, doc: JSON.parse(r.stdout) as StatusDoc };
}

/** Is the mount at `mp` alive and answering? Asked from a child process with a bound, never from our JS thread. */
function answers(mp: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('stat', ['-c', '%i', mp], { stdio: 'ignore' });
    const t = setTimeout(() => (c.kill('SIGKILL'), resolve(false)), 3000);
    c.once('exit', (code) => (clearTimeout(t), resolve(code === 0)));
  });
}

const alive = async (pid: number): Promise<boolean> => (await identityOf(pid)) !== undefined && (await daemonsOf('', undefined)).length >= 0;

describe('identity: only what is proven ours is signalled or unmounted', () => {
  afterEach(reapAll);

  it('the same home through a symlink cannot start a second daemon, and the first mount stays live (item 4, 5)', async () => {
    const { home, src, mp } = await setupWorkspace();
    const pid = await startBg(home, 'ws', ['--source', src]);
    const alias = `${home}-alias`;
    await symlink(home, alias);
    try {
      const r = await runCli(alias, ['mount', 'ws', '--background', '--json']);
      expect(r.exitCode, r.stdout + r.stderr).toBe(3);
      expect(JSON.parse(r.stdout).error.code).toBe('ERR_WORKSPACE_LOCKED');
      expect(await answers(mp)).toBe(true);
      const s = await statusJson(alias, 'ws');
      expect(s.code).toBe(0);
      expect(s.doc.workspaces[0]?.tokens).toEqual([`running(pid=${pid})`]);
    } finally {
      await unlink(alias);
    }
  });

  it('two homes with the same --at: the second start is refused and the first mount is untouched (item 4, 5)', async () => {
    const a = await setupWorkspace();
    const b = await setupWorkspace();
    const shared = join(a.home, 'shared-mnt');
    await startBg(a.home, 'ws', ['--source', a.src, '--at', shared]);
    const r = await runCli(b.home, ['mount', 'ws', '--source', b.src, '--at', shared, '--background', '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('ERR_MOUNTPOINT_BUSY');
    expect(await answers(shared)).toBe(true);
    expect(await readFile(join(shared, 'a.txt'), 'utf8').catch(() => 'unreadable')).toBe('alpha\n');
  });

  it('a pidfile copied from another home never gets that home\'s daemon killed (item 2)', async () => {
    const a = await setupWorkspace();
    const b = await setupWorkspace();
    const pidA = await startBg(a.home, 'ws', ['--source', a.src]);
    await mkdir(join(b.home, 'workspaces', 'ws'), { recursive: true });
    await copyFile(join(a.home, 'workspaces', 'ws', 'daemon.pid'), join(b.home, 'workspaces', 'ws', 'daemon.pid'));
    const s = await statusJson(b.home, 'ws');
    expect(s.doc.workspaces[0]?.tokens).toEqual([`stale-pidfile(pid=${pidA})`]);
    const stop = await runCli(b.home, ['stop', 'ws', '--json']);
    expect(stop.exitCode, stop.stdout).toBe(0);
    expect(await identityOf(pidA)).toBeDefined();
    expect(await answers(a.mp)).toBe(true);
    expect((await statusJson(a.home, 'ws')).doc.workspaces[0]?.tokens).toEqual([`running(pid=${pidA})`]);
  });

  it.each([-1, 0, 1, 1e300, '"7"'])('a pidfile with pid %s is a stale pidfile: status and stop still work for the whole home (item 2)', async (bad) => {
    const { home, src } = await setupWorkspace();
    await mkdir(join(home, 'src2'));
    const other = await startBg(home, 'other', ['--source', join(home, 'src2')]);
    await mkdir(join(home, 'workspaces', 'ws'), { recursive: true });
    await writeFile(join(home, 'workspaces', 'ws', 'workspace.json'), JSON.stringify({ schema: 'mountie.workspace/v1', name: 'ws', source: src, mountpoint: join(home, 'mnt', 'ws'), readOnly: false }));
    await writeFile(join(home, 'workspaces', 'ws', 'daemon.pid'), `{"schema":"mountie.pid/v1","pid":${String(bad)},"startTime":1,"bootId":"x","instanceId":"i"}`);
    const one = await statusJson(home, 'ws');
    expect(one.code).toBe(1);
    // pid 1 is a well-formed pidfile since issue 18 (a daemon that is PID 1 of a container): still only stale
    // here, its process (this machine's init) being no daemon of the workspace; the others are no pid at all.
    expect(one.doc.workspaces[0]?.tokens).toEqual([bad === 1 ? 'stale-pidfile(pid=1)' : 'stale-pidfile(pid=?)']);
    const all = await statusJson(home);
    expect(all.code).toBe(1);
    expect(all.doc.workspaces.find((w) => w.workspace === 'other')?.tokens).toEqual([`running(pid=${other})`]);
    const stop = await runCli(home, ['stop', '--all', '--grace', '2000']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(stop.stdout).toContain('ws: removed a stale pidfile');
    expect(await daemonsOf(home)).toEqual([]);
  });

  it('a workspace.json that names another workspace starts nothing (item 2)', async () => {
    const { home, src } = await setupWorkspace();
    await mkdir(join(home, 'workspaces', 'ws'), { recursive: true });
    await writeFile(join(home, 'workspaces', 'ws', 'workspace.json'), JSON.stringify({ schema: 'mountie.workspace/v1', name: 'other', source: src, mountpoint: join(home, 'mnt', 'other'), readOnly: false }));
    const r = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(JSON.parse(r.stdout).error.code).toBe('ERR_CONFIG_CORRUPT');
    expect(r.exitCode).not.toBe(0);
    expect(await daemonsOf(home)).toEqual([]);
  });

  it('discovery does not depend on argv shape: options before the name, node flags, a stopped daemon (item 6)', async () => {
    const { home, src } = await setupWorkspace();
    const fg = startForeground(home, ['--json', 'ws', '--source', src]);
    const pid = (JSON.parse(await waitForOutput(fg, /\}\s*$/)) as { pid: number }).pid;
    expect((await statusJson(home, 'ws')).doc.workspaces[0]?.tokens).toEqual([`running(pid=${pid})`]);
    process.kill(pid, 'SIGSTOP');
    const stop = await runCli(home, ['stop', 'ws', '--grace', '500']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`pid ${pid} killed by SIGKILL`);
    await waitExit(fg);

    await mkdir(join(home, 'src3'));
    const flagged = spawnTracked(process.execPath, ['--no-warnings', '--max-old-space-size=200', CLI, 'mount', 'w3', '--source', join(home, 'src3')], { env: { ...process.env, MOUNTIE_HOME: home } });
    await waitForOutput(flagged, /press Ctrl-C/);
    const s = await statusJson(home, 'w3');
    expect(s.code).toBe(0);
    expect(s.doc.workspaces[0]?.tokens).toEqual([`running(pid=${flagged.pid})`]);
  });

  it('without MOUNTIE_HOME, the pidfile does not move with XDG_RUNTIME_DIR: a stop from cron still sees the daemon (item 8)', async () => {
    const base = await makeHome();
    await mkdir(join(base, 'src'));
    const env = { MOUNTIE_HOME: '', XDG_STATE_HOME: join(base, 'state'), XDG_RUNTIME_DIR: join(base, 'run') };
    const pid = await startBg('', 'ws', ['--source', join(base, 'src')], env);
    const cron = { MOUNTIE_HOME: '', XDG_STATE_HOME: join(base, 'state'), XDG_RUNTIME_DIR: '' };
    const s = await statusJson('', 'ws', cron);
    expect(s.doc.workspaces[0]?.tokens).toEqual([`running(pid=${pid})`]);
    expect((await runCli('', ['stop', 'ws'], { env: cron })).exitCode).toBe(0);
    await waitFor('daemon gone', async () => ((await identityOf(pid)) ? undefined : true));
  });

  it('a daemon between lock and pidfile is starting, not an orphan (item 13)', async () => {
    const { home, src } = await setupWorkspace();
    const launch = runCli(home, ['mount', 'ws', '--source', src, '--background'], { env: { MOUNTIE_TEST_DELAY_AFTER_LOCK_MS: '2500' } });
    const seen = await waitFor('a starting daemon', async () => {
      const s = await statusJson(home, 'ws');
      const t = s.doc.workspaces?.[0]?.tokens ?? [];
      return t.some((x) => x.startsWith('starting(pid=')) ? s : undefined;
    }, 10_000, 100).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; last status: ${(await runCli(home, ['status', 'ws'])).stdout}`);
    });
    expect(seen.code).toBe(0);
    expect(seen.doc.workspaces[0]?.tokens.some((t) => t.startsWith('orphan'))).toBe(false);
    expect((await launch).exitCode).toBe(0);
  });

  it('a pid namespace\'s PID 1 that leads its group is stopped alone: nothing else is signalled (item 1)', async () => {
    const { home, src } = await setupWorkspace();
    const sentinel = spawnTracked('sleep', ['300']);
    const container = spawnTracked('unshare', ['--pid', '--fork', 'setsid', process.execPath, CLI, 'mount', 'ws', '--source', src], { env: { ...process.env, MOUNTIE_HOME: home } });
    await waitForOutput(container, /press Ctrl-C/);
    const [pid] = await daemonsOf(home, 'ws');
    expect(pid).toBeGreaterThan(1);
    expect((await pidfileOf(home, 'ws'))?.pid).toBe(pid);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    await waitExit(container);
    expect(sentinel.exitCode).toBeNull();
    expect(await identityOf(sentinel.pid!)).toBeDefined();
    expect((await readMountInfo()).some((e) => e.source.startsWith('mountie:ws@') && e.mountPoint.startsWith(home))).toBe(false);
  });

  it('a daemon in another network namespace still holds the workspace: a second start is refused, its mount untouched (item 5)', async () => {
    const { home, src, mp } = await setupWorkspace();
    const other = spawnTracked('unshare', ['--net', process.execPath, CLI, 'mount', 'ws', '--source', src], { env: { ...process.env, MOUNTIE_HOME: home } });
    await waitForOutput(other, /press Ctrl-C/);
    const r = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(r.exitCode, r.stdout).toBe(3);
    expect(await answers(mp)).toBe(true);
  });

  it('a process holding the workspace lock without being a daemon (another stop, a forged holder) is never signalled (item 2)', async () => {
    const { home, src } = await setupWorkspace();
    await startBg(home, 'ws', ['--source', src]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const holderScript = new URL('../fixtures/lock-holder.mjs', import.meta.url).pathname;
    const forged = spawnTracked(process.execPath, [holderScript, join(home, 'workspaces', 'ws', 'lock'), '-', 'lock']);
    await waitForOutput(forged, /ready/);
    const lookAlike = spawnTracked(process.execPath, [holderScript, join(home, 'decoy-lock'), 'mountie-daemon ws', 'lock']);
    await waitForOutput(lookAlike, /ready/);
    const stop = await runCli(home, ['stop', 'ws', '--grace', '500']);
    expect(stop.stdout).not.toMatch(new RegExp(`pid (${forged.pid}|${lookAlike.pid})`));
    expect(forged.exitCode).toBeNull();
    expect(lookAlike.exitCode).toBeNull();
    expect(await identityOf(forged.pid!)).toBeDefined();
    expect(await identityOf(lookAlike.pid!)).toBeDefined();
    const start = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(start.exitCode, start.stdout).toBe(3);
  });

  it('a mountpoint swapped for a symlink is refused; no mount lands where nobody looks (item 4)', async () => {
    const { home, src, mp } = await setupWorkspace();
    await startBg(home, 'ws', ['--source', src]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const elsewhere = join(home, 'elsewhere');
    await mkdir(elsewhere);
    const { rmdir } = await import('node:fs/promises');
    await rmdir(mp);
    await symlink(elsewhere, mp);
    const r = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(r.exitCode, r.stdout).not.toBe(0);
    expect(await isMounted(elsewhere)).toBe(false);
    expect(await daemonsOf(home)).toEqual([]);
  });
});
void alive;
