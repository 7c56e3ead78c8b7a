/**
 * How a daemon marks itself: its kernel task name (comm, /proc/<pid>/stat field 2) starts with
 * its kind's marker (`mountie-daemon` for mountie's own, `<kind>-daemon` for another, ./kind.ts), set by the daemon itself as its first act (process.title also sets comm via
 * prctl). Reading comm needs only stat, never cmdline, so discovery neither depends on argv shape
 * (options before the name, node flags, wrappers) nor reads a file that can hang. A marker alone
 * proves nothing (anyone can set a title); ./daemons.ts then requires the process to hold our
 * workspace's lock file open.
 */
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

/** Mark this process as a daemon of `workspace`. The title shows in ps; comm keeps its first 15 bytes. */
export function markDaemon(workspace: string, proc: { title: string } = process, kind: Kind = MOUNTIE): void {
  proc.title = daemonTitle(workspace, kind);
}

export function daemonTitle(workspace: string, kind: Kind = MOUNTIE): string {
  return `${kind.comm} ${workspace}`;
}
