/**
 * The process every daemon runs, mountie's passthrough and any other kind's alike (the launcher
 * spawns it, src/launcher/start.ts; the work is src/daemon/child.ts). Only src/cli exits.
 */
import { exitCodeForStartError } from '../daemon/run-exit.js';
import { runChild } from '../daemon/child.js';
import { addonCall } from '../daemon/native/addon-call.js';
import { EXIT_DRAIN_MS, exitProcess, realDeps } from './exit.js';
import { packageVersion } from './version.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * The daemon's last act, once its shutdown is done (unmounted, state.json fsynced, pidfile removed,
 * lock released; its log and channel writes are synchronous): _exit through the addon
 * (native/src/exit.c), which skips Node's ordered teardown, the join of a 64-thread pool above all
 * (20–70 ms of a `stop` under load). process.exit where the addon has no quickExit.
 */
const deps = {
  ...realDeps,
  exit: (code: number): void => {
    addonCall('quickExit')?.(code);
    process.exit(code);
  },
};

runChild(process.argv.slice(2), { version: packageVersion(), log }).then(
  (code) => exitProcess(code, EXIT_DRAIN_MS, deps),
  (err: unknown) => {
    // The harness reported a start failure on the channel and in daemon.log already.
    log(`daemon child: ${err instanceof Error ? err.message : String(err)}`);
    return exitProcess(exitCodeForStartError(err), EXIT_DRAIN_MS, deps);
  },
);
