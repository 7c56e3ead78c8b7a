/**
 * The daemon side's public entry. run.ts loads fuse-native (a native module) and patches it, so it
 * is imported here only when a daemon really starts: importing `mountie` or `mountie/daemon` loads
 * nothing native and patches nothing.
 */
import type { DaemonOptions } from './options.js';

/**
 * Run one workspace's daemon in this process, start to end: mark the process, take the
 * workspace lock, clean a stale mount, write the pidfile, mount, report READY (on the launcher's
 * channel and to systemd), serve until SIGTERM/SIGINT/SIGHUP or a fatal fault, then shut down in
 * order within 5 s (unmount, flush state, remove its own pidfile, release the lock).
 *
 * Resolves with the process exit code the caller should use; never exits by itself:
 * 0 clean stop, 1 failure at run time (or a forced shutdown), 2 bad input or environment,
 * 3 the workspace is locked by another daemon, 4 failed to start.
 *
 * Today this serves mountie's own passthrough (the workspace's `source`); a later `defineDaemon`
 * takes the author's own file system (docs/TOOLKIT.md).
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { runDaemon: run } = await import('./run.js');
  return run(opts);
}
