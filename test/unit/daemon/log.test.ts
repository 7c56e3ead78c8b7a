import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logMaxBytesFromEnv, openLogger, DEFAULT_LOG_MAX_BYTES } from '../../../src/daemon/log.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function tmp(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'mountie-log-'));
  return dir;
}

const records = async (p: string): Promise<Record<string, unknown>[]> =>
  (await readFile(p, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('openLogger', () => {
  it('writes one JSON record per line: time, level, pid, msg, err with code and stack, extra fields', async () => {
    const d = await tmp();
    const log = openLogger(join(d, 'daemon.log'), { pid: 42 });
    log.info('hello', { workspace: 'ws', msg: 'not the message' });
    log.error('startup failed', Object.assign(new Error('ENOENT: nope'), { code: 'ENOENT' }));
    log.warn?.('careful');
    log.close();
    const [a, b, c] = await records(join(d, 'daemon.log'));
    expect(a).toMatchObject({ level: 'info', pid: 42, msg: 'hello', workspace: 'ws', field_msg: 'not the message' });
    expect(Date.parse(String(a?.time))).toBeGreaterThan(0);
    expect(b).toMatchObject({ level: 'error', msg: 'startup failed', err: { message: 'ENOENT: nope', code: 'ENOENT' } });
    expect((b?.err as { stack: string }).stack).toMatch(/\n\s+at /);
    expect(c).toMatchObject({ level: 'warn', msg: 'careful' });
  });

  it('stops echoing after the first echo error and keeps writing the file; the echo is rendered for people', async () => {
    const d = await tmp();
    let calls = 0;
    let first = '';
    const log = openLogger(join(d, 'daemon.log'), {
      pid: 7,
      echo: (l) => {
        calls++;
        first = l;
        throw Object.assign(new Error('write EIO'), { code: 'EIO' });
      },
    });
    for (let i = 0; i < 100; i++) log.info(`line ${i}`);
    log.close();
    expect(calls).toBe(1);
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO \[7\] line 0\n$/);
    expect(await records(join(d, 'daemon.log'))).toHaveLength(100);
  });

  it('refuses a daemon.log that is a symlink and leaves its target alone', async () => {
    const d = await tmp();
    const target = join(d, 'passwd-copy');
    await writeFile(target, 'root:x:0:0\n');
    await symlink(target, join(d, 'daemon.log'));
    expect(() => openLogger(join(d, 'daemon.log'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(await readFile(target, 'utf8')).toBe('root:x:0:0\n');
  });

  it('rotates to daemon.log.1 before passing the cap; never more than two files, each under the cap', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    const log = openLogger(p, { maxBytes: 4096 });
    for (let i = 0; i < 500; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    log.close();
    expect((await stat(p)).size).toBeLessThanOrEqual(4096);
    expect((await stat(p + '.1')).size).toBeLessThanOrEqual(4096);
    await expect(stat(p + '.2')).rejects.toThrow();
    const last = await records(p);
    expect(last.at(-1)?.msg).toMatch(/^line 499 /);
    // The rotated file holds the lines right before the current file's first.
    const before = await records(p + '.1');
    const n = (r: Record<string, unknown> | undefined): number => Number(String(r?.msg).split(' ')[1]);
    expect(n(before.at(-1)) + 1).toBe(n(last[0]));
  });

  it('a rotation that cannot rename (a directory at daemon.log.1) truncates instead, says so, and keeps the cap', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    await mkdir(p + '.1');
    await writeFile(join(p + '.1', 'keep'), 'x');
    const log = openLogger(p, { maxBytes: 2048 });
    for (let i = 0; i < 200; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    log.close();
    expect((await stat(p)).size).toBeLessThanOrEqual(2048 + 400);
    const recs = await records(p);
    expect(recs.some((r) => r.level === 'warn' && /log rotation failed/.test(String(r.msg)))).toBe(true);
    expect(await readFile(join(p + '.1', 'keep'), 'utf8')).toBe('x');
  });

  it('a symlink planted at daemon.log after a rotation is not followed (the line is lost, the target untouched)', async () => {
    const d = await tmp();
    const p = join(d, 'daemon.log');
    const target = join(d, 'target');
    await writeFile(target, 'keep\n');
    const log = openLogger(p, { maxBytes: 2048 });
    for (let i = 0; i < 30; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    // Rotate once by hand, then plant the link where the next rotation opens its new file.
    await rm(p);
    await symlink(target, p);
    for (let i = 0; i < 100; i++) log.info(`more ${i} ${'x'.repeat(40)}`);
    log.close();
    expect(await readFile(target, 'utf8')).toBe('keep\n');
  });

  it('reads its cap from MOUNTIE_LOG_MAX_BYTES (whole bytes, at least 1024)', () => {
    expect(logMaxBytesFromEnv({ MOUNTIE_LOG_MAX_BYTES: '2048' })).toBe(2048);
    for (const bad of ['', '10', '1e6', '-5', 'lots']) expect(logMaxBytesFromEnv({ MOUNTIE_LOG_MAX_BYTES: bad })).toBe(DEFAULT_LOG_MAX_BYTES);
    expect(logMaxBytesFromEnv({})).toBe(DEFAULT_LOG_MAX_BYTES);
  });
});
