// Compile-time tests of the public types (issue 23): `npm run typecheck` checks this file (it is
// not run). Each `@ts-expect-error` line must be an error, or the type check fails; the lines
// without one must compile.
import { constants } from 'node:os';
import { launch, runForeground, defineDaemon, defineKind, type FsDone, type FsOps, type MountieDaemon } from '../../src/index.js';

interface Opts { readonly url: string; readonly timeoutMs: number }
declare const web: MountieDaemon<Opts>;
// The parser applies a default: what a launch passes (I) is not what the daemon gets (O).
declare const webWithInput: MountieDaemon<Opts, { url: string; timeoutMs?: number }>;
declare const raw: unknown;
declare const n: number;
declare const ok: boolean;

export async function options(): Promise<void> {
  await launch('ws', { daemon: web, options: { url: 'http://h/', timeoutMs: 5 } });
  await launch('ws', { daemon: web }); // a later launch reuses the stored options
  await launch('ws', { daemon: web, options: raw }); // raw input: the parser checks it at run time
  // @ts-expect-error -- a wrong option type
  await launch('ws', { daemon: web, options: { url: 7, timeoutMs: 5 } });
  // @ts-expect-error -- a missing option
  await launch('ws', { daemon: web, options: { url: 'http://h/' } });
  // @ts-expect-error -- an option the daemon does not have
  await launch('ws', { daemon: web, options: { url: 'http://h/', timeoutMs: 5, retries: 3 } });
  await launch('ws', { daemon: webWithInput, options: { url: 'http://h/' } });
  // @ts-expect-error -- the declared input still has a type
  await launch('ws', { daemon: webWithInput, options: { url: 1 } });
  // mountie's passthrough: `source`, never `options`.
  await launch('ws', { source: '/srv' });
  // @ts-expect-error -- options without a daemon
  await launch('ws', { source: '/srv', options: { url: 'x' } });
  await runForeground(web, 'ws', { options: { url: 'http://h/', timeoutMs: 5 } });
  // @ts-expect-error -- runForeground checks them the same way
  await runForeground(web, 'ws', { options: { url: 'http://h/', timeoutMs: '5' } });
}

// defineDaemon infers O from the parser; I defaults to O.
const KIND = defineKind({ name: 'typefs', command: 'typefs' });
const inferred = defineDaemon({ kind: KIND, module: import.meta.url, options: (r: unknown) => r as { n: number }, mount: () => ({ ops: {} }) });
export async function inferredOptions(): Promise<void> {
  await launch('ws', { daemon: inferred, options: { n: 1 } });
  // @ts-expect-error -- inferred from the parser's return type
  await launch('ws', { daemon: inferred, options: { n: '1' } });
}

// Return codes: 0, a negative errno, or a `number` compile; a positive literal does not.
export const ops: FsOps = {
  getattr(path, cb) {
    if (path === '/') return cb(0, { mode: 0o40555, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0 });
    if (path === '/a') return cb(-2);
    if (path === '/b') return cb(-constants.errno.ENOENT);
    if (path === '/c') return cb(n);
    if (path === '/d') return cb(ok ? 0 : -13);
    // @ts-expect-error -- errors are negative errno numbers: 2 would be a fault (EIO at run time)
    return cb(2);
  },
  access(_path, _mode, cb) {
    // @ts-expect-error -- a positive literal in either branch
    cb(ok ? 0 : 5);
  },
  open(_path, _flags, cb) {
    // @ts-expect-error -- EIO is 5; the code is -5
    cb(5, 3);
  },
  read(_path, _fd, _buffer, length, _position, cb) {
    cb(length); // read and write answer the bytes done: positive numbers compile
  },
};
export const done: FsDone = (code: number) => void code; // a plain function is an FsDone
export const plain: (code: number) => void = ((): FsDone => done)(); // and an FsDone a plain function
