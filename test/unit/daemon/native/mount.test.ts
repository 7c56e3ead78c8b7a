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

/** A fresh temp dir with the named subdirectories, returned in order after it. */
async function freshDirs(...names: string[]): Promise<[string, ...string[]]> {
  const root = await mkdtemp(join(tmpdir(), 'mountie-native-mount-'));
  const subs = names.map((n) => join(root, n));
  for (const d of subs) await mkdir(d);
  return [root, ...subs];
}

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
    const [root, src, mp, elsewhere] = (await freshDirs('src', 'mp', 'elsewhere')) as [string, string, string, string];
    dir = root;
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
  it("another mount with our fsname, fstype and uid that appears elsewhere during the mount window is not taken for ours, nor touched", async () => {
    if (!native.ok) return;
    const real = native.binding;
    const [root, src, mp, decoy] = (await freshDirs('src', 'mp', 'decoy')) as [string, string, string, string];
    dir = root;
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    // What another process serving the same fsname does (two test runs at once, whose fixture
    // daemons shared one fsname): its mount shows up after ours, before we read mountinfo.
    let decoyHandle: Awaited<ReturnType<NativeBinding['start']>>['handle'] | undefined;
    const binding: NativeBinding = {
      ...real,
      start: async (m, source, o) => {
        const ours = await real.start(m, source, o);
        decoyHandle = (await real.start(decoy, source, o)).handle;
        return ours;
      },
      stop: (h, ms) => real.stop(h, ms),
      cancel: (h) => real.cancel(h),
      layout: () => real.layout(),
    };
    try {
      const mounted = await mountNative({ mountpoint: mp, source: src, fsname: FSNAME, subtype: 'mountie', binding });
      const decoyEntry = (await readMountInfo()).find((e) => e.mountPoint === decoy);
      expect(decoyEntry?.source, 'the decoy is left mounted').toBe(FSNAME);
      expect(mounted.mountpoint).toBe(mp);
      expect((await mounted.unmount()).unmounted).toBe(true);
      const left = (await readMountInfo()).filter((e) => e.source === FSNAME).map((e) => e.mountPoint);
      expect(left, 'our unmount took ours, not the decoy').toEqual([decoy]);
    } finally {
      await run('fusermount3', ['-uz', '--', decoy]).catch(() => undefined);
      if (decoyHandle) await real.stop(decoyHandle, 2000);
    }
  });
  it('once our mount is gone, a new mount of the same fsname that got its id and connection number is not unmounted by our stop', async () => {
    if (!native.ok) return;
    const real = native.binding;
    const [root, src, mp, decoy] = (await freshDirs('src', 'mp', 'decoy')) as [string, string, string, string];
    dir = root;
    const mounted = await mountNative({ mountpoint: mp, source: src, fsname: FSNAME, subtype: 'mountie' });
    const ours = (await readMountInfo()).find((e) => e.mountPoint === mp);
    // Someone unmounts ours; the next mount of the same name gets the freed id and connection
    // number (both lowest-free, so mostly: the machine is shared, other mounts may take them).
    await run('fusermount3', ['-u', '--', mp]);
    const other = await real.start(decoy, src, { fsname: FSNAME, subtype: 'mountie', attrTimeout: 1, entryTimeout: 1, keepCache: 1, readOnly: 0, allowOther: 0, readdirplus: 0, maxThreads: 4, maxWrite: 1 << 20, maxReadahead: 1 << 20, splice: 0, fdBudget: 0, deadlineMs: 0 });
    try {
      const theirs = (await readMountInfo()).find((e) => e.mountPoint === decoy);
      const recycled = theirs?.mountId === ours?.mountId && theirs?.device === ours?.device;
      await mounted.unmount({ timeoutMs: 3000 }).catch(() => undefined);
      expect((await readMountInfo()).find((e) => e.mountPoint === decoy), `the other mount stays (id and device recycled: ${recycled})`).toBeDefined();
    } finally {
      await run('fusermount3', ['-u', '--', decoy]).catch(() => undefined);
      await real.stop(other.handle, 2000);
    }
  });
});
