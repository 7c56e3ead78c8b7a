import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLogger } from '../../../src/daemon/log.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('openLogger', () => {
  it('stops echoing after the first echo error and keeps writing the file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-log-'));
    let calls = 0;
    const log = openLogger(join(dir, 'daemon.log'), {
      echo: () => {
        calls++;
        throw Object.assign(new Error('write EIO'), { code: 'EIO' });
      },
    });
    for (let i = 0; i < 100; i++) log.info(`line ${i}`);
    log.close();
    expect(calls).toBe(1);
    expect((await readFile(join(dir, 'daemon.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(100);
  });

  it('refuses a daemon.log that is a symlink and leaves its target alone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-log-'));
    const target = join(dir, 'passwd-copy');
    await writeFile(target, 'root:x:0:0\n');
    await symlink(target, join(dir, 'daemon.log'));
    expect(() => openLogger(join(dir as string, 'daemon.log'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(await readFile(target, 'utf8')).toBe('root:x:0:0\n');
  });
});
