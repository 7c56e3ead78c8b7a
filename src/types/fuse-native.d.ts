/**
 * Types for fuse-native 2.2.6 (CommonJS, no bundled types), written from its index.js.
 * Convention: callbacks take a return code first, 0 for success or a negative errno.
 * read and write are the exception: their callback takes bytes done, or a negative errno.
 */
declare module 'fuse-native' {
  namespace Fuse {
    // The ops and the values they pass are mountie's own public types (src/daemon/fs-ops.ts, which
    // names no fuse-native type, so none reaches the shipped declarations); fuse-native takes them as they are.
    export type FuseDone = import('../daemon/fs-ops.js').FsDone;
    export type FuseStat = import('../daemon/fs-ops.js').FsStat;
    export type FuseStatfs = import('../daemon/fs-ops.js').FsStatfs;
    export type FuseOps = import('../daemon/fs-ops.js').FsOps;

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
