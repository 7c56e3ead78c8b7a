/**
 * The one gate every backend (source) fs call goes through. A hung fs call keeps its libuv pool
 * thread until it returns and cannot be cancelled, so the scheduler:
 * - counts a call against its slot until the call REALLY returns, not until FUSE got an answer;
 * - keeps `reserve` pool threads free of backend calls (state, pidfile, log, health probe);
 * - splits backend slots into two lanes (namespace ops vs file data) so a hung data path cannot
 *   take the last thread a stat needs, and vice versa;
 * - answers every op by its deadline (ETIMEDOUT), queued or running, and every op at once with
 *   EIO when the session ends. See ARCHITECTURE.md, "Backend I/O".
 */
import { MountieError } from '../../errors.js';
import { trackPoolCall } from '../../sys/pool-calls.js';
import { backendLimits } from './limits.js';
import type { Lane, OpContext, RunOptions, Scheduler, SchedulerOptions, SchedulerTimers } from './types.js';

export type { Lane, OpContext, RunOptions, Scheduler, SchedulerOptions, SchedulerStats, SchedulerTimers } from './types.js';

export const DEFAULT_DEADLINE_MS = 5000;
export const DEFAULT_MAX_QUEUE = 1024;

const LANES: readonly Lane[] = ['meta', 'data'];

const realTimers: SchedulerTimers = {
  // unref: a scheduler never keeps a process alive by itself; the mount does that.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Entry {
  readonly op: string;
  readonly lane: Lane;
  readonly work: (ctx: OpContext) => Promise<unknown>;
  readonly onLate: ((value: unknown) => void) | undefined;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  /** Submission order: FIFO across the two lane queues. */
  readonly seq: number;
  readonly cleanup: boolean;
  readonly key: string | undefined;
  state: 'queued' | 'running' | 'done';
  answered: boolean;
  pastDeadline: boolean;
  timer: unknown;
  controller: AbortController | undefined;
}

export function createScheduler(opts: SchedulerOptions = {}): Scheduler {
  const limits = backendLimits(opts);
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
  const timers = opts.timers ?? realTimers;
  const session = opts.signal;
  // A Set keeps insertion order and deletes in O(1): FIFO that a deadline can cut into.
  const queues: Record<Lane, Set<Entry>> = { meta: new Set(), data: new Set() };
  const running = new Set<Entry>();
  const busy: Record<Lane, number> = { meta: 0, data: 0 };
  const count = { stuck: 0, timedOut: 0, rejected: 0, cancelled: 0, completed: 0 };
  /** Keys of stuck calls, with how many of them are stuck. */
  const stuckKeys = new Map<string, number>();
  let seq = 0;

  const fail = (code: 'ERR_DEADLINE' | 'ERR_CANCELLED' | 'ERR_BACKEND_BUSY', errno: string, e: Entry, msg: string): Error =>
    new MountieError(code, `${e.op}: ${msg}`, { data: { op: e.op, lane: e.lane, errno } });
  const cancel = (e: Entry): void => {
    count.cancelled++;
    answer(e, fail('ERR_CANCELLED', 'EIO', e, 'cancelled: the daemon is shutting down or the source failed'));
  };

  const answer = (e: Entry, err: Error): void => {
    e.answered = true;
    e.reject(err);
  };

  const canStart = (lane: Lane): boolean => busy.meta + busy.data < limits.limit && busy[lane] < limits.laneLimit;

  /** Start queued ops, oldest first across both lanes, while slots allow. */
  const dispatch = (): void => {
    for (;;) {
      let next: Entry | undefined;
      for (const lane of LANES) {
        const head = queues[lane].values().next().value;
        if (head && canStart(lane) && (!next || head.seq < next.seq)) next = head;
      }
      if (!next) return;
      queues[next.lane].delete(next);
      start(next);
    }
  };

  const start = (e: Entry): void => {
    e.state = 'running';
    e.timer ??= timers.setTimeout(() => onDeadline(e), deadlineMs);
    running.add(e);
    busy[e.lane]++;
    const ctx: OpContext = {
      get signal() {
        e.controller ??= new AbortController();
        if (e.answered && !e.controller.signal.aborted) e.controller.abort();
        return e.controller.signal;
      },
    };
    let call: Promise<unknown>;
    try {
      call = e.work(ctx);
    } catch (err) {
      call = Promise.reject(err);
    }
    trackPoolCall(call).then(
      (v) => settle(e, () => e.resolve(v), () => e.onLate?.(v)),
      (err: unknown) => settle(e, () => e.reject(err instanceof Error ? err : new Error(String(err))), () => undefined),
    );
  };

  const settle = (e: Entry, inTime: () => void, late: () => void): void => {
    running.delete(e);
    busy[e.lane]--;
    count.completed++;
    if (e.pastDeadline) {
      count.stuck--;
      if (e.key !== undefined) {
        const n = (stuckKeys.get(e.key) ?? 1) - 1;
        if (n > 0) stuckKeys.set(e.key, n);
        else stuckKeys.delete(e.key);
      }
    }
    if (e.timer !== undefined) timers.clearTimeout(e.timer);
    e.state = 'done';
    // The slot is free only now, when the fs call has really returned.
    dispatch();
    if (!e.answered) {
      e.answered = true;
      return inTime();
    }
    try {
      late();
    } catch {
      // A failing late-result cleanup must not break the scheduler; the op was answered long ago.
    }
  };

  const onDeadline = (e: Entry): void => {
    e.timer = undefined;
    if (e.state === 'queued') {
      queues[e.lane].delete(e);
      e.state = 'done';
    } else if (e.state === 'running') {
      e.pastDeadline = true;
      count.stuck++;
      if (e.key !== undefined) stuckKeys.set(e.key, (stuckKeys.get(e.key) ?? 0) + 1);
      e.controller?.abort();
    }
    if (e.answered) return;
    count.timedOut++;
    answer(e, fail('ERR_DEADLINE', 'ETIMEDOUT', e, `no answer from the source within ${deadlineMs} ms`));
  };

  const cancelAll = (): void => {
    for (const lane of LANES) {
      // Queued ops never run: answering them removes them for good.
      for (const e of queues[lane]) {
        if (e.cleanup) continue;
        if (e.timer !== undefined) timers.clearTimeout(e.timer);
        queues[lane].delete(e);
        e.state = 'done';
        cancel(e);
      }
    }
    // Running calls keep their slots (and deadline timers, to show as stuck) until they return.
    for (const e of running) {
      e.controller?.abort();
      if (!e.answered && !e.cleanup) cancel(e);
    }
  };
  session?.addEventListener('abort', cancelAll, { once: true });

  return {
    run<T>(op: string, work: (ctx: OpContext) => Promise<T>, runOpts: RunOptions<T> = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const cleanup = runOpts.cleanup === true;
        const e: Entry = {
          op,
          lane: runOpts.lane ?? 'meta',
          work,
          onLate: runOpts.onLate as ((v: unknown) => void) | undefined,
          resolve: resolve as (v: unknown) => void,
          reject,
          seq: seq++,
          cleanup,
          key: cleanup ? undefined : runOpts.key,
          state: 'queued',
          answered: false,
          pastDeadline: false,
          timer: undefined,
          controller: undefined,
        };
        if (session?.aborted && !e.cleanup) return cancel(e);
        if (e.key !== undefined && stuckKeys.has(e.key)) {
          count.timedOut++;
          return answer(e, fail('ERR_DEADLINE', 'ETIMEDOUT', e, `an earlier call on ${e.key} is stuck in the source`));
        }
        if (queues[e.lane].size === 0 && canStart(e.lane)) return start(e);
        if (!e.cleanup && queues.meta.size + queues.data.size >= maxQueue) {
          count.rejected++;
          return answer(e, fail('ERR_BACKEND_BUSY', 'EIO', e, `refused: ${maxQueue} ops already wait for the source`));
        }
        if (!e.cleanup) e.timer = timers.setTimeout(() => onDeadline(e), deadlineMs);
        queues[e.lane].add(e);
      });
    },
    stats() {
      return {
        ...limits,
        inFlight: running.size,
        queued: queues.meta.size + queues.data.size,
        ...count,
        lanes: { meta: { inFlight: busy.meta, queued: queues.meta.size }, data: { inFlight: busy.data, queued: queues.data.size } },
      };
    },
    close() {
      session?.removeEventListener('abort', cancelAll);
      for (const e of [...running, ...queues.meta, ...queues.data]) {
        if (e.timer !== undefined) timers.clearTimeout(e.timer);
        e.timer = undefined;
      }
    },
  };
}
