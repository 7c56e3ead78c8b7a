import { randomUUID } from 'node:crypto';
import { MountieError } from '../../errors.js';
import { runDaemon } from '../../daemon/run.js';
import { openReadyChannel } from '../../daemon/channel.js';
import { lockAddress, probeLock } from '../../daemon/lock.js';
import { startDaemon } from '../../launcher/start.js';
import { resolveHome } from '../../state/paths.js';
import { planMount } from '../../state/plan.js';
import { materialize } from '../../state/materialize.js';
import { validateName } from '../../state/names.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { CLI_PATH, packageVersion } from '../version.js';

export interface MountFlags {
  readonly source?: string;
  readonly at?: string;
  readonly readOnly?: boolean;
  readonly background?: boolean;
  readonly json?: boolean;
  readonly readyTimeout?: number;
  readonly daemonChild?: boolean;
  readonly instance?: string;
}

/** The daemon child the launcher spawned: no validation output, the channel carries the result. */
async function runChild(ws: string, flags: MountFlags): Promise<number> {
  const instanceId = flags.instance ?? randomUUID();
  return runDaemon({ layout: resolveHome(), workspace: validateName(ws), instanceId, argv: process.argv, version: packageVersion(), channel: openReadyChannel() });
}

export async function mountCommand(ws: string, flags: MountFlags, out: Out): Promise<number> {
  if (flags.daemonChild) return runChild(ws, flags);
  const layout = resolveHome();
  const plan = await planMount({ name: ws, source: flags.source, at: flags.at, readOnly: flags.readOnly }, layout);
  // Fast path for the common "already running": the daemon's own lock stays the authority.
  const probe = await probeLock(lockAddress(layout.home, plan.config.name));
  if (probe.held) {
    const pid = probe.owner?.pid;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${plan.config.name} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`} at ${plan.config.mountpoint}`, {
      data: { workspace: plan.config.name, ...(pid === undefined ? {} : { pid }), path: plan.config.mountpoint },
      hint: `use it as it is, or run: mountie stop ${plan.config.name}`,
    });
  }
  await materialize(plan);
  if (flags.background) {
    const r = await startDaemon({ layout, plan, cliPath: CLI_PATH, ...(flags.readyTimeout ? { readyTimeoutMs: flags.readyTimeout } : {}) });
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
    echo: flags.json ? undefined : (line) => out.echo(line),
    onReady: ({ mountpoint, pid }) => {
      if (flags.json) out.json({ schema: 'mountie.mount/v1', workspace: plan.config.name, pid, mountpoint, source: plan.config.source, logFile: plan.paths.log, foreground: true });
      else out.line(`mounted ${plan.config.name} at ${mountpoint} (pid=${pid}); press Ctrl-C to unmount`);
    },
  });
}
