import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { homeIdOf, isTagOf, mountTag, mountsOf, parseTag } from '../../../src/protocol/tag.js';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const uid = process.getuid?.() ?? 0;
const entry = (mountPoint: string, source: string, fstype = 'fuse.mountie', superOptions = `rw,user_id=${uid},group_id=0`): MountEntry => ({ mountId: 1, device: '0:50', mountPoint, mountOptions: '', fstype, source, superOptions });

describe('mount tags', () => {
  let dir = '';
  afterEach(async () => void (dir && (await rm(dir, { recursive: true, force: true }))));

  it('round-trips and rejects look-alikes', () => {
    const t = mountTag('ws', '0123456789abcdef');
    expect(parseTag(t)).toEqual({ workspace: 'ws', homeId: '0123456789abcdef', kind: 'mountie' });
    expect(parseTag('mountie:ws')).toBeUndefined(); // 0.1 tag: owner unknown, never ours
    expect(parseTag('mountie:WS@0123456789abcdef')).toBeUndefined();
    expect(isTagOf(entry('/m', t), 'ws', '0123456789abcdef')).toBe(true);
    expect(isTagOf(entry('/m', t, 'fuse.other'), 'ws', '0123456789abcdef')).toBe(false);
    expect(isTagOf(entry('/m', t), 'ws', 'fedcba9876543210')).toBe(false);
  });

  it("never takes another user's mount for ours, whatever its name (fuse user_id=)", () => {
    const t = mountTag('ws', '0123456789abcdef');
    const other = `rw,user_id=${uid + 4242},group_id=0`;
    expect(isTagOf(entry('/m', t, 'fuse.mountie', other), 'ws', '0123456789abcdef')).toBe(false);
    expect(isTagOf(entry('/m', t, 'fuse.mountie', 'rw,group_id=0'), 'ws', '0123456789abcdef')).toBe(false);
    expect(mountsOf([entry('/x', t, 'fuse.mountie', other), entry('/y', t)], 'ws', '0123456789abcdef').map((e) => e.mountPoint)).toEqual(['/y']);
  });

  it('finds every mount of a workspace wherever it sits, and none of another home', () => {
    const a = mountTag('ws', 'aaaaaaaaaaaaaaaa');
    const all = [entry('/x', a), entry('/y', mountTag('ws', 'bbbbbbbbbbbbbbbb')), entry('/z', a), entry('/w', mountTag('other', 'aaaaaaaaaaaaaaaa'))];
    expect(mountsOf(all, 'ws', 'aaaaaaaaaaaaaaaa').map((e) => e.mountPoint)).toEqual(['/x', '/z']);
    expect(mountsOf(all, 'ws', undefined)).toEqual([]);
  });

  it('gives one id to a home however it is spelled, another to another home', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-tag-'));
    await mkdir(join(dir, 'h1'));
    await mkdir(join(dir, 'h2'));
    await symlink(join(dir, 'h1'), join(dir, 'link'));
    const [h1, viaLink, h2, missing] = await Promise.all([homeIdOf(join(dir, 'h1')), homeIdOf(join(dir, 'link')), homeIdOf(join(dir, 'h2')), homeIdOf(join(dir, 'nope'))]);
    expect(h1).toMatch(/^[0-9a-f]{16}$/);
    expect(viaLink).toBe(h1);
    expect(h2).not.toBe(h1);
    expect(missing).toBeUndefined();
  });
});
