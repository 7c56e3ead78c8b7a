/**
 * The write loop behind StateWriter: coalescing updates into one write at a time, the fence
 * check before each rename, and what a success or a failure changes. StateWriter (writer.ts)
 * adds the public API on top; the split keeps each file to one job.
 */
import { randomUUID } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MountieError } from '../../errors.js';
import { STATE_SCHEMA } from '../state-schema.js';
import { FencedAbort, fenceReason, fencedError } from './fence.js';
import { WriterHealthTracker } from './health.js';
import { emit, type Listener } from './listeners.js';
import { defaultIo, defaultTimers, type FenceInfo, type StateWriterOptions, type WriterIo, type WriterTimers, type WrittenInfo } from './types.js';
import { FlushWaiters, IdleWaiters } from './waiters.js';

export abstract class WriterCore<T extends object> {
  readonly path: string;
  readonly epoch: number;
  readonly instanceId: string;
  private readonly schema: string;
  private readonly mode: number;
  private readonly io: WriterIo;
  protected readonly timers: WriterTimers;
  protected readonly now: () => number;
  protected readonly flushTimeoutMs: number;
  protected readonly state: T;
  protected readonly healthTracker: WriterHealthTracker;
  protected readonly waiters: FlushWaiters;
  protected readonly idleWaiters: IdleWaiters;
  protected seq = 1;
  protected durableSeq = 0;
  protected writes = 0;
  protected writing = false;
  private scheduled = false;
  protected stopped = false;
  private cleaned = false;
  protected retryTimer: unknown;
  protected fenceInfo: FenceInfo | undefined;
  protected readonly fencedListeners = new Set<Listener<FenceInfo>>();
  protected readonly writtenListeners = new Set<Listener<WrittenInfo>>();

  constructor(opts: StateWriterOptions<T>) {
    this.path = opts.path;
    this.epoch = opts.epoch;
    this.instanceId = opts.instanceId ?? randomUUID();
    this.schema = opts.schema ?? STATE_SCHEMA;
    this.mode = opts.mode ?? 0o600;
    this.io = { ...defaultIo, ...opts.io };
    this.timers = opts.timers ?? defaultTimers;
    this.now = opts.now ?? Date.now;
    const backoffMs = { initial: opts.backoff?.initialMs ?? 50, max: opts.backoff?.maxMs ?? 5000 };
    this.healthTracker = new WriterHealthTracker(backoffMs, this.now);
    this.waiters = new FlushWaiters(this.timers);
    this.idleWaiters = new IdleWaiters(this.timers);
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 10_000;
    // A copy: update() merges into it, and the caller's object is not ours to mutate.
    this.state = { ...opts.initial };
  }

  protected kick(): void {
    if (this.writing || this.scheduled || this.stopped || this.fenceInfo || this.retryTimer !== undefined) return;
    this.scheduled = true;
    // A microtask: a synchronous burst of updates lands in one write.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.writing || this.stopped || this.fenceInfo || this.durableSeq >= this.seq) return;
    this.writing = true;
    const seq = this.seq;
    const started = performance.now(); // a duration, not a timestamp: not the injected clock
    try {
      if (!this.cleaned) {
        // Leftovers of writers killed mid-write; a failure here must not stop state writing.
        await this.io.cleanTemps(dirname(this.path), basename(this.path)).catch(() => undefined);
        this.cleaned = true;
      }
      const data = this.serialize();
      await this.io.write(this.path, data, { mode: this.mode, beforeRename: () => this.checkFence() });
      this.succeeded(seq, Buffer.byteLength(data), performance.now() - started);
    } catch (err) {
      // FencedAbort: setFenced already told everyone. Anything else is a failed attempt.
      if (!(err instanceof FencedAbort)) this.failed(err);
    } finally {
      this.writing = false;
      this.idleWaiters.release();
    }
    if (this.durableSeq < this.seq) this.kick();
  }

  private async checkFence(): Promise<void> {
    if (this.fenceInfo || this.stopped) throw new FencedAbort();
    const disk = await this.io.readHeader(this.path);
    const reason = fenceReason(disk, this.epoch, this.instanceId, this.path);
    if (reason !== undefined) this.setFenced({ reason, at: new Date(this.now()).toISOString(), by: disk });
    if (this.fenceInfo) throw new FencedAbort();
  }

  private serialize(): string {
    const header = {
      schema: this.schema,
      epoch: this.epoch,
      instanceId: this.instanceId,
      writtenAt: new Date(this.now()).toISOString(),
      // As it will be once this write lands: a written file proves writing works again.
      health: { ...this.healthTracker.health(), ok: true },
    };
    // Header keys first for people reading the file; header values win over same-named state.
    return JSON.stringify(Object.assign({ ...header }, this.state, header));
  }

  private succeeded(seq: number, bytes: number, durationMs: number): void {
    this.durableSeq = seq;
    this.writes++;
    this.healthTracker.succeeded();
    this.waiters.resolveUpTo(seq);
    emit(this.writtenListeners, { seq, bytes, durationMs });
  }

  private failed(err: unknown): void {
    const delay = this.healthTracker.failed(err);
    if (this.stopped || this.fenceInfo) return;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.pump();
    }, delay);
  }

  protected setFenced(info: FenceInfo): void {
    if (this.fenceInfo) return;
    this.fenceInfo = info;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.waiters.rejectAll(this.fencedError());
    emit(this.fencedListeners, info);
  }

  protected fencedError(): MountieError {
    return fencedError(this.path, this.epoch, this.fenceInfo);
  }

  protected closedError(): MountieError {
    return new MountieError('ERR_DEADLINE', 'state writer closed before the update was durable', {
      data: { path: this.path, ...this.healthTracker.lastErrorData() },
    });
  }
}
