import { MountieError } from '../../errors.js';
import { resolveHome } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { discover, homeFacts } from '../../launcher/discover.js';
import { inspectWorkspace, listWorkspaces, type WorkspaceStatus } from '../../launcher/inspect.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { scanProcStats } from '../../sys/proc-stat-scan.js';
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

/** A path as one field of a line: quoted when it holds whitespace, quotes or control characters, so a newline can never split a line. */
export function field(text: string): string {
  return /^[\x21-\x7e\u00a0-\uffff]+$/.test(text) && !text.includes('"') ? text : JSON.stringify(text);
}

function line(s: WorkspaceStatus): string {
  const parts = [s.workspace, s.tokens.join(' ')];
  if (s.mountpoint) parts.push(field(s.mountpoint));
  for (const mp of s.mountpoints) if (mp !== s.mountpoint) parts.push(`also-mounted=${field(mp)}`);
  if (s.daemon) parts.push(uptime(s.daemon.uptimeSec));
  if (s.configError) parts.push(`config=corrupt`);
  if (s.state && (s.verdict === 'running' || s.verdict === 'failed')) {
    parts.push(`cursor=${s.state.cursor}`, `state=${s.state.status}`);
    // The state writer's own health: only worth a word when its writes fail (never "ok" beside a failed mount).
    if (!s.state.health.ok) parts.push(`state-writes=${s.state.health.lastError?.code ?? 'failing'}`);
    // degraded/failed: the source's trouble, in words (state.json and --json carry the numbers).
    if ((s.state.status === 'degraded' || s.state.status === 'failed') && s.state.reason) parts.push(`reason=${JSON.stringify(s.state.reason)}`);
  }
  parts.push(`log=${field(s.logFile)}`);
  return parts.filter(Boolean).join('  ');
}

export async function statusCommand(ws: string | undefined, flags: StatusFlags, out: Out): Promise<number> {
  const layout = resolveHome();
  const name = ws === undefined ? undefined : validateName(ws);
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const snap = { procs: scanProcStats(), mounts };
  const names = name !== undefined ? [name] : await listWorkspaces(layout, snap, facts);
  const all = await Promise.all(names.map(async (n) => inspectWorkspace(await discover(layout, n, snap, facts))));
  const one = name !== undefined ? all[0] : undefined;
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
  return all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? EXIT.failure : EXIT.ok;
}
