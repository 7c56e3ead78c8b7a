/**
 * examples/memfs: the options parser and the operations, called directly (no FUSE): what a
 * real read-only file system answers for each path. The example imports `mountie` by its own
 * name, so this runs against the built package (npm run build).
 */
import { describe, expect, it } from 'vitest';
import { constants as fs } from 'node:fs';
import { FsError, type FsCaller } from 'mountie';
import { memfs, memFs, parseTree, type Nodes } from '../../../../examples/memfs/daemon.js';
import { codeOf } from '../answer.js';

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

describe('memfs operations (a FileSystem)', () => {
  const at = new Date('2026-01-02T03:04:05Z');
  const mfs = memFs(parseTree(TREE), at);
  const caller: FsCaller = { uid: 1000, gid: 1000, pid: 1, umask: 0o022 };
  /** The errno name an op fails with (FsError's code), or what else it threw; undefined when it answered. */
  const failure = async (op: () => unknown): Promise<string | undefined> => {
    try {
      await op();
      return undefined;
    } catch (err) {
      return err instanceof FsError ? err.code : String(err);
    }
  };

  it('getattr: directories 0555, files 0444 with their size in bytes, ENOENT for the rest', async () => {
    expect(await mfs.getattr?.(caller, '/', undefined)).toMatchObject({ mode: 0o40555, mtime: at });
    expect(await mfs.getattr?.(caller, '/é.txt', undefined)).toMatchObject({ mode: 0o100444, size: 5 });
    expect(await mfs.getattr?.(caller, '/docs/b.md', undefined)).toMatchObject({ mode: 0o100444, size: 4 });
    expect(await failure(() => mfs.getattr?.(caller, '/nope', undefined))).toBe('ENOENT');
    expect(await failure(() => mfs.getattr?.(caller, '/a.txt/x', undefined))).toBe('ENOENT');
  });

  it('readdir: a directory lists its names; a file is ENOTDIR; a missing path ENOENT', async () => {
    expect(await mfs.readdir?.(caller, '/', 0)).toEqual(['a.txt', 'é.txt', 'docs']);
    expect(await mfs.readdir?.(caller, '/docs/empty', 0)).toEqual([]);
    expect(await failure(() => mfs.readdir?.(caller, '/a.txt', 0))).toBe('ENOTDIR');
    expect(await failure(() => mfs.readdir?.(caller, '/nope', 0))).toBe('ENOENT');
  });

  it('open: a file to read is fine; to write EROFS; a directory EISDIR; a missing path ENOENT', async () => {
    expect(await failure(() => mfs.open?.(caller, '/a.txt', fs.O_RDONLY))).toBeUndefined();
    expect(await failure(() => mfs.open?.(caller, '/a.txt', fs.O_WRONLY | fs.O_TRUNC))).toBe('EROFS');
    expect(await failure(() => mfs.open?.(caller, '/a.txt', fs.O_RDWR))).toBe('EROFS');
    expect(await failure(() => mfs.open?.(caller, '/docs', fs.O_RDONLY))).toBe('EISDIR');
    expect(await failure(() => mfs.open?.(caller, '/nope', fs.O_RDONLY))).toBe('ENOENT');
  });

  it('read: the bytes at the offset (number or bigint), short at the end, none past it', async () => {
    const text = async (path: string, size: number, offset: number | bigint): Promise<string> =>
      Buffer.from((await mfs.read?.(caller, path, 0, size, offset)) as Uint8Array).toString();
    expect(await text('/a.txt', 16, 0)).toBe('alpha\n');
    expect(await text('/a.txt', 3, 2)).toBe('pha');
    expect(await text('/a.txt', 3, 2n)).toBe('pha');
    expect(await text('/é.txt', 16, 1)).toBe(Buffer.from('été').subarray(1).toString());
    expect(await text('/a.txt', 16, 6)).toBe('');
    expect(await text('/a.txt', 16, 100)).toBe('');
    expect(await failure(() => mfs.read?.(caller, '/docs', 0, 16, 0))).toBe('EISDIR');
    expect(await failure(() => mfs.read?.(caller, '/nope', 0, 16, 0))).toBe('ENOENT');
  });

  it('nothing that changes the tree is served (the read-only mount answers EROFS first); release is the default', () => {
    for (const op of ['write', 'create', 'mkdir', 'unlink', 'rmdir', 'rename', 'truncate', 'chmod', 'release'] as const) expect(mfs[op]).toBeUndefined();
  });
});

describe('the memfs definition', () => {
  it('is of kind memfs, names its own module, parses options with parseTree and mounts its FileSystem', async () => {
    expect(memfs.kind).toMatchObject({ name: 'memfs', fstype: 'fuse.memfs', comm: 'memfs-daemon', homeEnv: 'MEMFS_HOME' });
    expect(memfs.module).toMatch(/\/examples\/memfs\/daemon\.(ts|js)$/);
    expect(memfs.definition.options).toBe(parseTree);
    const ac = new AbortController();
    const log = { info: () => undefined, error: () => undefined };
    const served = await memfs.definition.mount({ workspace: 'ws', mountpoint: '/mnt', options: parseTree(TREE), readOnly: true, signal: ac.signal, log, dir: '/nowhere', data: { load: async () => undefined, save: async () => undefined } });
    expect('fs' in served && typeof served.fs.getattr).toBe('function');
  });
});
