import { closeSync, writeSync } from 'node:fs';

/**
 * The readiness channel: a pipe the launcher passes as an extra fd (MOUNTIE_READY_FD). The daemon
 * writes one JSON line per event. Writes are synchronous (tiny, to a pipe) so a READY is on its
 * way before the next step; if the launcher died (EPIPE) the daemon carries on: it is findable
 * through its lock, pidfile and argv.
 */
export type ChannelMessage =
  | { readonly type: 'ready'; readonly pid: number; readonly instanceId: string; readonly mountpoint: string }
  | { readonly type: 'error'; readonly pid: number; readonly instanceId: string; readonly error: unknown }
  /** A live restart's new daemon is ready to take the mount over: the launcher now asks the serving one to hand it over. */
  | { readonly type: 'waiting'; readonly pid: number; readonly instanceId: string };

export interface ReadyChannel {
  send(msg: ChannelMessage): boolean;
  close(): void;
}

export const READY_FD_ENV = 'MOUNTIE_READY_FD';

export function openReadyChannel(env: NodeJS.ProcessEnv = process.env): ReadyChannel | undefined {
  const fd = Number(env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  let open = true;
  return {
    send(msg) {
      if (!open) return false;
      try {
        writeSync(fd, JSON.stringify(msg) + '\n');
        return true;
      } catch {
        // EPIPE: the launcher is gone. Nobody is left to tell; the daemon stays findable.
        open = false;
        return false;
      }
    },
    close() {
      if (!open) return;
      open = false;
      try {
        closeSync(fd);
      } catch {
        // Already closed.
      }
    },
  };
}
