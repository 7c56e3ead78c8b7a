import { afterEach, describe, expect, it } from 'vitest';
import { chmod, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, lockHeldNow, type HeldLock } from '../../../src/protocol/lock.js';
import { defineKind } from '../../../src/protocol/kind.js';
import { reapAll, spawnTracked, waitFor } from '../../helpers/sandbox.js';
import { waitForOutput, waitExit } from '../../helpers/cli.js';

const HOLDER = new URL('../../fixtures/lock-holder.mjs', import.meta.url).pathname;

describe('workspace lock (flock on a file in the 0700 workspace dir)', () => {
  let dir = '';
  const held: HeldLock[] = [];
  afterEach(async () => {
    for (const l of held.splice(0)) await l.release();
    await reapAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const fresh = async (): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-lock-'));
    await mkdir(join(dir, 'ws'), { mode: 0o700 });
    return join(dir, 'ws', 'lock');
  };

  it("a taken lock's hint names mountie's command for mountie only, never for another kind", async () => {
    const path = await fresh();
    held.push(await acquireLock(path, 'ws'));
    const refusal = (p: Promise<HeldLock>): Promise<{ code?: string; hint?: string }> =>
      p.then(
        (l) => (held.push(l), {}),
        (e: unknown) => e as { code?: string; hint?: string },
      );
    const mine = await refusal(acquireLock(path, 'ws'));
    expect(mine.code).toBe('ERR_WORKSPACE_LOCKED');
    expect(mine.hint).toContain('mountie stop ws');
    const theirs = await refusal(acquireLock(path, 'ws', undefined, defineKind({ name: 'memfs' })));
    expect(theirs.code).toBe('ERR_WORKSPACE_LOCKED');
    expect(theirs.hint).not.toContain('mountie');
    expect(theirs.hint).toContain('memfs');
    // A kind that names its command: the hint says the command the user types.
    const named = await refusal(acquireLock(path, 'ws', undefined, defineKind({ name: 'memfs', command: 'memfs' })));
    expect(named.code).toBe('ERR_WORKSPACE_LOCKED');
    expect(named.hint).toContain('memfs stop ws');
    expect(named.hint).not.toContain('{ kind }');
  });

  it('is exclusive, shows in /proc/locks, and is free again after release', async () => {
    const path = await fresh();
    const a = await acquireLock(path, 'ws');
    expect(await lockHeldNow(a)).toBe(true);
    await expect(acquireLock(path, 'ws', async () => 4242)).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED', data: { pid: 4242 } });
    await a.release();
    expect(await lockHeldNow(a)).toBe(false);
    held.push(await acquireLock(path, 'ws'));
  });

  it('is the same lock through a symlinked directory (one inode, however the home is spelled)', async () => {
    const path = await fresh();
    await symlink(join(dir, 'ws'), join(dir, 'alias'));
    held.push(await acquireLock(path, 'ws'));
    await expect(acquireLock(join(dir, 'alias', 'lock'), 'ws')).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED' });
  });

  it('is released by the kernel when its holder is SIGKILLed', async () => {
    const path = await fresh();
    const child = spawnTracked(process.execPath, [HOLDER, path, '-', 'lock']);
    await waitForOutput(child, /ready/);
    const st = await lstat(path);
    expect(await lockHeldNow(st)).toBe(true);
    await expect(acquireLock(path, 'ws')).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED' });
    child.kill('SIGKILL');
    await waitExit(child);
    await waitFor('lock free', async () => ((await lockHeldNow(st)) === false ? true : undefined), 5000);
    held.push(await acquireLock(path, 'ws'));
  });

  it('refuses a symlink planted at the lock path', async () => {
    const path = await fresh();
    await writeFile(join(dir, 'target'), 'keep');
    await symlink(join(dir, 'target'), path);
    await expect(acquireLock(path, 'ws')).rejects.toMatchObject({ code: 'ERR_LOCK_FAILED' });
  });

  it('cannot be taken or squatted by another user (the workspace dir is 0700)', async () => {
    const path = await fresh();
    await chmod(dir, 0o755);
    const script = `import(${JSON.stringify(new URL('../../../dist/protocol/lock.js', import.meta.url).href)}).then((m) => m.acquireLock(${JSON.stringify(path)}, 'ws')).then(() => console.log('TOOK'), (e) => console.log(e.code))`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(out.trim()).toBe('ERR_LOCK_FAILED');
    held.push(await acquireLock(path, 'ws'));
  });
});
