/**
 * unmountPath judges "our mount" by more than its mount id: /proc/self/mountinfo's ids are
 * recycled at once (lowest free first), so the id of a mount we just unmounted can name another
 * process's new mount a moment later (parallel test files caught it: "our mount is no longer at").
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const tables: MountEntry[][] = [];
const calls: string[][] = [];

vi.mock('../../../src/sys/mountinfo.js', async (orig) => ({
  ...(await orig<typeof import('../../../src/sys/mountinfo.js')>()),
  readMountInfo: async () => (tables.length > 1 ? tables.shift() : tables[0]) ?? [],
}));
vi.mock('../../../src/sys/run.js', () => ({
  runFile: async (_cmd: string, args: string[]) => {
    calls.push(args);
    return { exitCode: 0, stdout: '', stderr: '' };
  },
}));

const { unmountPath } = await import('../../../src/sys/fusermount.js');

const entry = (mountId: number, device: string, mountPoint: string, source: string): MountEntry => ({ mountId, device, mountPoint, fstype: 'fuse.mountie', source, superOptions: 'rw', mountOptions: 'rw' });
const ours = entry(40, '0:50', '/h/mnt/ws', 'mountie:ws@0123456789abcdef');

describe('unmountPath', () => {
  beforeEach(() => {
    tables.length = 0;
    calls.length = 0;
  });

  it('our mount gone and its id already reused by another mount elsewhere: unmounted, no lazy retry', async () => {
    tables.push([ours], [entry(40, '0:77', '/other/mnt', 'mountie:x@fedcba9876543210')]);
    const r = await unmountPath(ours.mountPoint, { ours: (e) => e.mountId === ours.mountId });
    expect(r).toEqual({ unmounted: true, how: 'normal', entries: expect.any(Array) });
    expect(calls).toEqual([['-u', '--', ours.mountPoint]]);
  });

  it('our mount still there after -u (busy): the lazy unmount follows', async () => {
    tables.push([ours], [ours], []);
    const r = await unmountPath(ours.mountPoint, { ours: (e) => e.mountId === ours.mountId });
    expect(r).toEqual({ unmounted: true, how: 'lazy', entries: expect.any(Array) });
    expect(calls).toEqual([['-u', '--', ours.mountPoint], ['-uz', '--', ours.mountPoint]]);
  });

  it("a read the caller just made is the one checked before the unmount (no second read); the read that showed it gone comes back", async () => {
    const after = [entry(41, '0:51', '/elsewhere', 'mountie:x@fedcba9876543210')];
    tables.push(after); // the only read unmountPath makes: the one after -u
    const r = await unmountPath(ours.mountPoint, { ours: (e) => e.mountId === ours.mountId, entries: [ours] });
    expect(r).toEqual({ unmounted: true, how: 'normal', entries: after });
    expect(calls).toEqual([['-u', '--', ours.mountPoint]]);
  });
});
