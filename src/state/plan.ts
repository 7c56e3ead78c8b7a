import { readdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { mountAt, readMountInfo, type MountEntry } from '../sys/mountinfo.js';
import { withTimeout } from '../sys/time.js';
import { validateName } from './names.js';
import { workspacePaths, type HomeLayout, type WorkspacePaths } from './paths.js';
import { loadConfig, WORKSPACE_SCHEMA, type WorkspaceConfig } from './workspace.js';
import { homeIdOf, isTagOf } from '../protocol/tag.js';

export interface MountRequest {
  readonly name: unknown;
  readonly source?: string | undefined;
  readonly at?: string | undefined;
  readonly readOnly?: boolean | undefined;
}

/** The checked outcome of a mount request. Producing it writes nothing. */
export interface MountPlan {
  readonly paths: WorkspacePaths;
  readonly config: WorkspaceConfig;
  readonly isNew: boolean;
  readonly isDemo: boolean;
  /** A mount of this workspace already sits at the mountpoint (live or stale: the lock decides). */
  readonly ownMountPresent: boolean;
  /** The demo workspace's sample source does not exist yet and must be created. */
  readonly demoSourcePending: boolean;
}

const PROBE_MS = 2000;

function conflict(paths: WorkspacePaths, field: string, stored: unknown, given: unknown): MountieError {
  return new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} already has ${field} ${JSON.stringify(stored)}, not ${JSON.stringify(given)}`, {
    data: { workspace: paths.name, path: paths.config, value: given },
    hint: `omit --${field === 'readOnly' ? 'read-only' : field} to use the stored value, or delete ${paths.config} while the workspace is stopped`,
  });
}

/** Resolve symlinks in the longest existing prefix of `p`; the rest is appended as given. */
async function realpathLoose(p: string): Promise<string> {
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
  try {
    const st = await withTimeout(`stat ${source}`, PROBE_MS, stat(source));
    if (!st.isDirectory()) {
      throw new MountieError('ERR_SOURCE_NOT_DIR', `source ${source} is not a directory`, {
        data: { path: source, workspace: paths.name },
        hint: 'pass a directory with --source',
      });
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
      throw new MountieError('ERR_SOURCE_MISSING', `source directory ${source} does not exist`, {
        data: { path: source, workspace: paths.name },
        hint: 'create it or pass an existing directory with --source',
      });
    }
    throw err;
  }
  return realpath(source);
}

/**
 * Check the mountpoint without ever touching a mount: /proc/self/mountinfo first, and the
 * directory itself only when nothing is mounted there.
 */
async function checkMountpoint(mp: string, paths: WorkspacePaths, mounts: readonly MountEntry[], homeId: string | undefined): Promise<boolean> {
  // Ours = tagged for this workspace of this very home; any other mount there is someone else's.
  const ours = (e: MountEntry): boolean => homeId !== undefined && isTagOf(e, paths.name, homeId);
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
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
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

export async function planMount(req: MountRequest, layout: HomeLayout, cwd = process.cwd()): Promise<MountPlan> {
  const name = validateName(req.name);
  const paths = workspacePaths(layout, name);
  const stored = await loadConfig(paths);
  const isDemo = name === 'demo';
  const given = {
    source: req.source === undefined ? undefined : resolve(cwd, req.source),
    at: req.at === undefined ? undefined : resolve(cwd, req.at),
  };
  let sourceRaw: string;
  let mountpoint: string;
  if (stored) {
    if (given.source !== undefined && (await realpathLoose(given.source)) !== stored.source) throw conflict(paths, 'source', stored.source, given.source);
    if (given.at !== undefined && (await realpathLoose(given.at)) !== stored.mountpoint) throw conflict(paths, 'at', stored.mountpoint, given.at);
    if (req.readOnly !== undefined && req.readOnly !== stored.readOnly) throw conflict(paths, 'readOnly', stored.readOnly, req.readOnly);
    sourceRaw = stored.source;
    mountpoint = stored.mountpoint;
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
  const config: WorkspaceConfig = stored ?? {
    schema: WORKSPACE_SCHEMA,
    name,
    source,
    mountpoint,
    readOnly: req.readOnly === true,
    createdAt: new Date().toISOString(),
  };
  return { paths, config, isNew: !stored, isDemo, ownMountPresent, demoSourcePending: demoPending };
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
