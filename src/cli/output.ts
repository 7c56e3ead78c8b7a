import { isMountieError, MountieError } from '../errors.js';
import { fromSystemError } from '../sys/errno-error.js';
import { exitCodeOf } from '../launcher/exit.js';
import { colourWanted, createProgress, type Progress } from './tty.js';

export interface Out {
  line(text: string): void;
  err(text: string): void;
  json(doc: unknown): void;
  /** A log line as it is (already ends with a newline), to stderr: the foreground daemon's echo. */
  echo(text: string): void;
  /** A transient progress line on stderr, only on a TTY (undefined clears it); see tty.ts. */
  readonly progress?: Progress;
  /** stdout is a TTY: people read it (a table), not scripts. */
  readonly stdoutTty?: boolean;
  /** Colour on stdout is wanted (a TTY, no NO_COLOR). */
  readonly colour?: boolean;
}

/** Which of our standard streams are known broken (closed pipe, hung-up terminal). */
const broken = { stdout: false, stderr: false };

function write(name: keyof typeof broken, text: string): void {
  if (broken[name]) return;
  try {
    process[name].write(text);
  } catch {
    // A synchronous write (file, terminal) that throws: the stream is gone; stop writing to it.
    broken[name] = true;
  }
}

/** Did a write to this stream fail (its reader went away)? A follow ends then. */
export function outputBroken(name: keyof typeof broken): boolean {
  return broken[name];
}

export const stdio: Out = {
  line: (t) => write('stdout', t + '\n'),
  err: (t) => write('stderr', t + '\n'),
  json: (d) => write('stdout', JSON.stringify(d, null, 2) + '\n'),
  echo: (t) => write('stderr', t),
  progress: createProgress({ isTTY: process.stderr.isTTY, get columns() { return process.stderr.columns; }, write: (t: string) => write('stderr', t) }),
  stdoutTty: process.stdout.isTTY === true,
  colour: colourWanted(process.stdout),
};

/**
 * Swallow errors of process.stdout/stderr (EPIPE when the reader went away, EIO when the terminal
 * hung up): unhandled, each would be an uncaught exception, and a foreground daemon echoing its
 * log to that stream would turn each into another one. The reason to swallow: output is a
 * courtesy; the daemon's log file and exit code carry what matters. Later writes to a broken
 * stream are skipped. Returns the remover.
 */
export function guardStdio(onBroken?: (name: 'stdout' | 'stderr', err: unknown) => void): () => void {
  const handlers = (['stdout', 'stderr'] as const).map((name) => {
    const h = (err: unknown): void => {
      if (broken[name]) return;
      broken[name] = true;
      try {
        onBroken?.(name, err);
      } catch {
        // The callback is a report only; it must not turn a swallowed error into a thrown one.
      }
    };
    process[name].on('error', h);
    return [name, h] as const;
  });
  return () => {
    for (const [name, h] of handlers) process[name].off('error', h);
  };
}

/** The CLI's exit code for `err` (the same function authors get as `exitCodeOf`). */
export const exitCodeFor = exitCodeOf;

/** Every error says what went wrong and what to do; --json gets the same as a document. */
export function reportError(out: Out, raw: unknown, json: boolean): number {
  // An errno or timeout that reached the top is the environment's, not a bug: give it its code.
  const err = fromSystemError(raw);
  const code = exitCodeFor(err);
  if (json) {
    const e = isMountieError(err) ? err.toJSON() : { code: 'ERR_INTERNAL', message: String(err) };
    out.json({ schema: 'mountie.error/v1', exitCode: code, error: e });
    return code;
  }
  if (err instanceof MountieError) {
    out.err(`mountie: ${err.message} [${err.code}]`);
    const tail = err.data.logTail;
    const indent = (l: unknown): string => String(l).replace(/^/gm, '    ');
    if (Array.isArray(tail) && tail.length) out.err(`  last log lines:\n${tail.map(indent).join('\n')}`);
    // Its first line: the stack stays in the log (mountie logs <ws>).
    else if (typeof err.data.lastLogError === 'string') out.err(`  last error in the log: ${err.data.lastLogError.split('\n')[0] ?? ''}`);
    if (err.hint) out.err(`  what to do: ${err.hint}`);
  } else {
    out.err(`mountie: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    out.err('  what to do: this is a bug in mountie; please report it with the text above');
  }
  return code;
}
