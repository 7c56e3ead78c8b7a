/**
 * A passthrough filesystem: every FUSE op is the same op on `source`. Async node:fs only,
 * because this process serves the mount: a blocking call here would stall every reader.
 */
import * as fs from 'node:fs';
import { promises as fsp, constants, type Stats, type StatsFs } from 'node:fs';
import { resolve } from 'node:path';
import type { FuseDone, FuseOps, FuseStat, FuseStatfs } from 'fuse-native';
import { EBADF, toFuseErrno } from './passthrough-errno.js';
import { abortableOps, readOnlyOps } from './guard-ops.js';

/**
 * Flags we must not pass on. O_DIRECT: our buffers are not aligned. O_CREAT/O_EXCL/O_NOCTTY:
 * the kernel resolved them before asking us. O_APPEND stays on purpose: the kernel's append
 * offset comes from its cached size, which is stale after a change beside the mount or
 * through another hard link; pwrite on an O_APPEND fd appends at the real end instead.
 */
const DROP_OPEN_FLAGS = constants.O_DIRECT | constants.O_CREAT | constants.O_EXCL | constants.O_NOCTTY;

/**
 * libfuse 2 encodes UTIME_NOW/UTIME_OMIT as {tv_sec: 0, tv_nsec: 2^30-1 or 2^30-2};
 * fuse-native turns either into 1073 ms. No real file is stamped 1970-01-01T00:00:01.073Z.
 */
const UTIME_SENTINEL_MS = 1073;
const UINT32_MAX = 0xffffffff;

function toFuseStat(st: Stats): FuseStat {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev, nlink: st.nlink, ino: st.ino,
    rdev: st.rdev, blksize: st.blksize, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime,
  };
}

/** fuse-native sends statfs fields as uint32: grow the block size until the counts fit. */
function toFuseStatfs(s: StatsFs): FuseStatfs {
  let scale = 1;
  while (s.blocks / scale > UINT32_MAX) scale *= 2;
  const bsize = s.bsize * scale;
  const files = Math.min(s.files, UINT32_MAX);
  const ffree = Math.min(s.ffree, UINT32_MAX);
  return {
    bsize, frsize: bsize, blocks: Math.floor(s.blocks / scale), bfree: Math.floor(s.bfree / scale),
    bavail: Math.floor(s.bavail / scale), files, ffree, favail: ffree, fsid: 0, flag: 0, namemax: 255,
  };
}

/**
 * fuse-native hands us whole milliseconds; node passes seconds as a double that libuv cuts
 * to microseconds, so 0.122 s can land as 0.121999. Half a microsecond more keeps the ms.
 */
function toSeconds(ms: number): number {
  return (ms === UTIME_SENTINEL_MS ? Date.now() : ms + 0.0005) / 1000;
}

/** Settle a promise into a FUSE return code. */
function reply(cb: FuseDone, work: Promise<unknown>): void {
  work.then(() => cb(0), (err: unknown) => cb(toFuseErrno(err)));
}

function replyWith<T, R>(cb: (code: number, value?: R) => void, work: Promise<T>, map: (v: T) => R): void {
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

function openFd(path: string, flags: number, mode?: number): Promise<number> {
  return new Promise((res, rej) => fs.open(path, flags, mode, (err, fd) => (err ? rej(err) : res(fd))));
}

function fstat(fd: number): Promise<Stats> {
  return new Promise((res, rej) => fs.fstat(fd, (err, st) => (err ? rej(err) : res(st))));
}

function fchmod(fd: number, mode: number): Promise<void> {
  return new Promise((res, rej) => fs.fchmod(fd, mode, (err) => (err ? rej(err) : res())));
}

export interface PassthroughOptions {
  readonly readOnly?: boolean;
  /** Once aborted, every op answers EIO without touching the source (fencing, shutdown). */
  readonly signal?: AbortSignal;
}

export function createPassthroughOps(source: string, opts: PassthroughOptions = {}): FuseOps {
  const root = resolve(source);
  /** FUSE paths are absolute ("/a/b") and the kernel never sends "." or ".." components. */
  const real = (path: string): string => (path === '/' ? root : root + path);
  /** Open fds handed to the kernel: the fh is the real fd, checked here before any use. */
  const fds = new Set<number>();
  const withFd = (fd: number, cb: (code: number) => void, use: () => void): void => {
    if (!fds.has(fd)) return cb(EBADF);
    use();
  };

  async function create(path: string, mode: number): Promise<number> {
    const p = real(path);
    let fd: number;
    try {
      // fuse-native does not pass create's flags; O_RDWR covers any access mode asked for.
      fd = await openFd(p, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, mode);
    } catch (err) {
      // EEXIST: our negative dentry was stale (the source changed beside the mount). open()
      // without O_EXCL would have succeeded on a real fs, so open what is there.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return openFd(p, constants.O_RDWR);
    }
    try {
      await restoreMode(await fstat(fd), mode, (m) => fchmod(fd, m));
    } catch (err) {
      fs.close(fd, () => undefined); // Reporting the chmod failure matters more than a close error.
      throw err;
    }
    return fd;
  }

  async function mkdir(path: string, mode: number): Promise<void> {
    const p = real(path);
    await fsp.mkdir(p, mode);
    await restoreMode(await fsp.lstat(p), mode, (m) => fsp.chmod(p, m));
  }

  const ops: FuseOps = {
    getattr: (path, cb) => replyWith(cb, fsp.lstat(real(path)), toFuseStat),
    fgetattr: (path, fd, cb) => withFd(fd, cb, () => replyWith(cb, fstat(fd), toFuseStat)),
    statfs: (_path, cb) => replyWith(cb, fsp.statfs(root), toFuseStatfs),
    access: (path, mode, cb) => reply(cb, fsp.access(real(path), mode)),
    readdir: (path, cb) => replyWith(cb, fsp.readdir(real(path)), (names) => ['.', '..', ...names]),
    readlink: (path, cb) => replyWith(cb, fsp.readlink(real(path)), (target) => target),

    open: (path, flags, cb) => {
      fs.open(real(path), flags & ~DROP_OPEN_FLAGS, (err, fd) => {
        if (err) return cb(toFuseErrno(err));
        fds.add(fd);
        cb(0, fd);
      });
    },
    create: (path, mode, cb) => replyWith(cb, create(path, mode), (fd) => (fds.add(fd), fd)),
    release: (_path, fd, cb) =>
      withFd(fd, cb, () => {
        fds.delete(fd);
        fs.close(fd, (err) => cb(err ? toFuseErrno(err) : 0));
      }),
    // Nothing is buffered on our side, and close() happens in release.
    flush: (_path, fd, cb) => withFd(fd, cb, () => cb(0)),
    fsync: (_path, datasync, fd, cb) =>
      withFd(fd, cb, () => (datasync ? fs.fdatasync : fs.fsync)(fd, (err) => cb(err ? toFuseErrno(err) : 0))),

    // Reads land in our own buffer first: if fuse-native's per-op timeout answers the kernel
    // before the disk does, FUSE frees `buffer`; copying into it afterwards is then a no-op
    // (fuse-native detaches it), where a read straight into it would write freed memory.
    read: (_path, fd, buffer, length, position, cb) =>
      withFd(fd, cb, () => {
        const own = Buffer.allocUnsafe(length);
        fs.read(fd, own, 0, length, position, (err, n) => {
          if (err) return cb(toFuseErrno(err));
          own.copy(buffer, 0, 0, n);
          cb(n);
        });
      }),
    // Same reason in the other direction: `buffer` may be reused by FUSE after a timeout.
    write: (_path, fd, buffer, length, position, cb) =>
      withFd(fd, cb, () => {
        const own = Buffer.from(buffer.subarray(0, length));
        fs.write(fd, own, 0, length, position, (err, n) => cb(err ? toFuseErrno(err) : n));
      }),

    truncate: (path, size, cb) => reply(cb, fsp.truncate(real(path), size)),
    ftruncate: (_path, fd, size, cb) => withFd(fd, cb, () => fs.ftruncate(fd, size, (err) => cb(err ? toFuseErrno(err) : 0))),
    // The kernel already decided whether a symlink is followed: act on the path itself.
    utimens: (path, atime, mtime, cb) => reply(cb, fsp.lutimes(real(path), toSeconds(atime), toSeconds(mtime))),
    chmod: (path, mode, cb) => reply(cb, fsp.chmod(real(path), mode & 0o7777)),
    chown: (path, uid, gid, cb) => reply(cb, fsp.lchown(real(path), uid, gid)),

    unlink: (path, cb) => reply(cb, fsp.unlink(real(path))),
    mkdir: (path, mode, cb) => reply(cb, mkdir(path, mode)),
    rmdir: (path, cb) => reply(cb, fsp.rmdir(real(path))),
    rename: (src, dest, cb) => reply(cb, fsp.rename(real(src), real(dest))),
    link: (src, dest, cb) => reply(cb, fsp.link(real(src), real(dest))),
    // symlink(target, linkPath): the target is stored verbatim, never mapped into the source.
    symlink: (target, path, cb) => reply(cb, fsp.symlink(target, real(path))),
  };
  const guarded = opts.readOnly ? readOnlyOps(ops) : ops;
  return opts.signal ? abortableOps(guarded, opts.signal) : guarded;
}
