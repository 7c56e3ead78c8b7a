/**
 * Defaults the CLI shows in its help. A module of its own so that `--help` and `--version` load
 * no launcher code.
 */

/** How long `stop` waits after SIGTERM before SIGKILL: above the daemon's own 5 s shutdown deadline. */
export const DEFAULT_GRACE_MS = 7000;
