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
import { randomUUID } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MountieError, errnoCode } from '../errors.js';
import { cleanTempFiles, writeFileDurable, type DurableWriteOptions } from './atomic.js';
import { STATE_SCHEMA, readStateHeader, type FenceHeader, type WriterHealth } from './state-schema.js';

export interface WriterIo {
  write(path: string, data: string, opts: DurableWriteOptions): Promise<void>;
  /** Header of the document on disk; undefined when missing or invalid. */
  readHeader(path: string): Promise<FenceHeader | undefined>;
  cleanTemps(dir: string, base: string): Promise<unknown>;
}

export interface WriterTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StateWriterOptions<T extends object> {
  readonly path: string;
  readonly epoch: number;
  /** The full state; written right away (this also checks fencing at start). */
  readonly initial: T;
  readonly schema?: string;
  readonly instanceId?: string;
  readonly mode?: number;
  /** Retry delays: initialMs doubling up to maxMs. Defaults 50 ms and 5 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Default bound of flush() and close(). Default 10 s. */
  readonly flushTimeoutMs?: number;
  readonly io?: Partial<WriterIo>;
  readonly timers?: WriterTimers;
  readonly now?: () => number;
}

export interface FenceInfo {
  readonly reason: string;
  readonly at: string;
  /** The document on disk that fenced us, when it was one. */
  readonly by?: FenceHeader;
}

export interface WrittenInfo {
  readonly seq: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface WriterStats {
  /** Sequence of the latest update (the initial state is 1). */
  readonly seq: number;
  /** Sequence of the latest update known durable. */
  readonly durableSeq: number;
  readonly writes: number;
  readonly failedAttempts: number;
}

interface Waiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  timer: unknown;
}

type Listener<A> = (arg: A) => void;

const defaultIo: WriterIo = {
  write: writeFileDurable,
  readHeader: readStateHeader,
  cleanTemps: cleanTempFiles,
};

const defaultTimers: WriterTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Thrown inside beforeRename to abort a write once fenced; never leaves this module. */
class FencedAbort extends Error {}

export class StateWriter<T extends object> {
  readonly path: string;
  readonly epoch: number;
  readonly instanceId: string;
  private readonly schema: string;
  private readonly mode: number;
  private readonly io: WriterIo;
  private readonly timers: WriterTimers;
  private readonly now: () => number;
  private readonly backoffMs: { initial: number; max: number };
  private readonly flushTimeoutMs: number;
  private readonly state: T;
  private seq = 1;
  private durableSeq = 0;
  private writes = 0;
  private failedAttempts = 0;
  private attempts = 0;
  private writing = false;
  private scheduled = false;
  private stopped = false;
  private closing: Promise<void> | undefined;
  private cleaned = false;
  private retryTimer: unknown;
  private healthNow: WriterHealth = { ok: true };
  private fenceInfo: FenceInfo | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly idleWaiters = new Set<() => void>();
  private readonly healthListeners = new Set<Listener<WriterHealth>>();
  private readonly fencedListeners = new Set<Listener<FenceInfo>>();
  private readonly writtenListeners = new Set<Listener<WrittenInfo>>();

  constructor(opts: StateWriterOptions<T>) {
    this.path = opts.path;
    this.epoch = opts.epoch;
    this.instanceId = opts.instanceId ?? randomUUID();
    this.schema = opts.schema ?? STATE_SCHEMA;
    this.mode = opts.mode ?? 0o600;
    this.io = { ...defaultIo, ...opts.io };
    this.timers = opts.timers ?? defaultTimers;
    this.now = opts.now ?? Date.now;
    this.backoffMs = { initial: opts.backoff?.initialMs ?? 50, max: opts.backoff?.maxMs ?? 5000 };
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 10_000;
    // A copy: update() merges into it, and the caller's object is not ours to mutate.
    this.state = { ...opts.initial };
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
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { target, resolve, reject, timer: undefined };
      w.timer = this.timers.setTimeout(() => {
        this.waiters.delete(w);
        reject(new MountieError('ERR_DEADLINE', `state not durable after ${timeoutMs} ms`, { data: { path: this.path, ...this.lastErrorData() } }));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Stop for good (the daemon lost its lock). Resolves once no write is in flight, so the
   * file is no longer touched; rejects with ERR_DEADLINE if a write hangs past timeoutMs. */
  fence(reason: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.setFenced({ reason, at: new Date(this.now()).toISOString() });
    if (!this.writing) return Promise.resolve();
    const timeoutMs = opts.timeoutMs ?? this.flushTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.timers.clearTimeout(timer);
        resolve();
      };
      const timer = this.timers.setTimeout(() => {
        this.idleWaiters.delete(done);
        reject(new MountieError('ERR_DEADLINE', `a state write still in flight after ${timeoutMs} ms`, { data: { path: this.path } }));
      }, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  /** Drop later updates, make earlier ones durable (bounded), then stop and remove listeners.
   * Rejects with ERR_DEADLINE when that flush did not finish; resolves when fenced. */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.finish(opts.timeoutMs);
    return this.closing;
  }

  health(): WriterHealth {
    return this.healthNow;
  }

  fenced(): FenceInfo | undefined {
    return this.fenceInfo;
  }

  stats(): WriterStats {
    return { seq: this.seq, durableSeq: this.durableSeq, writes: this.writes, failedAttempts: this.failedAttempts };
  }

  onHealth(listener: Listener<WriterHealth>): () => void {
    return addListener(this.healthListeners, listener);
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
    this.rejectWaiters(this.closedError());
    this.healthListeners.clear();
    this.fencedListeners.clear();
    this.writtenListeners.clear();
    if (error !== undefined && !(error instanceof MountieError && error.code === 'ERR_FENCED')) throw error;
  }

  private kick(): void {
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
      for (const fn of this.idleWaiters) fn();
      this.idleWaiters.clear();
    }
    if (this.durableSeq < this.seq) this.kick();
  }

  private async checkFence(): Promise<void> {
    if (this.fenceInfo || this.stopped) throw new FencedAbort();
    const disk = await this.io.readHeader(this.path);
    if (disk && (disk.epoch > this.epoch || (disk.epoch === this.epoch && disk.instanceId !== this.instanceId))) {
      const why = disk.epoch > this.epoch ? `epoch ${disk.epoch} > ours ${this.epoch}` : `same epoch ${disk.epoch}, instance ${disk.instanceId}`;
      this.setFenced({ reason: `another writer owns ${this.path}: ${why}`, at: new Date(this.now()).toISOString(), by: disk });
    }
    if (this.fenceInfo) throw new FencedAbort();
  }

  private serialize(): string {
    const header = {
      schema: this.schema,
      epoch: this.epoch,
      instanceId: this.instanceId,
      writtenAt: new Date(this.now()).toISOString(),
      // As it will be once this write lands: a written file proves writing works again.
      health: { ...this.healthNow, ok: true },
    };
    // Header keys first for people reading the file; header values win over same-named state.
    return JSON.stringify(Object.assign({ ...header }, this.state, header));
  }

  private succeeded(seq: number, bytes: number, durationMs: number): void {
    this.durableSeq = seq;
    this.writes++;
    this.attempts = 0;
    if (!this.healthNow.ok) this.setHealth({ ...this.healthNow, ok: true });
    for (const w of this.waiters) {
      if (w.target <= seq) this.settle(w);
    }
    emit(this.writtenListeners, { seq, bytes, durationMs });
  }

  private failed(err: unknown): void {
    this.attempts++;
    this.failedAttempts++;
    const code = errnoCode(err) ?? (err instanceof Error ? err.name : 'EUNKNOWN');
    this.setHealth({ ok: false, lastError: { code, at: new Date(this.now()).toISOString(), attempts: this.attempts } });
    if (this.stopped || this.fenceInfo) return;
    const delay = Math.min(this.backoffMs.max, this.backoffMs.initial * 2 ** Math.min(this.attempts - 1, 30));
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.pump();
    }, delay);
  }

  private setHealth(h: WriterHealth): void {
    this.healthNow = h;
    emit(this.healthListeners, h);
  }

  private setFenced(info: FenceInfo): void {
    if (this.fenceInfo) return;
    this.fenceInfo = info;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.rejectWaiters(this.fencedError());
    emit(this.fencedListeners, info);
  }

  private settle(w: Waiter, err?: Error): void {
    this.timers.clearTimeout(w.timer);
    this.waiters.delete(w);
    if (err) w.reject(err);
    else w.resolve();
  }

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters) this.settle(w, err);
  }

  private lastErrorData(): Record<string, unknown> {
    return this.healthNow.lastError ? { lastError: this.healthNow.lastError } : {};
  }

  private fencedError(): MountieError {
    return new MountieError('ERR_FENCED', `state writer fenced: ${this.fenceInfo?.reason ?? 'unknown'}`, {
      data: { path: this.path, epoch: this.epoch, by: this.fenceInfo?.by },
    });
  }

  private closedError(): MountieError {
    return new MountieError('ERR_DEADLINE', 'state writer closed before the update was durable', {
      data: { path: this.path, ...this.lastErrorData() },
    });
  }
}

function addListener<A>(set: Set<Listener<A>>, fn: Listener<A>): () => void {
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

function emit<A>(set: ReadonlySet<Listener<A>>, arg: A): void {
  for (const fn of [...set]) {
    try {
      fn(arg);
    } catch {
      // A listener's bug must not stop state writing nor crash the daemon from inside the writer.
    }
  }
}
