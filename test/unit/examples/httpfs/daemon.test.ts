/**
 * examples/httpfs: the options parser, the index parser and the operations against a real HTTP
 * server in this process (no FUSE): bytes by range, and EIO, bounded, when the server fails,
 * hangs or is gone. Runs against the built package (the example imports `mountie` by name).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { constants as fs } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FsError, type FileSystem, type FsCaller } from 'mountie';
import { fetchListing, httpfs, httpFs, parseIndex, parseOptions, type HttpOptions } from '../../../../examples/httpfs/daemon.js';
import { startFileServer, type FileServer } from '../../../helpers/file-server.js';
import { REPO } from '../../../helpers/sandbox.js';
import { codeOf } from '../answer.js';

const FILES = { 'a.txt': 'alpha\n', 'docs/b.md': '# B\n', 'docs/deep/c.bin': Buffer.alloc(300_000, 7) };

const servers: FileServer[] = [];
async function server(): Promise<FileServer> {
  const s = await startFileServer(FILES);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const log = { lines: [] as string[], info(l: string) { this.lines.push(l); }, error(l: string) { this.lines.push(l); } };
const never = new AbortController().signal;

async function fsFor(s: FileServer, timeoutMs = 2000): Promise<FileSystem> {
  const opts: HttpOptions = parseOptions({ url: s.url, timeoutMs });
  return httpFs(opts, await fetchListing(opts, never), never, log);
}
const caller: FsCaller = { uid: 1000, gid: 1000, pid: 1, umask: 0o022 };
/** A read's answer as one byte array (httpfs answers one). */
const bytes = async (hfs: FileSystem, path: string, size: number, offset: number | bigint): Promise<Uint8Array> =>
  (await hfs.read?.(caller, path, 0, size, offset)) as Uint8Array;
/** The errno name an op fails with (FsError's code), or what else it threw; undefined when it answered. */
async function failure(op: () => unknown): Promise<string | undefined> {
  try {
    await op();
    return undefined;
  } catch (err) {
    return err instanceof FsError ? err.code : String(err);
  }
}

describe('httpfs options (parseOptions)', () => {
  it('takes an http(s) url and a timeout, and ends the url with a slash', () => {
    expect(parseOptions({ url: 'http://127.0.0.1:8080/files' })).toEqual({ url: 'http://127.0.0.1:8080/files/', timeoutMs: 2000 });
    expect(parseOptions({ url: 'https://example.org/', timeoutMs: 500 })).toEqual({ url: 'https://example.org/', timeoutMs: 500 });
  });

  it.each([
    ['nothing', undefined],
    ['a string', 'http://x/'],
    ['no url', {}],
    ['a url that is not one', { url: 'not a url' }],
    ['a file: url', { url: 'file:///etc/' }],
    ['a timeout of 0', { url: 'http://x/', timeoutMs: 0 }],
    ['a timeout past the bound (10 s)', { url: 'http://x/', timeoutMs: 15_000 }],
    ['a fractional timeout', { url: 'http://x/', timeoutMs: 1.5 }],
    ['a timeout as a string', { url: 'http://x/', timeoutMs: '100' }],
    ['an unknown option', { url: 'http://x/', tls: true }],
  ])('refuses %s with ERR_INVALID_OPTION', (_what, raw) => {
    expect(codeOf(() => parseOptions(raw))).toBe('ERR_INVALID_OPTION');
  });
});

describe('httpfs index (parseIndex)', () => {
  it('builds directories from the paths', () => {
    const l = parseIndex({ 'a.txt': 6, 'docs/b.md': 4, 'docs/deep/c.bin': 9 });
    expect(l.get('/')).toEqual(['a.txt', 'docs']);
    expect(l.get('/docs')).toEqual(['b.md', 'deep']);
    expect(l.get('/docs/deep/c.bin')).toBe(9);
  });

  it.each([
    ['an array', []],
    ['a negative size', { a: -1 }],
    ['a size that is a string', { a: '1' }],
    ['a ".." path', { '../a': 1 }],
    ['an empty path', { '': 1 }],
    ['a file that is also a directory', { a: 1, 'a/b': 1 }],
    ['a directory that is also a file', { 'a/b': 1, a: 1 }],
  ])('refuses %s', (_what, doc) => {
    expect(() => parseIndex(doc)).toThrow(/index\.json/);
  });
});

describe('httpfs operations against a live server', () => {
  it('getattr, readdir and open answer from the listing', async () => {
    const hfs = await fsFor(await server());
    expect(await hfs.getattr?.(caller, '/docs/deep/c.bin', undefined)).toMatchObject({ mode: 0o100444, size: 300_000 });
    expect(await hfs.getattr?.(caller, '/docs', undefined)).toMatchObject({ mode: 0o40555 });
    expect(await failure(() => hfs.getattr?.(caller, '/nope', undefined))).toBe('ENOENT');
    expect(await hfs.readdir?.(caller, '/', 0)).toEqual(['a.txt', 'docs']);
    expect(await failure(() => hfs.readdir?.(caller, '/a.txt', 0))).toBe('ENOTDIR');
    expect(await failure(() => hfs.open?.(caller, '/a.txt', fs.O_RDONLY))).toBeUndefined();
    expect(await failure(() => hfs.open?.(caller, '/a.txt', fs.O_WRONLY))).toBe('EROFS');
    expect(await failure(() => hfs.open?.(caller, '/docs', fs.O_RDONLY))).toBe('EISDIR');
  });

  it('read fetches exactly the range asked for, clipped at the end of the file', async () => {
    const s = await server();
    const hfs = await fsFor(s);
    expect(Buffer.from(await bytes(hfs, '/a.txt', 3, 1)).toString()).toBe('lph');
    const tail = await bytes(hfs, '/docs/deep/c.bin', 131072, 262144n);
    expect([tail.length, tail[0]]).toEqual([300_000 - 262144, 7]);
    expect((await bytes(hfs, '/a.txt', 16, 6)).length).toBe(0); // past the end: no request
    expect(s.requests).toEqual(['GET /index.json', 'GET /a.txt bytes=1-3', `GET /docs/deep/c.bin bytes=262144-299999`]);
  });

  it('a server that is gone, answers 404 or hangs past timeoutMs makes read answer EIO, within the bound', async () => {
    const s = await server();
    const hfs = await fsFor(s, 300);
    s.hang(true);
    const t0 = Date.now();
    expect(await failure(() => bytes(hfs, '/a.txt', 16, 0))).toBe('EIO');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    s.hang(false);
    expect(Buffer.from(await bytes(hfs, '/a.txt', 16, 0)).toString()).toBe('alpha\n');
    await s.close();
    expect(await failure(() => bytes(hfs, '/a.txt', 16, 0))).toBe('EIO');
    expect(log.lines.some((l) => /read \/a\.txt at 0: EIO/.test(l))).toBe(true);

    const other = await server();
    const opts = parseOptions({ url: other.url });
    const stale = httpFs(opts, parseIndex({ 'gone.txt': 3 }), never, log);
    expect(await failure(() => bytes(stale, '/gone.txt', 3, 0))).toBe('EIO'); // 404
    expect(await failure(() => bytes(stale, '/nope', 3, 0))).toBe('ENOENT');
  });
});

describe('httpfs requests are bounded', () => {
  it('a hung request times out even while the garbage collector runs (Node 20: AbortSignal.any holds its sources weakly)', async () => {
    const s = await server();
    s.hang(true);
    // The built example in a process of its own, collecting garbage every 20 ms as a busy daemon does.
    const example = pathToFileURL(join(REPO, 'dist-examples/httpfs/daemon.js')).href;
    const script = `
      const { request, parseOptions } = await import(${JSON.stringify(example)});
      const gc = setInterval(() => globalThis.gc(), 20);
      const t0 = Date.now();
      const got = await request(parseOptions({ url: process.argv[1], timeoutMs: 300 }), 'a.txt', new AbortController().signal, async () => 'answered')
        .catch((err) => err.message);
      clearInterval(gc);
      console.log(JSON.stringify({ got, ms: Date.now() - t0 }));`;
    const r = await execa(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, s.url], { timeout: 10_000, reject: false });
    expect(r.timedOut, 'the request never timed out').toBe(false);
    expect((JSON.parse(r.stdout) as { got: string }).got).toMatch(/GET .*a\.txt: no answer within 300 ms/);
  });
});

describe('the httpfs definition', () => {
  it('mounts from a live server, and its probe resolves while the server answers and rejects once it is gone', async () => {
    const s = await server();
    const ctx = { workspace: 'ws', mountpoint: '/mnt', options: parseOptions({ url: s.url, timeoutMs: 500 }), readOnly: true, signal: never, log, dir: '/nowhere', data: { load: async () => undefined, save: async () => undefined } };
    expect(httpfs.kind.name).toBe('httpfs');
    const served = await httpfs.definition.mount(ctx);
    expect('fs' in served && typeof served.fs.read).toBe('function');
    await expect(httpfs.definition.probe?.(ctx)).resolves.toBeUndefined();
    await s.close();
    await expect(httpfs.definition.probe?.(ctx)).rejects.toThrow();
    await expect(Promise.resolve(httpfs.definition.mount(ctx))).rejects.toThrow(); // no server, no mount
  });

  it('a request in flight ends when the daemon shuts down (ctx.signal), long before timeoutMs', async () => {
    const s = await server();
    const opts = parseOptions({ url: s.url, timeoutMs: 5000 });
    const ac = new AbortController();
    const hfs = httpFs(opts, await fetchListing(opts, never), ac.signal, log);
    s.hang(true);
    const t0 = Date.now();
    const read = failure(() => bytes(hfs, '/a.txt', 16, 0));
    setTimeout(() => ac.abort(), 100);
    expect(await read).toBe('EIO');
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});
