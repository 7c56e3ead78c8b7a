/**
 * A kind's own operations ({@link FsOps}, fuse-native's callback style) served by the native core's
 * JS-ops mode (native/src/jsfs.c): C keeps the session, its threads, the node table and the
 * reply; each request reaches this dispatcher on the JavaScript thread with its path(s), and is
 * answered through `reply`. The rules (issue 19, "Bad input and faults"):
 *  - an op that throws, or calls back with something that is no answer, is answered EIO and the
 *    log says which op and why; the daemon keeps serving;
 *  - a second answer is dropped (logged); an op that never answers gets ETIMEDOUT from C at its
 *    deadline, and its late answer is dropped;
 *  - composite requests are built here from the ops an author has: lookup is getattr; setattr is
 *    chmod, chown, (f)truncate and utimens in that order, then getattr; create, mknod, mkdir,
 *    symlink and link are followed by getattr of the new name;
 *  - a getattr (or setattr) that carries an open file's handle asks the author's fgetattr when
 *    there is one: the file's name may be gone or taken by another (the kernel sends the handle
 *    with a read's size refresh and with ftruncate; fstat comes without one).
 */
import type { FsOps, FsStat } from '../fs-ops.js';

/** The addon's answer call: 0 answered, 1 already answered (late), 2 malformed (answered EIO). */
export type ReplyFn = (id: number, errno: number, value?: unknown) => number;

/** The addon calls this for each request, on the JavaScript thread. */
export type Dispatch = (id: number, op: number, uid: number, gid: number, pid: number, umask: number, path: string, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => void;

const EIO = 5;
const ENOSYS = 38;
const EINVAL = 22;
const ENODATA = 61;

/** The C op names each of the author's ops makes answerable (the rest get ENOSYS from C without a round trip). */
const SAME_NAME = ['readlink', 'mknod', 'mkdir', 'unlink', 'rmdir', 'symlink', 'rename', 'link', 'open', 'read', 'write', 'flush', 'release', 'fsync', 'opendir', 'readdir', 'releasedir', 'fsyncdir', 'statfs', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'access', 'create'] as const;

/** The native op names the author's `ops` answer (the addon's `implemented` option). */
export function implementedOps(ops: FsOps): string[] {
  const out: string[] = [];
  if (ops.getattr) out.push('lookup', 'getattr');
  if (ops.chmod || ops.chown || ops.truncate || ops.ftruncate || ops.utimens) out.push('setattr');
  for (const name of SAME_NAME) if (typeof ops[name] === 'function') out.push(name);
  return out;
}

interface Changes {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atimeNs?: bigint;
  mtimeNs?: bigint;
}

type Cb = (code: number, ...rest: unknown[]) => void;
type Handler = (ask: Ask, path: string, a: unknown, b: unknown, c: unknown, d: unknown) => void;

/** One request: its author's calls, and exactly one answer. */
interface Ask {
  readonly id: number;
  readonly op: string;
  /** Call the author's op `name` with `args` and a callback; a throw becomes EIO. */
  call(name: keyof FsOps, args: unknown[], then: Cb): void;
  ok(value?: unknown): void;
  fail(errno: number, why?: string): void;
}

function msOf(ns: bigint): number {
  return Number(ns) / 1e6;
}

/** An author's code: 0 is success; a negative errno is that error; anything else is no answer. */
function errnoOf(code: unknown): number | undefined {
  if (code === 0 || code === undefined || code === null) return 0;
  if (typeof code === 'number' && Number.isInteger(code) && code < 0 && code >= -4095) return -code;
  return undefined;
}

export function createDispatch(ops: FsOps, layoutOps: readonly string[], reply: ReplyFn, log: (line: string) => void): Dispatch {
  const has = (name: keyof FsOps): boolean => typeof ops[name] === 'function';
  // After getattr of `path`, answer with its stat.
  const withStat = (ask: Ask, path: string, wrap: (st: FsStat) => unknown = (st) => st, fh?: number): void =>
    ask.call(fh === undefined ? 'getattr' : 'fgetattr', fh === undefined ? [path] : [path, fh], (code, st) => {
      const e = errnoOf(code);
      if (e === undefined) return ask.fail(EIO, `getattr answered ${String(code)}`);
      if (e) return ask.fail(e);
      if (typeof st !== 'object' || st === null) return ask.fail(EIO, 'getattr answered no stat');
      ask.ok(wrap(st as FsStat));
    });
  // Run the author's op; on success continue with `next`, else answer its errno.
  const step = (ask: Ask, name: keyof FsOps, args: unknown[], next: () => void): void => {
    if (!has(name)) return ask.fail(ENOSYS);
    ask.call(name, args, (code) => {
      const e = errnoOf(code);
      if (e === undefined) return ask.fail(EIO, `${name} answered ${String(code)}`);
      if (e) return ask.fail(e);
      next();
    });
  };
  const codeOnly = (name: keyof FsOps, args: (path: string, a: unknown, b: unknown, c: unknown) => unknown[]): Handler => (ask, path, a, b, c) => step(ask, name, args(path, a, b, c), () => ask.ok());
  const withHandle = (name: 'open' | 'opendir'): Handler => (ask, path, a) =>
    ask.call(name, [path, a], (code, fd) => {
      const e = errnoOf(code);
      if (e === undefined) return ask.fail(EIO, `${name} answered ${String(code)}`);
      if (e) return ask.fail(e);
      ask.ok(fd ?? 0);
    });

  const handlers: Record<string, Handler> = {
    lookup: (ask, path) => withStat(ask, path),
    // An open file's attributes by its handle when the author can (its name may be gone or reused).
    getattr: (ask, path, fh) => (fh !== undefined && has('fgetattr') ? withStat(ask, path, undefined, fh as number) : withStat(ask, path)),
    setattr: (ask, path, fh, changes) => setattr(ask, path, fh as number | undefined, changes as Changes),
    readlink: (ask, path) =>
      ask.call('readlink', [path], (code, target) => {
        const e = errnoOf(code);
        if (e === undefined || (!e && typeof target !== 'string')) return ask.fail(EIO, `readlink answered ${String(code)}, ${typeof target}`);
        if (e) return ask.fail(e);
        ask.ok(target);
      }),
    mknod: (ask, path, mode, rdev) => step(ask, 'mknod', [path, mode, rdev], () => withStat(ask, path)),
    mkdir: (ask, path, mode) => step(ask, 'mkdir', [path, (mode as number) & 0o7777], () => withStat(ask, path)),
    unlink: codeOnly('unlink', (p) => [p]),
    rmdir: codeOnly('rmdir', (p) => [p]),
    symlink: (ask, path, target) => step(ask, 'symlink', [target, path], () => withStat(ask, path)),
    rename: (ask, path, dest, flags) => ((flags as number) !== 0 ? ask.fail(EINVAL) : step(ask, 'rename', [path, dest], () => ask.ok())),
    link: (ask, path, dest) => step(ask, 'link', [path, dest], () => withStat(ask, dest as string)),
    open: withHandle('open'),
    opendir: withHandle('opendir'),
    read: (ask, path, fh, size, offset) => {
      const buf = Buffer.alloc(size as number);
      ask.call('read', [path, fh ?? 0, buf, size, offset], (n) => {
        if (typeof n !== 'number' || !Number.isInteger(n) || n > buf.length) return ask.fail(EIO, `read answered ${String(n)}`);
        if (n < 0) return ask.fail(errnoOf(n) ?? EIO);
        ask.ok(buf.subarray(0, n));
      });
    },
    write: (ask, path, fh, data, offset) => {
      const buf = data as Buffer;
      ask.call('write', [path, fh ?? 0, buf, buf.length, offset], (n) => {
        if (typeof n !== 'number' || !Number.isInteger(n) || n > buf.length) return ask.fail(EIO, `write answered ${String(n)}`);
        if (n < 0) return ask.fail(errnoOf(n) ?? EIO);
        ask.ok(n);
      });
    },
    flush: codeOnly('flush', (p, fh) => [p, fh ?? 0]),
    release: codeOnly('release', (p, fh) => [p, fh ?? 0]),
    releasedir: codeOnly('releasedir', (p, fh) => [p, fh ?? 0]),
    fsync: codeOnly('fsync', (p, fh, datasync) => [p, datasync, fh ?? 0]),
    fsyncdir: codeOnly('fsyncdir', (p, fh, datasync) => [p, datasync, fh ?? 0]),
    readdir: (ask, path) =>
      ask.call('readdir', [path], (code, names, stats) => {
        const e = errnoOf(code);
        if (e === undefined) return ask.fail(EIO, `readdir answered ${String(code)}`);
        if (e) return ask.fail(e);
        if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return ask.fail(EIO, 'readdir answered no list of names');
        ask.ok(Array.isArray(stats) ? [names, stats] : [names]);
      }),
    statfs: (ask, path) =>
      ask.call('statfs', [path], (code, sfs) => {
        const e = errnoOf(code);
        if (e === undefined || (!e && (typeof sfs !== 'object' || sfs === null))) return ask.fail(EIO, `statfs answered ${String(code)}`);
        if (e) return ask.fail(e);
        ask.ok(sfs);
      }),
    setxattr: codeOnly('setxattr', (p, name, value, flags) => [p, name, value, 0, flags]),
    getxattr: (ask, path, name) =>
      ask.call('getxattr', [path, name, 0], (code, value) => {
        const e = errnoOf(code);
        if (e === undefined) return ask.fail(EIO, `getxattr answered ${String(code)}`);
        if (e) return ask.fail(e);
        if (value === null || value === undefined) return ask.fail(ENODATA);
        if (!(value instanceof Uint8Array)) return ask.fail(EIO, 'getxattr answered no Buffer');
        ask.ok(value);
      }),
    listxattr: (ask, path) =>
      ask.call('listxattr', [path], (code, list) => {
        const e = errnoOf(code);
        if (e === undefined) return ask.fail(EIO, `listxattr answered ${String(code)}`);
        if (e) return ask.fail(e);
        ask.ok(Array.isArray(list) ? list : []);
      }),
    removexattr: codeOnly('removexattr', (p, name) => [p, name]),
    access: codeOnly('access', (p, mask) => [p, mask]),
    create: (ask, path, mode) =>
      ask.call('create', [path, mode], (code, fd) => {
        const e = errnoOf(code);
        if (e === undefined) return ask.fail(EIO, `create answered ${String(code)}`);
        if (e) return ask.fail(e);
        withStat(ask, path, (st) => [fd ?? 0, st]);
      }),
  };

  function setattr(ask: Ask, path: string, fh: number | undefined, ch: Changes): void {
    const times = ch.atimeNs !== undefined || ch.mtimeNs !== undefined;
    const steps: Array<(next: () => void) => void> = [];
    if (ch.mode !== undefined) steps.push((next) => step(ask, 'chmod', [path, ch.mode], next));
    if (ch.uid !== undefined || ch.gid !== undefined) {
      // fuse-native's chown takes both ids: the one not changed is the file's own (read first).
      steps.push((next) => current((st) => step(ask, 'chown', [path, ch.uid ?? st.uid, ch.gid ?? st.gid], next)));
    }
    if (ch.size !== undefined) {
      steps.push((next) => (fh !== undefined && has('ftruncate') ? step(ask, 'ftruncate', [path, fh, ch.size], next) : step(ask, 'truncate', [path, ch.size], next)));
    }
    if (times) {
      // utimens takes both times (ms): the one not changed is the file's own.
      steps.push((next) =>
        current((st) => step(ask, 'utimens', [path, ch.atimeNs !== undefined ? msOf(ch.atimeNs) : +st.atime, ch.mtimeNs !== undefined ? msOf(ch.mtimeNs) : +st.mtime], next)),
      );
    }
    const run = (i: number): void => (i < steps.length ? steps[i]!(() => run(i + 1)) : fh !== undefined && has('fgetattr') ? withStat(ask, path, undefined, fh) : withStat(ask, path));
    function current(then: (st: FsStat) => void): void {
      if (!has('getattr')) return ask.fail(ENOSYS);
      ask.call('getattr', [path], (code, st) => {
        const e = errnoOf(code);
        if (e === undefined || (!e && (typeof st !== 'object' || st === null))) return ask.fail(EIO, `getattr answered ${String(code)}`);
        if (e) return ask.fail(e);
        then(st as FsStat);
      });
    }
    run(0);
  }

  function makeAsk(id: number, op: string): Ask {
    let done = false;
    const answer = (errno: number, value?: unknown): void => {
      if (done) {
        log(`op ${op}: answered twice; the second answer is dropped`);
        return;
      }
      done = true;
      const r = reply(id, errno, value);
      if (r === 2) log(`op ${op}: the answer is not what ${op} answers; answered EIO`);
    };
    return {
      id,
      op,
      call(name, args, then) {
        let called = false;
        const cb: Cb = (code, ...rest) => {
          if (called) {
            log(`op ${op}: ${name} called back twice; the second is dropped`);
            return;
          }
          called = true;
          try {
            then(code, ...rest);
          } catch (err) {
            answer(EIO);
            log(`op ${op}: ${(err as Error)?.message ?? String(err)}; answered EIO`);
          }
        };
        try {
          const ret: unknown = (ops[name] as (...a: unknown[]) => unknown).call(ops, ...args, cb);
          // An async op that rejects is a throw, late.
          if (ret && typeof (ret as Promise<unknown>).then === 'function') {
            (ret as Promise<unknown>).then(undefined, (err: unknown) => {
              if (!called) {
                called = true;
                answer(EIO);
                log(`op ${op}: ${name} rejected: ${(err as Error)?.message ?? String(err)}; answered EIO`);
              }
            });
          }
        } catch (err) {
          if (!called) {
            called = true;
            answer(EIO);
          }
          log(`op ${op}: ${name} threw: ${(err as Error)?.message ?? String(err)}; answered EIO`);
        }
      },
      ok: (value) => answer(0, value),
      fail: (errno, why) => {
        answer(errno);
        if (why) log(`op ${op}: ${why}; answered ${errno === EIO ? 'EIO' : errno}`);
      },
    };
  }

  const table: (Handler | undefined)[] = layoutOps.map((name) => handlers[name]);
  return (id, op, _uid, _gid, _pid, _umask, path, a, b, c, d) => {
    const h = table[op];
    const ask = makeAsk(id, layoutOps[op] ?? String(op));
    if (!h) return ask.fail(ENOSYS);
    try {
      h(ask, path, a, b, c, d);
    } catch (err) {
      ask.fail(EIO, (err as Error)?.message ?? String(err));
    }
  };
}
