import { randomUUID } from 'node:crypto';
import { MountieError } from '../../errors.js';
import { runDaemon } from '../../daemon/run.js';
import { openReadyChannel } from '../../protocol/channel.js';
import { discover, homeFacts } from '../../launcher/discover.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { scanProcStats } from '../../sys/proc-stat-scan.js';
import { startDaemon } from '../../launcher/start.js';
import { resolveHome } from '../../state/paths.js';
import { planMount } from '../../state/plan.js';
import { materialize } from '../../state/materialize.js';
import { validateName } from '../../state/names.js';
import { parsePendingConfig, PENDING_CONFIG_ENV } from '../../state/workspace.js';
import { fromSystemError } from '../../sys/errno-error.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { CLI_PATH, packageVersion } from '../version.js';

export interface MountFlags {
  readonly source?: string;
  readonly at?: string;
  readonly readOnly?: boolean;
  readonly allowOther?: boolean;
  readonly background?: boolean;
  readonly json?: boolean;
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
  return runDaemon({ layout: resolveHome(), workspace, instanceId, argv: process.argv, version: packageVersion(), channel: openReadyChannel(), pendingConfig });
}

export async function mountCommand(ws: string, flags: MountFlags, out: Out): Promise<number> {
  if (flags.daemonChild) return runChild(ws, flags);
  const layout = resolveHome();
  const plan = await planMount({ name: ws, source: flags.source, at: flags.at, readOnly: flags.readOnly, allowOther: flags.allowOther }, layout);
  // Fast path for the common "already running": the daemon's own lock stays the authority.
  const now = await discover(layout, plan.config.name, { procs: scanProcStats(), mounts: await readMountInfo() }, await homeFacts(layout));
  if (now.lockHeld || now.daemons.some((d) => !d.exiting)) {
    const pid = (now.daemons.find((d) => d.holdsLock) ?? now.daemons[0])?.pid;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${plan.config.name} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`} at ${plan.config.mountpoint}`, {
      data: { workspace: plan.config.name, ...(pid === undefined ? {} : { pid }), path: plan.config.mountpoint },
      hint: `use it as it is, or run: mountie stop ${plan.config.name}`,
    });
  }
  try {
    await materialize(plan);
  } catch (err) {
    throw fromSystemError(err);
  }
  const pendingConfig = plan.isNew ? plan.config : undefined;
  if (flags.background) {
    const env = pendingConfig ? { ...process.env, [PENDING_CONFIG_ENV]: JSON.stringify(pendingConfig) } : process.env;
    const r = await startDaemon({ layout, plan, cliPath: CLI_PATH, env, ...(flags.readyTimeout ? { readyTimeoutMs: flags.readyTimeout } : {}) }).catch((err: unknown) => {
      throw fromSystemError(err);
    });
    if (flags.json) out.json({ schema: 'mountie.mount/v1', workspace: plan.config.name, pid: r.pid, instanceId: r.instanceId, mountpoint: r.mountpoint, source: plan.config.source, logFile: r.logFile });
    else out.line(`mounted ${plan.config.name} at ${r.mountpoint} (pid=${r.pid}); stop with: mountie stop ${plan.config.name}`);
    return EXIT.ok;
  }
  return runDaemon({
    layout,
    workspace: plan.config.name,
    instanceId: randomUUID(),
    argv: process.argv,
    version: packageVersion(),
    pendingConfig,
    echo: flags.json ? undefined : (line) => out.echo(line),
    onReady: ({ mountpoint, pid }) => {
      if (flags.json) out.json({ schema: 'mountie.mount/v1', workspace: plan.config.name, pid, mountpoint, source: plan.config.source, logFile: plan.paths.log, foreground: true });
      else out.line(`mounted ${plan.config.name} at ${mountpoint} (pid=${pid}); press Ctrl-C to unmount`);
    },
  });
}
