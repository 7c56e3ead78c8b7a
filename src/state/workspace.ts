import { readFile } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import { writeFileDurable } from './atomic.js';
import { ensureDir } from './dirs.js';
import type { WorkspacePaths } from './paths.js';
import { MOUNTIE, sameKind, type Kind } from '../protocol/kind.js';

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

/**
 * workspace.json of a kind other than mountie's: the author's `options` (their JSON, validated by
 * the definition's parser) instead of a `source`, and the kind's name, so that a workspace is never
 * started, stopped or cleaned by another kind pointed at the same home.
 */
export interface KindConfig {
  readonly schema: typeof WORKSPACE_SCHEMA;
  readonly name: string;
  /** The kind's name (never `mountie`: mountie's own configs have no `kind` field). */
  readonly kind: string;
  readonly mountpoint: string;
  readonly readOnly: boolean;
  readonly allowOther?: boolean;
  /** The author's options as given at launch, validated by the definition's parser (absent: none given). */
  readonly options?: unknown;
  readonly createdAt: string;
}

/** Either config: mountie's own (with `source`) or another kind's (with `options`). */
export type AnyConfig = WorkspaceConfig | KindConfig;

/** Is this another kind's config (options, no source)? */
export function isKindConfig(c: AnyConfig): c is KindConfig {
  return 'kind' in c && typeof c.kind === 'string';
}

/** Booleans as booleans; allowOther only when set, so older configs read and compare the same. */
function normalized<C extends AnyConfig>(doc: Partial<C>): C {
  const { allowOther, ...rest } = doc as Partial<AnyConfig>;
  return { ...rest, readOnly: doc.readOnly === true, ...(allowOther === true ? { allowOther: true } : {}) } as C;
}

/** A parsed document as a config of `kind`, or a reason it is not one. */
function asConfig(doc: Record<string, unknown>, name: string): AnyConfig | string {
  if (doc.schema !== WORKSPACE_SCHEMA || typeof doc.mountpoint !== 'string') return `unexpected schema ${String(doc.schema)}`;
  // A config copied from another workspace must not start a daemon for the wrong one.
  if (doc.name !== name) return `it describes workspace ${JSON.stringify(doc.name)}, not ${JSON.stringify(name)}`;
  if (doc.kind === undefined) return typeof doc.source === 'string' ? normalized<WorkspaceConfig>(doc as Partial<WorkspaceConfig>) : `unexpected schema ${String(doc.schema)}`;
  if (typeof doc.kind !== 'string' || doc.kind === MOUNTIE.name) return `unexpected kind ${JSON.stringify(doc.kind)}`;
  return normalized<KindConfig>(doc as Partial<KindConfig>);
}

/** The kind a config belongs to, by name. */
export function configKind(c: AnyConfig): string {
  return isKindConfig(c) ? c.kind : MOUNTIE.name;
}

function kindMismatch(paths: WorkspacePaths, found: string, kind: Kind): MountieError {
  return new MountieError('ERR_KIND_MISMATCH', `workspace ${paths.name} belongs to kind ${JSON.stringify(found)}, not ${JSON.stringify(kind.name)} (two kinds pointed at one home?)`, {
    data: { workspace: paths.name, path: paths.config, kind: kind.name, found },
    hint: `give each kind its own home (${kind.homeEnv}), or use the ${found} command for this workspace`,
  });
}

/** A workspace's stored config, or undefined when it has none; a corrupt one throws `ERR_CONFIG_CORRUPT`. */
export async function loadConfig(paths: WorkspacePaths): Promise<WorkspaceConfig | undefined> {
  return (await loadAnyConfig(paths, MOUNTIE)) as WorkspaceConfig | undefined;
}

/**
 * A workspace's stored config of `kind`, or undefined when it has none. A corrupt one throws
 * `ERR_CONFIG_CORRUPT`; another kind's throws `ERR_KIND_MISMATCH` (nothing of it is ours to use).
 */
export async function loadAnyConfig(paths: WorkspacePaths, kind: Kind): Promise<AnyConfig | undefined> {
  let text: string;
  try {
    text = await readFile(paths.config, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  let c: AnyConfig | string;
  try {
    const doc = JSON.parse(text) as unknown;
    c = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? asConfig(doc as Record<string, unknown>, paths.name) : 'not a JSON object';
  } catch (cause) {
    c = cause instanceof Error ? cause.message : String(cause);
  }
  if (typeof c === 'string') {
    throw new MountieError('ERR_CONFIG_CORRUPT', `workspace config ${paths.config} is unusable: ${c}`, {
      data: { path: paths.config, workspace: paths.name },
      hint: sameKind(kind, MOUNTIE) ? `fix the file, or start over (while the workspace is stopped): mountie forget ${paths.name}, then mount it with --source` : `fix the file, or remove the workspace directory ${paths.dir} while it is stopped`,
    });
  }
  if (configKind(c) !== kind.name) throw kindMismatch(paths, configKind(c), kind);
  return c;
}

/** Same settings (what a first mount's pending config must agree on with one stored meanwhile). */
function sameSettings(a: AnyConfig, b: AnyConfig): boolean {
  const what = (c: AnyConfig): string => JSON.stringify([isKindConfig(c) ? c.options : c.source, c.mountpoint, c.readOnly, c.allowOther === true]);
  return configKind(a) === configKind(b) && what(a) === what(b);
}

/**
 * The config a daemon starts with, read under the workspace lock: the stored one, or the pending
 * one its launcher handed over for a first mount (then `store` is true: the daemon writes it once
 * its mount succeeded, so a failed first mount leaves no config to conflict with the retry). A
 * stored config that differs from the pending one (another first mount won meanwhile) is refused.
 */
export async function configForStart(paths: WorkspacePaths, pending: AnyConfig | undefined, kind: Kind = MOUNTIE): Promise<{ config: AnyConfig; store: boolean } | undefined> {
  const stored = await loadAnyConfig(paths, kind);
  if (!stored) return pending ? { config: pending, store: true } : undefined;
  if (pending && !sameSettings(pending, stored)) {
    const what = isKindConfig(stored) ? `other options` : `source ${stored.source}`;
    throw new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} was configured meanwhile with ${what} at ${stored.mountpoint}`, {
      data: { workspace: paths.name, path: paths.config },
      hint: isKindConfig(stored) ? `mount it as configured (without options)` : `mount it as configured (mountie mount ${paths.name}), or change it while the workspace is stopped: mountie mount ${paths.name} --reconfigure --source DIR`,
    });
  }
  return { config: stored, store: false };
}

/** The pending config a launcher passes to its daemon child (MOUNTIE_PENDING_CONFIG), checked. */
export function parsePendingConfig(text: string | undefined, name: string, kind: Kind = MOUNTIE): AnyConfig | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null) return undefined;
    const c = asConfig(doc as Record<string, unknown>, name);
    if (typeof c !== 'string' && configKind(c) === kind.name) return c;
  } catch {
    // Not ours or garbled: the daemon then starts only from a stored config.
  }
  return undefined;
}

export const PENDING_CONFIG_ENV = 'MOUNTIE_PENDING_CONFIG';

export async function saveConfig(paths: WorkspacePaths, config: AnyConfig): Promise<void> {
  await ensureDir(paths.dir);
  await writeFileDurable(paths.config, JSON.stringify(config, null, 2) + '\n');
}
