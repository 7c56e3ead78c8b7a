/**
 * A passthrough filesystem: every FUSE op is the same op on `source`. Async node:fs only,
 * because this process serves the mount: a blocking call here would stall every reader.
 * Every call on the source goes through the backend scheduler (scheduler.ts): bounded, and
 * answered by its deadline even when the source never answers.
 */
import { promises as fsp, constants, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { FuseDone, FuseOps } from 'fuse-native';
import { EBADF, toFuseErrno } from './errno.js';
import { fdCalls, toFuseStat, toFuseStatfs, toSeconds } from './fs.js';
import { abortableOps, readOnlyOps } from './guard-ops.js';
import { createScheduler, type OpContext, type Scheduler } from '../backend/scheduler.js';

/**
 * Flags we must not pass on. O_DIRECT: our buffers are not aligned. O_CREAT/O_EXCL/O_NOCTTY:
 * the kernel resolved them before asking us. O_APPEND stays on purpose: the kernel's append
 * offset comes from its cached size, which is stale after a change beside the mount or
 * through another hard link; pwrite on an O_APPEND fd appends at the real end instead.
 */
const DROP_OPEN_FLAGS = constants.O_DIRECT | constants.O_CREAT | constants.O_EXCL | constants.O_NOCTTY;

/** Settle a promise into a FUSE return code. */
function reply(cb: FuseDone, work: Promise<unknown>): void {
  work.then(() => cb(0), (err: unknown) => cb(toFuseErrno(err)));
}

function replyWith<T, R>(cb: (code: number, value?: NoInfer<R>) => void, work: Promise<T>, map: (v: T) => R): void {
  work.then((v) => cb(0, map(v)), (err: unknown) => cb(toFuseErrno(err)));
}

/**
 * The kernel applied the caller's umask to `mode`; the backing mkdir/open applied ours on top.
 * Put back permission bits ours removed, keeping special bits the backing fs chose (setgid dirs).
 */
async function restoreMode(st: Stats, mode: number, chmod: (m: number) => Promise<void>): Promise<void> {
  const want = (st.mode & 0o7000) | (mode & 0o777);
  if ((st.mode & 0o7777) !== want) await chmod(want);
}

const badFd = (): Error => Object.assign(new Error('file handle already released'), { code: 'EBADF' });

export interface PassthroughOptions {
  readonly readOnly?: boolean;
  /** Once aborted, every op answers EIO without touching the source (fencing, shutdown). */
  readonly signal?: AbortSignal;
  /** The gate for source calls; default: a scheduler of its own, cancelled by `signal`. */
  readonly scheduler?: Scheduler;
}

export function createPassthroughOps(source: string, opts: PassthroughOptions = {}): FuseOps {
  const root = resolve(source);
  const sched = opts.scheduler ?? createScheduler(opts.signal ? { signal: opts.signal } : {});
  /** FUSE paths are absolute ("/a/b") and the kernel never sends "." or ".." components. */
  const real = (path: string): string => (path === '/' ? root : root + path);
  /** Open fds handed to the kernel: the fh is the real fd, checked here before any use. */
  const fds = new Set<number>();
  const withFd = (fd: number, cb: (code: number) => void, use: () => void): void => {
    if (!fds.has(fd)) return cb(EBADF);
    use();
  };
  /** Keyed by FUSE path: once a call on a path is stuck, more calls on it fail at once. */
  const meta = <T>(op: string, path: string, work: (ctx: OpContext) => Promise<T>, onLate?: (v: T) => void): Promise<T> =>
    sched.run(op, work, { lane: 'meta', key: path, ...(onLate ? { onLate } : {}) });
  const data = <T>(op: string, path: string, work: () => Promise<T>): Promise<T> => sched.run(op, work, { lane: 'data', key: path });
  /** Calls on an open fd: re-checked when the call starts, in case it waited in the queue. */
  const onFd = <T>(op: string, path: string, fd: number, work: () => Promise<T>): Promise<T> =>
    data(op, path, () => (fds.has(fd) ? work() : Promise.reject(badFd())));
  /**
   * Close an fd we own, bounded like any source call but never refused. Nobody waits for it:
   * the kernel ignores the answer to release, and a late-opened fd has no one to tell.
   */
  const closeFd = (fd: number): void => {
    sched.run('close', () => fdCalls.close(fd), { lane: 'data', cleanup: true }).catch(() => {
      // EIO/EINTR from close, or its deadline: nothing can be retried on an fd that is gone.
    });
  };
  const keep = (fd: number): number => (fds.add(fd), fd);

  async function create(path: string, mode: number, signal: AbortSignal): Promise<number> {
    const p = real(path);
    let fd: number;
    try {
      // fuse-native does not pass create's flags; O_RDWR covers any access mode asked for.
      fd = await fdCalls.open(p, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, mode);
    } catch (err) {
      // EEXIST: our negative dentry was stale (the source changed beside the mount). open()
      // without O_EXCL would have succeeded on a real fs, so open what is there.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return fdCalls.open(p, constants.O_RDWR);
    }
    try {
      signal.throwIfAborted(); // Answered already: do not spend more source calls on it.
      await restoreMode(await fdCalls.fstat(fd), mode, (m) => fdCalls.fchmod(fd, m));
    } catch (err) {
      closeFd(fd); // Reporting the first failure matters more than a close error.
      throw err;
    }
    return fd;
  }

  async function mkdir(path: string, mode: number, signal: AbortSignal): Promise<void> {
    const p = real(path);
    await fsp.mkdir(p, mode);
    signal.throwIfAborted();
    await restoreMode(await fsp.lstat(p), mode, (m) => fsp.chmod(p, m));
  }

  const ops: FuseOps = {
    getattr: (path, cb) => replyWith(cb, meta('getattr', path, () => fsp.lstat(real(path))), toFuseStat),
    fgetattr: (path, fd, cb) => withFd(fd, cb, () => replyWith(cb, onFd('fgetattr', path, fd, () => fdCalls.fstat(fd)), toFuseStat)),
    statfs: (_path, cb) => replyWith(cb, meta('statfs', '/', () => fsp.statfs(root)), toFuseStatfs),
    access: (path, mode, cb) => reply(cb, meta('access', path, () => fsp.access(real(path), mode))),
    readdir: (path, cb) => replyWith(cb, meta('readdir', path, () => fsp.readdir(real(path))), (names: string[]) => ['.', '..', ...names]),
    readlink: (path, cb) => replyWith(cb, meta('readlink', path, () => fsp.readlink(real(path))), (target: string) => target),

    open: (path, flags, cb) => replyWith(cb, meta('open', path, () => fdCalls.open(real(path), flags & ~DROP_OPEN_FLAGS), closeFd), keep),
    create: (path, mode, cb) => replyWith(cb, meta('create', path, (ctx) => create(path, mode, ctx.signal), closeFd), keep),
    // Answered at once: the kernel sends release without waiting and ignores its result, and a
    // close on a wedged source must not hold a FUSE thread. Runs even after shutdown began.
    release: (_path, fd, cb) => withFd(fd, cb, () => (fds.delete(fd), closeFd(fd), cb(0))),
    // Nothing is buffered on our side, and close() happens in release.
    flush: (_path, fd, cb) => withFd(fd, cb, () => cb(0)),
    fsync: (path, datasync, fd, cb) => withFd(fd, cb, () => reply(cb, onFd('fsync', path, fd, () => fdCalls.fsync(fd, datasync !== 0)))),

    // Reads land in our own buffer first: once the deadline (ours or fuse-native's) answered the
    // kernel, FUSE frees `buffer`; copying into it afterwards is then a no-op (fuse-native
    // detaches it), where a read straight into it would write freed memory.
    read: (path, fd, buffer, length, position, cb) =>
      withFd(fd, cb, () => {
        const own = Buffer.allocUnsafe(length);
        onFd('read', path, fd, () => fdCalls.read(fd, own, length, position)).then((n) => (own.copy(buffer, 0, 0, n), cb(n)), (err: unknown) => cb(toFuseErrno(err)));
      }),
    // Same reason in the other direction: `buffer` may be reused by FUSE after a timeout.
    write: (path, fd, buffer, length, position, cb) =>
      withFd(fd, cb, () => {
        const own = Buffer.from(buffer.subarray(0, length));
        onFd('write', path, fd, () => fdCalls.write(fd, own, length, position)).then((n) => cb(n), (err: unknown) => cb(toFuseErrno(err)));
      }),

    truncate: (path, size, cb) => reply(cb, data('truncate', path, () => fsp.truncate(real(path), size))),
    ftruncate: (path, fd, size, cb) => withFd(fd, cb, () => reply(cb, onFd('ftruncate', path, fd, () => fdCalls.ftruncate(fd, size)))),
    // The kernel already decided whether a symlink is followed: act on the path itself.
    utimens: (path, atime, mtime, cb) => reply(cb, meta('utimens', path, () => fsp.lutimes(real(path), toSeconds(atime), toSeconds(mtime)))),
    chmod: (path, mode, cb) => reply(cb, meta('chmod', path, () => fsp.chmod(real(path), mode & 0o7777))),
    chown: (path, uid, gid, cb) => reply(cb, meta('chown', path, () => fsp.lchown(real(path), uid, gid))),

    unlink: (path, cb) => reply(cb, meta('unlink', path, () => fsp.unlink(real(path)))),
    mkdir: (path, mode, cb) => reply(cb, meta('mkdir', path, (ctx) => mkdir(path, mode, ctx.signal))),
    rmdir: (path, cb) => reply(cb, meta('rmdir', path, () => fsp.rmdir(real(path)))),
    rename: (src, dest, cb) => reply(cb, meta('rename', src, () => fsp.rename(real(src), real(dest)))),
    link: (src, dest, cb) => reply(cb, meta('link', src, () => fsp.link(real(src), real(dest)))),
    // symlink(target, linkPath): the target is stored verbatim, never mapped into the source.
    symlink: (target, path, cb) => reply(cb, meta('symlink', path, () => fsp.symlink(target, real(path)))),
  };
  const guarded = opts.readOnly ? readOnlyOps(ops) : ops;
  return opts.signal ? abortableOps(guarded, opts.signal) : guarded;
}
