import { MountieError } from '../../errors.js';
import { resolveHome } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { discover } from '../../launcher/discover.js';
import { inspectWorkspace, listWorkspaces, type WorkspaceStatus } from '../../launcher/inspect.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { scanProcesses } from '../../sys/proc.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';

export interface StatusFlags {
  readonly json?: boolean;
}

function uptime(sec: number | undefined): string {
  if (sec === undefined) return '';
  if (sec < 120) return `up ${sec}s`;
  if (sec < 7200) return `up ${Math.round(sec / 60)}m`;
  return `up ${Math.round(sec / 3600)}h`;
}

function line(s: WorkspaceStatus): string {
  const parts = [s.workspace, s.tokens.join(' ')];
  if (s.mountpoint) parts.push(s.mountpoint);
  if (s.daemon) parts.push(uptime(s.daemon.uptimeSec));
  if (s.state && s.verdict === 'running') {
    parts.push(`cursor=${s.state.cursor}`, `health=${s.state.health.ok ? 'ok' : (s.state.health.lastError?.code ?? 'error')}`, `state=${s.state.status}`);
    // degraded/failed: the source's trouble, in words (state.json and --json carry the numbers).
    if ((s.state.status === 'degraded' || s.state.status === 'failed') && s.state.reason) parts.push(`reason=${JSON.stringify(s.state.reason)}`);
  }
  return parts.filter(Boolean).join('  ');
}

export async function statusCommand(ws: string | undefined, flags: StatusFlags, out: Out): Promise<number> {
  const layout = resolveHome();
  const [procs, mounts] = await Promise.all([scanProcesses(), readMountInfo()]);
  const names = ws !== undefined ? [validateName(ws)] : await listWorkspaces(layout, procs);
  const all = await Promise.all(names.map(async (n) => inspectWorkspace(await discover(layout, n, { procs, mounts }))));
  const one = ws !== undefined ? all[0] : undefined;
  if (one && !one.known) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${one.workspace}: not configured, not running, not mounted`, {
      data: { workspace: one.workspace },
      hint: `run: mountie mount ${one.workspace} --source DIR   (mountie status lists the known ones)`,
    });
  }
  if (flags.json) out.json({ schema: 'mountie.status/v1', home: layout.home, workspaces: all });
  else if (all.length === 0) out.line('no workspaces');
  else for (const s of all) out.line(line(s));
  if (one) return one.verdict === 'running' ? EXIT.ok : one.verdict === 'stopped' ? EXIT.stopped : EXIT.failure;
  return all.some((s) => s.verdict === 'leftovers') ? EXIT.failure : EXIT.ok;
}
