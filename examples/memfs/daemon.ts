// memfs: a read-only file system in memory, given as the workspace's options (a Tree):
// { "a.txt": "hello\n", "docs": { "b.md": "# B\n" } } (a string is a file, an object a directory).
import { constants as fs } from 'node:fs';
import { defineDaemon, defineKind, FsError, MountieError, type ErrnoName, type FileSystem } from 'mountie';
export interface Tree { readonly [name: string]: string | Tree } // what --tree takes, as workspace.json stores it
export type Nodes = Map<string, Buffer | string[]>; // by path ("/docs/b.md"): a file's bytes, a directory's names

/** The options parser: the tree flattened to Nodes; anything else is refused (exit 2, nothing written). */
export function parseTree(raw: unknown, path = '/', nodes: Nodes = new Map()): Nodes {
  const bad = (what: string): MountieError =>
    new MountieError('ERR_INVALID_OPTION', `options: ${path} ${what}`, { hint: 'e.g. {"a.txt": "hi\\n", "d": {}}' });
  if (typeof raw === 'string' && path !== '/') return nodes.set(path, Buffer.from(raw));
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('is neither a string nor an object');
  nodes.set(path, Object.keys(raw));
  for (const [name, value] of Object.entries(raw)) {
    if (['', '.', '..'].includes(name) || /[/\0]/.test(name)) throw bad(`holds ${JSON.stringify(name)}, not a name`);
    parseTree(value, path === '/' ? `/${name}` : `${path}/${name}`, nodes);
  }
  return nodes;
}

/**
 * Answers from the nodes (`read` answers a view of the file's bytes: the core copies it). The CLI
 * mounts it read-only, so the kernel answers EROFS to every change before it reaches these.
 */
export function memFs(nodes: Nodes, at = new Date()): FileSystem {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atime: at, mtime: at, ctime: at };
  const stat = (n: Buffer | string[]) => ({ ...owner, mode: Buffer.isBuffer(n) ? 0o100444 : 0o40555, size: n.length });
  const fail = (code: ErrnoName): never => { throw new FsError(code); }; // the kernel gets that errno
  const node = (path: string): Buffer | string[] => nodes.get(path) ?? fail('ENOENT');
  const file = (path: string): Buffer => { const n = node(path); return Buffer.isBuffer(n) ? n : fail('EISDIR'); };
  return { // every op gets the caller first (uid, gid, pid, umask); memfs answers everyone alike
    getattr: (_caller, path) => stat(node(path)),
    readdir: (_caller, path) => { const n = node(path); return Array.isArray(n) ? n : fail('ENOTDIR'); },
    open(_caller, path, flags) { // a file opened to write gets EROFS even on a writable mount
      file(path); // ENOENT, EISDIR
      if (flags & (fs.O_WRONLY | fs.O_RDWR)) fail('EROFS');
    },
    read: (_caller, path, _fh, size, offset) => file(path).subarray(Number(offset), Number(offset) + size),
  };
}

export const memfs = defineDaemon<Nodes, Tree>({
  kind: defineKind({ name: 'memfs', command: 'memfs' }),
  module: import.meta.url,
  options: parseTree,
  mount: (ctx) => ({ fs: memFs(ctx.options) }),
});
