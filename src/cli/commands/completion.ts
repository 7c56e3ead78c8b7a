import { readdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveHome } from '../../state/paths.js';
import { WORKSPACE_NAME } from '../../state/names.js';
import { bashCompletion, specFromProgram, zshCompletion } from '../completion.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';

export const SHELLS = ['bash', 'zsh'] as const;

export async function completionCommand(shell: (typeof SHELLS)[number], program: Command, out: Out): Promise<number> {
  const spec = specFromProgram(program);
  out.line((shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec)).trimEnd());
  return EXIT.ok;
}

/**
 * `mountie __workspaces`: the configured names, one a line, for completion on every Tab. Only a
 * readdir: no process scan, no lock; a missing or unreadable home lists nothing (exit 0: a
 * completion must never print an error into the user's command line).
 */
export async function workspacesCommand(out: Out): Promise<number> {
  const names = await readdir(resolveHome().workspacesDir).catch(() => [] as string[]);
  for (const n of names.filter((n) => WORKSPACE_NAME.test(n)).sort()) out.line(n);
  return EXIT.ok;
}
