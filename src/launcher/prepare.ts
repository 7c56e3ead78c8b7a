/**
 * The launcher's side of `mount --background`, shared by the `mountie` command and `launch()`:
 * plan (bad input writes nothing), refuse a workspace a daemon already serves, store a
 * `--reconfigure`d config under the lock, create what the plan needs, then start the daemon: the
 * child entry (src/cli/daemon-child.ts) with the module that defines the daemon, for mountie's
 * passthrough as for any other kind's.
 */
import { access, lstat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MountieError } from '../errors.js';
import { acquireLock } from '../protocol/lock.js';
import { kindOf, type HomeLayout } from '../state/paths.js';
import { stopHint } from '../protocol/kind.js';
import { planMount, type MountPlan, type MountRequest } from '../state/plan.js';
import { materialize } from '../state/materialize.js';
import { PENDING_CONFIG_ENV, saveConfig, type AnyConfig, type WorkspaceConfig } from '../state/workspace.js';
import { planKindMount, type KindMountRequest } from '../state/plan-kind.js';
import type { MountieDaemon } from '../daemon/define.js';
import { validateOptions } from '../daemon/define.js';
import { requireNative } from '../daemon/native/require-native.js';
import { fromSystemError } from '../sys/errno-error.js';
import { readMountInfo } from '../sys/mountinfo.js';
import type { ProcStat } from '../sys/proc-stat-scan.js';
import { scanMarked } from '../protocol/daemons.js';
import { discover, homeFacts } from './discover.js';
import { startDaemon, type StartResult } from './start.js';

/** The entry every daemon runs (`node daemon-child.js <module> <ws> --kind <name> --instance <id>`), beside this package's launcher. */
export const DAEMON_ENTRY = fileURLToPath(new URL('../cli/daemon-child.js', import.meta.url));
/** The module that defines mountie's passthrough daemon (src/daemon/passthrough/daemon.ts). */
export const PASSTHROUGH_MODULE = new URL('../daemon/passthrough/daemon.js', import.meta.url).href;

export interface PreparedMount<C extends AnyConfig = WorkspaceConfig> {
  readonly layout: HomeLayout;
  readonly plan: MountPlan<C>;
  /** The module the child imports to find the daemon's definition. */
  readonly module: string;
}

/** Plan, refuse a running workspace, store a reconfigured config (under the lock), materialize. */
export async function prepareMount(layout: HomeLayout, req: MountRequest): Promise<PreparedMount> {
  const plan = await planMount(req, layout);
  // Checked again by the daemon (the authority); here so that nothing is written first (exit 2).
  requireNative();
  return claimAndMaterialize(layout, plan, PASSTHROUGH_MODULE, req.reconfigure === true);
}

/**
 * The same for a daemon of another kind: its options validated by its definition (bad ones
 * throw `ERR_INVALID_OPTION`, nothing written), no source.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a definition of any options type
export async function prepareKindMount(layout: HomeLayout, daemon: MountieDaemon<any>, req: KindMountRequest): Promise<PreparedMount<AnyConfig>> {
  const plan = await planKindMount(req, layout);
  validateOptions(daemon.definition, plan.config.options, plan.config.name);
  requireNative();
  return claimAndMaterialize(layout, plan, daemon.module, req.reconfigure === true);
}

async function claimAndMaterialize<C extends AnyConfig>(layout: HomeLayout, plan: MountPlan<C>, module: string, reconfigure: boolean): Promise<PreparedMount<C>> {
  // Fast path for the common "already running": the daemon's own lock stays the authority.
  const now = await discover(layout, plan.config.name, { procs: await holderCandidates(layout, plan.paths.lock), mounts: await readMountInfo() }, await homeFacts(layout));
  // Only a held lock refuses here: a daemon still starting may lose its own race, and naming it
  // would name the wrong pid. Our own daemon then contests the lock, and its refusal names the holder.
  if (now.lockHeld) {
    const pid = now.daemons.find((d) => d.holdsLock)?.pid;
    throw new MountieError('ERR_WORKSPACE_LOCKED', `workspace ${plan.config.name} is already mounted by ${pid === undefined ? 'another daemon' : `pid ${pid}`} at ${plan.config.mountpoint}`, {
      data: { workspace: plan.config.name, ...(pid === undefined ? {} : { pid }), path: plan.config.mountpoint },
      hint: reconfigure ? `stop it first (mountie stop ${plan.config.name}), then mount it with --reconfigure` : `use it as it is, or run: ${stopHint(plan.config.name, kindOf(layout))}`,
    });
  }
  try {
    if (plan.reconfigured) await storeConfigStopped(plan);
    await materialize(plan);
  } catch (err) {
    throw fromSystemError(err);
  }
  return { layout, plan, module };
}

/**
 * The processes the "already running" check needs read. Only a held lock refuses, and discover()
 * scans for the holder itself when /proc/locks shows our lock file held: with that file there and
 * /proc/locks readable, nothing is read while the lock is free, the common case (with 2,000
 * processes the scan was the launcher's largest step after Node's start-up: BENCHMARKS.md, issue
 * 18). Without the lock file (a first mount, or one deleted under a daemon that still holds it)
 * or without /proc/locks, the marked processes are scanned as before.
 */
async function holderCandidates(layout: HomeLayout, lockPath: string): Promise<readonly ProcStat[]> {
  const [lockFile, table] = await Promise.all([lstat(lockPath).then((st) => st.isFile(), () => false), access('/proc/locks').then(() => true, () => false)]);
  return lockFile && table ? [] : scanMarked(kindOf(layout));
}

/** --reconfigure: the new config is stored while we hold the workspace lock, so no daemon runs on the old one meanwhile. */
async function storeConfigStopped(plan: MountPlan<AnyConfig>): Promise<void> {
  const lock = await acquireLock(plan.paths.lock, plan.config.name);
  try {
    await saveConfig(plan.paths, plan.config);
  } finally {
    await lock.release();
  }
}

/** Start a detached daemon for a prepared mount; resolves once its mount is usable. */
export async function startPrepared({ layout, plan, module }: PreparedMount<AnyConfig>, opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<StartResult> {
  const base = opts.env ?? process.env;
  // A first mount's config is stored by the daemon once its mount succeeded (ARCHITECTURE.md, "Config").
  const env = plan.isNew ? { ...base, [PENDING_CONFIG_ENV]: JSON.stringify(plan.config) } : base;
  return startDaemon({ layout, plan, cliPath: DAEMON_ENTRY, module, env, ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }) }).catch((err: unknown) => {
    throw fromSystemError(err);
  });
}
