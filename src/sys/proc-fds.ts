/**
 * What files a process holds open, read without ever touching those files: readlink of
 * /proc/<pid>/fd/<n> (d_path only) and /proc/<pid>/fdinfo/<n> (inode number, mount id and the
 * file locks held through that open file description). Neither takes the target's mmap lock,
 * so a process wedged on a FUSE mount cannot hang the reader.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { errnoCode } from '../errors.js';
import { readSmallNow } from './proc-read.js';

export interface FdLock {
  /** FLOCK, POSIX, OFDLCK, ... */
  readonly kind: string;
  /** "major:minor" in the kernel's hex spelling, e.g. "fe:00". */
  readonly dev: string;
  readonly ino: number;
}

export interface FdInfo {
  readonly ino: number | undefined;
  readonly mntId: number | undefined;
  readonly locks: readonly FdLock[];
}

export interface OpenFile {
  readonly fd: number;
  readonly link: string;
  readonly info: FdInfo;
}

/** Parse /proc/<pid>/fdinfo/<n>. */
export function parseFdInfo(text: string): FdInfo {
  let ino: number | undefined;
  let mntId: number | undefined;
  const locks: FdLock[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('ino:')) ino = Number(line.slice(4).trim());
    else if (line.startsWith('mnt_id:')) mntId = Number(line.slice(7).trim());
    else if (line.startsWith('lock:')) {
      const l = parseLockLine(line.slice(5));
      if (l) locks.push(l);
    }
  }
  return { ino, mntId, locks };
}

/**
 * One line of /proc/locks (or an fdinfo "lock:" line): `1: FLOCK  ADVISORY  WRITE 2218 fe:00:2146330 0 EOF`.
 * Waiters ("1: -> FLOCK ...") are not holders and are skipped.
 */
export function parseLockLine(line: string): (FdLock & { readonly pid: number }) | undefined {
  const f = line.trim().split(/\s+/);
  if (f[1] === '->') return undefined;
  const [kind, pidText, where] = [f[1], f[4], f[5]];
  const m = where ? /^([0-9a-f]+:[0-9a-f]+):(\d+)$/.exec(where) : null;
  if (!kind || !m) return undefined;
  return { kind, pid: Number(pidText), dev: m[1] as string, ino: Number(m[2]) };
}

/** The kernel's "%02x:%02x" spelling of a stat() dev number (new_encode_dev). */
export function devString(dev: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/**
 * Where a process's fd table can be read: the leader's, or, when the leader is a zombie whose
 * other threads still run (a thread stuck in the kernel), a live thread's.
 */
function fdRoot(pid: number, procRoot: string): string | undefined {
  const leader = readSmallNow(`${procRoot}/${pid}/stat`);
  if (leader === undefined) return undefined;
  const state = leader.slice(leader.lastIndexOf(')') + 2, leader.lastIndexOf(')') + 3);
  if (state !== 'Z' && state !== 'X') return `${procRoot}/${pid}`;
  let tids: string[];
  try {
    tids = readdirSync(`${procRoot}/${pid}/task`);
  } catch {
    // Reaped meanwhile: nothing is open any more.
    return undefined;
  }
  for (const tid of tids) {
    const t = readSmallNow(`${procRoot}/${pid}/task/${tid}/stat`);
    const s = t?.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3);
    if (s && s !== 'Z' && s !== 'X') return `${procRoot}/${pid}/task/${tid}`;
  }
  return undefined;
}

/**
 * The open files of `pid` whose link passes `want` (checked before fdinfo is read, so the cost
 * stays with the few files that matter). Empty when the process is gone or not ours to read.
 */
export function openFiles(pid: number, want: (link: string) => boolean, procRoot = '/proc'): OpenFile[] {
  const root = fdRoot(pid, procRoot);
  if (root === undefined) return [];
  let fds: string[];
  try {
    fds = readdirSync(`${root}/fd`);
  } catch (err) {
    // EACCES: another user's process; ENOENT/ESRCH: gone. Either way nothing we may claim.
    if (['EACCES', 'EPERM', 'ENOENT', 'ESRCH'].includes(errnoCode(err) ?? '')) return [];
    throw err;
  }
  const out: OpenFile[] = [];
  for (const name of fds) {
    let link: string;
    try {
      link = readlinkSync(`${root}/fd/${name}`);
    } catch {
      // Closed between readdir and readlink.
      continue;
    }
    if (!want(link)) continue;
    const text = readSmallNow(`${root}/fdinfo/${name}`);
    if (text !== undefined) out.push({ fd: Number(name), link, info: parseFdInfo(text) });
  }
  return out;
}

/** Does this process hold `path` open (e.g. /dev/fuse: is our FUSE session still alive)? */
export function holdsOpen(path: string, procRoot = '/proc'): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/self/fd`);
  } catch {
    // No /proc: we cannot tell, so we do not claim the session is gone.
    return true;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`${procRoot}/self/fd/${fd}`) === path;
    } catch {
      // Closed meanwhile (the readdir's own fd, among others).
      return false;
    }
  });
}
