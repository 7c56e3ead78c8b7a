import { lstat } from 'node:fs/promises';
import { MountieError, errnoCode } from '../../errors.js';
import { followLog, readLog } from '../../launcher/log-read.js';
import { renderEntry, type LogEntry } from '../../protocol/log-line.js';
import { resolveHome, workspacePaths } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { EXIT } from '../exit-codes.js';
import { outputBroken, type Out } from '../output.js';

export interface LogsFlags {
  readonly follow?: boolean;
  readonly lines: number;
  readonly json?: boolean;
}

export const DEFAULT_LOG_LINES = 50;
export const LOGS_SCHEMA = 'mountie.logs/v1';

/** How a follow ends: SIGINT/SIGTERM, or the reader of stdout gone. Returns the remover. */
function endOnInterrupt(stop: () => void): () => void {
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.once('error', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onSignal);
  };
}

/** `mountie logs <ws>`: the daemon log (daemon.log.1 then daemon.log) for people, or as mountie.logs/v1. */
export async function logsCommand(ws: string, flags: LogsFlags, out: Out): Promise<number> {
  const paths = workspacePaths(resolveHome(), validateName(ws));
  const dir = await lstat(paths.dir).catch((err: unknown) => (errnoCode(err) === 'ENOENT' ? undefined : Promise.reject(err)));
  if (!dir) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${paths.name}: it has no directory, so no log`, {
      data: { workspace: paths.name, path: paths.dir },
      hint: `run: mountie status   (lists the known workspaces)`,
    });
  }
  const read = await readLog(paths.log, { lines: flags.lines });
  const doc = (entries: readonly LogEntry[]): Record<string, unknown> => ({ schema: LOGS_SCHEMA, workspace: paths.name, logFile: paths.log, files: read.files.map(({ path, size }) => ({ path, size })), entries });
  if (flags.json && !flags.follow) out.json(doc(read.entries));
  else if (flags.json) out.line(JSON.stringify(doc(read.entries)));
  else {
    if (read.files.length === 0) out.err(`mountie: no log yet: ${paths.log} does not exist (the daemon writes it when it starts)`);
    for (const e of read.entries) out.line(renderEntry(e));
  }
  if (!flags.follow) return EXIT.ok;
  const ac = new AbortController();
  const remove = endOnInterrupt(() => ac.abort());
  try {
    const current = read.files.find((f) => f.path === paths.log);
    await followLog(paths.log, {
      signal: ac.signal,
      ...(current ? { from: current } : {}),
      onEntry: (e) => {
        if (flags.json) out.line(JSON.stringify({ schema: LOGS_SCHEMA, workspace: paths.name, logFile: paths.log, entries: [e] }));
        else out.line(renderEntry(e));
        if (outputBroken('stdout')) ac.abort();
      },
    });
  } finally {
    remove();
  }
  return EXIT.ok;
}
