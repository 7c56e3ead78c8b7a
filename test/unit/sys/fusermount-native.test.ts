/**
 * unmountPath as root goes through the addon's umount2 (native/src/umount.c) instead of spawning
 * fusermount; refused for lack of rights (EPERM), or without the addon, fusermount runs as before;
 * busy (EBUSY) does not run `fusermount -u` (it would be refused the same) but goes lazy.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const tables: MountEntry[][] = [];
const spawned: string[][] = [];
const umounts: [string, boolean][] = [];
const answers: (string | null)[] = [];

vi.mock('../../../src/sys/mountinfo.js', async (orig) => ({
  ...(await orig<typeof import('../../../src/sys/mountinfo.js')>()),
  readMountInfo: async () => (tables.length > 1 ? tables.shift() : tables[0]) ?? [],
}));
vi.mock('../../../src/sys/run.js', () => ({
  runFile: async (_cmd: string, args: string[]) => {
    spawned.push(args);
    return { exitCode: 0, stdout: '', stderr: '' };
  },
}));
vi.mock('../../../src/daemon/native/binding.js', () => ({
  loadNative: () => ({
    ok: true,
    path: '/fake/mountie_native.node',
    binding: {
      umount: async (path: string, lazy: boolean) => {
        umounts.push([path, lazy]);
        return answers.shift() ?? null;
      },
    },
  }),
}));
vi.spyOn(process, 'geteuid').mockReturnValue(0);

const { unmountPath } = await import('../../../src/sys/fusermount.js');

const entry = (mountId: number, mountPoint: string): MountEntry => ({ mountId, device: '0:50', mountPoint, fstype: 'fuse.mountie', source: 'mountie:ws@0123456789abcdef', superOptions: 'rw', mountOptions: 'rw' });
const ours = entry(40, '/h/mnt/ws');
const isOurs = (e: MountEntry): boolean => e.mountId === ours.mountId;

describe('unmountPath as root, through the addon', () => {
  beforeEach(() => {
    tables.length = 0;
    spawned.length = 0;
    umounts.length = 0;
    answers.length = 0;
  });

  it('umount2 and no spawn when it unmounts', async () => {
    tables.push([ours], []);
    expect(await unmountPath(ours.mountPoint, { ours: isOurs })).toEqual({ unmounted: true, how: 'normal', entries: expect.any(Array) });
    expect(umounts).toEqual([[ours.mountPoint, false]]);
    expect(spawned).toEqual([]);
  });

  it('EPERM (not allowed here): fusermount -u, as without the addon', async () => {
    answers.push('EPERM');
    tables.push([ours], []);
    expect(await unmountPath(ours.mountPoint, { ours: isOurs })).toEqual({ unmounted: true, how: 'normal', entries: expect.any(Array) });
    expect(spawned).toEqual([['-u', '--', ours.mountPoint]]);
  });

  it('EBUSY: no fusermount -u, then the lazy umount2', async () => {
    answers.push('EBUSY', null);
    tables.push([ours], [ours], []);
    expect(await unmountPath(ours.mountPoint, { ours: isOurs })).toEqual({ unmounted: true, how: 'lazy', entries: expect.any(Array) });
    expect(umounts).toEqual([
      [ours.mountPoint, false],
      [ours.mountPoint, true],
    ]);
    expect(spawned).toEqual([]);
  });

  it('MOVED (a directory of the path swapped since mountinfo was read): nothing unmounted, and no fusermount, which would walk the path', async () => {
    answers.push('MOVED', 'MOVED');
    tables.push([ours], [ours], [ours]);
    expect(await unmountPath(ours.mountPoint, { ours: isOurs })).toMatchObject({ unmounted: false, how: 'lazy', detail: 'umount2: MOVED' });
    expect(spawned).toEqual([]);
  });

  it('a mount stacked over ours: neither umount2 nor fusermount runs', async () => {
    const foreign: MountEntry = { ...entry(41, ours.mountPoint), fstype: 'tmpfs', source: 'tmpfs' };
    tables.push([ours, foreign]);
    await expect(unmountPath(ours.mountPoint, { ours: isOurs })).rejects.toMatchObject({ code: 'ERR_MOUNT_NOT_OURS' });
    expect(umounts).toEqual([]);
    expect(spawned).toEqual([]);
  });
});
