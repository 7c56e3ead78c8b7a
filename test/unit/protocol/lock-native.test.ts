/**
 * The lock through the native addon's flock(2) (src/protocol/lock.ts): taken without flock(1),
 * refused while another process holds it, a bounded wait that ends, and flock(1) again when the
 * addon is missing. A process whose PATH has no `flock` can only lock through the addon, so each
 * case runs once with PATH empty (the addon) and the fallback with MOUNTIE_NATIVE_ADDON naming a
 * file that is not there. Children load dist/ (the build under test), as the fixtures do.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { flockFd, lockHeldNow } from '../../../src/protocol/lock.js';
import { loadNative } from '../../../src/daemon/native/binding.js';
import { reapAll, spawnTracked, waitFor } from '../../helpers/sandbox.js';
import { waitForOutput } from '../../helpers/cli.js';

const LOCK_JS = new URL('../../../dist/protocol/lock.js', import.meta.url).href;
const addon = loadNative();

/** acquireLock in a fresh node with `env` (PATH and MOUNTIE_NATIVE_ADDON as given): 'TOOK' or the error's code. */
async function acquireInChild(path: string, env: NodeJS.ProcessEnv): Promise<string> {
  const script = `import(${JSON.stringify(LOCK_JS)}).then((m) => m.acquireLock(${JSON.stringify(path)}, 'ws')).then(() => console.log('TOOK'), (e) => console.log(e.code, e.message))`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { env: { ...process.env, ...env }, timeout: 10_000 });
  return stdout.trim();
}

/** Another process holding `path` with flock(1) (`mode` shared or exclusive) until killed (its group: flock's child holds the fd too). */
async function holdElsewhere(path: string, mode: 'shared' | 'exclusive'): Promise<() => void> {
  const child = spawnTracked('flock', [`--${mode}`, path, 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await waitForOutput(child, /held/);
  return () => process.kill(-child.pid!, 'SIGKILL');
}

describe.skipIf(!addon.ok)('workspace lock through the native addon (flock(2), no flock(1))', () => {
  let dir = '';
  afterEach(async () => {
    vi.unstubAllEnvs();
    await reapAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const fresh = async (): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-lock-native-'));
    await mkdir(join(dir, 'ws'), { mode: 0o700 });
    return join(dir, 'ws', 'lock');
  };

  it('takes the lock with no flock command on PATH', async () => {
    const path = await fresh();
    expect(await acquireInChild(path, { PATH: '' })).toBe('TOOK');
  });

  it('is refused (ERR_WORKSPACE_LOCKED) while another process holds it, and taken once it let go', async () => {
    const path = await fresh();
    const release = await holdElsewhere(path, 'exclusive');
    expect(await acquireInChild(path, { PATH: '' })).toMatch(/^ERR_WORKSPACE_LOCKED /);
    release();
    const st = await lstat(path);
    await waitFor('lock free', async () => ((await lockHeldNow(st)) === false ? true : undefined), 5000);
    expect(await acquireInChild(path, { PATH: '' })).toBe('TOOK');
  });

  it('a bounded wait ends false while a shared holder stays, and true once it left', async () => {
    const path = await fresh();
    const release = await holdElsewhere(path, 'shared');
    vi.stubEnv('PATH', ''); // only the addon can lock here
    const fh = await open(path, 'r');
    try {
      expect(await flockFd(fh.fd, 'shared')).toBe(true); // shared beside shared
      const fh2 = await open(path, 'r');
      try {
        expect(await flockFd(fh2.fd, 'exclusive', 100)).toBe(false);
        await fh.close();
        const waiting = flockFd(fh2.fd, 'exclusive', 5000);
        setTimeout(release, 100);
        expect(await waiting).toBe(true);
      } finally {
        await fh2.close();
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  });

  it('a bad fd is ERR_LOCK_FAILED, not a refusal', async () => {
    vi.stubEnv('PATH', '');
    await expect(flockFd(987_654, 'exclusive')).rejects.toMatchObject({ code: 'ERR_LOCK_FAILED' });
  });
});

describe('workspace lock without the addon (flock(1))', () => {
  let dir = '';
  afterEach(async () => {
    await reapAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('falls back to the flock command when the addon is missing, and needs it then', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-lock-noaddon-'));
    await mkdir(join(dir, 'ws'), { mode: 0o700 });
    const path = join(dir, 'ws', 'lock');
    const noAddon = { MOUNTIE_NATIVE_ADDON: join(dir, 'absent.node') };
    expect(await acquireInChild(path, noAddon)).toBe('TOOK');
    const release = await holdElsewhere(path, 'exclusive');
    expect(await acquireInChild(path, noAddon)).toMatch(/^ERR_WORKSPACE_LOCKED /);
    release();
    // Without the addon and without flock(1) nothing can lock: the fallback is what locked above.
    expect(await acquireInChild(path, { ...noAddon, PATH: '' })).toMatch(/^ERR_LOCK_FAILED .*flock command/);
  });
});
