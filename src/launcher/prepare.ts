/**
 * The launcher's side of `mount --background`, shared by the `mountie` command and `launch()`:
 * plan (bad input writes nothing), refuse a workspace a daemon already serves, store a
 * `--reconfigure`d config under the lock, create what the plan needs, then start the daemon.
 */
import { fileURLToPath } from 'node:url';
import { MountieError } from '../errors.js';
import { acquireLock } from '../protocol/lock.js';
import type { HomeLayout } from '../state/paths.js';
import { planMount, type MountPlan, type MountRequest } from '../state/plan.js';
import { materialize } from '../state/materialize.js';
import { PENDING_CONFIG_ENV, saveConfig } from '../state/workspace.js';
import { fromSystemError } from '../sys/errno-error.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { scanProcStats } from '../sys/proc-stat-scan.js';
import { discover, homeFacts } from './discover.js';
import { startDaemon, type StartResult } from './start.js';

/** The entry every daemon runs (`node <cli> mount <ws> --daemon-child …`), beside this package's launcher. */
export const DAEMON_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface PreparedMount {
  readonly layout: HomeLayout;
  readonly plan: MountPlan;
}

/** Plan, refuse a running workspace, store a reconfigured config (under the lock), materialize. */
export async function prepareMount(layout: HomeLayout, req: MountRequest): Promise<PreparedMount> {
  const plan = await planMount(req, layout);
  // Fast path for the common "already running": the daemon's own lock stays the authority.
  const now = await discover(layout, plan.config.name, { procs: scanProcStats(), mounts: await readMountInfo() }, await homeFacts(layout));
  if (now.lockHeld || now.daemons.some((d) => !d.exiting)) {
    const pid = (now.daemons.find((d) => d.holdsLock) ?? now.daemons[0])?.pid;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${plan.config.name} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`} at ${plan.config.mountpoint}`, {
      data: { workspace: plan.config.name, ...(pid === undefined ? {} : { pid }), path: plan.config.mountpoint },
      hint: req.reconfigure ? `stop it first (mountie stop ${plan.config.name}), then mount it with --reconfigure` : `use it as it is, or run: mountie stop ${plan.config.name}`,
    });
  }
  try {
    if (plan.reconfigured) await storeConfigStopped(plan);
    await materialize(plan);
  } catch (err) {
    throw fromSystemError(err);
  }
  return { layout, plan };
}

/** --reconfigure: the new config is stored while we hold the workspace lock, so no daemon runs on the old one meanwhile. */
async function storeConfigStopped(plan: MountPlan): Promise<void> {
  const lock = await acquireLock(plan.paths.lock, plan.config.name);
  try {
    await saveConfig(plan.paths, plan.config);
  } finally {
    await lock.release();
  }
}

/** Start a detached daemon for a prepared mount; resolves once its mount is usable. */
export async function startPrepared({ layout, plan }: PreparedMount, opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<StartResult> {
  const base = opts.env ?? process.env;
  // A first mount's config is stored by the daemon once its mount succeeded (ARCHITECTURE.md, "Config").
  const env = plan.isNew ? { ...base, [PENDING_CONFIG_ENV]: JSON.stringify(plan.config) } : base;
  return startDaemon({ layout, plan, cliPath: DAEMON_ENTRY, env, ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }) }).catch((err: unknown) => {
    throw fromSystemError(err);
  });
}
