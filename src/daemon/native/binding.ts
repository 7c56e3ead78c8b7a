/**
 * Loads the native passthrough addon (native/, built by `npm run build:native`). Never throws:
 * a missing or unloadable addon is a reason, so the daemon can fall back to fuse-native.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where each counter sits in the shared array (uint64 slots). */
export interface CounterLayout {
  readonly ops: readonly string[];
  readonly errors: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly inFlight: number;
  readonly threads: number;
  readonly nodes: number;
  readonly timedOut: number;
  readonly stuck: number;
  readonly changes: number;
  readonly fastFailed: number;
  readonly loopEnded: number;
  readonly latency: number;
  readonly latencyBuckets: number;
  readonly total: number;
}

/** Options the addon reads (numbers only; booleans as 0/1). */
export interface NativeStartOptions {
  readonly fsname: string;
  readonly subtype: string;
  readonly attrTimeout: number;
  readonly entryTimeout: number;
  readonly keepCache: number;
  readonly readOnly: number;
  readonly allowOther: number;
  /** 0 off (readdir with types only), 1 auto (kernel decides), 2 always. */
  readonly readdirplus: number;
  readonly maxThreads: number;
  readonly maxWrite: number;
  readonly maxReadahead: number;
  readonly splice: number;
  /** Nodes that keep an O_PATH fd at most; past it, a file handle reopened per request. 0: half of RLIMIT_NOFILE. */
  readonly fdBudget: number;
  /** A request not answered by then gets ETIMEDOUT (its worker stays blocked); 0: never. */
  readonly deadlineMs: number;
}

/** Opaque: the addon's session. */
export type NativeHandle = { readonly __native: unique symbol };

export interface NativeBinding {
  start(mountpoint: string, source: string, options: NativeStartOptions): Promise<{ handle: NativeHandle; counters: ArrayBuffer }>;
  /** Resolves true once the loop and all its threads ended and the session is freed; false: still running after timeoutMs. */
  stop(handle: NativeHandle, timeoutMs: number): Promise<boolean>;
  /** Shutdown: answer every request in flight EIO now and every later one at once; returns how many were in flight. */
  cancel(handle: NativeHandle): number;
  layout(): CounterLayout;
  /**
   * flock(2) on `fd` (src/protocol/lock.ts): true taken, false held elsewhere (nonblock only);
   * throws on any other error. Absent from builds older than it: callers fall back to flock(1).
   */
  flock?(fd: number, mode: 'exclusive' | 'shared', nonblock: boolean): boolean;
}

export type NativeLoad = { readonly ok: true; readonly binding: NativeBinding; readonly path: string } | { readonly ok: false; readonly reason: string };

/** native/build/Release from src/daemon/native or dist/daemon/native: three levels up either way. */
const BUILT_ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/mountie_native.node', import.meta.url));

/**
 * The addon every loader uses: MOUNTIE_NATIVE_ADDON=<path to a .node> when set (read once, at
 * import; relative to the working directory), else the built one. It lets a test run put another
 * build of the same sources under daemons the CLI spawns: scripts/sanitize.sh points it at
 * ASan/UBSan and TSan builds.
 */
export const ADDON_PATH = process.env.MOUNTIE_NATIVE_ADDON ? resolve(process.env.MOUNTIE_NATIVE_ADDON) : BUILT_ADDON_PATH;

let cached: NativeLoad | undefined;

export function loadNative(path: string = ADDON_PATH): NativeLoad {
  if (path === ADDON_PATH && cached) return cached;
  let result: NativeLoad;
  try {
    const binding = createRequire(import.meta.url)(path) as NativeBinding;
    if (typeof binding.start !== 'function' || typeof binding.stop !== 'function' || typeof binding.cancel !== 'function' || typeof binding.layout !== 'function') {
      result = { ok: false, reason: `${path} is not the mountie addon (start/stop/cancel/layout missing)` };
    } else {
      result = { ok: true, binding, path };
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    result = {
      ok: false,
      reason: code === 'MODULE_NOT_FOUND' ? `the native addon is not built (${path}): run npm run build:native` : `the native addon did not load: ${(err as Error).message}`,
    };
  }
  if (path === ADDON_PATH) cached = result;
  return result;
}
