/**
 * The native scan of /proc (native/src/procscan.c) against the one in JavaScript it replaces
 * (src/sys/proc-stat-scan.ts): the same parse (comm with spaces and parentheses, a line cut short,
 * a directory that is no process), the same filter rule (selectStats), the same error without a
 * root. Run on fake /proc trees, where every answer is known, and once on the real /proc.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNative } from '../../../src/daemon/native/binding.js';
import { addonProcScan, parseStatLine, scanProcStats, scanProcStatsJs, selectStats, type ProcStat, type ScanFilter } from '../../../src/sys/proc-stat-scan.js';

const load = loadNative();
const native = addonProcScan();

/** A stat line as the kernel writes it: 52 fields, comm in parentheses. */
const statLine = (pid: number, comm: string, state: string, ppid: number, pgrp: number, sid: number, start: number): string => {
  const tail = Array.from({ length: 49 }, (_, i) => (i === 15 ? start : i + 100));
  return `${pid} (${comm}) ${state} ${ppid} ${pgrp} ${sid} ${tail.slice(0, 49).join(' ')}\n`;
};

let root: string;
const write = async (name: string, text: string): Promise<void> => {
  await mkdir(join(root, name), { recursive: true });
  await writeFile(join(root, name, 'stat'), text);
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'procscan-'));
  await write('1', statLine(1, 'init', 'S', 0, 1, 1, 5));
  await write('100', statLine(100, 'mountie-daemon', 'S', 1, 100, 100, 1000));
  await write('101', statLine(101, 'child of 100', 'S', 100, 101, 100, 1001)); // left the group, not the session
  await write('102', statLine(102, 'x) (y', 'R', 100, 100, 100, 1002)); // comm with ") (": ends at the last ')'
  await write('200', statLine(200, 'mountie-daemon ws', 'D', 1, 150, 150, 2000)); // marked, does not lead its session
  await write('201', statLine(201, 'bash', 'S', 1, 201, 150, 2001));
  await write('300', statLine(300, 'memfs-daemon', 'Z', 1, 300, 300, 3000));
  await write('301', statLine(301, 'sleep', 'S', 300, 300, 300, 3001));
  await write('400', statLine(400, 'other', 'S', 1, 400, 400, 4000));
  await write('401', '401 (cut'); // a line cut short: skipped
  await write('402', ''); // an exited process: empty read, skipped
  await mkdir(join(root, 'self'));
  await mkdir(join(root, '0123')); // not a pid spelling
});
afterEach(async () => rm(root, { recursive: true, force: true }));

describe('parseStatLine', () => {
  it('takes comm up to the last parenthesis and the fields after it', () => {
    expect(parseStatLine(102, statLine(102, 'x) (y', 'R', 100, 100, 100, 1002))).toEqual({ pid: 102, comm: 'x) (y', state: 'R', ppid: 100, pgrp: 100, sid: 100, startTime: 1002 });
    expect(parseStatLine(401, '401 (cut')).toBeUndefined();
  });
});

describe('selectStats', () => {
  it('keeps the marked, their sessions and the sessions asked for; everything without a filter', () => {
    const pids = (f?: ScanFilter): number[] => scanProcStatsJs(root, f).map((p) => p.pid);
    expect(pids()).toEqual([1, 100, 101, 102, 200, 201, 300, 301, 400]);
    expect(pids({ prefixes: [], sids: [] })).toEqual([1, 100, 101, 102, 200, 201, 300, 301, 400]);
    // 200 is marked but leads no session: 201 (session 150) is not its member.
    expect(pids({ prefixes: ['mountie-daemon'] })).toEqual([100, 101, 102, 200]);
    expect(pids({ prefixes: ['mountie-daemon'], sids: [150] })).toEqual([100, 101, 102, 200, 201]);
    expect(pids({ prefixes: ['mountie-daemon', 'memfs-daemon'] })).toEqual([100, 101, 102, 200, 300, 301]);
    expect(pids({ sids: [300] })).toEqual([300, 301]);
    expect(pids({ prefixes: ['nobody'] })).toEqual([]);
  });
  it('is a filter of the table it is given', () => {
    const table: ProcStat[] = [{ pid: 7, comm: 'a', state: 'S', ppid: 1, pgrp: 7, sid: 7, startTime: 1 }];
    expect(selectStats(table, { prefixes: ['b'] })).toEqual([]);
    expect(selectStats(table)).toEqual(table);
  });
});

describe.runIf(load.ok)('procScan (native)', () => {
  it('the addon has it', () => {
    expect(typeof native).toBe('function');
  });
  const filters: (ScanFilter | undefined)[] = [undefined, { prefixes: ['mountie-daemon'] }, { prefixes: ['mountie-daemon'], sids: [150] }, { prefixes: ['mountie-daemon', 'memfs-daemon'] }, { sids: [300, 1] }, { prefixes: ['nobody'] }];
  it.each(filters.map((f) => [JSON.stringify(f ?? null), f] as const))('reads a fake /proc as the JavaScript scan does: filter %s', (_name, f) => {
    const js = scanProcStatsJs(root, f);
    expect(scanProcStats(root, f)).toEqual(js);
    expect(js.length).toBeGreaterThanOrEqual(0);
  });
  it.each(filters.map((f) => [JSON.stringify(f ?? null), f] as const))('two threads, each half of the table, read it as one does: filter %s', (_name, f) => {
    const js = scanProcStatsJs(root, f);
    const byPid = (a: ProcStat[]): ProcStat[] => [...a].sort((x, y) => x.pid - y.pid);
    expect(byPid(native?.(root, f?.prefixes ?? [], f?.sids ?? [], 2) ?? [])).toEqual(js);
    expect(byPid(native?.(root, f?.prefixes ?? [], f?.sids ?? [], 1) ?? [])).toEqual(js);
  });
  it('two threads on the real /proc: every process alive through the reads before and after', () => {
    const key = (p: ProcStat): string => `${p.pid}/${p.startTime}`;
    const before = native?.('/proc', [], [], 1) ?? [];
    const two = new Map((native?.('/proc', [], [], 2) ?? []).map((p) => [key(p), p]));
    const after = new Set((native?.('/proc', [], [], 1) ?? []).map(key));
    // Alive at the first and the last read, so alive through the middle one (a pid and start time name one process).
    const through = before.filter((p) => after.has(key(p)));
    expect(through.length).toBeGreaterThan(0);
    // Only pid and start time: a live process may exec (comm), be reparented or leave its session meanwhile.
    expect(through.filter((p) => !two.has(key(p)))).toEqual([]);
    expect([...two.values()].some((p) => p.pid === process.pid)).toBe(true);
  });
  it('without the root: the error code readdirSync gives (ENOENT), from both', () => {
    expect(() => scanProcStats(join(root, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => scanProcStatsJs(join(root, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
  it('refuses arguments it cannot take', () => {
    expect(() => native?.('/proc', 'x' as unknown as string[], [])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => native?.('', [], [])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => native?.('/proc', [], [], 3 as 2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
  it('on the real /proc: this process and its parent, with the fields of their own stat files', () => {
    const all = scanProcStats();
    for (const pid of [process.pid, process.ppid]) {
      const mine = all.find((p) => p.pid === pid);
      const js = scanProcStatsJs().find((p) => p.pid === pid);
      // The state moves between two reads of a live process (R, then S): every other field is fixed.
      expect(mine && { ...mine, state: '-' }).toEqual(js && { ...js, state: '-' });
      expect(mine?.state).toMatch(/^[RSD]$/);
    }
    expect(all.map((p) => p.pid)).toEqual([...all.map((p) => p.pid)].sort((a, b) => a - b));
    // Filtered by our own comm: we are in it, and the members of our session only if we lead it.
    const me = all.find((p) => p.pid === process.pid);
    const kept = scanProcStats('/proc', { prefixes: [me?.comm ?? '?'] });
    expect(kept.some((p) => p.pid === process.pid)).toBe(true);
    expect(kept.every((p) => p.comm.startsWith(me?.comm ?? '?') || kept.some((l) => l.pid === p.sid))).toBe(true);
  });
});
