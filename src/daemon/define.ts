/**
 * The daemon side's one way in: `defineDaemon` describes a daemon of a kind (what it mounts, how
 * its options are checked, its health probe, its shutdown). It is pure: it validates and freezes
 * the definition, nothing else. The launcher's child (src/cli/daemon-child.ts) imports the module
 * the definition names and runs it with the harness (./run.ts): lock, stale-mount cleanup,
 * pidfile, mount, READY, signals, ordered shutdown, state.json, daemon.log.
 */
import { MountieError, isMountieError } from '../errors.js';
import { isKind, type Kind } from '../protocol/kind.js';
import type { FsOps } from './fs-ops.js';
import type { FileSystem } from './file-system.js';
import type { DataStore } from './data-store.js';
import type { FsMountOptions } from './mount-options.js';

/** Where a daemon's lines go: the workspace's daemon.log. */
export interface DaemonLog {
  /** A line at level info. */
  info(line: string): void;
  /** A line at level error, with the error's message and stack when given. */
  error(line: string, err?: unknown): void;
}

/** What `mount`, `probe` and `shutdown` are told about the workspace they serve. */
export interface MountContext<O> {
  readonly workspace: string;
  /** The real path of the mountpoint (as /proc/self/mountinfo shows it). */
  readonly mountpoint: string;
  /** The author's options, already validated by the definition's `options`. */
  readonly options: O;
  readonly readOnly: boolean;
  /** Aborted when the daemon begins to shut down. */
  readonly signal: AbortSignal;
  /** Lines go to the workspace's daemon.log. */
  readonly log: DaemonLog;
  /** The workspace's directory (`<home>/workspaces/<ws>`: workspace.json, daemon.pid, state.json, daemon.log, data.json). Files of your own may go here; mountie's names are its own. */
  readonly dir: string;
  /** The kind's own durable document (`data.json`): `load()` what the last daemon saved, `save(doc)` resolves once it is on disk (fsynced, renamed; fenced to this daemon). */
  readonly data: DataStore;
}

/**
 * What a daemon serves: its own file system (`fs`, promise style with the caller on every op), its
 * own operations in the callback style (`ops`), or mountie's passthrough of a directory.
 */
export type Served =
  | { readonly fs: FileSystem; readonly mount?: FsMountOptions }
  | { readonly ops: FsOps; readonly mount?: FsMountOptions }
  | { readonly passthrough: { readonly source: string } };

/** A daemon of one's own file system, as given to {@link defineDaemon}. */
export interface DaemonDefinition<O> {
  readonly kind: Kind;
  /** `import.meta.url` of the module that exports this definition: the launcher's child imports it to run the daemon. */
  readonly module: string;
  /**
   * Validate the author's options (from `launch({ options })` or workspace.json). Throw
   * `MountieError('ERR_INVALID_OPTION', …)` → exit 2, nothing written (any other throw is reported
   * as `ERR_INVALID_OPTION` too). Absent: a workspace takes no options.
   */
  readonly options?: (raw: unknown) => O;
  /** Say what to serve; called once per daemon, inside the harness's 10 s mount step. */
  mount(ctx: MountContext<O>): Served | Promise<Served>;
  /** Optional health probe of the author's backend (resolves = healthy); bounded by the harness. */
  probe?(ctx: MountContext<O>): Promise<void>;
  /** After the unmount, inside the shutdown deadline. */
  shutdown?(ctx: MountContext<O>): Promise<void>;
}

/** Type-only: the key of {@link MountieDaemon}'s options input type; never present at run time. */
declare const OPTIONS_INPUT: unique symbol;

/**
 * A validated daemon definition: what `launch({ daemon })` and `runForeground` take. `O`: its
 * validated options (what `ctx.options` is); `I`: what a launch passes as `options` (stored as
 * JSON in workspace.json, then given to the parser), `O` unless {@link defineDaemon} was told.
 */
export interface MountieDaemon<O = unknown, I = O> {
  readonly kind: Kind;
  readonly module: string;
  readonly definition: DaemonDefinition<O>;
  /** Type-only (never set): carries `I`, so that `launch` can check the options it is given. */
  readonly [OPTIONS_INPUT]?: I;
}

const BRAND = Symbol.for('mountie.daemon/v1');

function invalid(what: string, value: unknown): MountieError {
  return new MountieError('ERR_INVALID_DEFINITION', `defineDaemon: ${what}`, { data: { value: typeof value === 'function' ? 'function' : value }, hint: 'see docs/TOOLKIT.md, "The daemon side"' });
}

/**
 * Define a daemon of a kind. Pure: validates the definition (a kind from `defineKind`, `module` a
 * `file:` URL, `mount` a function, `options`/`probe`/`shutdown` functions when given) and returns
 * it frozen; nothing runs until a launcher starts it. Export the result from the module `module`
 * names: the launcher's child finds it there by its kind.
 *
 * Type parameters: `O`, the validated options (inferred from `options`); `I`, what a launch passes
 * as `options`, by default `O`. Give `I` when the parser does more than check: applies defaults
 * (`defineDaemon<HttpOptions, { url: string; timeoutMs?: number }>`) or builds another shape (a
 * `Map` from a JSON tree); the launch's options are stored as JSON, so `I` should be JSON.
 *
 * @throws {@link MountieError} `ERR_INVALID_DEFINITION` on a malformed definition.
 */
export function defineDaemon<O, I = O>(def: DaemonDefinition<O>): MountieDaemon<O, I> {
  if (typeof def !== 'object' || def === null) throw invalid('the definition must be an object', def);
  if (!isKind(def.kind)) throw invalid('kind must come from defineKind (or be MOUNTIE)', def.kind);
  let url: URL | undefined;
  try {
    url = typeof def.module === 'string' ? new URL(def.module) : undefined;
  } catch {
    // Not a URL at all: reported below like any other bad value.
  }
  if (url?.protocol !== 'file:') throw invalid('module must be the file: URL of the defining module (import.meta.url)', def.module);
  if (typeof def.mount !== 'function') throw invalid('mount must be a function', def.mount);
  for (const k of ['options', 'probe', 'shutdown'] as const) {
    if (def[k] !== undefined && typeof def[k] !== 'function') throw invalid(`${k} must be a function when given`, def[k]);
  }
  const definition = Object.freeze({ ...def });
  return Object.freeze({ kind: def.kind, module: def.module, definition, [BRAND]: true });
}

/** Is `v` what {@link defineDaemon} returned (in this or another copy of mountie)? */
export function isMountieDaemon(v: unknown): v is MountieDaemon<unknown> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * The author's options through the definition's parser: what a launch stores and a daemon starts
 * with. Every failure is `ERR_INVALID_OPTION` (a parser's own coded error passes through).
 */
export function validateOptions<O>(definition: DaemonDefinition<O>, raw: unknown, workspace: string): O {
  if (!definition.options) {
    if (raw !== undefined && raw !== null) throw new MountieError('ERR_INVALID_OPTION', `a ${definition.kind.name} workspace takes no options`, { data: { workspace, option: 'options' }, hint: 'launch it without options' });
    return undefined as O;
  }
  try {
    return definition.options(raw);
  } catch (err) {
    if (isMountieError(err) && err.code === 'ERR_INVALID_OPTION') throw err;
    throw new MountieError('ERR_INVALID_OPTION', `invalid options for ${definition.kind.name} workspace ${workspace}: ${err instanceof Error ? err.message : String(err)}`, {
      data: { workspace, option: 'options' },
      hint: 'fix the options and launch again',
      cause: err,
    });
  }
}
