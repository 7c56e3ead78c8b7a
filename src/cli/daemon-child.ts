/**
 * The process every daemon runs, mountie's passthrough and any other kind's alike (the launcher
 * spawns it, src/launcher/start.ts; the work is src/daemon/child.ts). Only src/cli exits.
 */
import { exitCodeForStartError } from '../daemon/run-exit.js';
import { runChild } from '../daemon/child.js';
import { exitProcess } from './exit.js';
import { packageVersion } from './version.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

runChild(process.argv.slice(2), { version: packageVersion(), log }).then(
  (code) => exitProcess(code),
  (err: unknown) => {
    // The harness reported a start failure on the channel and in daemon.log already.
    log(`daemon child: ${err instanceof Error ? err.message : String(err)}`);
    return exitProcess(exitCodeForStartError(err));
  },
);
