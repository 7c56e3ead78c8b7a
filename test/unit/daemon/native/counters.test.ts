import { describe, expect, it } from 'vitest';
import { readCounters, totalOps } from '../../../../src/daemon/native/counters.js';
import type { CounterLayout } from '../../../../src/daemon/native/binding.js';

const layout: CounterLayout = { ops: ['lookup', 'read'], errors: 2, bytesRead: 3, bytesWritten: 4, inFlight: 5, threads: 6, nodes: 7, timedOut: 8, stuck: 9, changes: 10, fastFailed: 11, loopEnded: 12, latency: 13, latencyBuckets: 3, stalls: 16, rescued: 17, total: 18 };

describe('readCounters', () => {
  it('maps the shared slots to named counters, leaving out kinds never seen', () => {
    const buf = new ArrayBuffer(layout.total * 8);
    const c = new BigUint64Array(buf);
    c.set([0n, 7n, 1n, 4096n, 10n, 2n, 3n, 42n, 1n, 0n, 4n, 1n, 1n, 5n, 6n, 0n]);
    const r = readCounters(layout, buf);
    expect(r).toEqual({ ops: { read: 7 }, errors: 1, bytesRead: 4096, bytesWritten: 10, inFlight: 2, threads: 3, nodes: 42, timedOut: 1, stuck: 0, changes: 4, fastFailed: 1, loopEnded: true, stalls: 0, rescued: 0, watches: 0, unwatched: 0, invalidations: 0, overflows: 0, events: 0, eventReads: 0, eventsOurs: 0, invalEntries: 0, invalInodes: 0, session: 'unknown', passthroughOpens: 0, passthroughFallbacks: 0, passthrough: 'off', latencyUs: [5, 6, 0] });
    expect(totalOps(r)).toBe(7);
  });

  it('never shows a gauge below zero while threads add and subtract', () => {
    const buf = new ArrayBuffer(layout.total * 8);
    new BigUint64Array(buf)[layout.inFlight] = BigInt.asUintN(64, -1n);
    expect(readCounters(layout, buf).inFlight).toBe(0);
  });

  it('names the passthrough mode the core set (off when the addon has no such slot)', () => {
    const withMode: CounterLayout = { ...layout, passthroughMode: 18, total: 19 };
    const buf = new ArrayBuffer(withMode.total * 8);
    const c = new BigUint64Array(buf);
    const modes = [0n, 1n, 2n, 3n, 4n, 9n].map((m) => ((c[18] = m), readCounters(withMode, buf).passthrough));
    expect(modes).toEqual(['off', 'pending', 'on', 'refused', 'remote', 'off']);
  });
});
