import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createScheduler, type OpContext, type Scheduler, type SchedulerOptions } from '../../../../src/daemon/backend/scheduler.js';
import { backendLimits, threadpoolSize } from '../../../../src/daemon/backend/limits.js';
import { EIO, ETIMEDOUT, toFuseErrno } from '../../../../src/daemon/passthrough/errno.js';
import { poolCallsPending } from '../../../../src/sys/pool-calls.js';

/** A backend call that returns only when the test says so (like a hung fs call). */
interface Call<T = string> {
  readonly name: string;
  resolve(v: T): void;
  reject(e: Error): void;
  ctx: OpContext;
}

interface Outcome {
  readonly value?: unknown;
  readonly error?: { code: string; errno: unknown };
}

/** Submit an op whose call is recorded in `started`; the returned record fills in when answered. */
function submit(s: Scheduler, started: Call[], name: string, opts: Parameters<Scheduler['run']>[2] = {}): { out?: Outcome } {
  const rec: { out?: Outcome } = {};
  s.run(
    name,
    (ctx) =>
      new Promise<string>((resolve, reject) => {
        started.push({ name, resolve, reject, ctx });
      }),
    opts as Parameters<Scheduler['run']>[2] & object,
  ).then(
    (value) => (rec.out = { value }),
    (err: { code: string; data?: { errno?: unknown } }) => (rec.out = { error: { code: err.code, errno: err.data?.errno } }),
  );
  return rec;
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const make = (o: SchedulerOptions = {}): Scheduler => createScheduler({ poolSize: 4, reserve: 2, deadlineMs: 1000, ...o });

describe('scheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts a call against the limit until it really returns, not until its deadline answered', async () => {
    const s = make({ limit: 2, laneLimit: 2 });
    const started: Call[] = [];
    const a = submit(s, started, 'a');
    const b = submit(s, started, 'b');
    await vi.advanceTimersByTimeAsync(900);
    const c = submit(s, started, 'c');
    expect(started.map((x) => x.name)).toEqual(['a', 'b']);
    await vi.advanceTimersByTimeAsync(100); // a and b pass their deadline
    expect(a.out?.error).toEqual({ code: 'ERR_DEADLINE', errno: 'ETIMEDOUT' });
    expect(b.out?.error).toEqual({ code: 'ERR_DEADLINE', errno: 'ETIMEDOUT' });
    expect(s.stats()).toMatchObject({ inFlight: 2, stuck: 2, queued: 1, timedOut: 2 });
    expect(started).toHaveLength(2); // c still waits: a and b still hold their threads
    expect(poolCallsPending()).toBe(2);
    started[0]!.resolve('late a');
    await flush();
    expect(started.map((x) => x.name)).toEqual(['a', 'b', 'c']);
    expect(s.stats()).toMatchObject({ inFlight: 2, stuck: 1, queued: 0, completed: 1 });
    started[2]!.resolve('c done');
    await flush();
    expect(c.out).toEqual({ value: 'c done' });
    started[1]!.resolve('late b');
    await flush();
    expect(s.stats()).toMatchObject({ inFlight: 0, stuck: 0, completed: 3 });
    expect(poolCallsPending()).toBe(0);
  });

  it('keeps the reserve out of the backend limit', () => {
    expect(backendLimits({ poolSize: 16 })).toEqual({ poolSize: 16, reserve: 3, limit: 13, laneLimit: 10 });
    expect(backendLimits({ poolSize: 16, reserve: 1 }).reserve).toBe(2); // never below 2
    expect(backendLimits({ poolSize: 4 })).toEqual({ poolSize: 4, reserve: 2, limit: 2, laneLimit: 1 }); // one slot per lane
    expect(backendLimits({ poolSize: 2 })).toMatchObject({ limit: 1 }); // still makes progress
    expect(threadpoolSize({})).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '16' })).toBe(16);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '5000' })).toBe(1024);
    expect(() => backendLimits({ limit: 0 })).toThrow(/limit/);
  });

  it('runs pool − reserve calls at once', async () => {
    const s = createScheduler({ poolSize: 6, reserve: 3, laneLimit: 3 });
    const started: Call[] = [];
    for (let i = 0; i < 5; i++) submit(s, started, `op${i}`);
    expect(started).toHaveLength(3);
    expect(s.stats()).toMatchObject({ limit: 3, inFlight: 3, queued: 2 });
    s.close();
  });

  it('starts queued ops in FIFO order, across lanes, within each lane limit', async () => {
    const s = make({ limit: 3, laneLimit: 2 });
    const started: Call[] = [];
    submit(s, started, 'd1', { lane: 'data' });
    submit(s, started, 'd2', { lane: 'data' });
    submit(s, started, 'd3', { lane: 'data' }); // data lane full
    submit(s, started, 'm1', { lane: 'meta' }); // meta still has room: the lane split at work
    submit(s, started, 'm2', { lane: 'meta' }); // global limit reached
    submit(s, started, 'd4', { lane: 'data' });
    expect(started.map((x) => x.name)).toEqual(['d1', 'd2', 'm1']);
    expect(s.stats().lanes).toEqual({ meta: { inFlight: 1, queued: 1 }, data: { inFlight: 2, queued: 2 } });
    started[0]!.resolve('');
    await flush();
    expect(started.map((x) => x.name)).toEqual(['d1', 'd2', 'm1', 'd3']); // d3 came before m2
    started[2]!.resolve(''); // m1 returns: only meta may start (data is at its lane limit)
    await flush();
    expect(started.map((x) => x.name)).toEqual(['d1', 'd2', 'm1', 'd3', 'm2']);
    for (const c of started) c.resolve('');
    await flush();
    expect(started.map((x) => x.name).at(-1)).toBe('d4');
    s.close();
  });

  it('answers a queued op ETIMEDOUT at its deadline and never runs it', async () => {
    const s = make({ limit: 1 });
    const started: Call[] = [];
    submit(s, started, 'a');
    await vi.advanceTimersByTimeAsync(500);
    const b = submit(s, started, 'b');
    await vi.advanceTimersByTimeAsync(999); // a is stuck past its deadline; b waits for its slot
    expect(b.out).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(b.out?.error).toEqual({ code: 'ERR_DEADLINE', errno: 'ETIMEDOUT' });
    started[0]!.resolve('a'); // the slot frees only now: b must not run any more
    await vi.advanceTimersByTimeAsync(5000);
    expect(started.map((x) => x.name)).toEqual(['a']);
    expect(s.stats()).toMatchObject({ queued: 0, inFlight: 0, timedOut: 2 });
  });

  it('answers a running op ETIMEDOUT, aborts its signal and hands a late result to onLate', async () => {
    const s = make();
    const started: Call[] = [];
    const late: string[] = [];
    const a = submit(s, started, 'open', { onLate: (v: unknown) => void late.push(String(v)) });
    const signal = started[0]!.ctx.signal;
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(a.out?.error).toEqual({ code: 'ERR_DEADLINE', errno: 'ETIMEDOUT' });
    expect(signal.aborted).toBe(true);
    expect(s.stats()).toMatchObject({ stuck: 1, inFlight: 1 });
    started[0]!.resolve('fd 7');
    await flush();
    expect(late).toEqual(['fd 7']);
    expect(s.stats()).toMatchObject({ stuck: 0, inFlight: 0 });
  });

  it('answers every queued and running op at once when the session aborts', async () => {
    const session = new AbortController();
    const s = make({ limit: 1, signal: session.signal });
    const started: Call[] = [];
    const recs = [submit(s, started, 'a'), submit(s, started, 'b'), submit(s, started, 'c')];
    const cleanup = submit(s, started, 'close', { cleanup: true, lane: 'data' });
    session.abort();
    await flush(); // no time passes: all at once
    for (const r of recs) expect(r.out?.error).toEqual({ code: 'ERR_CANCELLED', errno: 'EIO' });
    expect(s.stats()).toMatchObject({ cancelled: 3, inFlight: 1, queued: 1 }); // a still holds its thread; the close waits
    const d = submit(s, started, 'd');
    await flush();
    expect(d.out?.error).toEqual({ code: 'ERR_CANCELLED', errno: 'EIO' });
    started[0]!.resolve('late');
    await flush();
    expect(started.map((x) => x.name)).toEqual(['a', 'close']); // b, c, d never touch the source
    started[1]!.resolve('closed');
    await flush();
    expect(cleanup.out).toEqual({ value: 'closed' });
  });

  it('answers ops on a key whose call is stuck ETIMEDOUT at once, until that call returns', async () => {
    const s = make({ limit: 4, laneLimit: 3 });
    const started: Call[] = [];
    submit(s, started, 'read', { key: '/slow/a', lane: 'data' });
    const before = submit(s, started, 'getattr', { key: '/slow/a' }); // not stuck yet: runs
    await flush();
    expect(started).toHaveLength(2);
    started[1]!.resolve('attrs');
    await vi.advanceTimersByTimeAsync(1000); // the read is stuck now
    expect(before.out).toEqual({ value: 'attrs' });
    const again = submit(s, started, 'read', { key: '/slow/a', lane: 'data' });
    const other = submit(s, started, 'read', { key: '/fast/b', lane: 'data' });
    await flush();
    expect(again.out?.error).toEqual({ code: 'ERR_DEADLINE', errno: 'ETIMEDOUT' });
    expect(started.map((c) => c.name)).toEqual(['read', 'getattr', 'read']); // only /fast/b started
    started[2]!.resolve('data');
    await flush();
    expect(other.out).toEqual({ value: 'data' });
    started[0]!.resolve('late'); // the stuck read returns: the key is usable again
    await flush();
    submit(s, started, 'read', { key: '/slow/a', lane: 'data' });
    expect(started).toHaveLength(4);
    expect(s.stats().timedOut).toBe(2);
    s.close();
  });

  it('refuses ops beyond the queue bound with EIO', async () => {
    const s = make({ limit: 1, maxQueue: 2 });
    const started: Call[] = [];
    submit(s, started, 'a');
    submit(s, started, 'b');
    submit(s, started, 'c');
    const d = submit(s, started, 'd');
    await flush();
    expect(d.out?.error).toEqual({ code: 'ERR_BACKEND_BUSY', errno: 'EIO' });
    expect(s.stats()).toMatchObject({ rejected: 1, queued: 2, inFlight: 1 });
    s.close();
  });

  it('passes results and errors of calls that return in time', async () => {
    const s = make();
    await expect(s.run('getattr', async () => 42)).resolves.toBe(42);
    const enoent = Object.assign(new Error('nope'), { code: 'ENOENT' });
    await expect(s.run('getattr', () => Promise.reject(enoent))).rejects.toBe(enoent);
    await expect(
      s.run('getattr', () => {
        throw enoent;
      }),
    ).rejects.toBe(enoent);
    expect(s.stats()).toMatchObject({ completed: 3, inFlight: 0, timedOut: 0 });
  });

  it('maps its answers to FUSE errnos', async () => {
    const session = new AbortController();
    const s = make({ limit: 1, signal: session.signal });
    const hung = s.run('read', () => new Promise<never>(() => undefined));
    const timedOut = hung.catch((e: unknown) => toFuseErrno(e));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await timedOut).toBe(ETIMEDOUT);
    session.abort();
    expect(await s.run('getattr', async () => 1).catch((e: unknown) => toFuseErrno(e))).toBe(EIO);
    expect(ETIMEDOUT).toBe(-110);
  });
});
