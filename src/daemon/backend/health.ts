/**
 * The mount's health: active → degraded (slow or failing probes, or backend ops timing out,
 * stuck or waiting for a slot) → failed (terminal), and back to active after `recoverAfter`
 * clean checks. The probe (a stat of the source root) runs in JavaScript, beside the native
 * core's workers. It takes a pool thread, and a probe on a dead source keeps it, so at most one probe is ever outstanding: while one is
 * unanswered no other is issued, and each check meanwhile counts as a failure.
 */
import { stat } from 'node:fs/promises';
import { errnoCode } from '../../errors.js';
import { trackPoolCall } from '../../sys/pool-calls.js';

/** The timers the monitor uses (a test passes fake ones). */
export interface MonitorTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type MountHealth = 'active' | 'degraded' | 'failed';

/** What the monitor weighs of the data path's load (./native/state-view.ts). */
export interface BackendLoad {
  readonly inFlight: number;
  readonly queued: number;
  readonly stuck: number;
  readonly timedOut: number;
  readonly limit: number;
}

export interface HealthReport {
  readonly status: MountHealth;
  readonly reason?: string;
  /** Duration of the last answered probe. */
  readonly probeMs?: number;
  readonly probeError?: string;
  readonly consecutiveFailures: number;
}

export interface HealthOptions {
  /** Resolves when the backend looks alive; rejects with an errno error otherwise. */
  readonly probe: () => Promise<unknown>;
  readonly load?: () => BackendLoad;
  /** Default 2000 ms between the end of one check and the start of the next. */
  readonly intervalMs?: number;
  /** A probe not answered by then is a failure (it stays outstanding). Default 1000 ms. */
  readonly probeTimeoutMs?: number;
  /** A probe answered slower than this degrades the mount. Default 250 ms. */
  readonly slowMs?: number;
  /** Consecutive failed checks before the mount is failed for good. Default 5. */
  readonly failAfter?: number;
  /** Consecutive clean checks before degraded becomes active again. Default 2. */
  readonly recoverAfter?: number;
  readonly timers?: MonitorTimers;
  readonly now?: () => number;
  /** Status or reason changed. Never called after stop(). */
  readonly onChange: (report: HealthReport) => void;
  /** After every check (to publish probe numbers). Never called after stop(). */
  readonly onCheck?: (report: HealthReport) => void;
}

export interface HealthMonitor {
  report(): HealthReport;
  /** No check starts and nothing is reported once called; resolves at once. */
  stop(): Promise<void>;
}

/** Errors that say the source directory itself is gone: the mount cannot come back. */
const GONE = new Set(['ENOENT', 'ENOTDIR', 'ESTALE']);

/** The default probe: the source root must still be a directory. */
export function probeDirectory(path: string): () => Promise<void> {
  return async () => {
    const st = await trackPoolCall(stat(path));
    if (!st.isDirectory()) throw Object.assign(new Error(`${path} is no longer a directory`), { code: 'ENOTDIR' });
  };
}

const defaultTimers: MonitorTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

type Outcome = { kind: 'ok'; ms: number } | { kind: 'fail' | 'gone'; why: string; ms?: number };

export function startHealthMonitor(opts: HealthOptions): HealthMonitor {
  const timers = opts.timers ?? defaultTimers;
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? 2000;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
  const slowMs = opts.slowMs ?? 250;
  const failAfter = opts.failAfter ?? 5;
  const recoverAfter = opts.recoverAfter ?? 2;
  let report: HealthReport = { status: 'active', consecutiveFailures: 0 };
  let stopped = false;
  let timer: unknown;
  let outstandingSince: number | undefined;
  let goodChecks = 0;
  let lastTimedOut = opts.load?.().timedOut ?? 0;

  const runProbe = (): Promise<Outcome> => {
    const t0 = now();
    outstandingSince = t0;
    const probe = Promise.resolve().then(opts.probe);
    const settled = probe.then(
      (): Outcome => ({ kind: 'ok', ms: now() - t0 }),
      (err: unknown): Outcome => {
        const code = errnoCode(err) ?? (err instanceof Error ? err.message : String(err));
        return { kind: GONE.has(code) ? 'gone' : 'fail', why: code, ms: now() - t0 };
      },
    );
    void settled.then(() => (outstandingSince = undefined));
    let deadline: unknown;
    const timeout = new Promise<Outcome>((resolve) => {
      deadline = timers.setTimeout(() => resolve({ kind: 'fail', why: `no answer within ${probeTimeoutMs} ms` }), probeTimeoutMs);
    });
    return Promise.race([settled, timeout]).finally(() => timers.clearTimeout(deadline));
  };

  const troublesOf = (o: Outcome): string[] => {
    const t: string[] = [];
    if (o.kind === 'fail') t.push(`probe of the source failed: ${o.why}`);
    else if (o.kind === 'ok' && o.ms > slowMs) t.push(`source slow: probe took ${o.ms} ms`);
    const load = opts.load?.();
    if (load) {
      const timedOut = load.timedOut - lastTimedOut;
      lastTimedOut = load.timedOut;
      if (timedOut > 0) t.push(`${timedOut} ops timed out`);
      if (load.stuck > 0) t.push(`${load.stuck} source calls stuck`);
      if (load.queued > 0 && load.inFlight >= load.limit) t.push(`all ${load.limit} backend slots busy, ${load.queued} ops queued`);
    }
    return t;
  };

  const set = (next: HealthReport): void => {
    const changed = next.status !== report.status || next.reason !== report.reason;
    report = next;
    if (changed && !stopped) opts.onChange(report);
  };

  const evaluate = (o: Outcome): void => {
    if (stopped || report.status === 'failed') return;
    const failures = o.kind === 'ok' ? 0 : report.consecutiveFailures + 1;
    const probe = { consecutiveFailures: failures, ...(o.ms === undefined ? {} : { probeMs: o.ms }), ...(o.kind === 'ok' ? {} : { probeError: o.why }) };
    if (o.kind === 'gone') return set({ ...probe, status: 'failed', reason: `source directory gone (${o.why})` });
    if (failures >= failAfter) return set({ ...probe, status: 'failed', reason: `${failures} failed probes in a row, last: ${o.kind === 'fail' ? o.why : ''}` });
    const troubles = troublesOf(o);
    if (troubles.length > 0) {
      goodChecks = 0;
      return set({ ...probe, status: 'degraded', reason: troubles.join('; ') });
    }
    goodChecks++;
    if (report.status === 'degraded' && goodChecks < recoverAfter) return set({ ...report, ...probe });
    set({ ...probe, status: 'active' });
  };

  const check = async (): Promise<void> => {
    const o: Outcome =
      outstandingSince === undefined ? await runProbe() : { kind: 'fail', why: `previous probe unanswered for ${now() - outstandingSince} ms` };
    evaluate(o);
    if (!stopped) opts.onCheck?.(report);
  };

  const schedule = (): void => {
    // failed is terminal: nothing more to learn, and no reason to keep touching the source.
    if (stopped || report.status === 'failed') return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void check().finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    report: () => report,
    stop: async () => {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      // A check still waiting for its probe is not awaited (that probe may never return, and
      // shutdown has a deadline): `stopped` already keeps it from reporting anything.
    },
  };
}
