/**
 * The differential run's vocabulary: a seeded op generator, one interpreter that applies an
 * op under any root and describes the outcome as a string, and a tree snapshot to compare.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Explicit times come from 2001..2010: a tree entry with an mtime in there was set by us. */
const EXPLICIT_FROM = Date.UTC(2001, 0, 1);
const EXPLICIT_TO = Date.UTC(2010, 0, 1);
/** Directories mostly get DIR names and files FILE names; sometimes they cross, for errors. */
const DIR_NAMES = ['d', 'e', 'f'];
const FILE_NAMES = ['u', 'v', 'w', 'x', 'y', 'z'];

export type Op =
  | { kind: 'create'; path: string; size: number; fill: number; mode: number }
  | { kind: 'writeAt'; path: string; offset: number; size: number; fill: number }
  | { kind: 'append'; path: string; size: number; fill: number }
  | { kind: 'truncate'; path: string; size: number }
  | { kind: 'rename'; path: string; to: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'rmdir'; path: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'link'; path: string; to: string }
  | { kind: 'utimes'; path: string; ms: number; follow: boolean }
  | { kind: 'read'; path: string }
  | { kind: 'stat'; path: string }
  | { kind: 'readdir'; path: string };

const WEIGHTS: [Op['kind'], number][] = [
  ['create', 16], ['writeAt', 12], ['append', 5], ['truncate', 7], ['rename', 9], ['mkdir', 8],
  ['rmdir', 2], ['unlink', 3], ['symlink', 5], ['chmod', 5], ['link', 7], ['utimes', 7],
  ['read', 8], ['stat', 4], ['readdir', 2],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((n, [, w]) => n + w, 0);

/** Bytes of `size` from a seed: ops stay small to log yet write distinct data. */
export function bytes(fill: number, size: number): Buffer {
  const rng = mulberry32(fill);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (rng() * 256) | 0;
  return b;
}

export function genOp(rng: () => number, known: readonly string[]): Op {
  const int = (n: number): number => Math.floor(rng() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const dirPath = (min: number): string[] => Array.from({ length: min + int(3 - min) }, () => pick(DIR_NAMES));
  const filePath = (): string => [...dirPath(0), pick(rng() < 0.9 ? FILE_NAMES : DIR_NAMES)].join('/');
  const newDir = (): string => [...dirPath(1), ...(rng() < 0.1 ? [pick(FILE_NAMES)] : [])].join('/');
  // Mostly paths that existed at some point, so ops hit real entries as well as errors.
  const existing = (fresh: () => string): string => (known.length > 0 && rng() < 0.6 ? pick(known) : fresh());
  const path = (): string => existing(filePath);
  // Sizes mostly small, sometimes past the 128 KiB of one big write.
  const size = (): number => (rng() < 0.1 ? int(300_000) : int(9000));
  let left = rng() * TOTAL_WEIGHT;
  const kind = WEIGHTS.find(([, w]) => (left -= w) < 0)?.[0] ?? 'read';
  switch (kind) {
    case 'create': return { kind, path: rng() < 0.7 ? filePath() : path(), size: size(), fill: int(2 ** 31), mode: [0o644, 0o600, 0o755, 0o664][int(4)] ?? 0o644 };
    case 'writeAt': return { kind, path: path(), offset: int(20_000), size: size(), fill: int(2 ** 31) };
    case 'append': return { kind, path: path(), size: int(5000), fill: int(2 ** 31) };
    case 'truncate': return { kind, path: path(), size: int(20_000) };
    case 'rename': {
      const from = existing(rng() < 0.5 ? filePath : newDir);
      return { kind, path: from, to: FILE_NAMES.includes(from.slice(-1)) ? filePath() : newDir() };
    }
    case 'mkdir': return { kind, path: newDir(), mode: [0o755, 0o775, 0o700, 0o777][int(4)] ?? 0o755 };
    case 'rmdir': return { kind, path: existing(newDir) };
    case 'unlink': return { kind, path: path() };
    // Relative targets without "..": they resolve the same way under either root.
    case 'symlink': return { kind, path: filePath(), target: rng() < 0.5 ? filePath() : dirPath(1).join('/') };
    case 'chmod': return { kind, path: path(), mode: int(0o1000) | (rng() < 0.1 ? 0o1000 : 0) };
    case 'link': return { kind, path: path(), to: filePath() };
    case 'utimes': return { kind, path: path(), ms: EXPLICIT_FROM + int(EXPLICIT_TO - EXPLICIT_FROM), follow: rng() < 0.7 };
    case 'readdir': return { kind, path: existing(() => dirPath(0).join('/')) };
    default: return { kind, path: path() };
  }
}

async function run(op: Op, p: string, root: string): Promise<string> {
  switch (op.kind) {
    case 'create': await fsp.writeFile(p, bytes(op.fill, op.size), { mode: op.mode }); return 'ok';
    case 'append': await fsp.appendFile(p, bytes(op.fill, op.size)); return 'ok';
    case 'writeAt': {
      const fh = await fsp.open(p, 'r+');
      try {
        const { bytesWritten } = await fh.write(bytes(op.fill, op.size), 0, op.size, op.offset);
        return `ok ${bytesWritten}`;
      } finally {
        await fh.close();
      }
    }
    case 'truncate': await fsp.truncate(p, op.size); return 'ok';
    case 'rename': await fsp.rename(p, join(root, op.to)); return 'ok';
    case 'mkdir': await fsp.mkdir(p, { mode: op.mode }); return 'ok';
    case 'rmdir': await fsp.rmdir(p); return 'ok';
    case 'unlink': await fsp.unlink(p); return 'ok';
    case 'symlink': await fsp.symlink(op.target, p); return 'ok';
    case 'chmod': await fsp.chmod(p, op.mode); return 'ok';
    case 'link': await fsp.link(p, join(root, op.to)); return 'ok';
    // atime = mtime: fuse-native 2.2.6 passes atime in place of mtime (see the known-bug test).
    case 'utimes': await (op.follow ? fsp.utimes : fsp.lutimes)(p, new Date(op.ms), new Date(op.ms)); return 'ok';
    case 'read': return `ok ${sha(await fsp.readFile(p))}`;
    case 'stat': {
      const st = await fsp.lstat(p);
      return `ok ${kindOf(st)} ${(st.mode & 0o7777).toString(8)} ${st.isDirectory() ? '-' : st.size} ${explicitMtime(st.mtimeMs) ?? '-'}`;
    }
    case 'readdir': return `ok ${(await fsp.readdir(p)).sort().join(',')}`;
  }
}

/** Apply `op` under `root`; the outcome as text: "ok …" or the error code. */
export async function applyOp(root: string, op: Op): Promise<string> {
  try {
    return await run(op, join(root, op.path), root);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The mtime in whole ms if we set it explicitly (and nothing touched the entry since). */
function explicitMtime(ms: number): number | undefined {
  const t = Math.floor(ms);
  return t >= EXPLICIT_FROM && t < EXPLICIT_TO + 1000 ? t : undefined;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

function kindOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
}

export interface TreeEntry {
  path: string;
  type: string;
  mode: string;
  nlink: number;
  size?: number;
  sha?: string;
  target?: string;
  /** Only when set explicitly (2001..2010) and not touched since. */
  mtimeMs?: number;
  /** Which names share an inode: the first such name in sorted order. */
  linkGroup?: string;
}

/** Every entry below `root`, sorted by path. `inodes`: also compare hard-link structure. */
export async function snapshotTree(root: string, opts: { inodes: boolean }): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const inodeOf = new Map<string, number>();
  async function walk(rel: string): Promise<void> {
    for (const name of (await fsp.readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const st = await fsp.lstat(full);
      const e: TreeEntry = { path, type: kindOf(st), mode: (st.mode & 0o7777).toString(8), nlink: st.nlink };
      const mtime = explicitMtime(st.mtimeMs);
      if (mtime !== undefined) e.mtimeMs = mtime;
      if (st.isFile()) Object.assign(e, { size: st.size, sha: sha(await fsp.readFile(full)) });
      if (st.isSymbolicLink()) e.target = await fsp.readlink(full);
      if (st.isFile() && st.nlink > 1) inodeOf.set(path, st.ino);
      entries.push(e);
      if (st.isDirectory()) await walk(path);
    }
  }
  await walk('');
  if (opts.inodes) {
    for (const e of entries) {
      const ino = inodeOf.get(e.path);
      if (ino !== undefined) e.linkGroup = [...inodeOf].find(([, i]) => i === ino)?.[0];
    }
  }
  return entries.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** The kernel keeps attributes this long: another name of a hard-linked inode may lag by as much. */
export const ATTR_CACHE_MS = 1100;

async function hardLinked(path: string): Promise<boolean> {
  const st = await fsp.lstat(path).catch(() => undefined); // Gone: then it is no alias either.
  return st !== undefined && st.isFile() && st.nlink > 1;
}

/**
 * Apply `count` seeded ops to a plain directory and to the mount, op by op, and return the first
 * disagreement (undefined when every outcome matched). One loop for every data path under test.
 */
export async function runDifferential(seed: number, count: number, plain: string, mnt: string): Promise<string | undefined> {
  const rng = mulberry32(seed);
  const known: string[] = [];
  const log: string[] = [];
  for (let i = 0; i < count; i++) {
    const op: Op = genOp(rng, known);
    const want = await applyOp(plain, op);
    let got = await applyOp(mnt, op);
    // Another name of the same inode may show cached attributes for up to attr_timeout.
    if (got !== want && (op.kind === 'read' || op.kind === 'stat') && (await hardLinked(join(plain, op.path)))) {
      await new Promise((r) => setTimeout(r, ATTR_CACHE_MS));
      got = await applyOp(mnt, op);
    }
    log.push(`${i} ${JSON.stringify(op)} -> ${want}`);
    if (got !== want) return `seed ${seed}, op ${i}: got ${got}, want ${want}; last ops:\n${log.slice(-12).join('\n')}`;
    // Never the root itself: renaming the tree's own root is EINVAL here but EXDEV on a mount.
    if (want.startsWith('ok') && op.path) known.push(op.path);
    if (want.startsWith('ok') && (op.kind === 'rename' || op.kind === 'link')) known.push(op.to);
  }
  return undefined;
}

/** Every kind of write on a read-only mount, each refused with EROFS; the source file stays as it was. */
export async function expectAllWritesRefused(mnt: string): Promise<void> {
  const attempts: [string, () => Promise<unknown>][] = [
    ['overwrite', () => fsp.writeFile(join(mnt, 'f.txt'), 'x')],
    ['create', () => fsp.writeFile(join(mnt, 'new.txt'), 'x')],
    ['mkdir', () => fsp.mkdir(join(mnt, 'd2'))],
    ['unlink', () => fsp.rm(join(mnt, 'f.txt'))],
    ['rmdir', () => fsp.rm(join(mnt, 'dir'), { recursive: true })],
    ['utimes', () => fsp.utimes(join(mnt, 'f.txt'), 1, 1)],
    ['access W_OK', () => fsp.access(join(mnt, 'f.txt'), 2)],
  ];
  for (const [what, attempt] of attempts) {
    const err = await attempt().then(() => undefined, (e: unknown) => e);
    if ((err as { code?: string } | undefined)?.code !== 'EROFS') throw new Error(`${what} on a read-only mount: expected EROFS, got ${err === undefined ? 'success' : String(err)}`);
  }
}
