/**
 * The state document a daemon publishes at `<ws>/state.json`, and a tolerant reader for it.
 * Readers (CLI status, launcher) must cope with a missing or foreign file: they get
 * `undefined` and, through readStateWithReason, why.
 */
import { open, readFile } from 'node:fs/promises';
import { errnoCode } from '../errors.js';

/** The `schema` field of state.json. */
export const STATE_SCHEMA = 'mountie.state/v1';

/**
 * A daemon's life as state.json tells it: `active` serves, `degraded`/`failed` name the source's
 * trouble, `handing-over` hands its live mount to a new daemon (`restart --live`, issue 21).
 */
export type DaemonStatus = 'starting' | 'active' | 'degraded' | 'handing-over' | 'stopping' | 'stopped' | 'failed';

export const DAEMON_STATUSES: readonly DaemonStatus[] = ['starting', 'active', 'degraded', 'handing-over', 'stopping', 'stopped', 'failed'];

/** What the state writer reports about its own ability to persist state. */
export interface WriterHealth {
  readonly ok: boolean;
  /** The last failed attempt; kept after recovery so a reader can see that there was trouble. */
  readonly lastError?: { readonly code: string; readonly at: string; readonly attempts: number };
}

export interface StateCounters {
  /** Operations served through the mount, by FUSE operation name. */
  readonly ops: Record<string, number>;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly errors: number;
}

/** The source as the daemon sees it: backend scheduler counts and the health probe. */
export interface BackendView {
  /** Source calls holding a slot (running, stuck included), and the slot limit. */
  readonly inFlight: number;
  readonly limit: number;
  readonly queued: number;
  /** Calls past their deadline that have not returned; each holds a pool thread. */
  readonly stuck: number;
  /** Ops answered ETIMEDOUT / refused (queue full) / cancelled (shutdown, failed source), since start. */
  readonly timedOut: number;
  readonly rejected: number;
  readonly cancelled: number;
  readonly probeMs?: number;
  readonly probeError?: string;
  readonly consecutiveFailures: number;
  /** The native core's live worker threads (at most `limit`). */
  readonly fuseThreads?: number;
  /**
   * Kernel passthrough (issue 20): whether the kernel reads and writes opened files itself
   * (`on`), and how many opens it took (`opens`) or left to the daemon (`fallbacks`). `off`: not
   * asked for; `pending`: the kernel's INIT not answered yet; `refused`: the kernel did not grant
   * it; `remote`: granted, but the source is a network or FUSE file system, whose files the
   * daemon serves (they keep the per-request deadline). Absent from older daemons' documents.
   */
  readonly passthrough?: { readonly mode: 'off' | 'pending' | 'on' | 'refused' | 'remote'; readonly opens: number; readonly fallbacks: number };
}

/** The part of the document the daemon owns; the writer adds the header fields. */
export interface DaemonState {
  /** While mounted: active, degraded or failed is the health of the source (health.ts). */
  readonly status: DaemonStatus;
  /** Why the status is degraded, failed or stopped. */
  readonly reason?: string;
  /**
   * Set by a daemon that ended abnormally after it served (a fatal uncaught exception or unhandled
   * rejection, a shutdown forced past its deadline): the exit code it ended with. `status` then
   * says `failed(exit=N)` instead of `stopped` until the next start.
   */
  readonly exitCode?: number;
  readonly backend?: BackendView;
  /** What serves requests: the native core (libfuse 3). `js` (fuse-native) only in documents of daemons older than its removal; absent in older still. */
  readonly dataPath?: 'native' | 'js';
  readonly mount: { readonly mountpoint: string; readonly source: string; readonly fsname: string };
  /**
   * Whether this daemon can hand its live mount to a new one (`mountie restart --live`), and why
   * not. Absent from older daemons' documents (they cannot).
   */
  readonly live?: { readonly ready: boolean; readonly reason?: string };
  /** Set by a daemon that took its mount over from another (a live restart): that daemon's pid. */
  readonly takenOverFrom?: number;
  readonly counters: StateCounters;
  /** Monotonic count of mutations through the mount; never goes backwards across restarts. */
  readonly cursor: number;
  readonly fileCount?: number;
  /** ISO time of the last operation through the mount. */
  readonly lastOpAt?: string;
  readonly pid: number;
  /** ISO time the daemon started. */
  readonly startedAt: string;
}

/** Fields every document written by StateWriter carries. */
export interface StateHeader {
  readonly schema: string;
  /** Fencing token: a writer never overwrites a document with a higher epoch. */
  readonly epoch: number;
  /** Tells apart two writers that (wrongly) share an epoch. */
  readonly instanceId: string;
  readonly writtenAt: string;
  readonly health: WriterHealth;
}

/** state.json (`mountie.state/v1`): written only by the daemon holding the lock, fenced by its epoch. */
export type StateDoc = StateHeader & DaemonState;

export type ReadStateReason = 'missing' | 'unreadable' | 'corrupt' | 'schema';

export type ReadStateResult =
  | { readonly doc: StateDoc; readonly reason?: undefined; readonly detail?: undefined }
  | { readonly doc: undefined; readonly reason: ReadStateReason; readonly detail: string };

/** The state document, or undefined when the file is missing, unreadable, corrupt or foreign. */
export async function readState(path: string): Promise<StateDoc | undefined> {
  return (await readStateWithReason(path)).doc;
}

/** Like readState, and says why there is no document. Never throws. */
export async function readStateWithReason(path: string): Promise<ReadStateResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = errnoCode(err) ?? 'unknown error';
    return { doc: undefined, reason: code === 'ENOENT' ? 'missing' : 'unreadable', detail: code };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { doc: undefined, reason: 'corrupt', detail: err instanceof Error ? err.message : String(err) };
  }
  const problem = checkStateDoc(value);
  return problem === undefined ? { doc: value as StateDoc } : { doc: undefined, reason: 'schema', detail: problem };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/** Shape check of the fields readers rely on; returns what is wrong, or undefined. */
export function checkStateDoc(v: unknown): string | undefined {
  if (!isRecord(v)) return 'not a JSON object';
  if (v.schema !== STATE_SCHEMA) return `schema is ${JSON.stringify(v.schema)}, expected ${STATE_SCHEMA}`;
  if (!Number.isSafeInteger(v.epoch)) return 'epoch is not an integer';
  if (typeof v.instanceId !== 'string') return 'instanceId is not a string';
  if (typeof v.writtenAt !== 'string') return 'writtenAt is not a string';
  if (!DAEMON_STATUSES.includes(v.status as DaemonStatus)) return `unknown status ${JSON.stringify(v.status)}`;
  if (!isNum(v.cursor)) return 'cursor is not a number';
  if (!isNum(v.pid)) return 'pid is not a number';
  if (typeof v.startedAt !== 'string') return 'startedAt is not a string';
  const m = v.mount;
  if (!isRecord(m) || typeof m.mountpoint !== 'string' || typeof m.source !== 'string' || typeof m.fsname !== 'string') {
    return 'mount is not { mountpoint, source, fsname }';
  }
  const c = v.counters;
  if (!isRecord(c) || !isRecord(c.ops) || !isNum(c.bytesRead) || !isNum(c.bytesWritten) || !isNum(c.errors)) {
    return 'counters is not { ops, bytesRead, bytesWritten, errors }';
  }
  if (!isRecord(v.health) || typeof v.health.ok !== 'boolean') return 'health is not { ok }';
  return undefined;
}

/** The fencing fields of a document on disk. */
export interface FenceHeader {
  readonly epoch: number;
  readonly instanceId: string;
}

/**
 * The epoch and instanceId of the document at `path`: undefined when the file is missing or
 * carries no valid header (a document no correct writer could have made claims nothing).
 * Three fs calls (open, read, close), as the writer runs it before every rename; other read
 * errors (EIO, EACCES) are thrown so the writer treats them as a failed attempt.
 */
export async function readStateHeader(path: string): Promise<FenceHeader | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  let buf = Buffer.allocUnsafe(16 * 1024);
  let len = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
      len += bytesRead;
      if (bytesRead === 0 || len < buf.length) break;
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
  } finally {
    await fh.close();
  }
  try {
    const v: unknown = JSON.parse(buf.toString('utf8', 0, len));
    if (isRecord(v) && Number.isSafeInteger(v.epoch) && typeof v.instanceId === 'string') {
      return { epoch: v.epoch as number, instanceId: v.instanceId };
    }
  } catch {
    // Corrupt document: it claims no epoch, so it fences nobody.
  }
  return undefined;
}
