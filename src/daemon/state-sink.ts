import { readState, type BackendView, type DaemonState, type DaemonStatus } from '../state/state-schema.js';
import { StateWriter } from '../state/writer/writer.js';
import type { WorkspacePaths } from '../state/paths.js';
import { isKindConfig, type AnyConfig } from '../state/workspace.js';
import type { Logger } from './log.js';
import type { CounterSnapshot } from './native/state-view.js';

/** The daemon's view of its state.json: status changes, op counters, and fencing. */
export interface DaemonStateSink {
  update(patch: Partial<DaemonState>): void;
  /**
   * Where the counters come from (the native core's shared memory); `read` gets the cursor the
   * previous daemon left. Polled every `pollMs` while monitors run.
   */
  useCounters(read: (startCursor: number) => () => CounterSnapshot, pollMs?: number): void;
  /** Include the backend view in every publish from now on. */
  trackBackend(view: () => BackendView): void;
  /** Publish counters and the backend view soon (coalesced); nothing is written if they did not change. */
  refresh(): void;
  stopMonitors(): void;
  /** Final status, then flush (bounded) and close the writer; `exitCode` when the daemon ends abnormally after it served (status then says failed). */
  finish(status: DaemonStatus, reason?: string, exitCode?: number): Promise<void>;
}

const PUBLISH_EVERY_MS = 250;

export interface OpenStateOptions {
  readonly paths: WorkspacePaths;
  readonly config: AnyConfig;
  /** The mount's tag (src/protocol/tag.ts). */
  readonly fsname: string;
  /** Our pid as /proc names it (procSelfPid). */
  readonly pid: number;
  readonly epoch: number;
  readonly instanceId: string;
  readonly log: Logger;
  readonly onFenced: (why: string) => void;
  /** A live restart's new daemon: the pid it took the mount over from (state.json's takenOverFrom). */
  readonly takenOverFrom?: number;
}

const NATIVE_POLL_MS = 500;

/** Nothing counted yet: what state.json shows until the data path is mounted. */
function noCounts(cursor: number): CounterSnapshot {
  return { counters: { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0 }, cursor, lastOpAt: undefined };
}

function snapshot(c: CounterSnapshot, backend: (() => BackendView) | undefined): Partial<DaemonState> {
  return {
    counters: c.counters,
    cursor: c.cursor,
    ...(c.lastOpAt ? { lastOpAt: new Date(c.lastOpAt).toISOString() } : {}),
    ...(backend ? { backend: backend() } : {}),
  };
}

/** Call only while holding the workspace lock: the epoch it writes with came from that lock. */
export async function openDaemonState(opts: OpenStateOptions): Promise<DaemonStateSink> {
  const previous = await readState(opts.paths.state).catch(() => undefined);
  // The cursor never goes backwards across restarts: continue from what is on disk.
  const startCursor = previous?.cursor ?? 0;
  const writer = new StateWriter<DaemonState>({
    path: opts.paths.state,
    epoch: opts.epoch,
    instanceId: opts.instanceId,
    initial: {
      status: 'starting',
      mount: { mountpoint: opts.config.mountpoint, source: isKindConfig(opts.config) ? '' : opts.config.source, fsname: opts.fsname },
      counters: { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0 },
      cursor: startCursor,
      pid: opts.pid,
      startedAt: new Date().toISOString(),
      ...(opts.takenOverFrom !== undefined ? { takenOverFrom: opts.takenOverFrom } : {}),
    },
  });
  const removeFenced = writer.onFenced((f) => {
    opts.log.error(`state writer fenced: ${f.reason}`);
    opts.onFenced(f.reason);
  });
  const removeHealth = writer.onHealth((h) => (h.ok ? opts.log.info('state writes healthy again') : opts.log.error(`state write failing: ${h.lastError?.code ?? 'unknown'}`)));
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let backend: (() => BackendView) | undefined;
  let read: () => CounterSnapshot = () => noCounts(startCursor);
  let published = '';
  const publish = (): void => {
    timer = undefined;
    const snap = snapshot(read(), backend);
    // An idle daemon must not rewrite (and fsync) an unchanged document on every health check.
    const text = JSON.stringify(snap);
    if (text === published) return;
    published = text;
    writer.update(snap);
  };
  const soon = (): void => {
    timer ??= setTimeout(publish, PUBLISH_EVERY_MS);
  };
  return {
    update: (patch) => writer.update(patch),
    useCounters: (source, pollMs = NATIVE_POLL_MS) => {
      read = source(startCursor);
      if (poll) clearInterval(poll);
      poll = setInterval(soon, pollMs);
      // The poll alone must not keep a finished daemon alive.
      poll.unref();
    },
    trackBackend: (view) => {
      backend = view;
    },
    refresh: soon,
    stopMonitors: () => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      timer = undefined;
      poll = undefined;
    },
    finish: async (status, reason, exitCode) => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      poll = undefined;
      // reason: undefined clears a health reason left from running; it does not explain the stop.
      writer.update({ ...snapshot(read(), backend), status, reason, ...(exitCode === undefined ? {} : { exitCode }) });
      try {
        await writer.close({ timeoutMs: 2000 });
      } finally {
        removeFenced();
        removeHealth();
      }
    },
  };
}
