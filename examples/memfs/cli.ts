// The memfs command: `memfs mount <ws> [--tree JSON]`, `memfs stop <ws>`, `memfs status [<ws>]`.
// Its home: $MEMFS_HOME, else $XDG_STATE_HOME/memfs, else ~/.local/state/memfs (the kind decides).
import { parseArgs } from 'node:util';
import { isMountieError, MountieError } from 'mountie';
import { launch, status, stop } from 'mountie/launcher';
import { memfs } from './daemon.js';

const USAGE = 'usage: memfs mount <ws> [--tree JSON] | memfs stop <ws> | memfs status [<ws>]';
/** Exit codes as mountie's own command uses them: 2 bad input (nothing written), 3 already running, 4 failed to start. */
const EXIT: Partial<Record<string, number>> = { ERR_INVALID_NAME: 2, ERR_INVALID_OPTION: 2, ERR_CONFIG_CONFLICT: 2, ERR_WORKSPACE_LOCKED: 3 };
const usage = (message: string): MountieError => new MountieError('ERR_INVALID_OPTION', message, { hint: USAGE });
const attempt = <T>(what: string, fn: () => T): T => {
  try {
    return fn();
  } catch (err) {
    throw usage(`${what}: ${(err as Error).message}`);
  }
};

try {
  const { positionals: [cmd, ws], values } = attempt('arguments', () =>
    parseArgs({ allowPositionals: true, options: { tree: { type: 'string' } } }));
  if (cmd === 'mount' && ws) {
    const options = values.tree === undefined ? undefined : attempt('--tree', () => JSON.parse(values.tree as string));
    const { pid, mountpoint } = await launch(ws, { daemon: memfs, options, readOnly: true });
    console.log(`${ws}: mounted at ${mountpoint} (pid=${pid})`);
  } else if (cmd === 'stop' && ws) {
    const report = await stop(ws, { kind: memfs.kind });
    for (const p of report.processes) console.log(`${ws}: pid ${p.pid} ended by ${p.ended}`);
    if (report.cleaned.mount) console.log(`${ws}: stale mount cleaned`);
    process.exitCode = report.ok ? 0 : 1;
  } else if (cmd === 'status') {
    const all = await status(ws, { kind: memfs.kind });
    for (const s of all) console.log(`${s.workspace}  ${s.tokens.join(' ')}  ${s.mountpoint ?? ''}`);
    process.exitCode = all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? 1 : 0;
  } else throw usage(cmd ? `${cmd}: unknown command, or the workspace is missing` : 'no command');
} catch (err) {
  console.error(isMountieError(err) ? `memfs: ${err.message} (${err.code})${err.hint ? `\n  ${err.hint}` : ''}` : err);
  process.exitCode = isMountieError(err) ? (EXIT[err.code] ?? 4) : 70; // 70: a bug, its stack printed
}
