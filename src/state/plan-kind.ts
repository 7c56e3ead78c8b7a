/**
 * A mount request of a kind other than mountie's: no source, the author's options instead
 * (validated by the definition's parser before this runs, and stored as given). Producing the plan
 * writes nothing. Changing a stored workspace's options (mountie's `--reconfigure`) is not
 * offered for other kinds yet: a difference is refused (`ERR_CONFIG_CONFLICT`).
 */
import { resolve } from 'node:path';
import { MountieError } from '../errors.js';
import { homeIdOf } from '../protocol/tag.js';
import { fromSystemError } from '../sys/errno-error.js';
import { checkAllowOther } from '../sys/fuse-conf.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { validateName } from './names.js';
import { kindOf, workspacePaths, type HomeLayout, type WorkspacePaths } from './paths.js';
import { checkMountpoint, checkPathOption, realpathLoose, type MountPlan } from './plan.js';
import { loadAnyConfig, WORKSPACE_SCHEMA, type KindConfig } from './workspace.js';

export interface KindMountRequest {
  readonly name: unknown;
  /** The author's options as given (JSON); undefined: none given (a stored workspace keeps its own). */
  readonly options?: unknown;
  readonly at?: string | undefined;
  readonly readOnly?: boolean | undefined;
  /** Let other users in (stored only when true, as mountie's own configs store it). */
  readonly allowOther?: boolean | undefined;
}

function conflict(paths: WorkspacePaths, what: string, option: string): MountieError {
  return new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} is configured with other ${what}`, {
    data: { workspace: paths.name, path: paths.config, option },
    hint: `launch it without ${option} to use the stored setting (changing a stored workspace is not supported for this kind: remove ${paths.dir} while it is stopped to start over)`,
  });
}

/** The options as they will be stored: plain JSON, or a coded error naming what is not. */
function asJson(options: unknown, ws: string): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(options);
  } catch (cause) {
    throw new MountieError('ERR_INVALID_OPTION', `options of workspace ${ws} are not JSON: ${cause instanceof Error ? cause.message : String(cause)}`, { data: { workspace: ws, option: 'options' }, hint: 'pass plain JSON (objects, arrays, strings, numbers, booleans, null)' });
  }
  if (text === undefined) throw new MountieError('ERR_INVALID_OPTION', `options of workspace ${ws} are not JSON`, { data: { workspace: ws, option: 'options' }, hint: 'pass plain JSON (objects, arrays, strings, numbers, booleans, null)' });
  return JSON.parse(text) as unknown;
}

/** Check a kind's mount request; every failure is a coded error, and nothing is written. */
export async function planKindMount(req: KindMountRequest, layout: HomeLayout, cwd = process.cwd()): Promise<MountPlan<KindConfig>> {
  try {
    return await plan(req, layout, cwd);
  } catch (err) {
    throw fromSystemError(err);
  }
}

async function plan(req: KindMountRequest, layout: HomeLayout, cwd: string): Promise<MountPlan<KindConfig>> {
  const kind = kindOf(layout);
  const name = validateName(req.name);
  checkPathOption('at', req.at);
  const options = req.options === undefined ? undefined : asJson(req.options, name);
  const paths = workspacePaths(layout, name);
  const stored = (await loadAnyConfig(paths, kind)) as KindConfig | undefined;
  const at = req.at === undefined ? undefined : await realpathLoose(resolve(cwd, req.at));
  if (stored) {
    if (options !== undefined && JSON.stringify(options) !== JSON.stringify(stored.options)) throw conflict(paths, 'options', 'options');
    if (at !== undefined && at !== stored.mountpoint) throw conflict(paths, 'mountpoint', 'at');
    if (req.readOnly !== undefined && req.readOnly !== stored.readOnly) throw conflict(paths, 'read-only setting', 'readOnly');
    if (req.allowOther !== undefined && req.allowOther !== (stored.allowOther === true)) throw conflict(paths, 'allow-other setting', 'allowOther');
  }
  const mountpoint = stored?.mountpoint ?? at ?? (await realpathLoose(paths.defaultMountpoint));
  const ownMountPresent = await checkMountpoint(mountpoint, paths, await readMountInfo(), await homeIdOf(layout.home), kind);
  const config: KindConfig = stored ?? {
    schema: WORKSPACE_SCHEMA,
    name,
    kind: kind.name,
    mountpoint,
    readOnly: req.readOnly === true,
    ...(req.allowOther === true ? { allowOther: true } : {}),
    ...(options === undefined ? {} : { options }),
    createdAt: new Date().toISOString(),
  };
  // Checked again by the daemon; here so that nothing is written first (exit 2).
  if (config.allowOther) await checkAllowOther();
  return { paths, config, isNew: !stored, isDemo: false, ownMountPresent, demoSourcePending: false, reconfigured: false };
}
