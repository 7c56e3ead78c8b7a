import { appendFile, mkdir, mkdtemp, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { followLog, lastError, logEvidence, readLog } from '../../../src/launcher/log-read.js';
import { formatRecord, renderEntry, type LogEntry } from '../../../src/protocol/log-line.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function tmp(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'mountie-logread-'));
  return dir;
}

const rec = (msg: string, level: 'info' | 'error' = 'info'): string => formatRecord(level, msg, { pid: 3 });
const msgs = (es: readonly LogEntry[]): string[] => es.map((e) => (e.kind === 'record' ? e.msg : e.text));

describe('readLog', () => {
  it('a missing log: no entries, no files, no error', async () => {
    const d = await tmp();
    expect(await readLog(join(d, 'daemon.log'))).toEqual({ entries: [], files: [] });
    expect(await logEvidence(join(d, 'daemon.log'))).toEqual({ logTail: [] });
  });

  it('a rotated log: daemon.log.1 first, then daemon.log; -n counts across both', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await writeFile(p + '.1', rec('old 1') + rec('old 2'));
    await writeFile(p, rec('new 1') + rec('new 2'));
    const all = await readLog(p);
    expect(msgs(all.entries)).toEqual(['old 1', 'old 2', 'new 1', 'new 2']);
    expect(all.files.map((f) => f.path)).toEqual([p + '.1', p]);
    expect(msgs((await readLog(p, { lines: 3 })).entries)).toEqual(['old 2', 'new 1', 'new 2']);
    expect((await readLog(p, { lines: 0 })).entries).toEqual([]);
  });

  it('only the rotated file left (the daemon never wrote again): still read', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await writeFile(p + '.1', rec('only old'));
    expect(msgs((await readLog(p)).entries)).toEqual(['only old']);
  });

  it('a corrupt log: cut, garbled and binary lines come back marked, the good ones around them intact', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await writeFile(p, Buffer.concat([Buffer.from(rec('before') + '{"time":"2026-11\n' + 'plain stderr line\n'), Buffer.from([0xff, 0xfe, 0x00, 0x0a]), Buffer.from(rec('after') + '{"cut":')]));
    const { entries } = await readLog(p);
    expect(entries.map((e) => e.kind)).toEqual(['record', 'corrupt', 'text', 'corrupt', 'record', 'corrupt']);
    // eslint-disable-next-line no-control-regex
    expect(entries.map(renderEntry).join('\n')).not.toMatch(/\u0000/);
  });

  it('the last error of a log, records and old plain lines alike; the evidence a failed start quotes', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await writeFile(p, '2026-01-01T00:00:00.000Z ERROR [1] old failure\n' + rec('startup failed: EACCES', 'error') + rec('shutdown complete: exit 4'));
    const { entries } = await readLog(p);
    expect(lastError(entries)).toMatchObject({ msg: 'startup failed: EACCES' });
    const ev = await logEvidence(p, 2);
    expect(ev.logTail).toHaveLength(2);
    expect(ev.lastLogError).toMatch(/ERROR \[3\] startup failed: EACCES$/);
  });

  it('refuses a log that is a symlink, a directory or a FIFO (never blocks, never follows)', async () => {
    const d = await tmp();
    await writeFile(join(d, 'target'), rec('secret'));
    await symlink(join(d, 'target'), join(d, 'link.log'));
    await expect(readLog(join(d, 'link.log'))).rejects.toMatchObject({ code: 'ERR_SYMLINK_REFUSED' });
    await mkdir(join(d, 'dir.log'));
    await expect(readLog(join(d, 'dir.log'))).rejects.toMatchObject({ code: 'ERR_IS_DIRECTORY' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(d, 'fifo.log')]);
    await expect(readLog(join(d, 'fifo.log'))).rejects.toMatchObject({ code: 'ERR_ENVIRONMENT' });
  });
});

describe('followLog', () => {
  async function follow(p: string, act: (seen: string[]) => Promise<void>, from?: { ino: number; size: number }): Promise<string[]> {
    const seen: string[] = [];
    const ac = new AbortController();
    const done = followLog(p, { signal: ac.signal, pollMs: 20, ...(from ? { from } : {}), onEntry: (e) => seen.push(e.kind === 'record' ? e.msg : e.text) });
    try {
      await act(seen);
    } finally {
      ac.abort();
    }
    await done;
    return seen;
  }

  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const end = Date.now() + 5000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('prints what comes after the first read, across a rotation, then a truncation; ends on abort', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await writeFile(p, rec('shown already'));
    const first = await readLog(p);
    const seen = await follow(
      p,
      async (s) => {
        await appendFile(p, rec('a'));
        await until('a', () => s.includes('a'));
        // The writer's rotation: one more line to the old file, rename, a new file.
        await appendFile(p, rec('b (old file, last)'));
        await rename(p, p + '.1');
        await writeFile(p, rec('c (new file)'));
        await until('c', () => s.includes('c (new file)'));
        await truncate(p, 0);
        await new Promise((r) => setTimeout(r, 60));
        await appendFile(p, rec('d after truncation'));
        await until('d', () => s.includes('d after truncation'));
      },
      first.files[0],
    );
    expect(seen).toEqual(['a', 'b (old file, last)', 'c (new file)', 'd after truncation']);
  });

  it('waits for a missing log and a partial line, without busy output', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    const seen = await follow(p, async (s) => {
      await new Promise((r) => setTimeout(r, 60));
      const line = rec('late');
      await writeFile(p, line.slice(0, 10));
      await new Promise((r) => setTimeout(r, 60));
      expect(s).toEqual([]);
      await appendFile(p, line.slice(10));
      await until('late', () => s.length > 0);
    });
    expect(seen).toEqual(['late']);
  });
});
