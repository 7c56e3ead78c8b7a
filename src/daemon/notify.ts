import { runFile } from '../sys/run.js';

/**
 * systemd Type=notify support. Node has no AF_UNIX datagram sockets, so we ask systemd-notify to
 * send on our behalf (with --pid so systemd attributes it to the daemon). No-op outside systemd.
 */
export async function notifySystemd(state: 'READY=1' | 'STOPPING=1', env: NodeJS.ProcessEnv = process.env, pid = process.pid): Promise<void> {
  if (!env.NOTIFY_SOCKET) return;
  await runFile('systemd-notify', [`--pid=${pid}`, state], 2000);
}
