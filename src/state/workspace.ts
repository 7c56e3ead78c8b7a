import { readFile } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { writeFileDurable } from './atomic.js';
import { ensureDir } from './dirs.js';
import type { WorkspacePaths } from './paths.js';

/** The `schema` field of workspace.json. */
export const WORKSPACE_SCHEMA = 'mountie.workspace/v1';

/** workspace.json: what a workspace is. Written once on first use, reused after. */
export interface WorkspaceConfig {
  readonly schema: typeof WORKSPACE_SCHEMA;
  readonly name: string;
  readonly source: string;
  readonly mountpoint: string;
  readonly readOnly: boolean;
  /** Let other users in (under kernel permission checks). Absent in configs written before it existed: false. */
  readonly allowOther?: boolean;
  readonly createdAt: string;
}

/** Booleans as booleans; allowOther only when set, so older configs read and compare the same. */
function normalized(doc: Partial<WorkspaceConfig>): WorkspaceConfig {
  const { allowOther, ...rest } = doc;
  return { ...rest, readOnly: doc.readOnly === true, ...(allowOther === true ? { allowOther: true } : {}) } as WorkspaceConfig;
}

/** A workspace's stored config, or undefined when it has none; a corrupt one throws `ERR_CONFIG_CORRUPT`. */
export async function loadConfig(paths: WorkspacePaths): Promise<WorkspaceConfig | undefined> {
  let text: string;
  try {
    text = await readFile(paths.config, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const doc = JSON.parse(text) as Partial<WorkspaceConfig>;
    if (doc.schema !== WORKSPACE_SCHEMA || typeof doc.source !== 'string' || typeof doc.mountpoint !== 'string') {
      throw new Error(`unexpected schema ${String(doc.schema)}`);
    }
    // A config copied from another workspace must not start a daemon for the wrong one.
    if (doc.name !== paths.name) throw new Error(`it describes workspace ${JSON.stringify(doc.name)}, not ${JSON.stringify(paths.name)}`);
    return normalized(doc);
  } catch (cause) {
    throw new MountieError('ERR_CONFIG_CORRUPT', `workspace config ${paths.config} is unusable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      data: { path: paths.config, workspace: paths.name },
      hint: `fix the file, or start over (while the workspace is stopped): mountie forget ${paths.name}, then mount it with --source`,
      cause,
    });
  }
}

/**
 * The config a daemon starts with, read under the workspace lock: the stored one, or the pending
 * one its launcher handed over for a first mount (then `store` is true: the daemon writes it once
 * its mount succeeded, so a failed first mount leaves no config to conflict with the retry). A
 * stored config that differs from the pending one (another first mount won meanwhile) is refused.
 */
export async function configForStart(paths: WorkspacePaths, pending: WorkspaceConfig | undefined): Promise<{ config: WorkspaceConfig; store: boolean } | undefined> {
  const stored = await loadConfig(paths);
  if (!stored) return pending ? { config: pending, store: true } : undefined;
  if (pending && (pending.source !== stored.source || pending.mountpoint !== stored.mountpoint || pending.readOnly !== stored.readOnly || (pending.allowOther === true) !== (stored.allowOther === true))) {
    throw new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} was configured meanwhile with source ${stored.source} at ${stored.mountpoint}`, {
      data: { workspace: paths.name, path: paths.config },
      hint: `mount it as configured (mountie mount ${paths.name}), or change it while the workspace is stopped: mountie mount ${paths.name} --reconfigure --source DIR`,
    });
  }
  return { config: stored, store: false };
}

/** The pending config a launcher passes to its daemon child (MOUNTIE_PENDING_CONFIG), checked. */
export function parsePendingConfig(text: string | undefined, name: string): WorkspaceConfig | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text) as Partial<WorkspaceConfig>;
    if (doc.schema === WORKSPACE_SCHEMA && doc.name === name && typeof doc.source === 'string' && typeof doc.mountpoint === 'string') {
      return normalized(doc);
    }
  } catch {
    // Not ours or garbled: the daemon then starts only from a stored config.
  }
  return undefined;
}

export const PENDING_CONFIG_ENV = 'MOUNTIE_PENDING_CONFIG';

export async function saveConfig(paths: WorkspacePaths, config: WorkspaceConfig): Promise<void> {
  await ensureDir(paths.dir);
  await writeFileDurable(paths.config, JSON.stringify(config, null, 2) + '\n');
}
