import type { BackendView } from '../../state/state-schema.js';
import type { HealthReport } from './health.js';
import type { SchedulerStats } from './scheduler.js';

/** What state.json shows about the source: scheduler counts plus the last health probe. */
export function backendView(s: SchedulerStats, h: HealthReport | undefined, fuseThreads: number): BackendView {
  return {
    inFlight: s.inFlight,
    limit: s.limit,
    queued: s.queued,
    stuck: s.stuck,
    timedOut: s.timedOut,
    rejected: s.rejected,
    cancelled: s.cancelled,
    consecutiveFailures: h?.consecutiveFailures ?? 0,
    fuseThreads,
    ...(h?.probeError ? { probeError: h.probeError } : {}),
  };
}
