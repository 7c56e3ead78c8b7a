/**
 * Reap everything of mountie that lives under one directory (a test's home, or a whole test
 * session holding many homes), of ANY kind (an author's suite runs its own kind's daemons): the
 * daemons whose workspace lock file sits below it and every FUSE mount below it or tagged (by any
 * kind) for one of its homes. Nothing else is touched: a daemon counts only with a kind's daemon
 * marker (`<kind>-daemon`) AND a lock file below the root open (read from /proc/<pid>/fd links, never
 * environ or cmdline, which hang on a wedged process); a mount only by its place or its tag.
 */
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { isMarkedAnyKind } from '../protocol/marker.js';
import { homeIdOf, parseTag } from '../protocol/tag.js';
import { signalDaemon, waitGone } from '../launcher/kill.js';
import { abortConnection, unmountPath } from '../sys/fusermount.js';
import { readMountInfo, sameMount, type MountEntry } from '../sys/mountinfo.js';
import { openFiles } from '../sys/proc-fds.js';
import { bootId, type ProcessIdentity } from '../sys/proc-identity.js';
import { scanProcStats } from '../sys/proc-stat-scan.js';
import { systemClock } from '../sys/time.js';
import { removeTree } from './remove-tree.js';

/** What a reap found and did. */
export interface ReapReport {
  /** Daemons found (pid) and signalled. */
  readonly daemons: readonly number[];
  /** Daemons still alive at the end (stuck in the kernel past every bound). */
  readonly survivors: readonly number[];
  /** Mountpoints detached. */
  readonly unmounted: readonly string[];
  /** Mountpoints still mounted at the end. */
  readonly mountsLeft: readonly string[];
  /** Whether the directory itself was removed (only when asked and nothing was left below it). */
  readonly removed: boolean;
  /** What the removal left (asked to remove): mounts below the directory, never entered, and what could not be removed. */
  readonly kept: readonly string[];
}

/** How a reap ends. */
export interface ReapOptions {
  /** Remove the directory afterwards, never entering a mount below it (those stay, named in `kept`). Default false. */
  readonly remove?: boolean;
  /** How long daemons get between SIGKILL and the verdict. Default 2000 ms. */
  readonly waitMs?: number;
}

const within = (path: string, root: string): boolean => path === root || path.startsWith(root + '/');
const LOCK_BELOW = /\/workspaces\/[^/]+\/lock$/;

/**
 * The homes at or below `root` (a directory holding `workspaces/`), at most `depth` levels down.
 * Never enters a mountpoint: a wedged FUSE mount would hang the walk.
 */
async function homesBelow(root: string, mounts: readonly MountEntry[], depth = 3): Promise<string[]> {
  const mounted = new Set(mounts.map((m) => m.mountPoint));
  const homes: string[] = [];
  const walk = async (dir: string, left: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    if (entries.some((e) => e.name === 'workspaces' && e.isDirectory())) homes.push(dir);
    if (left === 0) return;
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory() && !mounted.has(p) && e.name !== 'workspaces') await walk(p, left - 1);
    }
  };
  if (!mounted.has(root)) await walk(root, depth);
  return homes;
}

/** Processes marked by any kind holding a workspace lock file below `root` open. */
function daemonsBelow(root: string, boot: string): ProcessIdentity[] {
  const out: ProcessIdentity[] = [];
  for (const p of scanProcStats()) {
    if (p.pid === process.pid || !isMarkedAnyKind(p.comm) || p.state === 'Z') continue;
    if (openFiles(p.pid, (link) => within(link, root) && LOCK_BELOW.test(link)).length > 0) out.push({ pid: p.pid, startTime: p.startTime, bootId: boot });
  }
  return out;
}

/** The FUSE mounts of `root`: below it, or tagged for one of its homes wherever they sit. */
async function mountsOfRoot(root: string, homeIds: ReadonlySet<string>): Promise<MountEntry[]> {
  return (await readMountInfo()).filter((m) => m.fstype.startsWith('fuse') && (within(m.mountPoint, root) || homeIds.has(parseTag(m.source)?.homeId ?? '')));
}

/**
 * Reap `root`: abort the connections of its FUSE mounts (a wedged daemon would otherwise keep its
 * readers and our kill waiting), SIGKILL its daemons (identity and marker checked right before, the
 * process group when the daemon leads it), detach its mounts, and optionally remove it.
 * Bounded: about `waitMs` plus a few fusermount runs.
 */
export async function reapUnder(dir: string, opts: ReapOptions = {}): Promise<ReapReport> {
  const root = await realpath(dir).catch(() => dir);
  const boot = await bootId();
  const homeIds = new Set<string>();
  for (const home of await homesBelow(root, await readMountInfo())) {
    const id = await homeIdOf(home);
    if (id !== undefined) homeIds.add(id);
  }
  for (const m of await mountsOfRoot(root, homeIds)) await abortConnection(m);
  const daemons = daemonsBelow(root, boot);
  const kill = process.kill.bind(process);
  for (const id of daemons) await signalDaemon(id, 'SIGKILL', kill, isMarkedAnyKind);
  const survivors = await waitGone(daemons, opts.waitMs ?? 2000, systemClock);
  const unmounted: string[] = [];
  // Deepest first: a mount inside another mount goes before it.
  for (const m of (await mountsOfRoot(root, homeIds)).reverse()) {
    // Only that mount, and only while nothing is stacked over it (a mount over ours is not ours to take).
    const r = await unmountPath(m.mountPoint, { lazyOnly: true, timeoutMs: 2000, ours: sameMount(m) }).catch(() => undefined);
    if (r?.unmounted) unmounted.push(m.mountPoint);
  }
  const left = await mountsOfRoot(root, homeIds);
  // A mount below (left now, or appearing during the removal) is never entered: rm cannot reach
  // through it into someone's files (./remove-tree.ts).
  const gone = opts.remove ? await removeTree(root, new Set((await readMountInfo()).map((m) => m.mountPoint).filter((p) => p !== root && within(p, root)))) : { removed: false, kept: [] };
  return { daemons: daemons.map((d) => d.pid), survivors: survivors.map((d) => d.pid), unmounted, mountsLeft: left.map((m) => m.mountPoint), removed: gone.removed, kept: gone.kept };
}

/** What is left under `root` without touching anything: its daemons and its mounts (for a leak check). */
export async function leftoversUnder(dir: string): Promise<{ daemons: number[]; mounts: string[] }> {
  const root = await realpath(dir).catch(() => dir);
  const homeIds = new Set<string>();
  for (const home of await homesBelow(root, await readMountInfo())) {
    const id = await homeIdOf(home);
    if (id !== undefined) homeIds.add(id);
  }
  return { daemons: daemonsBelow(root, '').map((d) => d.pid), mounts: (await mountsOfRoot(root, homeIds)).map((m) => m.mountPoint) };
}
