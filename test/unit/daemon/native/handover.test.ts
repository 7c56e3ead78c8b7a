/**
 * adoptNative's care of the old process's extra fds (src/daemon/native/handover.ts): on any failure
 * after the receive they are closed, never leaked; checkFds sees them before the commit and its
 * throw gives the adoption up. A fake binding (no root, no mount): its tag names a mount this
 * process really sees in mountinfo, so the checks before the commit pass.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adoptNative } from '../../../../src/daemon/native/handover.js';
import type { NativeAdoption, NativeBinding } from '../../../../src/daemon/native/binding.js';
import { readMountInfo } from '../../../../src/sys/mountinfo.js';

let dir = '';
const opened: number[] = [];

afterEach(async () => {
  for (const fd of opened.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // Closed by the code under test, as it should be.
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Two fds on a file of ours, as the core would hand them over. */
async function extraFds(): Promise<{ fds: number[]; file: string }> {
  dir = await mkdtemp(join(tmpdir(), 'mountie-adopt-fds-'));
  const file = join(dir, 'lock');
  await writeFile(file, '');
  const fds = [openSync(file, 'r'), openSync(file, 'r')];
  opened.push(...fds);
  return { fds, file };
}

/** Is `fd` still open on `file`? (A number reused by someone else meanwhile is not ours.) */
function openOn(fd: number, file: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/** A binding whose receive hands over `fds` for a mount this process sees; commit as given. */
async function fakeBinding(fds: number[], commit: () => Promise<never>): Promise<{ binding: NativeBinding; calls: string[] }> {
  const e = (await readMountInfo())[0];
  if (!e) throw new Error('no mount in /proc/self/mountinfo');
  const calls: string[] = [];
  const adoption = {} as NativeAdoption;
  const binding = {
    adoptReceive: async () => {
      calls.push('receive');
      return { adoption, mountpoint: e.mountPoint, tag: JSON.stringify({ source: e.source, fstype: e.fstype, device: e.device, mountId: e.mountId }), fds };
    },
    adoptCommit: async () => {
      calls.push('commit');
      return commit();
    },
    adoptDiscard: () => void calls.push('discard'),
  } as unknown as NativeBinding;
  return { binding, calls };
}

describe('adoptNative: the old process extra fds', () => {
  it('a checkFds that throws gives the adoption up before the commit, and the fds are closed', async () => {
    const { fds, file } = await extraFds();
    const { binding, calls } = await fakeBinding(fds, () => Promise.reject(new Error('not reached')));
    let seen: readonly number[] = [];
    const err = await adoptNative({
      binding,
      socket: join(dir, 'sock'),
      source: dir,
      checkFds: (got) => {
        seen = [...got];
        expect(got.every((fd) => openOn(fd, file))).toBe(true);
        throw Object.assign(new Error('not the lock'), { code: 'ERR_LOCK_FAILED' });
      },
    }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; data?: { reason?: string }; message?: string },
    );
    expect(err).toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_LOCK_FAILED' } });
    expect(err?.message).toContain('not the lock');
    expect(seen).toEqual(fds);
    expect(calls).toEqual(['receive', 'discard']);
    for (const fd of fds) expect(openOn(fd, file), `fd ${fd}`).toBe(false);
  });

  it('a commit that fails (the old process gave up) closes them too', async () => {
    const { fds, file } = await extraFds();
    const { binding, calls } = await fakeBinding(fds, () => Promise.reject(Object.assign(new Error('the old process gave up the handover: it serves on'), { code: 'ERR_HANDOVER_ABORTED' })));
    await expect(adoptNative({ binding, socket: join(dir, 'sock'), source: dir, checkFds: () => undefined })).rejects.toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_HANDOVER_ABORTED' } });
    expect(calls).toEqual(['receive', 'commit', 'discard']);
    for (const fd of fds) expect(openOn(fd, file), `fd ${fd}`).toBe(false);
  });
});
