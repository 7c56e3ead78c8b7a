/**
 * The addon's umount (native/src/umount.c), which a root daemon and `stop` use instead of spawning
 * fusermount: it walks from the mountpoint's parent held open and checked, so a path whose
 * directories were swapped for a symlink after mountinfo was read cannot steer it to another
 * mount. Real mounts (a tmpfs of the test's own, below its home), root only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../helpers/sandbox.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { mountAt, readMountInfo } from '../../src/sys/mountinfo.js';
import { runFile } from '../../src/sys/run.js';

const native = loadNative();
const umount = native.ok ? native.binding.umount?.bind(native.binding) : undefined;
const ours: string[] = [];

async function tmpfsAt(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const r = await runFile('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mountie-test', dir], 5000);
  expect(r.exitCode, r.stderr).toBe(0);
  ours.push(dir);
}

const mounted = async (dir: string): Promise<boolean> => mountAt(await readMountInfo(), dir)?.fstype === 'tmpfs';

afterEach(async () => {
  for (const dir of ours.splice(0)) if (await mounted(dir)) await runFile('umount', ['-l', dir], 5000);
  await reapAll();
});

describe.skipIf(!umount || process.geteuid?.() !== 0)('native umount', () => {
  it('unmounts the mount at a path', async () => {
    const home = await makeHome();
    const mp = join(home, 'a', 'mnt');
    await tmpfsAt(mp);
    expect(await umount?.(mp, false)).toBeNull();
    expect(await mounted(mp)).toBe(false);
  });

  it('refuses (MOVED) a path whose parent is not the directory it names: a symlinked component is never followed to another mount', async () => {
    const home = await makeHome();
    const real = join(home, 'real');
    const mp = join(real, 'mnt');
    await tmpfsAt(mp);
    // As if a directory of the path had been swapped for a symlink after mountinfo was read.
    await symlink(real, join(home, 'swapped'));
    expect(await umount?.(join(home, 'swapped', 'mnt'), false)).toBe('MOVED');
    expect(await mounted(mp)).toBe(true);
    expect(await umount?.(mp, true)).toBeNull();
    expect(await mounted(mp)).toBe(false);
  });
});
