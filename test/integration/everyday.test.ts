/** Issue 12, items 2 and 3: restart, forget, start, umount/unmount, exit codes scripts can trust, --reconfigure. */
import { afterEach, describe, expect, it } from 'vitest';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';
import { identityOf } from '../../src/sys/proc.js';

interface ErrorDoc {
  schema: string;
  exitCode: number;
  error: { code: string; message: string; hint?: string; data: Record<string, unknown> };
}

const exists = (p: string): Promise<boolean> => lstat(p).then(() => true, () => false);

async function startBg(home: string, args: string[] = []): Promise<number> {
  const r = await runCli(home, ['mount', 'ws', ...args, '--background', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { pid: number }).pid;
}

describe('restart', () => {
  afterEach(reapAll);

  it('stops the daemon and starts a new one with the stored config; says both (mountie.restart/v1)', async () => {
    const { home, src, mp } = await setupWorkspace();
    const old = await startBg(home, ['--source', src]);
    const r = await runCli(home, ['restart', 'ws', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { schema: string; ok: boolean; stop: { processes: { pid: number; ended: string }[] }; mount: { pid: number; mountpoint: string } };
    expect(doc).toMatchObject({ schema: 'mountie.restart/v1', ok: true, stop: { processes: [{ pid: old, ended: 'TERM' }] }, mount: { mountpoint: mp } });
    expect(doc.mount.pid).not.toBe(old);
    expect(await daemonsOf(home, 'ws')).toEqual([doc.mount.pid]);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    const text = await runCli(home, ['restart', 'ws']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ws: pid ${doc.mount.pid} stopped by SIGTERM\\nws: mounted at ${mp} \\(pid=\\d+\\)`));
  });

  it('a stopped workspace is started; an unknown one exits 4 and nothing is created', async () => {
    const { home, src, mp } = await setupWorkspace();
    await startBg(home, ['--source', src]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const r = await runCli(home, ['restart', 'ws']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ws: no daemon was running\nws: mounted at/);
    expect(await isMounted(mp)).toBe(true);
    const before = await readdir(join(home, 'workspaces'));
    const u = await runCli(home, ['restart', 'nope', '--json']);
    expect(u.exitCode).toBe(4);
    expect((JSON.parse(u.stdout) as ErrorDoc).error.code).toBe('ERR_UNKNOWN_WORKSPACE');
    expect(await readdir(join(home, 'workspaces'))).toEqual(before);
  });

  it('a start that fails after the stop exits 4 with the error and what was stopped', async () => {
    const { home, src } = await setupWorkspace();
    const old = await startBg(home, ['--source', src]);
    const r = await runCli(home, ['restart', 'ws', '--ready-timeout', '300', '--json'], { env: { MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '5000' } });
    expect(r.exitCode).toBe(4);
    const doc = JSON.parse(r.stdout) as ErrorDoc;
    expect(doc.error.code).toBe('ERR_START_TIMEOUT');
    expect(doc.error.message).toContain(`stopped pid ${old}`);
    await waitFor('no daemon', async () => ((await daemonsOf(home, 'ws')).length === 0 ? true : undefined));
  });
});

describe('forget', () => {
  afterEach(reapAll);

  it('refuses a running workspace (exit 3, nothing removed); after stop removes its files and default mountpoint, never the source', async () => {
    const { home, src, mp } = await setupWorkspace();
    await startBg(home, ['--source', src]);
    const wsDir = join(home, 'workspaces', 'ws');
    const busy = await runCli(home, ['forget', 'ws', '--json']);
    expect(busy.exitCode).toBe(3);
    expect((JSON.parse(busy.stdout) as ErrorDoc).error.code).toBe('ERR_WORKSPACE_ACTIVE');
    expect((await readdir(wsDir)).sort()).toEqual(['daemon.log', 'daemon.pid', 'epoch', 'lock', 'state.json', 'workspace.json']);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const r = await runCli(home, ['forget', 'ws', '--json']);
    expect(r.exitCode, r.stdout).toBe(0);
    const doc = JSON.parse(r.stdout) as { schema: string; ok: boolean; removed: string[]; kept: { path: string }[]; left: unknown[] };
    expect(doc).toMatchObject({ schema: 'mountie.forget/v1', ok: true, left: [] });
    expect(doc.removed).toEqual(expect.arrayContaining([wsDir, mp, join(wsDir, 'workspace.json'), join(wsDir, 'lock')]));
    expect(doc.kept.map((k) => k.path)).toEqual([src]);
    expect(await exists(wsDir)).toBe(false);
    expect(await exists(mp)).toBe(false);
    expect(await readFile(join(src, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await runCli(home, ['status', 'ws'])).exitCode).toBe(4);
    // Forgotten means new: the next mount needs --source again.
    expect((await runCli(home, ['mount', 'ws', '--json'])).exitCode).toBe(2);
    const again = await runCli(home, ['forget', 'ws', '--json']);
    expect(again.exitCode).toBe(4);
  });

  it('refuses a stale mount (exit 3) until stop cleaned it', async () => {
    const { home, src, mp } = await setupWorkspace();
    const pid = await startBg(home, ['--source', src]);
    process.kill(pid, 'SIGKILL');
    await waitFor('daemon death', async () => ((await identityOf(pid)) === undefined ? true : undefined));
    const r = await runCli(home, ['forget', 'ws', '--json']);
    expect(r.exitCode).toBe(3);
    expect((JSON.parse(r.stdout) as ErrorDoc).error.message).toMatch(/still mounted/);
    expect(await isMounted(mp)).toBe(true);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect((await runCli(home, ['forget', 'ws'])).exitCode).toBe(0);
  });

  it('leaves what it does not own: a file it never makes, a non-empty mountpoint, a --at mountpoint; exit 1 names them', async () => {
    const { home, src } = await setupWorkspace();
    const at = join(home, 'mine');
    await startBg(home, ['--source', src, '--at', at]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    await writeFile(join(home, 'workspaces', 'ws', 'notes.txt'), 'mine');
    const r = await runCli(home, ['forget', 'ws']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`kept ${at} (a mountpoint chosen with --at`);
    expect(r.stdout).toMatch(/LEFT .*notes\.txt: not a file mountie makes/);
    expect(await readFile(join(home, 'workspaces', 'ws', 'notes.txt'), 'utf8')).toBe('mine');
    expect(await exists(join(home, 'workspaces', 'ws', 'workspace.json'))).toBe(false);
    expect(await exists(at)).toBe(true);
  });

  it('never follows a symlink: a symlinked workspace dir is refused (exit 2), a symlinked log is removed as a link', async () => {
    const { home, src } = await setupWorkspace();
    await startBg(home, ['--source', src]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const target = join(home, 'precious.log');
    await writeFile(target, 'keep me\n');
    const log = join(home, 'workspaces', 'ws', 'daemon.log');
    const { rm } = await import('node:fs/promises');
    await rm(log);
    await symlink(target, log);
    // A second workspace whose directory is a symlink to a directory with files.
    const elsewhere = join(home, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, 'workspace.json'), '{}');
    await symlink(elsewhere, join(home, 'workspaces', 'other'));
    const bad = await runCli(home, ['forget', 'other', '--json']);
    expect(bad.exitCode).toBe(2);
    expect((JSON.parse(bad.stdout) as ErrorDoc).error.code).toBe('ERR_SYMLINK_REFUSED');
    expect(await readdir(elsewhere)).toEqual(['workspace.json']);
    expect((await runCli(home, ['forget', 'ws'])).exitCode).toBe(0);
    expect(await readFile(target, 'utf8')).toBe('keep me\n');
  });
});

describe('aliases and exit codes', () => {
  afterEach(reapAll);

  it('start is mount --background; umount and unmount are stop', async () => {
    const { home, src, mp } = await setupWorkspace();
    const s = await runCli(home, ['start', 'ws', '--source', src, '--json']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ schema: 'mountie.mount/v1', mountpoint: mp });
    const u = await runCli(home, ['umount', 'ws', '--json']);
    expect(u.exitCode, u.stdout).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ schema: 'mountie.stop/v1', ok: true });
    expect(await isMounted(mp)).toBe(false);
    expect((await runCli(home, ['start', 'ws'])).exitCode).toBe(0);
    expect((await runCli(home, ['unmount', 'ws'])).exitCode).toBe(0);
    expect(await daemonsOf(home, 'ws')).toEqual([]);
  });

  it('stop of a never-configured workspace exits 4 like status; of a stopped known one 0', async () => {
    const { home, src } = await setupWorkspace();
    const r = await runCli(home, ['stop', 'nope', '--json']);
    expect(r.exitCode).toBe(4);
    expect((JSON.parse(r.stdout) as ErrorDoc).error.code).toBe('ERR_UNKNOWN_WORKSPACE');
    expect(await exists(join(home, 'workspaces', 'nope'))).toBe(false);
    await startBg(home, ['--source', src]);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  });

  it('a conflicting flag names the flag; --reconfigure changes a stopped workspace, not a running one', async () => {
    const { home, src, mp } = await setupWorkspace();
    await startBg(home, ['--source', src, '--read-only']);
    const cfg = join(home, 'workspaces', 'ws', 'workspace.json');
    const running = await runCli(home, ['mount', 'ws', '--no-read-only', '--reconfigure', '--json']);
    expect(running.exitCode).toBe(3);
    expect(JSON.parse(await readFile(cfg, 'utf8'))).toMatchObject({ readOnly: true });
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const c = await runCli(home, ['mount', 'ws', '--no-read-only', '--json']);
    expect(c.exitCode).toBe(2);
    const e = JSON.parse(c.stdout) as ErrorDoc;
    expect(e.error.code).toBe('ERR_CONFIG_CONFLICT');
    expect(e.error.data.option).toBe('--no-read-only');
    expect(e.error.message).not.toMatch(/readOnly/);
    expect(e.error.hint).toContain('--reconfigure --no-read-only');
    const t = await runCli(home, ['mount', 'ws', '--source', join(home, 'mnt')]);
    expect(t.stderr).toMatch(/configured with --source/);
    const r = await runCli(home, ['mount', 'ws', '--no-read-only', '--reconfigure', '--background']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('new options stored');
    expect(JSON.parse(await readFile(cfg, 'utf8'))).toMatchObject({ readOnly: false, source: src });
    await writeFile(join(mp, 'new.txt'), 'written');
    expect(await readFile(join(src, 'new.txt'), 'utf8')).toBe('written');
  });
});
