/**
 * Finding the daemons of a home. A process is a daemon of workspace `ws` of this home only when
 * both hold: it carries the daemon marker (comm, see ./marker.ts), and it has this workspace's lock
 * file open (the same inode, checked through /proc/<pid>/fdinfo, or, for a lock file deleted under
 * it, the same path). The kernel's fdinfo also says whether it HOLDS the lock. No pidfile, lock
 * answer, argv or environment is taken on trust, so a forged pidfile, a look-alike process, another
 * home's daemon or another user's process can never be taken for ours.
 */
import { lstatSync } from 'node:fs';
import { bootId } from '../sys/proc-identity.js';
import { devString, openFiles, type FdInfo } from '../sys/proc-fds.js';
import { scanProcStats, type ProcStat } from '../sys/proc-stat-scan.js';
import type { MountEntry } from '../sys/mountinfo.js';
import { isMarked } from './marker.js';
import { MOUNTIE, type Kind } from './kind.js';
import { trace } from '../sys/trace.js';

export interface DaemonRef {
  readonly pid: number;
  readonly startTime: number;
  readonly bootId: string;
  readonly state: string;
  readonly pgrp: number;
  readonly sid: number;
  readonly workspace: string;
  /** The kernel shows this process holding the workspace lock (flock on its open file). */
  readonly holdsLock: boolean;
  /** The leader has exited (zombie) but a thread of it is still in the kernel, keeping every open file. */
  readonly exiting: boolean;
}

export interface HomeDirs {
  /** `<home>/workspaces` as given (may be a symlinked spelling). */
  readonly workspacesDir: string;
  /** Its real path, as the kernel spells open files; undefined when it does not exist. */
  readonly realWorkspacesDir: string | undefined;
}

const LOCK_LINK = /\/workspaces\/([a-z0-9][a-z0-9._-]{0,62})\/lock( \(deleted\))?$/;

interface LockFileId {
  readonly dev: number;
  readonly ino: number;
}

function lockFileOf(dir: string, ws: string, cache: Map<string, LockFileId | null>): LockFileId | null {
  let v = cache.get(ws);
  if (v === undefined) {
    try {
      const st = lstatSync(`${dir}/${ws}/lock`);
      v = st.isFile() ? { dev: st.dev, ino: st.ino } : null;
    } catch {
      // No lock file: no live daemon of ws can have it open (unless deleted: handled by path).
      v = null;
    }
    cache.set(ws, v);
  }
  return v;
}

/** Same file as ours? By the kernel's dev:ino on a held lock, else by inode + the mount's device. */
function sameFile(info: FdInfo, id: LockFileId, mounts: readonly MountEntry[]): boolean {
  if (info.ino !== id.ino) return false;
  if (info.locks.some((l) => l.ino === id.ino && l.dev === devString(id.dev))) return true;
  const mnt = mounts.find((m) => m.mountId === info.mntId);
  if (!mnt) return false;
  const major = Math.floor(id.dev / 256) & 0xfff;
  const minor = (id.dev & 0xff) | (Math.floor(id.dev / 4096) & 0xfff00);
  return mnt.device === `${major}:${minor}`;
}

/**
 * The processes discovery looks at: those carrying `kind`'s marker, the members of the sessions
 * they lead, and those of the sessions `sids` (one scan of /proc, src/sys/proc-stat-scan.ts). The
 * marker only makes a candidate: {@link findHomeDaemons} proves it, with the lock file it has open.
 */
export function scanMarked(kind: Kind = MOUNTIE, sids: readonly number[] = []): ProcStat[] {
  trace('scan');
  const procs = scanProcStats('/proc', { prefixes: [kind.comm], sids });
  trace(`scan done: ${procs.length} kept`);
  return procs;
}

/**
 * Every daemon of this home (of `ws` only, if given; of `kind`, default mountie's), from one stat scan. `mounts` is our
 * mountinfo (to map fdinfo mount ids to devices). The calling process is never reported. PID 1 is
 * judged like any other: in a container the daemon is PID 1 of its pid namespace, and the same
 * proof (marker + our lock file open) tells it from the init of a machine, which has neither.
 */
export async function findHomeDaemons(procs: readonly ProcStat[], dirs: HomeDirs, mounts: readonly MountEntry[], opts: { ws?: string; selfPid?: number; procRoot?: string; kind?: Kind } = {}): Promise<DaemonRef[]> {
  if (dirs.realWorkspacesDir === undefined) return [];
  const boot = await bootId();
  const cache = new Map<string, LockFileId | null>();
  const realDir = dirs.realWorkspacesDir;
  const out: DaemonRef[] = [];
  trace('prove');
  for (const p of procs) {
    if (p.pid === (opts.selfPid ?? process.pid) || p.pid < 1 || !isMarked(p.comm, opts.kind) || p.state === 'X') continue;
    const files = openFiles(p.pid, (link) => LOCK_LINK.test(link), opts.procRoot);
    // Without `ws`, each workspace whose lock file it has open (a daemon has one): the same
    // entries, per workspace, as a call with that `ws` finds (status shares one such scan).
    // A live restart's new daemon has the lock file open twice for a moment (its own fd, not
    // locked, and the one handed over, locked): it holds the lock if any of its fds does.
    const seen = new Map<string, DaemonRef>();
    for (const f of files) {
      const m = LOCK_LINK.exec(f.link);
      const ws = m?.[1];
      if (ws === undefined || (opts.ws !== undefined && ws !== opts.ws)) continue;
      const deleted = m?.[2] !== undefined;
      const id = lockFileOf(dirs.workspacesDir, ws, cache);
      const ours = deleted ? f.link === `${realDir}/${ws}/lock (deleted)` : id !== null && sameFile(f.info, id, mounts);
      if (!ours) continue;
      const holds = f.info.locks.some((l) => l.kind === 'FLOCK');
      const before = seen.get(ws);
      if (before) {
        if (holds && !before.holdsLock) {
          const held = { ...before, holdsLock: true };
          out[out.indexOf(before)] = held;
          seen.set(ws, held);
        }
        continue;
      }
      const ref: DaemonRef = {
        pid: p.pid,
        startTime: p.startTime,
        bootId: boot,
        state: p.state,
        pgrp: p.pgrp,
        sid: p.sid,
        workspace: ws,
        holdsLock: holds,
        exiting: p.state === 'Z',
      };
      out.push(ref);
      seen.set(ws, ref);
    }
  }
  trace(`prove done: ${out.length} ours`);
  return out;
}
