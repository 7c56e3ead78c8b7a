/**
 * The controlling side in four calls, what the `mountie` command does for `mount --background`,
 * `stop` and `status`: each takes the kind (through `daemon` for launch, `kind` for the rest;
 * default mountie's own) and the home (`<KIND>_HOME` or the XDG default when not given) and reads
 * the process and mount tables itself.
 */
import { forgetWorkspace, type ForgetReport } from './forget.js';
import { MountieError } from '../errors.js';
import { MOUNTIE, sameKind, type Kind } from '../protocol/kind.js';
import type { MountieDaemon } from '../daemon/define.js';
import { kindOf, resolveHome, type HomeLayout } from '../state/paths.js';
import { validateName } from '../state/names.js';
import { readMountInfo } from '../sys/mountinfo.js';
import { scanMarked } from '../protocol/daemons.js';
import { discover as discoverIn, homeFacts, homeSnapshot, type Discovery } from './discover.js';
import { inspectWorkspace, listWorkspaces, type WorkspaceStatus } from './inspect.js';
import type { StartResult } from './start.js';
import { PASSTHROUGH_MODULE, prepareKindMount, prepareMount, startPrepared } from './prepare.js';
import { stopWorkspace, type StopReport } from './stop.js';
import { restartLive as restartLiveIn, type LiveRefused, type LiveRestarted } from './live-restart.js';

/** Which home to act on. */
export interface HomeOption {
  /** The home directory (what `MOUNTIE_HOME`, or the kind's `<NAME>_HOME`, names). Default: from `env`, as the `mountie` command resolves it. */
  readonly home?: string | undefined;
  /** The environment the home is resolved from and the daemon inherits. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/** Which kind's daemons and mounts a call sees (default mountie's own, {@link MOUNTIE}). */
export interface KindOption extends HomeOption {
  readonly kind?: Kind | undefined;
}

/**
 * What `options` may be, given the daemon's options input type `I` and the type `P` of the value
 * passed: a value of a known type must be an `I` (a wrong shape is a compile error); a value typed
 * `unknown` (raw input, e.g. JSON parsed from a command line) is left to the daemon's parser at run
 * time, which is what the parser is for.
 */
export type OptionsInput<I, P> = unknown extends P ? P : NoInfer<I>;

/**
 * `I`: what `daemon` takes as `options` (its validated options type unless its definition says
 * otherwise, see `defineDaemon`); `never` when no daemon is given (mountie's passthrough takes
 * `source`, not `options`). `P`: the type of the value passed as `options`, inferred; see
 * {@link OptionsInput}.
 */
export interface LaunchOptions<I = never, P = I> extends HomeOption {
  /** The daemon to start (what `defineDaemon` returned). Default: mountie's own passthrough (kind MOUNTIE). */
  readonly daemon?: MountieDaemon<unknown, I> | undefined;
  /** The author's options (JSON), validated by the daemon's `options` and stored in workspace.json on a first launch; later launches reuse the stored ones. */
  readonly options?: OptionsInput<I, P> | undefined;
  /** mountie's passthrough only: the directory to serve. Required on a workspace's first mount (except `demo`); later mounts reuse the stored one. */
  readonly source?: string | undefined;
  /** The mountpoint. Default `<home>/mnt/<workspace>`. */
  readonly at?: string | undefined;
  readonly readOnly?: boolean | undefined;
  /**
   * Let other users in, under kernel permission checks (`allow_other,default_permissions`), as
   * `mountie mount --allow-other`: stored in workspace.json on a first launch; a later launch that
   * asks otherwise is refused (`ERR_CONFIG_CONFLICT`). A user other than root needs
   * `user_allow_other` in /etc/fuse.conf (`ERR_ALLOW_OTHER_DENIED` otherwise).
   */
  readonly allowOther?: boolean | undefined;
  /**
   * Store the given `options`, `at`, `readOnly`, `allowOther` (and `source`, for mountie's own) in
   * place of the stored ones, as `mountie mount --reconfigure`: only while the workspace is
   * stopped (`ERR_WORKSPACE_LOCKED` otherwise), under its lock. What is not given stays.
   */
  readonly reconfigure?: boolean | undefined;
  /** How long to wait for the daemon's READY and its mount. Default 15 000 ms. */
  readonly readyTimeoutMs?: number | undefined;
}

function layoutOf(opts: HomeOption, kind: Kind = MOUNTIE): HomeLayout {
  const env = opts.env ?? process.env;
  return resolveHome(opts.home === undefined ? env : { ...env, [kind.homeEnv]: opts.home }, kind);
}

function badInput(message: string, option: string, hint: string): MountieError {
  return new MountieError('ERR_INVALID_OPTION', message, { data: { option }, hint });
}

/**
 * Start a detached daemon for `workspace` and resolve once its mount is usable (the daemon said
 * READY and `/proc/self/mountinfo` shows its mount). Bad input rejects before anything is written;
 * a daemon that fails to start is reaped, nothing of it is left running.
 *
 * @throws {@link MountieError} `ERR_WORKSPACE_LOCKED` when a daemon already serves it, a usage code
 * (`ERR_INVALID_NAME`, `ERR_SOURCE_*`, `ERR_MOUNTPOINT_*`, …) for bad input, `ERR_DAEMON_EXITED` or
 * `ERR_START_TIMEOUT` when the daemon did not come up.
 */
export async function launch<I = never, P = I>(workspace: string, opts: LaunchOptions<I, P> = {}): Promise<StartResult> {
  const daemon = opts.daemon;
  const kind = daemon?.kind ?? MOUNTIE;
  let prepared;
  if (sameKind(kind, MOUNTIE)) {
    if (daemon !== undefined && daemon.module !== PASSTHROUGH_MODULE) throw new MountieError('ERR_INVALID_DEFINITION', 'kind MOUNTIE is mountie\'s own passthrough; a daemon of your own needs its own kind', { data: { workspace }, hint: 'define one with defineKind({ name })' });
    if (opts.options !== undefined) throw badInput('mountie\'s passthrough takes `source`, not `options`', 'options', 'pass { source } instead');
    prepared = await prepareMount(layoutOf(opts), { name: workspace, source: opts.source, at: opts.at, readOnly: opts.readOnly, allowOther: opts.allowOther, reconfigure: opts.reconfigure });
  } else {
    if (daemon === undefined) throw new MountieError('ERR_INTERNAL', 'unreachable: a kind without a daemon');
    if (opts.source !== undefined) throw badInput(`\`source\` is for mountie's passthrough only; a ${kind.name} daemon takes \`options\``, 'source', 'pass your daemon\'s settings in options');
    prepared = await prepareKindMount(layoutOf(opts, kind), daemon, { name: workspace, options: opts.options, at: opts.at, readOnly: opts.readOnly, allowOther: opts.allowOther, reconfigure: opts.reconfigure });
  }
  return startPrepared(prepared, { ...(opts.env ? { env: opts.env } : {}), ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }) });
}

export interface ForgetCallOptions extends KindOption {
  /** Delete the kind's own document (`data.json`, what ctx.data saved) too. Default false: it is kept, and so is the directory holding it. */
  readonly dropData?: boolean;
}

/**
 * Forget a stopped workspace, as `mountie forget`: its config, state, pidfile, log, epoch, lock and
 * directory, and its default mountpoint when empty; never a mountpoint chosen with `at`, never a
 * passthrough's source, never anything mounted. A kind's `data.json` stays unless `dropData`.
 *
 * @throws {@link MountieError} `ERR_WORKSPACE_ACTIVE` while a daemon of it runs or a mount of it
 * remains, `ERR_UNKNOWN_WORKSPACE` when there is nothing to forget, `ERR_KIND_MISMATCH` for another kind's.
 */
export async function forget(workspace: string, opts: ForgetCallOptions = {}): Promise<ForgetReport> {
  return forgetWorkspace(layoutOf(opts, opts.kind ?? MOUNTIE), workspace, { dropData: opts.dropData === true });
}

export interface StopCallOptions extends KindOption {
  /** SIGTERM → SIGKILL delay. Default 7000 ms (above the daemon's own 5 s shutdown deadline). */
  readonly graceMs?: number | undefined;
}

/**
 * Stop every daemon of `workspace` (proven ours: marker and lock file, identity checked again
 * before each signal): SIGTERM, SIGKILL after `graceMs`, a FUSE abort for a wedged one; then clean
 * what the dead left (stale mount, stale pidfile). Never throws for a daemon that survives: the
 * report names it (`ok: false`, `survivors`).
 */
export async function stop(workspace: string, opts: StopCallOptions = {}): Promise<StopReport> {
  return stopWorkspace(layoutOf(opts, opts.kind), validateName(workspace), opts.graceMs === undefined ? {} : { graceMs: opts.graceMs });
}

export interface RestartLiveOptions extends HomeOption {
  /** How long to wait for the new daemon. Default 15 s. */
  readonly readyTimeoutMs?: number | undefined;
}

/**
 * What `mountie restart --live` does (mountie's passthrough only; docs/ARCHITECTURE.md, "Live
 * restart"): a new daemon of this build takes the live mount and the workspace lock over from the
 * serving one, nothing is unmounted. Resolves `{ live: true, from, to }`, or `{ live: false,
 * reason }` with nothing done when it cannot be (nothing serves it, or its daemon cannot hand
 * over: the caller may restart it plainly, `stop` then `launch`). Rejects `ERR_HANDOVER` when the
 * handover failed (the old daemon serves on: `data.servedBy`), `ERR_UNKNOWN_WORKSPACE`.
 */
export async function restartLive(workspace: string, opts: RestartLiveOptions = {}): Promise<LiveRestarted | LiveRefused> {
  return restartLiveIn(layoutOf(opts, MOUNTIE), validateName(workspace), { ...(opts.env ? { env: opts.env } : {}), ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}) });
}

/**
 * What `mountie status` shows: one entry per workspace (or only `workspace`), with its verdict
 * (`running`, `leftovers`, `failed`, `stopped`), its tokens (`running(pid=N)`, `orphan(pid=N)`, …)
 * and its state.json.
 */
export async function status(workspace?: string, opts: KindOption = {}): Promise<WorkspaceStatus[]> {
  const layout = layoutOf(opts, opts.kind);
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  const snap = await homeSnapshot(layout, mounts, facts);
  const names = workspace !== undefined ? [validateName(workspace)] : await listWorkspaces(layout, snap, facts);
  const found = await Promise.all(names.map((n) => discoverIn(layout, n, snap, facts)));
  // Listing a home: another kind's workspaces there are not this kind's to show (asked by name, they say so).
  return Promise.all(found.filter((d) => workspace !== undefined || d.configErrorCode !== 'ERR_KIND_MISMATCH').map((d) => inspectWorkspace(d)));
}

/**
 * Everything known about one workspace, unjudged: its daemons (only processes proven to be its
 * own), the pidfile, the lock, and every mount tagged for it.
 */
export async function discover(workspace: string, opts: KindOption = {}): Promise<Discovery> {
  const layout = layoutOf(opts, opts.kind);
  const [mounts, facts] = await Promise.all([readMountInfo(), homeFacts(layout)]);
  return discoverIn(layout, validateName(workspace), { procs: scanMarked(kindOf(layout)), mounts }, facts);
}
