/**
 * What state.json and the health monitor see of the native core: its shared counters mapped
 * onto state.json's fields (counters, change cursor, backend view, load). Reading them
 * costs no call into the addon and no request waits for it.
 */
import type { BackendView, StateCounters } from '../../state/state-schema.js';
import type { BackendLoad, HealthReport } from '../backend/health.js';
import { totalOps, type NativeCounters } from './counters.js';

export interface CounterSnapshot {
  readonly counters: StateCounters;
  readonly cursor: number;
  /** ms since the epoch, when a request was last seen answered. */
  readonly lastOpAt: number | undefined;
}

/**
 * A reader of the counters for state.json: the cursor continues from `startCursor` (what the
 * previous daemon left on disk); the time of the last op is when the total was first seen to move.
 */
export function nativeCounterSource(read: () => NativeCounters, startCursor: number, now: () => number = Date.now): () => CounterSnapshot {
  let lastTotal = 0;
  let lastOpAt: number | undefined;
  return () => {
    const c = read();
    const total = totalOps(c);
    if (total !== lastTotal) {
      lastTotal = total;
      lastOpAt = now();
    }
    return {
      counters: { ops: c.ops, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten, errors: c.errors },
      cursor: startCursor + c.changes,
      lastOpAt,
    };
  };
}

/** The backend block of state.json: native workers in place of scheduler slots. Nothing is queued in JavaScript. */
export function nativeBackendView(c: NativeCounters, limit: number, cancelled: number, h: HealthReport | undefined): BackendView {
  return {
    inFlight: c.inFlight,
    limit,
    queued: 0,
    stuck: c.stuck,
    timedOut: c.timedOut,
    rejected: 0,
    cancelled,
    consecutiveFailures: h?.consecutiveFailures ?? 0,
    fuseThreads: c.threads,
    passthrough: { mode: c.passthrough, opens: c.passthroughOpens, fallbacks: c.passthroughFallbacks },
    ...(h?.probeError ? { probeError: h.probeError } : {}),
  };
}

/** What the health monitor weighs. */
export function nativeLoad(c: NativeCounters, limit: number): BackendLoad {
  return { inFlight: c.inFlight, queued: 0, stuck: c.stuck, timedOut: c.timedOut, limit };
}
