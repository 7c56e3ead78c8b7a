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

/** A promise or other thenable (an author's op may return either; a plain value answers at once). */
function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** `f` of `v`: now when `v` is a value, once it settles when it is a promise (the hot ops answer synchronously, without a microtask). */
function then(v: unknown, f: (x: unknown) => unknown): unknown {
  return isThenable(v) ? Promise.resolve(v).then(f) : f(v);
}

/** What an author's throw or rejection becomes: its own FsError (or our OpFault) as it is, anything else a fault naming the op. */
function faultOf(name: string, how: string, err: unknown): unknown {
  return fsErrnoOf(err) !== undefined || err instanceof OpFault ? err : new OpFault(`${name} ${how}: ${message(err)}`);
}

export function createDispatch(fs: FileSystem, layoutOps: readonly string[], reply: ReplyFn, log: (line: string) => void): Dispatch {
  /**
   * The author's op `name`: its value when it returns one, else a promise of it. A synchronous
   * throw is thrown on (as a fault unless an FsError); a rejection rejects; a missing op, ENOSYS.
   */
  const call = (name: keyof FileSystem, ...args: unknown[]): unknown => {
    const fn = fs[name] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') throw new FsError('ENOSYS');
    let v: unknown;
    try {
      v = fn.apply(fs, args);
    } catch (err) {
      throw faultOf(name, 'threw', err);
    }
    return isThenable(v) ? Promise.resolve(v).catch((err: unknown) => { throw faultOf(name, 'rejected', err); }) : v;
  };
  /** Awaitable form of call, for the composite ops (setattr, mknod, …) that chain several. */
  const callAsync = async <T>(name: keyof FileSystem, ...args: unknown[]): Promise<T> => (await call(name, ...args)) as T;
  const checkAttr = (st: unknown): FsAttr => {
    if (!isObject(st)) throw new OpFault('getattr answered no attributes');
    return st as unknown as FsAttr;
  };
  const attrOf = (c: FsCaller, path: string, fh?: unknown): unknown => then(call('getattr', c, path, fh), checkAttr);
  const attrAsync = async (c: FsCaller, path: string, fh?: unknown): Promise<FsAttr> => (await attrOf(c, path, fh)) as FsAttr;
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
      return attrAsync(c, path, fh);
    },
    readlink: (c, path) =>
      then(call('readlink', c, path), (t) => {
        if (typeof t !== 'string') throw new OpFault(`readlink answered ${typeof t}, not a string`);
        return t;
      }),
    mknod: async (c, path, mode, rdev) => (await callAsync('mknod', c, path, mode, rdev), attrAsync(c, path)),
    mkdir: async (c, path, mode) => (await callAsync('mkdir', c, path, (mode as number) & 0o7777), attrAsync(c, path)),
    unlink: (c, path) => call('unlink', c, path),
    rmdir: (c, path) => call('rmdir', c, path),
    symlink: async (c, path, target) => (await callAsync('symlink', c, target, path), attrAsync(c, path)),
    rename: (c, path, dest, flags) => call('rename', c, path, dest, flags),
    link: async (c, path, dest) => (await callAsync('link', c, path, dest), attrAsync(c, dest as string)),
    open: (c, path, flags) => then(call('open', c, path, flags), handleOf),
    opendir: (c, path, flags) => then(call('opendir', c, path, flags), handleOf),
    read: (c, path, fh, size, offset, buffer) =>
      then(call('read', c, path, handleOf(fh), size, offset, buffer), (data) => {
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
      }),
    write: (c, path, fh, data, offset) =>
      then(call('write', c, path, handleOf(fh), data, offset), (n) => {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > (data as Buffer).length) throw new OpFault(`write answered ${String(n)}, not a count of bytes written`);
        return n;
      }),
    flush: (c, path, fh) => call('flush', c, path, handleOf(fh)),
    release: (c, path, fh, flags) => call('release', c, path, handleOf(fh), flags),
    releasedir: (c, path, fh) => call('releasedir', c, path, handleOf(fh)),
    fsync: (c, path, fh, datasync) => call('fsync', c, path, handleOf(fh), datasync !== 0),
    fsyncdir: (c, path, fh, datasync) => call('fsyncdir', c, path, handleOf(fh), datasync !== 0),
    readdir: (c, path, fh) =>
      then(call('readdir', c, path, handleOf(fh)), (list) => {
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
      }),
    statfs: (c, path) =>
      then(call('statfs', c, path), (s) => {
        if (!isObject(s)) throw new OpFault('statfs answered no object');
        return s;
      }),
    setxattr: (c, path, name, value, flags) => call('setxattr', c, path, name, value, flags),
    getxattr: (c, path, name) =>
      then(call('getxattr', c, path, name), (v) => {
        if (!(v instanceof Uint8Array)) throw new OpFault('getxattr answered no bytes');
        return v;
      }),
    listxattr: (c, path) =>
      then(call('listxattr', c, path), (v) => {
        if (!Array.isArray(v) || !v.every((n) => typeof n === 'string')) throw new OpFault('listxattr answered no list of names');
        return v;
      }),
    removexattr: (c, path, name) => call('removexattr', c, path, name),
    access: (c, path, mask) => call('access', c, path, mask),
    create: (c, path, mode, flags) =>
      then(call('create', c, path, mode, flags), (r) => {
        if (!isObject(r) || !isObject(r.attr)) throw new OpFault('create answered no { fh, attr }');
        return [handleOf(r.fh), r.attr];
      }),
    fallocate: (c, path, fh, mode, offset, length) => call('fallocate', c, path, handleOf(fh), mode, offset, length),
    lseek: (c, path, fh, offset, whence) => call('lseek', c, path, handleOf(fh), offset, whence),
  };

  const table: (Handler | undefined)[] = layoutOps.map((name) => handlers[name]);
  const VOID = new Set(['unlink', 'rmdir', 'rename', 'flush', 'release', 'releasedir', 'fsync', 'fsyncdir', 'setxattr', 'removexattr', 'access', 'fallocate']);
  const isVoid: boolean[] = layoutOps.map((name) => VOID.has(name));

  const answer = (id: number, op: number, value: unknown): void => {
    if (reply(id, 0, isVoid[op] === true ? undefined : value) === 2) {
      const name = layoutOps[op] ?? String(op);
      log(`op ${name}: the answer is not what ${name} answers; answered EIO`);
    }
  };
  const fail = (id: number, op: number, err: unknown): void => {
    const errno = fsErrnoOf(err);
    if (errno !== undefined) {
      reply(id, errno);
      return;
    }
    reply(id, EIO);
    log(`op ${layoutOps[op] ?? String(op)}: ${err instanceof OpFault ? err.message : `threw: ${message(err)}`}; answered EIO`);
  };
  /** A promise's answer, later; a fault of the bridge itself must not end the daemon (an unhandled rejection is fatal there). */
  const later = (id: number, op: number, p: PromiseLike<unknown>): void => {
    Promise.resolve(p)
      .then(
        (v) => answer(id, op, v),
        (err: unknown) => fail(id, op, err),
      )
      .catch((err: unknown) => log(`op ${layoutOps[op] ?? String(op)}: the bridge failed to answer: ${message(err)}`));
  };

  // An op that returns a value (no promise) is answered before dispatch returns: no promise, no microtask.
  return (id, op, uid, gid, pid, umask, path, a, b, c, d) => {
    const h = table[op];
    if (!h) {
      reply(id, ENOSYS);
      return;
    }
    let v: unknown;
    try {
      v = h({ uid, gid, pid, umask }, path, a, b, c, d);
    } catch (err) {
      fail(id, op, err);
      return;
    }
    if (isThenable(v)) later(id, op, v);
    else {
      try {
        answer(id, op, v);
      } catch (err) {
        log(`op ${layoutOps[op] ?? String(op)}: the bridge failed to answer: ${message(err)}`);
      }
    }
  };
}
