import { describe, expect, it } from 'vitest';
import type { NativeCounters } from '../../../../src/daemon/native/counters.js';
import { nativeBackendView, nativeCounterSource, nativeLoad } from '../../../../src/daemon/native/state-view.js';

const zero: NativeCounters = { ops: {}, errors: 0, bytesRead: 0, bytesWritten: 0, inFlight: 0, threads: 0, nodes: 0, timedOut: 0, stuck: 0, changes: 0, fastFailed: 0, loopEnded: false, stalls: 0, rescued: 0, watches: 0, unwatched: 0, invalidations: 0, overflows: 0, events: 0, eventReads: 0, eventsOurs: 0, invalEntries: 0, invalInodes: 0, session: 'libfuse', passthroughOpens: 0, passthroughFallbacks: 0, passthrough: 'off', latencyUs: [] };

describe('nativeCounterSource', () => {
  it('continues the cursor from the one on disk and dates the last op when the total moves', () => {
    let c: NativeCounters = zero;
    let t = 1000;
    const read = nativeCounterSource(() => c, 40, () => t);
    expect(read()).toEqual({ counters: { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0 }, cursor: 40, lastOpAt: undefined });
    c = { ...zero, ops: { write: 2, create: 1 }, bytesWritten: 9, errors: 1, changes: 2 };
    expect(read()).toEqual({ counters: { ops: { write: 2, create: 1 }, bytesRead: 0, bytesWritten: 9, errors: 1 }, cursor: 42, lastOpAt: 1000 });
    t = 5000;
    expect(read().lastOpAt).toBe(1000); // nothing new since
    c = { ...c, ops: { ...c.ops, read: 1 } };
    expect(read().lastOpAt).toBe(5000);
  });
});

describe('nativeBackendView / nativeLoad', () => {
  it('shows workers in place of scheduler slots and nothing queued', () => {
    const c: NativeCounters = { ...zero, inFlight: 3, stuck: 1, timedOut: 4, threads: 7, passthrough: 'on', passthroughOpens: 5, passthroughFallbacks: 1 };
    expect(nativeBackendView(c, 64, 2, { status: 'degraded', consecutiveFailures: 1, probeError: 'ETIMEDOUT' })).toEqual({
      inFlight: 3, limit: 64, queued: 0, stuck: 1, timedOut: 4, rejected: 0, cancelled: 2, consecutiveFailures: 1, fuseThreads: 7, probeError: 'ETIMEDOUT',
      passthrough: { mode: 'on', opens: 5, fallbacks: 1 },
    });
    expect(nativeLoad(c, 64)).toEqual({ inFlight: 3, queued: 0, stuck: 1, timedOut: 4, limit: 64 });
  });
});
