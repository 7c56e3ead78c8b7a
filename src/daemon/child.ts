/**
 * The daemon child a launcher spawns for a kind:
 * `node --title=<comm> <ws> daemon-child.js <module URL> <ws> --kind <name> --instance <id>`.
 * It imports the module, finds the exported daemon of that kind (what `defineDaemon` returned),
 * and runs the harness (./run.ts) with it. Resolves with the exit code; the entry in src/cli exits.
 * A failure before the harness runs (bad argv, a module without that daemon) is reported on the
 * launcher's channel like any start failure, so the launcher rejects with its code.
 */
import { MountieError, isMountieError } from '../errors.js';
import { openReadyChannel, type ReadyChannel } from '../protocol/channel.js';
import { defineKind, MOUNTIE, type Kind } from '../protocol/kind.js';
import { markDaemon } from '../protocol/marker.js';
import { validateName } from '../state/names.js';
import { resolveHome } from '../state/paths.js';
import { parsePendingConfig, PENDING_CONFIG_ENV } from '../state/workspace.js';
import { isMountieDaemon, type MountieDaemon } from './define.js';

/** The child's arguments, checked. */
export interface ChildArgs {
  readonly module: string;
  readonly workspace: string;
  readonly kind: Kind;
  readonly instanceId: string;
  /** `--take-over <pid>`: a live restart's new daemon, taking the mount over from that daemon. */
  readonly takeOver?: { readonly pid: number };
}

function usage(message: string): MountieError {
  return new MountieError('ERR_INVALID_OPTION', `daemon child: ${message}`, { hint: 'the daemon child is started by a launcher (launch() or `mount --background`), not by hand' });
}

/** Parse `<module> <ws> --kind <name> --instance <id>`. */
export function parseChildArgs(argv: readonly string[]): ChildArgs {
  const [module, ws, ...rest] = argv;
  if (module === undefined || ws === undefined) throw usage('expected <module> <workspace> --kind <name> --instance <id>');
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i];
    const v = rest[i + 1];
    if ((k !== '--kind' && k !== '--instance' && k !== '--take-over') || v === undefined || flags.has(k)) throw usage(`unexpected argument ${JSON.stringify(k)}`);
    flags.set(k, v);
  }
  const name = flags.get('--kind') ?? MOUNTIE.name;
  const instanceId = flags.get('--instance');
  if (instanceId === undefined || !/^[A-Za-z0-9-]{1,64}$/.test(instanceId)) throw usage('--instance <id> is required');
  const from = flags.get('--take-over');
  if (from !== undefined && !/^[1-9][0-9]{0,9}$/.test(from)) throw usage('--take-over <pid> needs a pid');
  return { module, workspace: validateName(ws), kind: name === MOUNTIE.name ? MOUNTIE : defineKind({ name }), instanceId, ...(from !== undefined ? { takeOver: { pid: Number(from) } } : {}) };
}

/** The daemon of `kind` that `module` exports. */
export async function findDaemon(module: string, kind: Kind): Promise<MountieDaemon<unknown>> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(module)) as Record<string, unknown>;
  } catch (cause) {
    throw new MountieError('ERR_INVALID_DEFINITION', `cannot import the daemon module ${module}: ${cause instanceof Error ? cause.message : String(cause)}`, { data: { path: module }, cause });
  }
  const found = Object.values(mod).find((v): v is MountieDaemon<unknown> => isMountieDaemon(v) && v.kind.name === kind.name);
  if (!found) {
    throw new MountieError('ERR_INVALID_DEFINITION', `module ${module} exports no daemon of kind ${kind.name}`, {
      data: { path: module, kind: kind.name },
      hint: 'export the value defineDaemon returned from the module its `module` (import.meta.url) names',
    });
  }
  return found;
}

function reportEarly(channel: ReadyChannel | undefined, instanceId: string, err: unknown): void {
  const error = isMountieError(err) ? err.toJSON() : { code: 'ERR_MOUNT_FAILED', message: err instanceof Error ? err.message : String(err), data: {} };
  channel?.send({ type: 'error', pid: process.pid, instanceId, error });
  channel?.close();
}

/**
 * Run the daemon child: resolves with the exit code (2 bad argv or definition, else the
 * harness's). `log` gets the one line a failure before the harness leaves (to daemon.log, the
 * child's stderr).
 */
export async function runChild(argv: readonly string[], opts: { version: string; env?: NodeJS.ProcessEnv; log: (line: string) => void }): Promise<number> {
  const env = opts.env ?? process.env;
  const channel = openReadyChannel(env);
  let args: ChildArgs;
  let daemon: MountieDaemon<unknown>;
  try {
    args = parseChildArgs(argv);
    markDaemon(args.workspace, process, args.kind);
    daemon = await findDaemon(args.module, args.kind);
  } catch (err) {
    const instanceId = argv[argv.indexOf('--instance') + 1] ?? '';
    opts.log(`daemon child: ${err instanceof Error ? err.message : String(err)}`);
    reportEarly(channel, instanceId, err);
    return 2;
  }
  const pendingConfig = parsePendingConfig(env[PENDING_CONFIG_ENV], args.workspace, args.kind);
  // Not handed on to what the daemon runs (fusermount).
  delete env[PENDING_CONFIG_ENV];
  // Loaded only here: the daemon's modules (and the addon) are the bulk of a launch's start-up.
  const { runDaemon } = await import('./run.js');
  return runDaemon({ layout: resolveHome(env, args.kind), workspace: args.workspace, instanceId: args.instanceId, argv: process.argv, version: opts.version, channel, pendingConfig, daemon, takeOver: args.takeOver });
}
