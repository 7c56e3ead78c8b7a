import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';

/** Every bad input exits 2 with a message naming the problem, and leaves nothing on disk. */
describe('mount: bad input', () => {
  let home: string;
  let src: string;
  let outside: string;

  beforeEach(async () => {
    outside = await makeHome('mountie-val-outside-');
    src = join(outside, 'src');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'x');
    home = await makeHome();
  });
  afterEach(reapAll);

  async function expectRejected(args: string[], code: string, mention: RegExp): Promise<void> {
    const before = await readdir(outside);
    const r = await runCli(home, ['mount', ...args, '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; hint?: string } };
    expect(doc.error.code).toBe(code);
    expect(doc.error.message).toMatch(mention);
    expect(doc.error.hint).toBeTruthy();
    expect(await readdir(home)).toEqual([]);
    expect(await readdir(outside)).toEqual(before);
  }

  it.each([['../x'], ['a b'], ['a;b'], ['x'.repeat(64)], [''], ['Upper'], ['-dash']])('rejects the name %j', async (name) => {
    const r = await runCli(home, ['mount', '--source', src, '--', name]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/invalid workspace name/);
    expect(r.stderr).toMatch(/what to do/);
    expect(await readdir(home)).toEqual([]);
  });

  it('requires --source for a new workspace', () => expectRejected(['ws1'], 'ERR_SOURCE_REQUIRED', /needs a source/));
  it('rejects a missing source', () => expectRejected(['ws1', '--source', join(outside, 'nope')], 'ERR_SOURCE_MISSING', /does not exist/));
  it('rejects a source that is a file', () => expectRejected(['ws1', '--source', join(src, 'f')], 'ERR_SOURCE_NOT_DIR', /not a directory/));
  it('rejects a mountpoint inside the source', () => expectRejected(['ws1', '--source', src, '--at', join(src, 'mnt')], 'ERR_MOUNTPOINT_OVERLAP', /overlap/));
  it('rejects a source inside the mountpoint', () => expectRejected(['ws1', '--source', src, '--at', outside], 'ERR_MOUNTPOINT_OVERLAP', /overlap/));
  it('rejects a non-empty mountpoint', async () => {
    const mp = join(outside, 'full');
    await mkdir(mp);
    await writeFile(join(mp, 'keep'), 'x');
    await expectRejected(['ws1', '--source', src, '--at', mp], 'ERR_MOUNTPOINT_NOT_EMPTY', /not empty/);
  });
  it('rejects a mountpoint that is a file', async () => {
    const mp = join(outside, 'file');
    await writeFile(mp, 'x');
    await expectRejected(['ws1', '--source', src, '--at', mp], 'ERR_MOUNTPOINT_NOT_DIR', /not a directory/);
  });
  it('rejects a mountpoint below a file', () => expectRejected(['ws1', '--source', src, '--at', join(src, 'f', 'below')], 'ERR_MOUNTPOINT_OVERLAP', /overlap/));
  it('rejects a bad --grace and an unknown option with exit 2', async () => {
    expect((await runCli(home, ['stop', 'ws1', '--grace', 'soon'])).exitCode).toBe(2);
    expect((await runCli(home, ['mount', 'ws1', '--frobnicate'])).exitCode).toBe(2);
    expect((await runCli(home, ['stop'])).exitCode).toBe(2);
    expect(await readdir(home)).toEqual([]);
  });
});
