import { describe, expect, it } from 'vitest';
import { defineKind, isKind, MOUNTIE, sameKind, stopHint } from '../../../src/protocol/kind.js';
import { daemonTitle, isMarked, isMarkedAnyKind, markDaemon } from '../../../src/protocol/marker.js';
import { isMountieMount, isTagOf, mountTag, mountsOf, parseTag } from '../../../src/protocol/tag.js';
import { resolveHome } from '../../../src/state/paths.js';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const entry = (mountPoint: string, source: string, fstype: string): MountEntry => ({ mountId: 1, device: '0:50', mountPoint, mountOptions: '', fstype, source, superOptions: `rw,user_id=${process.getuid?.() ?? 0},group_id=0` });
const ID = '0123456789abcdef';

describe('kinds', () => {
  it('derives every name from the kind name', () => {
    expect(defineKind({ name: 'memfs' })).toEqual({ name: 'memfs', fstype: 'fuse.memfs', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME' });
    expect(MOUNTIE).toEqual({ name: 'mountie', fstype: 'fuse.mountie', comm: 'mountie-daemon', homeEnv: 'MOUNTIE_HOME', command: 'mountie' });
    // The longest name's marker fits the kernel's 15-byte comm.
    expect(defineKind({ name: 'abcdefgh' }).comm).toHaveLength(15);
    expect(Object.isFrozen(defineKind({ name: 'ab' }))).toBe(true);
  });

  it.each(['', 'a', 'abcdefghi', 'Memfs', '1fs', 'mem-fs', 'mem_fs', 'mem fs', 'é', 'mountie'])('refuses the name %j', (name) => {
    expect(() => defineKind({ name })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_KIND' }));
  });

  it('refuses a spec without a string name', () => {
    expect(() => defineKind({ name: 3 as unknown as string })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_KIND' }));
    expect(() => defineKind(undefined as unknown as { name: string })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_KIND' }));
  });

  it('keeps the command an author gives, and hints with it instead of a library call', () => {
    const withCommand = defineKind({ name: 'memfs', command: 'memfs' });
    expect(withCommand).toEqual({ name: 'memfs', fstype: 'fuse.memfs', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME', command: 'memfs' });
    expect(isKind(withCommand)).toBe(true);
    expect(stopHint('ws', withCommand)).toBe('memfs stop ws');
    expect(stopHint('ws', defineKind({ name: 'memfs', command: 'npx memfs' }))).toBe('npx memfs stop ws');
    expect(stopHint('ws', MOUNTIE)).toBe('mountie stop ws');
    // Without a command mountie cannot know the author's command line: the library call.
    expect(stopHint('ws', defineKind({ name: 'memfs' }))).toContain("stop('ws', { kind })");
  });

  it.each(['', ' memfs', 'memfs ', 'mem  fs', 'mem\nfs', 'x'.repeat(65), 3])('refuses the command %j', (command) => {
    expect(() => defineKind({ name: 'memfs', command: command as string })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_KIND' }));
  });

  it('recognises kinds whose names agree, and nothing else', () => {
    expect(isKind(MOUNTIE)).toBe(true);
    expect(isKind(defineKind({ name: 'memfs' }))).toBe(true);
    expect(isKind({ name: 'memfs', fstype: 'fuse.mountie', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME' })).toBe(false);
    expect(isKind({ name: 'memfs' })).toBe(false);
    expect(isKind({ name: 'memfs', fstype: 'fuse.memfs', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME', command: 'a\nb' })).toBe(false);
    expect(sameKind(defineKind({ name: 'memfs' }), defineKind({ name: 'memfs' }))).toBe(true);
    expect(sameKind(defineKind({ name: 'memfs' }), MOUNTIE)).toBe(false);
  });
});

describe('tags and markers per kind', () => {
  const MEM = defineKind({ name: 'mem' });
  const MEMFS = defineKind({ name: 'memfs' });

  it("tags a kind's mounts with its name and fstype; another kind's tag is never ours", () => {
    expect(mountTag('ws', ID)).toBe(`mountie:ws@${ID}`);
    expect(mountTag('ws', ID, MEMFS)).toBe(`memfs:ws@${ID}`);
    const mine = entry('/m', mountTag('ws', ID, MEMFS), 'fuse.memfs');
    expect(isTagOf(mine, 'ws', ID, MEMFS)).toBe(true);
    expect(isTagOf(mine, 'ws', ID)).toBe(false);
    expect(isTagOf(mine, 'ws', ID, MEM)).toBe(false);
    // The right tag under another kind's fstype is a look-alike.
    expect(isTagOf(entry('/m', mountTag('ws', ID, MEMFS), 'fuse.mountie'), 'ws', ID, MEMFS)).toBe(false);
    expect(isMountieMount(mine)).toBe(false);
    expect(isMountieMount(mine, MEMFS)).toBe(true);
    const all = [mine, entry('/n', mountTag('ws', ID), 'fuse.mountie'), entry('/o', mountTag('ws', ID, MEM), 'fuse.mem')];
    expect(mountsOf(all, 'ws', ID, MEMFS).map((e) => e.mountPoint)).toEqual(['/m']);
    expect(mountsOf(all, 'ws', ID).map((e) => e.mountPoint)).toEqual(['/n']);
    expect(mountsOf(all, 'ws', ID, MEM).map((e) => e.mountPoint)).toEqual(['/o']);
  });

  it('parses a tag of any kind, or of one kind only', () => {
    expect(parseTag(`memfs:ws@${ID}`)).toEqual({ workspace: 'ws', homeId: ID, kind: 'memfs' });
    expect(parseTag(`memfs:ws@${ID}`, MOUNTIE)).toBeUndefined();
    expect(parseTag(`memfs:ws@${ID}`, MEMFS)).toEqual({ workspace: 'ws', homeId: ID, kind: 'memfs' });
    expect(parseTag(`Mem:ws@${ID}`)).toBeUndefined();
  });

  it("marks a daemon with its kind's comm; one kind's marker never matches another's", () => {
    expect(daemonTitle('ws')).toBe('mountie-daemon ws');
    expect(daemonTitle('ws', MEMFS)).toBe('memfs-daemon ws');
    const proc = { title: '' };
    const comms: string[] = [];
    markDaemon('ws', proc, MEM, (c) => comms.push(c));
    expect(proc.title).toBe('mem-daemon ws');
    expect(comms).toEqual(['mem-daemon']); // comm is exactly the marker, not the title cut at 15 bytes
    // Where comm cannot be set, the title still marks the process.
    markDaemon('ws', proc, MEMFS, () => {
      throw new Error('EACCES');
    });
    expect(proc.title).toBe('memfs-daemon ws');
    // comm is the title cut to 15 bytes.
    const comm = (k: typeof MEM): string => daemonTitle('workspace', k).slice(0, 15);
    expect(isMarked(comm(MEM), MEM)).toBe(true);
    expect(isMarked(comm(MEMFS), MEM)).toBe(false);
    expect(isMarked(comm(MEM), MEMFS)).toBe(false);
    expect(isMarked(comm(MOUNTIE))).toBe(true);
    expect(isMarked(comm(MEMFS))).toBe(false);
    expect(isMarked(comm(MOUNTIE), MEMFS)).toBe(false);
    for (const k of [MEM, MEMFS, MOUNTIE]) expect(isMarkedAnyKind(comm(k))).toBe(true);
    expect(isMarkedAnyKind('node')).toBe(false);
    expect(isMarkedAnyKind('bash-daemonish')).toBe(true); // a marker alone proves nothing: the lock file does
  });

  it("resolves a kind's default home from its own variable, else XDG, else ~/.local/state", () => {
    expect(resolveHome({ MEMFS_HOME: '/m', MOUNTIE_HOME: '/x' }, MEMFS)).toEqual({ home: '/m', workspacesDir: '/m/workspaces', mntDir: '/m/mnt', kind: MEMFS });
    expect(resolveHome({ MOUNTIE_HOME: '/x', XDG_STATE_HOME: '/s' }, MEMFS).home).toBe('/s/memfs');
    expect(resolveHome({ HOME: '/home/u' }, MEMFS).home).toBe('/home/u/.local/state/memfs');
    expect(resolveHome({ MOUNTIE_HOME: '/x', MEMFS_HOME: '/m' })).toEqual({ home: '/x', workspacesDir: '/x/workspaces', mntDir: '/x/mnt' });
  });
});
