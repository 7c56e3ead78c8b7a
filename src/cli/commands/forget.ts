import { forgetWorkspace, type ForgetReport } from '../../launcher/forget.js';
import { resolveHome } from '../../state/paths.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { field } from './status.js';

export interface ForgetFlags {
  readonly json?: boolean;
}

export function describeForget(r: ForgetReport): string[] {
  const lines = r.removed.map((p) => `${r.workspace}: removed ${field(p)}`);
  for (const k of r.kept) lines.push(`${r.workspace}: kept ${field(k.path)} (${k.reason})`);
  for (const l of r.left) lines.push(`${r.workspace}: LEFT ${field(l.path)}: ${l.reason}`);
  lines.push(r.ok ? `${r.workspace}: forgotten` : `${r.workspace}: forgotten, but some files are left (named above)`);
  return lines;
}

/** `mountie forget <ws>`: exit 0 forgotten, 1 something left (named), 3 running or mounted, 4 unknown. */
export async function forgetCommand(ws: string, flags: ForgetFlags, out: Out): Promise<number> {
  const r = await forgetWorkspace(resolveHome(), ws);
  if (flags.json) out.json({ schema: 'mountie.forget/v1', ...r });
  else for (const l of describeForget(r)) out.line(l);
  return r.ok ? EXIT.ok : EXIT.failure;
}
