import { readdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { fromSystemError } from '../sys/errno-error.js';
import { probePath } from './probe-path.js';
import { mountAt, readMountInfo, type MountEntry } from '../sys/mountinfo.js';
import { withTimeout } from '../sys/time.js';
import { validateName } from './names.js';
import { workspacePaths, type HomeLayout, type WorkspacePaths } from './paths.js';
import { loadConfig, WORKSPACE_SCHEMA, type AnyConfig, type WorkspaceConfig } from './workspace.js';
import { homeIdOf, isTagOf } from '../protocol/tag.js';
import { checkAllowOther } from '../sys/fuse-conf.js';
import { MOUNTIE, type Kind } from '../protocol/kind.js';

export interface MountRequest {
  readonly name: unknown;
  readonly source?: string | undefined;
  readonly at?: string | undefined;
  readonly readOnly?: boolean | undefined;
  /** Replace the stored options by the given ones instead of refusing a difference (the workspace must be stopped). */
  readonly reconfigure?: boolean | undefined;
  readonly allowOther?: boolean | undefined;
}

/** The checked outcome of a mount request. Producing it writes nothing. */
export interface MountPlan<C extends AnyConfig = WorkspaceConfig> {
  readonly paths: WorkspacePaths;
  /** mountie's own config (with `source`), or another kind's (with `options`, src/state/plan-kind.ts). */
  readonly config: C;
  readonly isNew: boolean;
  readonly isDemo: boolean;
  /** A mount of this workspace already sits at the mountpoint (live or stale: the lock decides). */
  readonly ownMountPresent: boolean;
  /** The demo workspace's sample source does not exist yet and must be created. */
  readonly demoSourcePending: boolean;
  /** --reconfigure changed the stored config: the launcher stores `config` (under the lock) before starting. */
  readonly reconfigured: boolean;
}

const PROBE_MS = 3000;

type ConfigField = 'source' | 'at' | 'readOnly' | 'allowOther';

/** The flag a user types for a config field: a conflict names what was typed, never an internal field. */
function flagOf(field: ConfigField, given: unknown): string {
  if (field === 'readOnly') return given === false ? '--no-read-only' : '--read-only';
  if (field === 'allowOther') return given === false ? '--no-allow-other' : '--allow-other';
  return `--${field}`;
}

function conflict(paths: WorkspacePaths, field: ConfigField, stored: unknown, given: unknown): MountieError {
  const flag = flagOf(field, given);
  const what = field === 'readOnly' ? `is configured ${stored === true ? 'read-only' : 'read-write'}; ${flag} asks otherwise` : field === 'allowOther' ? `is configured ${stored === true ? 'with' : 'without'} --allow-other; ${flag} asks otherwise` : `is configured with ${flag} ${JSON.stringify(stored)}, not ${JSON.stringify(given)}`;
  const retype = field === 'readOnly' || field === 'allowOther' ? flag : `${flag} ${JSON.stringify(given)}`;
  return new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} ${what}`, {
    data: { workspace: paths.name, path: paths.config, option: flag, value: given, stored },
    hint: `omit ${flag} to use the stored setting, or store the new one (while the workspace is stopped): mountie mount ${paths.name} --reconfigure ${retype}`,
  });
}

/** Resolve symlinks in the longest existing prefix of `p`; the rest is appended as given. */
export async function realpathLoose(p: string): Promise<string> {
  let head = p;
  const tail: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...tail.reverse());
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
      const parent = dirname(head);
      if (parent === head) return p;
      tail.push(head.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      head = parent;
    }
  }
}

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

async function checkSource(source: string, paths: WorkspacePaths): Promise<string> {
  const probe = await probePath(source, PROBE_MS);
  if (probe.kind === 'missing') {
    throw new MountieError('ERR_SOURCE_MISSING', `source directory ${source} does not exist`, {
      data: { path: source, workspace: paths.name },
      hint: 'create it or pass an existing directory with --source',
    });
  }
  if (probe.errno === 'ELOOP') {
    throw new MountieError('ERR_SOURCE_NOT_DIR', `source ${source} is a symbolic link loop`, {
      data: { path: source, workspace: paths.name, errno: 'ELOOP' },
      hint: 'pass a directory with --source',
    });
  }
  if (probe.kind === 'error') throw fromSystemError(Object.assign(new Error(probe.errno), { code: probe.errno, path: source }), { path: source, doing: 'stat' });
  if (probe.kind !== 'dir' || probe.real === undefined) {
    throw new MountieError('ERR_SOURCE_NOT_DIR', `source ${source} is not a directory`, {
      data: { path: source, workspace: paths.name },
      hint: 'pass a directory with --source',
    });
  }
  return probe.real;
}

/** File systems that cannot hold a mountpoint of ours (the kernel's own views). */
const PSEUDO_FS = new Set(['proc', 'sysfs', 'devpts', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'binfmt_misc', 'autofs', 'efivarfs', 'nsfs']);

/** The mount that holds `path` (the longest mountpoint prefix of a canonical path). */
function mountHolding(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of mounts) {
    if (inside(path, e.mountPoint) && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** Refuse a mountpoint on /proc, /sys and the like, or on a read-only mount, before writing anything. */
function checkMountpointFs(mp: string, paths: WorkspacePaths, mounts: readonly MountEntry[]): void {
  const holder = mountHolding(mounts, mp);
  if (!holder || holder.mountPoint === mp) return;
  if (PSEUDO_FS.has(holder.fstype)) {
    throw new MountieError('ERR_MOUNTPOINT_UNSUITABLE', `mountpoint ${mp} is on ${holder.mountPoint} (${holder.fstype}), where directories cannot be made`, {
      data: { path: mp, workspace: paths.name, fstype: holder.fstype },
      hint: 'choose a directory on a real file system with --at',
    });
  }
  if (holder.mountOptions.split(',').includes('ro')) {
    throw new MountieError('ERR_READ_ONLY_FS', `mountpoint ${mp} is on the read-only mount ${holder.mountPoint}`, {
      data: { path: mp, workspace: paths.name, errno: 'EROFS' },
      hint: 'choose a directory on a writable file system with --at (or create it there first)',
    });
  }
}

/** An option that names a path must name one: '' would mean the current directory. */
export function checkPathOption(flag: string, value: string | undefined): void {
  if (value === undefined) return;
  const bad = value === '' ? 'is empty' : value.includes('\0') ? 'contains a NUL byte' : Buffer.byteLength(value) > 4095 ? 'is longer than 4095 bytes' : undefined;
  if (bad) {
    throw new MountieError('ERR_INVALID_OPTION', `${flag} ${bad}`, {
      data: { option: flag, value: value.slice(0, 200) },
      hint: `pass a directory path with ${flag} (use . for the current directory)`,
    });
  }
}

/**
 * Check the mountpoint without ever touching a mount: /proc/self/mountinfo first, and the
 * directory itself only when nothing is mounted there.
 */
export async function checkMountpoint(mp: string, paths: WorkspacePaths, mounts: readonly MountEntry[], homeId: string | undefined, kind: Kind = MOUNTIE): Promise<boolean> {
  // Ours = tagged for this workspace of this very home; any other mount there is someone else's.
  const ours = (e: MountEntry): boolean => homeId !== undefined && isTagOf(e, paths.name, homeId, kind);
  const entry = mountAt(mounts, mp);
  if (entry) {
    if (ours(entry)) return true;
    throw new MountieError('ERR_MOUNTPOINT_BUSY', `${mp} is already a mount point (${entry.fstype} ${entry.source})`, {
      data: { path: mp, workspace: paths.name },
      hint: 'unmount it first or choose another directory with --at',
    });
  }
  const notDir = new MountieError('ERR_MOUNTPOINT_NOT_DIR', `mountpoint ${mp} is not a directory`, {
    data: { path: mp, workspace: paths.name },
    hint: 'choose a directory (or a path that does not exist yet) with --at',
  });
  try {
    const st = await withTimeout(`stat ${mp}`, PROBE_MS, stat(mp));
    if (!st.isDirectory()) throw notDir;
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') throw notDir;
    if (errnoCode(err) === 'ENOENT') {
      checkMountpointFs(mp, paths, mounts);
      return false;
    }
    throw fromSystemError(err, { path: mp });
  }
  const names = await withTimeout(`readdir ${mp}`, PROBE_MS, readdir(mp));
  if (names.length > 0) {
    // A concurrent start may have mounted this workspace between our mountinfo read and readdir:
    // then the entries are the mount's, and the lock (not this check) decides who runs.
    const now = mountAt(await readMountInfo(), mp);
    if (now && ours(now)) return true;
    throw new MountieError('ERR_MOUNTPOINT_NOT_EMPTY', `mountpoint ${mp} is not empty (${names.length} entries)`, {
      data: { path: mp, workspace: paths.name },
      hint: 'mount on an empty directory: empty it or choose another with --at',
    });
  }
  return false;
}

/** Check a mount request; every failure is a coded error (errno mapped), and nothing is written. */
export async function planMount(req: MountRequest, layout: HomeLayout, cwd = process.cwd()): Promise<MountPlan> {
  try {
    return await plan(req, layout, cwd);
  } catch (err) {
    throw fromSystemError(err);
  }
}

async function plan(req: MountRequest, layout: HomeLayout, cwd: string): Promise<MountPlan> {
  const name = validateName(req.name);
  checkPathOption('--source', req.source);
  checkPathOption('--at', req.at);
  const paths = workspacePaths(layout, name);
  const stored = await loadConfig(paths);
  const isDemo = name === 'demo';
  const given = {
    source: req.source === undefined ? undefined : resolve(cwd, req.source),
    at: req.at === undefined ? undefined : resolve(cwd, req.at),
  };
  let sourceRaw: string;
  let mountpoint: string;
  let reconfigured = false;
  if (stored) {
    const sourceNow = given.source === undefined ? undefined : ((await probePath(given.source, PROBE_MS)).real ?? given.source);
    const atNow = given.at === undefined ? undefined : await realpathLoose(given.at);
    if (!req.reconfigure) {
      if (sourceNow !== undefined && sourceNow !== stored.source) throw conflict(paths, 'source', stored.source, given.source);
      if (atNow !== undefined && atNow !== stored.mountpoint) throw conflict(paths, 'at', stored.mountpoint, given.at);
      if (req.readOnly !== undefined && req.readOnly !== stored.readOnly) throw conflict(paths, 'readOnly', stored.readOnly, req.readOnly);
      if (req.allowOther !== undefined && req.allowOther !== (stored.allowOther === true)) throw conflict(paths, 'allowOther', stored.allowOther === true, req.allowOther);
    }
    sourceRaw = given.source ?? stored.source;
    mountpoint = atNow ?? stored.mountpoint;
    reconfigured = (sourceNow !== undefined && sourceNow !== stored.source) || mountpoint !== stored.mountpoint || (req.readOnly !== undefined && req.readOnly !== stored.readOnly) || (req.allowOther !== undefined && req.allowOther !== (stored.allowOther === true));
  } else {
    if (given.source === undefined && !isDemo) {
      throw new MountieError('ERR_SOURCE_REQUIRED', `workspace ${name} is new and needs a source directory`, {
        data: { workspace: name },
        hint: `run: mountie mount ${name} --source DIR`,
      });
    }
    sourceRaw = given.source ?? paths.demoSource;
    mountpoint = await realpathLoose(given.at ?? paths.defaultMountpoint);
  }
  // The demo source is created on first mount; until then there is nothing to check.
  const demoPending = isDemo && sourceRaw === paths.demoSource && !(await exists(sourceRaw));
  const source = demoPending ? await realpathLoose(sourceRaw) : await checkSource(sourceRaw, paths);
  if (inside(mountpoint, source) || inside(source, mountpoint)) {
    throw new MountieError('ERR_MOUNTPOINT_OVERLAP', `mountpoint ${mountpoint} and source ${source} overlap`, {
      data: { path: mountpoint, source, workspace: name },
      hint: 'the mountpoint may be neither inside the source nor contain it; choose another --at',
    });
  }
  const ownMountPresent = await checkMountpoint(mountpoint, paths, await readMountInfo(), await homeIdOf(layout.home));
  const reconfiguredConfig = (s: WorkspaceConfig): WorkspaceConfig => {
    const next: WorkspaceConfig = { ...s, source, mountpoint, readOnly: req.readOnly ?? s.readOnly };
    // Stored only when set, as a first mount stores it.
    if (req.allowOther === false) delete (next as { allowOther?: boolean }).allowOther;
    return req.allowOther === true ? { ...next, allowOther: true } : next;
  };
  const config: WorkspaceConfig = stored
    ? reconfigured
      ? reconfiguredConfig(stored)
      : stored
    : {
        schema: WORKSPACE_SCHEMA,
        name,
        source,
        mountpoint,
        readOnly: req.readOnly === true,
        ...(req.allowOther === true ? { allowOther: true } : {}),
        createdAt: new Date().toISOString(),
      };
  if (config.allowOther) await checkAllowOther();
  return { paths, config, isNew: !stored, isDemo, ownMountPresent, demoSourcePending: demoPending, reconfigured };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    // Any failure to stat counts as absent here; checkSource reports the real reason later.
    return false;
  }
}
