/**
 * The container case: a daemon that is PID 1 of its pid namespace. When it exits, the kernel kills
 * every other process of that namespace, a `mountie stop` that entered it (docker exec, nsenter -p)
 * included, before the stop could confirm and report. So such a stop announces itself: a shared
 * flock on the workspace directory, taken before it signals and held until it exits. The daemon,
 * once its shutdown is done (mount gone, state written, pidfile removed, lock released), takes an
 * exclusive flock there, which it gets once every such stop has finished, and only then exits;
 * it waits at most {@link INIT_EXIT_WAIT_MS}. With nobody holding it (docker stop, a signal from
 * outside, a mount lost) the wait ends at once. A directory, not a file: nothing new is created,
 * and only its owner (and root) can open the 0700 workspace directory to hold it.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { flockFd } from './lock.js';

/** How long a PID-1 daemon waits, after its shutdown, for the stops in its namespace to finish. */
export const INIT_EXIT_WAIT_MS = 10_000;

// Held until this process exits (its last fd closes and the kernel drops the lock): referenced
// here, so that no garbage collection closes them earlier.
const held: FileHandle[] = [];

async function openDir(dir: string): Promise<FileHandle | undefined> {
  try {
    return await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    // No directory (or not ours): there is nothing to hold, nor to wait for.
    return undefined;
  }
}

/**
 * Hold off the exit of a PID-1 daemon of `dir`'s workspace until this process exits (or the
 * daemon's wait runs out). false when the hold could not be taken (the stop goes on without it).
 */
export async function holdInitExit(dir: string): Promise<boolean> {
  const fh = await openDir(dir);
  if (!fh) return false;
  const taken = await flockFd(fh.fd, 'shared').catch(() => false);
  if (taken) held.push(fh);
  else await fh.close().catch(() => undefined);
  return taken;
}

/** For the daemon that is PID 1: wait until no stop holds `dir` (or `ms` ran out). */
export async function waitForStops(dir: string, ms = INIT_EXIT_WAIT_MS): Promise<'free' | 'timeout' | 'unavailable'> {
  const fh = await openDir(dir);
  if (!fh) return 'unavailable';
  try {
    return (await flockFd(fh.fd, 'exclusive', ms)) ? 'free' : 'timeout';
  } catch {
    // flock missing or failed: exiting now is all that is left.
    return 'unavailable';
  } finally {
    await fh.close().catch(() => undefined);
  }
}
