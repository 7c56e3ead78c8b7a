import { MountieError } from '../../errors.js';
import { resolveHome } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { discover, homeFacts, homeSnapshot } from '../../launcher/discover.js';
import { inspectWorkspace, listWorkspaces, type WorkspaceStatus } from '../../launcher/inspect.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { paint, type Colour } from '../tty.js';

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

/** The fields of a workspace's line, in line order: scripts parse the joined form (see line()). */
function fields(s: WorkspaceStatus): { tokens: string; mountpoint: string; uptime: string; details: string[] } {
  const details: string[] = [];
  for (const mp of s.mountpoints) if (mp !== s.mountpoint) details.push(`also-mounted=${field(mp)}`);
  const up = s.daemon ? uptime(s.daemon.uptimeSec) : '';
  const parts = details;
  if (s.configError) parts.push(`config=corrupt`);
  if (s.state && (s.verdict === 'running' || s.verdict === 'failed')) {
    parts.push(`cursor=${s.state.cursor}`, `state=${s.state.status}`);
    // The state writer's own health: only worth a word when its writes fail (never "ok" beside a failed mount).
    if (!s.state.health.ok) parts.push(`state-writes=${s.state.health.lastError?.code ?? 'failing'}`);
    // degraded/failed: the source's trouble, in words (state.json and --json carry the numbers).
    if ((s.state.status === 'degraded' || s.state.status === 'failed') && s.state.reason) parts.push(`reason=${JSON.stringify(s.state.reason)}`);
  }
  parts.push(`log=${field(s.logFile)}`);
  return { tokens: s.tokens.join(' '), mountpoint: s.mountpoint ? field(s.mountpoint) : '', uptime: up, details };
}

/** One line per workspace, fields two spaces apart (empty ones left out): what scripts parse; unchanged when stdout is not a TTY. */
export function line(s: WorkspaceStatus): string {
  const f = fields(s);
  const [also, rest] = [f.details.filter((d) => d.startsWith('also-mounted=')), f.details.filter((d) => !d.startsWith('also-mounted='))];
  return [s.workspace, f.tokens, f.mountpoint, ...also, f.uptime, ...rest].filter(Boolean).join('  ');
}

const VERDICT_COLOUR: Record<WorkspaceStatus['verdict'], Colour> = { running: 'green', stopped: 'dim', leftovers: 'red', failed: 'red' };

/** For people at a terminal: a table with a header, the status coloured (unless NO_COLOR). */
export function table(all: readonly WorkspaceStatus[], colour: boolean): string[] {
  const rows = all.map((s) => {
    const f = fields(s);
    const starting = s.verdict === 'running' && /^(starting|stopping|handing-over)\(/.test(f.tokens);
    return { cells: [s.workspace, f.tokens, f.mountpoint, f.uptime, f.details.join('  ')], colour: starting ? ('yellow' as const) : VERDICT_COLOUR[s.verdict] };
  });
  const header = ['WORKSPACE', 'STATUS', 'MOUNTPOINT', 'UPTIME', 'DETAILS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r.cells[i] ?? '').length)));
  const render = (cells: readonly string[], paintCell: (i: number, text: string) => string): string =>
    cells
      .map((c, i) => paintCell(i, c) + (i === cells.length - 1 ? '' : ' '.repeat(Math.max(0, (widths[i] ?? 0) - c.length))))
      .join('  ')
      .trimEnd();
  return [
    render(header, (_i, t) => paint(colour, 'bold', t)),
    ...rows.map((r) => render(r.cells, (i, t) => (i === 1 ? paint(colour, r.colour, t) : t))),
  ];
}

export async function statusCommand(ws: string | undefined, flags: StatusFlags, out: Out): Promise<number> {
  const layout = resolveHome();
  const name = ws === undefined ? undefined : validateName(ws);
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const snap = await homeSnapshot(layout, mounts, facts);
  const names = name !== undefined ? [name] : await listWorkspaces(layout, snap, facts);
  const found = await Promise.all(names.map((n) => discover(layout, n, snap, facts)));
  // Another kind's workspaces in this home are not mountie's to list (asked by name, status says whose it is).
  const all = await Promise.all(found.filter((d) => name !== undefined || d.configErrorCode !== 'ERR_KIND_MISMATCH').map((d) => inspectWorkspace(d)));
  const one = name !== undefined ? all[0] : undefined;
  if (one && !one.known) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${one.workspace}: not configured, not running, not mounted`, {
      data: { workspace: one.workspace },
      hint: `run: mountie mount ${one.workspace} --source DIR   (mountie status lists the known ones)`,
    });
  }
  if (flags.json) out.json({ schema: 'mountie.status/v1', home: layout.home, workspaces: all });
  else if (all.length === 0) out.line('no workspaces');
  else if (out.stdoutTty) for (const l of table(all, out.colour === true)) out.line(l);
  else for (const s of all) out.line(line(s));
  if (one) return one.verdict === 'running' ? EXIT.ok : one.verdict === 'stopped' ? EXIT.stopped : EXIT.failure;
  return all.some((s) => s.verdict === 'leftovers' || s.verdict === 'failed') ? EXIT.failure : EXIT.ok;
}
