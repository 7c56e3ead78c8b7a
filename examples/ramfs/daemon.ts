// ramfs: a writable file system that lives in the daemon's memory (gone when it stops). A teaching
// example of mountie's promise-style `FileSystem` (`mount()` returns `{ fs }`) with every op a real
// file system needs.
//
// The shape: a tree of inodes. A directory's inode maps names to inodes; a hard link is a second
// name for the same inode object, so its data, mode, times and `nlink` are shared. Paths are
// resolved from the root on every call (the ops are handed paths, not inode numbers). An open file
// is found by its handle (read, write, ftruncate, fstat, fallocate, lseek), not its path, so it
// stays usable after it is renamed or unlinked while open.
//
// Every op gets the caller first (uid, gid, pid, umask), as the kernel saw it: new files belong to
// who made them, as on any POSIX file system. What the kernel does for us (the mount has
// `default_permissions`): every permission check (mode bits, owner, sticky directories, who may
// chown to what), the umask (modes arrive with it applied), O_APPEND positions, and clearing
// setgid from a chmod by someone outside the file's group. Failing on purpose is
// `throw new FsError('ENOENT')`; anything else thrown is answered EIO and logged as a bug.
// Reads do not move atime (as a noatime mount); utimens sets it.
import { constants as fsc } from 'node:fs';
import { defineDaemon, defineKind, FsError, type ErrnoName, type FileSystem, type FsAttr, type FsCaller, type FsNumber } from 'mountie';

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IXGRP } = fsc;
const S_ISUID = 0o4000; // not in Node's fs.constants
const S_ISGID = 0o2000;

/** A file's bytes are kept in chunks of this size, only those ever written (a sparse file costs nothing). */
const CHUNK = 64 * 1024;
/**
 * A chunk starts this small and doubles as it is written further (up to CHUNK), so a file of a few
 * bytes costs that, not 64 KiB; its bytes past its length read as zeros.
 */
const MIN_PIECE = 512;
/** What a hole reads as: one shared chunk of zeros, handed out as views (the core copies them to the kernel). */
const ZEROS = new Uint8Array(CHUNK);
/** The largest file: 2^52 bytes (4 PiB). Beyond it offsets stop being exact JavaScript numbers, so EFBIG. */
export const MAX_SIZE = 2 ** 52;
/** The most one fallocate may reserve: reserved chunks are real memory (ENOSPC beyond). */
const MAX_FALLOCATE = 1024 ** 3;
/** The longest name (as ext4 and tmpfs): longer ones answer ENAMETOOLONG. */
const NAME_MAX = 255;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/** One file, directory, symlink or special file. Times are ns since the epoch, kept exactly as set. */
interface Inode {
  readonly ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  readonly xattrs: Map<string, Buffer>;
  readonly chunks?: Map<number, Uint8Array>; // a regular file's data, by chunk index
  readonly entries?: Map<string, Inode>; // a directory's names
  readonly target?: string; // a symlink's target
}

const fail = (code: ErrnoName): never => {
  throw new FsError(code);
};
/** Sizes and offsets may come as bigint past 2^53; anything that large is past MAX_SIZE anyway. */
const num = (v: FsNumber): number => Number(v);

/** Now, in ns since the epoch: the wall clock read once (Date.now() has only ms), advanced by the
 *  monotonic clock, so that two changes within one millisecond still get different times. */
const SKEW = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
const now = (): bigint => SKEW + process.hrtime.bigint();

/**
 * Written, truncated or chowned by someone without CAP_FSETID (root here): setuid goes, and setgid
 * when group execute is set (setgid without it marks mandatory locking, and stays), as Linux does.
 * The kernel usually asks first with a chmod (the core leaves "killpriv" to it); doing it here
 * keeps the rule true whatever the kernel sends. The op that calls this moves ctime.
 */
function dropPrivileges(n: Inode, caller: FsCaller): void {
  if (caller.uid === 0 || !n.chunks) return;
  n.mode &= ~(S_ISUID | (n.mode & S_IXGRP ? S_ISGID : 0));
}

export function ramFs(): FileSystem {
  let lastIno = 0;
  /** A new inode, owned by the caller, with the group of a setgid parent (as POSIX's BSD group rule). */
  function inode(mode: number, parent: Inode | undefined, caller: FsCaller, extra: Partial<Inode> = {}): Inode {
    const t = now();
    const sgid = parent !== undefined && (parent.mode & S_ISGID) !== 0;
    const dir = (mode & S_IFMT) === S_IFDIR;
    return {
      ino: ++lastIno,
      mode: sgid && dir ? mode | S_ISGID : mode, // a setgid directory's subdirectories inherit it
      uid: caller.uid,
      gid: sgid ? parent.gid : caller.gid,
      nlink: dir ? 2 : 1, // a directory: its name and its own "."
      rdev: 0,
      size: 0,
      atime: t,
      mtime: t,
      ctime: t,
      xattrs: new Map(),
      ...(dir ? { entries: new Map<string, Inode>() } : {}),
      ...((mode & S_IFMT) === S_IFREG ? { chunks: new Map<number, Uint8Array>() } : {}),
      ...extra,
    };
  }
  // The root is the daemon's (whoever mounted it), 0755.
  const root = inode(S_IFDIR | 0o755, undefined, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: process.pid, umask: 0 });
  const handles = new Map<number, Inode>(); // open files by handle
  let lastFh = 0;
  const opened = (n: Inode): number => (handles.set(++lastFh, n), lastFh);

  /** The inode at `path` ("/a/b"); ENOENT, ENOTDIR or ENAMETOOLONG otherwise. */
  function lookup(path: string): Inode {
    let node = root;
    for (const name of path.split('/')) {
      if (name === '') continue;
      if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG');
      node = node.entries ? (node.entries.get(name) ?? fail('ENOENT')) : fail('ENOTDIR');
    }
    return node;
  }
  /** The directory that holds `path`'s last name, and that name. */
  function parentOf(path: string): { dir: Inode & { entries: Map<string, Inode> }; name: string } {
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG');
    const dir = lookup(path.slice(0, cut) || '/');
    return dir.entries ? { dir: dir as Inode & { entries: Map<string, Inode> }, name } : fail('ENOTDIR');
  }
  /** The file an op is about: its open handle when the caller has one (right even once its name is gone), else its path. */
  const fileAt = (path: string, fh: number | undefined): Inode => (fh === undefined ? undefined : handles.get(fh)) ?? lookup(path);
  /** A regular file's chunks (a directory or special file has no bytes to read or write). */
  const chunksOf = (n: Inode): Map<number, Uint8Array> => n.chunks ?? fail(n.entries ? 'EISDIR' : 'EINVAL');
  /** A directory's entries changed: its mtime and ctime move. */
  const touchDir = (dir: Inode): void => void (dir.mtime = dir.ctime = now());

  /** Put a new inode under a name that must be free; the parent counts a new subdirectory's "..". */
  function add(path: string, make: (parent: Inode) => Inode): Inode {
    const p = parentOf(path);
    if (p.dir.entries.has(p.name)) fail('EEXIST');
    const node = make(p.dir);
    p.dir.entries.set(p.name, node);
    if (node.entries) p.dir.nlink++;
    touchDir(p.dir);
    return node;
  }

  function attr(n: Inode): FsAttr {
    // What is stored, in 512-byte units (du's view of a sparse file, or of a reserved one).
    let stored = 0;
    for (const c of n.chunks?.values() ?? []) stored += c.length;
    const blocks = stored / 512;
    const { ino, mode, uid, gid, nlink, rdev, size, atime, mtime, ctime } = n;
    return { ino, mode, uid, gid, nlink, rdev, size, blksize: 4096, blocks, atime, mtime, ctime };
  }

  /** Chunk `i`, long enough for `need` bytes (grown by doubling, copied; at most CHUNK). */
  function room(chunks: Map<number, Uint8Array>, i: number, need: number): Uint8Array {
    const chunk = chunks.get(i);
    if (chunk && chunk.length >= need) return chunk;
    let len = chunk ? chunk.length * 2 : MIN_PIECE;
    while (len < need) len *= 2;
    const grown = new Uint8Array(Math.min(CHUNK, len));
    if (chunk) grown.set(chunk);
    chunks.set(i, grown);
    return grown;
  }

  /** Set a regular file's size: drop the chunks past the end, zero the tail of the last one kept. */
  function resize(n: Inode, size: number): void {
    const chunks = chunksOf(n);
    if (size < 0) fail('EINVAL');
    if (size > MAX_SIZE) fail('EFBIG');
    if (size < n.size) {
      for (const i of chunks.keys()) if (i * CHUNK >= size) chunks.delete(i);
      chunks.get(Math.floor(size / CHUNK))?.fill(0, size % CHUNK);
    }
    n.size = size;
    n.mtime = n.ctime = now(); // truncate(2) moves both even when the size stays
  }

  return {
    // Also every name lookup: the kernel's LOOKUP is this. With a handle (fstat, a read's size refresh) it is that file.
    getattr: (_c, path, fh) => attr(fileAt(path, fh)),
    // With the attributes: `ls -l` and the kernel's readdirplus get each entry's type and inode number.
    readdir: (_c, path) => [...(lookup(path).entries ?? fail('ENOTDIR'))].map(([name, n]) => ({ name, attr: attr(n) })),
    access: (_c, path) => void lookup(path), // asked only without --allow-other; the kernel checked the modes
    statfs() {
      // Numbers of a plausible 16 GiB disk; memory is the real bound.
      const blocks = 4 * 1024 * 1024;
      const files = 1_000_000;
      const free = files - lastIno;
      return { bsize: 4096, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files, ffree: free, favail: free, namemax: NAME_MAX };
    },

    // Files: open and create hand back a handle that the ops on the open file get.
    open: (_c, path) => opened(lookup(path)),
    create(caller, path, mode) {
      const n = add(path, (parent) => inode(S_IFREG | (mode & 0o7777), parent, caller)); // the umask is applied already
      return { fh: opened(n), attr: attr(n) };
    },
    opendir: (_c, path) => void (lookup(path).entries ?? fail('ENOTDIR')),
    release: (_c, _path, fh) => void handles.delete(fh), // an unlinked file is freed with its last handle
    // fsync, flush, releasedir: not given, so they succeed without a round trip (memory is as durable as it gets).
    read(_c, _path, fh, size, offset) {
      // Views of the chunks, one piece per chunk touched, holes as views of ZEROS: no byte is copied here.
      const n = handles.get(fh) ?? fail('EBADF');
      const chunks = chunksOf(n);
      const start = num(offset);
      const end = Math.min(n.size, start + size);
      const pieces: Uint8Array[] = [];
      for (let p = start; p < end; ) {
        const off = p % CHUNK;
        const k = Math.min(CHUNK - off, end - p);
        const chunk = chunks.get(Math.floor(p / CHUNK)) ?? ZEROS;
        if (off + k <= chunk.length) pieces.push(chunk.subarray(off, off + k));
        else {
          // A chunk not grown that far: its bytes, then zeros.
          if (off < chunk.length) pieces.push(chunk.subarray(off));
          pieces.push(ZEROS.subarray(0, off + k - Math.max(off, chunk.length)));
        }
        p += k;
      }
      return pieces; // at most 2 × (max_read / CHUNK + 1) of them, well under the 256 allowed
    },
    write(caller, _path, fh, data, offset) {
      const n = handles.get(fh) ?? fail('EBADF');
      const chunks = chunksOf(n);
      const pos = num(offset);
      if (pos + data.length > MAX_SIZE) fail('EFBIG');
      // `data` is only lent for this call: its bytes are copied into chunks we own.
      for (let done = 0; done < data.length; ) {
        const i = Math.floor((pos + done) / CHUNK);
        const off = (pos + done) % CHUNK;
        const k = Math.min(CHUNK - off, data.length - done);
        room(chunks, i, off + k).set(data.subarray(done, done + k), off);
        done += k;
      }
      n.size = Math.max(n.size, pos + data.length);
      dropPrivileges(n, caller);
      n.mtime = n.ctime = now();
      return data.length;
    },
    truncate(caller, path, size, fh) {
      const n = fileAt(path, fh);
      resize(n, num(size));
      dropPrivileges(n, caller);
    },
    fallocate(_c, _path, fh, mode, offset, length) {
      const n = handles.get(fh) ?? fail('EBADF');
      const chunks = chunksOf(n);
      const start = num(offset);
      const end = start + num(length);
      if (mode === 0 || mode === FALLOC_FL_KEEP_SIZE) {
        // Reserve: every chunk of the range exists afterwards, so later writes there need no memory;
        // the size grows to cover it unless KEEP_SIZE (then the chunks lie past the end, as ext4's blocks).
        if (end > MAX_SIZE) fail('EFBIG');
        if (end - start > MAX_FALLOCATE) fail('ENOSPC');
        for (let i = Math.floor(start / CHUNK); i * CHUNK < end; i++) room(chunks, i, CHUNK);
        if (mode === 0 && end > n.size) n.size = end;
      } else if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
        // Punch: the range reads as zeros; whole chunks inside it are let go (a hole again).
        for (const [i, chunk] of chunks) {
          const lo = Math.max(start, i * CHUNK);
          const hi = Math.min(end, (i + 1) * CHUNK);
          if (hi - lo === CHUNK) chunks.delete(i);
          else if (lo < hi) chunk.fill(0, lo - i * CHUNK, hi - i * CHUNK);
        }
      } else fail('EOPNOTSUPP'); // zero range, collapse, insert: not offered (the kernel refuses punch without KEEP_SIZE)
      n.mtime = n.ctime = now();
    },
    lseek(_c, _path, fh, offset, whence) {
      // SEEK_DATA / SEEK_HOLE over the chunks: a stored chunk is data, a missing one a hole, and the
      // end of the file is a hole. ENXIO at or past the end, or when no data follows.
      const n = handles.get(fh) ?? fail('EBADF');
      const chunks = chunksOf(n);
      const off = num(offset);
      if (off >= n.size) fail('ENXIO');
      if (whence === SEEK_DATA) {
        let found = Infinity;
        for (const i of chunks.keys()) if ((i + 1) * CHUNK > off) found = Math.min(found, Math.max(off, i * CHUNK));
        return found < n.size ? found : fail('ENXIO');
      }
      if (whence !== SEEK_HOLE) fail('EINVAL');
      let i = Math.floor(off / CHUNK);
      while (chunks.has(i)) i++;
      return Math.min(n.size, Math.max(off, i * CHUNK));
    },

    // Names: each new inode belongs to the caller; every change moves the parent's mtime and ctime,
    // and the inode's ctime when its nlink moves.
    mknod(caller, path, mode, rdev) {
      const type = mode & S_IFMT;
      if (![S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK].includes(type)) fail('EINVAL');
      add(path, (parent) => inode(mode, parent, caller, { rdev: type === S_IFCHR || type === S_IFBLK ? rdev : 0 }));
    },
    mkdir: (caller, path, mode) => void add(path, (parent) => inode(S_IFDIR | mode, parent, caller)),
    symlink: (caller, target, path) => void add(path, (parent) => inode(S_IFLNK | 0o777, parent, caller, { target, size: Buffer.byteLength(target) })),
    readlink: (_c, path) => lookup(path).target ?? fail('EINVAL'),
    link(_c, path, newPath) {
      const n = lookup(path);
      if (n.entries) fail('EPERM'); // no hard links to directories
      add(newPath, () => n);
      n.nlink++;
      n.ctime = now();
    },
    unlink(_c, path) {
      const p = parentOf(path);
      const n = p.dir.entries.get(p.name) ?? fail('ENOENT');
      if (n.entries) fail('EISDIR');
      p.dir.entries.delete(p.name);
      n.nlink--; // its handles keep it alive; the last release frees it
      n.ctime = now();
      touchDir(p.dir);
    },
    rmdir(_c, path) {
      const p = parentOf(path);
      if (p.name === '') fail('EBUSY'); // the root
      const n = p.dir.entries.get(p.name) ?? fail('ENOENT');
      if (!n.entries) fail('ENOTDIR');
      if (n.entries!.size > 0) fail('ENOTEMPTY');
      p.dir.entries.delete(p.name);
      p.dir.nlink--;
      n.nlink = 0;
      touchDir(p.dir);
    },
    rename(_c, path, newPath, flags) {
      if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL');
      const from = parentOf(path);
      const to = parentOf(newPath);
      const n = from.dir.entries.get(from.name) ?? fail('ENOENT');
      const old = to.dir.entries.get(to.name);
      // A directory cannot go below itself (the kernel checks this too; it sees the same tree).
      if ((n.entries && newPath.startsWith(`${path}/`)) || (flags & RENAME_EXCHANGE && old?.entries && path.startsWith(`${newPath}/`))) fail('EINVAL');
      const t = now();
      if (flags & RENAME_EXCHANGE) {
        // Swap the two names atomically; a directory that changes parent moves its ".." count along.
        if (!old) fail('ENOENT');
        from.dir.entries.set(from.name, old!);
        to.dir.entries.set(to.name, n);
        if (from.dir !== to.dir && Boolean(n.entries) !== Boolean(old!.entries)) {
          const [lose, gain] = n.entries ? [from.dir, to.dir] : [to.dir, from.dir];
          lose.nlink--;
          gain.nlink++;
        }
        n.ctime = old!.ctime = t;
      } else {
        if (old && flags & RENAME_NOREPLACE) fail('EEXIST');
        if (old === n) return; // two names of one inode: POSIX says do nothing
        if (old) {
          // Replace: a directory only by a directory that is empty, a file only by a non-directory.
          if (n.entries && !old.entries) fail('ENOTDIR');
          if (!n.entries && old.entries) fail('EISDIR');
          if (old.entries?.size) fail('ENOTEMPTY');
          if (old.entries) {
            to.dir.nlink--;
            old.nlink = 0;
          } else old.nlink--;
          old.ctime = t;
        }
        from.dir.entries.delete(from.name);
        to.dir.entries.set(to.name, n);
        if (n.entries) {
          // Its ".." now names the new parent.
          from.dir.nlink--;
          to.dir.nlink++;
        }
        n.ctime = t;
      }
      touchDir(from.dir);
      touchDir(to.dir);
    },

    // Metadata: each change moves ctime. Who may change what was checked by the kernel.
    chmod(_c, path, mode) {
      const n = lookup(path);
      n.mode = (n.mode & S_IFMT) | (mode & 0o7777);
      n.ctime = now();
    },
    chown(caller, path, uid, gid) {
      // undefined: that id stays (chown -1). A regular file given away loses setuid/setgid, as Linux does.
      const n = lookup(path);
      if (uid !== undefined) n.uid = uid;
      if (gid !== undefined) n.gid = gid;
      dropPrivileges(n, caller);
      n.ctime = now();
    },
    utimens(_c, path, times, fh) {
      // ns, kept exactly; an absent time stays (UTIME_OMIT). "now" arrives as the kernel's clock.
      const n = fileAt(path, fh);
      if (times.atime !== undefined) n.atime = times.atime;
      if (times.mtime !== undefined) n.mtime = times.mtime;
      n.ctime = now();
    },

    // Extended attributes, any namespace (the kernel refuses what the caller may not set).
    setxattr(_c, path, name, value, flags) {
      const n = lookup(path);
      if (flags & XATTR_CREATE && n.xattrs.has(name)) fail('EEXIST');
      if (flags & XATTR_REPLACE && !n.xattrs.has(name)) fail('ENODATA');
      n.xattrs.set(name, Buffer.from(value)); // a copy: the caller's buffer is only lent
      n.ctime = now();
    },
    getxattr: (_c, path, name) => lookup(path).xattrs.get(name) ?? fail('ENODATA'),
    listxattr: (_c, path) => [...lookup(path).xattrs.keys()],
    removexattr(_c, path, name) {
      const n = lookup(path);
      if (!n.xattrs.delete(name)) fail('ENODATA');
      n.ctime = now();
    },
  };
}

export const ramfs = defineDaemon({
  kind: defineKind({ name: 'ramfs' }),
  module: import.meta.url,
  // No `options`: a ramfs workspace takes none, and every mount starts empty.
  mount: () => ({ fs: ramFs() }),
});
