import { poolCallsPending } from '../sys/pool-calls.js';

/**
 * process.exit() runs libuv's uv_library_shutdown(), which joins every threadpool thread, so one
 * thread stuck in an fs call on a dead source holds the exit forever (measured: a process with
 * a read hung on a FUSE file never finished process.exit(0)). By the time the CLI exits, the
 * daemon has unmounted, written its state and removed its pidfile; only the exit is left, so it
 * ends with SIGKILL, which needs no thread to cooperate.
 */
export function exitProcess(code: number): void {
  const stuck = poolCallsPending();
  if (stuck > 0) {
    process.stderr.write(`mountie: ${stuck} fs calls on the source never returned and a normal exit would wait for them; exiting with SIGKILL instead of code ${code}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit(code);
}
