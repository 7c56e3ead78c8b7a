import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { levelOf, parseLogLine, renderEntry, type LogEntry } from '../protocol/log-line.js';
import { fromSystemError } from '../sys/errno-error.js';

/** The rotated generation beside a log (src/daemon/log.ts writes it). */
export const rotatedOf = (path: string): string => `${path}.1`;
/** How much of each file is read from its end: far above the writer's 4 MiB cap, so a whole rotated pair. */
const WINDOW = 16 * 1024 * 1024;
/** A line without its newline longer than this is passed on as it is (a writer died mid-line). */
const PARTIAL_MAX = 64 * 1024;
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface LogFileInfo {
  readonly path: string;
  readonly size: number;
  /** Which file it was (a follow that starts after this read knows whether it rotated meanwhile). */
  readonly ino: number;
}

export interface LogRead {
  readonly entries: readonly LogEntry[];
  /** The files read, oldest first (daemon.log.1, daemon.log); a missing one is not listed. */
  readonly files: readonly LogFileInfo[];
}

/**
 * Open a log for reading: never through a symlink (O_NOFOLLOW), never anything but a regular
 * file (a FIFO planted there would block a read forever; O_NONBLOCK keeps even the open from
 * waiting). undefined when it does not exist.
 */
export async function openLogFile(path: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, FLAGS);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, { path, doing: 'open' });
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new MountieError(st.isDirectory() ? 'ERR_IS_DIRECTORY' : 'ERR_ENVIRONMENT', `the log ${path} is not a regular file`, {
      data: { path },
      hint: `remove ${path} (while the workspace is stopped); the daemon writes a new one`,
    });
  }
  return fh;
}

async function readTail(path: string): Promise<{ lines: string[]; size: number; ino: number } | undefined> {
  const fh = await openLogFile(path);
  if (!fh) return undefined;
  try {
    const { size, ino } = await fh.stat();
    const len = Math.min(size, WINDOW);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, size - len);
    const lines = buf.subarray(0, bytesRead).toString('utf8').split('\n');
    if (len < size) lines.shift(); // cut mid-line by the window
    if (lines[lines.length - 1] === '') lines.pop();
    return { lines, size, ino };
  } finally {
    await fh.close();
  }
}

/** The log's entries, the rotated file's first; `lines` keeps only the last that many. */
export async function readLog(path: string, opts: { lines?: number } = {}): Promise<LogRead> {
  const files: LogFileInfo[] = [];
  const lines: string[] = [];
  for (const p of [rotatedOf(path), path]) {
    const t = await readTail(p);
    if (!t) continue;
    files.push({ path: p, size: t.size, ino: t.ino });
    lines.push(...t.lines);
  }
  const kept = opts.lines === undefined ? lines : opts.lines === 0 ? [] : lines.slice(-opts.lines);
  return { entries: kept.map(parseLogLine), files };
}

/** The last error of a log (a record or an old plain-text line at level error), if any. */
export function lastError(entries: readonly LogEntry[]): LogEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e && levelOf(e) === 'error') return e;
  }
  return undefined;
}

/** What a failed start quotes: the log's last lines and its last error, rendered; never throws. */
export async function logEvidence(path: string, lines = 10): Promise<{ logTail: string[]; lastLogError?: string }> {
  try {
    const { entries } = await readLog(path);
    const err = lastError(entries);
    return { logTail: entries.slice(-lines).map(renderEntry), ...(err ? { lastLogError: renderEntry(err) } : {}) };
  } catch {
    // No log, or one we refuse to read (a symlink): the caller's error stands on its own.
    return { logTail: [] };
  }
}

export interface FollowOptions {
  readonly signal: AbortSignal;
  readonly onEntry: (e: LogEntry) => void;
  /** Start after what a first read already showed of this file (from a different file: at its start). */
  readonly from?: { readonly ino: number; readonly size: number };
  readonly pollMs?: number;
}

/**
 * Follow a log as `tail -F` does: new lines as they come, across rotation (the old file is read
 * to its end, then the new one from its start) and truncation; a missing log is waited for.
 * Polls (every wait ≤ pollMs) and ends when `signal` aborts.
 */
export async function followLog(path: string, opts: FollowOptions): Promise<void> {
  const pollMs = opts.pollMs ?? 250;
  let fh: FileHandle | undefined;
  let ino: number | undefined;
  let pos = 0;
  let partial = '';
  const chunk = Buffer.alloc(64 * 1024);
  const emit = (text: string): void => opts.onEntry(parseLogLine(text));
  const drain = async (): Promise<void> => {
    if (!fh) return;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      partial += chunk.subarray(0, bytesRead).toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) emit(l);
      if (partial.length > PARTIAL_MAX) {
        emit(partial);
        partial = '';
      }
    }
  };
  const reopen = async (): Promise<void> => {
    if (partial) emit(partial);
    partial = '';
    await fh?.close();
    fh = await openLogFile(path);
    ino = fh ? (await fh.stat()).ino : undefined;
  };
  try {
    fh = await openLogFile(path);
    ino = fh ? (await fh.stat()).ino : undefined;
    if (fh && opts.from && opts.from.ino === ino) pos = opts.from.size;
    while (!opts.signal.aborted) {
      await drain();
      const now = await lstat(path).catch(() => undefined);
      if (now && now.ino !== ino) {
        // Rotated (or created): read what reached the old file before the rename, then the new one.
        await drain();
        await reopen();
        pos = 0;
        continue;
      }
      if (fh && (await fh.stat()).size < pos) {
        pos = 0; // truncated in place
        partial = '';
        continue;
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await fh?.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
