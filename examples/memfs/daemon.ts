// memfs: a read-only file system in memory, given as the workspace's options (a Tree):
// { "a.txt": "hello\n", "docs": { "b.md": "# B\n" } } (a string is a file, an object a directory).
import { constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { defineDaemon, defineKind, MountieError, type FsOps } from 'mountie';
export interface Tree { readonly [name: string]: string | Tree } // what --tree takes, as workspace.json stores it
export type Nodes = Map<string, Buffer | string[]>; // by path ("/docs/b.md"): a file's bytes, a directory's names
const { ENOENT, ENOTDIR, EISDIR, EROFS } = os.errno;

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

/** Answers from the nodes. The CLI mounts it read-only, so the kernel answers EROFS to every change. */
export function memOps(nodes: Nodes, at = new Date()): FsOps {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atime: at, mtime: at, ctime: at };
  const stat = (n: Buffer | string[]) => ({ ...owner, mode: Buffer.isBuffer(n) ? 0o100444 : 0o40555, size: n.length });
  const no = (n: unknown, wrongType: number): number => (n === undefined ? -ENOENT : wrongType);
  return {
    getattr: (path, cb) => { const n = nodes.get(path); if (n) cb(0, stat(n)); else cb(-ENOENT); },
    readdir: (path, cb) => { const n = nodes.get(path); if (Array.isArray(n)) cb(0, n); else cb(no(n, -ENOTDIR)); },
    open(path, flags, cb) { // a file opened to write gets EROFS even on a writable mount
      const n = nodes.get(path);
      cb(!Buffer.isBuffer(n) ? no(n, -EISDIR) : flags & (fs.O_WRONLY | fs.O_RDWR) ? -EROFS : 0);
    },
    read(path, _fd, buf, len, pos, cb) {
      const n = nodes.get(path);
      cb(Buffer.isBuffer(n) ? n.subarray(pos, pos + len).copy(buf) : no(n, -EISDIR));
    },
    release: (_path, _fd, cb) => cb(0),
  };
}

export const memfs = defineDaemon<Nodes, Tree>({
  kind: defineKind({ name: 'memfs', command: 'memfs' }),
  module: import.meta.url,
  options: parseTree,
  mount: (ctx) => ({ ops: memOps(ctx.options) }),
});
