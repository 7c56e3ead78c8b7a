/**
 * Conversions between node:fs and fuse-native, and callback fs calls as promises (the
 * fd-based ones node:fs/promises only offers through FileHandle, which would own our fds).
 */
import * as fs from 'node:fs';
import type { Stats, StatsFs } from 'node:fs';
import type { FuseStat, FuseStatfs } from 'fuse-native';

/**
 * libfuse 2 encodes UTIME_NOW/UTIME_OMIT as {tv_sec: 0, tv_nsec: 2^30-1 or 2^30-2};
 * fuse-native turns either into 1073 ms. No real file is stamped 1970-01-01T00:00:01.073Z.
 */
const UTIME_SENTINEL_MS = 1073;
const UINT32_MAX = 0xffffffff;

export function toFuseStat(st: Stats): FuseStat {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev, nlink: st.nlink, ino: st.ino,
    rdev: st.rdev, blksize: st.blksize, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime,
  };
}

/** fuse-native sends statfs fields as uint32: grow the block size until the counts fit. */
export function toFuseStatfs(s: StatsFs): FuseStatfs {
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
export function toSeconds(ms: number): number {
  return (ms === UTIME_SENTINEL_MS ? Date.now() : ms + 0.0005) / 1000;
}

type Done<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

function promised<T>(call: (done: Done<T>) => void): Promise<T> {
  return new Promise((res, rej) => call((err, v) => (err ? rej(err) : res(v))));
}

export const fdCalls = {
  open: (path: string, flags: number, mode?: number): Promise<number> => promised((d) => fs.open(path, flags, mode, d)),
  close: (fd: number): Promise<void> => promised((d) => fs.close(fd, (err) => d(err, undefined))),
  fstat: (fd: number): Promise<Stats> => promised((d) => fs.fstat(fd, d)),
  fchmod: (fd: number, mode: number): Promise<void> => promised((d) => fs.fchmod(fd, mode, (err) => d(err, undefined))),
  fsync: (fd: number, datasync: boolean): Promise<void> => promised((d) => (datasync ? fs.fdatasync : fs.fsync)(fd, (err) => d(err, undefined))),
  ftruncate: (fd: number, size: number): Promise<void> => promised((d) => fs.ftruncate(fd, size, (err) => d(err, undefined))),
  read: (fd: number, buf: Buffer, length: number, position: number): Promise<number> => promised((d) => fs.read(fd, buf, 0, length, position, d)),
  write: (fd: number, buf: Buffer, length: number, position: number): Promise<number> => promised((d) => fs.write(fd, buf, 0, length, position, d)),
};
