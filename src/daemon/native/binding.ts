/**
 * Loads the native passthrough addon (native/, built by `npm run build:native`). Never throws:
 * a missing or unloadable addon is a reason, which the caller turns into ERR_NATIVE_UNAVAILABLE
 * (./require-native.ts) or shows (mountie doctor).
 */
import { existsSync } from 'node:fs';
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
  /** JS-ops mode: times JavaScript left requests untaken over 1 s. */
  readonly stalls: number;
  /** JS-ops mode: requests read by the rescue reader while the JavaScript thread was late. */
  readonly rescued: number;
  /** Source watching (notify.c); absent from an older addon. */
  readonly watches?: number;
  readonly unwatched?: number;
  readonly invalidations?: number;
  readonly overflows?: number;
  readonly events?: number;
  readonly eventReads?: number;
  readonly eventsOurs?: number;
  readonly invalEntries?: number;
  readonly invalInodes?: number;
  /** The FUSE session serving the mount (1 libfuse's, 2 our own); absent from an older addon. */
  readonly session?: number;
  /** Kernel passthrough (our own session, a root daemon: on unless MOUNTIE_PASSTHROUGH=0): opens passed through, and opens served by us instead. */
  readonly passthroughOpens?: number;
  readonly passthroughFallbacks?: number;
  /** Kernel passthrough per mount: 0 off, 1 asked (INIT not seen yet), 2 on, 3 refused by the kernel, 4 on but the source is remote. */
  readonly passthroughMode?: number;
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
  /** Entry/attribute timeout where the source is watched and changes beside the mount are invalidated (notify.c); 0 or absent: no watching. */
  readonly watchTimeout?: number;
  /** At most this many inotify watches; 0 or absent: a quarter of fs.inotify.max_user_watches (notify.c). */
  readonly watchBudget?: number;
}

/** Opaque: the addon's session. */
export type NativeHandle = { readonly __native: unique symbol };

/**
 * The passthrough's tables as the kernel knows them (native/src/ids.c, nodes.c, handles.c): node
 * ids and file handles are (generation << 32) | slot, so they can be carried to another process
 * (issue 21's handover). @internal
 */
export interface NativeTables {
  readonly nodes: readonly {
    readonly id: bigint;
    /** The kernel's references (lookups not yet forgotten). */
    readonly nlookup: number;
    readonly ino: bigint;
    readonly dev: bigint;
    /** S_IFMT bits. */
    readonly type: number;
    /** The node's O_PATH fd, or -1: then `handle`. */
    readonly fd: number;
    /** open_by_handle_at's handle as "type:hex", or null. */
    readonly handle: string | null;
    /** Out of the (ino, dev) index (its inode number now names another file), kept until the kernel forgets it. */
    readonly stale: boolean;
  }[];
  readonly handles: readonly {
    readonly fh: bigint;
    /** The node id it was opened on. */
    readonly node: bigint;
    readonly fd: number;
    /** FH_PASSTHROUGH 1, FH_PLAIN 2 (native/src/core.h). */
    readonly flags: number;
    readonly dir: boolean;
  }[];
}

/** What a handover carried and how long the mount was paused (native/src/handover.c). @internal */
export interface HandoverStats {
  /** Requests being served when the pause began: all answered before the snapshot. */
  readonly inflight: number;
  readonly nodes: number;
  readonly handles: number;
  /** fds sent, the /dev/fuse fd and the extra ones included. */
  readonly fds: number;
  readonly drainMs: number;
  /** From the pause to the commit (or, failed, to the resume). */
  readonly pausedMs: number;
  /** After a failed handover: FUSE_NOTIFY_RESEND's answer (0, or -errno). */
  readonly resend: number;
  /** The new process (its pid as the kernel saw it connect), 0 when none connected. */
  readonly peerPid: number;
}

/** The extra fds a handover carries at most (HO_EXTRA in native/src/core.h). @internal */
export const HANDOVER_EXTRA_FDS = 8;

/** Opaque: a session received from another process, not serving yet. @internal */
export type NativeAdoption = { readonly __adoption: unique symbol };

export interface NativeBinding {
  start(mountpoint: string, source: string, options: NativeStartOptions): Promise<{ handle: NativeHandle; counters: ArrayBuffer }>;
  /** Resolves true once the loop and all its threads ended and the session is freed; false: still running after timeoutMs. */
  stop(handle: NativeHandle, timeoutMs: number): Promise<boolean>;
  /** Shutdown: answer every request in flight EIO now and every later one at once; returns how many were in flight. */
  cancel(handle: NativeHandle): number;
  layout(): CounterLayout;
  /** The passthrough's node and file handle tables now; null once stopped. Absent from older builds. @internal */
  tables?(handle: NativeHandle): NativeTables | null;
  /**
   * flock(2) on `fd` (src/protocol/lock.ts): true taken, false held elsewhere (nonblock only);
   * throws on any other error. Absent from builds older than it: callers fall back to flock(1).
   */
  flock?(fd: number, mode: 'exclusive' | 'shared', nonblock: boolean): boolean;
  /**
   * The process table from `<root>/<pid>/stat` (src/sys/proc-stat-scan.ts, native/src/procscan.c):
   * the processes whose comm starts with one of `prefixes`, those of the sessions in `sids`, and the
   * members of the sessions those with a prefix lead; every process when both are empty. Throws
   * (code: the errno's name) when `root` cannot be read. Absent from older builds: the scan in JavaScript then.
   */
  /**
   * umount2(path, UMOUNT_NOFOLLOW, or MNT_DETACH too when `lazy`) on a thread of its own
   * (native/src/umount.c), walking from the path's parent held open and checked: null when
   * unmounted, else the errno's name (EPERM: not allowed here), or MOVED (the parent is no longer
   * the directory the path names: nothing unmounted).
   * Absent from older builds: fusermount then (src/sys/fusermount.ts).
   */
  umount?(path: string, lazy: boolean): Promise<string | null>;
  /** _exit(code) (native/src/exit.c): the daemon's exit once its shutdown is complete (src/cli/daemon-child.ts). */
  quickExit?(code: number): never;
  procScan?(root: string, prefixes: readonly string[], sids: readonly number[], threads?: 0 | 1 | 2): { pid: number; comm: string; state: string; ppid: number; pgrp: number; sid: number; startTime: number }[];
  /**
   * Issue 21's live handover on our own session (native/src/handover.c); absent from older builds.
   * Rejections carry `code` ERR_HANDOVER_* (the old process serves on). @internal
   */
  handoverListen?(path: string): number;
  /**
   * Waits for a peer on `listenFd`, pauses, sends, waits for its acknowledgement (timeoutMs per step); resolved: the session no longer serves (stop() frees it, nothing unmounted).
   * `extraFds` (at most {@link HANDOVER_EXTRA_FDS}; more throws ERR_INVALID_ARG): fds of the caller's own carried too (the caller keeps its copies). @internal
   */
  handoverExport?(handle: NativeHandle, listenFd: number, timeoutMs: number, tag: string, extraFds?: readonly number[]): Promise<HandoverStats>;
  /** `fds`: the old process's extra fds, the caller's from the resolve on (closed by C when the receive fails). @internal */
  adoptReceive?(path: string, source: string, options: NativeStartOptions, timeoutMs: number): Promise<{ adoption: NativeAdoption; mountpoint: string; tag: string; fds: number[] }>;
  /** Acknowledges, waits for the old process's commit, serves; `resend`: FUSE_NOTIFY_RESEND's answer (0, or -errno). @internal */
  adoptCommit?(adoption: NativeAdoption, timeoutMs: number): Promise<{ handle: NativeHandle; counters: ArrayBuffer; resend: number }>;
  /** @internal */
  adoptDiscard?(adoption: NativeAdoption): void;
  /** A kind's own operations (JS-ops mode): each request reaches `dispatch` on the JavaScript thread and is answered through `reply`. */
  startOps(mountpoint: string, options: NativeOpsOptions, dispatch: (...args: never[]) => void): Promise<{ handle: NativeHandle; counters: ArrayBuffer }>;
  stopOps(handle: NativeHandle, timeoutMs: number): Promise<boolean>;
  cancelOps(handle: NativeHandle): number;
  /** 0 answered; 1 already answered (timed out, cancelled): dropped; 2 `value` is not what the op answers: answered EIO. */
  reply(handle: NativeHandle, id: number, errno: number, value?: unknown): number;
}

/** What startOps reads (numbers only; booleans as 0/1). */
export interface NativeOpsOptions {
  readonly fsname: string;
  readonly subtype: string;
  readonly attrTimeout: number;
  readonly entryTimeout: number;
  readonly readOnly: number;
  readonly allowOther: number;
  /** A request JavaScript has not answered by then gets ETIMEDOUT; 0: never (and then nobody reads for a JavaScript thread that is late). */
  readonly deadlineMs: number;
  /** The op names (layout().ops) the author answers; the rest get ENOSYS without a round trip. */
  readonly implemented: readonly string[];
  /** 1: read passes a zeroed buffer of the size asked for, to fill (callback-style ops). */
  readonly readBuffers?: number;
  /** 1: open answers keep the file's cached pages. */
  readonly keepCache?: number;
  /** The largest read request in bytes (4096–1048576); 0: the kernel's. */
  readonly maxRead?: number;
}

export type NativeLoad = { readonly ok: true; readonly binding: NativeBinding; readonly path: string } | { readonly ok: false; readonly reason: string };

/** native/build/Release from src/daemon/native or dist/daemon/native: three levels up either way. */
const BUILT_ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/mountie_native.node', import.meta.url));
/** The addon the package ships, built by scripts/prebuild.mjs at pack time (linux-x64, glibc; Node-API, any Node). */
const PREBUILT_ADDON_PATH = fileURLToPath(new URL('../../../prebuilds/linux-x64/mountie_native.napi.glibc.node', import.meta.url));

/**
 * Where the addon is looked for, in order (node-gyp-build's order): MOUNTIE_NATIVE_ADDON alone when
 * set (relative to the working directory; scripts/sanitize.sh points it at ASan/UBSan and TSan
 * builds); else a local build (npm run build:native), then the prebuilt one (linux-x64 only).
 */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.MOUNTIE_NATIVE_ADDON) return [resolve(env.MOUNTIE_NATIVE_ADDON)];
  return process.platform === 'linux' && process.arch === 'x64' ? [BUILT_ADDON_PATH, PREBUILT_ADDON_PATH] : [BUILT_ADDON_PATH];
}

let cached: NativeLoad | undefined;

function loadAt(path: string): NativeLoad {
  try {
    const binding = createRequire(import.meta.url)(path) as NativeBinding;
    if (typeof binding.start !== 'function' || typeof binding.stop !== 'function' || typeof binding.cancel !== 'function' || typeof binding.layout !== 'function' || typeof binding.startOps !== 'function' || typeof binding.reply !== 'function') {
      return { ok: false, reason: `${path} is not the mountie addon of this version (start/stop/cancel/layout/startOps/reply missing): run npm run build:native` };
    }
    return { ok: true, binding, path };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND') return { ok: false, reason: `the native addon is not built (${path}): run npm run build:native` };
    const msg = (err as Error).message;
    // The one library it needs at run time (the prebuilt addon needs nothing else).
    const lib = /libfuse3\.so\.3/.test(msg) ? ' (libfuse3 is missing: install the fuse3 package, e.g. apt-get install fuse3)' : '';
    return { ok: false, reason: `the native addon did not load: ${msg}${lib}` };
  }
}

/**
 * The addon: `path` when given, else the first candidate that exists ({@link addonCandidates}).
 * Never throws: what is missing is the reason.
 */
export function loadNative(path?: string): NativeLoad {
  if (path !== undefined) return loadAt(path);
  if (cached) return cached;
  const all = addonCandidates();
  const found = all.filter((p) => existsSync(p));
  cached =
    found.length === 0
      ? { ok: false, reason: `no native addon at ${all.join(' or ')}: run npm run build:native (needs libfuse3-dev, pkg-config and a C compiler)` }
      : loadAt(found[0]!);
  return cached;
}
