/**
 * The daemon's data path, mounted: the native core (libfuse 3 worker threads, native/), the only
 * one. A passthrough here (./data-path.ts); a kind's own ops in ./ops-path.ts. The daemon sees
 * counters for state.json, a backend view and load for the health monitor, a cancel that answers
 * everything EIO (shutdown, a failed source), and whether the FUSE session still runs.
 */
import type { BackendView } from '../state/state-schema.js';
import type { WorkspaceConfig } from '../state/workspace.js';
import { checkAllowOther } from '../sys/fuse-conf.js';
import type { BackendLoad, HealthReport } from './backend/health.js';
import type { MountedFuse } from './mountpoint.js';
import { mountNative, WATCHED_CACHE_S, type MountedNative } from './native/mount.js';
import { nativeDataPath } from './native/as-data-path.js';
import { requireNative } from './native/require-native.js';
import type { DaemonStateSink } from './state-sink.js';

/** Native workers at most: a hung source holds one per stuck request (one per node, then fail-fast), the rest keep serving. */
export const NATIVE_MAX_THREADS = 64;
/** A source call not answered by then gets ETIMEDOUT. */
const DEFAULT_DEADLINE_MS = 5000;

export interface DataPath {
  /** What serves requests (state.json's dataPath): always the native core now. */
  readonly kind: 'native';
  readonly mounted: MountedFuse;
  backendView(health: HealthReport | undefined): BackendView;
  load(): BackendLoad;
  /** Answer every request in flight EIO now and every later one at once. */
  cancel(reason: Error): void;
  /**
   * Whether a failed health check cancels (the passthrough: its source failed, so every request
   * fails fast). A kind's own ops keep serving: the author's probe says how the backend is, the
   * ops decide what to answer; they are cancelled at shutdown only.
   */
  readonly cancelOnFailure: boolean;
  /** False once the FUSE session ended (the connection was aborted under the mount). */
  sessionAlive(): boolean;
  /** Source calls that never returned (each holds a thread until the process ends). */
  stuckCalls(): number;
  /** The native core's mount itself (its session, its handover: ./handover.ts). */
  readonly native: MountedNative;
}

export interface MountDataPathOptions {
  readonly config: WorkspaceConfig;
  readonly fsname: string;
  /** The kind's name: the mount's type becomes `fuse.<subtype>`. */
  readonly subtype: string;
  readonly state: DaemonStateSink;
  readonly deadlineMs: number | undefined;
  /** Bound of the mount itself (below the daemon's mount step: ./mount-budget.ts). */
  readonly timeoutMs?: number;
  /** Watch the source and cache long (default true; MOUNTIE_SOURCE_WATCH=0 turns it off: docs/ARCHITECTURE.md, "Caches and invalidation"). */
  readonly sourceWatch?: boolean;
  /** The daemon log: what the source watch does, and when it falls back. */
  readonly log?: (line: string) => void;
}

/** How often the log is told of watches refused and lost events (cheap: a read of shared memory). */
const WATCH_REPORT_MS = 5000;

const PASSTHROUGH_SAID: Record<'on' | 'refused' | 'remote', string> = {
  on: "kernel passthrough: on (the kernel reads and writes each opened regular file itself, with the opener's credentials)",
  refused: 'kernel passthrough: refused by the kernel at INIT; files are served by the daemon',
  remote: 'kernel passthrough: granted, but the source is a network or FUSE file system; its files are served by the daemon, which keeps the per-request deadline',
};

/**
 * Why kernel passthrough is off when the counters say so (on by default: our own session, a root
 * daemon, and not MOUNTIE_PASSTHROUGH=0).
 */
function passthroughOffWhy(): string {
  if (process.env.MOUNTIE_PASSTHROUGH === '0') return 'MOUNTIE_PASSTHROUGH=0';
  if (process.env.MOUNTIE_SESSION === 'libfuse') return "MOUNTIE_SESSION=libfuse: libfuse 3.14's session cannot ask for it";
  if (process.getuid?.() !== 0) return 'not a root daemon: the kernel registers a backing file only for CAP_SYS_ADMIN';
  return 'the connection was set up without it: MOUNTIE_PASSTHROUGH=0 when it was mounted';
}

/**
 * Says once in the log whether the kernel passes files through: known when the kernel's INIT has
 * been answered, which may come just after the mount (polled, bounded: 5 s), or why it is off.
 */
function reportPassthrough(m: MountedNative, log: (line: string) => void): void {
  const say = (): boolean => {
    const mode = m.counters().passthrough;
    if (mode === 'pending') return false;
    if (mode === 'off') log(`kernel passthrough: off (${passthroughOffWhy()}); files are served by the daemon`);
    else log(PASSTHROUGH_SAID[mode]);
    return true;
  };
  if (say()) return;
  let tries = 0;
  const timer = setInterval(() => {
    if (say() || ++tries >= 100) clearInterval(timer);
  }, 50);
  timer.unref();
}

/**
 * Says in the log whether the source is watched, and later when directories could not be watched
 * (fs.inotify.max_user_watches: they keep 1 s caches) or events were lost (an inotify overflow:
 * everything cached was invalidated).
 */
function reportWatch(m: MountedNative, on: boolean, log: (line: string) => void): void {
  const c = m.counters();
  if (!on) return log('source not watched (MOUNTIE_SOURCE_WATCH=0): names and attributes cached 1 s');
  if (c.watches === 0) return log('source not watched (a network or FUSE file system, whose changes made elsewhere inotify cannot see, or inotify refused it): names and attributes cached 1 s');
  log(`source watched (inotify): names and attributes cached up to ${WATCHED_CACHE_S} s, invalidated when the source changes beside the mount`);
  let seen = { unwatched: c.unwatched, overflows: c.overflows };
  const timer = setInterval(() => {
    const now = m.counters();
    if (now.loopEnded) return clearInterval(timer);
    if (now.unwatched > seen.unwatched) log(`${now.unwatched - seen.unwatched} more source directories could not be watched (fs.inotify.max_user_watches or permissions): 1 s caches there`);
    if (now.overflows > seen.overflows) log(`inotify queue overflow (${now.overflows - seen.overflows}): events lost, every cached name and attribute invalidated`);
    seen = { unwatched: now.unwatched, overflows: now.overflows };
  }, WATCH_REPORT_MS);
  timer.unref();
}

/** The passthrough's session options, the same for a mount and a take-over (whose options must match the mount's). */
export function passthroughNativeOptions(config: WorkspaceConfig, opts: Pick<MountDataPathOptions, 'deadlineMs' | 'sourceWatch'>): { source: string; readOnly: boolean; allowOther: boolean; maxThreads: number; deadlineMs: number; watchSource: boolean } {
  return {
    source: config.source,
    readOnly: config.readOnly,
    allowOther: config.allowOther === true,
    maxThreads: NATIVE_MAX_THREADS,
    deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS,
    watchSource: opts.sourceWatch ?? true,
  };
}

export async function mountDataPath(opts: MountDataPathOptions): Promise<DataPath> {
  const { config } = opts;
  // Checked by the CLI already; again here, as fuse.conf may have changed since the config was stored.
  if (config.allowOther) await checkAllowOther();
  const binding = requireNative();
  const native = passthroughNativeOptions(config, opts);
  const m = await mountNative({
    mountpoint: config.mountpoint,
    fsname: opts.fsname,
    subtype: opts.subtype,
    ...native,
    binding,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  return servePassthrough(m, opts.state, native.watchSource, opts.log);
}

/** The daemon log's line naming the FUSE session that serves a mount of the core (the passthrough's or a kind's own ops). */
export function sessionLine(m: MountedNative): string {
  const session = m.counters().session;
  return `FUSE session: ${session === 'own' ? 'our own' : session === 'libfuse' ? "libfuse 3.14's (MOUNTIE_SESSION=libfuse)" : 'unknown'}`;
}

/** A passthrough mount (ours, or taken over from the daemon before us) as the daemon's data path; says in the log how it serves. */
export function servePassthrough(m: MountedNative, state: DaemonStateSink, watch: boolean, log?: (line: string) => void): DataPath {
  if (log) {
    log(sessionLine(m));
    reportWatch(m, watch, log);
    reportPassthrough(m, log);
  }
  return nativeDataPath(m, state, { limit: NATIVE_MAX_THREADS, cancelOnFailure: true, stuckInCore: true });
}
