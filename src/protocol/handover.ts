/**
 * What both sides of a live restart share (issue 21; docs/ARCHITECTURE.md, "Live restart"): the
 * signal that asks a daemon to hand its mount over, and where the two daemons meet.
 */

/** The signal that asks a daemon to hand over (SIGHUP, SIGTERM and SIGINT stop it; SIGUSR1 is node's inspector). */
export const HANDOVER_SIGNAL = 'SIGUSR2';

/** The socket's name in the workspace directory (0700, ours). */
export const HANDOVER_SOCKET = 'handover.sock';

/**
 * The socket's path for both daemons, through an fd on the workspace directory, so that a deep
 * home never meets sun_path's 108 bytes.
 */
export function socketPath(dirFd: number): string {
  return `/proc/self/fd/${dirFd}/${HANDOVER_SOCKET}`;
}
