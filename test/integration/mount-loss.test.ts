import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isMounted, reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli, startForeground, waitExit, waitForOutput } from '../helpers/cli.js';
import { daemonsOf, logOf, setupWorkspace } from '../helpers/daemons.js';
import { abortConnection } from '../../src/sys/fusermount.js';
import { mountAt, readMountInfo } from '../../src/sys/mountinfo.js';
import { identityOf } from '../../src/sys/proc.js';

const run = promisify(execFile);

/** Item 9 of issue 9: a daemon notices its mount is gone, and a broken stdio never kills or spins it. */
describe('daemon: mount loss and broken stdio', () => {
  afterEach(reapAll);

  it('an external fusermount -uz ends the daemon (exit 1, state failed); status is not running; the next mount works', async () => {
    const { home, src, mp } = await setupWorkspace();
    const env = { MOUNTIE_MOUNT_WATCH_MS: '200' };
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    const { pid } = JSON.parse(r.stdout) as { pid: number };
    await run('fusermount', ['-uz', '--', mp]);
    // 2 polls of 200 ms plus the shutdown; bounded generously for a loaded 2-core machine.
    await waitFor('daemon exit', async () => ((await identityOf(pid)) === undefined || (await daemonsOf(home, 'ws')).length === 0 ? true : undefined), 15_000);
    expect(await logOf(home, 'ws')).toMatch(/unmounted externally/);
    const state = JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'state.json'), 'utf8')) as { status: string; reason?: string };
    expect(state).toMatchObject({ status: 'failed', reason: 'unmounted externally' });
    const st = await runCli(home, ['status', 'ws', '--json']);
    expect(st.stdout).not.toMatch(/"running/);
    expect(st.exitCode).not.toBe(0);
    expect(await readdir(mp)).toEqual([]);
    const again = await runCli(home, ['mount', 'ws', '--background'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it('a FUSE connection aborted under a live daemon: the daemon notices, cleans its dead mount and exits; status never says running', async () => {
    const { home, src, mp } = await setupWorkspace();
    const env = { MOUNTIE_MOUNT_WATCH_MS: '200' };
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    const { pid } = JSON.parse(r.stdout) as { pid: number };
    const entry = mountAt(await readMountInfo(), mp);
    expect(entry).toBeDefined();
    // Our own mount's connection (created by this test), as a recycled connection number once hit a live one.
    expect(await abortConnection(entry!)).toBe(true);
    await waitFor('daemon exit', async () => ((await identityOf(pid)) === undefined ? true : undefined), 15_000);
    expect(await logOf(home, 'ws')).toMatch(/the FUSE session ended/);
    expect(await isMounted(mp)).toBe(false);
    const st = await runCli(home, ['status', 'ws']);
    expect(st.stdout).not.toMatch(/running/);
    const again = await runCli(home, ['mount', 'ws', '--background'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it('foreground daemon whose stdout/stderr pipes were closed: SIGHUP unmounts and exits 0, the log stays small', async () => {
    const { home, src, mp } = await setupWorkspace();
    const child = startForeground(home, ['ws', '--source', src]);
    await waitForOutput(child, /press Ctrl-C/);
    expect(await isMounted(mp)).toBe(true);
    // The terminal goes away: our ends of its stdout/stderr close, its next writes get EPIPE.
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.kill('SIGHUP');
    const end = await waitExit(child, 20_000);
    expect(end).toEqual({ code: 0, signal: null });
    expect(await isMounted(mp)).toBe(false);
    const size = (await stat(join(home, 'workspaces', 'ws', 'daemon.log'))).size;
    expect(size).toBeLessThan(1_000_000);
  }, 60_000);
});
