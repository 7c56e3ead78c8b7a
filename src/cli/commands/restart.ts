import { MountieError } from '../../errors.js';
import { stopWorkspace, type StopReport } from '../../launcher/stop.js';
import { restartLive } from '../../launcher/live-restart.js';
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
  readonly live?: boolean;
}

/**
 * `mountie restart <ws>`: stop (as `mountie stop`), then `mount --background` with the stored
 * config. Exit 0 running again, 1 the stop left something (nothing was started), 2 bad input or
 * a corrupt config (nothing was stopped), 4 unknown workspace (nothing was stopped) or the start
 * failed (the error names the log's last error).
 */
/** `live` in the document: only when --live was asked for and not done. */
function liveField(reason: string | undefined): { live?: { done: false; reason: string } } {
  return reason === undefined ? {} : { live: { done: false, reason } };
}

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
  let fallback: string | undefined;
  if (flags.live) {
    const r = await restartLive(layout, paths.name, flags.readyTimeout ? { readyTimeoutMs: flags.readyTimeout } : {});
    if (r.live) {
      const live = { done: true, from: r.from.pid, to: r.to.pid, oldExited: r.oldExited };
      const mount = { schema: 'mountie.mount/v1', workspace: paths.name, pid: r.to.pid, instanceId: r.to.instanceId, mountpoint: r.to.mountpoint, logFile: r.to.logFile };
      if (flags.json) out.json({ schema: 'mountie.restart/v1', workspace: paths.name, ok: true, live, stop: null, mount });
      else out.line(`${paths.name}: handed over live from pid ${r.from.pid} to pid ${r.to.pid}; nothing was unmounted${r.oldExited ? '' : ` (pid ${r.from.pid} has not exited yet)`}`);
      return EXIT.ok;
    }
    fallback = r.reason;
    if (!flags.json) out.line(`${paths.name}: --live not possible (${r.reason}); ${r.running ? 'restarting by unmounting and mounting again' : 'starting it'}`);
  }
  const stopped: StopReport = await stopWorkspace(layout, paths.name, { graceMs: flags.grace });
  if (!stopped.ok) {
    if (flags.json) out.json({ schema: 'mountie.restart/v1', workspace: paths.name, ok: false, ...liveField(fallback), stop: stopped, mount: null });
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
  if (flags.json) out.json({ schema: 'mountie.restart/v1', workspace: paths.name, ok: true, ...liveField(fallback), stop: stopped, mount: mounted });
  else {
    for (const l of describeStop(stopped)) out.line(l);
    out.line(`${paths.name}: mounted at ${mounted.mountpoint} (pid=${mounted.pid}); log: ${mounted.logFile}`);
  }
  return EXIT.ok;
}
