/** The CLI's exit codes. README.md lists them; scripts rely on them. */
export const EXIT = {
  ok: 0,
  /** stop: something survived; status: leftovers (orphan, stale pidfile, stale mount); foreground daemon failed. */
  failure: 1,
  /** Bad input: nothing was changed on disk. */
  usage: 2,
  /** mount: already running (names the pid); status: stopped and clean. */
  alreadyRunning: 3,
  stopped: 3,
  /** mount: failed to start; status: unknown workspace. */
  startFailed: 4,
  unknownWorkspace: 4,
  /** A bug in mountie. */
  internal: 70,
} as const;
