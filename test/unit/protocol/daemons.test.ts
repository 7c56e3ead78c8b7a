import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { findHomeDaemons } from '../../../src/protocol/daemons.js';
import { readMountInfo } from '../../../src/sys/mountinfo.js';
import { scanProcStats } from '../../../src/sys/proc-stat-scan.js';
import { reapAll, spawnTracked } from '../../helpers/sandbox.js';
import { waitForOutput } from '../../helpers/cli.js';

const HOLDER = new URL('../../fixtures/lock-holder.mjs', import.meta.url).pathname;

async function holder(lockPath: string, title: string, mode: 'lock' | 'open'): Promise<ChildProcess> {
  const c = spawnTracked(process.execPath, [HOLDER, lockPath, title, mode]);
  await waitForOutput(c, /ready/);
  return c;
}

describe('findHomeDaemons: marker + our lock file open, nothing taken on trust', () => {
  let dir = '';
  afterEach(async () => {
    await reapAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function home(name: string): Promise<{ ws: string; dirs: { workspacesDir: string; realWorkspacesDir: string } }> {
    const wsDir = join(dir, name, 'workspaces');
    await mkdir(join(wsDir, 'ws'), { recursive: true, mode: 0o700 });
    return { ws: join(wsDir, 'ws'), dirs: { workspacesDir: wsDir, realWorkspacesDir: await realpath(wsDir) } };
  }
  const find = async (dirs: { workspacesDir: string; realWorkspacesDir: string }, ws?: string) =>
    findHomeDaemons(scanProcStats(), dirs, await readMountInfo(), ws === undefined ? {} : { ws });

  it('finds the holder and a starter, never a look-alike, an unmarked holder or another home\'s daemon', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-daemons-'));
    const a = await home('a');
    const b = await home('b');
    const real = await holder(join(a.ws, 'lock'), 'mountie-daemon ws', 'lock');
    const starter = await holder(join(a.ws, 'lock'), 'mountie-daemon ws', 'open');
    const lookAlike = await holder(join(dir, 'elsewhere-lock'), 'mountie-daemon ws', 'lock');
    const unmarked = await holder(join(a.ws, 'lock'), '-', 'open');
    const otherHome = await holder(join(b.ws, 'lock'), 'mountie-daemon ws', 'lock');
    const found = await find(a.dirs, 'ws');
    expect(found.map((d) => [d.pid, d.holdsLock]).sort()).toEqual([[real.pid, true], [starter.pid, false]].sort());
    for (const c of [lookAlike, unmarked, otherHome]) expect(found.some((d) => d.pid === c.pid)).toBe(false);
    expect((await find(b.dirs)).map((d) => d.pid)).toEqual([otherHome.pid]);
    expect(await find(a.dirs, 'other')).toEqual([]);
  });

  it('finds a daemon through a symlinked home, and one whose lock file was deleted under it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-daemons-'));
    const a = await home('a');
    await symlink(join(dir, 'a'), join(dir, 'alias'));
    const viaAlias = { workspacesDir: join(dir, 'alias', 'workspaces'), realWorkspacesDir: a.dirs.realWorkspacesDir };
    const d = await holder(join(dir, 'alias', 'workspaces', 'ws', 'lock'), 'mountie-daemon ws', 'lock');
    expect((await find(a.dirs, 'ws')).map((x) => x.pid)).toEqual([d.pid]);
    expect((await find(viaAlias, 'ws')).map((x) => x.pid)).toEqual([d.pid]);
    await unlink(join(a.ws, 'lock'));
    expect((await find(a.dirs, 'ws')).map((x) => [x.pid, x.holdsLock])).toEqual([[d.pid, true]]);
  });
});

describe('findHomeDaemons never reads cmdline or environ (item 7: they can hang on a wedged process)', () => {
  let dir = '';
  afterEach(async () => void (dir && (await rm(dir, { recursive: true, force: true }))));

  it('finds a daemon in a /proc whose cmdline and environ are FIFOs that would block any reader for ever', async () => {
    const { execFileSync } = await import('node:child_process');
    const { lstat, writeFile } = await import('node:fs/promises');
    const { devString } = await import('../../../src/sys/proc-fds.js');
    dir = await mkdtemp(join(tmpdir(), 'mountie-fakeproc-'));
    const wsDir = join(dir, 'home', 'workspaces', 'ws');
    await mkdir(wsDir, { recursive: true });
    await writeFile(join(wsDir, 'lock'), '');
    const st = await lstat(join(wsDir, 'lock'));
    const proc = join(dir, 'proc');
    const p = join(proc, '4242');
    await mkdir(join(p, 'fd'), { recursive: true });
    await mkdir(join(p, 'fdinfo'));
    await writeFile(join(p, 'stat'), '4242 (mountie-daemon ) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n');
    await symlink(join(wsDir, 'lock'), join(p, 'fd', '9'));
    await writeFile(join(p, 'fdinfo', '9'), `pos:\t0\nflags:\t0\nmnt_id:\t1\nino:\t${st.ino}\nlock:\t1: FLOCK  ADVISORY  WRITE 4242 ${devString(st.dev)}:${st.ino} 0 EOF\n`);
    execFileSync('mkfifo', [join(p, 'cmdline'), join(p, 'environ')]);
    const procs = scanProcStats(proc);
    const found = await findHomeDaemons(procs, { workspacesDir: join(dir, 'home', 'workspaces'), realWorkspacesDir: await realpath(join(dir, 'home', 'workspaces')) }, [], { procRoot: proc, ws: 'ws' });
    expect(found).toEqual([expect.objectContaining({ pid: 4242, startTime: 777, workspace: 'ws', holdsLock: true })]);
  }, 10_000);
});

describe('findHomeDaemons and PID 1 (issue 18: a container\'s entrypoint is PID 1 of its pid namespace)', () => {
  let dir = '';
  afterEach(async () => void (dir && (await rm(dir, { recursive: true, force: true }))));

  /** A fake /proc holding one process, pid 1, with `comm` and fd 9 open on `target` (locked when `locked`). */
  async function fakeInit(root: string, comm: string, target: string, locked: boolean): Promise<string> {
    const { lstat, writeFile } = await import('node:fs/promises');
    const { devString } = await import('../../../src/sys/proc-fds.js');
    const st = await lstat(target);
    const p = join(root, '1');
    await mkdir(join(p, 'fd'), { recursive: true });
    await mkdir(join(p, 'fdinfo'));
    await writeFile(join(p, 'stat'), `1 (${comm}) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0\n`);
    await symlink(target, join(p, 'fd', '9'));
    const lock = locked ? `lock:\t1: FLOCK  ADVISORY  WRITE 1 ${devString(st.dev)}:${st.ino} 0 EOF\n` : '';
    await writeFile(join(p, 'fdinfo', '9'), `pos:\t0\nflags:\t0\nmnt_id:\t1\nino:\t${st.ino}\n${lock}`);
    return root;
  }

  it('takes PID 1 for the daemon on the same proof as any pid (marker + our lock file), and only on it', async () => {
    const { writeFile } = await import('node:fs/promises');
    dir = await mkdtemp(join(tmpdir(), 'mountie-fakeinit-'));
    const workspaces = join(dir, 'home', 'workspaces');
    await mkdir(join(workspaces, 'ws'), { recursive: true });
    await writeFile(join(workspaces, 'ws', 'lock'), '');
    await writeFile(join(dir, 'other-lock'), '');
    const dirs = { workspacesDir: workspaces, realWorkspacesDir: await realpath(workspaces) };
    const lock = join(dirs.realWorkspacesDir, 'ws', 'lock');
    const run = async (root: string) => findHomeDaemons(scanProcStats(root), dirs, [], { procRoot: root, ws: 'ws', selfPid: 999_999 });
    const daemon = await fakeInit(join(dir, 'p-daemon'), 'mountie-daemon ', lock, true);
    expect(await run(daemon)).toEqual([expect.objectContaining({ pid: 1, startTime: 555, workspace: 'ws', holdsLock: true, pgrp: 1, sid: 1 })]);
    // A machine's init (or a container's shell) with our lock file open but no marker; a marked PID 1 without it.
    expect(await run(await fakeInit(join(dir, 'p-unmarked'), 'systemd', lock, true))).toEqual([]);
    expect(await run(await fakeInit(join(dir, 'p-elsewhere'), 'mountie-daemon ', join(dir, 'other-lock'), true))).toEqual([]);
  }, 10_000);
});
