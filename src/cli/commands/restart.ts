import { MountieError } from '../../errors.js';
import { stopWorkspace, type StopReport } from '../../launcher/stop.js';
import { resolveHome, workspacePaths } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { loadConfig } from '../../state/workspace.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { prepareMount, startBackground } from './mount.js';
import { describeStop } from './stop.js';

export interface RestartFlags {
  readonly grace: number;
  readonly readyTimeout?: number;
  readonly json?: boolean;
}

/**
 * `mountie restart <ws>`: stop (as `mountie stop`), then `mount --background` with the stored
 * config. Exit 0 running again, 1 the stop left something (nothing was started), 2 bad input or
 * a corrupt config (nothing was stopped), 4 unknown workspace (nothing was stopped) or the start
 * failed (the error names the log's last error).
 */
export async function restartCommand(ws: string, flags: RestartFlags, out: Out): Promise<number> {
  const layout = resolveHome();
  const paths = workspacePaths(layout, validateName(ws));
  // Before anything is stopped: a workspace that could not be started again is refused as it is.
  if (!(await loadConfig(paths))) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${paths.name}: it has no stored config to restart with`, {
      data: { workspace: paths.name, path: paths.config },
      hint: `run: mountie mount ${paths.name} --source DIR --background`,
    });
  }
  const stopped: StopReport = await stopWorkspace(layout, paths.name, { graceMs: flags.grace });
  if (!stopped.ok) {
    if (flags.json) out.json({ schema: 'mountie.restart/v1', workspace: paths.name, ok: false, stop: stopped, mount: null });
    else for (const l of [...describeStop(stopped), `${paths.name}: not started again: the stop left something (named above)`]) out.line(l);
    return EXIT.failure;
  }
  let mounted;
  try {
    mounted = await startBackground(await prepareMount(paths.name, {}), flags);
  } catch (err) {
    if (err instanceof MountieError) {
      const was = stopped.processes.map((p) => p.pid);
      throw new MountieError(err.code, `restart of ${paths.name}: ${was.length ? `stopped pid ${was.join(', ')}, ` : ''}then the start failed: ${err.message}`, { data: { ...err.data, stop: stopped }, ...(err.hint ? { hint: err.hint } : {}), cause: err });
    }
    throw err;
  }
  if (flags.json) out.json({ schema: 'mountie.restart/v1', workspace: paths.name, ok: true, stop: stopped, mount: mounted });
  else {
    for (const l of describeStop(stopped)) out.line(l);
    out.line(`${paths.name}: mounted at ${mounted.mountpoint} (pid=${mounted.pid}); log: ${mounted.logFile}`);
  }
  return EXIT.ok;
}
