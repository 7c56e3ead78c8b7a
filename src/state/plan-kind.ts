/**
 * A mount request of a kind other than mountie's: no source, the author's options instead
 * (validated by the definition's parser before this runs, and stored as given). Producing the plan
 * writes nothing. A difference from a stored workspace is refused (`ERR_CONFIG_CONFLICT`) unless
 * `reconfigure` asks to store what was given in place of what is stored (the launcher stores it
 * under the workspace lock, while it is stopped, as mountie's own `--reconfigure`).
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
  /** Store the given options, `at`, `readOnly`, `allowOther` in place of the stored ones. */
  readonly reconfigure?: boolean | undefined;
}

function conflict(paths: WorkspacePaths, what: string, option: string): MountieError {
  return new MountieError('ERR_CONFIG_CONFLICT', `workspace ${paths.name} is configured with other ${what}`, {
    data: { workspace: paths.name, path: paths.config, option },
    hint: `launch it without ${option} to use the stored setting, or with reconfigure: true (the workspace stopped) to store the new one`,
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
  let reconfigured = false;
  if (stored) {
    const differs = {
      options: options !== undefined && JSON.stringify(options) !== JSON.stringify(stored.options),
      at: at !== undefined && at !== stored.mountpoint,
      readOnly: req.readOnly !== undefined && req.readOnly !== stored.readOnly,
      allowOther: req.allowOther !== undefined && req.allowOther !== (stored.allowOther === true),
    };
    if (req.reconfigure !== true) {
      if (differs.options) throw conflict(paths, 'options', 'options');
      if (differs.at) throw conflict(paths, 'mountpoint', 'at');
      if (differs.readOnly) throw conflict(paths, 'read-only setting', 'readOnly');
      if (differs.allowOther) throw conflict(paths, 'allow-other setting', 'allowOther');
    }
    reconfigured = Object.values(differs).some(Boolean);
  }
  const mountpoint = (reconfigured ? at : undefined) ?? stored?.mountpoint ?? at ?? (await realpathLoose(paths.defaultMountpoint));
  const ownMountPresent = await checkMountpoint(mountpoint, paths, await readMountInfo(), await homeIdOf(layout.home), kind);
  const reconfiguredConfig = (st: KindConfig): KindConfig => {
    const next: KindConfig = { ...st, mountpoint, readOnly: req.readOnly ?? st.readOnly, ...(options === undefined ? {} : { options }) };
    if (req.allowOther === true) (next as { allowOther?: boolean }).allowOther = true;
    // Stored only when set, as a first launch stores it.
    if (req.allowOther === false) delete (next as { allowOther?: boolean }).allowOther;
    return next;
  };
  const config: KindConfig = stored ? (reconfigured ? reconfiguredConfig(stored) : stored) : {
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
  return { paths, config, isNew: !stored, isDemo: false, ownMountPresent, demoSourcePending: false, reconfigured };
}
