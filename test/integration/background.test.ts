import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, isMounted, pidsLabelled, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit, waitForOutput } from '../helpers/cli.js';
import { setupWorkspace, daemonsOf, lockHeld, logOf, pidfileOf } from '../helpers/daemons.js';
import { identityOf } from '../../src/sys/proc.js';
import { mountAt, readMountInfo } from '../../src/sys/mountinfo.js';

const setup = setupWorkspace;

async function gone(pid: number): Promise<boolean> {
  return (await identityOf(pid)) === undefined;
}

describe('mount --background', () => {
  afterEach(reapAll);

  it('returns 0 once the mount is usable; the pidfile names the live daemon', async () => {
    const { home, src, mp } = await setup();
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { pid: number; mountpoint: string };
    expect(doc.mountpoint).toBe(mp);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    const pf = await pidfileOf(home, 'ws');
    const id = await identityOf(doc.pid);
    expect(pf?.pid).toBe(doc.pid);
    expect(pf?.startTime).toBe(id?.startTime);
    expect(pf?.bootId).toBe(id?.bootId);
    // The child entry every kind's daemon runs, with the module that defines mountie's passthrough.
    expect(pf?.argv.slice(1, 4).map((a) => a.replace(/^.*\//, ''))).toEqual(['daemon-child.js', 'daemon.js', 'ws']);
    expect(await daemonsOf(home, 'ws')).toEqual([doc.pid]);
    // comm is exactly the marker (pgrep -x finds it); the title keeps the workspace.
    expect(await readFile(`/proc/${doc.pid}/comm`, 'utf8')).toBe('mountie-daemon\n');
    expect((await readFile(`/proc/${doc.pid}/cmdline`, 'utf8')).split('\0')[0]).toBe('mountie-daemon ws');
    const pgrep = await execa('pgrep', ['-x', 'mountie-daemon'], { reject: false });
    expect(pgrep.stdout.split('\n').map(Number)).toContain(doc.pid);
  });

  it('20 concurrent starts give exactly one daemon; the others exit 3 naming it (10 rounds)', async () => {
    const { home, src } = await setup();
    await runCli(home, ['mount', 'ws', '--source', src, '--background']).then((r) => expect(r.exitCode, r.stderr).toBe(0));
    await runCli(home, ['stop', 'ws']).then((r) => expect(r.exitCode, r.stdout).toBe(0));
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 20 }, () => runCli(home, ['mount', 'ws', '--background'], { timeoutMs: 60_000 })));
      const winners = results.filter((r) => r.exitCode === 0);
      const losers = results.filter((r) => r.exitCode !== 0);
      expect(winners.length, results.map((r) => `${r.exitCode} ${r.stderr}`).join('\n')).toBe(1);
      const daemons = await daemonsOf(home, 'ws');
      expect(daemons).toHaveLength(1);
      for (const l of losers) {
        expect(l.exitCode, l.stderr).toBe(3);
        expect(l.stderr).toContain(`pid ${daemons[0]}`);
      }
      const stop = await runCli(home, ['stop', 'ws']);
      expect(stop.exitCode, stop.stdout).toBe(0);
      expect(await daemonsOf(home, 'ws')).toEqual([]);
    }
  }, 400_000);

  it('a daemon of the workspace that has the lock file open but holds no lock does not refuse a start; its lock decides', async () => {
    const { home, src } = await setup();
    await runCli(home, ['mount', 'ws', '--source', src, '--background']).then((r) => expect(r.exitCode, r.stderr).toBe(0));
    await runCli(home, ['stop', 'ws']).then((r) => expect(r.exitCode, r.stdout).toBe(0));
    // What a losing daemon of a concurrent start looks like while it names the holder: marked,
    // the lock file open, no lock. Launches used to be refused in its name (exit 3, the wrong pid).
    const loser = spawnTracked(process.execPath, ['-e', `process.title = 'mountie-daemon ws'; require('node:fs').openSync(process.argv[1], 'r'); process.stdout.write('open\\n'); setInterval(() => {}, 1000);`, join(home, 'workspaces', 'ws', 'lock')], { env: { ...process.env, MOUNTIE_HOME: home } });
    await waitForOutput(loser, /open/);
    const r = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const pid = (JSON.parse(r.stdout) as { pid: number }).pid;
    expect(pid).not.toBe(loser.pid);
    expect(await lockHeld(home, 'ws')).toBe(true);
    // A second start is refused in the name of the daemon that holds the lock.
    const again = await runCli(home, ['mount', 'ws', '--background']);
    expect(again.exitCode, again.stderr).toBe(3);
    expect(again.stderr).toContain(`pid ${pid}`);
    loser.kill('SIGKILL');
    await waitFor('the look-alike gone', async () => ((await gone(loser.pid ?? 0)) ? true : undefined));
    await runCli(home, ['stop', 'ws']).then((r) => expect(r.exitCode, r.stdout).toBe(0));
  });

  it('after SIGKILL of the daemon the next start cleans the stale mount', async () => {
    const { home, src, mp } = await setup();
    const first = JSON.parse((await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'])).stdout) as { pid: number };
    process.kill(first.pid, 'SIGKILL');
    await waitFor('daemon death', async () => ((await gone(first.pid)) ? true : undefined));
    expect(await isMounted(mp)).toBe(true); // the stale mount the dead daemon left
    const again = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as { pid: number };
    expect(second.pid).not.toBe(first.pid);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await readMountInfo()).filter((e) => e.mountPoint === mp)).toHaveLength(1);
    expect(await logOf(home, 'ws')).toMatch(/stale mount at .* cleaned: true/);
  });

  it('a daemon that cannot mount makes the launcher exit 4 with its error, leaving no process', async () => {
    const { home, src, mp } = await setup();
    const launcher = spawnTracked(process.execPath, [CLI, 'mount', 'ws', '--source', src, '--background'], {
      env: { ...process.env, MOUNTIE_HOME: home, MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '1500' },
    });
    let stderr = '';
    launcher.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // Make the mountpoint unusable while the daemon waits between pidfile and mount.
    await waitFor('pidfile', () => pidfileOf(home, 'ws'));
    await rmdir(mp);
    await writeFile(mp, 'not a directory');
    const { code } = await waitExit(launcher, 20_000);
    expect(code, stderr).toBe(4);
    expect(stderr).toMatch(/not a directory/i);
    expect(stderr).toContain('daemon.log');
    expect(await daemonsOf(home)).toEqual([]);
    expect(await pidfileOf(home, 'ws')).toBeUndefined();
    expect(await lockHeld(home, 'ws')).toBe(false);
  });

  it('kill -9 of the launcher at varied moments leaves at most one daemon, fully started or gone (20 times)', async () => {
    const { home, src, mp } = await setup();
    await runCli(home, ['mount', 'ws', '--source', src, '--background']).then((r) => expect(r.exitCode, r.stderr).toBe(0));
    await runCli(home, ['stop', 'ws']);
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const launcher = spawnTracked(process.execPath, [CLI, 'mount', 'ws', '--background'], { env: { ...process.env, MOUNTIE_HOME: home } });
      // Spread over 0-1.6 s: before the spawn, mid-start and after READY, even on a slow machine.
      await new Promise((r) => setTimeout(r, (i * 83) % 1600));
      launcher.kill('SIGKILL');
      await waitExit(launcher);
      // Settle: the daemon either finishes starting or exits by itself.
      const settled = await waitFor(
        'a settled workspace',
        async () => {
          const daemons = await daemonsOf(home, 'ws');
          if (daemons.length > 1) return 'two daemons';
          // Gone means gone: no process of this home at all (a daemon still exec'ing is not marked yet).
          if (daemons.length === 0) return (await isMounted(mp)) || (await pidsLabelled(home)).length > 0 ? undefined : 'gone';
          const pf = await pidfileOf(home, 'ws');
          return pf?.pid === daemons[0] && (await isMounted(mp)) && (await lockHeld(home, 'ws')) ? 'started' : undefined;
        },
        15_000,
      );
      expect(settled).not.toBe('two daemons');
      outcomes.push(settled);
      expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    }
    // A start must have completed at least once, or the delays never reached the daemon.
    expect(outcomes).toContain('started');
  }, 300_000);

  it('SIGTERM unmounts, removes the pidfile, frees the lock and exits 0', async () => {
    const { home, src, mp } = await setup();
    const { pid } = JSON.parse((await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'])).stdout) as { pid: number };
    process.kill(pid, 'SIGTERM');
    await waitFor('daemon exit', async () => ((await gone(pid)) ? true : undefined));
    expect(await isMounted(mp)).toBe(false);
    expect(await pidfileOf(home, 'ws')).toBeUndefined();
    expect(await lockHeld(home, 'ws')).toBe(false);
    expect(await readdir(mp)).toEqual([]);
    expect(await logOf(home, 'ws')).toMatch(/shutdown complete: exit 0/);
  });

  it('a fatal error runs the same cleanup, exits non-zero and logs the stack', async () => {
    const { home, src, mp } = await setup();
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env: { MOUNTIE_TEST_FAULT: 'throw-on-usr2' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const { pid } = JSON.parse(r.stdout) as { pid: number };
    await waitFor('fault armed', async () => ((await logOf(home, 'ws')).includes('on SIGUSR2') ? true : undefined));
    process.kill(pid, 'SIGUSR2');
    await waitFor('daemon exit', async () => ((await gone(pid)) ? true : undefined));
    const log = await logOf(home, 'ws');
    expect(log).toMatch(/fatal uncaughtException: Error: injected fault/);
    expect(log).toMatch(/\n\s+at /); // a stack, not just the message
    expect(log).toMatch(/shutdown complete: exit 1/);
    expect(await isMounted(mp)).toBe(false);
    expect(mountAt(await readMountInfo(), mp)).toBeUndefined();
    expect(await pidfileOf(home, 'ws')).toBeUndefined();
    expect(await lockHeld(home, 'ws')).toBe(false);
  });
});

/** The steps a command traced (MOUNTIE_TRACE=1, src/sys/trace.ts): the labels, in order. */
function traced(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('mountie-trace '))
    .map((l) => l.split(' ').slice(4).join(' '));
}

describe('the process table at launch and stop (BENCHMARKS.md, issue 18)', () => {
  afterEach(reapAll);

  it('a launch reads no process table while the workspace lock is free; a held lock is still named by its holder', async () => {
    const { home, src } = await setup();
    expect((await runCli(home, ['mount', 'ws', '--source', src, '--background'])).exitCode).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const again = await runCli(home, ['mount', 'ws', '--background', '--json'], { env: { MOUNTIE_TRACE: '1' } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(traced(again.stderr)).not.toContain('scan');
    const pid = (JSON.parse(again.stdout) as { pid: number }).pid;
    const refused = await runCli(home, ['mount', 'ws', '--background'], { env: { MOUNTIE_TRACE: '1' } });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`pid ${pid}`);
    expect(traced(refused.stderr)).toContain('scan');
  });
});
