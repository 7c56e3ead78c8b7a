// The operations a daemon of its own serves, and the types they take (src/daemon/define.ts).
/**
 * A return code as the callbacks take it: 0, a negative errno (`-2`, `-constants.errno.ENOENT`), or
 * any `number` (checked at run time: a positive one is a fault, answered EIO and logged "errors are
 * negative errno numbers"). A positive literal (`cb(2)`, `cb(ok ? 0 : 5)`) does not compile: `C` is
 * the type of the argument, and a literal that is neither 0 nor negative maps to `never`.
 */
export type FsCode<C extends number> = number extends C ? C : `${C}` extends `-${string}` | '0' ? C : never;

/** Callback with only a return code (0 or negative errno; see {@link FsCode}). */
export type FsDone = <C extends number>(code: FsCode<C>) => void;

/** A file's attributes, as `getattr` answers them (and `readdir` may, per name). */
export interface FsStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev?: number;
  nlink?: number;
  /** Stable for the file's life: names answering the same ino are one file to the kernel (hard links); see FsAttr.ino. */
  ino?: number;
  rdev?: number;
  blksize?: number;
  blocks?: number;
  /** Date, or milliseconds since the epoch (millisecond precision: the promise-style FileSystem has nanoseconds). */
  atime: Date | number;
  mtime: Date | number;
  ctime: Date | number;
}

/** The file system's numbers, as `statfs` answers them. Every field travels as a uint32. */
export interface FsStatfs {
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

/**
 * The operations a daemon of one's own serves (`mount(ctx)` returns `{ ops }`) in callback style
 * (fuse-native's, kept so that code written for it runs unchanged; served by the native core
 * through an adapter; the promise-style {@link FileSystem} of `{ fs }` is the richer API). Convention: callbacks take a return code first, 0 for success or a negative errno
 * (`-2` ENOENT, `-13` EACCES, …); read and write are the exception: their callback takes the
 * bytes done, or a negative errno. Paths are relative to the mount's root, starting with `/`.
 * Ops not given answer ENOSYS. In a read-only workspace every op that changes the tree answers
 * EROFS before it reaches yours.
 */
export interface FsOps {
  /** Once the mount is up. */
  init?(cb: FsDone): void;
  /** Never called (fuse-native called it on an error of its own); kept so that such code compiles. */
  error?(cb: FsDone): void;
  /** May the caller access `path` with `mode` (R_OK, W_OK, X_OK)? */
  access?(path: string, mode: number, cb: FsDone): void;
  /** The file system's numbers (df). */
  statfs?(path: string, cb: <C extends number>(code: FsCode<C>, statfs?: FsStatfs) => void): void;
  /** The attributes of `path`; -2 (ENOENT) when there is none. */
  getattr?(path: string, cb: <C extends number>(code: FsCode<C>, stat?: FsStat) => void): void;
  /**
   * The attributes of an open file, by its handle. The native core asks it instead of getattr when
   * the kernel sends a handle: a read's size refresh, ftruncate; not fstat.
   */
  fgetattr?(path: string, fd: number, cb: <C extends number>(code: FsCode<C>, stat?: FsStat) => void): void;
  /** Each close of a file descriptor. */
  flush?(path: string, fd: number, cb: FsDone): void;
  /** Flush a file's data (and metadata unless `datasync`). */
  fsync?(path: string, datasync: number, fd: number, cb: FsDone): void;
  /** Flush a directory. */
  fsyncdir?(path: string, datasync: number, fd: number, cb: FsDone): void;
  /** The names in directory `path` (and, optionally, their attributes). */
  readdir?(path: string, cb: <C extends number>(code: FsCode<C>, names?: string[], stats?: FsStat[]) => void): void;
  /** Set the size of `path`. */
  truncate?(path: string, size: number, cb: FsDone): void;
  /** Set the size of an open file. */
  ftruncate?(path: string, fd: number, size: number, cb: FsDone): void;
  /** Times in milliseconds since the epoch. */
  utimens?(path: string, atime: number, mtime: number, cb: FsDone): void;
  /** The target of symlink `path`. */
  readlink?(path: string, cb: <C extends number>(code: FsCode<C>, target?: string) => void): void;
  /** Change the owner of `path`. */
  chown?(path: string, uid: number, gid: number, cb: FsDone): void;
  /** Change the mode of `path`. */
  chmod?(path: string, mode: number, cb: FsDone): void;
  /** Create a special file. */
  mknod?(path: string, mode: number, dev: number, cb: FsDone): void;
  /** Set an extended attribute. */
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: FsDone): void;
  /** Read an extended attribute. */
  getxattr?(path: string, name: string, position: number, cb: <C extends number>(code: FsCode<C>, value?: Buffer | null) => void): void;
  /** The names of the extended attributes. */
  listxattr?(path: string, cb: <C extends number>(code: FsCode<C>, list?: string[]) => void): void;
  /** Remove an extended attribute. */
  removexattr?(path: string, name: string, cb: FsDone): void;
  /** The number passed back becomes the file handle; 0 means "no handle". */
  open?(path: string, flags: number, cb: <C extends number>(code: FsCode<C>, fd?: number) => void): void;
  /** Open directory `path`; the number passed back becomes its handle. */
  opendir?(path: string, flags: number, cb: <C extends number>(code: FsCode<C>, fd?: number) => void): void;
  /** `buffer` is native memory owned by FUSE: valid only until `cb` is called. */
  read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  /** Write `length` bytes from `buffer` at `position`; the callback takes the bytes written or a negative errno. */
  write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  /** The last close of an open file. */
  release?(path: string, fd: number, cb: FsDone): void;
  /** The last close of an open directory. */
  releasedir?(path: string, fd: number, cb: FsDone): void;
  /** Create and open file `path` (the open flags are not passed: the FileSystem's create has them). */
  create?(path: string, mode: number, cb: <C extends number>(code: FsCode<C>, fd?: number) => void): void;
  /** Remove file `path`. */
  unlink?(path: string, cb: FsDone): void;
  /** Rename `src` to `dest`. */
  rename?(src: string, dest: string, cb: FsDone): void;
  /** link(existing, newPath) */
  link?(src: string, dest: string, cb: FsDone): void;
  /** symlink(target, linkPath) */
  symlink?(src: string, dest: string, cb: FsDone): void;
  /** Create directory `path`. */
  mkdir?(path: string, mode: number, cb: FsDone): void;
  /** Remove directory `path`. */
  rmdir?(path: string, cb: FsDone): void;
}
