import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { errnoCode } from '../errors.js';

/**
 * The daemon log's line format, written by the daemon (src/daemon/log.ts) and the launcher, read
 * by `mountie logs`, `status` and a failed start: one JSON object per line,
 *   {"time":"<ISO 8601>","level":"info"|"warn"|"error","pid":N,"msg":"...","err":{...},...fields}
 * Lines that are not such objects are passed through: the plain-text lines of mountie before
 * 0.2 (`<time> <LEVEL> [<pid>] <msg>`) and whatever the daemon's stderr carried (a Node warning,
 * a crash before the log was open).
 */
export type LogLevel = 'info' | 'warn' | 'error';

export interface LogErr {
  readonly message: string;
  readonly name?: string;
  readonly code?: string;
  readonly stack?: string;
}

export interface LogRecord {
  readonly time: string;
  readonly level: LogLevel;
  readonly pid: number;
  readonly msg: string;
  readonly err?: LogErr;
  /** Extra fields (workspace, pid of another process, paths...). */
  readonly [field: string]: unknown;
}

/** One line of a log as read back: a record, a passed-through text line, or a line that is neither. */
export type LogEntry =
  | ({ readonly kind: 'record' } & LogRecord)
  | { readonly kind: 'text'; readonly text: string; readonly time?: string; readonly level?: LogLevel; readonly pid?: number; readonly msg?: string }
  | { readonly kind: 'corrupt'; readonly text: string; readonly reason: string };

/** Names a record's extra fields may not take (the core fields, and what readers add). */
const RESERVED = new Set(['time', 'level', 'pid', 'msg', 'err', 'kind', 'text', 'reason']);
/** A single field longer than this is cut: one line must stay far below the log's size cap. */
const FIELD_MAX = 8192;

function clip(s: string): string {
  return s.length <= FIELD_MAX ? s : `${s.slice(0, FIELD_MAX)}… [${s.length - FIELD_MAX} more characters cut]`;
}

export function errField(err: unknown): LogErr {
  if (err instanceof Error) {
    const code = errnoCode(err);
    return { message: clip(err.message), ...(err.name !== 'Error' ? { name: err.name } : {}), ...(code ? { code } : {}), ...(err.stack ? { stack: clip(err.stack) } : {}) };
  }
  return { message: clip(String(err)) };
}

/** The record as one line of text (newline included). */
export function formatRecord(level: LogLevel, msg: string, opts: { pid: number; err?: unknown; fields?: Readonly<Record<string, unknown>>; now?: Date }): string {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts.fields ?? {})) {
    if (v === undefined) continue;
    extra[RESERVED.has(k) ? `field_${k}` : k] = typeof v === 'string' ? clip(v) : v;
  }
  const rec = { time: (opts.now ?? new Date()).toISOString(), level, pid: opts.pid, msg: clip(msg), ...(opts.err === undefined ? {} : { err: errField(opts.err) }), ...extra };
  let text: string;
  try {
    text = JSON.stringify(rec);
  } catch {
    // A field that cannot be serialized (a cycle, a BigInt) must not lose the message itself.
    text = JSON.stringify({ time: rec.time, level, pid: opts.pid, msg: rec.msg, ...(rec.err ? { err: rec.err } : {}) });
  }
  return text + '\n';
}

const LEVELS = new Set<string>(['info', 'warn', 'error']);
const LEGACY = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (INFO|WARN|ERROR) \[(\d+)\] (.*)$/;

/** Read back one line (without its newline). */
export function parseLogLine(line: string): LogEntry {
  if (line.includes('\0') || line.includes('\uFFFD')) return { kind: 'corrupt', text: line, reason: 'binary data' };
  if (line.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch {
      return { kind: 'corrupt', text: line, reason: 'not valid JSON (a cut or mixed line)' };
    }
    const r = doc as Partial<LogRecord> | null;
    if (r && typeof r === 'object' && typeof r.time === 'string' && typeof r.msg === 'string' && typeof r.level === 'string' && LEVELS.has(r.level) && typeof r.pid === 'number') {
      return { ...(r as LogRecord), kind: 'record' };
    }
    return { kind: 'corrupt', text: line, reason: 'JSON, but not a log record' };
  }
  const m = LEGACY.exec(line);
  if (m) return { kind: 'text', text: line, time: m[1] ?? '', level: (m[2] ?? 'INFO').toLowerCase() as LogLevel, pid: Number(m[3]), msg: m[4] ?? '' };
  return { kind: 'text', text: line };
}

/** Control characters (a path holding an escape sequence, a newline) are shown, never sent to the terminal. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f\x9b]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function value(v: unknown): string {
  return typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : (JSON.stringify(v) ?? String(v));
}

/** An entry for people: `<time> <LEVEL> [<pid>] <msg> key=value...: <error and stack>`, the stack's lines below. */
export function renderEntry(e: LogEntry): string {
  if (e.kind === 'text') return printable(e.text);
  if (e.kind === 'corrupt') return `[unreadable log line, ${e.reason}: ${printable(JSON.stringify(e.text.length > 200 ? e.text.slice(0, 200) + '…' : e.text))}]`;
  const extras = Object.entries(e)
    .filter(([k]) => !RESERVED.has(k))
    .map(([k, v]) => ` ${k}=${value(v)}`)
    .join('');
  const head = `${e.time} ${e.level.toUpperCase()} [${e.pid}] ${e.msg}${extras}`;
  if (!e.err) return printable(head);
  const text = e.err.stack ?? e.err.message;
  const code = e.err.code && !text.includes(e.err.code) ? ` [${e.err.code}]` : '';
  return `${printable(head)}: ${`${text}${code}`.split('\n').map(printable).join('\n')}`;
}

/** The level of an entry, when it has one. */
export function levelOf(e: LogEntry): LogLevel | undefined {
  return e.kind === 'corrupt' ? undefined : e.level;
}

/**
 * Append one record to a log without keeping it open (the launcher's note on a failed start).
 * O_NOFOLLOW: never through a symlink planted at the log's name. Failures are swallowed: the
 * note is a courtesy, the error the caller reports carries the same facts.
 */
export function appendRecord(path: string, level: LogLevel, msg: string, opts: { pid: number; fields?: Readonly<Record<string, unknown>> }): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    writeSync(fd, formatRecord(level, msg, opts));
  } catch {
    // See above: the caller's error says it all; a log we cannot write is not a second failure.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
