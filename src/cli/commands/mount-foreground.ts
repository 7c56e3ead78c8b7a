import { randomUUID } from 'node:crypto';
import type { Out } from '../output.js';
import { packageVersion } from '../version.js';
import { prepareMount, type MountFlags } from './mount.js';

/** `mount` without `--background`: the daemon in this process, until it stops (its exit code). */
export async function mountForeground(ws: string, flags: MountFlags, out: Out): Promise<number> {
  const { layout, plan } = await prepareMount(ws, flags);
  // The same harness and definition a background daemon runs (src/daemon/passthrough/daemon.ts).
  const [{ runDaemon }, { passthroughDaemon }] = await Promise.all([import('../../daemon/run.js'), import('../../daemon/passthrough/daemon.js')]);
  return runDaemon({
    daemon: passthroughDaemon,
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
