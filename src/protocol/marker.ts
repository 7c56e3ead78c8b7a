/**
 * How a daemon marks itself: its kernel task name (comm, /proc/<pid>/stat field 2) is exactly its
 * kind's marker (`mountie-daemon` for mountie's own, `<kind>-daemon` for another, ./kind.ts), set by
 * the daemon itself as its first act; while node is still starting it is the title `<marker> <ws>`
 * cut at 15 bytes, so discovery matches the prefix. Reading comm needs only stat, never cmdline, so
 * discovery neither depends on argv shape (options before the name, node flags, wrappers) nor reads
 * a file that can hang. A marker alone proves nothing (anyone can set a title); ./daemons.ts then
 * requires the process to hold our workspace's lock file open.
 */
import { writeFileSync } from 'node:fs';
import { MOUNTIE, type Kind } from './kind.js';

export const DAEMON_COMM = MOUNTIE.comm;

/**
 * Does `comm` carry this kind's marker? A kind's name has no '-', so one kind's marker is never a
 * prefix of another's (`mem-daemon` vs `memfs-daemon`): each kind sees only its own daemons.
 */
export function isMarked(comm: string, kind: Kind = MOUNTIE): boolean {
  return comm.startsWith(kind.comm);
}

/** The marker of any kind (for a reap below a directory, whatever the kinds of its homes). */
export function isMarkedAnyKind(comm: string): boolean {
  return /^[a-z][a-z0-9]{1,7}-daemon/.test(comm);
}

/** What marks a process: its title (cmdline, shown by ps) and its kernel task name (comm). */
export interface Markable {
  title: string;
}

/**
 * Mark this process as a daemon of `workspace`: the title `<marker> <ws>` shows in ps, and comm is
 * set to exactly the marker (`pgrep -x mountie-daemon`), not the title cut at 15 bytes with a
 * trailing space. `setComm` defaults to writing /proc/self/comm (the main thread's name, as
 * prctl(PR_SET_NAME) would set it); where that fails, comm keeps the cut title, which still starts
 * with the marker, so discovery finds the daemon either way.
 */
export function markDaemon(workspace: string, proc: Markable = process, kind: Kind = MOUNTIE, setComm: (comm: string) => void = writeOwnComm): void {
  proc.title = daemonTitle(workspace, kind);
  try {
    setComm(kind.comm);
  } catch {
    // Best effort: the title's first 15 bytes already carry the marker.
  }
}

function writeOwnComm(comm: string): void {
  // The main thread is the one /proc/<pid>/stat names; a daemon marks itself from it.
  writeFileSync('/proc/self/comm', comm);
}

export function daemonTitle(workspace: string, kind: Kind = MOUNTIE): string {
  return `${kind.comm} ${workspace}`;
}
