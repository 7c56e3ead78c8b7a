import { randomUUID } from 'node:crypto';
import { MountieError } from '../../errors.js';
import { openReadyChannel } from '../../protocol/channel.js';
import { discover, homeFacts } from '../../launcher/discover.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { scanProcStats } from '../../sys/proc-stat-scan.js';
import { startDaemon } from '../../launcher/start.js';
import { resolveHome, type HomeLayout } from '../../state/paths.js';
import { planMount, type MountPlan } from '../../state/plan.js';
import { acquireLock } from '../../protocol/lock.js';
import { materialize } from '../../state/materialize.js';
import { validateName } from '../../state/names.js';
import { parsePendingConfig, PENDING_CONFIG_ENV, saveConfig } from '../../state/workspace.js';
import { fromSystemError } from '../../sys/errno-error.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { CLI_PATH, packageVersion } from '../version.js';

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

export interface Prepared {
  readonly layout: HomeLayout;
  readonly plan: MountPlan;
}

/** Plan, refuse a running workspace, store a --reconfigure'd config (under the lock), materialize. */
export async function prepareMount(ws: string, flags: MountFlags): Promise<Prepared> {
  const layout = resolveHome();
  const plan = await planMount({ name: ws, source: flags.source, at: flags.at, readOnly: flags.readOnly, allowOther: flags.allowOther, reconfigure: flags.reconfigure }, layout);
  // Fast path for the common "already running": the daemon's own lock stays the authority.
  const now = await discover(layout, plan.config.name, { procs: scanProcStats(), mounts: await readMountInfo() }, await homeFacts(layout));
  if (now.lockHeld || now.daemons.some((d) => !d.exiting)) {
    const pid = (now.daemons.find((d) => d.holdsLock) ?? now.daemons[0])?.pid;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${plan.config.name} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`} at ${plan.config.mountpoint}`, {
      data: { workspace: plan.config.name, ...(pid === undefined ? {} : { pid }), path: plan.config.mountpoint },
      hint: flags.reconfigure ? `stop it first (mountie stop ${plan.config.name}), then mount it with --reconfigure` : `use it as it is, or run: mountie stop ${plan.config.name}`,
    });
  }
  try {
    if (plan.reconfigured) await storeConfigStopped(plan);
    await materialize(plan);
  } catch (err) {
    throw fromSystemError(err);
  }
  return { layout, plan };
}

/** --reconfigure: the new config is stored while we hold the workspace lock, so no daemon runs on the old one meanwhile. */
async function storeConfigStopped(plan: MountPlan): Promise<void> {
  const lock = await acquireLock(plan.paths.lock, plan.config.name);
  try {
    await saveConfig(plan.paths, plan.config);
  } finally {
    await lock.release();
  }
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
export async function startBackground({ layout, plan }: Prepared, flags: Pick<MountFlags, 'readyTimeout'>): Promise<MountDoc> {
  const pendingConfig = plan.isNew ? plan.config : undefined;
  const env = pendingConfig ? { ...process.env, [PENDING_CONFIG_ENV]: JSON.stringify(pendingConfig) } : process.env;
  const r = await startDaemon({ layout, plan, cliPath: CLI_PATH, env, ...(flags.readyTimeout ? { readyTimeoutMs: flags.readyTimeout } : {}) }).catch((err: unknown) => {
    throw fromSystemError(err);
  });
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
