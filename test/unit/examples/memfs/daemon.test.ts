/**
 * examples/memfs: the options parser and the operations, called directly (no FUSE): what a
 * real read-only file system answers for each path. The example imports `mountie` by its own
 * name, so this runs against the built package (npm run build).
 */
import { describe, expect, it } from 'vitest';
import { constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { memfs, memOps, parseTree, type Nodes } from '../../../../examples/memfs/daemon.js';
import { answer, codeOf } from '../answer.js';

const { ENOENT, ENOTDIR, EISDIR, EROFS } = os.errno;
const TREE = { 'a.txt': 'alpha\n', 'é.txt': 'été', docs: { 'b.md': '# B\n', empty: {} } };

describe('memfs options (parseTree)', () => {
  it('flattens a tree into nodes by path: a file is its bytes, a directory its names', () => {
    const nodes: Nodes = parseTree(TREE);
    expect([...nodes.keys()].sort()).toEqual(['/', '/a.txt', '/docs', '/docs/b.md', '/docs/empty', '/é.txt']);
    expect(nodes.get('/')).toEqual(['a.txt', 'é.txt', 'docs']);
    expect(nodes.get('/docs/empty')).toEqual([]);
    expect(nodes.get('/é.txt')).toEqual(Buffer.from('été'));
  });

  it.each([
    ['a string', 'hello'],
    ['an array', ['a.txt']],
    ['null', null],
    ['nothing', undefined],
    ['a number in a directory', { docs: { n: 1 } }],
    ['null in a directory', { a: null }],
    ['an empty name', { '': 'x' }],
    ['"."', { '.': 'x' }],
    ['".."', { docs: { '..': 'x' } }],
    ['a name with a slash', { 'a/b': 'x' }],
    ['a name with NUL', { 'a\0': 'x' }],
  ])('refuses %s with ERR_INVALID_OPTION', (_what, raw) => {
    expect(codeOf(() => parseTree(raw))).toBe('ERR_INVALID_OPTION');
  });

  it('names where the tree is wrong', () => {
    expect(() => parseTree({ docs: { n: 1 } })).toThrow(/\/docs\/n/);
    expect(() => parseTree({ docs: { 'a/b': 'x' } })).toThrow(/\/docs .*"a\/b"/);
  });
});

describe('memfs operations', () => {
  const at = new Date('2026-01-02T03:04:05Z');
  const ops = memOps(parseTree(TREE), at);

  it('getattr: directories 0555, files 0444 with their size in bytes, ENOENT for the rest', async () => {
    const [code, root] = await answer((cb) => ops.getattr?.('/', cb));
    expect(code).toBe(0);
    expect(root).toMatchObject({ mode: 0o40555, mtime: at });
    expect(await answer((cb) => ops.getattr?.('/é.txt', cb))).toEqual([0, expect.objectContaining({ mode: 0o100444, size: 5 })]);
    expect(await answer((cb) => ops.getattr?.('/docs/b.md', cb))).toEqual([0, expect.objectContaining({ mode: 0o100444, size: 4 })]);
    expect(await answer((cb) => ops.getattr?.('/nope', cb))).toEqual([-ENOENT]);
    expect(await answer((cb) => ops.getattr?.('/a.txt/x', cb))).toEqual([-ENOENT]);
  });

  it('readdir: a directory lists its names; a file is ENOTDIR; a missing path ENOENT', async () => {
    expect(await answer((cb) => ops.readdir?.('/', cb))).toEqual([0, ['a.txt', 'é.txt', 'docs']]);
    expect(await answer((cb) => ops.readdir?.('/docs/empty', cb))).toEqual([0, []]);
    expect(await answer((cb) => ops.readdir?.('/a.txt', cb))).toEqual([-ENOTDIR]);
    expect(await answer((cb) => ops.readdir?.('/nope', cb))).toEqual([-ENOENT]);
  });

  it('open: a file to read is fine; to write EROFS; a directory EISDIR; a missing path ENOENT', async () => {
    expect((await answer((cb) => ops.open?.('/a.txt', fs.O_RDONLY, cb)))[0]).toBe(0);
    expect((await answer((cb) => ops.open?.('/a.txt', fs.O_WRONLY | fs.O_TRUNC, cb)))[0]).toBe(-EROFS);
    expect((await answer((cb) => ops.open?.('/a.txt', fs.O_RDWR, cb)))[0]).toBe(-EROFS);
    expect((await answer((cb) => ops.open?.('/docs', fs.O_RDONLY, cb)))[0]).toBe(-EISDIR);
    expect((await answer((cb) => ops.open?.('/nope', fs.O_RDONLY, cb)))[0]).toBe(-ENOENT);
  });

  it('read: the bytes at the offset, short at the end, 0 past it', async () => {
    const buf = Buffer.alloc(16);
    expect(await answer((cb) => ops.read?.('/a.txt', 0, buf, 16, 0, cb))).toEqual([6]);
    expect(buf.subarray(0, 6).toString()).toBe('alpha\n');
    expect(await answer((cb) => ops.read?.('/a.txt', 0, buf, 3, 2, cb))).toEqual([3]);
    expect(buf.subarray(0, 3).toString()).toBe('pha');
    expect(await answer((cb) => ops.read?.('/é.txt', 0, buf, 16, 1, cb))).toEqual([4]);
    expect(await answer((cb) => ops.read?.('/a.txt', 0, buf, 16, 6, cb))).toEqual([0]);
    expect(await answer((cb) => ops.read?.('/a.txt', 0, buf, 16, 100, cb))).toEqual([0]);
    expect(await answer((cb) => ops.read?.('/docs', 0, buf, 16, 0, cb))).toEqual([-EISDIR]);
    expect(await answer((cb) => ops.read?.('/nope', 0, buf, 16, 0, cb))).toEqual([-ENOENT]);
  });

  it('release answers 0; nothing that changes the tree is served (the read-only mount answers EROFS first)', async () => {
    expect(await answer((cb) => ops.release?.('/a.txt', 0, cb))).toEqual([0]);
    for (const op of ['write', 'create', 'mkdir', 'unlink', 'rmdir', 'rename', 'truncate', 'chmod'] as const) expect(ops[op]).toBeUndefined();
  });
});

describe('the memfs definition', () => {
  it('is of kind memfs, names its own module, parses options with parseTree and mounts the ops', async () => {
    expect(memfs.kind).toMatchObject({ name: 'memfs', fstype: 'fuse.memfs', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME' });
    expect(memfs.module).toMatch(/\/examples\/memfs\/daemon\.(ts|js)$/);
    expect(memfs.definition.options).toBe(parseTree);
    const ac = new AbortController();
    const log = { info: () => undefined, error: () => undefined };
    const served = await memfs.definition.mount({ workspace: 'ws', mountpoint: '/mnt', options: parseTree(TREE), readOnly: true, signal: ac.signal, log, dir: '/nowhere', data: { load: async () => undefined, save: async () => undefined } });
    expect('ops' in served && typeof served.ops.getattr).toBe('function');
  });
});
