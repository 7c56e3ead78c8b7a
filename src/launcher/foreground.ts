/**
 * A daemon in the foreground, in the calling process: an author CLI's `mount` without
 * `--background`. The same checks as a launch (bad input writes nothing), then the harness
 * serves until SIGTERM/SIGINT/SIGHUP or a fatal fault.
 */
import { randomUUID } from 'node:crypto';
import { MountieError } from '../errors.js';
import { MOUNTIE, sameKind } from '../protocol/kind.js';
import type { MountieDaemon } from '../daemon/define.js';
import { resolveHome } from '../state/paths.js';
import { packageVersion } from '../sys/version.js';
import type { OptionsInput } from './api.js';
import { PASSTHROUGH_MODULE, prepareKindMount, prepareMount } from './prepare.js';

/** Where and how {@link runForeground} serves. */
/** `I`: what the daemon takes as `options`; `P`: the type of the value passed (see {@link OptionsInput}). */
export interface ForegroundOptions<I = unknown, P = I> {
  /** The home directory (the kind's `<NAME>_HOME`). Default: from `env`. */
  readonly home?: string | undefined;
  /** The environment the home is resolved from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The author's options, what the daemon takes (mountie's passthrough: `{ source }`). */
  readonly options?: OptionsInput<I, P> | undefined;
  /** The mountpoint. Default `<home>/mnt/<workspace>`. */
  readonly at?: string | undefined;
  readonly readOnly?: boolean | undefined;
  /** Let other users in, under kernel permission checks: as {@link LaunchOptions.allowOther}. */
  readonly allowOther?: boolean | undefined;
}

/**
 * Run `daemon` for `workspace` in the foreground in this process (the author CLI's `mount`
 * without `--background`): resolves with the exit code once it stopped (0 clean stop, 1 failure at
 * run time); rejects with a {@link MountieError} when it could not start (bad input, exit 2, with
 * nothing written; `ERR_WORKSPACE_LOCKED` when another daemon serves it; a failed mount).
 * Never exits the process: the caller does, with the code.
 */
export async function runForeground<O, I = O, P = I>(daemon: MountieDaemon<O, I>, workspace: string, opts: ForegroundOptions<I, P> = {}): Promise<number> {
  const kind = daemon.kind;
  const env = opts.env ?? process.env;
  const layout = resolveHome(opts.home === undefined ? env : { ...env, [kind.homeEnv]: opts.home }, kind);
  let prepared;
  if (sameKind(kind, MOUNTIE)) {
    if (daemon.module !== PASSTHROUGH_MODULE) throw new MountieError('ERR_INVALID_DEFINITION', "kind MOUNTIE is mountie's own passthrough; a daemon of your own needs its own kind", { data: { workspace }, hint: 'define one with defineKind({ name })' });
    const source = (opts.options as { source?: unknown } | undefined)?.source;
    prepared = await prepareMount(layout, { name: workspace, source: typeof source === 'string' ? source : undefined, at: opts.at, readOnly: opts.readOnly, allowOther: opts.allowOther });
  } else {
    prepared = await prepareKindMount(layout, daemon, { name: workspace, options: opts.options, at: opts.at, readOnly: opts.readOnly, allowOther: opts.allowOther });
  }
  const { runDaemon } = await import('../daemon/run.js');
  const { plan } = prepared;
  return runDaemon({ layout, workspace: plan.config.name, instanceId: randomUUID(), argv: process.argv, version: packageVersion(), pendingConfig: plan.isNew ? plan.config : undefined, daemon });
}
