/**
 * Mount through the native core (libfuse 3, low-level API, its own worker threads): a
 * passthrough of `source`, where no request reaches JavaScript, or a kind's own ops (JS-ops
 * mode). JavaScript keeps the lifecycle: checks before the mount (../mountpoint.ts), the bounded
 * mount, unmount through fusermount3, then the join of every native thread.
 */
import { realpath } from 'node:fs/promises';
import { MountieError } from '../../errors.js';
import { readMountInfo, sameMount, type MountEntry } from '../../sys/mountinfo.js';
import { abortConnection, holdConnectionAbort, unmountPath, type ConnectionAbort, type UnmountResult } from '../../sys/fusermount.js';
import { isOwnFuseMount } from '../../protocol/tag.js';
import { checkEmptyDir, checkName, markServed, servedByUs, withDeadline, type MountedFuse } from '../mountpoint.js';
import { HANDOVER_EXTRA_FDS, loadNative, type CounterLayout, type HandoverStats, type NativeBinding, type NativeHandle, type NativeStartOptions, type NativeTables } from './binding.js';
import { createDispatch, implementedOps, type Dispatch } from './ops-bridge.js';
import { READ_BUFFERS } from '../fs-ops-adapter.js';
import type { FileSystem } from '../file-system.js';
import type { CheckedMountOptions } from '../mount-options.js';
import { readCounters, type NativeCounters } from './counters.js';
import { MOUNT_TIMEOUT_MS } from '../mount-budget.js';

export type ReaddirPlus = 'off' | 'auto' | 'on';

export interface MountNativeOptions {
  readonly mountpoint: string;
  /** The passthrough's source directory; ignored when `ops` is given. */
  readonly source: string;
  /** A kind's own operations, served by the core's JS-ops mode instead of a passthrough (./ops-bridge.ts), with its mount options. */
  readonly ops?: { readonly fs: FileSystem; readonly log: (line: string) => void; readonly mount?: CheckedMountOptions };
  readonly fsname: string;
  readonly subtype: string;
  readonly readOnly?: boolean;
  /** Let other users in (kernel permission checks apply: default_permissions is always on). */
  readonly allowOther?: boolean;
  /** Limit for the whole mount. Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Seconds the kernel trusts attributes and names where the source is not watched. Default 1
   * (what bindfs uses). Given alone, it turns watching off (fixed timeouts, as before issue 20).
   */
  readonly cacheTimeoutS?: number;
  /**
   * Watch the source (inotify) and invalidate what the kernel cached when it changes beside the
   * mount, so names and attributes may be cached `watchTimeoutS` where watched (notify.c,
   * ARCHITECTURE.md "Caches and invalidation"). Default: on, unless `cacheTimeoutS` is given.
   */
  readonly watchSource?: boolean;
  /** The timeout where watched. Default WATCHED_CACHE_S. */
  readonly watchTimeoutS?: number;
  /**
   * At most this many directories watched (inotify's per-user limit is shared with every other
   * program of the uid). Default: a quarter of fs.inotify.max_user_watches; past it, 1 s caches.
   */
  readonly watchBudget?: number;
  /** Keep file pages (and directory listings) across opens while mtime and size stay. Default true. */
  readonly keepCache?: boolean;
  /** Default 'off': readdir answers names with types; see ARCHITECTURE.md "Native data path". */
  readonly readdirplus?: ReaddirPlus;
  /** Replies to reads spliced from the source fd, requests spliced from /dev/fuse. Default false (measured: docs/ARCHITECTURE.md "Choices, measured"). */
  readonly splice?: boolean;
  /** libfuse worker threads at most. Default 16. */
  readonly maxThreads?: number;
  /** Nodes that keep an fd at most (then file handles). Default: half of RLIMIT_NOFILE. */
  readonly fdBudget?: number;
  /** A request the source has not answered by then gets ETIMEDOUT, once (its worker stays blocked). Default 5000; 0: never. */
  readonly deadlineMs?: number;
  /** The addon to use; default: loadNative(). */
  readonly binding?: NativeBinding;
}

export interface MountedNative extends MountedFuse {
  /** Cheap: reads shared memory. */
  counters(): NativeCounters;
  /** Answer every request in flight EIO now and every later one at once (shutdown, a failed source); returns how many were in flight. */
  cancel(): number;
  /** The passthrough's node and file handle tables now (issue 21's snapshot source); undefined in the JS-ops mode, once unmounted, or from an older addon. @internal */
  tables(): NativeTables | undefined;
  /**
   * Issue 21's live handover (test-only for now): waits for a peer on `listenFd` (a socket of
   * binding.handoverListen), hands the connection over, and on success lets go of it without
   * unmounting (this object is done then); rejects with ERR_HANDOVER and serves on. `opts.fds`
   * (at most 8): fds of the caller's own sent along (the workspace lock's: its open file
   * description, so its flock, is then shared with the new process); the caller keeps its copies.
   * @internal
   */
  handover(listenFd: number, timeoutMs: number, opts?: { readonly fds?: readonly number[] }): Promise<HandoverStats>;
}

const DEFAULT_MOUNT_TIMEOUT_MS = MOUNT_TIMEOUT_MS;
const DEFAULT_UNMOUNT_TIMEOUT_MS = 5_000;
const MIB = 1 << 20;
const DEFAULT_DEADLINE_MS = 5000;
const RDPLUS: Record<ReaddirPlus, number> = { off: 0, auto: 1, on: 2 };
/**
 * Names and attributes cached this long where the source is watched (ARCHITECTURE.md, "Caches
 * and invalidation": what the watch cannot see, such as a write through a hard link outside the
 * source or a change on an NFS server, is seen within this bound; 60 s covers the pause between
 * two `git status` of someone at work, longer measured no faster).
 */
export const WATCHED_CACHE_S = 60;

/** One session of the core, passthrough or JS-ops: what the lifecycle below needs of it. */
/** @internal */
export interface Core {
  start(mountpoint: string, source: string): Promise<{ handle: NativeHandle; counters: ArrayBuffer }>;
  stop(handle: NativeHandle, timeoutMs: number): Promise<boolean>;
  cancel(handle: NativeHandle): number;
  layout(): CounterLayout;
  tables?(handle: NativeHandle): NativeTables | null;
  handoverExport?(handle: NativeHandle, listenFd: number, timeoutMs: number, tag: string, extraFds?: readonly number[]): Promise<HandoverStats>;
}

/** @internal */
export function passthroughCore(b: NativeBinding, native: NativeStartOptions): Core {
  const tables = b.tables?.bind(b);
  const handoverExport = b.handoverExport?.bind(b);
  return { start: (mp, source) => b.start(mp, source, native), stop: (h, ms) => b.stop(h, ms), cancel: (h) => b.cancel(h), layout: () => b.layout(), ...(tables ? { tables } : {}), ...(handoverExport ? { handoverExport } : {}) };
}

function opsCore(b: NativeBinding, native: NativeStartOptions, served: NonNullable<MountNativeOptions['ops']>): Core {
  let handle: NativeHandle | undefined;
  // Requests may come before start() resolves (the kernel's first lookups): they wait in C's queue until the handle is known.
  const pending: Array<() => void> = [];
  const reply = (id: number, errno: number, value?: unknown): number => (handle ? b.reply(handle, id, errno, value) : 1);
  const dispatch = createDispatch(served.fs, b.layout().ops, reply, served.log);
  // Fixed parameters, no rest array: this runs for every request (the JavaScript thread reads them all).
  const gate: Dispatch = (id, op, uid, gid, pid, umask, path, a, b2, c, d) => {
    if (handle) dispatch(id, op, uid, gid, pid, umask, path, a, b2, c, d);
    else pending.push(() => dispatch(id, op, uid, gid, pid, umask, path, a, b2, c, d));
  };
  return {
    start: async (mp) => {
      const m = served.mount;
      const s = await b.startOps(mp, { fsname: native.fsname, subtype: native.subtype, attrTimeout: m?.attrTimeoutS ?? native.attrTimeout, entryTimeout: m?.entryTimeoutS ?? native.entryTimeout, keepCache: m?.keepCache ? 1 : 0, maxRead: m?.maxReadBytes ?? 0, readOnly: native.readOnly, allowOther: native.allowOther, deadlineMs: native.deadlineMs, implemented: implementedOps(served.fs), readBuffers: (served.fs as Record<symbol, unknown>)[READ_BUFFERS] === true ? 1 : 0 }, gate);
      handle = s.handle;
      for (const run of pending.splice(0)) run();
      return s;
    },
    stop: (h, ms) => b.stopOps(h, ms),
    cancel: (h) => b.cancelOps(h),
    layout: () => b.layout(),
  };
}

/** @internal */
export function bindingOrThrow(given: NativeBinding | undefined, failed: (m: string) => MountieError): NativeBinding {
  if (given) return given;
  const load = loadNative();
  if (!load.ok) throw failed(load.reason);
  return load.binding;
}

/** The addon's options for these mount options, and the option string for logs. @internal */
export function nativeOptions(opts: MountNativeOptions): { native: NativeStartOptions; options: string } {
  const ttl = opts.cacheTimeoutS ?? 1;
  // On unless refused, or fixed timeouts were asked for alone (ARCHITECTURE.md, "Caches and invalidation").
  const watch = opts.watchSource ?? opts.cacheTimeoutS === undefined;
  const watchTtl = watch && !opts.ops ? (opts.watchTimeoutS ?? WATCHED_CACHE_S) : 0;
  const native: NativeStartOptions = {
    fsname: opts.fsname,
    subtype: opts.subtype,
    attrTimeout: ttl,
    entryTimeout: ttl,
    keepCache: opts.keepCache === false ? 0 : 1,
    readOnly: opts.readOnly ? 1 : 0,
    allowOther: opts.allowOther ? 1 : 0,
    readdirplus: RDPLUS[opts.readdirplus ?? 'off'],
    maxThreads: opts.maxThreads ?? 16,
    maxWrite: MIB,
    maxReadahead: MIB,
    splice: opts.splice ? 1 : 0,
    fdBudget: opts.fdBudget ?? 0,
    deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS,
    watchTimeout: watchTtl,
    ...(opts.watchBudget ? { watchBudget: opts.watchBudget } : {}),
  };
  const options = [`fsname=${opts.fsname}`, `subtype=${opts.subtype}`, 'default_permissions', opts.allowOther && 'allow_other', opts.readOnly && 'ro', `entry_timeout=${ttl}`, `attr_timeout=${ttl}`, `readdirplus=${opts.readdirplus ?? 'off'}`, watchTtl > 0 && `watched_timeout=${watchTtl}`];
  return { native, options: options.filter(Boolean).join(',') };
}

export async function mountNative(opts: MountNativeOptions): Promise<MountedNative> {
  checkName('fsname', opts.fsname);
  checkName('subtype', opts.subtype);
  const failed = (message: string, cause?: unknown): MountieError => new MountieError('ERR_MOUNT_FAILED', message, { data: { path: opts.mountpoint }, cause });
  const binding = bindingOrThrow(opts.binding, failed);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS;
  const { native, options } = nativeOptions(opts);

  const core = opts.ops ? opsCore(binding, native, opts.ops) : passthroughCore(binding, native);
  // Candidates: our fsname and type, mounted by our uid. A name is shared by whoever mounts it
  // (two daemons of one kind's fixture, or anyone with our uid): which candidate is ours is
  // decided by ownMount below, never by the name alone.
  const ours = isOwnFuseMount(opts.fsname, opts.subtype);
  const st: { mountpoint: string; unmark?: () => void; timedOut: boolean } = { mountpoint: opts.mountpoint, timedOut: false };
  const attempt = (async () => {
    st.mountpoint = await realpath(opts.mountpoint);
    const source = opts.ops ? '' : await realpath(opts.source);
    if (servedByUs(st.mountpoint)) throw failed(`${st.mountpoint} is on a mount this process serves`);
    await checkEmptyDir(st.mountpoint, failed);
    st.unmark = markServed(st.mountpoint);
    const before = new Set((await readMountInfo()).filter(ours).map(mountKey));
    const started = await core.start(st.mountpoint, source);
    const fresh = (await readMountInfo()).filter((e) => ours(e) && !before.has(mountKey(e)));
    return { ...started, ...ownMount(fresh, st.mountpoint) };
  })();
  // Nobody waits for a late attempt: a late mount is taken down, a late failure unmarked.
  attempt.then(
    (s) => {
      if (st.timedOut) void takeDown(core, s.handle, st.mountpoint, s.entry, DEFAULT_UNMOUNT_TIMEOUT_MS).catch(() => undefined).finally(() => st.unmark?.());
    },
    () => {
      if (st.timedOut) st.unmark?.();
    },
  );

  try {
    const s = await withDeadline(attempt, timeoutMs, () => {
      st.timedOut = true;
      return failed(`mount of ${opts.mountpoint} did not complete within ${timeoutMs} ms`);
    });
    if (s.entry?.mountPoint !== st.mountpoint) {
      // The addon says mounted, mountinfo does not show it at the mountpoint (it landed elsewhere,
      // or is not visible, or cannot be told from another mount of the same name): never serve it.
      // A stop only joins the threads, it does not unmount, so the mount is taken down first, but
      // only when it is known to be ours (s.entry); otherwise nothing is unmounted.
      const r = await takeDown(core, s.handle, st.mountpoint, s.entry, 2000).catch((err: unknown) => ({ unmounted: false, how: 'none' as const, detail: String(err) }));
      const where = s.entry ? `it showed at ${s.entry.mountPoint}` : s.unsure;
      throw failed(`${st.mountpoint} does not show in /proc/self/mountinfo after the mount (${where}; taken down: ${r.unmounted}${r.detail ? `, ${r.detail}` : ''})`);
    }
    // Held from now on: the one way to end our connection if it outlives our unmount (takeDown).
    const conn = await holdConnectionAbort(s.entry);
    return mountedFrom(core, { ...s, entry: s.entry, conn }, st.mountpoint, options, st.unmark ?? (() => undefined));
  } catch (err) {
    if (!st.timedOut) st.unmark?.();
    if (err instanceof MountieError) throw err;
    throw failed(`could not mount ${opts.mountpoint}: ${(err as Error).message}`, err);
  }
}

/**
 * A mount as the `before` snapshot knows it: mount ids and FUSE connection numbers are both handed
 * out lowest-free and reused at once, so a mount of our name unmounted during the mount window may
 * leave its id (and its connection number) to ours; with the mountpoint as well the key of an old
 * mount is never that of ours.
 */
function mountKey(e: MountEntry): string {
  return `${e.mountId} ${e.device} ${e.mountPoint}`;
}

/**
 * Which of the mounts of our name that appeared while we mounted (`fresh`) is ours. Another
 * process may mount the same fsname and type with our uid at the same time (two test runs, two
 * daemons of one kind's fixture): the last line of mountinfo is whichever mounted last, not ours.
 * Ours is the one at the path we mounted; if none is there, the only fresh one (ours is in our own
 * mount namespace, so it is among them: with one, that one is it); with several elsewhere, none is
 * known to be ours and none may be touched.
 */
export function ownMount(fresh: readonly MountEntry[], mountpoint: string): { entry?: MountEntry; unsure: string } {
  const at = fresh.filter((e) => e.mountPoint === mountpoint);
  if (at.length === 1) return { entry: at[0], unsure: '' };
  if (at.length === 0 && fresh.length === 1) return { entry: fresh[0], unsure: '' };
  const places = fresh.map((e) => e.mountPoint).join(', ');
  return { unsure: fresh.length === 0 ? 'it showed nowhere' : `it cannot be told from other new mounts of its name at ${places}; none touched` };
}

/**
 * Answer what is in flight (EIO), unmount, then join. Requests stuck in the source keep their
 * workers: the join then fails and says so. Two things keep the connection (and so the loop) alive
 * after an unmount that succeeded: a lazy unmount's busy users, and a copy of the mount in another
 * mount namespace (`unshare -m` while we were mounted, private propagation: our unmount does not
 * reach it, and its superblock is ours). Then our own connection is aborted, through the abort
 * file held since the mount (`conn`), which can reach no other; without it (fusectl was not
 * mounted), only after a lazy unmount and by its number (abortConnection's checks). The copy's
 * users then see ENOTCONN, as they would a moment later when the daemon exits.
 */
async function takeDown(binding: Core, h: NativeHandle, mountpoint: string, entry: MountEntry | undefined, timeoutMs: number, stuck: () => number = () => 0, conn?: ConnectionAbort): Promise<UnmountResult> {
  binding.cancel(h);
  // Not known which mount is ours (none, or several of our name appeared at once): none is
  // unmounted, never one found by its name. The threads are only glanced at: they end when the
  // process does (its /dev/fuse closes, and the kernel ends the connection).
  if (!entry) {
    const joined = await binding.stop(h, 50);
    return { unmounted: false, how: 'none', detail: `our mount is not known, none unmounted${joined ? '' : '; the native threads did not end'}` };
  }
  // Our mount by its id, device and source, where we know it sits; only it is unmounted, and only
  // while it is the topmost there (ERR_MOUNT_NOT_OURS otherwise: a mount stacked over ours stays).
  // Never chased elsewhere by that triple: once ours is gone, the kernel hands its id and its
  // connection number (both lowest-free) to the next mount at once, and a mount of the same
  // fsname (another process serving that name) would then match it.
  const mine = sameMount(entry);
  const where = entry.mountPoint;
  const r = await unmountPath(where, { timeoutMs: Math.max(500, Math.floor(timeoutMs / 2)), ours: mine });
  if (!r.unmounted) return r;
  // Never stopped while it is still there (a stale view of the path): the join would wait on a live mount.
  // The read that showed the unmount done serves (one read fewer); 'none' made none after, so read now.
  const still = (r.entries ?? (await readMountInfo())).find((e) => mine(e) && e.mountPoint === where);
  if (still) return { unmounted: false, how: r.how, detail: `still mounted at ${still.mountPoint}` };
  // A worker blocked in the source keeps libfuse from joining it: no wait can end that, so only a glance.
  const joinMs = stuck() > 0 ? 50 : Math.max(200, Math.floor(timeoutMs / 4));
  if (await binding.stop(h, joinMs)) return r;
  // Our own connection, alive after the unmount. Without the held file, only a lazily detached one
  // is aborted by its number: its superblock holds the number. After a full unmount the loop may
  // merely be late to see the connection end, and its freed number may be a new mount's already.
  const aborted = conn ? await conn.abort() : r.how === 'lazy' && (await abortConnection(entry, { pinned: true }));
  if (await binding.stop(h, joinMs)) return aborted ? { ...r, aborted } : r;
  return { unmounted: true, how: r.how, detail: 'unmounted, but the native threads did not end' };
}

/** A serving session as a MountedNative (a mount of ours, or one adopted from another process: ./handover.ts). @internal */
export function mountedFrom(binding: Core, s: { handle: NativeHandle; counters: ArrayBuffer; entry: MountEntry; conn?: ConnectionAbort }, mountpoint: string, options: string, unmark: () => void): MountedNative {
  const layout = binding.layout();
  const counters = (): NativeCounters => readCounters(layout, s.counters);
  let result: Promise<UnmountResult> | undefined;
  // The native threads are no libuv handle: like a listening server, a mount keeps the process alive until unmounted.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return {
    mountpoint,
    options,
    counters,
    cancel: () => binding.cancel(s.handle),
    tables: () => binding.tables?.(s.handle) ?? undefined,
    async handover(listenFd, timeoutMs, opts = {}) {
      if (!binding.handoverExport) throw new MountieError('ERR_HANDOVER', 'this addon has no handover (rebuild it)', { data: { path: mountpoint, reason: 'ERR_HANDOVER_UNSUPPORTED' } });
      if (result) throw new MountieError('ERR_HANDOVER', 'an unmount is under way', { data: { path: mountpoint, reason: 'ERR_HANDOVER_UNSUPPORTED' } });
      const fds = opts.fds ?? [];
      if (fds.length > HANDOVER_EXTRA_FDS || !fds.every((fd) => Number.isInteger(fd) && fd >= 0)) {
        throw new MountieError('ERR_HANDOVER', `handover of ${mountpoint} not begun, serving on: opts.fds must be at most ${HANDOVER_EXTRA_FDS} fds (integers >= 0), got ${JSON.stringify(fds)}`, { data: { path: mountpoint, reason: 'ERR_INVALID_ARG', fds: [...fds] } });
      }
      // The connection's identity for the new process, which finds the same mount in mountinfo.
      const tag = JSON.stringify({ source: s.entry.source, fstype: s.entry.fstype, device: s.entry.device, mountId: s.entry.mountId });
      const stats = await binding.handoverExport(s.handle, listenFd, timeoutMs, tag, fds).catch((err: unknown) => {
        const e = err as { code?: string; message?: string };
        throw new MountieError('ERR_HANDOVER', `handover of ${mountpoint} failed, serving on: ${e.message ?? String(err)}`, { data: { path: mountpoint, reason: e.code ?? 'ERR_HANDOVER_FAILED', ...(err as object) }, cause: err });
      });
      // Handed over: our loop has ended. Our copies of the fds close with the session; the mount and its connection stay (the new process holds them).
      result = Promise.resolve({ unmounted: false, how: 'none', detail: 'handed over to another process' } as UnmountResult);
      await binding.stop(s.handle, 2000);
      unmark();
      clearInterval(keepAlive);
      await s.conn?.close();
      return stats;
    },
    unmount(opts = {}) {
      const timeoutMs = opts.timeoutMs ?? DEFAULT_UNMOUNT_TIMEOUT_MS;
      // One unmount at a time; a failed one may be retried.
      result ??= takeDown(binding, s.handle, mountpoint, s.entry, timeoutMs, () => counters().stuck, s.conn).then(
        (r) => {
          if (!r.unmounted || r.detail) result = undefined;
          else {
            unmark();
            clearInterval(keepAlive);
            void s.conn?.close();
          }
          return r;
        },
        (err: unknown) => {
          // Refused (ERR_MOUNT_NOT_OURS: something sits over our mount) or failed: a later call tries again.
          result = undefined;
          throw err;
        },
      );
      return withDeadline(result, timeoutMs, () => {
        result = undefined;
        return new MountieError('ERR_UNMOUNT_FAILED', `unmount of ${mountpoint} did not finish within ${timeoutMs} ms`, { data: { path: mountpoint, timeoutMs } });
      });
    },
  };
}
