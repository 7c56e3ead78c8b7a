import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateWriter, type StateWriterOptions, type WriterIo, type WriterTimers } from '../../../../src/state/writer/writer.js';
import { STATE_SCHEMA, readState, readStateWithReason, type DaemonState, type FenceHeader, type WriterHealth } from '../../../../src/state/state-schema.js';
import type { DurableWriteOptions } from '../../../../src/state/atomic.js';

/** Timers driven by advance(): backoff and deadlines without waiting. */
class FakeTimers implements WriterTimers {
  now = 0;
  private next = 1;
  readonly pending = new Map<number, { at: number; fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn, ms });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await settle();
    }
    this.now = until;
  }
}

interface PendingWrite {
  data: string;
  opts: DurableWriteOptions;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** An fs stand-in: each write waits until the test completes or fails it. */
class FakeIo implements WriterIo {
  disk: FenceHeader | undefined;
  committed: Record<string, unknown>[] = [];
  queue: PendingWrite[] = [];
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;
  write = (_path: string, data: string, opts: DurableWriteOptions): Promise<void> => {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => this.queue.push({ data, opts, resolve, reject })).finally(() => this.inFlight--);
  };
  readHeader = async (): Promise<FenceHeader | undefined> => this.disk;
  cleanTemps = async (): Promise<string[]> => [];

  /** Run the writer's pre-rename check, then commit like a rename would. */
  async complete(): Promise<Record<string, unknown> | undefined> {
    const w = this.queue.shift();
    if (!w) throw new Error('no write pending');
    try {
      await w.opts.beforeRename?.();
    } catch (err) {
      w.reject(err);
      await settle();
      return undefined;
    }
    const doc = JSON.parse(w.data) as Record<string, unknown>;
    this.committed.push(doc);
    this.disk = { epoch: doc.epoch as number, instanceId: doc.instanceId as string };
    w.resolve();
    await settle();
    return doc;
  }
  async fail(code: string): Promise<void> {
    const w = this.queue.shift();
    if (!w) throw new Error('no write pending');
    w.reject(Object.assign(new Error(code), { code }));
    await settle();
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

type S = { a: number; b: number; cursor: number };

function make(over: Partial<StateWriterOptions<S>> = {}) {
  const io = new FakeIo();
  const timers = new FakeTimers();
  const w = new StateWriter<S>({ path: '/x/state.json', epoch: 5, instanceId: 'me', initial: { a: 0, b: 0, cursor: 0 }, io, timers, now: () => timers.now, ...over });
  return { io, timers, w };
}

async function ready(io: FakeIo): Promise<void> {
  await settle();
  await io.complete(); // the initial document
}

describe('StateWriter', () => {
  it('writes the initial state with the header fields', async () => {
    const { io, w } = make();
    await settle();
    expect(io.calls).toBe(1);
    const doc = await io.complete();
    expect(doc).toMatchObject({ schema: STATE_SCHEMA, epoch: 5, instanceId: 'me', writtenAt: new Date(0).toISOString(), health: { ok: true }, a: 0, cursor: 0 });
    expect(Object.keys(doc ?? {}).slice(0, 4)).toEqual(['schema', 'epoch', 'instanceId', 'writtenAt']);
    await w.close();
  });

  it('coalesces a burst into one write, latest value per field', async () => {
    const { io, w } = make();
    await ready(io);
    for (let i = 1; i <= 10_000; i++) w.update({ cursor: i, a: i });
    w.update({ b: 7 });
    await settle();
    expect(io.calls).toBe(2);
    expect(await io.complete()).toMatchObject({ a: 10_000, b: 7, cursor: 10_000 });
    await settle();
    expect(io.queue).toHaveLength(0);
    await w.close();
  });

  it('never has more than one write in flight', async () => {
    const { io, w } = make();
    await settle();
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) w.update({ cursor: round * 20 + i });
      await settle();
      expect(io.queue.length).toBeLessThanOrEqual(1);
      if (round % 3 === 0) await io.complete();
    }
    while (io.queue.length > 0) await io.complete();
    expect(io.maxInFlight).toBe(1);
    expect(io.committed.at(-1)).toMatchObject({ cursor: 999 });
    expect(io.calls).toBeLessThan(60);
    await w.close();
  });

  it('flush waits for the write that carries the updates made before it', async () => {
    const { io, w } = make();
    await ready(io);
    await w.flush(); // nothing pending
    w.update({ a: 1 });
    await settle(); // write #2 (a=1) in flight
    w.update({ b: 2 });
    let done = false;
    const f = w.flush().then(() => (done = true));
    await io.complete(); // a=1 durable, b=2 not yet
    expect(done).toBe(false);
    await io.complete();
    await f;
    expect(io.committed.at(-1)).toMatchObject({ a: 1, b: 2 });
  });

  it('flush rejects with ERR_DEADLINE when the timeout passes', async () => {
    const { io, timers, w } = make();
    await settle();
    let outcome: unknown = 'pending';
    const f = w.flush({ timeoutMs: 300 }).catch((e: unknown) => (outcome = e));
    await timers.advance(299);
    expect(outcome).toBe('pending');
    await timers.advance(1);
    await f;
    expect(outcome).toMatchObject({ code: 'ERR_DEADLINE' });
    await io.complete();
  });

  it('retries with capped exponential backoff and reports health', async () => {
    const { io, timers, w } = make({ backoff: { initialMs: 100, maxMs: 1000 } });
    const events: WriterHealth[] = [];
    w.onHealth((h) => events.push(h));
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await io.fail('ENOSPC');
      delays.push(...timers.delays());
      expect(io.queue).toHaveLength(0); // waiting out the backoff, not writing
      w.update({ cursor: i }); // updates during backoff only coalesce
      await timers.advance(timers.delays()[0] ?? 0);
      expect(io.queue).toHaveLength(1);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(w.health()).toMatchObject({ ok: false, lastError: { code: 'ENOSPC', attempts: 6 } });
    await io.complete();
    expect(io.committed.at(-1)).toMatchObject({ cursor: 5, health: { ok: true, lastError: { code: 'ENOSPC', attempts: 6 } } });
    expect(w.health()).toMatchObject({ ok: true, lastError: { code: 'ENOSPC' } });
    expect(events.map((e) => e.ok)).toEqual([false, false, false, false, false, false, true]);
    await w.flush();
    // Backoff restarts from the initial delay after a success.
    w.update({ a: 1 });
    await settle();
    await io.fail('EIO');
    expect(timers.delays()).toEqual([100]);
    expect(w.health().lastError).toMatchObject({ code: 'EIO', attempts: 1 });
    await timers.advance(100);
    await io.complete();
  });

  it('is fenced by a higher epoch on disk: stops writing, drops updates, flush rejects', async () => {
    const { io, w } = make();
    const fences: unknown[] = [];
    w.onFenced((f) => fences.push(f));
    await ready(io);
    w.update({ a: 1 });
    const f = w.flush().catch((e: unknown) => e);
    await settle();
    io.disk = { epoch: 6, instanceId: 'other' };
    expect(await io.complete()).toBeUndefined(); // aborted before the rename
    expect(await f).toMatchObject({ code: 'ERR_FENCED' });
    expect(fences).toEqual([expect.objectContaining({ by: { epoch: 6, instanceId: 'other' } })]);
    expect(w.fenced()?.reason).toMatch(/epoch 6 > ours 5/);
    w.update({ a: 2 });
    await settle();
    expect(io.calls).toBe(2);
    await expect(w.flush()).rejects.toMatchObject({ code: 'ERR_FENCED' });
    await expect(w.close()).resolves.toBeUndefined();
  });

  it('is fenced by the same epoch from another instance, not by its own or a lower epoch', async () => {
    const { io, w } = make();
    io.disk = { epoch: 4, instanceId: 'old' };
    await ready(io);
    expect(io.committed).toHaveLength(1);
    w.update({ a: 1 });
    await settle();
    await io.complete(); // disk now carries our own header
    expect(io.committed).toHaveLength(2);
    w.update({ a: 2 });
    await settle();
    io.disk = { epoch: 5, instanceId: 'twin' };
    await io.complete();
    expect(w.fenced()?.reason).toMatch(/same epoch 5/);
  });

  it('fence() drops updates, rejects waiters and resolves once the in-flight write settled', async () => {
    const { io, w } = make();
    await ready(io);
    w.update({ a: 1 });
    await settle();
    const waiter = w.flush();
    let fenceDone = false;
    const fenced = w.fence('lost the workspace lock').then(() => (fenceDone = true));
    await expect(waiter).rejects.toMatchObject({ code: 'ERR_FENCED' });
    await settle();
    expect(fenceDone).toBe(false);
    expect(await io.complete()).toBeUndefined(); // the in-flight write does not rename
    await fenced;
    w.update({ a: 2 });
    await settle();
    expect(io.calls).toBe(2);
    expect(w.fenced()).toMatchObject({ reason: 'lost the workspace lock' });
  });

  it('fence() is bounded when a write hangs', async () => {
    const { io, timers, w } = make();
    await settle(); // the initial write never completes
    const f = w.fence('lost lock', { timeoutMs: 1000 }).catch((e: unknown) => e);
    await timers.advance(1000);
    expect(await f).toMatchObject({ code: 'ERR_DEADLINE' });
    expect(timers.pending.size).toBe(0);
    expect(io.queue).toHaveLength(1);
  });

  it('listener removers work, and a throwing listener does not stop the writer', async () => {
    const { io, timers, w } = make();
    const seen: string[] = [];
    const offH = w.onHealth(() => seen.push('health'));
    const offW = w.onWritten(() => seen.push('written'));
    const offF = w.onFenced(() => seen.push('fenced'));
    w.onWritten(() => {
      throw new Error('listener bug');
    });
    await settle();
    await io.fail('EACCES');
    await io.complete().catch(() => undefined);
    expect(seen).toEqual(['health']);
    await timers.advance(50);
    await io.complete();
    expect(seen).toEqual(['health', 'health', 'written']);
    offH();
    offW();
    offF();
    w.update({ a: 1 });
    await settle();
    await io.fail('EIO');
    await timers.advance(50);
    await io.complete();
    await w.fence('x');
    expect(seen).toEqual(['health', 'health', 'written']);
  });

  it('close() writes what is pending, then drops updates and leaves no timer', async () => {
    const { io, timers, w } = make();
    await ready(io);
    w.update({ a: 1 });
    const c = w.close();
    await settle();
    await io.complete();
    await c;
    expect(io.committed.at(-1)).toMatchObject({ a: 1 });
    w.update({ a: 2 });
    await settle();
    expect(io.queue).toHaveLength(0);
    expect(timers.pending.size).toBe(0);
  });

  it('close() retries at once, is bounded, and clears the backoff timer', async () => {
    const { io, timers, w } = make({ backoff: { initialMs: 5000 } });
    await settle();
    await io.fail('EROFS');
    expect(timers.delays()).toEqual([5000]);
    const c = w.close({ timeoutMs: 200 }).catch((e: unknown) => e);
    await settle();
    expect(io.queue).toHaveLength(1); // retried without waiting 5 s
    await io.fail('EROFS');
    await timers.advance(200);
    expect(await c).toMatchObject({ code: 'ERR_DEADLINE', data: { lastError: { code: 'EROFS' } } });
    expect(timers.pending.size).toBe(0);
  });

  it('update() never throws', async () => {
    const { io, w } = make();
    const hostile = Object.defineProperty({}, 'a', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    }) as Partial<S>;
    expect(() => w.update(hostile)).not.toThrow();
    await w.fence('done');
    expect(() => w.update({ a: 1 })).not.toThrow();
    await io.complete().catch(() => undefined);
  });
});

describe('StateWriter on a real file, and readState', () => {
  let dir: string;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const daemonState: DaemonState = {
    status: 'active',
    mount: { mountpoint: '/m', source: '/s', fsname: 'fs' },
    counters: { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0 },
    cursor: 0,
    pid: 1,
    startedAt: new Date(0).toISOString(),
  };

  it('writes a document readState accepts, and readState explains what it cannot read', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-writer-'));
    const path = join(dir, 'state.json');
    expect(await readStateWithReason(path)).toMatchObject({ doc: undefined, reason: 'missing' });
    const w = new StateWriter({ path, epoch: 1, initial: daemonState });
    w.update({ cursor: 3, status: 'degraded', reason: 'slow disk' });
    await w.close();
    expect(await readState(path)).toMatchObject({ schema: STATE_SCHEMA, epoch: 1, cursor: 3, status: 'degraded', reason: 'slow disk', health: { ok: true } });
    await writeFile(path, '{"schema":"mountie.state/v1",');
    expect(await readStateWithReason(path)).toMatchObject({ doc: undefined, reason: 'corrupt' });
    await writeFile(path, '{"schema":"other/v9"}');
    expect(await readStateWithReason(path)).toMatchObject({ doc: undefined, reason: 'schema' });
    await writeFile(path, '');
    expect(await readState(path)).toBeUndefined();
  });
});
