import { resolveHome } from '../../state/paths.js';
import { prepareMount as prepareLaunch, startPrepared, type PreparedMount } from '../../launcher/prepare.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';

export interface MountFlags {
  readonly source?: string;
  readonly at?: string;
  readonly readOnly?: boolean;
  readonly reconfigure?: boolean;
  readonly allowOther?: boolean;
  readonly background?: boolean;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly readyTimeout?: number;
}

/** Plan, refuse a running workspace, store a --reconfigure'd config (under the lock), materialize. */
export function prepareMount(ws: string, flags: MountFlags): Promise<PreparedMount> {
  return prepareLaunch(resolveHome(), { name: ws, source: flags.source, at: flags.at, readOnly: flags.readOnly, allowOther: flags.allowOther, reconfigure: flags.reconfigure });
}

export interface MountDoc {
  readonly schema: 'mountie.mount/v1';
  readonly workspace: string;
  readonly pid: number;
  readonly instanceId: string;
  readonly mountpoint: string;
  readonly source: string;
  readonly logFile: string;
  readonly readOnly: boolean;
}

/** Start a detached daemon for a prepared mount and wait until it is usable. */
export async function startBackground(prepared: PreparedMount, flags: Pick<MountFlags, 'readyTimeout'>): Promise<MountDoc> {
  const { plan } = prepared;
  const r = await startPrepared(prepared, flags.readyTimeout ? { readyTimeoutMs: flags.readyTimeout } : {});
  return { schema: 'mountie.mount/v1', workspace: plan.config.name, pid: r.pid, instanceId: r.instanceId, mountpoint: r.mountpoint, source: plan.config.source, logFile: r.logFile, readOnly: plan.config.readOnly };
}

export async function mountCommand(ws: string, flags: MountFlags, out: Out): Promise<number> {
  // Decided before anything is prepared: the command's bundle (dist/cli/bin.cjs) leaves the daemon
  // out and hands a foreground mount, untouched so far, to the whole CLI (scripts/bundle.mjs).
  if (!flags.background) return (await import('./mount-foreground.js')).mountForeground(ws, flags, out);
  const prepared = await prepareMount(ws, flags);
  const { plan } = prepared;
  out.progress?.(`starting ${plan.config.name}: waiting for the daemon to mount ${plan.config.mountpoint}`);
  const doc = await startBackground(prepared, flags).finally(() => out.progress?.(undefined));
  if (flags.json) out.json(doc);
  else if (!flags.quiet) out.line(`mounted ${plan.config.name} at ${doc.mountpoint} (pid=${doc.pid}${plan.reconfigured ? ', new options stored' : ''}); stop with: mountie stop ${plan.config.name}`);
  return EXIT.ok;
}
