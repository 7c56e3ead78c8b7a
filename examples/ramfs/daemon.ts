// ramfs: a writable file system that lives in the daemon's memory (gone when it stops). A teaching
// example of a kind's own FsOps with write support: every op a real file system needs.
//
// The shape: a tree of inodes. A directory's inode maps names to inodes; a hard link is a second
// name for the same inode object, so its data, mode, times and `nlink` are shared. Paths are
// resolved from the root on every call (the ops are handed paths, not inode numbers). An open file
// is found by its handle (read, write, ftruncate, fgetattr), not its path, so it stays usable
// after it is renamed or unlinked while open.
//
// What the kernel does for us (the mount has `default_permissions`): every permission check
// (mode bits, owner, sticky directories), O_APPEND positions, umask, clearing setuid on write.
// What the FsOps API cannot do yet: it does not say who calls, so a new file's owner is the
// daemon's own uid/gid (mountie's pjdfstest table counts what that costs: docs/CONFORMANCE.md);
// and it has no fallocate. Reads do not move atime (as a noatime mount); utimens sets it.
import { constants as fsc } from 'node:fs';
import { constants as os } from 'node:os';
import { defineDaemon, defineKind, type FsOps, type FsStat } from 'mountie';

const { ENOENT, ENOTDIR, EISDIR, EEXIST, ENOTEMPTY, EINVAL, EBADF, EFBIG, EPERM, EBUSY, ENAMETOOLONG, ENODATA } = os.errno;
const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK } = fsc;
const S_ISGID = 0o2000; // not in Node's fs.constants

/** A file's bytes are kept in chunks of this size, only those ever written (a sparse file costs nothing). */
const CHUNK = 64 * 1024;
/** The largest file: 2^52 bytes (4 PiB). Beyond it offsets stop being exact JavaScript numbers, so EFBIG. */
export const MAX_SIZE = 2 ** 52;
/** The longest name (as ext4 and tmpfs): longer ones answer ENAMETOOLONG. */
const NAME_MAX = 255;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** One file, directory, symlink or special file. Times are ms since the epoch (fractions kept). */
interface Inode {
  readonly ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  readonly xattrs: Map<string, Buffer>;
  readonly chunks?: Map<number, Buffer>; // a regular file's data, by chunk index
  readonly entries?: Map<string, Inode>; // a directory's names
  readonly target?: string; // a symlink's target
}

type Found = Inode | number; // an inode, or a negative errno

export function ramOps(): FsOps {
  let lastIno = 0;
  const now = (): number => Date.now();
  /** A new inode, owned by the daemon (no caller ids in FsOps), with the group of a setgid parent. */
  function inode(mode: number, parent: Inode | undefined, extra: Partial<Inode> = {}): Inode {
    const t = now();
    const sgid = parent !== undefined && (parent.mode & S_ISGID) !== 0;
    const dir = (mode & S_IFMT) === S_IFDIR;
    return {
      ino: ++lastIno,
      mode: sgid && dir ? mode | S_ISGID : mode, // a setgid directory's subdirectories inherit it
      uid: process.getuid?.() ?? 0,
      gid: sgid ? parent.gid : (process.getgid?.() ?? 0),
      nlink: dir ? 2 : 1, // a directory: its name and its own "."
      rdev: 0,
      size: 0,
      atime: t,
      mtime: t,
      ctime: t,
      xattrs: new Map(),
      ...(dir ? { entries: new Map<string, Inode>() } : {}),
      ...((mode & S_IFMT) === S_IFREG ? { chunks: new Map<number, Buffer>() } : {}),
      ...extra,
    };
  }
  const root = inode(S_IFDIR | 0o755, undefined);
  const handles = new Map<number, Inode>(); // open files by handle
  let lastFh = 0;

  /** The inode at `path` ("/a/b"), or -ENOENT / -ENOTDIR / -ENAMETOOLONG. */
  function lookup(path: string): Found {
    let node = root;
    for (const name of path.split('/')) {
      if (name === '') continue;
      if (Buffer.byteLength(name) > NAME_MAX) return -ENAMETOOLONG;
      if (!node.entries) return -ENOTDIR;
      const next = node.entries.get(name);
      if (!next) return -ENOENT;
      node = next;
    }
    return node;
  }
  /** The directory that holds `path`'s last name, and that name. */
  function parentOf(path: string): { dir: Inode; name: string } | number {
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > NAME_MAX) return -ENAMETOOLONG;
    const dir = lookup(path.slice(0, cut) || '/');
    if (typeof dir === 'number') return dir;
    return dir.entries ? { dir, name } : -ENOTDIR;
  }
  /** A directory's entries changed: its mtime and ctime move. */
  const touchDir = (dir: Inode): void => void (dir.mtime = dir.ctime = now());

  /** Put a new inode under a name that must be free; the parent counts a new subdirectory's "..". */
  function add(path: string, make: (parent: Inode) => Inode): number {
    const p = parentOf(path);
    if (typeof p === 'number') return p;
    if (p.dir.entries!.has(p.name)) return -EEXIST;
    const node = make(p.dir);
    p.dir.entries!.set(p.name, node);
    if (node.entries) p.dir.nlink++;
    touchDir(p.dir);
    return 0;
  }

  function stat(n: Inode): FsStat {
    // What is stored, in 512-byte units (du's view of a sparse file). The native core takes
    // blocks: 0 as "not given" and derives it from the size.
    const blocks = n.chunks ? (n.chunks.size * CHUNK) / 512 : 0;
    const { ino, mode, uid, gid, nlink, rdev, size, atime, mtime, ctime } = n;
    return { ino, mode, uid, gid, nlink, rdev, size, blksize: 4096, blocks, atime, mtime, ctime };
  }

  /** Set a regular file's size: drop the chunks past the end, zero the tail of the last one kept. */
  function resize(n: Inode, size: number): number {
    if (!n.chunks) return n.entries ? -EISDIR : -EINVAL;
    if (size < 0) return -EINVAL;
    if (size > MAX_SIZE) return -EFBIG;
    if (size < n.size) {
      for (const i of n.chunks.keys()) if (i * CHUNK >= size) n.chunks.delete(i);
      n.chunks.get(Math.floor(size / CHUNK))?.fill(0, size % CHUNK);
    }
    n.size = size;
    n.mtime = n.ctime = now(); // truncate(2) moves both even when the size stays
    return 0;
  }

  /** Run `fn` on the inode at `path`, and answer its result (0 or a negative errno). */
  const at = (path: string, cb: (code: number) => void, fn: (n: Inode) => number | void): void => {
    const n = lookup(path);
    cb(typeof n === 'number' ? n : (fn(n) ?? 0));
  };
  /** The same on an open file's handle. */
  const byHandle = (fd: number, cb: (code: number) => void, fn: (n: Inode) => number): void => {
    const n = handles.get(fd);
    cb(n ? fn(n) : -EBADF);
  };
  const opened = (n: Inode): number => (handles.set(++lastFh, n), lastFh);

  return {
    getattr: (path, cb) => {
      const n = lookup(path);
      if (typeof n === 'number') cb(n);
      else cb(0, stat(n));
    },
    // An open file's attributes, by its handle: right even once its name is gone or reused.
    fgetattr: (_path, fd, cb) => {
      const n = handles.get(fd);
      if (n) cb(0, stat(n));
      else cb(-EBADF);
    },
    readdir(path, cb) {
      const n = lookup(path);
      if (typeof n === 'number') return cb(n);
      if (!n.entries) return cb(-ENOTDIR);
      // With the stats: `ls -l` and the kernel's readdirplus get each entry's type and inode number.
      cb(0, [...n.entries.keys()], [...n.entries.values()].map(stat));
    },
    access: (path, _mode, cb) => at(path, cb, () => 0), // the kernel checked the permissions
    statfs(_path, cb) {
      // Numbers of a plausible 16 GiB disk (every field travels as a uint32); memory is the real bound.
      const blocks = 4 * 1024 * 1024;
      const files = 1_000_000;
      const free = files - lastIno;
      cb(0, { bsize: 4096, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files, ffree: free, favail: free, fsid: 0, flag: 0, namemax: NAME_MAX });
    },

    // Files: open hands back a handle that read, write, ftruncate and release use.
    open(path, _flags, cb) {
      const n = lookup(path);
      if (typeof n === 'number') return cb(n);
      cb(0, opened(n));
    },
    create(path, mode, cb) {
      let made: Inode | undefined;
      const code = add(path, (parent) => (made = inode(S_IFREG | (mode & 0o7777), parent)));
      if (code) cb(code);
      else cb(0, opened(made!));
    },
    release: (_path, fd, cb) => cb(handles.delete(fd) ? 0 : -EBADF),
    opendir: (path, _flags, cb) => at(path, (code) => cb(code, 0), (n) => (n.entries ? 0 : -ENOTDIR)),
    releasedir: (_path, _fd, cb) => cb(0),
    flush: (_path, _fd, cb) => cb(0),
    fsync: (_path, _datasync, _fd, cb) => cb(0), // memory is as durable as it gets
    fsyncdir: (_path, _datasync, _fd, cb) => cb(0),
    read(_path, fd, buf, len, pos, cb) {
      const n = handles.get(fd);
      if (!n?.chunks) return cb(n ? -EISDIR : -EBADF);
      const end = Math.min(n.size, pos + len);
      for (let p = pos; p < end; ) {
        const i = Math.floor(p / CHUNK);
        const off = p % CHUNK;
        const k = Math.min(CHUNK - off, end - p);
        const chunk = n.chunks.get(i);
        if (chunk) chunk.copy(buf, p - pos, off, off + k);
        else buf.fill(0, p - pos, p - pos + k); // a hole reads as zeros
        p += k;
      }
      cb(Math.max(0, end - pos));
    },
    write(_path, fd, buf, len, pos, cb) {
      const n = handles.get(fd);
      if (!n?.chunks) return cb(n ? -EISDIR : -EBADF);
      if (pos + len > MAX_SIZE) return cb(-EFBIG);
      for (let done = 0; done < len; ) {
        const i = Math.floor((pos + done) / CHUNK);
        const off = (pos + done) % CHUNK;
        const k = Math.min(CHUNK - off, len - done);
        let chunk = n.chunks.get(i);
        if (!chunk) n.chunks.set(i, (chunk = Buffer.alloc(CHUNK)));
        buf.copy(chunk, off, done, done + k);
        done += k;
      }
      n.size = Math.max(n.size, pos + len);
      n.mtime = n.ctime = now();
      cb(len);
    },
    truncate: (path, size, cb) => at(path, cb, (n) => resize(n, size)),
    ftruncate: (_path, fd, size, cb) => byHandle(fd, cb, (n) => resize(n, size)),

    // Names: every change moves the parent's mtime and ctime, and the inode's ctime when its nlink moves.
    mknod(path, mode, dev, cb) {
      const type = mode & S_IFMT;
      if (![S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK].includes(type)) return cb(-EINVAL);
      cb(add(path, (parent) => inode(type | (mode & 0o7777), parent, { rdev: type === S_IFCHR || type === S_IFBLK ? dev : 0 })));
    },
    mkdir: (path, mode, cb) => cb(add(path, (parent) => inode(S_IFDIR | (mode & 0o7777), parent))),
    symlink: (target, path, cb) => cb(add(path, (parent) => inode(S_IFLNK | 0o777, parent, { target, size: Buffer.byteLength(target) }))),
    readlink(path, cb) {
      const n = lookup(path);
      if (typeof n === 'number') cb(n);
      else if (n.target === undefined) cb(-EINVAL);
      else cb(0, n.target);
    },
    link(src, dest, cb) {
      const n = lookup(src);
      if (typeof n === 'number') return cb(n);
      if (n.entries) return cb(-EPERM); // no hard links to directories
      const code = add(dest, () => n);
      if (code === 0) {
        n.nlink++;
        n.ctime = now();
      }
      cb(code);
    },
    unlink(path, cb) {
      const p = parentOf(path);
      if (typeof p === 'number') return cb(p);
      const n = p.dir.entries!.get(p.name);
      if (!n) return cb(-ENOENT);
      if (n.entries) return cb(-EISDIR);
      p.dir.entries!.delete(p.name);
      n.nlink--; // its handles keep it alive; the last release frees it
      n.ctime = now();
      touchDir(p.dir);
      cb(0);
    },
    rmdir(path, cb) {
      const p = parentOf(path);
      if (typeof p === 'number') return cb(p);
      if (p.name === '') return cb(-EBUSY); // the root
      const n = p.dir.entries!.get(p.name);
      if (!n) return cb(-ENOENT);
      if (!n.entries) return cb(-ENOTDIR);
      if (n.entries.size > 0) return cb(-ENOTEMPTY);
      p.dir.entries!.delete(p.name);
      p.dir.nlink--;
      n.nlink = 0;
      touchDir(p.dir);
      cb(0);
    },
    rename(src, dest, cb) {
      const from = parentOf(src);
      const to = parentOf(dest);
      if (typeof from === 'number') return cb(from);
      if (typeof to === 'number') return cb(to);
      const n = from.dir.entries!.get(from.name);
      if (!n) return cb(-ENOENT);
      if (n.entries && dest.startsWith(`${src}/`)) return cb(-EINVAL); // a directory into itself
      const old = to.dir.entries!.get(to.name);
      if (old === n) return cb(0); // two names of one inode: POSIX says do nothing
      if (old) {
        // Replace: a directory only by a directory that is empty, a file only by a non-directory.
        if (n.entries && !old.entries) return cb(-ENOTDIR);
        if (!n.entries && old.entries) return cb(-EISDIR);
        if (old.entries?.size) return cb(-ENOTEMPTY);
        if (old.entries) {
          to.dir.nlink--;
          old.nlink = 0;
        } else old.nlink--;
        old.ctime = now();
      }
      from.dir.entries!.delete(from.name);
      to.dir.entries!.set(to.name, n);
      if (n.entries) {
        // Its ".." now names the new parent.
        from.dir.nlink--;
        to.dir.nlink++;
      }
      n.ctime = now();
      touchDir(from.dir);
      touchDir(to.dir);
      cb(0);
    },

    // Metadata: each change moves ctime. Permission to change it was checked by the kernel.
    chmod: (path, mode, cb) => at(path, cb, (n) => void ((n.mode = (n.mode & S_IFMT) | (mode & 0o7777)), (n.ctime = now()))),
    chown: (path, uid, gid, cb) => at(path, cb, (n) => void ((n.uid = uid), (n.gid = gid), (n.ctime = now()))),
    utimens: (path, atime, mtime, cb) => at(path, cb, (n) => void ((n.atime = atime), (n.mtime = mtime), (n.ctime = now()))),

    // Extended attributes, any namespace (the kernel refuses what the caller may not set).
    setxattr(path, name, value, _position, flags, cb) {
      at(path, cb, (n) => {
        if (flags & XATTR_CREATE && n.xattrs.has(name)) return -EEXIST;
        if (flags & XATTR_REPLACE && !n.xattrs.has(name)) return -ENODATA;
        n.xattrs.set(name, Buffer.from(value)); // a copy: the caller's buffer is not ours to keep
        n.ctime = now();
        return 0;
      });
    },
    getxattr(path, name, _position, cb) {
      const n = lookup(path);
      if (typeof n === 'number') return cb(n);
      const value = n.xattrs.get(name);
      if (value) cb(0, value);
      else cb(-ENODATA);
    },
    listxattr(path, cb) {
      const n = lookup(path);
      if (typeof n === 'number') cb(n);
      else cb(0, [...n.xattrs.keys()]);
    },
    removexattr: (path, name, cb) => at(path, cb, (n) => (n.xattrs.delete(name) ? void (n.ctime = now()) : -ENODATA)),
  };
}

export const ramfs = defineDaemon({
  kind: defineKind({ name: 'ramfs' }),
  module: import.meta.url,
  // No `options`: a ramfs workspace takes none, and every mount starts empty.
  mount: () => ({ ops: ramOps() }),
});
