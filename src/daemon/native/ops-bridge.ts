/**
 * A kind's own file system ({@link FileSystem}; the callback-style FsOps come through
 * ../fs-ops-adapter.ts) served by the native core's JS-ops mode (native/src/jsfs.c): C keeps the
 * session, its threads, the node table and the reply; each request reaches this dispatcher on the
 * JavaScript thread with its path(s) and the caller, and is answered through `reply`. Rules
 * (issue 19, "Bad input and faults"):
 *  - an FsError is answered with its errno; anything else thrown or rejected, and an answer of
 *    the wrong shape, is answered EIO and logged with the op's name; the daemon keeps serving;
 *  - an op that never answers gets ETIMEDOUT from C at its deadline; its late answer is dropped;
 *  - composite requests are built here from the ops an author has: lookup is getattr; setattr is
 *    chmod, chown, truncate and utimens in that order, then getattr; mknod, mkdir, symlink and
 *    link are followed by getattr of the new name.
 */
import type { FileSystem, FsAttr, FsCaller, FsDirent } from '../file-system.js';
import { FsError, fsErrnoOf } from '../file-system.js';

/** The addon's answer call: 0 answered, 1 already answered (late), 2 malformed (answered EIO). */
export type ReplyFn = (id: number, errno: number, value?: unknown) => number;

/** The addon calls this for each request, on the JavaScript thread. */
export type Dispatch = (id: number, op: number, uid: number, gid: number, pid: number, umask: number, path: string, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => void;

/** A fault of the author's code, said in the log (answered EIO): not an errno the author chose. */
export class OpFault extends Error {}

const EIO = 5;
const ENOSYS = 38;

interface Changes {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: number | bigint;
  readonly atimeNs?: bigint;
  readonly mtimeNs?: bigint;
}

/** The native op names `fs` answers (the addon's `implemented` option); the rest get ENOSYS in C. */
export function implementedOps(fs: FileSystem): string[] {
  const has = (k: keyof FileSystem): boolean => typeof fs[k] === 'function';
  const out: string[] = [];
  if (has('getattr')) out.push('lookup', 'getattr');
  if (has('chmod') || has('chown') || has('truncate') || has('utimens')) out.push('setattr');
  const same = ['readlink', 'mknod', 'mkdir', 'unlink', 'rmdir', 'symlink', 'rename', 'link', 'open', 'read', 'write', 'flush', 'release', 'fsync', 'opendir', 'readdir', 'releasedir', 'fsyncdir', 'statfs', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'access', 'create', 'fallocate', 'lseek'] as const;
  for (const k of same) if (has(k)) out.push(k);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type Handler = (c: FsCaller, path: string, a: unknown, b: unknown, c2: unknown, d: unknown) => unknown;

export function createDispatch(fs: FileSystem, layoutOps: readonly string[], reply: ReplyFn, log: (line: string) => void): Dispatch {
  /** The author's op `name`: a synchronous throw becomes a rejection; a missing op, ENOSYS. */
  const call = <T>(name: keyof FileSystem, ...args: unknown[]): Promise<T> => {
    const fn = fs[name] as ((...a: unknown[]) => T | Promise<T>) | undefined;
    if (typeof fn !== 'function') return Promise.reject(new FsError('ENOSYS'));
    try {
      return Promise.resolve(fn.apply(fs, args)).catch((err: unknown) => {
        throw fsErrnoOf(err) !== undefined || err instanceof OpFault ? err : new OpFault(`${name} rejected: ${message(err)}`);
      });
    } catch (err) {
      return Promise.reject(fsErrnoOf(err) !== undefined || err instanceof OpFault ? err : new OpFault(`${name} threw: ${message(err)}`));
    }
  };
  const attrOf = async (c: FsCaller, path: string, fh?: unknown): Promise<FsAttr> => {
    const st = await call<FsAttr>('getattr', c, path, fh);
    if (!isObject(st)) throw new OpFault('getattr answered no attributes');
    return st;
  };
  const handleOf = (v: unknown): number | bigint => (v === undefined || v === null ? 0 : (v as number));

  const handlers: Record<string, Handler> = {
    lookup: (c, path) => attrOf(c, path),
    getattr: (c, path, fh) => attrOf(c, path, fh),
    setattr: async (c, path, fh, changes) => {
      const ch = changes as Changes;
      if (ch.mode !== undefined) await call('chmod', c, path, ch.mode);
      if (ch.uid !== undefined || ch.gid !== undefined) await call('chown', c, path, ch.uid, ch.gid);
      if (ch.size !== undefined) await call('truncate', c, path, ch.size, fh);
      if (ch.atimeNs !== undefined || ch.mtimeNs !== undefined) {
        await call('utimens', c, path, { ...(ch.atimeNs !== undefined ? { atime: ch.atimeNs } : {}), ...(ch.mtimeNs !== undefined ? { mtime: ch.mtimeNs } : {}) }, fh);
      }
      return attrOf(c, path, fh);
    },
    readlink: async (c, path) => {
      const t = await call<unknown>('readlink', c, path);
      if (typeof t !== 'string') throw new OpFault(`readlink answered ${typeof t}, not a string`);
      return t;
    },
    mknod: async (c, path, mode, rdev) => (await call('mknod', c, path, mode, rdev), attrOf(c, path)),
    mkdir: async (c, path, mode) => (await call('mkdir', c, path, (mode as number) & 0o7777), attrOf(c, path)),
    unlink: (c, path) => call('unlink', c, path),
    rmdir: (c, path) => call('rmdir', c, path),
    symlink: async (c, path, target) => (await call('symlink', c, target, path), attrOf(c, path)),
    rename: (c, path, dest, flags) => call('rename', c, path, dest, flags),
    link: async (c, path, dest) => (await call('link', c, path, dest), attrOf(c, dest as string)),
    open: async (c, path, flags) => handleOf(await call('open', c, path, flags)),
    opendir: async (c, path, flags) => handleOf(await call('opendir', c, path, flags)),
    read: async (c, path, fh, size, offset, buffer) => {
      const data = await call<unknown>('read', c, path, handleOf(fh), size, offset, buffer);
      // Pieces go out in one writev (no joining copy): a file kept in chunks answers with views of them.
      const pieces = Array.isArray(data) ? data : [data];
      let total = 0;
      for (const p of pieces) {
        if (!(p instanceof Uint8Array)) throw new OpFault('read answered no bytes (a Uint8Array, or an array of them)');
        total += p.length;
      }
      if (total > (size as number)) throw new OpFault(`read answered ${total} bytes for ${String(size)} asked`);
      if (pieces.length > 256) throw new OpFault(`read answered ${pieces.length} pieces; 256 at most`);
      return data;
    },
    write: async (c, path, fh, data, offset) => {
      const n = await call<unknown>('write', c, path, handleOf(fh), data, offset);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > (data as Buffer).length) throw new OpFault(`write answered ${String(n)}, not a count of bytes written`);
      return n;
    },
    flush: (c, path, fh) => call('flush', c, path, handleOf(fh)),
    release: (c, path, fh, flags) => call('release', c, path, handleOf(fh), flags),
    releasedir: (c, path, fh) => call('releasedir', c, path, handleOf(fh)),
    fsync: (c, path, fh, datasync) => call('fsync', c, path, handleOf(fh), datasync !== 0),
    fsyncdir: (c, path, fh, datasync) => call('fsyncdir', c, path, handleOf(fh), datasync !== 0),
    readdir: async (c, path, fh) => {
      const list = await call<unknown>('readdir', c, path, handleOf(fh));
      if (!Array.isArray(list)) throw new OpFault('readdir answered no list');
      const names: string[] = [];
      const attrs: (FsAttr | undefined)[] = [];
      for (const e of list as FsDirent[]) {
        if (typeof e === 'string') {
          names.push(e);
          attrs.push(undefined);
        } else if (isObject(e) && typeof e.name === 'string') {
          names.push(e.name);
          attrs.push(e.attr);
        } else throw new OpFault('readdir answered an entry that is neither a name nor { name, attr }');
      }
      return [names, attrs];
    },
    statfs: async (c, path) => {
      const s = await call<unknown>('statfs', c, path);
      if (!isObject(s)) throw new OpFault('statfs answered no object');
      return s;
    },
    setxattr: (c, path, name, value, flags) => call('setxattr', c, path, name, value, flags),
    getxattr: async (c, path, name) => {
      const v = await call<unknown>('getxattr', c, path, name);
      if (!(v instanceof Uint8Array)) throw new OpFault('getxattr answered no bytes');
      return v;
    },
    listxattr: async (c, path) => {
      const v = await call<unknown>('listxattr', c, path);
      if (!Array.isArray(v) || !v.every((n) => typeof n === 'string')) throw new OpFault('listxattr answered no list of names');
      return v;
    },
    removexattr: (c, path, name) => call('removexattr', c, path, name),
    access: (c, path, mask) => call('access', c, path, mask),
    create: async (c, path, mode, flags) => {
      const r = await call<unknown>('create', c, path, mode, flags);
      if (!isObject(r) || !isObject(r.attr)) throw new OpFault('create answered no { fh, attr }');
      return [handleOf(r.fh), r.attr];
    },
    fallocate: (c, path, fh, mode, offset, length) => call('fallocate', c, path, handleOf(fh), mode, offset, length),
    lseek: (c, path, fh, offset, whence) => call('lseek', c, path, handleOf(fh), offset, whence),
  };

  const table: (Handler | undefined)[] = layoutOps.map((name) => handlers[name]);
  const VOID = new Set(['unlink', 'rmdir', 'rename', 'flush', 'release', 'releasedir', 'fsync', 'fsyncdir', 'setxattr', 'removexattr', 'access', 'fallocate']);

  return (id, op, uid, gid, pid, umask, path, a, b, c, d) => {
    const name = layoutOps[op] ?? String(op);
    const h = table[op];
    if (!h) {
      reply(id, ENOSYS);
      return;
    }
    const answer = (value: unknown): void => {
      if (reply(id, 0, VOID.has(name) ? undefined : value) === 2) log(`op ${name}: the answer is not what ${name} answers; answered EIO`);
    };
    const fail = (err: unknown): void => {
      const errno = fsErrnoOf(err);
      if (errno !== undefined) {
        reply(id, errno);
        return;
      }
      reply(id, EIO);
      log(`op ${name}: ${err instanceof OpFault ? err.message : `threw: ${message(err)}`}; answered EIO`);
    };
    try {
      Promise.resolve(h({ uid, gid, pid, umask }, path, a, b, c, d))
        .then(answer, fail)
        // A fault of the bridge itself must not end the daemon (an unhandled rejection is fatal there).
        .catch((err: unknown) => log(`op ${name}: the bridge failed to answer: ${message(err)}`));
    } catch (err) {
      fail(err);
    }
  };
}
