import type { Logger } from './log.js';
import { TimeoutError, withTimeout } from '../sys/time.js';

/**
 * Shutdown in a fixed order under one total deadline. Idempotent: every trigger (signal, fatal
 * error, fencing, a lost mount) gets the same promise. A step that fails or overruns is logged and
 * the order continues; if the deadline passes, `force` runs (lazy unmount) and the exit code is
 * non-zero with the reason in the log. Steps marked `always` (flush state, remove the own pidfile,
 * release the lock) that the deadline left unstarted still run after `force`, each bounded by
 * `forcedStepMs`: a forced exit must not leave a pidfile and a state that say "running".
 */
export interface ShutdownStep {
  readonly name: string;
  /** Run even when the deadline passed before this step started (bounded, after `force`). */
  readonly always?: boolean;
  run(ctx: { readonly forced: boolean }): Promise<unknown> | unknown;
}

export interface ShutdownResult {
  readonly exitCode: number;
  readonly reason: string;
  readonly forced: boolean;
  readonly failedSteps: readonly string[];
}

export interface ShutdownOptions {
  readonly deadlineMs: number;
  readonly log: Logger;
  readonly steps: () => readonly ShutdownStep[];
  readonly force: () => Promise<unknown>;
  /** Bound of each `always` step run after the deadline. Default 1000 ms. */
  readonly forcedStepMs?: number;
  readonly now?: () => number;
}

export interface Shutdown {
  trigger(reason: string, exitCode: number): Promise<ShutdownResult>;
  readonly started: boolean;
  readonly done: Promise<ShutdownResult>;
}

export function createShutdown(opts: ShutdownOptions): Shutdown {
  const now = opts.now ?? Date.now;
  let running: Promise<ShutdownResult> | undefined;
  let resolveDone: (r: ShutdownResult) => void = () => undefined;
  const done = new Promise<ShutdownResult>((r) => (resolveDone = r));

  const execute = async (reason: string, exitCode: number): Promise<ShutdownResult> => {
    const deadline = now() + opts.deadlineMs;
    const failed: string[] = [];
    let forced = false;
    opts.log.info(`shutdown: ${reason}`);
    const steps = opts.steps();
    let started = 0;
    for (const step of steps) {
      const left = deadline - now();
      if (left <= 0) {
        forced = true;
        break;
      }
      started++;
      try {
        await withTimeout(`shutdown step ${step.name}`, left, Promise.resolve().then(() => step.run({ forced: false })));
      } catch (err) {
        failed.push(step.name);
        opts.log.error(`shutdown step ${step.name} failed`, err);
        // A step that ran out its own bound (the time left) ran out the deadline, even when the timer fired a
        // millisecond before the clock reads it (setTimeout and Date.now round apart).
        if ((err instanceof TimeoutError && err.what === `shutdown step ${step.name}`) || now() >= deadline) {
          forced = true;
          break;
        }
      }
    }
    if (forced) {
      opts.log.error(`shutdown deadline of ${opts.deadlineMs} ms passed; forcing (lazy unmount)`);
      await withTimeout('forced cleanup', 2000, Promise.resolve().then(opts.force)).catch((err: unknown) => opts.log.error('forced cleanup failed', err));
      // The step that overran is not run again (it may be the wedged one); later `always` steps are.
      for (const step of steps.slice(started).filter((s) => s.always)) {
        const ms = opts.forcedStepMs ?? 1000;
        try {
          await withTimeout(`forced step ${step.name}`, ms, Promise.resolve().then(() => step.run({ forced: true })));
        } catch (err) {
          failed.push(step.name);
          opts.log.error(`forced step ${step.name} failed`, err);
        }
      }
    }
    const code = forced && exitCode === 0 ? 1 : exitCode;
    const result: ShutdownResult = { exitCode: code, reason, forced, failedSteps: failed };
    opts.log.info(`shutdown complete: exit ${code}${failed.length ? ` (failed: ${failed.join(', ')})` : ''}`);
    resolveDone(result);
    return result;
  };

  return {
    trigger(reason, exitCode) {
      running ??= execute(reason, exitCode);
      return running;
    },
    get started() {
      return running !== undefined;
    },
    done,
  };
}
