import { readFile, unlink } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { writeFileDurable } from './atomic.js';

/** The `schema` field of daemon.pid. */
export const PIDFILE_SCHEMA = 'mountie.pid/v1';

/**
 * daemon.pid: written by the daemon itself (after fork, after taking the lock), atomically and
 * durably. A pid alone is a guess; pid + startTime + bootId names one process for its lifetime.
 */
export interface PidfileDoc {
  readonly schema: typeof PIDFILE_SCHEMA;
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTime: number;
  readonly bootId: string;
  readonly instanceId: string;
  readonly epoch: number;
  readonly workspace: string;
  readonly argv: readonly string[];
  readonly version: string;
  readonly mountpoint: string;
  readonly source: string;
  readonly logFile: string;
  readonly startedAt: string;
}

/** A pidfile as read: absent, unusable (with why), or its document. */
export type PidfileRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'corrupt'; readonly reason: string }
  | { readonly kind: 'ok'; readonly doc: PidfileDoc };

/** Read a workspace's daemon.pid without judging it (whether its process lives is {@link discover}'s job). */
export async function readPidfile(path: string): Promise<PidfileRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'absent' };
    return { kind: 'corrupt', reason: String(errnoCode(err) ?? err) };
  }
  try {
    const doc = JSON.parse(text) as Partial<PidfileDoc>;
    if (doc.schema !== PIDFILE_SCHEMA || typeof doc.instanceId !== 'string' || typeof doc.bootId !== 'string') return { kind: 'corrupt', reason: 'unexpected content' };
    // pid <= 0 addresses groups or everyone; a pid that is no process id makes the whole file a guess.
    // pid 1 is a daemon that is PID 1 of its pid namespace (a container's entrypoint); like any
    // pid here it is only ever compared with a daemon proven by discovery, never signalled on its word.
    if (!Number.isSafeInteger(doc.pid) || (doc.pid as number) < 1 || !Number.isSafeInteger(doc.startTime) || (doc.startTime as number) < 0) {
      return { kind: 'corrupt', reason: `not a process identity: pid ${JSON.stringify(doc.pid)}, startTime ${JSON.stringify(doc.startTime)}` };
    }
    return { kind: 'ok', doc: doc as PidfileDoc };
  } catch (err) {
    return { kind: 'corrupt', reason: `not JSON: ${(err as Error).message}` };
  }
}

export async function writePidfile(path: string, doc: PidfileDoc): Promise<void> {
  await writeFileDurable(path, JSON.stringify(doc, null, 2) + '\n');
}

/**
 * Remove the pidfile only if it is still ours: a daemon that outlived its successor must never
 * delete the successor's pidfile (relayfile does). Callers hold the workspace lock.
 */
export async function removePidfileIfOwn(path: string, instanceId: string): Promise<boolean> {
  const current = await readPidfile(path);
  if (current.kind !== 'ok' || current.doc.instanceId !== instanceId) return false;
  return unlinkIfPresent(path);
}

async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Remove a pidfile found stale by someone holding the lock (stop, or a starting daemon). */
export async function removeStalePidfile(path: string, expected: PidfileRead): Promise<boolean> {
  const current = await readPidfile(path);
  if (expected.kind === 'ok' && (current.kind !== 'ok' || current.doc.instanceId !== expected.doc.instanceId)) return false;
  if (current.kind === 'absent') return false;
  return unlinkIfPresent(path);
}
