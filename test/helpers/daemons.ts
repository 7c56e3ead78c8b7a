import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, pidsLabelled } from './sandbox.js';
import { readProc } from '../../src/sys/proc.js';
import { readPidfile, type PidfileDoc } from '../../src/state/pidfile.js';
import { lockAddress, probeLock } from '../../src/daemon/lock.js';

/** Live (non-zombie) mountie daemon processes of a test home: `mount <ws>` in argv, no --background. */
export async function daemonsOf(home: string, ws?: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await pidsLabelled(home)) {
    const p = await readProc(pid);
    if (!p || p.state === 'Z') continue;
    const i = p.argv.indexOf('mount');
    if (i < 0 || p.argv.includes('--background')) continue;
    if (ws !== undefined && p.argv[i + 1] !== ws) continue;
    out.push(pid);
  }
  return out;
}

export async function pidfileOf(home: string, ws: string): Promise<PidfileDoc | undefined> {
  const r = await readPidfile(join(home, 'workspaces', ws, 'daemon.pid'));
  return r.kind === 'ok' ? r.doc : undefined;
}

export async function lockHeld(home: string, ws: string): Promise<boolean> {
  return (await probeLock(lockAddress(home, ws))).held;
}

export async function logOf(home: string, ws: string): Promise<string> {
  return readFile(join(home, 'workspaces', ws, 'daemon.log'), 'utf8').catch(() => '');
}

/** A fresh home with a source dir holding a.txt; the default mountpoint of workspace "ws". */
export async function setupWorkspace(): Promise<{ home: string; src: string; mp: string }> {
  const home = await makeHome();
  const src = join(home, 'src');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'alpha\n');
  return { home, src, mp: join(home, 'mnt', 'ws') };
}
