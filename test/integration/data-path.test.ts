/**
 * The data path (issues 10, 19): the native core serves every mount, and state.json and
 * `status --json` say so; its counters reach state.json. Where the addon cannot load, mount fails
 * with ERR_NATIVE_UNAVAILABLE before anything is written, and doctor says what is missing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI, isMounted, REPO, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit } from '../helpers/cli.js';
import { daemonsOf, logOf, setupWorkspace } from '../helpers/daemons.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { mountAt, readMountInfo } from '../../src/sys/mountinfo.js';

const run = promisify(execFile);

afterEach(reapAll);

interface StateView {
  status: string;
  dataPath?: string;
  cursor: number;
  counters: { ops: Record<string, number>; bytesRead: number; bytesWritten: number; errors: number };
  backend?: { limit: number; fuseThreads?: number; inFlight: number };
}

async function stateOnDisk(home: string): Promise<StateView> {
  return JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'state.json'), 'utf8')) as StateView;
}

async function statusState(home: string): Promise<StateView | undefined> {
  const r = await runCli(home, ['status', 'ws', '--json']);
  return (JSON.parse(r.stdout) as { workspaces: { state?: StateView }[] }).workspaces[0]?.state;
}

/** The copy has no addon; neither may MOUNTIE_NATIVE_ADDON give it one (scripts/sanitize.sh sets it). */
const NO_OVERRIDE = { MOUNTIE_NATIVE_ADDON: '' };

/** A copy of the built CLI under test (its dist/) with no native/ beside it: the addon cannot load there. */
async function copyWithoutAddon(): Promise<{ cli: string; remove: () => Promise<void> }> {
  const copy = await mkdtemp(join(tmpdir(), 'mountie-noaddon-'));
  await cp(dirname(dirname(CLI)), join(copy, 'dist'), { recursive: true });
  await writeFile(join(copy, 'package.json'), JSON.stringify({ name: 'mountie', version: '0.1.0', type: 'module' }));
  await symlink(join(REPO, 'node_modules'), join(copy, 'node_modules'));
  return { cli: join(copy, 'dist/cli/main.js'), remove: () => rm(copy, { recursive: true, force: true }) };
}

describe.skipIf(!loadNative().ok)('data path: native by default', () => {
  it('state.json and status --json say native; ops, bytes and the change cursor reach state.json and continue across restarts', async () => {
    const { home, src, mp } = await setupWorkspace();
    // Kernel passthrough off: with it (the default as root) reads and writes never reach the daemon's counters.
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env: { MOUNTIE_PASSTHROUGH: '0' } });
    expect(r.exitCode, r.stderr).toBe(0);
    await writeFile(join(mp, 'b.txt'), 'bravo!\n');
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    const st = await waitFor('counters in state.json', async () => {
      const s = await stateOnDisk(home);
      return (s.counters.ops.write ?? 0) >= 1 && (s.counters.ops.read ?? 0) >= 1 ? s : undefined;
    }, 10_000, 100);
    expect(st).toMatchObject({ status: 'active', dataPath: 'native', counters: { bytesWritten: 7, bytesRead: 6 } });
    expect(st.cursor).toBeGreaterThanOrEqual(2); // create + write
    expect(st.backend).toMatchObject({ limit: 64, inFlight: 0 });
    expect(await statusState(home)).toMatchObject({ dataPath: 'native', status: 'active' });
    expect(await logOf(home, 'ws')).toContain('(data path: native)');
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const stopped = await stateOnDisk(home);
    expect(stopped.status).toBe('stopped');

    // The cursor never goes backwards: the next daemon continues from what is on disk. This one has
    // kernel passthrough (the default as root): the write is the kernel's, and the file's release
    // stands for it (create + release: 2).
    expect((await runCli(home, ['mount', 'ws', '--background'])).exitCode).toBe(0);
    await writeFile(join(mp, 'c.txt'), 'c');
    const again = await waitFor('cursor moved on', async () => {
      const s = await stateOnDisk(home);
      return s.cursor > stopped.cursor ? s : undefined;
    }, 10_000, 100);
    expect(again.cursor).toBeGreaterThanOrEqual(stopped.cursor + 2);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(await isMounted(mp)).toBe(false);
  });
});

describe('data path: no native core, no mount', () => {
  it('a build without the addon refuses mount (exit 2, ERR_NATIVE_UNAVAILABLE naming what is missing) before anything is written; doctor fails native-addon', async () => {
    const { home, src, mp } = await setupWorkspace();
    const copy = await copyWithoutAddon();
    try {
      const env = { ...process.env, ...NO_OVERRIDE, MOUNTIE_HOME: home };
      const child = spawnTracked(process.execPath, [copy.cli, 'mount', 'ws', '--source', src, '--background', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      expect((await waitExit(child, 30_000)).code).toBe(2);
      const doc = JSON.parse(out) as { error: { code: string; message: string; hint: string; data: { reason: string } } };
      expect(doc.error.code).toBe('ERR_NATIVE_UNAVAILABLE');
      expect(doc.error.data.reason).toMatch(/native addon/);
      expect(doc.error.hint).toContain('mountie doctor');
      expect(await isMounted(mp)).toBe(false);
      expect(await daemonsOf(home, 'ws')).toEqual([]);
      await expect(readFile(join(home, 'workspaces', 'ws', 'workspace.json'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
      const doctor = spawnTracked(process.execPath, [copy.cli, 'doctor', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let dout = '';
      doctor.stdout?.on('data', (d: Buffer) => (dout += d.toString()));
      expect((await waitExit(doctor, 30_000)).code).not.toBe(0);
      const checks = (JSON.parse(dout) as { checks: { id: string; status: string; fix?: string }[] }).checks;
      expect(checks.find((c) => c.id === 'native-addon')).toMatchObject({ status: 'fail', fix: expect.stringContaining('npm run build:native') });
    } finally {
      await copy.remove();
    }
  });
});

describe.skipIf(!loadNative().ok)('mount --allow-other', () => {
  it('lets another user in under kernel permission checks; stored in the config, so the next mount keeps it', async () => {
    const { home, src } = await setupWorkspace();
    await chmod(home, 0o755); // mkdtemp made it 0700: the other user must reach the mountpoint
    const mp = join(home, 'shared');
    await mkdir(mp, { mode: 0o755 });
    await mkdir(join(src, 'private'), { mode: 0o700 });
    await writeFile(join(src, 'private', 'p.txt'), 'secret');
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--at', mp, '--allow-other', '--background']);
    expect(r.exitCode, r.stderr).toBe(0);
    const as = (cmd: string, ...args: string[]): Promise<{ stdout: string }> => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args]);
    const check = async (): Promise<void> => {
      expect(mountAt(await readMountInfo(), mp)?.superOptions.split(',')).toEqual(expect.arrayContaining(['allow_other', 'default_permissions']));
      expect((await as('cat', join(mp, 'a.txt'))).stdout).toBe('alpha\n');
      await expect(as('cat', join(mp, 'private', 'p.txt'))).rejects.toMatchObject({ stderr: expect.stringContaining('Permission denied') });
    };
    await check();
    expect(JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'workspace.json'), 'utf8'))).toMatchObject({ allowOther: true });
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect((await runCli(home, ['mount', 'ws', '--background'])).exitCode).toBe(0);
    await check();
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  });

  it('--allow-other on a workspace stored without it is refused (exit 2, ERR_CONFIG_CONFLICT) and changes nothing', async () => {
    const { home, src, mp } = await setupWorkspace();
    expect((await runCli(home, ['mount', 'ws', '--source', src, '--background'])).exitCode).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    const before = await readFile(join(home, 'workspaces', 'ws', 'workspace.json'), 'utf8');
    const r = await runCli(home, ['mount', 'ws', '--allow-other', '--json']);
    expect(r.exitCode).toBe(2);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('ERR_CONFIG_CONFLICT');
    expect(await readFile(join(home, 'workspaces', 'ws', 'workspace.json'), 'utf8')).toBe(before);
    expect(await isMounted(mp)).toBe(false);
  });
});
