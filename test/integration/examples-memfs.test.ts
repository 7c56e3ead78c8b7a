/**
 * examples/memfs end to end, through its own command (dist-examples/memfs/cli.js) as a user runs
 * it: mount → read through the mount → status → stop; kill -9 of the daemon → status names the
 * leftovers → stop (or a new mount) cleans them; bad options → exit 2, nothing written. Reads
 * happen in this test process (not the daemon), with async fs calls only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { alive, mountAtPath, mounted, runExample } from '../helpers/examples.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';

const TREE = { 'a.txt': 'alpha\n', docs: { 'b.md': '# B\n', empty: {} } };
const errnoOf = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (err as { code?: string }).code);

async function mountWs(home: string, ws = 'ws'): Promise<{ pid: number; mountpoint: string }> {
  const r = await runExample('memfs', home, ['mount', ws, '--tree', JSON.stringify(TREE)]);
  expect(r.exitCode, r.stderr).toBe(0);
  return mounted(r);
}

describe('examples/memfs through its command', () => {
  afterEach(reapAll);

  it('mount serves the tree read-only; status shows running(pid=N); stop ends it and unmounts', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    expect(mountpoint).toBe(join(home, 'mnt', 'ws'));

    expect(await readFile(join(mountpoint, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(await readFile(join(mountpoint, 'docs', 'b.md'), 'utf8')).toBe('# B\n');
    expect((await readdir(mountpoint)).sort()).toEqual(['a.txt', 'docs']);
    expect(await readdir(join(mountpoint, 'docs', 'empty'))).toEqual([]);
    expect(await errnoOf(readFile(join(mountpoint, 'nope')))).toBe('ENOENT');
    expect(await errnoOf(writeFile(join(mountpoint, 'a.txt'), 'x'))).toBe('EROFS');
    expect(await errnoOf(writeFile(join(mountpoint, 'new.txt'), 'x'))).toBe('EROFS');
    expect(await errnoOf(mkdir(join(mountpoint, 'd')))).toBe('EROFS');

    // Its own kind: mount type, tag and process marker.
    const entry = await mountAtPath(mountpoint);
    expect(entry?.fstype).toBe('fuse.memfs');
    expect(entry?.source).toMatch(/^memfs:ws@/);
    expect(readProcStat(pid)?.comm).toBe('memfs-daemon'); // exactly the marker; the workspace is in the title

    const st = await runExample('memfs', home, ['status']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.stdout).toBe(`ws  running(pid=${pid})  ${mountpoint}`);
    const again = await runExample('memfs', home, ['mount', 'ws']);
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toMatch(/ERR_WORKSPACE_LOCKED/);

    // Another kind (mountie's own command, pointed at the same directory) never signals it.
    await runCli(home, ['stop', 'ws']);
    expect(alive(pid)).toBe(true);
    expect(await mountAtPath(mountpoint)).toBeDefined();

    const stop = await runExample('memfs', home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`ws: pid ${pid} ended by TERM`);
    expect(alive(pid)).toBe(false);
    expect(await mountAtPath(mountpoint)).toBeUndefined();
    expect((await runExample('memfs', home, ['status'])).stdout).toBe(`ws  stopped  ${mountpoint}`);

    // Another tree for a stored workspace is a conflict (exit 2, nothing changed); a later mount reuses the stored tree.
    const conflict = await runExample('memfs', home, ['mount', 'ws', '--tree', '{"other.txt": "x"}']);
    expect([conflict.exitCode, conflict.stderr]).toEqual([2, expect.stringMatching(/ERR_CONFIG_CONFLICT/)]);
    const { pid: pid2 } = mounted(await runExample('memfs', home, ['mount', 'ws']));
    expect(pid2).not.toBe(pid);
    expect(await readFile(join(mountpoint, 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('kill -9 of the daemon: status shows the stale pidfile and the stale mount; stop cleans them; so does a new mount', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    process.kill(pid, 'SIGKILL');
    await waitFor('the daemon to die', () => (alive(pid) ? undefined : true), 10_000);

    const st = await runExample('memfs', home, ['status', 'ws']);
    expect(st.exitCode).toBe(1);
    expect(st.stdout).toContain(`stale-pidfile(pid=${pid})`);
    expect(st.stdout).toContain('stale-mount');
    expect(await mountAtPath(mountpoint)).toBeDefined();

    const stop = await runExample('memfs', home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('ws: stale mount cleaned');
    expect(await mountAtPath(mountpoint)).toBeUndefined();
    const after = await runExample('memfs', home, ['status', 'ws']);
    expect([after.exitCode, after.stdout]).toEqual([0, `ws  stopped  ${mountpoint}`]);

    // Killed again: this time a new mount cleans up before it serves.
    const { pid: pid2 } = mounted(await runExample('memfs', home, ['mount', 'ws']));
    process.kill(pid2, 'SIGKILL');
    await waitFor('the daemon to die', () => (alive(pid2) ? undefined : true), 10_000);
    const { pid: pid3 } = mounted(await runExample('memfs', home, ['mount', 'ws']));
    expect(await readFile(join(mountpoint, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await runExample('memfs', home, ['status', 'ws'])).stdout).toBe(`ws  running(pid=${pid3})  ${mountpoint}`);
    expect((await mountAtPath(mountpoint))?.fstype).toBe('fuse.memfs');
  });

  it.each([
    ['a tree that is an array', ['--tree', '[1]']],
    ['a file name with a slash', ['--tree', '{"a/b": "x"}']],
    ['a file that is a number', ['--tree', '{"docs": {"n": 1}}']],
    ['no tree at all', []],
    ['JSON that does not parse', ['--tree', '{"a.txt": ']],
    ['an unknown flag', ['--trees', '{}']],
  ])('bad options (%s): exit 2 with ERR_INVALID_OPTION, nothing written, nothing started', async (_what, flags) => {
    const home = await makeHome();
    const r = await runExample('memfs', home, ['mount', 'ws', ...flags]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/ERR_INVALID_OPTION/);
    expect(await readdir(home, { recursive: true })).toEqual([]);
    expect((await runExample('memfs', home, ['status'])).stdout).toBe('');
    const stop = await runExample('memfs', home, ['stop', 'ws']);
    expect([stop.exitCode, stop.stdout]).toEqual([0, 'ws: nothing was running']);
    expect(await readdir(home, { recursive: true })).toEqual([]);
  });
});
