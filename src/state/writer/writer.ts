/**
 * The single writer of a state file. `update` only merges into memory (latest value wins per
 * top-level field, so memory is bounded however fast updates come); one write at a time
 * persists the whole document through writeFileDurable. Failures are retried with backoff
 * and reported through health, never thrown. Before every rename the writer reads the file
 * on disk: a higher epoch, or the same epoch from another instance, fences it for good.
 *
 * The check and the rename are two syscalls, so a zombie can still land one write in that
 * window (there is no conditional rename); its next check then fences it, and the rightful
 * writer's next write replaces it. The workspace lock, not this check, is the primary guard.
 */
import { MountieError } from '../../errors.js';
import type { WriterHealth } from '../state-schema.js';
import { WriterCore } from './core.js';
import { addListener, type Listener } from './listeners.js';
import type { FenceInfo, StateWriterOptions, WriterStats, WrittenInfo } from './types.js';

export type { FenceInfo, StateWriterOptions, WriterIo, WriterStats, WriterTimers, WrittenInfo } from './types.js';

export class StateWriter<T extends object> extends WriterCore<T> {
  private closing: Promise<void> | undefined;

  constructor(opts: StateWriterOptions<T>) {
    super(opts);
    this.kick();
  }

  /** Merge a patch; never blocks, never throws. Top-level values are kept by reference and
   * serialised at write time, so do not mutate an object after passing it. */
  update(patch: Partial<T>): void {
    if (this.fenceInfo || this.closing) return;
    try {
      Object.assign(this.state, patch);
    } catch {
      // Only a hostile patch (a throwing getter) gets here; update() promises never to throw.
      return;
    }
    this.seq++;
    this.kick();
  }

  /** Resolves once every update made before the call is durable. Rejects with ERR_FENCED,
   * or ERR_DEADLINE after timeoutMs. */
  flush(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.fenceInfo) return Promise.reject(this.fencedError());
    const target = this.seq;
    if (this.durableSeq >= target) return Promise.resolve();
    if (this.stopped) return Promise.reject(this.closedError());
    const timeoutMs = opts.timeoutMs ?? this.flushTimeoutMs;
    return this.waiters.wait(target, timeoutMs, () =>
      new MountieError('ERR_DEADLINE', `state not durable after ${timeoutMs} ms`, { data: { path: this.path, ...this.healthTracker.lastErrorData() } }),
    );
  }

  /** Stop for good (the daemon lost its lock). Resolves once no write is in flight, so the
   * file is no longer touched; rejects with ERR_DEADLINE if a write hangs past timeoutMs. */
  fence(reason: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.setFenced({ reason, at: new Date(this.now()).toISOString() });
    if (!this.writing) return Promise.resolve();
    const timeoutMs = opts.timeoutMs ?? this.flushTimeoutMs;
    return this.idleWaiters.wait(timeoutMs, () =>
      new MountieError('ERR_DEADLINE', `a state write still in flight after ${timeoutMs} ms`, { data: { path: this.path } }),
    );
  }

  /** Drop later updates, make earlier ones durable (bounded), then stop and remove listeners.
   * Rejects with ERR_DEADLINE when that flush did not finish; resolves when fenced. */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.finish(opts.timeoutMs);
    return this.closing;
  }

  health(): WriterHealth {
    return this.healthTracker.health();
  }

  fenced(): FenceInfo | undefined {
    return this.fenceInfo;
  }

  stats(): WriterStats {
    return { seq: this.seq, durableSeq: this.durableSeq, writes: this.writes, failedAttempts: this.healthTracker.failedAttempts() };
  }

  onHealth(listener: Listener<WriterHealth>): () => void {
    return this.healthTracker.onChange(listener);
  }

  onFenced(listener: Listener<FenceInfo>): () => void {
    return addListener(this.fencedListeners, listener);
  }

  onWritten(listener: Listener<WrittenInfo>): () => void {
    return addListener(this.writtenListeners, listener);
  }

  private async finish(timeoutMs: number | undefined): Promise<void> {
    let error: unknown;
    if (!this.fenceInfo && this.durableSeq < this.seq) {
      // Shutting down is no time to sit out a long backoff: try once more right away.
      if (this.retryTimer !== undefined) {
        this.timers.clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.kick();
      }
      error = await this.flush({ timeoutMs }).then(() => undefined, (err: unknown) => err);
    }
    this.stopped = true;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.waiters.rejectAll(this.closedError());
    this.healthTracker.clearListeners();
    this.fencedListeners.clear();
    this.writtenListeners.clear();
    if (error !== undefined && !(error instanceof MountieError && error.code === 'ERR_FENCED')) throw error;
  }
}
