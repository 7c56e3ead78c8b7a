import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../../helpers/sandbox.js';
import { ensureDir } from '../../../src/state/dirs.js';

describe('ensureDir', () => {
  afterEach(reapAll);

  it('creates missing components 0700 and never changes the mode of an existing directory', async () => {
    const root = await makeHome('mountie-dirs-');
    const existing = join(root, 'keep');
    await mkdir(existing);
    await chmod(existing, 0o755);
    const created = await ensureDir(join(existing, 'a', 'b'));
    expect(created).toEqual([join(existing, 'a'), join(existing, 'a', 'b')]);
    expect((await stat(existing)).mode & 0o777).toBe(0o755);
    expect((await stat(join(existing, 'a', 'b'))).mode & 0o777).toBe(0o700);
    expect(await ensureDir(existing)).toEqual([]);
    expect((await stat(existing)).mode & 0o777).toBe(0o755);
  });

  it('refuses a symlink as the directory itself or below the guarded root', async () => {
    const root = await makeHome('mountie-dirs-');
    await mkdir(join(root, 'real'));
    await symlink(join(root, 'real'), join(root, 'link'));
    await expect(ensureDir(join(root, 'link'))).rejects.toMatchObject({ code: 'ERR_SYMLINK_REFUSED' });
    await expect(ensureDir(join(root, 'link', 'ws'), { noSymlinksBelow: root })).rejects.toMatchObject({ code: 'ERR_SYMLINK_REFUSED' });
    await expect(ensureDir(join(root, 'link', 'ws'))).resolves.toEqual([join(root, 'link', 'ws')]);
  });

  it('fails at once on /proc instead of looping', async () => {
    await expect(ensureDir('/proc/mountie-nope/x')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
