/**
 * The new process's side of issue 21's live handover (native/src/handover.c; docs/ARCHITECTURE.md,
 * "2026-12-08: step 2 for 21"): receive a live connection from the process serving it, check that
 * the mount it names is there (and the old process's extra fds, through checkFds), then commit and
 * serve it. Test-only for now (the stand-in, test/fixtures/serve-passthrough.mjs); the CLI, the
 * lock and the pidfile take it up later. @internal
 */
import { closeSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { MountieError } from '../../errors.js';
import { readMountInfo, type MountEntry } from '../../sys/mountinfo.js';
import { holdConnectionAbort } from '../../sys/fusermount.js';
import { markServed, servedByUs } from '../mountpoint.js';
import { bindingOrThrow, mountedFrom, nativeOptions, passthroughCore, type MountedNative, type MountNativeOptions } from './mount.js';

export interface AdoptNativeOptions extends Omit<MountNativeOptions, 'mountpoint' | 'ops' | 'fsname' | 'subtype'> {
  /** The unix socket the old process listens on (binding.handoverListen). */
  readonly socket: string;
  /** Per step: connect, receive, the old process's commit. Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Checks the old process's extra fds (the workspace lock's: is it the lock file, and locked?)
   * after the receive, before the commit; a throw gives the adoption up (the old process serves
   * on, the fds are closed) and rejects adoptNative with ERR_HANDOVER (a MountieError as thrown).
   * It must not close them.
   */
  readonly checkFds?: (fds: readonly number[]) => Promise<void> | void;
  /** Test hook: runs after the receive, before the acknowledgement (a fault injected there: the old process serves on). */
  readonly beforeCommit?: () => Promise<void> | void;
}

export interface Adopted {
  readonly mounted: MountedNative;
  /** FUSE_NOTIFY_RESEND's answer: 0, or -errno (EINVAL: a kernel older than 6.9). */
  readonly resend: number;
  /** The old process's extra fds (MountedNative.handover's `opts.fds`), the caller's to close. */
  readonly fds: readonly number[];
}

/** What the old process says about its mount (mount.ts handover's tag). */
interface Tag {
  readonly source: string;
  readonly fstype: string;
  readonly device: string;
  readonly mountId: number;
}

function failed(reason: string, message: string, cause?: unknown): MountieError {
  return new MountieError('ERR_HANDOVER', message, { data: { reason }, cause });
}

function asFailure(err: unknown): MountieError {
  if (err instanceof MountieError) return err;
  const e = err as { code?: string; message?: string };
  return failed(e.code ?? 'ERR_HANDOVER_FAILED', `handover not taken: ${e.message ?? String(err)}`, err);
}

/** The extra fds of an adoption given up: never leaked (the old process keeps its own copies). */
function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // close(2) frees the fd whatever it answers (EBADF: it was not open): nothing is left to leak.
    }
  }
}

export async function adoptNative(opts: AdoptNativeOptions): Promise<Adopted> {
  const binding = bindingOrThrow(opts.binding, (m) => failed('ERR_HANDOVER_UNSUPPORTED', m));
  if (!binding.adoptReceive || !binding.adoptCommit || !binding.adoptDiscard) throw failed('ERR_HANDOVER_UNSUPPORTED', 'this addon has no handover (rebuild it)');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // fsname and subtype are the mount's, carried in the tag; the options that shape the connection are checked by the core.
  const { native, options } = nativeOptions({ ...opts, mountpoint: '', fsname: 'adopted', subtype: 'adopted' });
  const source = await realpath(opts.source);
  const r = await binding.adoptReceive(opts.socket, source, native, timeoutMs).catch((err: unknown) => {
    throw asFailure(err); // the extra fds were closed by the core
  });
  // Ours from here: returned on success, closed on any failure (an older addon sends none).
  const fds: readonly number[] = r.fds ?? [];
  try {
    const tag = JSON.parse(r.tag) as Tag;
    // The same mount: at the mountpoint the core names, with the old process's device (its connection) and id.
    // The mount table read while the caller checks the fds: the old process stays paused until our
    // acknowledgement. Both settled before anything fails: a failure closes the fds, whose numbers
    // the other read may hold by then (seen once: EBADF in readMountInfo, unhandled).
    const [read, checked] = await Promise.allSettled([readMountInfo(), Promise.resolve().then(() => opts.checkFds?.(fds))]);
    if (checked.status === 'rejected') throw checked.reason;
    if (read.status === 'rejected') throw read.reason;
    const entries = read.value;
    const entry: MountEntry | undefined = entries.find((e) => e.mountPoint === r.mountpoint && e.device === tag.device && e.mountId === tag.mountId && e.source === tag.source && e.fstype === tag.fstype);
    if (!entry) throw failed('ERR_HANDOVER_MISMATCH', `the handed-over mount (${tag.source} at ${r.mountpoint}, ${tag.device}) is not in /proc/self/mountinfo here`);
    if (servedByUs(r.mountpoint)) throw failed('ERR_HANDOVER_MISMATCH', `${r.mountpoint} is served by this process already`);
    await opts.beforeCommit?.();
    const s = await binding.adoptCommit(r.adoption, timeoutMs);
    const conn = await holdConnectionAbort(entry);
    const subtype = tag.fstype.replace(/^fuse\./, '');
    const mounted = mountedFrom(passthroughCore(binding, native), { handle: s.handle, counters: s.counters, entry, conn }, r.mountpoint, options.replace('fsname=adopted', `fsname=${tag.source}`).replace('subtype=adopted', `subtype=${subtype}`), markServed(r.mountpoint));
    return { mounted, resend: s.resend, fds };
  } catch (err) {
    binding.adoptDiscard(r.adoption); // before the acknowledgement: the old process serves on (after it: nothing left to discard)
    closeAll(fds);
    throw asFailure(err);
  }
}
