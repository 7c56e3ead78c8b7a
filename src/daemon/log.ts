import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, renameSync, writeSync } from 'node:fs';
import { errnoCode } from '../errors.js';
import { formatRecord, parseLogLine, renderEntry, type LogLevel } from '../protocol/log-line.js';
import { FILE_MODE } from '../state/paths.js';

export interface Logger {
  info(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Optional so that loggers written against the older interface still fit. */
  warn?(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  error(msg: string, err?: unknown, fields?: Readonly<Record<string, unknown>>): void;
  close(): void;
}

export interface LoggerOptions {
  /** Foreground mode: each line rendered for people (src/protocol/log-line.ts), with its newline. */
  readonly echo?: (line: string) => void;
  readonly pid?: number;
  /** Rotate once the file would pass this size (default MOUNTIE_LOG_MAX_BYTES, else 4 MiB). */
  readonly maxBytes?: number;
}

export const DEFAULT_LOG_MAX_BYTES = 4 * 1024 * 1024;
/** The rotated generation: daemon.log → daemon.log.1 (one generation, so at most twice the cap on disk). */
export const ROTATED_SUFFIX = '.1';
const FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** MOUNTIE_LOG_MAX_BYTES: whole bytes from 1024 (tests rotate small logs); anything else is the default. */
export function logMaxBytesFromEnv(env: NodeJS.ProcessEnv): number {
  const n = Number(env.MOUNTIE_LOG_MAX_BYTES);
  return /^\d+$/.test(env.MOUNTIE_LOG_MAX_BYTES ?? '') && Number.isSafeInteger(n) && n >= 1024 ? n : DEFAULT_LOG_MAX_BYTES;
}

/**
 * The daemon's log: JSON lines (src/protocol/log-line.ts) with a size cap and one rotated file.
 * Writes are synchronous on purpose: a fatal error must reach the file before the process exits,
 * and lifecycle lines must not queue behind backend I/O on libuv's pool. The log never lives on
 * the mount, so a sync write cannot deadlock on our own FUSE. (pino would do JSON lines, but its
 * rotation (pino-roll) writes asynchronously from a worker and its file destination opens without
 * O_NOFOLLOW; this writer is the three promises and nothing else.)
 *
 * Rotation: before a line that would pass the cap, the file is renamed to daemon.log.1 (replacing
 * the previous one) and a new daemon.log is opened, O_NOFOLLOW again. If our file was moved
 * meanwhile (another rotation), only the reopen happens. If rotation fails, the file is truncated
 * instead, so the cap holds whatever happens; the first line after says so. The daemon's
 * stdout/stderr stay on the file it was started with (the launcher's fd): Node warnings written
 * after a rotation land in daemon.log.1.
 */
export function openLogger(path: string, opts: LoggerOptions = {}): Logger {
  // O_NOFOLLOW: a daemon.log planted as a symlink must not get our lines appended to its target.
  let fd: number | undefined = openSync(path, FLAGS, FILE_MODE);
  const pid = opts.pid ?? process.pid;
  const maxBytes = opts.maxBytes ?? logMaxBytesFromEnv(process.env);
  let size = sizeOf(fd);
  let echo = opts.echo;
  let note: string | undefined;

  const rotate = (current: number): number | undefined => {
    try {
      const mine = fstatSync(current);
      const there = lstatOrUndefined(path);
      if (there && there.ino === mine.ino && there.dev === mine.dev) renameSync(path, path + ROTATED_SUFFIX);
      const next = openSync(path, FLAGS, FILE_MODE);
      closeSync(current);
      size = sizeOf(next);
      return next;
    } catch (err) {
      // Could not rotate (a directory planted at daemon.log.1, a read-only directory): keep the cap by starting over.
      try {
        ftruncateSync(current, 0);
        size = 0;
        note = `log rotation failed (${errnoCode(err) ?? String(err)}); earlier lines were dropped to keep the log under ${maxBytes} bytes`;
      } catch {
        // Cannot even truncate: the lines keep going to the file we have; the disk decides.
      }
      return current;
    }
  };

  const writeLine = (line: string): void => {
    if (fd === undefined) return;
    try {
      if (size + Buffer.byteLength(line) > maxBytes) {
        // Our count misses what stderr appended to the same file: ask the file before rotating.
        size = sizeOf(fd);
        if (size > 0 && size + Buffer.byteLength(line) > maxBytes) fd = rotate(fd);
      }
      if (note !== undefined && fd !== undefined) {
        const n = formatRecord('warn', note, { pid });
        note = undefined;
        size += writeSync(fd, n);
      }
      if (fd !== undefined) size += writeSync(fd, line);
    } catch {
      // A full disk must not take the daemon down with it; the line is lost, the mount lives.
    }
  };

  const write = (level: LogLevel, msg: string, err: unknown, fields: Readonly<Record<string, unknown>> | undefined): void => {
    const line = formatRecord(level, msg, { pid, ...(err === undefined ? {} : { err }), ...(fields ? { fields } : {}) });
    writeLine(line);
    if (echo) {
      try {
        echo(renderEntry(parseLogLine(line.slice(0, -1))) + '\n');
      } catch {
        // A closed terminal or pipe (EIO, EPIPE): the file has the line; echo no more.
        echo = undefined;
      }
    }
  };
  return {
    info: (msg, fields) => write('info', msg, undefined, fields),
    warn: (msg, fields) => write('warn', msg, undefined, fields),
    error: (msg, err, fields) => write('error', msg, err, fields),
    close: () => {
      if (fd === undefined) return;
      try {
        closeSync(fd);
      } catch {
        // Closing a log fd can only fail if it is already closed.
      }
      fd = undefined;
    },
  };
}

function sizeOf(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    // An fd we just opened cannot fail fstat short of a kernel bug; count from zero then.
    return 0;
  }
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    // Gone (moved by another rotation): nothing to rename, only a fresh file to open.
    return undefined;
  }
}
