/**
 * Types for fuse-native 2.2.6 (CommonJS, no bundled types), written from its index.js.
 * Convention: callbacks take a return code first, 0 for success or a negative errno.
 * read and write are the exception: their callback takes bytes done, or a negative errno.
 */
declare module 'fuse-native' {
  namespace Fuse {
    /** Callback with only a return code (0 or negative errno). */
    export type FuseDone = (code: number) => void;

    export interface FuseStat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      dev?: number;
      nlink?: number;
      ino?: number;
      rdev?: number;
      blksize?: number;
      blocks?: number;
      /** Date, or milliseconds since the epoch; fuse-native keeps millisecond precision only. */
      atime: Date | number;
      mtime: Date | number;
      ctime: Date | number;
    }

    /** Every field travels as a uint32. */
    export interface FuseStatfs {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid: number;
      flag: number;
      namemax: number;
    }

    export interface FuseOps {
      init?(cb: FuseDone): void;
      error?(cb: FuseDone): void;
      access?(path: string, mode: number, cb: FuseDone): void;
      statfs?(path: string, cb: (code: number, statfs?: FuseStatfs) => void): void;
      getattr?(path: string, cb: (code: number, stat?: FuseStat) => void): void;
      /** fuse-native 2.2.6 routes fgetattr to ops.getattr; it only checks that this exists. */
      fgetattr?(path: string, fd: number, cb: (code: number, stat?: FuseStat) => void): void;
      flush?(path: string, fd: number, cb: FuseDone): void;
      fsync?(path: string, datasync: number, fd: number, cb: FuseDone): void;
      fsyncdir?(path: string, datasync: number, fd: number, cb: FuseDone): void;
      readdir?(path: string, cb: (code: number, names?: string[], stats?: FuseStat[]) => void): void;
      truncate?(path: string, size: number, cb: FuseDone): void;
      ftruncate?(path: string, fd: number, size: number, cb: FuseDone): void;
      /** Times in milliseconds since the epoch. */
      utimens?(path: string, atime: number, mtime: number, cb: FuseDone): void;
      readlink?(path: string, cb: (code: number, target?: string) => void): void;
      chown?(path: string, uid: number, gid: number, cb: FuseDone): void;
      chmod?(path: string, mode: number, cb: FuseDone): void;
      mknod?(path: string, mode: number, dev: number, cb: FuseDone): void;
      setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: FuseDone): void;
      getxattr?(path: string, name: string, position: number, cb: (code: number, value?: Buffer | null) => void): void;
      listxattr?(path: string, cb: (code: number, list?: string[]) => void): void;
      removexattr?(path: string, name: string, cb: FuseDone): void;
      /** The number passed back becomes the file handle; 0 means "no handle". */
      open?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
      opendir?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
      /** `buffer` is native memory owned by FUSE: valid only until `cb` is called. */
      read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
      write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
      release?(path: string, fd: number, cb: FuseDone): void;
      releasedir?(path: string, fd: number, cb: FuseDone): void;
      /** fuse-native does not pass the open flags to create. */
      create?(path: string, mode: number, cb: (code: number, fd?: number) => void): void;
      unlink?(path: string, cb: FuseDone): void;
      rename?(src: string, dest: string, cb: FuseDone): void;
      /** link(existing, newPath) */
      link?(src: string, dest: string, cb: FuseDone): void;
      /** symlink(target, linkPath) */
      symlink?(src: string, dest: string, cb: FuseDone): void;
      mkdir?(path: string, mode: number, cb: FuseDone): void;
      rmdir?(path: string, cb: FuseDone): void;
    }

    /** Per-op time limit in ms (false: none); an object sets it per op name, with `default`. */
    export type FuseTimeout = number | false | ({ default?: number } & { [op: string]: number | false | undefined });

    export interface FuseOptions {
      timeout?: FuseTimeout;
      force?: boolean;
      mkdir?: boolean;
      debug?: boolean;
      allowOther?: boolean;
      allowRoot?: boolean;
      autoUnmount?: boolean;
      defaultPermissions?: boolean;
      blkdev?: boolean;
      blksize?: number;
      maxRead?: number;
      fd?: number;
      userId?: number;
      /** Joined verbatim into the comma-separated -o string. */
      fsname?: string;
      subtype?: string;
      kernelCache?: boolean;
      autoCache?: boolean;
      umask?: number;
      uid?: number;
      gid?: number;
      /** Seconds; falsy values are not passed at all (so 0 cannot be set). */
      entryTimeout?: number;
      attrTimeout?: number;
      acAttrTimeout?: number;
      noforget?: boolean;
      remember?: number;
      modules?: string;
      displayFolder?: boolean;
      name?: string;
    }
  }

  type Callback = (err: Error | null) => void;

  class Fuse {
    constructor(mnt: string, ops: Fuse.FuseOps, opts?: Fuse.FuseOptions);
    readonly mnt: string;
    readonly opts: Fuse.FuseOptions;
    mount(cb: Callback): void;
    unmount(cb: Callback): void;
    errno(code: string): number;

    /** Replaceable: fuse-native calls Fuse.unmount from close() and from force-mount. */
    static unmount: (mnt: string, cb: Callback) => void;
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;

    static EPERM: number;
    static ENOENT: number;
    static EIO: number;
    static EBADF: number;
    static EAGAIN: number;
    static ENOMEM: number;
    static EACCES: number;
    static EBUSY: number;
    static EEXIST: number;
    static EXDEV: number;
    static ENOTDIR: number;
    static EISDIR: number;
    static EINVAL: number;
    static EMFILE: number;
    static EFBIG: number;
    static ENOSPC: number;
    static EROFS: number;
    static EMLINK: number;
    static ENAMETOOLONG: number;
    static ENOSYS: number;
    static ENOTEMPTY: number;
    static ELOOP: number;
    static ENODATA: number;
    static EOPNOTSUPP: number;
    static ENOTCONN: number;
    static ETIMEDOUT: number;
    static [code: string]: unknown;
  }

  export = Fuse;
}
