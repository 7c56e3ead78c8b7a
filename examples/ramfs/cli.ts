// The ramfs command: `ramfs mount <ws> [--at DIR] [--allow-other]`, `ramfs stop <ws>`, `ramfs status [<ws>]`;
// each with --json for one JSON document on stdout instead of lines. Its home: $RAMFS_HOME, else
// $XDG_STATE_HOME/ramfs, else ~/.local/state/ramfs (the kind decides).
import { parseArgs } from 'node:util';
import { isMountieError, MountieError } from 'mountie';
import { exitCodeOf, launch, status, stop } from 'mountie/launcher';
import { ramfs } from './daemon.js';

const USAGE = 'usage: ramfs mount <ws> [--at DIR] [--allow-other] | ramfs stop <ws> | ramfs status [<ws>]   (each takes --json)';
const usage = (message: string): MountieError => new MountieError('ERR_INVALID_OPTION', message, { hint: USAGE });

function parse(): { cmd?: string; ws?: string; at?: string; allowOther?: boolean; json: boolean } {
  try {
    const flags = { at: { type: 'string' }, 'allow-other': { type: 'boolean' }, json: { type: 'boolean' } } as const;
    const { positionals: [cmd, ws, extra], values } = parseArgs({ allowPositionals: true, options: flags });
    if (extra !== undefined) throw new Error(`unexpected argument ${extra}`);
    // --allow-other only when given: a later mount reuses the stored setting (pjdfstest needs it: it switches uids).
    return { cmd, ws, at: values.at, allowOther: values['allow-other'], json: values.json === true };
  } catch (err) {
    throw usage(`bad arguments: ${(err as Error).message}`);
  }
}

const json = process.argv.includes('--json');
try {
  const { cmd, ws, at, allowOther } = parse();
  const print = (doc: unknown, lines: () => void): void => (json ? console.log(JSON.stringify(doc, null, 2)) : lines());
  if (cmd === 'mount' && ws) {
    const r = await launch(ws, { daemon: ramfs, ...(at === undefined ? {} : { at }), ...(allowOther === undefined ? {} : { allowOther }) });
    print({ workspace: ws, pid: r.pid, mountpoint: r.mountpoint }, () => console.log(`${ws}: mounted at ${r.mountpoint} (pid=${r.pid})`));
  } else if (cmd === 'stop' && ws) {
    const report = await stop(ws, { kind: ramfs.kind });
    print(report, () => {
      for (const p of report.processes) console.log(`${ws}: pid ${p.pid} ended by ${p.ended}`);
      if (report.cleaned.mount) console.log(`${ws}: stale mount cleaned`);
      if (report.processes.length === 0 && !report.cleaned.mount) console.log(`${ws}: nothing was running`);
    });
    process.exitCode = report.ok ? 0 : 1;
  } else if (cmd === 'status') {
    const all = await status(ws, { kind: ramfs.kind });
    // The JSON carries state.json's view too: status, counters, and the data path (native).
    print(all, () => {
      for (const s of all) console.log(`${s.workspace}  ${s.tokens.join(' ')}  ${s.mountpoint ?? ''}${s.state?.dataPath ? `  data=${s.state.dataPath}` : ''}`);
    });
    process.exitCode = all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? 1 : 0;
  } else throw usage(`${cmd ?? 'no command'}: unknown command, or no workspace given`);
} catch (err) {
  const code = isMountieError(err) ? err.code : 'ERR_INTERNAL';
  if (json) console.log(JSON.stringify({ error: { code, message: (err as Error).message } }));
  console.error(isMountieError(err) ? `ramfs: ${err.message} (${err.code})${err.hint ? `\n  ${err.hint}` : ''}` : err);
  // mountie's exit codes (exitCodeOf): 2 bad input or environment (nothing written), 3 already running, 4 failed to start, 70 a bug.
  process.exitCode = exitCodeOf(err);
}
