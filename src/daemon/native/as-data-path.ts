/**
 * A mount of the native core as the harness's DataPath (../data-path.ts): counters into state.json,
 * the backend view and load from the shared counters, the cancel, whether the session still runs.
 * The passthrough and a kind's own ops differ in the worker limit, whether a failed health check
 * cancels (./data-path.ts `cancelOnFailure`), and what counts as stuck.
 */
import type { DataPath } from '../data-path.js';
import type { DaemonStateSink } from '../state-sink.js';
import { poolCallsPending } from '../../sys/pool-calls.js';
import type { MountedNative } from './mount.js';
import { nativeBackendView, nativeCounterSource, nativeLoad } from './state-view.js';

export function nativeDataPath(m: MountedNative, state: DaemonStateSink, opts: { readonly limit: number; readonly cancelOnFailure: boolean; readonly stuckInCore: boolean }): DataPath {
  state.useCounters((start) => nativeCounterSource(() => m.counters(), start));
  let cancelled = 0;
  return {
    kind: 'native',
    mounted: m,
    native: m,
    backendView: (h) => nativeBackendView(m.counters(), opts.limit, cancelled, h),
    load: () => nativeLoad(m.counters(), opts.limit),
    cancel: () => void (cancelled += m.cancel()),
    cancelOnFailure: opts.cancelOnFailure,
    sessionAlive: () => !m.counters().loopEnded,
    // The passthrough's workers blocked in the source; a kind's ops hold no worker (they wait in JavaScript).
    stuckCalls: () => (opts.stuckInCore ? m.counters().stuck : 0) + poolCallsPending(),
  };
}
