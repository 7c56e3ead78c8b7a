// The httpfs command: `httpfs mount <ws> --url URL [--timeout-ms N]`, `httpfs stop <ws>`, `httpfs status [<ws>]`.
// Its home: $HTTPFS_HOME, else $XDG_STATE_HOME/httpfs, else ~/.local/state/httpfs (the kind decides).
import { parseArgs } from 'node:util';
import { isMountieError, MountieError } from 'mountie';
import { exitCodeOf, hintOf, launch, status, stop } from 'mountie/launcher';
import { httpfs, type HttpInput } from './daemon.js';

const USAGE = 'usage: httpfs mount <ws> --url URL [--timeout-ms N] | httpfs stop <ws> | httpfs status [<ws>]';
const usage = (message: string): MountieError => new MountieError('ERR_INVALID_OPTION', message, { hint: USAGE });

function parse(): { cmd?: string; ws?: string; options?: HttpInput } {
  try {
    const flags = { url: { type: 'string' }, 'timeout-ms': { type: 'string' } } as const;
    const { positionals: [cmd, ws], values } = parseArgs({ allowPositionals: true, options: flags });
    const timeout = values['timeout-ms'] === undefined ? {} : { timeoutMs: Number(values['timeout-ms']) };
    // Options only when given: a later mount reuses those stored with the workspace.
    if (values.url === undefined && values['timeout-ms'] !== undefined) throw usage('--timeout-ms needs --url (options are given whole)');
    return { cmd, ws, options: values.url === undefined ? undefined : { url: values.url, ...timeout } };
  } catch (err) {
    throw usage(`bad arguments: ${(err as Error).message}`);
  }
}

try {
  const { cmd, ws, options } = parse();
  if (cmd === 'mount' && ws) {
    const { pid, mountpoint } = await launch(ws, { daemon: httpfs, options, readOnly: true });
    console.log(`${ws}: mounted at ${mountpoint} (pid=${pid})`);
  } else if (cmd === 'stop' && ws) {
    const report = await stop(ws, { kind: httpfs.kind });
    for (const p of report.processes) console.log(`${ws}: pid ${p.pid} ended by ${p.ended}`);
    if (report.cleaned.mount) console.log(`${ws}: stale mount cleaned`);
    if (report.processes.length === 0 && !report.cleaned.mount) console.log(`${ws}: nothing was running`);
    process.exitCode = report.ok ? 0 : 1;
  } else if (cmd === 'status') {
    const all = await status(ws, { kind: httpfs.kind });
    for (const s of all) {
      // The server's health, from the daemon's probe: active, degraded (it stopped answering), failed (for good).
      const live = s.state && (s.verdict === 'running' || s.verdict === 'failed');
      const health = live ? `  state=${s.state?.status}${s.state?.reason ? ` (${s.state.reason})` : ''}` : '';
      console.log(`${s.workspace}  ${s.tokens.join(' ')}  ${s.mountpoint ?? ''}${health}`);
    }
    process.exitCode = all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? 1 : 0;
  } else throw usage(`${cmd ?? 'no command'}: unknown command, or no workspace given`);
} catch (err) {
  const hint = hintOf(err);
  console.error(isMountieError(err) ? `httpfs: ${err.message} (${err.code})${hint ? `\n  ${hint}` : ''}` : err);
  // mountie's exit codes: 2 bad input (nothing written), 3 already running, 4 failed to start, 70 a bug.
  process.exitCode = exitCodeOf(err);
}
