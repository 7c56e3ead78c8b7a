/**
 * The workspace lock: flock(2) on `<home>/workspaces/<ws>/lock`, a file in the owner's 0700
 * workspace directory.
 *
 * Why a file lock (and not the abstract unix socket of 0.1): an abstract socket name has no
 * permissions, so another local user could bind it first (blocking every mount) or answer probes
 * with a forged pid; and it lives per network namespace and per spelling of the home. A flock on a
 * file in a 0700 directory can only be taken by its owner (and root), is keyed by the file's inode
 * (a home reached through a symlink or a bind mount is the same lock), spans every namespace, and
 * the kernel drops it when the holder's last fd closes, SIGKILL included.
 *
 * Node has no flock(). Where the native addon loads (native/, src/daemon/native/binding.ts) its
 * `flock(fd, mode, nonblock)` calls flock(2) in this process; else `flock(1)` (util-linux) locks
 * the open file description we pass it as fd 3 and exits, and the lock stays with our fd. Either
 * way the lock belongs to our open file description. The addon saves a fork and exec per lock
 * (~10 ms in a small process, ~30 ms in a daemon under load) for ~2-3 ms of loading it, and it
 * is loaded only when a lock is taken (never at start-up). Who holds the lock is never taken on
 * anyone's word: the kernel shows it in the holder's /proc/<pid>/fdinfo (see ./daemons.ts).
 */
import { stopHint, type Kind } from './kind.js';
import { spawn } from 'node:child_process';
import { close, constants, fstat, type Stats } from 'node:fs';
import { lstat, open, readFile, type FileHandle } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { devString, parseLockLine } from '../sys/proc-fds.js';
import type { NativeBinding } from '../daemon/native/binding.js';
import { addonCall } from '../daemon/native/addon-call.js';

export interface LockRef {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

export interface HeldLock extends LockRef {
  /** The fd whose open file description holds the flock (a live handover passes it on: issue 21). */
  readonly fd: number;
  release(): Promise<void>;
}

const FLOCK_TIMEOUT_MS = 3000;
const CONFLICT = 75;

async function openLockFile(path: string, workspace: string): Promise<FileHandle> {
  try {
    // O_NOFOLLOW: a symlink planted at the lock's path is refused, never followed. Read-only: flock
    // needs no write access, so an existing lock still works on a read-only workspace directory.
    return await open(path, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new MountieError('ERR_LOCK_FAILED', `cannot open the workspace lock ${path}: ${errnoCode(err) ?? String(err)}`, {
      data: { path, workspace },
      hint: errnoCode(err) === 'ELOOP' ? `${path} is a symlink; remove it` : `check that ${path} is a file you own`,
      cause: err,
    });
  }
}

/**
 * Take the workspace lock or throw ERR_WORKSPACE_LOCKED. `holder` names the current holder for
 * the message (found by the caller in /proc, never asked of the holder).
 */
export async function acquireLock(path: string, workspace: string, holder?: () => Promise<number | undefined>, kind?: Kind): Promise<HeldLock> {
  const fh = await openLockFile(path, workspace);
  let taken = false;
  try {
    const st = await fh.stat();
    if (!st.isFile() || (process.getuid && st.uid !== process.getuid())) {
      throw new MountieError('ERR_LOCK_FAILED', `the workspace lock ${path} is not a regular file of yours`, { data: { path, workspace }, hint: `remove ${path} while the workspace is stopped` });
    }
    taken = await flockNow(fh.fd);
    if (!taken) {
      const pid = await holder?.().catch(() => undefined);
      throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${workspace} is already mounted or being cleaned by ${pid === undefined ? 'another process' : `pid ${pid}`}`, {
        data: { workspace, ...(pid === undefined ? {} : { pid }) },
        hint: `use it as it is, or run: ${stopHint(workspace, kind)}`,
      });
    }
    let released = false;
    return {
      path,
      dev: st.dev,
      ino: st.ino,
      fd: fh.fd,
      release: async () => {
        if (released) return;
        released = true;
        await fh.close(); // the last fd of the open file description: the kernel drops the lock
      },
    };
  } finally {
    if (!taken) await fh.close().catch(() => undefined);
  }
}

/**
 * Is `fd` (handed over by a live restart: issue 21) the workspace lock, held? A regular file of
 * ours whose (dev, ino) is the lock file's at `path`, and locked now (/proc/locks): the fd shares
 * the old daemon's open file description, so the flock was never free. ERR_HANDOVER otherwise.
 */
export async function checkLockFd(fd: number, path: string, workspace: string): Promise<LockRef> {
  // At once: the old daemon is paused until the new one has checked what it received.
  const [st, now, locks] = await Promise.all([fstatAsync(fd).catch(() => undefined), lstat(path).catch(() => undefined), readFile('/proc/locks', 'utf8').catch(() => undefined)]);
  const mine = st !== undefined && st.isFile() && (!process.getuid || st.uid === process.getuid());
  if (!mine || now === undefined || now.dev !== st.dev || now.ino !== st.ino || locks === undefined || !heldIn(locks, st)) {
    throw new MountieError('ERR_HANDOVER', `the lock handed over is not the workspace lock ${path}, or it is not locked`, { data: { workspace, path, reason: 'ERR_HANDOVER_LOCK' } });
  }
  return { path, dev: st.dev, ino: st.ino };
}

/** The lock held through `fd`, checked by {@link checkLockFd}: released by closing it. */
export function lockFromFd(fd: number, ref: LockRef): HeldLock {
  let released = false;
  return {
    ...ref,
    fd,
    release: async () => {
      if (released) return;
      released = true;
      await new Promise<void>((resolve) => close(fd, () => resolve()));
    },
  };
}

function fstatAsync(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

/** Take the lock through `fd` without waiting: true when taken, false when someone holds it. */
function flockNow(fd: number): Promise<boolean> {
  return flockFd(fd, 'exclusive');
}

/**
 * flock(2) through `fd` (any open file, a directory included): `mode` shared or exclusive; without
 * `waitMs` it does not wait, else it waits up to that long. true when taken, false when someone
 * else holds it (still, at the end of the wait). Through the addon when it loads, else flock(1).
 */
export function flockFd(fd: number, mode: 'exclusive' | 'shared', waitMs?: number): Promise<boolean> {
  const native = addonFlock();
  return native ? flockNative(native, fd, mode, waitMs) : flockCommand(fd, mode, waitMs);
}

type NativeFlock = NonNullable<NativeBinding['flock']>;

/** How often a bounded wait on the addon asks again. */
const POLL_MS = 5;

/** The addon's flock, or undefined: not built, not loadable, or an older build without it. */
const addonFlock = (): NativeFlock | undefined => addonCall('flock');

/**
 * Never a blocking flock(2) on the JavaScript thread: a bounded wait asks without blocking every
 * {@link POLL_MS} until it is taken or `waitMs` ran out.
 */
async function flockNative(flock: NativeFlock, fd: number, mode: 'exclusive' | 'shared', waitMs?: number): Promise<boolean> {
  const deadline = performance.now() + (waitMs ?? 0);
  for (;;) {
    let taken: boolean;
    try {
      taken = flock(fd, mode, true);
    } catch (err) {
      throw new MountieError('ERR_LOCK_FAILED', `could not take the workspace lock: ${(err as Error).message}`, { hint: 'see the message above', cause: err });
    }
    if (taken || waitMs === undefined || performance.now() >= deadline) return taken;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - performance.now()))));
  }
}

/** flock(1) on our fd 3; its exit code says taken (0) or held (CONFLICT). */
function flockCommand(fd: number, mode: 'exclusive' | 'shared', waitMs?: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const how = waitMs === undefined ? ['--nonblock'] : ['--timeout', (waitMs / 1000).toFixed(3)];
    const child = spawn('flock', [`--${mode}`, ...how, '--conflict-exit-code', String(CONFLICT), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), FLOCK_TIMEOUT_MS + (waitMs ?? 0));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new MountieError('ERR_LOCK_FAILED', `could not take the workspace lock: ${errnoCode(err) === 'ENOENT' ? 'the flock command (util-linux) is missing' : err.message}`, {
          hint: errnoCode(err) === 'ENOENT' ? 'install util-linux (apt-get install util-linux)' : 'see the message above',
          cause: err,
        }),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(true);
      else if (code === CONFLICT) resolve(false);
      else reject(new MountieError('ERR_LOCK_FAILED', `flock exited ${code ?? signal}: ${stderr.trim()}`, { hint: 'see the message above' }));
    });
  });
}

/**
 * Is the lock file `ref` locked right now? From /proc/locks: no side effect (probing by taking
 * the lock would make a concurrent start fail). undefined when /proc/locks cannot be read.
 */
export async function lockHeldNow(ref: Pick<LockRef, 'dev' | 'ino'>): Promise<boolean | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    // No /proc/locks: the caller falls back to what the process table shows.
    return undefined;
  }
  return heldIn(text, ref);
}

/** Does /proc/locks' `text` show a flock on `ref`? */
function heldIn(text: string, ref: Pick<LockRef, 'dev' | 'ino'>): boolean {
  const dev = devString(ref.dev);
  return text.split('\n').some((line) => {
    const l = parseLockLine(line);
    return l !== undefined && l.kind === 'FLOCK' && l.ino === ref.ino && l.dev === dev;
  });
}
