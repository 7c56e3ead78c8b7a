import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadNative, type NativeBinding } from '../../../../src/daemon/native/binding.js';
import { mountNative } from '../../../../src/daemon/native/mount.js';
import { readMountInfo } from '../../../../src/sys/mountinfo.js';

const run = promisify(execFile);
const FSNAME = 'mountie:nativeunit@0123456789abcdef';
const native = loadNative();

describe.skipIf(!native.ok)('mountNative: never stopped while the mount is still there', () => {
  let dir = '';
  afterEach(async () => {
    // Whatever the code under test left: this test's own mounts only (its fsname, below its dir).
    for (const e of (await readMountInfo()).reverse()) {
      if (e.source === FSNAME && e.mountPoint.startsWith(dir + '/')) await run('fusermount3', ['-uz', '--', e.mountPoint]).catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a mount that lands where mountinfo does not show it at the mountpoint is taken down, not left served', async () => {
    if (!native.ok) return;
    const real = native.binding;
    dir = await mkdtemp(join(tmpdir(), 'mountie-native-mount-'));
    const [src, mp, elsewhere] = ['src', 'mp', 'elsewhere'].map((n) => join(dir, n)) as [string, string, string];
    for (const d of [src, mp, elsewhere]) await mkdir(d);
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    // What a symlink swapped between our realpath and the kernel's lookup would do: the mount lands elsewhere.
    const binding: NativeBinding = {
      ...real,
      start: (_mp, source, o) => real.start(elsewhere, source, o),
      stop: (h, ms) => real.stop(h, ms),
      cancel: (h) => real.cancel(h),
      layout: () => real.layout(),
    };
    const err = await mountNative({ mountpoint: mp, source: src, fsname: FSNAME, subtype: 'mountie', binding }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string } | undefined)?.code).toBe('ERR_MOUNT_FAILED');
    const left = (await readMountInfo()).filter((e) => e.source === FSNAME).map((e) => e.mountPoint);
    expect(left).toEqual([]);
  });
});
