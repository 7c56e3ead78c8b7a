/**
 * The chaos world: one main home (also reached through a symlink), a second copy of the build,
 * a foreign home with real daemons of the same workspace names, and decoys. Everything lives in
 * homes made by makeHome, so reapAll removes it; `reapWorld` first kills what carries the
 * symlink spelling of the home, which the home's own reaper does not recognise.
 */
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, makeHome, REPO } from '../helpers/sandbox.js';
import { checkDecoys, lockNameOf, startDecoy, writeDecoyScripts, type Decoy } from './decoys.js';
import { homeEnvOf, listPids, readMounts, statOf, taggedMountAt } from './procfs.js';
import { runCall } from './run.js';
import type { HomeView } from './daemons.js';

export const NAMES = ['alpha', 'beta', 'gamma'] as const;
/** Never configured; its lock name (today's scheme) is held by a squatter decoy. */
export const SQUATTED = 'delta';

export interface Foreign {
  readonly ws: string;
  readonly pid: number;
  readonly startTime: number;
  readonly mountId: number;
  readonly mountPoint: string;
}

export interface World {
  readonly home: string;
  readonly link: string;
  readonly aux: string;
  readonly cli: string;
  readonly copyCli: string;
  readonly home2: string;
  readonly foreign: readonly Foreign[];
  readonly decoys: readonly Decoy[];
  readonly view: HomeView;
  /** Foreground daemons we started and that reported ready: pid → child and workspace. */
  readonly fg: Map<number, { child: ChildProcess; ws: string }>;
  /** Pids we SIGSTOPped, with the step number. */
  readonly stopped: Map<number, number>;
  /** Workspaces whose pidfile we tampered with since the last clean stop or start. */
  readonly tampered: Set<string>;
  /** Highest state.json cursor seen per workspace. */
  readonly cursors: Map<string, number>;
}

export const srcOf = (w: World, ws: string): string => join(w.aux, 'src', ws);
export const mpOf = (w: World, ws: string): string => join(w.home, 'mnt', ws);
export const wsDir = (w: World, ws: string): string => join(w.home, 'workspaces', ws);

async function startForeign(aux: string, cli: string, home2: string): Promise<Foreign[]> {
  const out: Foreign[] = [];
  for (const ws of NAMES) {
    const src = join(aux, 'src2', ws);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'foreign.txt'), `foreign ${ws}\n`);
    const r = await runCall({ cli, home: home2, args: ['mount', ws, '--source', src, '--background', '--json'] });
    if (r.exitCode !== 0) throw new Error(`foreign mount ${ws} failed: ${r.stderr}`);
    const pid = (JSON.parse(r.stdout) as { pid: number }).pid;
    const st = await statOf(pid);
    const mountPoint = join(home2, 'mnt', ws);
    const m = taggedMountAt(await readMounts(), mountPoint, ws);
    if (!st || !m) throw new Error(`foreign daemon ${ws} not up`);
    out.push({ ws, pid, startTime: st.startTime, mountId: m.id, mountPoint });
  }
  return out;
}

export async function makeWorld(): Promise<World> {
  const home = await realpath(await makeHome('mountie-chaos-'));
  const aux = await realpath(await makeHome('mountie-chaos-aux-'));
  const home2 = await realpath(await makeHome('mountie-chaos-foreign-'));
  const link = join(aux, 'homelink');
  await symlink(home, link);
  for (const ws of NAMES) {
    await mkdir(join(aux, 'src', ws), { recursive: true });
    await writeFile(join(aux, 'src', ws, 'a.txt'), `alpha of ${ws}\n`);
  }
  // A second copy of the build: another install of mountie, as an old version left on disk.
  const copy = join(aux, 'copy');
  await cp(join(REPO, 'dist'), join(copy, 'dist'), { recursive: true });
  await writeFile(join(copy, 'package.json'), JSON.stringify({ name: 'mountie', version: '0.0.2-chaos', type: 'module' }));
  await symlink(join(REPO, 'node_modules'), join(copy, 'node_modules'));
  // Its own addon beside it, as an install has (the native core serves every mount).
  await mkdir(join(copy, 'native/build/Release'), { recursive: true });
  await cp(join(REPO, 'native/build/Release/mountie_native.node'), join(copy, 'native/build/Release/mountie_native.node'));
  const foreign = await startForeign(aux, CLI, home2);
  // CHAOS_CLI=<…/dist/cli/bin.cjs>: drive another build (e.g. one with a planted bug) instead of this one.
  const s = await writeDecoyScripts(aux);
  const specs: [string, string, string[], string][] = [
    ['argv-alpha', s.fakeCli, ['mount', 'alpha'], home],
    ['argv-beta', s.fakeCli, ['mount', 'beta', '--source', join(aux, 'src', 'beta')], home],
    ['argv-gamma-link', s.fakeCli, ['mount', 'gamma'], link],
    ['title-mountie-daemon', s.titled, [], home],
    ['lock-squatter-delta', s.squatter, [Buffer.from(lockNameOf(home, SQUATTED), 'latin1').toString('hex')], home],
    ['abstract-socket', s.squatter, [Buffer.from(`\0chaos-decoy-${process.pid}`, 'latin1').toString('hex')], home],
  ];
  const off = new Set((process.env.CHAOS_NO_DECOYS ?? '').split(',').filter(Boolean));
  const decoys: Decoy[] = [];
  for (const [name, script, args, env] of specs) if (!off.has(name)) decoys.push(await startDecoy(name, script, args, env));
  const bad = await checkDecoys(decoys);
  if (bad.length) throw new Error(bad.join('\n'));
  return {
    home,
    link,
    aux,
    cli: process.env.CHAOS_CLI ?? CLI,
    copyCli: join(copy, 'dist/cli/bin.cjs'),
    home2,
    foreign,
    decoys,
    view: { spellings: [home, link], real: home, names: NAMES, exclude: new Set(decoys.map((d) => d.pid)) },
    fg: new Map(),
    stopped: new Map(),
    tampered: new Set(),
    cursors: new Map(),
  };
}

/** Kill (SIGCONT first: a stopped process still dies by SIGKILL, but let its group go too) whatever carries the symlink spelling; reapAll does the rest. */
export async function reapWorld(w: World | undefined): Promise<void> {
  if (!w) return;
  for (const pid of w.stopped.keys()) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
  for (const pid of await listPids()) {
    if ((await homeEnvOf(pid)) !== w.link) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}
