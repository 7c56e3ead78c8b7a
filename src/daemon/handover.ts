/**
 * Live restart inside the daemon (issue 21; docs/ARCHITECTURE.md, "Live restart"): the serving
 * daemon's side, which on SIGUSR2 hands its live mount and its workspace lock to the daemon a
 * `mountie restart --live` started, and whether this daemon can at all. The new daemon's side is
 * run.ts's take-over start, on ./native/handover.ts's adoptNative.
 *
 * The socket lives in the workspace directory (0700, ours), reached through
 * `/proc/self/fd/<dir fd>/handover.sock` so that a deep home never meets sun_path's 108 bytes;
 * the core sends only to a peer of our own uid (SO_PEERCRED) whatever the socket's mode.
 */
import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MountieError } from '../errors.js';
import { HANDOVER_SIGNAL, HANDOVER_SOCKET, socketPath } from '../protocol/handover.js';
import type { HeldLock } from '../protocol/lock.js';
import type { DaemonStatus } from '../state/state-schema.js';
import type { Logger } from './log.js';
import type { HandoverStats, NativeBinding } from './native/binding.js';
import type { MountedNative } from './native/mount.js';

/** Each step of a handover (a peer connecting, the drain, the acknowledgement) is bounded by this. */
export const HANDOVER_STEP_MS = 3000;

/** Whether a daemon can hand its mount over, and why not: state.json's `live`. */
export interface LiveSupport {
  readonly ready: boolean;
  readonly reason?: string;
}

/**
 * The passthrough on our own FUSE session, not under systemd: what a live restart can take over.
 * A kind's own operations (their state lives in the author's JavaScript), libfuse's session (no
 * pause, no export) and a unit's daemon (systemd would see its main process exit) cannot.
 */
export function liveSupport(opts: { readonly passthrough: boolean; readonly session: string | undefined; readonly canExport: boolean; readonly env: NodeJS.ProcessEnv }): LiveSupport {
  if (!opts.passthrough) return { ready: false, reason: "a kind's own operations: their state lives in its JavaScript, which has no handover hook yet" };
  if (opts.session !== 'own') return { ready: false, reason: "served by libfuse's session (MOUNTIE_SESSION=libfuse), which cannot be handed over" };
  if (!opts.canExport) return { ready: false, reason: 'this build of the native core has no handover' };
  if (opts.env.NOTIFY_SOCKET) return { ready: false, reason: 'run by systemd (mountie unit): systemd would take the exit of its main process for the end of the service' };
  return { ready: true };
}

/** Open the workspace directory (never through a symlink) for {@link socketPath}. */
export function openWorkspaceDir(dir: string): number {
  return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
}

export interface GiveOptions {
  readonly dir: string;
  readonly binding: NativeBinding;
  readonly mounted: MountedNative;
  readonly lock: HeldLock;
  readonly log: Logger;
  /** The status to put back when the handover fails (the health's). */
  readonly status: () => DaemonStatus;
  readonly setStatus: (s: DaemonStatus) => void;
  /** True once a shutdown began: a request then is refused. */
  readonly stopping: () => boolean;
  /** Before the handover begins, and after it ended (ok: handed over). */
  readonly before?: () => void;
  readonly after?: (ok: boolean, stats: HandoverStats | undefined) => void;
  readonly stepMs?: number;
}

export interface Giver {
  /** The handover under way, if any: resolves true when handed over, false when this daemon serves on. */
  readonly current: Promise<boolean> | undefined;
  /** True once the mount is another daemon's. */
  readonly handedOver: boolean;
  /** Stop listening for requests. */
  remove(): void;
}

/** Remove a leftover socket of ours (a handover cut short by a crash): only a socket, in our own directory. */
function removeLeftover(dir: string): void {
  const p = join(dir, HANDOVER_SOCKET);
  try {
    if (lstatSync(p).isSocket()) unlinkSync(p);
  } catch {
    // Nothing there.
  }
}

/** Install the SIGUSR2 handler that hands the mount over to whoever connects (of our uid). */
export function listenForHandover(opts: GiveOptions, proc: NodeJS.Process = process): Giver {
  let current: Promise<boolean> | undefined;
  let handedOver = false;
  const stepMs = opts.stepMs ?? HANDOVER_STEP_MS;
  const give = async (): Promise<boolean> => {
    if (!opts.binding.handoverListen) throw new MountieError('ERR_HANDOVER', 'this addon has no handover', { data: { reason: 'ERR_HANDOVER_UNSUPPORTED' } });
    const before = opts.status();
    opts.setStatus('handing-over');
    opts.before?.();
    let dirFd: number | undefined;
    let listenFd: number | undefined;
    let stats: HandoverStats | undefined;
    try {
      dirFd = openWorkspaceDir(opts.dir);
      removeLeftover(opts.dir);
      listenFd = opts.binding.handoverListen(socketPath(dirFd));
      stats = await opts.mounted.handover(listenFd, stepMs, { fds: [opts.lock.fd] });
      handedOver = true;
      opts.log.info(`handed over to a new daemon: ${stats.nodes} nodes, ${stats.handles} open files, ${stats.inflight} requests drained, paused ${stats.pausedMs.toFixed(1)} ms`);
    } catch (err) {
      opts.log.error(`handover not done, serving on: ${err instanceof Error ? err.message : String(err)}`);
      opts.setStatus(before);
    } finally {
      if (listenFd !== undefined) closeSync(listenFd);
      removeLeftover(opts.dir);
      if (dirFd !== undefined) closeSync(dirFd);
    }
    opts.after?.(handedOver, stats);
    return handedOver;
  };
  const onSignal = (): void => {
    if (current || handedOver) return opts.log.info(`${HANDOVER_SIGNAL} ignored: a handover is under way`);
    if (opts.stopping()) return opts.log.info(`${HANDOVER_SIGNAL} ignored: shutting down`);
    opts.log.info(`${HANDOVER_SIGNAL}: handing the mount over to a new daemon`);
    current = give().finally(() => (current = undefined));
  };
  proc.on(HANDOVER_SIGNAL, onSignal);
  return {
    get current() {
      return current;
    },
    get handedOver() {
      return handedOver;
    },
    remove: () => void proc.off(HANDOVER_SIGNAL, onSignal),
  };
}
