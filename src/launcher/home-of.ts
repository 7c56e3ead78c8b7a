import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { resolveHome } from '../state/paths.js';
import { procCwd } from '../sys/proc.js';

/**
 * Which MOUNTIE_HOME a process serves, from its initial environment (/proc/<pid>/environ) and
 * cwd. Two homes may both have a workspace "demo": `stop demo` must only touch its own home's.
 * undefined when the environment cannot be read (another user's process, or gone).
 */
export async function homeOfProcess(pid: number): Promise<string | undefined> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    // EACCES (not ours) or ENOENT (gone): we cannot tell, and then must not act on it.
    return undefined;
  }
  const env: NodeJS.ProcessEnv = {};
  for (const kv of raw.split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  // Without a cwd a relative MOUNTIE_HOME resolves against /; absolute ones (the norm) are unaffected.
  const cwd = (await procCwd(pid)) ?? '/';
  if (env.MOUNTIE_HOME) env.MOUNTIE_HOME = resolve(cwd, env.MOUNTIE_HOME);
  return resolveHome(env).home;
}
