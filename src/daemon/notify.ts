import { runFile } from '../sys/run.js';

export interface NotifyOptions {
  /** Sent as STATUS=<text> in the same message (what `systemctl status` shows). Newlines become spaces. */
  readonly status?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly pid?: number;
}

/**
 * systemd Type=notify support: READY=1, STOPPING=1 and STATUS=<text> (`state` undefined: status
 * only). No-op outside systemd (no NOTIFY_SOCKET). Bounded (2 s) and never throws.
 *
 * Why systemd-notify and not a socket of our own: Node has no AF_UNIX datagram sockets, and the
 * notify must work before the addon is known to load (and say so when it does not). systemd 252
 * and later make the helper reliable: it sends `MAINPID=<pid>` with the message, then a
 * `BARRIER=1` and waits until systemd has processed both, so systemd still finds the sender in
 * the unit's cgroup (the old race: a helper that exited before systemd read its message was
 * dropped). As root, its credentials carry the daemon's pid (`--pid`); a user's cannot, so the
 * unit says `NotifyAccess=all` (see src/systemd/unit.ts).
 */
export async function notifySystemd(state: 'READY=1' | 'STOPPING=1' | undefined, opts: NotifyOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return;
  const args = [`--pid=${opts.pid ?? process.pid}`];
  if (opts.status !== undefined) args.push(`--status=${opts.status.replace(/[\r\n]+/g, ' ')}`);
  if (state) args.push(state);
  await runFile('systemd-notify', args, 2000, env);
}
