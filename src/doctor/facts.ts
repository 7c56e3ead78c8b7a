/**
 * What `mountie doctor` looks at, gathered in one place. Read-only: nothing here writes, signals
 * or unmounts (the native addon is loaded, which only maps it). The checks (checks.ts) are pure
 * functions of these facts, so each can be tested against a made-up environment.
 */
import { constants } from 'node:fs';
import { access, lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { addonCandidates, loadNative } from '../daemon/native/binding.js';
import { allowsUserAllowOther, FUSE_CONF } from '../sys/fuse-conf.js';
import { discover, homeFacts, homeSnapshot } from '../launcher/discover.js';
import { inspectWorkspace, listWorkspaces } from '../launcher/inspect.js';
import type { HomeLayout } from '../state/paths.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { runFile } from '../sys/run.js';

export interface PathFacts {
  readonly path: string;
  /** From lstat: 'symlink' for a link itself. */
  readonly kind: 'missing' | 'file' | 'dir' | 'char' | 'symlink' | 'other';
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Why it could not be looked at (EACCES, ...), when it is neither there nor missing. */
  readonly error?: string;
}

export interface DevFuseFacts extends PathFacts {
  readonly rdev?: { readonly major: number; readonly minor: number };
  /** This user may open it read-write (access(2)). */
  readonly readWrite: boolean;
}

export interface HelperFacts {
  readonly name: string;
  /** Where it was found on PATH (undefined: not found). */
  readonly path?: string;
  /** The file it resolves to, with its mode and owner. */
  readonly real?: PathFacts;
}

export interface HomeCheckFacts {
  readonly path: string;
  readonly self: PathFacts;
  /** When the home is a symlink: where it points and what sits there. */
  readonly target?: PathFacts;
  readonly workspaces: PathFacts;
}

export interface WorkspaceLeftover {
  readonly workspace: string;
  readonly verdict: 'running' | 'leftovers' | 'failed' | 'stopped';
  readonly tokens: readonly string[];
  readonly configError?: string;
}

export interface DoctorFacts {
  readonly uid: number;
  /** MOUNTIE_HOME as given (fix commands repeat it), undefined when the default home is used. */
  readonly mountieHomeEnv?: string;
  readonly devFuse: DevFuseFacts;
  /** From `ldconfig -p`; undefined when ldconfig could not be run. */
  readonly libfuse3?: boolean;
  readonly fusermount3: HelperFacts;
  /** flock(1) from util-linux: the workspace lock is taken through it when the addon cannot (src/protocol/lock.ts). */
  readonly flock: HelperFacts;
  /** /sys/fs/fuse/connections exists (the fuse module is loaded) and fusectl is mounted there. */
  readonly fusectl: { readonly present: boolean; readonly mounted: boolean };
  /** Only when asked (`--allow-other`). */
  readonly fuseConf?: { readonly path: string; readonly exists: boolean; readonly userAllowOther: boolean };
  /** The addon a daemon loads: `built` = the file is there (a local build, or the prebuilt one when `prebuilt`); `flock`: it takes the workspace lock itself (flock(2)), flock(1) is then only the fallback. */
  readonly native: { readonly path: string; readonly built: boolean; readonly prebuilt?: boolean; readonly loadable: boolean; readonly flock?: boolean; readonly reason?: string };
  readonly node: { readonly version: string; readonly engines?: string };
  readonly home: HomeCheckFacts;
  /** Every workspace of the home and its verdict, or why they could not be inspected. */
  readonly workspaces: readonly WorkspaceLeftover[] | { readonly error: string };
}

export interface GatherOptions {
  readonly layout: HomeLayout;
  readonly env?: NodeJS.ProcessEnv;
  readonly allowOther?: boolean;
  /** Paths, replaceable for tests. */
  readonly devFuse?: string;
  readonly fuseConf?: string;
  readonly fusectl?: string;
  readonly addon?: string;
}

function kindOf(st: { isSymbolicLink(): boolean; isDirectory(): boolean; isFile(): boolean; isCharacterDevice(): boolean }): PathFacts['kind'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'char';
  return 'other';
}

export async function pathFacts(path: string, follow = false): Promise<PathFacts> {
  try {
    const st = follow ? await stat(path) : await lstat(path);
    return { path, kind: kindOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return code === 'ENOENT' || code === 'ENOTDIR' ? { path, kind: 'missing' } : { path, kind: 'missing', error: code };
  }
}

async function devFuseFacts(path: string): Promise<DevFuseFacts> {
  const base = await pathFacts(path, true);
  let rdev: DevFuseFacts['rdev'];
  try {
    const st = await stat(path);
    // Linux dev_t: major in bits 8-19 (and above 32), minor in bits 0-7 and 20-31.
    rdev = { major: ((st.rdev >> 8) & 0xfff) | Math.floor(st.rdev / 2 ** 32) * 0x1000, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
  } catch {
    // Missing or unreadable: base already says which.
  }
  const readWrite = await access(path, constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  return { ...base, ...(rdev ? { rdev } : {}), readWrite };
}

/** Shared libraries the dynamic linker knows, from `ldconfig -p` (not on a user's PATH on Debian: tried by absolute path). */
async function sharedLibraries(): Promise<string | undefined> {
  for (const bin of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = await runFile(bin, ['-p'], 3000);
    if (r.exitCode === 0) return r.stdout;
  }
  return undefined;
}

async function helperFacts(name: string, env: NodeJS.ProcessEnv): Promise<HelperFacts> {
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
    } catch {
      continue; // Not here (or not executable): the next PATH entry.
    }
    const real = await realpath(p).catch(() => p);
    return { name, path: p, real: await pathFacts(real, true) };
  }
  return { name };
}

async function homeCheckFacts(layout: HomeLayout): Promise<HomeCheckFacts> {
  const self = await pathFacts(layout.home);
  let target: PathFacts | undefined;
  if (self.kind === 'symlink') {
    const to = await readlink(layout.home).catch(() => undefined);
    const real = await realpath(layout.home).catch(() => (to === undefined ? layout.home : resolve(layout.home, '..', to)));
    target = await pathFacts(real);
  }
  return { path: layout.home, self, ...(target ? { target } : {}), workspaces: await pathFacts(layout.workspacesDir) };
}

async function workspaceVerdicts(layout: HomeLayout): Promise<DoctorFacts['workspaces']> {
  try {
    const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
    const snap = await homeSnapshot(layout, mounts, facts);
    const names = await listWorkspaces(layout, snap, facts);
    return await Promise.all(
      names.map(async (n) => {
        const s = await inspectWorkspace(await discover(layout, n, snap, facts));
        return { workspace: s.workspace, verdict: s.verdict, tokens: s.tokens, ...(s.configError ? { configError: s.configError } : {}) };
      }),
    );
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

async function packageEngines(): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { engines?: { node?: string } };
    return pkg.engines?.node;
  } catch {
    // A copied dist/ without package.json: the range is unknown, and the check says so.
    return undefined;
  }
}

export async function gatherFacts(opts: GatherOptions): Promise<DoctorFacts> {
  const env = opts.env ?? process.env;
  const fusectlDir = opts.fusectl ?? '/sys/fs/fuse/connections';
  const candidates = opts.addon !== undefined ? [opts.addon] : addonCandidates(env);
  const [devFuse, libs, fusermount3, flock, mounts, home, engines] = await Promise.all([
    devFuseFacts(opts.devFuse ?? '/dev/fuse'),
    sharedLibraries(),
    helperFacts('fusermount3', env),
    helperFacts('flock', env),
    readMountInfo().catch(() => []),
    homeCheckFacts(opts.layout),
    packageEngines(),
  ]);
  const fusectlPresent = (await pathFacts(fusectlDir, true)).kind === 'dir';
  let fuseConf: DoctorFacts['fuseConf'];
  if (opts.allowOther) {
    const path = opts.fuseConf ?? FUSE_CONF;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    // The same reading of fuse.conf as the mount's own check (src/sys/fuse-conf.ts).
    fuseConf = { path, exists: text !== undefined, userAllowOther: text !== undefined && allowsUserAllowOther(text) };
  }
  // The first candidate that exists is the one a daemon loads (a local build, else the prebuilt one).
  let addon = candidates[0] ?? '';
  for (const c of candidates) {
    if ((await pathFacts(c, true)).kind === 'file') {
      addon = c;
      break;
    }
  }
  const built = (await pathFacts(addon, true)).kind === 'file';
  const load = built ? loadNative(addon) : undefined;
  const native = { path: addon, built, prebuilt: /\/prebuilds\//.test(addon), loadable: load?.ok === true, ...(load?.ok ? { flock: typeof load.binding.flock === 'function' } : load ? { reason: load.reason } : {}) };
  const workspaces = home.self.kind === 'missing' && !home.self.error ? [] : await workspaceVerdicts(opts.layout);
  return {
    uid: process.getuid?.() ?? 0,
    ...(env.MOUNTIE_HOME ? { mountieHomeEnv: env.MOUNTIE_HOME } : {}),
    devFuse,
    ...(libs === undefined ? {} : { libfuse3: /\blibfuse3\.so\.3\b/.test(libs) }),
    fusermount3,
    flock,
    fusectl: { present: fusectlPresent, mounted: mounts.some((m) => m.mountPoint === fusectlDir) },
    ...(fuseConf ? { fuseConf } : {}),
    native,
    node: { version: process.versions.node, ...(engines ? { engines } : {}) },
    home,
    workspaces,
  };
}
