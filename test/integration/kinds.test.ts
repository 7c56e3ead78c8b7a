/**
 * A daemon of its own kind (test/fixtures/kinds/testfs.mjs, built only on the public API) through
 * the same machinery as mountie's passthrough: launch → status → stop, kill -9 → leftovers →
 * stop cleans, bad options, a foreground run; and two kinds that never touch each other's
 * daemons or mounts, in their own homes or (refused) in one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit, waitForOutput } from '../helpers/cli.js';
import { setupWorkspace } from '../helpers/daemons.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';

type Api = typeof import('../../src/index.js');
const api = (await import(join(REPO, 'dist/index.js'))) as Api;
const FIXTURE = join(REPO, 'test/fixtures/kinds/testfs.mjs');
const { testfs, TESTFS } = (await import(FIXTURE)) as { testfs: import('../../src/index.js').MountieDaemon; TESTFS: import('../../src/index.js').Kind };
const options = { greeting: 'hello from testfs' };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (api.isMountieError(err) ? err.code : String(err)),
  );
}

const alive = (pid: number): boolean => {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z';
};

describe('a daemon of its own kind', () => {
  afterEach(reapAll);

  it('launch → status running(pid=N) → stop → stopped; tagged, marked and configured as its kind', async () => {
    const home = await makeHome();
    const started = await api.launch('ws', { daemon: testfs, home, options });
    const mp = join(home, 'mnt/ws');
    expect(started.mountpoint).toBe(mp);
    expect(await readFile(join(mp, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
    const entry = (await readMountInfo()).find((e) => e.mountPoint === mp);
    expect(entry?.fstype).toBe('fuse.testfs');
    expect(entry?.source).toMatch(/^testfs:ws@[0-9a-f]{16}$/);
    expect(readProcStat(started.pid)?.comm).toBe('testfs-daemon');
    expect(await readFile(`/proc/${started.pid}/cmdline`, 'utf8')).toContain('testfs-daemon ws\0');
    const config = JSON.parse(await readFile(join(home, 'workspaces/ws/workspace.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ schema: 'mountie.workspace/v1', name: 'ws', kind: 'testfs', mountpoint: mp, readOnly: false, options });
    expect(config).not.toHaveProperty('source');

    const [st] = await api.status(undefined, { home, kind: TESTFS });
    expect(st?.tokens).toEqual([`running(pid=${started.pid})`]);
    expect(st?.verdict).toBe('running');
    expect((await api.discover('ws', { home, kind: TESTFS })).pidfileState).toBe('live');
    expect(await codeOf(api.launch('ws', { daemon: testfs, home }))).toBe('ERR_WORKSPACE_LOCKED');

    const report = await api.stop('ws', { home, kind: TESTFS });
    expect(report.ok).toBe(true);
    expect(report.processes).toEqual([{ pid: started.pid, ended: 'TERM', inPidfile: true }]);
    expect((await api.status('ws', { home, kind: TESTFS }))[0]?.tokens).toEqual(['stopped']);
    expect((await readMountInfo()).some((e) => e.mountPoint === mp)).toBe(false);
    const log = await readFile(join(home, 'workspaces/ws/daemon.log'), 'utf8');
    expect(log).toContain('testfs shutdown (signal aborted: true)');
    // A second launch reuses the stored options.
    const again = await api.launch('ws', { daemon: testfs, home });
    expect(await readFile(join(mp, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
    expect((await api.stop('ws', { home, kind: TESTFS })).processes.map((p) => p.pid)).toEqual([again.pid]);
  }, 40_000);

  it("serves its ops counted and behind the read-only guard, with the author's probe as its health", async () => {
    const home = await makeHome();
    const env = { ...process.env, MOUNTIE_HEALTH_INTERVAL_MS: '100' };
    const ro = await api.launch('ro', { daemon: testfs, home, env, readOnly: true, options: { ...options, probe: 'fail' } });
    const rw = await api.launch('rw', { daemon: testfs, home, env, options });
    expect(await readFile(join(ro.mountpoint, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
    await expect(writeFile(join(ro.mountpoint, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    // The same write in a read-write workspace reaches the author's ops, which have no create.
    await expect(writeFile(join(rw.mountpoint, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'ENOSYS' });
    const stateOf = async (ws: string): Promise<{ status: string; counters: { ops: Record<string, number> } }> => JSON.parse(await readFile(join(home, 'workspaces', ws, 'state.json'), 'utf8')) as never;
    await waitFor('the failing probe to show in state.json', async () => ((await stateOf('ro')).status !== 'active' ? true : undefined), 10_000);
    await waitFor('ops counted', async () => (((await stateOf('ro')).counters.ops.read ?? 0) > 0 ? true : undefined), 10_000);
    expect(await readFile(join(home, 'workspaces/ro/daemon.log'), 'utf8')).toContain('testfs backend unreachable');
    // A probe that passes keeps the workspace active.
    expect((await stateOf('rw')).status).toBe('active');
    expect((await api.stop('ro', { home, kind: TESTFS })).ok).toBe(true);
    expect((await api.stop('rw', { home, kind: TESTFS })).ok).toBe(true);
  }, 40_000);

  it('kill -9 leaves leftovers that status shows and stop cleans', async () => {
    const home = await makeHome();
    const { pid } = await api.launch('ws', { daemon: testfs, home, options });
    process.kill(pid, 'SIGKILL');
    await waitFor('the daemon to die', () => (alive(pid) ? undefined : true), 5000);
    // A SIGKILLed leader is a zombie before its last thread has let go of the lock file (status says
    // orphan meanwhile): wait, bounded, for the kernel to finish the exit, then judge.
    const [st] = await waitFor('the exit to finish', async () => {
      const all = await api.status(undefined, { home, kind: TESTFS });
      return all[0]?.tokens.some((t) => t.startsWith('orphan(')) ? undefined : all;
    });
    expect(st?.verdict).toBe('leftovers');
    expect(st?.tokens).toEqual([`stale-pidfile(pid=${pid})`, 'stale-mount']);
    const report = await api.stop('ws', { home, kind: TESTFS });
    expect(report.ok).toBe(true);
    expect(report.cleaned).toMatchObject({ mount: true, pidfile: true });
    expect((await api.status('ws', { home, kind: TESTFS }))[0]?.tokens).toEqual(['stopped']);
  }, 30_000);

  it('bad options are refused with ERR_INVALID_OPTION before anything is written; bad stored options by the launcher and by the daemon itself (exit 2)', async () => {
    const home = await makeHome();
    expect(await codeOf(api.launch('ws', { daemon: testfs, home, options: { greeting: 7 } }))).toBe('ERR_INVALID_OPTION');
    expect(await codeOf(api.launch('ws', { daemon: testfs, home }))).toBe('ERR_INVALID_OPTION');
    expect(await codeOf(api.launch('ws', { daemon: testfs, home, source: '/tmp' }))).toBe('ERR_INVALID_OPTION');
    // The passthrough takes no `options`: a compile error too; this checks the run-time refusal.
    // @ts-expect-error -- options without a daemon
    expect(await codeOf(api.launch('ws', { home, options }))).toBe('ERR_INVALID_OPTION');
    expect(await readdir(home)).toEqual([]);
    // Stored options the author's parser no longer accepts: the daemon refuses them at start.
    await api.stop('ws', { home, kind: TESTFS }).then((r) => expect(r.ok).toBe(true));
    await api.launch('ws', { daemon: testfs, home, options });
    await api.stop('ws', { home, kind: TESTFS });
    const file = join(home, 'workspaces/ws/workspace.json');
    const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...doc, options: { greeting: '' } }));
    // The launcher validates the stored options too (nothing is started).
    expect(await codeOf(api.launch('ws', { daemon: testfs, home }))).toBe('ERR_INVALID_OPTION');
    // And the daemon at start, for whatever reaches it without a launcher: exit 2, nothing mounted.
    const child = spawnTracked(process.execPath, [join(REPO, 'dist/cli/daemon-child.js'), pathToFileURL(FIXTURE).href, 'ws', '--kind', 'testfs', '--instance', 'by-hand'], { env: { ...process.env, TESTFS_HOME: home } });
    expect(await waitExit(child)).toEqual({ code: 2, signal: null });
    expect(await readFile(join(home, 'workspaces/ws/daemon.log'), 'utf8')).toContain('testfs needs options');
    expect((await api.status('ws', { home, kind: TESTFS }))[0]?.mounted).toBe(false);
    // A mount() that says nothing to serve: the daemon refuses it and leaves nothing running or mounted.
    expect(await codeOf(api.launch('broken', { daemon: testfs, home, options: { ...options, serveNothing: true } }))).toBe('ERR_INVALID_DEFINITION');
    expect((await api.status('broken', { home, kind: TESTFS }))[0]?.tokens).toEqual(['stopped']);
  }, 30_000);

  it('runs in the foreground of an author CLI (runForeground) and ends with exit 0 on SIGTERM', async () => {
    const home = await makeHome();
    const child = spawnTracked(process.execPath, [join(REPO, 'test/fixtures/kinds/testfs-fg.mjs'), 'ws', home, JSON.stringify(options)]);
    await waitForOutput(child, /ready/);
    const running = `running(pid=${child.pid})`;
    await waitFor('status running', async () => ((await api.status('ws', { home, kind: TESTFS }))[0]?.tokens.join(' ') === running ? true : undefined), 5000);
    expect(await readFile(join(home, 'mnt/ws/hello.txt'), 'utf8')).toBe('hello from testfs\n');
    child.kill('SIGTERM');
    expect(await waitExit(child)).toEqual({ code: 0, signal: null });
    expect((await api.status('ws', { home, kind: TESTFS }))[0]?.tokens).toEqual(['stopped']);
    const bad = spawnTracked(process.execPath, [join(REPO, 'test/fixtures/kinds/testfs-fg.mjs'), 'other', home, '{"greeting":1}']);
    let stderr = '';
    bad.stderr?.on('data', (d: Buffer) => void (stderr += d.toString()));
    expect(await waitExit(bad)).toEqual({ code: 2, signal: null });
    expect(stderr).toMatch(/^ERR_INVALID_OPTION/);
    expect(await readdir(join(home, 'workspaces'))).toEqual(['ws']);
  }, 30_000);
});

describe("the test reaper and another kind's daemons", () => {
  afterEach(reapAll);

  it("reapUnder and leftoversUnder see and reap another kind's daemon and mount below the directory, and nothing outside it", async () => {
    const testing = (await import(join(REPO, 'dist/testing/index.js'))) as typeof import('../../src/testing/index.js');
    const inside = await makeHome();
    const outside = await makeHome();
    const t = await api.launch('ws', { daemon: testfs, home: inside, options });
    const o = await api.launch('ws', { daemon: testfs, home: outside, options });
    expect(await testing.leftoversUnder(inside)).toEqual({ daemons: [t.pid], mounts: [t.mountpoint] });
    const r = await testing.reapUnder(inside, { remove: true });
    expect(r).toMatchObject({ daemons: [t.pid], survivors: [], mountsLeft: [], removed: true });
    await waitFor('the reaped daemon to be gone', () => (alive(t.pid) ? undefined : true), 5000);
    expect(alive(o.pid)).toBe(true);
    expect(await readFile(join(o.mountpoint, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
  }, 30_000);
});

describe('two kinds', () => {
  afterEach(reapAll);

  it('a mountie workspace and a testfs workspace of the same name run at once; status and stop of each touch only its own', async () => {
    const { home: mhome, src } = await setupWorkspace();
    const thome = await makeHome();
    const m = await api.launch('ws', { home: mhome, source: src });
    const t = await api.launch('ws', { daemon: testfs, home: thome, options });
    // Each kind's status sees its own daemon only, even when pointed at the other's home.
    expect((await api.status(undefined, { home: mhome }))[0]?.tokens).toEqual([`running(pid=${m.pid})`]);
    expect((await api.status(undefined, { home: thome, kind: TESTFS }))[0]?.tokens).toEqual([`running(pid=${t.pid})`]);
    const mAsTestfs = await api.discover('ws', { home: mhome, kind: TESTFS });
    expect(mAsTestfs.daemons).toEqual([]);
    expect(mAsTestfs.mounts).toEqual([]);
    const st = await runCli(thome, ['status', '--json']);
    expect((JSON.parse(st.stdout) as { workspaces: unknown[] }).workspaces).toEqual([]);

    // testfs's stop in its home leaves the mountie daemon alone, and the other way round.
    const r1 = await api.stop('ws', { home: thome, kind: TESTFS });
    expect(r1.processes.map((p) => p.pid)).toEqual([t.pid]);
    expect(alive(m.pid)).toBe(true);
    expect(await readFile(join(m.mountpoint, 'a.txt'), 'utf8')).toBe('alpha\n');
    const t2 = await api.launch('ws', { daemon: testfs, home: thome });
    const r2 = await runCli(mhome, ['stop', 'ws', '--json']);
    expect(r2.exitCode).toBe(0);
    expect(alive(t2.pid)).toBe(true);
    expect(await readFile(join(t2.mountpoint, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
    expect((await api.stop('ws', { home: thome, kind: TESTFS })).ok).toBe(true);
  }, 40_000);

  it('pointed at one home, a kind refuses the other kind\'s workspace (ERR_KIND_MISMATCH, exit 2) and leaves its daemon alone', async () => {
    const home = await makeHome();
    const t = await api.launch('ws', { daemon: testfs, home, options });
    const pidfile = await readFile(join(home, 'workspaces/ws/daemon.pid'), 'utf8');
    for (const args of [['forget', 'ws'], ['mount', 'ws', '--background'], ['start', 'ws']]) {
      const r = await runCli(home, [...args, '--json']);
      expect({ args, code: r.exitCode, err: (JSON.parse(r.stdout || r.stderr) as { error: { code: string } }).error.code }).toEqual({ args, code: 2, err: 'ERR_KIND_MISMATCH' });
    }
    // stop reports each workspace's failure in its document (exit 1, as for any workspace it could not stop).
    const stopped = await runCli(home, ['stop', 'ws', '--json']);
    expect(stopped.exitCode).toBe(1);
    expect((JSON.parse(stopped.stdout) as { workspaces: { error?: { code: string } }[] }).workspaces[0]?.error?.code).toBe('ERR_KIND_MISMATCH');
    expect(await codeOf(api.stop('ws', { home }))).toBe('ERR_KIND_MISMATCH');
    expect(await codeOf(api.launch('ws', { home }))).toBe('ERR_KIND_MISMATCH');
    // mountie's status does not list it; asked by name, it says whose it is and judges nothing.
    expect(await api.status(undefined, { home })).toEqual([]);
    const [byName] = await api.status('ws', { home });
    expect(byName?.tokens).toEqual(['stopped']);
    expect(byName?.configError).toMatch(/belongs to kind "testfs"/);
    expect(alive(t.pid)).toBe(true);
    expect(await readFile(join(home, 'workspaces/ws/daemon.pid'), 'utf8')).toBe(pidfile);
    expect(await readFile(join(t.mountpoint, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
    expect((await api.stop('ws', { home, kind: TESTFS })).ok).toBe(true);
  }, 40_000);

  it('reconfigure stores new options for a stopped workspace of another kind (refused while it runs); forget removes it through the library', async () => {
    const home = await makeHome();
    const a = await api.launch('ws', { daemon: testfs, home, options });
    expect(await codeOf(api.launch('ws', { daemon: testfs, home, options: { greeting: 'other' }, reconfigure: true }))).toBe('ERR_WORKSPACE_LOCKED');
    await api.stop('ws', { home, kind: TESTFS });
    const refused = await api.launch('ws', { daemon: testfs, home, options: { greeting: 'other' } }).then(() => undefined, (e: unknown) => e as { code: string; hint?: string });
    expect(refused?.code).toBe('ERR_CONFIG_CONFLICT');
    expect(refused?.hint).toMatch(/reconfigure/);
    const b = await api.launch('ws', { daemon: testfs, home, options: { greeting: 'other' }, reconfigure: true });
    expect(b.pid).not.toBe(a.pid);
    expect(await readFile(join(b.mountpoint, 'hello.txt'), 'utf8')).toBe('other\n');
    expect(await codeOf(api.forget('ws', { home, kind: TESTFS }))).toBe('ERR_WORKSPACE_ACTIVE');
    await api.stop('ws', { home, kind: TESTFS });
    // The stored options stay the new ones.
    const c = await api.launch('ws', { daemon: testfs, home });
    expect(await readFile(join(c.mountpoint, 'hello.txt'), 'utf8')).toBe('other\n');
    await api.stop('ws', { home, kind: TESTFS });
    const report = await api.forget('ws', { home, kind: TESTFS });
    expect(report.ok).toBe(true);
    expect(await readdir(join(home, 'workspaces'))).toEqual([]);
  }, 40_000);
});
