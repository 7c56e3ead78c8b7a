import { randomUUID } from 'node:crypto';
import { openReadyChannel } from '../../protocol/channel.js';
import { resolveHome } from '../../state/paths.js';
import { prepareMount as prepareLaunch, startPrepared, type PreparedMount } from '../../launcher/prepare.js';
import { validateName } from '../../state/names.js';
import { parsePendingConfig, PENDING_CONFIG_ENV } from '../../state/workspace.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { packageVersion } from '../version.js';

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
  readonly daemonChild?: boolean;
  readonly instance?: string;
}

/** The daemon child the launcher spawned: no validation output, the channel carries the result. */
async function runChild(ws: string, flags: MountFlags): Promise<number> {
  const instanceId = flags.instance ?? randomUUID();
  const workspace = validateName(ws);
  const pendingConfig = parsePendingConfig(process.env[PENDING_CONFIG_ENV], workspace);
  // Not handed on to what the daemon runs (fusermount).
  delete process.env[PENDING_CONFIG_ENV];
  // Loaded only here: the daemon's modules (and fuse-native) are the bulk of a launch's start-up.
  const { runDaemon } = await import('../../daemon/run.js');
  return runDaemon({ layout: resolveHome(), workspace, instanceId, argv: process.argv, version: packageVersion(), channel: openReadyChannel(), pendingConfig });
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
  if (flags.daemonChild) return runChild(ws, flags);
  const prepared = await prepareMount(ws, flags);
  const { layout, plan } = prepared;
  if (flags.background) {
    out.progress?.(`starting ${plan.config.name}: waiting for the daemon to mount ${plan.config.mountpoint}`);
    const doc = await startBackground(prepared, flags).finally(() => out.progress?.(undefined));
    if (flags.json) out.json(doc);
    else if (!flags.quiet) out.line(`mounted ${plan.config.name} at ${doc.mountpoint} (pid=${doc.pid}${plan.reconfigured ? ', new options stored' : ''}); stop with: mountie stop ${plan.config.name}`);
    return EXIT.ok;
  }
  const { runDaemon } = await import('../../daemon/run.js');
  return runDaemon({
    layout,
    workspace: plan.config.name,
    instanceId: randomUUID(),
    argv: process.argv,
    version: packageVersion(),
    pendingConfig: plan.isNew ? plan.config : undefined,
    echo: flags.json || flags.quiet ? undefined : (line) => out.echo(line),
    onReady: ({ mountpoint, pid }) => {
      if (flags.json) out.json({ schema: 'mountie.mount/v1', workspace: plan.config.name, pid, mountpoint, source: plan.config.source, logFile: plan.paths.log, foreground: true });
      else if (!flags.quiet) out.line(`mounted ${plan.config.name} at ${mountpoint} (pid=${pid}); press Ctrl-C to unmount`);
    },
  });
}
