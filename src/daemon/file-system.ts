/**
 * A daemon's own file system, promise style (`mount(ctx)` returns `{ fs }`): each operation gets
 * the caller (`FsCaller`: uid, gid, pid, umask) first and the path from the mount's root, and
 * returns its answer or throws {@link FsError} with an errno name. Served by the native core
 * (libfuse 3; native/src/jsfs.c): C keeps the node table, lookup counts and FORGET, answers every
 * request exactly once, and answers ETIMEDOUT to one this code has not answered by the deadline.
 *
 * Numbers: sizes, offsets and inode numbers are `number` up to 2^53 - 1 and `bigint` beyond (an
 * answer may give either); times are a `Date`, milliseconds since the epoch (`number`, fractions
 * kept) or nanoseconds since the epoch (`bigint`), and utimens gets nanoseconds.
 *
 * Rules the bridge enforces (issue 19): a throw that is not an FsError, a rejection, or an answer of
 * the wrong shape is answered EIO and logged with the op's name; the daemon keeps serving.
 */
import { constants } from 'node:os';

/** Who made the request (the kernel's view of the calling thread). */
export interface FsCaller {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The caller's umask (modes given to create, mkdir and mknod have it applied already). */
  readonly umask: number;
}

/** A whole number that may pass 2^53: sizes, offsets, inode numbers. */
export type FsNumber = number | bigint;
/** A time: a Date, ms since the epoch (fractions kept), or ns since the epoch. */
export type FsTime = Date | number | bigint;

/** A file's attributes. */
export interface FsAttr {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: FsNumber;
  /**
   * The file's inode number, stable for its life and shared with no other file that exists: what
   * `stat` shows, and what makes hard links work. Every name whose getattr answers the same `ino`
   * (a non-directory, of the same type) is one kernel inode, so what changes through one name
   * (nlink, size, mode, times, bytes) is seen at once through the others. A number may be reused once the file's last name is gone (a still-open
   * unlinked file keeps its own). Absent or 0: each name is a file of its own to the kernel (a hard
   * link's other name then shows cached attributes until the attribute timeout) and `stat` shows
   * the node id. Directories are known by their path whatever their `ino`. A number given to two
   * files at once makes them one to the kernel (one page cache): give none rather than a made-up one.
   */
  readonly ino?: FsNumber;
  /** Default 1. */
  readonly nlink?: number;
  readonly rdev?: number;
  readonly blksize?: number;
  /** 512-byte blocks; default: size rounded up. */
  readonly blocks?: FsNumber;
  readonly atime?: FsTime;
  readonly mtime?: FsTime;
  readonly ctime?: FsTime;
}

/** One entry of a directory: a name, with its attributes when known (its type and inode number reach `ls`). */
export type FsDirent = string | { readonly name: string; readonly attr?: FsAttr };

/** The file system's numbers (df). Absent: 0 (namemax: 255). */
export interface FsStatvfs {
  readonly bsize?: number;
  readonly frsize?: number;
  readonly blocks?: FsNumber;
  readonly bfree?: FsNumber;
  readonly bavail?: FsNumber;
  readonly files?: FsNumber;
  readonly ffree?: FsNumber;
  readonly favail?: FsNumber;
  readonly fsid?: FsNumber;
  readonly flag?: number;
  readonly namemax?: number;
}

/** An errno name Node knows (`os.constants.errno`): 'ENOENT', 'EACCES', … */
export type ErrnoName = keyof typeof constants.errno;

const FS_ERROR = Symbol.for('mountie.FsError/v1');

/**
 * The one way an operation fails on purpose: `throw new FsError('ENOENT')`. The kernel gets that
 * errno; any other throw is answered EIO and logged as a bug of the operation.
 */
export class FsError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;
  constructor(code: ErrnoName, message?: string) {
    // No stack frames: an FsError is an answer, not a bug, and capturing them was the dearest part of
    // an ENOENT or ENODATA (the kernel's lookup of every new name, its getxattr before every write).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message ?? code);
    } finally {
      Error.stackTraceLimit = limit;
    }
    const n = constants.errno[code] as number | undefined;
    if (typeof n !== 'number') throw new TypeError(`FsError: ${String(code)} is not an errno name`);
    this.name = 'FsError';
    this.code = code;
    this.errno = n;
    (this as unknown as Record<symbol, boolean>)[FS_ERROR] = true;
  }
}

/**
 * Is `err` an FsError, from this copy of mountie or another (an author's module imports the
 * package; the daemon runs a bundled copy, so `instanceof` would not do)? Then its errno.
 */
export function fsErrnoOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || (err as Record<symbol, unknown>)[FS_ERROR] !== true) return undefined;
  const n = (err as { errno?: unknown }).errno;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 4095 ? n : undefined;
}

/** The changes a setattr carries; only the ones given change. Times in ns since the epoch. */
export interface FsTimes {
  readonly atime?: bigint;
  readonly mtime?: bigint;
}

/** A handle the author's open/opendir/create gave (0 when it gave none). */
export type FsHandle = number;

/**
 * The operations. Every one is optional: one not given answers ENOSYS without a round trip to
 * JavaScript (open, opendir, release, releasedir and flush then succeed with handle 0; statfs
 * answers zeros). What the kernel expects of each is in its TSDoc.
 */
export interface FileSystem {
  /** Attributes of `path` (`fh`: an open handle, when the caller has one). Also every name lookup. ENOENT: no such name. */
  getattr?(caller: FsCaller, path: string, fh: FsHandle | undefined): Promise<FsAttr> | FsAttr;
  /** The entries of directory `path`, without "." and ".." (added for you). */
  readdir?(caller: FsCaller, path: string, fh: FsHandle): Promise<readonly FsDirent[]> | readonly FsDirent[];
  /** Open `path` with open(2) flags (O_CREAT/O_EXCL/O_TRUNC handled by the kernel); the handle given back comes with every later op on it. */
  open?(caller: FsCaller, path: string, flags: number): Promise<FsHandle | void> | FsHandle | void;
  opendir?(caller: FsCaller, path: string, flags: number): Promise<FsHandle | void> | FsHandle | void;
  /**
   * Up to `size` bytes at `offset`; fewer only at the end of the file. Answer a byte array (a view
   * of your own storage is fine: it is copied to the kernel before your next op runs), or an array
   * of up to 256 of them, sent as one (a file kept in chunks needs no joining copy).
   */
  read?(caller: FsCaller, path: string, fh: FsHandle, size: number, offset: FsNumber): Promise<Uint8Array | readonly Uint8Array[]> | Uint8Array | readonly Uint8Array[];
  /** Write `data` at `offset`; the bytes written (all of them, unless an error says otherwise). */
  write?(caller: FsCaller, path: string, fh: FsHandle, data: Buffer, offset: FsNumber): Promise<number> | number;
  /** Create and open a regular file (`mode` has the type bits and the caller's umask applied); its handle and attributes. */
  create?(caller: FsCaller, path: string, mode: number, flags: number): Promise<{ fh?: FsHandle; attr: FsAttr }> | { fh?: FsHandle; attr: FsAttr };
  /** Each close(2) of a descriptor of the file (errors reach close). */
  flush?(caller: FsCaller, path: string, fh: FsHandle): Promise<void> | void;
  /** The last close of an open file: let go of `fh`. Its errors reach nobody. */
  release?(caller: FsCaller, path: string, fh: FsHandle, flags: number): Promise<void> | void;
  releasedir?(caller: FsCaller, path: string, fh: FsHandle): Promise<void> | void;
  fsync?(caller: FsCaller, path: string, fh: FsHandle, datasync: boolean): Promise<void> | void;
  fsyncdir?(caller: FsCaller, path: string, fh: FsHandle, datasync: boolean): Promise<void> | void;
  /** Set the size (`fh` when done through an open file: ftruncate). */
  truncate?(caller: FsCaller, path: string, size: FsNumber, fh: FsHandle | undefined): Promise<void> | void;
  chmod?(caller: FsCaller, path: string, mode: number): Promise<void> | void;
  /** `uid` or `gid` undefined: that one stays. */
  chown?(caller: FsCaller, path: string, uid: number | undefined, gid: number | undefined): Promise<void> | void;
  /** Set atime and/or mtime (ns since the epoch; an absent one stays: UTIME_OMIT; "now" comes as the time now). */
  utimens?(caller: FsCaller, path: string, times: FsTimes, fh: FsHandle | undefined): Promise<void> | void;
  unlink?(caller: FsCaller, path: string): Promise<void> | void;
  /** Create directory `path` (`mode` without type bits, the caller's umask applied). */
  mkdir?(caller: FsCaller, path: string, mode: number): Promise<void> | void;
  /** Remove an empty directory (ENOTEMPTY otherwise). */
  rmdir?(caller: FsCaller, path: string): Promise<void> | void;
  /** Create a special or regular file (`mode` has the type bits; `rdev` for devices). */
  mknod?(caller: FsCaller, path: string, mode: number, rdev: number): Promise<void> | void;
  /** Make `path` a symlink holding `target`. */
  symlink?(caller: FsCaller, target: string, path: string): Promise<void> | void;
  readlink?(caller: FsCaller, path: string): Promise<string> | string;
  /** A new name `newPath` for the file at `path`. */
  link?(caller: FsCaller, path: string, newPath: string): Promise<void> | void;
  /** Rename, replacing what is at `newPath`; `flags`: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2), or 0. EINVAL for flags not supported. */
  rename?(caller: FsCaller, path: string, newPath: string, flags: number): Promise<void> | void;
  /** May the caller access `path` with `mode` (R_OK 4, W_OK 2, X_OK 1, F_OK 0)? Asked only without allow-other (then the kernel checks modes itself). */
  access?(caller: FsCaller, path: string, mode: number): Promise<void> | void;
  statfs?(caller: FsCaller, path: string): Promise<FsStatvfs> | FsStatvfs;
  /** `flags`: XATTR_CREATE (1), XATTR_REPLACE (2), or 0. */
  setxattr?(caller: FsCaller, path: string, name: string, value: Buffer, flags: number): Promise<void> | void;
  /** The whole value; ENODATA when there is none (the size negotiation with the kernel is done for you). */
  getxattr?(caller: FsCaller, path: string, name: string): Promise<Uint8Array> | Uint8Array;
  listxattr?(caller: FsCaller, path: string): Promise<readonly string[]> | readonly string[];
  removexattr?(caller: FsCaller, path: string, name: string): Promise<void> | void;
  /** fallocate(2) `mode` flags over [offset, offset + length). */
  fallocate?(caller: FsCaller, path: string, fh: FsHandle, mode: number, offset: FsNumber, length: FsNumber): Promise<void> | void;
  /** SEEK_DATA (3) / SEEK_HOLE (4) (others are the kernel's); the resulting offset. */
  lseek?(caller: FsCaller, path: string, fh: FsHandle, offset: FsNumber, whence: number): Promise<FsNumber> | FsNumber;
}
