/**
 * How a daemon marks itself: its kernel task name (comm, /proc/<pid>/stat field 2) starts with
 * `mountie-daemon`, set by the daemon itself as its first act (process.title also sets comm via
 * prctl). Reading comm needs only stat, never cmdline, so discovery neither depends on argv shape
 * (options before the name, node flags, wrappers) nor reads a file that can hang. A marker alone
 * proves nothing (anyone can set a title); ./daemons.ts then requires the process to hold our
 * workspace's lock file open.
 */
export const DAEMON_COMM = 'mountie-daemon';

export function isMarked(comm: string): boolean {
  return comm.startsWith(DAEMON_COMM);
}

/** Mark this process as a daemon of `workspace`. The title shows in ps; comm keeps its first 15 bytes. */
export function markDaemon(workspace: string, proc: { title: string } = process): void {
  proc.title = daemonTitle(workspace);
}

export function daemonTitle(workspace: string): string {
  return `${DAEMON_COMM} ${workspace}`;
}
