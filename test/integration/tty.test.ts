/**
 * What a terminal gets and a pipe does not. Through pipes (as scripts run it): no ANSI code, no
 * carriage return, and status lines exactly as before. Through a pty (`script`): status as a
 * table with a header, coloured unless NO_COLOR=1; a progress line on stderr while mount waits
 * for its daemon and while stop waits out the grace period (naming the pid). --quiet prints
 * nothing when all went well. The man page is what the help says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, REPO, reapAll } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { setupWorkspace } from '../helpers/daemons.js';
import { shJoin } from '../../src/sys/shell.js';

afterEach(reapAll);

/** Run the CLI on a pseudo-terminal (util-linux script); returns what the terminal showed. */
async function onPty(home: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ exitCode: number | undefined; text: string }> {
  const r = await execa('script', ['-qec', shJoin([process.execPath, CLI, ...args]), '/dev/null'], {
    env: { ...process.env, MOUNTIE_HOME: home, TERM: 'xterm', NO_COLOR: undefined, ...env },
    reject: false,
    timeout: 60_000,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode, text: r.stdout };
}

const ESC = '\x1b';

describe('terminal output', () => {
  it('through pipes: no ANSI codes or carriage returns from mount, status, stop; status lines as before', async () => {
    const { home, src, mp } = await setupWorkspace();
    const outs: string[] = [];
    const mount = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env: { MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '800' } });
    expect(mount.exitCode, mount.stderr).toBe(0);
    outs.push(mount.stdout, mount.stderr);
    const status = await runCli(home, ['status']);
    outs.push(status.stdout, status.stderr);
    expect(status.stdout).toMatch(new RegExp(`^ws  running\\(pid=\\d+\\)  ${mp}  up \\d+s  cursor=\\d+  state=active  log=${home}/workspaces/ws/daemon.log$`));
    const stop = await runCli(home, ['stop', 'ws']);
    outs.push(stop.stdout, stop.stderr);
    for (const o of outs) {
      expect(o).not.toContain(ESC);
      expect(o).not.toContain('\r');
    }
  });

  it('on a pty: status is a table with a header, its status coloured; NO_COLOR=1 keeps the table without colour', async () => {
    const { home, src } = await setupWorkspace();
    expect((await runCli(home, ['mount', 'ws', '--source', src, '--background'])).exitCode).toBe(0);
    const coloured = await onPty(home, ['status']);
    expect(coloured.exitCode).toBe(0);
    expect(coloured.text).toMatch(/WORKSPACE.*STATUS.*MOUNTPOINT.*UPTIME/);
    expect(coloured.text).toContain(`${ESC}[32mrunning(pid=`);
    const plain = await onPty(home, ['status'], { NO_COLOR: '1' });
    expect(plain.text).toMatch(/^WORKSPACE {2}STATUS/);
    expect(plain.text).not.toContain(ESC);
  });

  it('on a pty: a progress line while mount waits for its daemon and while stop waits out the grace period, naming the pid', async () => {
    const { home, src } = await setupWorkspace();
    const mount = await onPty(home, ['mount', 'ws', '--source', src, '--background'], { MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '1000', MOUNTIE_TEST_IGNORE_SIGTERM: '1' });
    expect(mount.exitCode, mount.text).toBe(0);
    expect(mount.text).toMatch(new RegExp(`\r${ESC}\\[Kstarting ws: waiting for the daemon to mount .* \\(\\d+\\.\\d s\\)`));
    expect(mount.text).toContain(`\r${ESC}[Kmounted ws at `);
    const pid = /pid=(\d+)/.exec(mount.text)?.[1];
    // The daemon ignores SIGTERM (test hook): stop waits the whole grace, then kills it.
    const stop = await onPty(home, ['stop', 'ws', '--grace', '1500']);
    expect(stop.text).toContain(`stopping ws: waiting for pid ${pid} to exit after SIGTERM (up to 1.5 s)`);
    expect(stop.text).toMatch(/killed by SIGKILL after the grace period/);
  });

  it('--quiet: mount --background and stop print nothing when all went well', async () => {
    const { home, src } = await setupWorkspace();
    const mount = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--quiet']);
    expect(mount).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const stop = await runCli(home, ['stop', 'ws', '-q']);
    expect(stop).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  it('man/mountie.1 is what the help says (npm run man regenerates it)', async () => {
    const r = await execa(process.execPath, ['scripts/man.mjs', '--check'], { cwd: REPO, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
  });
});
