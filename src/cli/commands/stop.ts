import { MountieError, isMountieError } from '../../errors.js';
import { lstat } from 'node:fs/promises';
import { kindOf, resolveHome, workspacePaths, type HomeLayout } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { discover, homeFacts } from '../../launcher/discover.js';
import { inspectWorkspace, listWorkspaces } from '../../launcher/inspect.js';
import { stopWorkspace, type StopReport } from '../../launcher/stop.js';
import { readMountInfo } from '../../sys/mountinfo.js';
import { scanMarked } from '../../protocol/daemons.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';

export interface StopFlags {
  readonly all?: boolean;
  readonly grace: number;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

export function describeStop(r: StopReport): string[] {
  const lines: string[] = [];
  if (r.processes.length === 0) lines.push(`${r.workspace}: no daemon was running`);
  for (const p of r.processes) {
    const how = {
      TERM: 'stopped by SIGTERM',
      KILL: 'killed by SIGKILL after the grace period',
      'already-gone': 'was already gone',
      survived: 'SURVIVED',
      'left-alone': 'left alone',
      appeared: 'started while stopping; not signalled (run stop again to stop it)',
    }[p.ended];
    lines.push(`${r.workspace}: pid ${p.pid}${p.inPidfile ? '' : ' (orphan)'} ${how}`);
  }
  if (r.swept.length) lines.push(`${r.workspace}: killed ${r.swept.length} stray descendant(s): ${r.swept.join(', ')}`);
  if (r.cleaned.aborted) lines.push(`${r.workspace}: aborted a wedged FUSE connection`);
  if (r.cleaned.mount) lines.push(`${r.workspace}: cleaned a stale mount`);
  if (r.cleaned.pidfile) lines.push(`${r.workspace}: removed a stale pidfile`);
  if (r.cleaned.state) lines.push(`${r.workspace}: marked state.json stopped (the daemon had died without shutting down)`);
  if (r.survivors.length) lines.push(`${r.workspace}: STILL RUNNING: pid ${r.survivors.join(', ')}`);
  for (const n of r.notes) lines.push(`${r.workspace}: note: ${n}`);
  if (r.error) lines.push(`${r.workspace}: FAILED: ${r.error.message}${r.error.hint ? ` (what to do: ${r.error.hint})` : ''}`);
  if (r.mountLeft) lines.push(`${r.workspace}: STILL MOUNTED: ${r.mountLeft} (see what is mounted there: findmnt -R ${r.mountLeft}; unmount what covers it, then run: mountie stop ${r.workspace})`);
  return lines;
}

function failedReport(workspace: string, err: unknown): StopReport {
  const error = isMountieError(err) ? { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } : { code: 'ERR_STOP_FAILED', message: err instanceof Error ? err.message : String(err) };
  return { workspace, processes: [], swept: [], cleaned: { mount: false, pidfile: false, state: false, aborted: false }, appeared: [], survivors: [], mountLeft: undefined, notes: [], ok: false, error };
}

/**
 * `stop <ws>` of a workspace that was never configured exits 4 as `status <ws>` does: no workspace
 * directory, and nothing of it runs or is mounted (status' own test). A directory counts as known:
 * a first mount racing this stop makes it before anything else, and what a failed start left
 * there is stop's to clean. The process scan is only paid when the directory is missing.
 */
async function refuseUnknown(layout: HomeLayout, ws: string): Promise<void> {
  const paths = workspacePaths(layout, ws);
  if (await lstat(paths.dir).then(() => true, () => false)) return;
  const s = await inspectWorkspace(await discover(layout, ws, { procs: scanMarked(kindOf(layout)), mounts: await readMountInfo() }, await homeFacts(layout)));
  if (s.known) return;
  throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${ws}: not configured, not running, not mounted; nothing to stop`, {
    data: { workspace: ws },
    hint: 'run: mountie status   (lists the known workspaces)',
  });
}

export async function stopCommand(ws: string | undefined, flags: StopFlags, out: Out): Promise<number> {
  if ((ws === undefined) === !flags.all) {
    throw new MountieError('ERR_INVALID_OPTION', ws === undefined ? 'stop needs a workspace name or --all' : 'give either a workspace name or --all, not both', {
      hint: 'run: mountie stop <ws>   or   mountie stop --all',
    });
  }
  const layout = resolveHome();
  const name = ws === undefined ? undefined : validateName(ws);
  if (name !== undefined) await refuseUnknown(layout, name);
  const names = name !== undefined ? [name] : await listWorkspaces(layout, { procs: scanMarked(kindOf(layout)), mounts: await readMountInfo() }, await homeFacts(layout));
  const reports: StopReport[] = [];
  // One at a time: each stop confirms with its own fresh scan. One that fails does not stop the others.
  for (const n of names) {
    const onWait = ({ signal, pids, ms }: { signal: string; pids: readonly number[]; ms: number }): void =>
      out.progress?.(`stopping ${n}: waiting for pid ${pids.join(', ')} to exit after ${signal} (up to ${ms / 1000} s)`);
    const r = await stopWorkspace(layout, n, { graceMs: flags.grace, onWait })
      .catch((err: unknown) => failedReport(n, err))
      .finally(() => out.progress?.(undefined));
    reports.push(r);
  }
  const ok = reports.every((r) => r.ok);
  if (flags.json) out.json({ schema: 'mountie.stop/v1', ok, workspaces: reports });
  else if (!flags.quiet || !ok) {
    // --quiet: nothing when all went well; the whole report when not.
    if (reports.length === 0) out.line('no workspaces');
    for (const r of reports) for (const l of describeStop(r)) out.line(l);
  }
  return ok ? EXIT.ok : EXIT.failure;
}
