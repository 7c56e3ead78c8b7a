/**
 * Issue 9, items 12 and 13: stop finishes what it starts, and status tells the truth.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';
import { identityOf } from '../../src/sys/proc.js';

async function startBg(home: string, ws: string, args: string[]): Promise<number> {
  const r = await runCli(home, ['mount', ws, ...args, '--background', '--json']);
  expect(r.exitCode, r.stderr + r.stdout).toBe(0);
  return (JSON.parse(r.stdout) as { pid: number }).pid;
}

describe('status tells the truth; stop finishes what it starts', () => {
  const binds: string[] = [];
  afterEach(async () => {
    for (const b of binds.splice(0).reverse()) {
      try {
        execFileSync('umount', ['-l', b], { stdio: 'ignore' });
      } catch {
        // Already unmounted.
      }
    }
    await reapAll();
  });

  it('a corrupt workspace.json is reported the same by status and status <ws>, exit 1 (item 13)', async () => {
    const { home } = await setupWorkspace();
    await mkdir(join(home, 'workspaces', 'ws'), { recursive: true });
    await writeFile(join(home, 'workspaces', 'ws', 'workspace.json'), '{"schema": "mountie.workspace/v1", ');
    const one = await runCli(home, ['status', 'ws']);
    const all = await runCli(home, ['status']);
    expect(one.exitCode, one.stderr).toBe(1);
    expect(all.exitCode, all.stderr).toBe(1);
    expect(one.stdout).toBe(all.stdout);
    expect(one.stdout).toMatch(/^ws\s+stopped\s+config=corrupt\s+log=\S+daemon\.log$/);
  });

  it('a newline in a mountpoint cannot split a status line (item 13)', async () => {
    const { home, src } = await setupWorkspace();
    await startBg(home, 'ws', ['--source', src, '--at', join(home, 'odd\nname')]);
    const r = await runCli(home, ['status']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stdout).toContain(JSON.stringify(join(home, 'odd\nname')));
  });

  it('a read-only workspace directory: stop still kills, cleans the mount, and reports what it could not remove (item 12)', async () => {
    const { home, src, mp } = await setupWorkspace();
    const pid = await startBg(home, 'ws', ['--source', src]);
    process.kill(pid, 'SIGKILL');
    await waitFor('daemon gone', async () => ((await identityOf(pid)) ? undefined : true));
    const dir = join(home, 'workspaces', 'ws');
    execFileSync('mount', ['--bind', dir, dir]);
    binds.push(dir);
    execFileSync('mount', ['-o', 'remount,ro,bind', dir]);
    const stop = await runCli(home, ['stop', 'ws', '--json']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const doc = JSON.parse(stop.stdout) as { workspaces: { cleaned: { mount: boolean; pidfile: boolean }; notes: string[] }[] };
    expect(doc.workspaces[0]?.cleaned.mount).toBe(true);
    expect(doc.workspaces[0]?.notes.join('\n')).toMatch(/could not remove the stale pidfile/);
    expect(await isMounted(mp)).toBe(false);
  });

  it('stop --all goes on past a workspace it cannot fully stop (item 12)', async () => {
    const { home, src } = await setupWorkspace();
    await mkdir(join(home, 'src2'));
    const a = await startBg(home, 'aa', ['--source', src]);
    const b = await startBg(home, 'bb', ['--source', join(home, 'src2')]);
    // aa's directory goes read-only: its cleanup notes failures; bb is still stopped.
    process.kill(a, 'SIGKILL');
    await waitFor('aa gone', async () => ((await identityOf(a)) ? undefined : true));
    const dir = join(home, 'workspaces', 'aa');
    execFileSync('mount', ['--bind', dir, dir]);
    binds.push(dir);
    execFileSync('mount', ['-o', 'remount,ro,bind', dir]);
    const stop = await runCli(home, ['stop', '--all']);
    expect(stop.stdout).toContain(`bb: pid ${b} stopped by SIGTERM`);
    expect(await daemonsOf(home)).toEqual([]);
  });
});
