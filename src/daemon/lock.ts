import { createHash } from 'node:crypto';
import { createConnection, createServer, type Server } from 'node:net';
import { MountieError, errnoCode } from '../errors.js';

/**
 * The workspace lock is a listening socket in Linux's abstract namespace. Only one process can
 * bind a name; the kernel frees it the instant the holder dies, SIGKILL included, so there is no
 * stale lock to detect and no takeover race (proper-lockfile needs both; see ARCHITECTURE.md).
 * The holder answers every connection with its owner record, so a refusal names the holder.
 * Limits: Linux only; per network namespace (a daemon in another netns is not seen).
 */
export interface LockOwner {
  readonly pid: number;
  readonly instanceId: string;
  readonly startTime?: number;
}

export interface HeldLock {
  readonly address: string;
  readonly owner: LockOwner;
  release(): Promise<void>;
}

export type LockProbe = { readonly held: false } | { readonly held: true; readonly owner?: LockOwner };

export function lockAddress(home: string, workspace: string, uid: number = process.getuid?.() ?? 0): string {
  const digest = createHash('sha256').update(`${home}\0${workspace}`).digest('hex').slice(0, 32);
  return `\0mountie-${uid}-${digest}`;
}

/** Ask the holder who it is; a wedged holder accepts (the kernel does) but never answers. */
export function probeLock(address: string, timeoutMs = 500): Promise<LockProbe> {
  return new Promise((resolve) => {
    let data = '';
    let settled = false;
    const sock = createConnection({ path: address });
    const done = (v: LockProbe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done({ held: true }), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      data += chunk;
      const nl = data.indexOf('\n');
      if (nl >= 0) done({ held: true, owner: parseOwner(data.slice(0, nl)) });
    });
    sock.on('end', () => done({ held: true, owner: parseOwner(data) }));
    sock.on('error', (err) => {
      // ECONNREFUSED/ENOENT: nobody listens on the name, so nobody holds the lock.
      const code = errnoCode(err);
      done(code === 'ECONNREFUSED' || code === 'ENOENT' ? { held: false } : { held: true });
    });
  });
}

function parseOwner(line: string): LockOwner | undefined {
  try {
    const v = JSON.parse(line) as Partial<LockOwner>;
    return Number.isInteger(v.pid) && typeof v.instanceId === 'string' ? (v as LockOwner) : undefined;
  } catch {
    // A half-written or foreign answer: the lock is held, the owner unknown.
    return undefined;
  }
}

/** Take the lock without waiting. Throws ERR_WORKSPACE_LOCKED naming the holder's pid when known. */
export async function acquireLock(address: string, owner: LockOwner, workspace: string): Promise<HeldLock> {
  const server: Server = createServer((sock) => {
    sock.on('error', () => undefined); // A prober that hangs up early is not our problem.
    sock.end(JSON.stringify(owner) + '\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: address, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if (errnoCode(err) !== 'EADDRINUSE') throw err;
    const probe = await probeLock(address);
    const pid = probe.held ? probe.owner?.pid : undefined;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${workspace} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`}`, {
      data: { workspace, ...(pid === undefined ? {} : { pid }) },
      hint: `use it as it is, or run: mountie stop ${workspace}`,
      cause: err,
    });
  }
  // The lock must not by itself keep a process alive that is otherwise done.
  server.unref();
  server.on('error', () => undefined); // After listen, errors concern single connections only.
  let released = false;
  return {
    address,
    owner,
    release: () =>
      new Promise<void>((resolve) => {
        if (released) return resolve();
        released = true;
        server.close(() => resolve());
      }),
  };
}
