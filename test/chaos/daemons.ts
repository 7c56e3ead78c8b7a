/**
 * Which processes are mountie daemons of a home, judged from /proc only, so that the answer does
 * not depend on how src marks or finds its daemons (argv shape, pidfile, lock):
 *
 *   a daemon of home H = a live process (state ≠ Z) whose environment says MOUNTIE_HOME=<a
 *   spelling of H> (the real path or a symlink to it), that is not one of the test's decoys, and
 *   that holds /dev/fuse open (readlink /proc/<pid>/fd/*) or whose comm is `mountie-daemon`.
 *
 * Launchers, stop and status calls never open /dev/fuse, so they are never counted. A daemon that
 * has taken its lock but not mounted yet is not counted either: the driver waits (bounded) for the
 * home to settle before it checks, see `unsettled`. A daemon is attributed to a workspace by an
 * argv token equal to the name, else by an open fd inside `<home>/workspaces/<ws>/` (its log).
 */
import { argvOf, fdTargets, homeEnvOf, listPids, statOf, type Stat } from './procfs.js';

export interface LiveDaemon {
  readonly pid: number;
  readonly startTime: number;
  readonly state: string;
  /** The workspace it serves, or undefined if neither argv nor fds tell. */
  readonly ws: string | undefined;
  readonly home: string;
}

export interface HomeView {
  /** Every spelling of the home a process may carry in MOUNTIE_HOME. */
  readonly spellings: readonly string[];
  /** The real path of the home (where its files and mounts are). */
  readonly real: string;
  readonly names: readonly string[];
  /** Pids that must never count as daemons (decoys that imitate one). */
  readonly exclude: ReadonlySet<number>;
}

export interface Labelled {
  readonly st: Stat;
  readonly home: string;
  readonly fds: string[];
}

/**
 * One look at the processes of the home. `unsettled` and `sessionless` take one (settle asks both
 * of the same instant): each look reads the environ of every process on the machine, which made
 * the chaos driver the suite's costliest process on a busy machine (issue 18).
 */
export async function labelled(view: HomeView): Promise<Labelled[]> {
  const out: Labelled[] = [];
  const pids = (await listPids()).filter((pid) => pid !== process.pid && !view.exclude.has(pid));
  // Every environ at once: read one after another, a scan of a few hundred processes cost ~35 ms
  // of CPU and far more of wall time, several times a step (issue 18). Same answer, same order.
  const homes = await Promise.all(pids.map(homeEnvOf));
  for (const [i, pid] of pids.entries()) {
    const home = homes[i];
    if (home === undefined || !view.spellings.includes(home.replace(/\/+$/, ''))) continue;
    const st = await statOf(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    out.push({ st, home, fds: await fdTargets(pid) });
  }
  return out;
}

const isDaemon = (p: Labelled): boolean => p.st.comm === 'mountie-daemon' || p.fds.includes('/dev/fuse');

async function workspaceOf(p: Labelled, view: HomeView): Promise<string | undefined> {
  const argv = await argvOf(p.st.pid);
  const byArgv = view.names.filter((n) => argv.includes(n));
  if (byArgv.length === 1) return byArgv[0];
  for (const n of view.names) if (p.fds.some((t) => t.startsWith(`${view.real}/workspaces/${n}/`))) return n;
  return undefined;
}

/** Live daemons of a home, with their workspace. */
export async function liveDaemons(view: HomeView): Promise<LiveDaemon[]> {
  const out: LiveDaemon[] = [];
  const all = await labelled(view);
  // A daemon's child between fork and exec (flock, fusermount) still carries its comm: it is that daemon.
  const daemonPids = new Set(all.filter(isDaemon).map((p) => p.st.pid));
  for (const p of all) {
    if (!isDaemon(p) || daemonPids.has(p.st.ppid)) continue;
    out.push({ pid: p.st.pid, startTime: p.st.startTime, state: p.st.state, ws: await workspaceOf(p, view), home: p.home });
  }
  return out;
}

/**
 * Processes of the home that are neither daemons nor stopped by us: launchers still running, a
 * daemon between its start and its mount, a daemon's fusermount child. Empty = settled.
 */
export async function unsettled(view: HomeView, except: ReadonlySet<number> = new Set(), all?: readonly Labelled[]): Promise<Stat[]> {
  return (all ?? (await labelled(view))).filter((p) => !isDaemon(p) && p.st.state !== 'T' && !except.has(p.st.pid)).map((p) => p.st);
}

/**
 * Marked daemons that hold no /dev/fuse while their workspace's tagged mount is in the table: a
 * daemon whose FUSE session ended under it (its connection aborted) that has not noticed yet, or a
 * daemon about to clean a dead mount before its own. Either must move on by itself within the
 * settle bound: one still there after it runs on without its session while status calls it running.
 */
export async function sessionless(view: HomeView, mounted: ReadonlySet<string>, all?: readonly Labelled[]): Promise<Stat[]> {
  const out: Stat[] = [];
  for (const p of all ?? (await labelled(view))) {
    if (p.st.comm !== 'mountie-daemon' || p.fds.includes('/dev/fuse') || p.st.state === 'T' || p.st.state === 't') continue;
    const ws = await workspaceOf(p, view);
    if (ws !== undefined && mounted.has(ws)) out.push(p.st);
  }
  return out;
}
