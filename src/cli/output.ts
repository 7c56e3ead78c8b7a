import { fstatSync, writeSync } from 'node:fs';
import { errnoCode, isMountieError, MountieError } from '../errors.js';
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

const FD = { stdout: 1, stderr: 2 } as const;

/**
 * How each standard stream is written. A file, a terminal or another character device (/dev/null)
 * straight to its fd with writeSync: Node's own stream writes those synchronously as well, so
 * nothing changes but the cost of making the stream (process.stdout loads `stream`, a terminal's
 * `tty` and `net`: 5-8 ms of every command's start-up; BENCHMARKS.md, issue 18). A pipe or a
 * socket through the stream (libuv's, which queues when the pipe is full instead of blocking).
 * Decided at the first write; a write that meets EAGAIN (a non-blocking file description shared
 * with someone else) hands that stream over to process.stdout/stderr for good, so the order holds.
 */
const via: { stdout?: 'fd' | 'stream'; stderr?: 'fd' | 'stream' } = {};

function wayOf(name: keyof typeof broken): 'fd' | 'stream' {
  let way = via[name];
  if (way === undefined) {
    try {
      const st = fstatSync(FD[name]);
      way = st.isFile() || st.isCharacterDevice() ? 'fd' : 'stream';
    } catch {
      way = 'stream'; // closed (EBADF): Node's stream stands in for it
    }
    via[name] = way;
  }
  return way;
}

function write(name: keyof typeof broken, text: string): void {
  if (broken[name]) return;
  try {
    if (wayOf(name) === 'stream') {
      process[name].write(text);
      return;
    }
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(FD[name], buf, off);
    } catch (err) {
      if (errnoCode(err) !== 'EAGAIN') throw err;
      via[name] = 'stream';
      process[name].write(buf.subarray(off));
    }
  } catch {
    // A synchronous write (file, terminal) that throws: the stream is gone; stop writing to it.
    broken[name] = true;
  }
}

/**
 * isatty(fd) without making the stream: only a character device can be a terminal, and not one
 * of the memory devices (major 1: /dev/null, /dev/zero); for the others the stream tells.
 */
function isTty(name: keyof typeof broken): boolean {
  try {
    const st = fstatSync(FD[name]);
    if (!st.isCharacterDevice() || (st.rdev < 2 ** 32 && (Math.floor(st.rdev / 256) & 0xfff) === 1)) return false;
  } catch {
    return false;
  }
  return process[name].isTTY === true;
}

/** Raw text to stdout or stderr as the rest of the output goes (commander's help, version and usage errors). */
export function writeStd(name: keyof typeof broken, text: string): void {
  write(name, text);
}

/** Did a write to this stream fail (its reader went away)? A follow ends then. */
export function outputBroken(name: keyof typeof broken): boolean {
  return broken[name];
}

const stderrTty = isTty('stderr');
const stdoutTty = isTty('stdout');

export const stdio: Out = {
  line: (t) => write('stdout', t + '\n'),
  err: (t) => write('stderr', t + '\n'),
  json: (d) => write('stdout', JSON.stringify(d, null, 2) + '\n'),
  echo: (t) => write('stderr', t),
  progress: createProgress({ isTTY: stderrTty, get columns() { return process.stderr.columns; }, write: (t: string) => write('stderr', t) }),
  stdoutTty,
  colour: colourWanted({ isTTY: stdoutTty, write: () => undefined }),
};

/** Run `attach` on process[name] once something makes it (its getter is lazy: making it costs, see `via`); the result undoes it. */
function whenMade(name: keyof typeof broken, attach: (s: NodeJS.WriteStream) => void, detach: (s: NodeJS.WriteStream) => void): () => void {
  const desc = Object.getOwnPropertyDescriptor(process, name);
  const get = desc?.get;
  if (!desc || !get || !desc.configurable) {
    attach(process[name]);
    return () => detach(process[name]);
  }
  let made: NodeJS.WriteStream | undefined;
  Object.defineProperty(process, name, {
    ...desc,
    get() {
      const s = get.call(process) as NodeJS.WriteStream;
      if (made === undefined) {
        made = s;
        Object.defineProperty(process, name, desc);
        attach(s);
      }
      return s;
    },
  });
  return () => {
    if (made) detach(made);
    else Object.defineProperty(process, name, desc);
  };
}

/**
 * Swallow errors of process.stdout/stderr (EPIPE when the reader went away, EIO when the terminal
 * hung up): unhandled, each would be an uncaught exception, and a foreground daemon echoing its
 * log to that stream would turn each into another one. The reason to swallow: output is a
 * courtesy; the daemon's log file and exit code carry what matters. Later writes to a broken
 * stream are skipped. The handlers go on when the stream is first made (most commands never make
 * it: see `via`). Returns the remover.
 */
export function guardStdio(onBroken?: (name: 'stdout' | 'stderr', err: unknown) => void): () => void {
  const removers = (['stdout', 'stderr'] as const).map((name) => {
    const h = (err: unknown): void => {
      if (broken[name]) return;
      broken[name] = true;
      try {
        onBroken?.(name, err);
      } catch {
        // The callback is a report only; it must not turn a swallowed error into a thrown one.
      }
    };
    return whenMade(
      name,
      (s) => s.on('error', h),
      (s) => s.off('error', h),
    );
  });
  return () => {
    for (const remove of removers) remove();
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
