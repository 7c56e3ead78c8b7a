import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeDirectory, startHealthMonitor, type BackendLoad, type HealthMonitor, type HealthOptions, type HealthReport } from '../../../../src/daemon/backend/health.js';

const errno = (code: string): Error => Object.assign(new Error(code), { code });

/** A probe whose every call is answered by the test, in order. */
function scriptedProbe(): { probe: () => Promise<void>; calls: number; answer(fn: (r: { ok(): void; fail(code: string): void }) => void): void; pending: number } {
  const waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const p = {
    calls: 0,
    get pending() {
      return waiting.length;
    },
    probe: () => {
      p.calls++;
      return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
    },
    answer(fn: (r: { ok(): void; fail(code: string): void }) => void) {
      const w = waiting.shift();
      if (!w) throw new Error('no probe outstanding');
      fn({ ok: () => w.resolve(), fail: (code) => w.reject(errno(code)) });
    },
  };
  return p;
}

describe('health monitor', () => {
  let monitor: HealthMonitor | undefined;
  const changes: HealthReport[] = [];
  const start = (o: Partial<HealthOptions> & Pick<HealthOptions, 'probe'>): HealthMonitor => {
    monitor = startHealthMonitor({ intervalMs: 1000, probeTimeoutMs: 500, slowMs: 100, failAfter: 3, recoverAfter: 2, onChange: (r) => changes.push(r), ...o });
    return monitor;
  };
  const statuses = (): string[] => changes.map((c) => c.status);

  beforeEach(() => {
    vi.useFakeTimers();
    changes.length = 0;
  });
  afterEach(async () => {
    await monitor?.stop();
    monitor = undefined;
    vi.useRealTimers();
  });

  it('degrades on a slow probe and recovers after recoverAfter clean checks', async () => {
    const p = scriptedProbe();
    const m = start({ probe: p.probe });
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(150);
    p.answer((r) => r.ok());
    await vi.advanceTimersByTimeAsync(0);
    expect(m.report()).toMatchObject({ status: 'degraded', reason: 'source slow: probe took 150 ms', probeMs: 150 });
    for (let i = 0; i < 2; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      p.answer((r) => r.ok());
      await vi.advanceTimersByTimeAsync(0);
      expect(m.report().status).toBe(i === 0 ? 'degraded' : 'active');
    }
    expect(statuses()).toEqual(['degraded', 'active']);
    expect(m.report().reason).toBeUndefined();
  });

  it('fails for good after failAfter failed probes; failed is terminal', async () => {
    const p = scriptedProbe();
    const m = start({ probe: p.probe });
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      p.answer((r) => r.fail('EIO'));
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(m.report()).toMatchObject({ status: 'failed', consecutiveFailures: 3, probeError: 'EIO' });
    expect(m.report().reason).toMatch(/3 failed probes in a row, last: EIO/);
    expect(statuses()).toEqual(['degraded', 'failed']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(p.calls).toBe(3); // no probing after failed
    expect(statuses()).toEqual(['degraded', 'failed']);
  });

  it('fails at once when the source directory is gone', async () => {
    const p = scriptedProbe();
    const m = start({ probe: p.probe });
    await vi.advanceTimersByTimeAsync(1000);
    p.answer((r) => r.fail('ENOENT'));
    await vi.advanceTimersByTimeAsync(0);
    expect(m.report()).toMatchObject({ status: 'failed', reason: 'source directory gone (ENOENT)' });
    expect(statuses()).toEqual(['failed']);
  });

  it('never has more than one probe outstanding; each check meanwhile is a failure', async () => {
    const p = scriptedProbe();
    const m = start({ probe: p.probe, failAfter: 5 });
    await vi.advanceTimersByTimeAsync(1000 + 500); // first probe times out, stays outstanding
    expect(m.report()).toMatchObject({ status: 'degraded', consecutiveFailures: 1 });
    expect(m.report().reason).toMatch(/no answer within 500 ms/);
    for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(1000);
    expect(p.calls).toBe(1);
    expect(m.report().consecutiveFailures).toBe(4);
    expect(m.report().reason).toMatch(/previous probe unanswered for \d+ ms/);
    p.answer((r) => r.ok()); // the hung probe returns: the next check probes again
    await vi.advanceTimersByTimeAsync(1000);
    expect(p.calls).toBe(2);
    p.answer((r) => r.ok());
    await vi.advanceTimersByTimeAsync(0);
    expect(m.report()).toMatchObject({ status: 'degraded', consecutiveFailures: 0 });
  });

  it('degrades on backend trouble: timeouts since the last check, stuck calls, saturation', async () => {
    let load: BackendLoad = { inFlight: 0, queued: 0, stuck: 0, timedOut: 4, limit: 13 };
    const m = start({ probe: async () => undefined, load: () => load });
    await vi.advanceTimersByTimeAsync(1000);
    expect(m.report().status).toBe('active'); // the 4 timeouts were before the monitor started
    load = { ...load, timedOut: 6, stuck: 2, inFlight: 13, queued: 5 };
    await vi.advanceTimersByTimeAsync(1000);
    expect(m.report()).toMatchObject({ status: 'degraded', reason: '2 ops timed out; 2 source calls stuck; all 13 backend slots busy, 5 ops queued' });
    load = { ...load, stuck: 0, inFlight: 0, queued: 0 };
    await vi.advanceTimersByTimeAsync(2000);
    expect(m.report().status).toBe('active');
  });

  it('reports nothing after stop(), even when the running probe answers later; stop resolves at once', async () => {
    const p = scriptedProbe();
    const m = start({ probe: p.probe, onCheck: () => changes.push({ status: 'active', consecutiveFailures: -1 }) });
    await vi.advanceTimersByTimeAsync(1000);
    expect(p.pending).toBe(1);
    let stopped = false;
    void m.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true); // does not wait for a probe that may never return
    p.answer((r) => r.fail('ENOTCONN')); // a disconnect during shutdown
    await vi.advanceTimersByTimeAsync(60_000);
    expect(changes).toEqual([]); // neither onChange nor onCheck
    expect(m.report().status).toBe('active');
    expect(p.calls).toBe(1);
  });
});

describe('probeDirectory', () => {
  it('accepts a directory and names what is wrong otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mountie-probe-'));
    try {
      await writeFile(join(dir, 'f'), '');
      await expect(probeDirectory(dir)()).resolves.toBeUndefined();
      await expect(probeDirectory(join(dir, 'f'))()).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(probeDirectory(join(dir, 'missing'))()).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
