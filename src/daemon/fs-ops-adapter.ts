/**
 * The callback-style {@link FsOps} (fuse-native's old convention, what `{ ops }` serves) as a
 * {@link FileSystem}, so one bridge serves both (./native/ops-bridge.ts). A callback's code is 0
 * or a negative errno (read and write: bytes or a negative errno); anything else is a fault of the
 * op (answered EIO, logged), as is a second callback (dropped, logged) or a rejected promise of an
 * async op. Times reach the ops in milliseconds (utimens), as FsOps always said.
 */
import { constants } from 'node:os';
import type { FsOps, FsStat } from './fs-ops.js';
import { FsError, type ErrnoName, type FileSystem, type FsAttr } from './file-system.js';
import { OpFault } from './native/ops-bridge.js';

const NAMES = new Map<number, ErrnoName>();
for (const [k, v] of Object.entries(constants.errno)) if (!NAMES.has(v)) NAMES.set(v, k as ErrnoName);

type Cb = (code: number, ...rest: unknown[]) => void;

/** ns since the epoch → ms, exact to the ns (Number(ns) alone rounds past 2^53). */
function msOf(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** One FsError per errno, made once: an Error's construction captures a stack, and a callback's errno needs none (getxattr's ENODATA comes with every write). */
const ERRORS = new Map<number, FsError>();
function errorOf(errno: number, name: ErrnoName): FsError {
  let e = ERRORS.get(errno);
  if (!e) ERRORS.set(errno, (e = new FsError(name)));
  return e;
}

export function fileSystemOfOps(ops: FsOps, log: (line: string) => void): FileSystem {
  /** Call op `name` with `args` and a callback; resolves with the callback's values after its code. */
  const cb = (name: keyof FsOps, args: unknown[], counts = false): Promise<unknown[]> =>
    new Promise((resolve, reject) => {
      let called = false;
      const done: Cb = (code, ...rest) => {
        if (called) {
          log(`op ${name}: called back twice; the second is dropped`);
          return;
        }
        called = true;
        if (counts && typeof code === 'number' && Number.isInteger(code) && code >= 0) return resolve([code, ...rest]);
        if (code === 0 || ((code === undefined || code === null) && !counts)) return resolve(rest);
        if (typeof code === 'number' && Number.isInteger(code) && code < 0 && code >= -4095) {
          const n = NAMES.get(-code);
          return reject(n ? errorOf(-code, n) : new OpFault(`${name} answered errno ${-code}, which this system does not name`));
        }
        reject(new OpFault(`${name} answered ${String(code)}${counts ? '' : ' (errors are negative errno numbers)'}`));
      };
      try {
        const ret: unknown = (ops[name] as (...a: unknown[]) => unknown).call(ops, ...args, done);
        if (ret && typeof (ret as Promise<unknown>).then === 'function') {
          (ret as Promise<unknown>).then(undefined, (err: unknown) => {
            if (called) return;
            called = true;
            reject(new OpFault(`${name} rejected: ${err instanceof Error ? err.message : String(err)}`));
          });
        }
      } catch (err) {
        if (!called) {
          called = true;
          reject(new OpFault(`${name} threw: ${err instanceof Error ? err.message : String(err)}`));
        } else log(`op ${name}: threw after its answer: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  const stat = async (path: string): Promise<FsAttr> => {
    const [st] = await cb('getattr', [path]);
    if (typeof st !== 'object' || st === null) throw new OpFault('getattr answered no stat');
    return st as FsStat;
  };
  const has = (k: keyof FsOps): boolean => typeof ops[k] === 'function';
  const fs: FileSystem = {};
  const h = (v: unknown): number => (typeof v === 'number' ? v : 0);
  // An open file's attributes by its handle when the ops can (fgetattr): its name may be gone or taken by another.
  if (has('getattr')) {
    fs.getattr = async (_c, path, fh) => {
      if (fh === undefined || !has('fgetattr')) return stat(path);
      const [st] = await cb('fgetattr', [path, fh]);
      if (typeof st !== 'object' || st === null) throw new OpFault('fgetattr answered no stat');
      return st as FsStat;
    };
  }
  if (has('readdir')) {
    fs.readdir = async (_c, path) => {
      const [names, stats] = await cb('readdir', [path]);
      if (!Array.isArray(names)) throw new OpFault('readdir answered no list of names');
      return names.map((name: unknown, i) => ({ name: name as string, ...(Array.isArray(stats) && stats[i] ? { attr: stats[i] as FsAttr } : {}) }));
    };
  }
  if (has('open')) fs.open = async (_c, path, flags) => h((await cb('open', [path, flags]))[0]);
  if (has('opendir')) fs.opendir = async (_c, path, flags) => h((await cb('opendir', [path, flags]))[0]);
  if (has('read')) {
    // The core hands a zeroed buffer to fill (no JavaScript allocation per read: READ_BUFFERS).
    (fs as { read: unknown }).read = async (_c: unknown, path: string, fh: number, size: number, offset: number | bigint, buffer?: Buffer) => {
      const buf = buffer && buffer.length >= size ? buffer : Buffer.alloc(size);
      const [n] = await cb('read', [path, fh, buf, size, Number(offset)], true);
      if ((n as number) > size) throw new OpFault(`read answered ${String(n)} bytes for ${size} asked`);
      return buf.subarray(0, n as number);
    };
  }
  if (has('write')) fs.write = async (_c, path, fh, data, offset) => (await cb('write', [path, fh, data, data.length, Number(offset)], true))[0] as number;
  if (has('create')) {
    fs.create = async (_c, path, mode) => {
      const [fd] = await cb('create', [path, mode]);
      return { fh: h(fd), attr: await stat(path) };
    };
  }
  if (has('flush')) fs.flush = async (_c, path, fh) => void (await cb('flush', [path, fh]));
  if (has('release')) fs.release = async (_c, path, fh) => void (await cb('release', [path, fh]));
  if (has('releasedir')) fs.releasedir = async (_c, path, fh) => void (await cb('releasedir', [path, fh]));
  if (has('fsync')) fs.fsync = async (_c, path, fh, datasync) => void (await cb('fsync', [path, datasync ? 1 : 0, fh]));
  if (has('fsyncdir')) fs.fsyncdir = async (_c, path, fh, datasync) => void (await cb('fsyncdir', [path, datasync ? 1 : 0, fh]));
  if (has('truncate') || has('ftruncate')) {
    fs.truncate = async (_c, path, size, fh) => {
      if (fh !== undefined && has('ftruncate')) await cb('ftruncate', [path, fh, Number(size)]);
      else if (has('truncate')) await cb('truncate', [path, Number(size)]);
      else throw new FsError('ENOSYS');
    };
  }
  if (has('chmod')) fs.chmod = async (_c, path, mode) => void (await cb('chmod', [path, mode]));
  if (has('chown')) {
    // chown of FsOps takes both ids: the one not changed is the file's own.
    fs.chown = async (_c, path, uid, gid) => {
      const st = uid === undefined || gid === undefined ? await stat(path) : undefined;
      await cb('chown', [path, uid ?? st?.uid, gid ?? st?.gid]);
    };
  }
  if (has('utimens')) {
    // utimens of FsOps takes both times (ms): the one not changed is the file's own.
    fs.utimens = async (_c, path, t) => {
      const st = t.atime === undefined || t.mtime === undefined ? await stat(path) : undefined;
      const ms = (v: unknown): number => (v instanceof Date ? v.getTime() : typeof v === 'bigint' ? msOf(v) : Number(v ?? 0));
      await cb('utimens', [path, t.atime !== undefined ? msOf(t.atime) : ms(st?.atime), t.mtime !== undefined ? msOf(t.mtime) : ms(st?.mtime)]);
    };
  }
  if (has('unlink')) fs.unlink = async (_c, path) => void (await cb('unlink', [path]));
  if (has('mkdir')) fs.mkdir = async (_c, path, mode) => void (await cb('mkdir', [path, mode]));
  if (has('rmdir')) fs.rmdir = async (_c, path) => void (await cb('rmdir', [path]));
  if (has('mknod')) fs.mknod = async (_c, path, mode, rdev) => void (await cb('mknod', [path, mode, rdev]));
  if (has('symlink')) fs.symlink = async (_c, target, path) => void (await cb('symlink', [target, path]));
  if (has('readlink')) fs.readlink = async (_c, path) => (await cb('readlink', [path]))[0] as string;
  if (has('link')) fs.link = async (_c, path, dest) => void (await cb('link', [path, dest]));
  if (has('rename')) {
    // FsOps' rename has no flags: RENAME_NOREPLACE and RENAME_EXCHANGE are refused (EINVAL), as libfuse's high-level API does.
    fs.rename = async (_c, path, dest, flags) => {
      if (flags !== 0) throw new FsError('EINVAL');
      await cb('rename', [path, dest]);
    };
  }
  if (has('access')) fs.access = async (_c, path, mode) => void (await cb('access', [path, mode]));
  if (has('statfs')) fs.statfs = async (_c, path) => (await cb('statfs', [path]))[0] as never;
  if (has('setxattr')) fs.setxattr = async (_c, path, name, value, flags) => void (await cb('setxattr', [path, name, value, 0, flags]));
  if (has('getxattr')) {
    fs.getxattr = async (_c, path, name) => {
      const [v] = await cb('getxattr', [path, name, 0]);
      if (v === null || v === undefined) throw new FsError('ENODATA');
      return v as Uint8Array;
    };
  }
  if (has('listxattr')) fs.listxattr = async (_c, path) => ((await cb('listxattr', [path]))[0] ?? []) as string[];
  if (has('removexattr')) fs.removexattr = async (_c, path, name) => void (await cb('removexattr', [path, name]));
  (fs as Record<symbol, boolean>)[READ_BUFFERS] = true;
  return fs;
}

/** Marks a FileSystem whose read fills a buffer the core gives it (the callback-style ops). */
export const READ_BUFFERS = Symbol('mountie.readBuffers');
