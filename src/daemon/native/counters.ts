/**
 * The native core's counters, read from the array its worker threads update (relaxed atomic
 * adds on aligned uint64 slots): reading them costs no call into the addon and no request waits.
 */
import type { CounterLayout } from './binding.js';

export interface NativeCounters {
  /** Requests answered, by kind (only kinds seen). */
  readonly ops: Record<string, number>;
  readonly errors: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly inFlight: number;
  /** Worker threads alive that served a request. */
  readonly threads: number;
  /** Source inodes the kernel holds a reference to. */
  readonly nodes: number;
  /** Requests the watchdog answered ETIMEDOUT. */
  readonly timedOut: number;
  /** Workers still blocked in a request that was answered ETIMEDOUT. */
  readonly stuck: number;
  /** Mutations answered with success (they advance the change cursor). */
  readonly changes: number;
  /** Requests answered ETIMEDOUT at once because their node had a request stuck in the source (counted in timedOut too). */
  readonly fastFailed: number;
  /** The session loop returned: the connection is gone (unmounted or aborted). */
  readonly loopEnded: boolean;
  /** JS-ops mode: times the JavaScript thread left requests untaken over 1 s (busy or blocked). */
  readonly stalls: number;
  /** JS-ops mode: requests the rescue reader read because the JavaScript thread (their reader) was late 100 ms or more. */
  readonly rescued: number;
  /** Source directories watched now: their names and attributes may be cached long (notify.c). */
  readonly watches: number;
  /** Directories whose watch could not be added (fs.inotify.max_user_watches, permissions): short timeouts there. */
  readonly unwatched: number;
  /** Invalidations written to the kernel for changes seen in the source. */
  readonly invalidations: number;
  /** inotify queue overflows: everything known was invalidated. */
  readonly overflows: number;
  /**
   * inotify events the notifier handled (counted once their notifications are written), the reads
   * that brought them (one batch of notifications each), and the events of changes made through
   * the mount that needed no notification (the kernel knew).
   */
  readonly events: number;
  readonly eventReads: number;
  readonly eventsOurs: number;
  /** Of `invalidations`: FUSE_NOTIFY_INVAL_ENTRY (a name) and FUSE_NOTIFY_INVAL_INODE (attributes and pages). */
  readonly invalEntries: number;
  readonly invalInodes: number;
  /** The FUSE session serving the mount: libfuse 3.14's, or our own (MOUNTIE_SESSION=own; docs/ARCHITECTURE.md, "FUSE session layer"). */
  readonly session: 'libfuse' | 'own' | 'unknown';
  /** Opens answered with kernel passthrough: their reads and writes never reach the daemon (our own session, a root daemon: on unless MOUNTIE_PASSTHROUGH=0). */
  readonly passthroughOpens: number;
  /** Opens on a passthrough session served by the daemon instead (the kernel refused the backing file, or the inode was open that way). */
  readonly passthroughFallbacks: number;
  /**
   * Kernel passthrough for this mount: `off` (not asked for: the default, or not our own session,
   * or not a root daemon), `pending` (asked, the kernel's INIT not answered yet), `on`, `refused`
   * (the kernel did not grant it at INIT), `remote` (granted, but the source is a network or FUSE
   * file system: every file is served by the daemon, which keeps the per-request deadline).
   */
  readonly passthrough: PassthroughMode;
  /** latency[i]: requests answered in [2^(i-1), 2^i) µs (latency[0]: under 1 µs); the last bucket, the rest. */
  readonly latencyUs: readonly number[];
}

export type PassthroughMode = 'off' | 'pending' | 'on' | 'refused' | 'remote';
const PT_MODES: readonly PassthroughMode[] = ['off', 'pending', 'on', 'refused', 'remote'];

export function readCounters(layout: CounterLayout, buffer: ArrayBuffer): NativeCounters {
  const c = new BigUint64Array(buffer, 0, layout.total);
  const at = (i: number): number => Number(c[i] ?? 0n);
  const ops: Record<string, number> = {};
  layout.ops.forEach((name, i) => {
    const n = at(i);
    if (n > 0) ops[name] = n;
  });
  return {
    ops,
    errors: at(layout.errors),
    bytesRead: at(layout.bytesRead),
    bytesWritten: at(layout.bytesWritten),
    // A gauge updated with add/sub from several threads: never shown below zero mid-update.
    inFlight: Math.max(0, Number(BigInt.asIntN(64, c[layout.inFlight] ?? 0n))),
    threads: Math.max(0, Number(BigInt.asIntN(64, c[layout.threads] ?? 0n))),
    nodes: at(layout.nodes),
    timedOut: at(layout.timedOut),
    stuck: Math.max(0, Number(BigInt.asIntN(64, c[layout.stuck] ?? 0n))),
    changes: at(layout.changes),
    fastFailed: at(layout.fastFailed),
    loopEnded: at(layout.loopEnded) !== 0,
    stalls: at(layout.stalls),
    rescued: at(layout.rescued),
    watches: layout.watches === undefined ? 0 : at(layout.watches),
    unwatched: layout.unwatched === undefined ? 0 : at(layout.unwatched),
    invalidations: layout.invalidations === undefined ? 0 : at(layout.invalidations),
    overflows: layout.overflows === undefined ? 0 : at(layout.overflows),
    events: layout.events === undefined ? 0 : at(layout.events),
    eventReads: layout.eventReads === undefined ? 0 : at(layout.eventReads),
    eventsOurs: layout.eventsOurs === undefined ? 0 : at(layout.eventsOurs),
    invalEntries: layout.invalEntries === undefined ? 0 : at(layout.invalEntries),
    invalInodes: layout.invalInodes === undefined ? 0 : at(layout.invalInodes),
    session: layout.session === undefined ? 'unknown' : at(layout.session) === 2 ? 'own' : at(layout.session) === 1 ? 'libfuse' : 'unknown',
    passthroughOpens: layout.passthroughOpens === undefined ? 0 : at(layout.passthroughOpens),
    passthroughFallbacks: layout.passthroughFallbacks === undefined ? 0 : at(layout.passthroughFallbacks),
    passthrough: layout.passthroughMode === undefined ? 'off' : (PT_MODES[at(layout.passthroughMode)] ?? 'off'),
    latencyUs: Array.from({ length: layout.latencyBuckets }, (_, i) => at(layout.latency + i)),
  };
}

/** Total requests answered. */
export function totalOps(c: NativeCounters): number {
  return Object.values(c.ops).reduce((a, b) => a + b, 0);
}
