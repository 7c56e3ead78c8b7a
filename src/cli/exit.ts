import { poolCallsPending } from '../sys/pool-calls.js';

/** How long an exit waits for fs calls on the source that are merely in flight to return. */
export const EXIT_DRAIN_MS = 1000;

export interface ExitDeps {
  readonly pending: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly warn: (line: string) => void;
  readonly kill: () => void;
  readonly exit: (code: number) => void;
}

export const realDeps: ExitDeps = {
  pending: poolCallsPending,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
  warn: (line) => process.stderr.write(line),
  kill: () => process.kill(process.pid, 'SIGKILL'),
  exit: (code) => process.exit(code),
};

/**
 * process.exit() runs libuv's uv_library_shutdown(), which joins every threadpool thread, so one
 * thread stuck in an fs call on a dead source holds the exit forever (measured: a process with
 * a read hung on a FUSE file never finished process.exit(0)). By the time the CLI exits, the
 * daemon has unmounted, written its state and removed its pidfile; only the exit is left.
 *
 * A call merely in flight (a health probe, an op answered at shutdown whose syscall is still
 * finishing) returns within milliseconds: wait for those up to `drainMs`, then exit with the
 * code. Only calls still out after that end the process with SIGKILL, which needs no thread to
 * cooperate (the shell then sees 128+9; the message says which code it replaces).
 */
export async function exitProcess(code: number, drainMs = EXIT_DRAIN_MS, deps: ExitDeps = realDeps): Promise<void> {
  const until = deps.now() + drainMs;
  while (deps.pending() > 0 && deps.now() < until) await deps.sleep(Math.min(20, Math.max(1, until - deps.now())));
  const stuck = deps.pending();
  if (stuck > 0) {
    deps.warn(`mountie: ${stuck} fs calls on the source never returned and a normal exit would wait for them; exiting with SIGKILL instead of code ${code}\n`);
    deps.kill();
  }
  deps.exit(code);
}
