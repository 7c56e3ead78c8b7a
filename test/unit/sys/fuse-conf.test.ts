import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowsUserAllowOther, checkAllowOther } from '../../../src/sys/fuse-conf.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function conf(text: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mountie-fuseconf-'));
  dirs.push(dir);
  const path = join(dir, 'fuse.conf');
  if (text !== undefined) await writeFile(path, text);
  return path;
}

describe('allowsUserAllowOther', () => {
  it('takes a user_allow_other line, not a commented or a longer one', () => {
    expect(allowsUserAllowOther('# mount_max = 1000\nuser_allow_other\n')).toBe(true);
    expect(allowsUserAllowOther('  user_allow_other   # yes\n')).toBe(true);
    expect(allowsUserAllowOther('#user_allow_other\n')).toBe(false);
    expect(allowsUserAllowOther('user_allow_other_not\n')).toBe(false);
    expect(allowsUserAllowOther('')).toBe(false);
  });
});

describe('checkAllowOther', () => {
  it('lets root through whatever the file says', async () => {
    await expect(checkAllowOther(0, await conf(undefined))).resolves.toBeUndefined();
  });

  it('refuses another user without user_allow_other (missing file too) with ERR_ALLOW_OTHER_DENIED', async () => {
    for (const text of [undefined, '#user_allow_other\n']) {
      const path = await conf(text);
      await expect(checkAllowOther(1000, path)).rejects.toMatchObject({ code: 'ERR_ALLOW_OTHER_DENIED', data: { path, uid: 1000 } });
    }
    await expect(checkAllowOther(1000, await conf('user_allow_other\n'))).resolves.toBeUndefined();
  });
});
