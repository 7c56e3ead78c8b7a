/**
 * Running under systemd, without systemd: the unit's own ExecStart (parsed from `mountie unit`)
 * runs a real foreground mount with NOTIFY_SOCKET pointing at a fake receiver
 * (test/fixtures/notify-receiver.py); READY=1 (with STATUS=) must arrive once the mount is
 * usable and STOPPING=1 after SIGTERM, in that order; then the unit's ExecStopPost finds nothing
 * left. And `unit --install` writes where systemd looks, never through a symlink or over a
 * unit that is not mountie's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, REPO, isMounted, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { startSlowFs } from '../helpers/slow-fs.js';
import { runCli, waitExit } from '../helpers/cli.js';
import { setupWorkspace } from '../helpers/daemons.js';
import { UNIT_TIMEOUT_STOP_SEC } from '../../src/systemd/unit.js';

afterEach(reapAll);

interface Notice {
  fields: string[];
  pid: number | null;
}

/** The fake NOTIFY_SOCKET; its notices as they arrive. */
async function startReceiver(home: string, sock: string): Promise<{ child: ChildProcess; notices: Notice[] }> {
  const child = spawnTracked('python3', [join(REPO, 'test/fixtures/notify-receiver.py'), sock], { env: { ...process.env, MOUNTIE_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  const notices: Notice[] = [];
  let buf = '';
  let bound = false;
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'bound') bound = true;
      else notices.push(JSON.parse(line) as Notice);
    }
  });
  await waitFor('the receiver to bind', () => (bound ? true : undefined), 10_000);
  return { child, notices };
}

/** The words of a `Key=` line of the unit; the test's paths need no quoting, so a quote means the parse would lie. */
function words(unit: string, key: string): string[] {
  const line = unit.split('\n').find((l) => l.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`no ${key}= in\n${unit}`);
  const value = line.slice(key.length + 1);
  if (/["\\$%]/.test(value)) throw new Error(`${key}= needs unquoting: ${value}`);
  return value.split(' ');
}

async function configured(): Promise<{ home: string; src: string; mp: string }> {
  const w = await setupWorkspace();
  const first = await runCli(w.home, ['mount', 'ws', '--source', w.src, '--background']);
  expect(first.exitCode, first.stderr).toBe(0);
  expect((await runCli(w.home, ['stop', 'ws'])).exitCode).toBe(0);
  return w;
}

describe('running under systemd', () => {
  it("the unit's ExecStart under a fake NOTIFY_SOCKET: READY=1 with STATUS once mounted, STOPPING=1 after SIGTERM, in order; ExecStopPost finds nothing left", async () => {
    const { home, src, mp } = await configured();
    const r = await runCli(home, ['unit', 'ws', '--system', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const unit = (JSON.parse(r.stdout) as { unit: string }).unit;
    expect(words(unit, 'Environment')).toEqual([`MOUNTIE_HOME=${home}`]);
    const [node, ...args] = words(unit, 'ExecStart');
    const sock = join(home, 'notify.sock');
    const { notices } = await startReceiver(home, sock);
    const daemon = spawnTracked(node ?? 'node', args, { env: { ...process.env, MOUNTIE_HOME: home, NOTIFY_SOCKET: sock }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    daemon.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const sent = (): Notice[] => notices.filter((n) => !n.fields.includes('BARRIER=1'));
    const ready = await waitFor('READY=1', () => sent().find((n) => n.fields.includes('READY=1')), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}\nstderr: ${err}`);
    });
    // READY only once the mount is usable (mountinfo says so, and a file reads through it).
    expect(await isMounted(mp)).toBe(true);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(ready.fields).toContain(`STATUS=serving ${src} at ${mp}`);
    expect(ready.fields).toContain(`MAINPID=${daemon.pid}`);
    daemon.kill('SIGTERM');
    const end = await waitExit(daemon, UNIT_TIMEOUT_STOP_SEC * 1000);
    expect(end, err).toEqual({ code: 0, signal: null });
    const order = sent().map((n) => n.fields.filter((f) => f === 'READY=1' || f === 'STOPPING=1').join(','));
    expect(order.filter(Boolean)).toEqual(['READY=1', 'STOPPING=1']);
    const stopping = sent().find((n) => n.fields.includes('STOPPING=1'));
    expect(stopping?.fields).toContain(`STATUS=stopping: unmounting ${mp}`);
    // As root, systemd-notify's credentials carry the daemon's pid (--pid): NotifyAccess=main would do; a user needs all.
    if (process.getuid?.() === 0) expect(ready.pid).toBe(daemon.pid);
    expect(await isMounted(mp)).toBe(false);
    const [postNode, ...postArgs] = words(unit, 'ExecStopPost');
    const post = await execa(postNode ?? 'node', postArgs, { env: { ...process.env, MOUNTIE_HOME: home }, reject: false, timeout: 30_000 });
    expect(post.exitCode, post.stderr).toBe(0);
    expect(post.stdout).toBe('ws: no daemon was running');
  });

  it('health changes of the source reach systemd as STATUS= (degraded with its reason, then active again)', async () => {
    const home = await makeHome('mountie-notify-');
    const slow = await startSlowFs(home, join(home, 'A'));
    const sock = join(home, 'notify.sock');
    const { notices } = await startReceiver(home, sock);
    const env = { NOTIFY_SOCKET: sock, MOUNTIE_HEALTH_INTERVAL_MS: '500', MOUNTIE_PROBE_TIMEOUT_MS: '500' };
    const r = await runCli(home, ['mount', 'ws', '--source', slow.mountpoint, '--at', join(home, 'B'), '--background'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    const statuses = (): string[] => notices.flatMap((n) => n.fields.filter((f) => f.startsWith('STATUS=')));
    await waitFor('READY', () => (notices.some((n) => n.fields.includes('READY=1')) ? true : undefined), 10_000);
    await slow.send('fail-all');
    await waitFor('STATUS=source degraded', () => statuses().find((f) => f.startsWith('STATUS=source degraded: ')), 20_000);
    await slow.send('heal');
    await waitFor('STATUS=source active', () => statuses().find((f) => f === 'STATUS=source active'), 20_000);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(statuses()[0]).toMatch(/^STATUS=serving /);
    expect(notices.some((n) => n.fields.includes('STOPPING=1'))).toBe(true);
  }, 90_000);

  it('a background mount sends nothing when NOTIFY_SOCKET is unset', async () => {
    const { home, src } = await setupWorkspace();
    const sock = join(home, 'notify.sock');
    const { notices } = await startReceiver(home, sock);
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(notices).toEqual([]);
  });
});

describe('mountie unit --install', () => {
  it('as a user, --system: permission denied names the directory and how to install it instead; nothing written', async () => {
    const { home } = await configured();
    await chmod(home, 0o755);
    await execa('chown', ['-R', '65534:65534', home]);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'unit', 'ws', '--system', '--install', '--json'], { env: { ...process.env, MOUNTIE_HOME: home }, reject: false, timeout: 30_000 });
    expect(r.exitCode, r.stderr).toBe(2);
    const err = (JSON.parse(r.stdout) as { error: { code: string; hint: string; data: { path: string } } }).error;
    expect(err).toMatchObject({ code: 'ERR_PERMISSION_DENIED', data: { path: '/etc/systemd/system' } });
    expect(err.hint).toContain('mountie unit ws --system | sudo tee /etc/systemd/system/mountie-ws.service');
  });

  it('writes a user unit under XDG_CONFIG_HOME (0644, dirs 0700), then "unchanged", and prints the systemctl commands', async () => {
    const { home } = await configured();
    const env = { XDG_CONFIG_HOME: join(home, 'config') };
    const r = await runCli(home, ['unit', 'ws', '--user', '--install'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    const path = join(home, 'config', 'systemd', 'user', 'mountie-ws.service');
    expect(r.stdout).toContain(`created ${path}`);
    expect(r.stdout).toContain('systemctl --user enable --now mountie-ws.service');
    expect((await lstat(path)).mode & 0o777).toBe(0o644);
    expect((await lstat(join(home, 'config', 'systemd'))).mode & 0o777).toBe(0o700);
    const printed = await runCli(home, ['unit', 'ws', '--user']);
    expect(await readFile(path, 'utf8')).toBe(printed.stdout + '\n');
    const again = await runCli(home, ['unit', 'ws', '--user', '--install', '--json'], { env });
    expect(JSON.parse(again.stdout)).toMatchObject({ schema: 'mountie.unit/v1', action: 'unchanged', path });
  });

  it('never writes through a symlink, never over a unit mountie did not generate', async () => {
    const { home } = await configured();
    const dir = join(home, 'config', 'systemd', 'user');
    await mkdir(dir, { recursive: true });
    const env = { XDG_CONFIG_HOME: join(home, 'config') };
    await writeFile(join(home, 'victim'), 'keep\n');
    await symlink(join(home, 'victim'), join(dir, 'mountie-ws.service'));
    const viaLink = await runCli(home, ['unit', 'ws', '--user', '--install', '--json'], { env });
    expect(viaLink.exitCode).toBe(2);
    expect(JSON.parse(viaLink.stdout)).toMatchObject({ error: { code: 'ERR_SYMLINK_REFUSED' } });
    expect(await readFile(join(home, 'victim'), 'utf8')).toBe('keep\n');
    expect(await readlink(join(dir, 'mountie-ws.service'))).toBe(join(home, 'victim'));
    await writeFile(join(dir, 'mountie-other.service'), '[Service]\nExecStart=/bin/true\n');
    await execa('mv', [join(dir, 'mountie-other.service'), join(dir, 'mountie-ws.service')]);
    const foreign = await runCli(home, ['unit', 'ws', '--user', '--install', '--json'], { env });
    expect(foreign.exitCode).toBe(2);
    expect(JSON.parse(foreign.stdout)).toMatchObject({ error: { code: 'ERR_CONFIG_CONFLICT' } });
    expect(await readFile(join(dir, 'mountie-ws.service'), 'utf8')).toBe('[Service]\nExecStart=/bin/true\n');
  });
});
