/**
 * Test sandbox: a temporary MOUNTIE_HOME per test (inside the run's test session, see
 * test/global-setup.ts), and a reaper that, in teardown and even after a failed assertion, does what
 * mountie/testing's reap does (every daemon proven to be the home's, every mount below it or tagged
 * for it), then kills every other process that carries that home in its environment (the label, as
 * Ryuk's: readers, fixtures, daemons of an older build under test) and detaches what is left.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { abortConnection, unmountPath } from '../../src/sys/fusermount.js';
import { readStatNow } from '../../src/sys/proc.js';
import { scanProcStats } from '../../src/sys/proc-stat-scan.js';
import { reapUnder } from '../../src/testing/reap.js';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/**
 * The built CLI under test: the `mountie` command as installed (bin.cjs; its foreground mount,
 * doctor and unit hand over to dist/cli/main.js, scripts/bundle.mjs). Its start-up costs ~15 % less
 * CPU than main.js's (no ESM loader, a smaller bundle), and the suite starts it thousands of times
 * (issue 18). MOUNTIE_TEST_CLI runs the same tests against another build (e.g. to see a new test fail on the old one).
 */
export const CLI = process.env.MOUNTIE_TEST_CLI || join(REPO, 'dist/cli/bin.cjs');

const homes = new Set<string>();
const children = new Set<ChildProcess>();
/**
 * Process groups of every tracked child with its leader's start time, kept after the child exits:
 * its group may live on. pid_max is 32768 here and numbers come round fast: a group id whose leader
 * is gone may since name someone else's group (another test's daemon), which must never be killed.
 */
const groups = new Map<number, number | undefined>();

/** May we still kill group `pgid`? Not when a process now holds that pid with another start time (the number was reused). */
function groupStillOurs(pgid: number, leaderStart: number | undefined): boolean {
  const now = readStatNow(pgid);
  return now === undefined || (leaderStart !== undefined && now.startTime === leaderStart);
}

export async function makeHome(prefix = 'mountie-test-'): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), prefix));
  homes.add(home);
  return home;
}

/** Spawn in a new process group so teardown can kill the whole group. */
export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'pipe', ...opts, detached: true });
  children.add(child);
  if (child.pid !== undefined) groups.set(child.pid, readStatNow(child.pid)?.startTime);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Does the environment `env` (/proc/<pid>/environ, NUL-separated) carry a variable pointing into `home`? */
function labelledBy(env: string, home: string): boolean {
  // Any variable pointing into the home labels the process: MOUNTIE_HOME itself, a symlinked spelling
  // beside it (`<home>-alias`), or XDG_STATE_HOME=<home>/state when a test runs without MOUNTIE_HOME.
  // The reaper must not depend on the build under test labelling its daemons one way.
  // Most environments do not name the home at all: one substring search rules them out before the split.
  if (!env.includes(home)) return false;
  return env.split('\0').some((kv) => {
    const value = kv.slice(kv.indexOf('=') + 1);
    return value === home || value.startsWith(home + '/') || value.startsWith(home + '-');
  });
}

/** The numeric entries of /proc but our own pid. */
export async function listPids(): Promise<number[]> {
  return (await readdir('/proc')).map(Number).filter((pid) => Number.isInteger(pid) && pid !== process.pid);
}

/**
 * Every process but ours and the kernel's threads (kthreadd, pid 2, and its children), whose
 * environment is always empty: here they were 62 of 77 processes, and each environ read is a
 * round trip through libuv's pool. From the stat files in one native pass (~1 ms).
 */
function userPids(): number[] {
  return scanProcStats()
    .filter((p) => p.pid !== process.pid && p.pid !== 2 && p.ppid !== 2)
    .map((p) => p.pid);
}

/**
 * The processes among `pids` (default: all) whose environment points into `home`. The environ
 * files are read all at once, not one after another: one by one, a scan of a few hundred
 * processes took ~35 ms of CPU and far more of wall time, and tests poll this (issue 18).
 */
export async function pidsLabelled(home: string, pids?: readonly number[]): Promise<number[]> {
  return (await pidsLabelledEach([home], pids)).get(home) ?? [];
}

/**
 * pidsLabelled for several homes from one look at the process table: the environ reads are the
 * cost (~8 ms of CPU for 80 processes here, more with the suite's hundreds), not the matching.
 */
export async function pidsLabelledEach(homes: readonly string[], pids?: readonly number[]): Promise<Map<string, number[]>> {
  const candidates = pids ?? userPids();
  const envs = await Promise.all(
    candidates.map((pid) =>
      // The process exited while we looked, or is not readable: nothing of ours.
      readFile(`/proc/${pid}/environ`, 'latin1').catch(() => ''),
    ),
  );
  return new Map(homes.map((home) => [home, candidates.filter((_pid, i) => labelledBy(envs[i] ?? '', home))]));
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Reap test homes: what mountie/testing's reap finds of each, then every process labelled with one
 * of them (one look at the process table for all: a test with two homes paid two), then the mounts
 * left below them.
 */
export async function reapHomes(homeList: readonly string[]): Promise<{ killed: number[]; unmounted: string[] }> {
  const unmounted: string[] = [];
  const below = (e: { mountPoint: string }, home: string): boolean => e.mountPoint === home || e.mountPoint.startsWith(home + '/');
  for (const home of homeList) {
    unmounted.push(...(await reapUnder(home)).unmounted);
    // Abort first: a wedged daemon would otherwise keep its readers (and our kill) waiting.
    for (const e of await readMountInfo()) if (below(e, home) && e.fstype.startsWith('fuse')) await abortConnection(e);
  }
  const killed = [...(await pidsLabelledEach(homeList)).values()].flat();
  for (const pid of killed) killQuietly(pid, 'SIGKILL');
  for (const home of homeList) {
    for (const e of (await readMountInfo()).reverse()) {
      if (below(e, home)) {
        // Everything below the test's own home is the test's: whatever is topmost there.
        await unmountPath(e.mountPoint, { lazyOnly: true, ours: (m) => m.mountPoint === e.mountPoint }).catch(() => undefined);
        unmounted.push(e.mountPoint);
      }
    }
  }
  return { killed, unmounted };
}

/** Call from afterEach: kills tracked children and labelled daemons, unmounts, removes homes. */
export async function reapAll(): Promise<void> {
  // A tracked child not yet reaped by us keeps its pid (and so its group id) from being reused.
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      killQuietly(-child.pid, 'SIGKILL');
      killQuietly(child.pid, 'SIGKILL');
    }
  }
  children.clear();
  for (const [pgid, start] of groups) if (groupStillOurs(pgid, start)) killQuietly(-pgid, 'SIGKILL');
  groups.clear();
  await reapHomes([...homes]);
  for (const home of homes) await rm(home, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  homes.clear();
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function isMounted(path: string): Promise<boolean> {
  return (await readMountInfo()).some((e) => e.mountPoint === path);
}
