// The memfs command: `memfs mount <ws> [--tree JSON]`, `memfs stop <ws>`, `memfs status [<ws>]`.
// Its home: $MEMFS_HOME, else $XDG_STATE_HOME/memfs, else ~/.local/state/memfs (the kind decides).
import { parseArgs } from 'node:util';
import { isMountieError, MountieError } from 'mountie';
import { exitCodeOf, hintOf, launch, status, stop } from 'mountie/launcher';
import { memfs } from './daemon.js';

const USAGE = 'usage: memfs mount <ws> [--tree JSON] | memfs stop <ws> | memfs status [<ws>]';
const usage = (message: string): MountieError => new MountieError('ERR_INVALID_OPTION', message, { hint: USAGE });

function parse(): { cmd?: string; ws?: string; tree?: unknown } {
  try {
    const flags = { tree: { type: 'string' } } as const;
    const { positionals: [cmd, ws], values } = parseArgs({ allowPositionals: true, options: flags });
    return { cmd, ws, tree: values.tree === undefined ? undefined : JSON.parse(values.tree) };
  } catch (err) {
    throw usage(`bad arguments: ${(err as Error).message}`);
  }
}

try {
  const { cmd, ws, tree } = parse();
  if (cmd === 'mount' && ws) {
    const { pid, mountpoint } = await launch(ws, { daemon: memfs, options: tree, readOnly: true });
    console.log(`${ws}: mounted at ${mountpoint} (pid=${pid})`);
  } else if (cmd === 'stop' && ws) {
    const report = await stop(ws, { kind: memfs.kind });
    for (const p of report.processes) console.log(`${ws}: pid ${p.pid} ended by ${p.ended}`);
    if (report.cleaned.mount) console.log(`${ws}: stale mount cleaned`);
    if (report.processes.length === 0 && !report.cleaned.mount) console.log(`${ws}: nothing was running`);
    process.exitCode = report.ok ? 0 : 1;
  } else if (cmd === 'status') {
    const all = await status(ws, { kind: memfs.kind });
    for (const s of all) console.log(`${s.workspace}  ${s.tokens.join(' ')}  ${s.mountpoint ?? ''}`);
    process.exitCode = all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? 1 : 0;
  } else throw usage(`${cmd ?? 'no command'}: unknown command, or no workspace given`);
} catch (err) {
  const hint = hintOf(err);
  console.error(isMountieError(err) ? `memfs: ${err.message} (${err.code})${hint ? `\n  ${hint}` : ''}` : err);
  // mountie's exit codes: 2 bad input (nothing written), 3 already running, 4 failed to start, 70 a bug.
  process.exitCode = exitCodeOf(err);
}
