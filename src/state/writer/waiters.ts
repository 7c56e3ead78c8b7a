/** The promises StateWriter hands out: flushes waiting for a sequence, fences for idleness. */
import type { WriterTimers } from './types.js';

interface Waiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  timer: unknown;
}

/** Callers waiting for a sequence number to become durable, each with a deadline. */
export class FlushWaiters {
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly timers: WriterTimers) {}

  /** `onTimeout` builds the rejection when the deadline passes, so it can describe that moment. */
  wait(target: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { target, resolve, reject, timer: undefined };
      w.timer = this.timers.setTimeout(() => {
        this.waiters.delete(w);
        reject(onTimeout());
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  resolveUpTo(seq: number): void {
    for (const w of this.waiters) {
      if (w.target <= seq) this.settle(w);
    }
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters) this.settle(w, err);
  }

  private settle(w: Waiter, err?: Error): void {
    this.timers.clearTimeout(w.timer);
    this.waiters.delete(w);
    if (err) w.reject(err);
    else w.resolve();
  }
}

/** Callers waiting for the write in flight to end, each with a deadline. */
export class IdleWaiters {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly timers: WriterTimers) {}

  wait(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.timers.clearTimeout(timer);
        resolve();
      };
      const timer = this.timers.setTimeout(() => {
        this.waiters.delete(done);
        reject(onTimeout());
      }, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** The write in flight ended: release everyone waiting. */
  release(): void {
    for (const fn of this.waiters) fn();
    this.waiters.clear();
  }
}
