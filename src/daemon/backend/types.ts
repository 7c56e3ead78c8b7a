/** Public types of the backend scheduler (scheduler.ts). */
import type { BackendLimits, LimitOptions } from './limits.js';

export type Lane = 'meta' | 'data';

export interface SchedulerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SchedulerOptions extends LimitOptions {
  /** Answer an op not finished by then with ETIMEDOUT. Default 5000 ms (fuse-native's own is 15 s). */
  readonly deadlineMs?: number;
  /** Ops waiting for a slot, both lanes together; past this an op is refused with EIO. Default 1024. */
  readonly maxQueue?: number;
  /** The session: once aborted, every queued and running op is answered EIO at once. */
  readonly signal?: AbortSignal;
  readonly timers?: SchedulerTimers;
}

/** What a backend call gets: a signal that aborts at its deadline or when the session ends. */
export interface OpContext {
  readonly signal: AbortSignal;
}

export interface RunOptions<T> {
  readonly lane?: Lane;
  /** Gets the result of a call that returned after its op was answered (e.g. close a late fd). */
  readonly onLate?: (value: T) => void;
  /**
   * Cleanup of what we own (closing an fd): never refused or cancelled, not even after the
   * session ended, and no deadline while queued (it waits for a slot like any call, so it is
   * still bounded); once running, its deadline only marks it stuck.
   */
  readonly cleanup?: boolean;
  /**
   * What the call touches (the FUSE path). While a call with this key is stuck past its
   * deadline, new ops with the key are answered ETIMEDOUT at once: they would hang the same way
   * and each would cost one more pool thread (the kernel retries a failed readahead with a
   * second read, and a second open of a file with a read in flight can even wait unkillably).
   */
  readonly key?: string;
}

export interface SchedulerStats extends BackendLimits {
  /** Backend calls holding a slot: running, including stuck ones. */
  readonly inFlight: number;
  readonly queued: number;
  /** Calls past their deadline that have not returned: each holds a slot and a pool thread. */
  readonly stuck: number;
  /** Ops answered ETIMEDOUT so far (queued, running, or at once because their key is stuck). */
  readonly timedOut: number;
  /** Ops refused because the queue was full. */
  readonly rejected: number;
  /** Ops answered EIO because the session ended (or the backend was declared failed). */
  readonly cancelled: number;
  readonly completed: number;
  readonly lanes: Readonly<Record<Lane, { readonly inFlight: number; readonly queued: number }>>;
}

export interface Scheduler {
  run<T>(op: string, work: (ctx: OpContext) => Promise<T>, opts?: RunOptions<T>): Promise<T>;
  stats(): SchedulerStats;
  /** Clear every timer and the session listener; answers nothing (abort the session for that). */
  close(): void;
}
