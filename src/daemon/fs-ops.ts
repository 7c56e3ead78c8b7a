/**
 * The operations a daemon of one's own serves (`mount(ctx)` returns `{ ops }`): fuse-native's
 * callback style, declared here so that a consumer needs no fuse-native types (they are not
 * shipped). Convention: callbacks take a return code first, 0 for success or a negative errno
 * (`-2` ENOENT, `-13` EACCES, …); read and write are the exception: their callback takes the
 * bytes done, or a negative errno. Paths are relative to the mount's root, starting with `/`.
 * Ops not given answer ENOSYS. In a read-only workspace every op that changes the tree answers
 * EROFS before it reaches yours.
 */
/** Callback with only a return code (0 or negative errno). */
export type FsDone = (code: number) => void;

export interface FsStat {
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

export interface FsOps {
  init?(cb: FsDone): void;
  error?(cb: FsDone): void;
  access?(path: string, mode: number, cb: FsDone): void;
  statfs?(path: string, cb: (code: number, statfs?: FsStatfs) => void): void;
  getattr?(path: string, cb: (code: number, stat?: FsStat) => void): void;
  /** fuse-native 2.2.6 routes fgetattr to ops.getattr; it only checks that this exists. */
  fgetattr?(path: string, fd: number, cb: (code: number, stat?: FsStat) => void): void;
  flush?(path: string, fd: number, cb: FsDone): void;
  fsync?(path: string, datasync: number, fd: number, cb: FsDone): void;
  fsyncdir?(path: string, datasync: number, fd: number, cb: FsDone): void;
  readdir?(path: string, cb: (code: number, names?: string[], stats?: FsStat[]) => void): void;
  truncate?(path: string, size: number, cb: FsDone): void;
  ftruncate?(path: string, fd: number, size: number, cb: FsDone): void;
  /** Times in milliseconds since the epoch. */
  utimens?(path: string, atime: number, mtime: number, cb: FsDone): void;
  readlink?(path: string, cb: (code: number, target?: string) => void): void;
  chown?(path: string, uid: number, gid: number, cb: FsDone): void;
  chmod?(path: string, mode: number, cb: FsDone): void;
  mknod?(path: string, mode: number, dev: number, cb: FsDone): void;
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: FsDone): void;
  getxattr?(path: string, name: string, position: number, cb: (code: number, value?: Buffer | null) => void): void;
  listxattr?(path: string, cb: (code: number, list?: string[]) => void): void;
  removexattr?(path: string, name: string, cb: FsDone): void;
  /** The number passed back becomes the file handle; 0 means "no handle". */
  open?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
  opendir?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
  /** `buffer` is native memory owned by FUSE: valid only until `cb` is called. */
  read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  release?(path: string, fd: number, cb: FsDone): void;
  releasedir?(path: string, fd: number, cb: FsDone): void;
  /** fuse-native does not pass the open flags to create. */
  create?(path: string, mode: number, cb: (code: number, fd?: number) => void): void;
  unlink?(path: string, cb: FsDone): void;
  rename?(src: string, dest: string, cb: FsDone): void;
  /** link(existing, newPath) */
  link?(src: string, dest: string, cb: FsDone): void;
  /** symlink(target, linkPath) */
  symlink?(src: string, dest: string, cb: FsDone): void;
  mkdir?(path: string, mode: number, cb: FsDone): void;
  rmdir?(path: string, cb: FsDone): void;
}
