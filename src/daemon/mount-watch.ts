import { readMountInfo, type MountEntry } from '../sys/mountinfo.js';

/**
 * Notices when the daemon's own mount disappears (an external `fusermount -uz`, `umount -l`):
 * without it the daemon would run on for good, `status` would say running, and writes would land
 * in the bare mountpoint directory. It polls /proc/self/mountinfo only; it never stats the
 * mountpoint (a sync or even async stat of our own mount can park on ourselves).
 *
 * A mountinfo read that races a concurrent mount-table change can miss lines, so the mount counts
 * as lost only after `misses` reads in a row without it. At most one read is outstanding.
 */
export interface MountWatchOptions {
  /** True while the entries still show our mount. The caller decides what "ours" means. */
  readonly isOurs: (entries: readonly MountEntry[]) => boolean;
  /** Called once, when the mount is gone. */
  readonly onLost: () => void;
  readonly intervalMs?: number;
  /** Consecutive reads without our mount before it counts as lost. Default 2. */
  readonly misses?: number;
  readonly read?: () => Promise<readonly MountEntry[]>;
  /** A failed read (EMFILE, ...) proves nothing either way; it is reported and the next poll retries. */
  readonly onReadError?: (err: unknown) => void;
}

export const DEFAULT_MOUNT_WATCH_MS = 1000;
const MIN_MS = 50;
const MAX_MS = 60_000;

/** `MOUNTIE_MOUNT_WATCH_MS`: whole ms from 50 to 60000; anything else keeps the default. */
export function mountWatchIntervalFromEnv(env: NodeJS.ProcessEnv): number {
  const v = env.MOUNTIE_MOUNT_WATCH_MS;
  if (v === undefined || !/^\d+$/.test(v)) return DEFAULT_MOUNT_WATCH_MS;
  const n = Number(v);
  return n >= MIN_MS && n <= MAX_MS ? n : DEFAULT_MOUNT_WATCH_MS;
}

/** Start watching; returns the stop function (idempotent). */
export function watchMount(opts: MountWatchOptions): () => void {
  const intervalMs = opts.intervalMs ?? DEFAULT_MOUNT_WATCH_MS;
  const needed = Math.max(1, opts.misses ?? 2);
  const read = opts.read ?? readMountInfo;
  let stopped = false;
  let busy = false;
  let missed = 0;
  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const entries = await read();
      if (stopped) return;
      missed = opts.isOurs(entries) ? 0 : missed + 1;
      if (missed >= needed) {
        stop();
        opts.onLost();
      }
    } catch (err) {
      opts.onReadError?.(err);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  // The watch alone must not keep a finished daemon alive.
  timer.unref();
  function stop(): void {
    stopped = true;
    clearInterval(timer);
  }
  return stop;
}
