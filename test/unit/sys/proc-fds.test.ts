import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devString, openFiles, parseFdInfo, parseLockLine } from '../../../src/sys/proc-fds.js';
import { parseStatLine } from '../../../src/sys/proc-stat-scan.js';
import { acquireLock, type HeldLock } from '../../../src/protocol/lock.js';

describe('parsers', () => {
  it('parses an fdinfo with a held flock', () => {
    const info = parseFdInfo('pos:\t0\nflags:\t02102002\nmnt_id:\t27\nino:\t2146330\nlock:\t1: FLOCK  ADVISORY  WRITE 2218 fe:00:2146330 0 EOF\n');
    expect(info).toEqual({ ino: 2146330, mntId: 27, locks: [{ kind: 'FLOCK', pid: 2218, dev: 'fe:00', ino: 2146330 }] });
  });
  it('skips waiters and junk in lock lines', () => {
    expect(parseLockLine('1: -> FLOCK  ADVISORY  WRITE 2218 fe:00:2146330 0 EOF')).toBeUndefined();
    expect(parseLockLine('garbage')).toBeUndefined();
    expect(parseLockLine('2: POSIX  ADVISORY  READ 12 00:1b:99 0 EOF')).toMatchObject({ kind: 'POSIX', dev: '00:1b', ino: 99 });
  });
  it('spells a dev number as the kernel does', () => {
    expect(devString(0xfe00)).toBe('fe:00');
    expect(devString(8 * 256 + 1)).toBe('08:01');
    // major 0x103, minor 0x121: new_encode_dev puts the minor's high bits above the major.
    expect(devString(0x21 | (0x103 << 8) | (0x100 << 12))).toBe('103:121');
  });
  it('parses stat lines whose comm holds spaces and parentheses', () => {
    const line = '42 (a) b (c)) S 1 40 41 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0';
    expect(parseStatLine(42, line)).toEqual({ pid: 42, comm: 'a) b (c)', state: 'S', ppid: 1, pgrp: 40, sid: 41, startTime: 12345 });
    expect(parseStatLine(1, 'nonsense')).toBeUndefined();
  });
});

describe('openFiles on this process', () => {
  let dir = '';
  let lock: HeldLock | undefined;
  afterEach(async () => {
    await lock?.release();
    lock = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the lock file, its inode and the flock held through it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-fds-'));
    await writeFile(join(dir, 'other'), 'x');
    lock = await acquireLock(join(dir, 'lock'), 'ws');
    const st = await stat(join(dir, 'lock'));
    const files = openFiles(process.pid, (l) => l.endsWith('/lock'));
    const mine = files.find((f) => f.link === join(dir, 'lock'));
    expect(mine?.info.ino).toBe(st.ino);
    expect(mine?.info.locks).toEqual([expect.objectContaining({ kind: 'FLOCK', ino: st.ino, dev: devString(st.dev) })]);
  });

  it('is empty for a process that does not exist', () => {
    expect(openFiles(2 ** 30, () => true)).toEqual([]);
  });
});
