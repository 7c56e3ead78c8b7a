/**
 * A kind is a product's identity on a machine: the fsname tag and fstype of its mounts, the
 * process marker of its daemons, the variable that names its home. Everything that finds,
 * judges or cleans a daemon or a mount takes one, so two tools built on mountie never mistake
 * each other's daemons or mounts (a `memfs` stop never signals a `mountie` daemon, and the other
 * way round). Both sides of the protocol see this module; it has no dependencies but the errors.
 */
import { MountieError } from '../errors.js';

/** A product's identity; two kinds never see each other's daemons or mounts. */
export interface Kind {
  /** `/^[a-z][a-z0-9]{1,7}$/`: short enough that `${name}-daemon` fits the kernel's 15-byte comm. */
  readonly name: string;
  /** `fuse.${name}`: the fstype of its mounts in /proc/self/mountinfo. */
  readonly fstype: string;
  /** `${name}-daemon`: the process marker (/proc/<pid>/stat comm) of its daemons. */
  readonly comm: string;
  /** `${NAME}_HOME`: the variable that names its home (mountie's is `MOUNTIE_HOME`). */
  readonly homeEnv: string;
  /** How the kind's command line is run (`mountie` for MOUNTIE), when its author said so: hints then name `<command> stop <ws>` instead of a library call. */
  readonly command?: string;
}

/** What a kind's name must look like: lowercase, a letter first, 2 to 8 characters. */
export const KIND_NAME = /^[a-z][a-z0-9]{1,7}$/;

/** What a kind's `command` may look like: printable words separated by single spaces (`memfs`, `npx memfs`), at most 64 characters. */
const COMMAND = /^(?=.{1,64}$)[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;

function makeKind(name: string, command?: string): Kind {
  return Object.freeze({ name, fstype: `fuse.${name}`, comm: `${name}-daemon`, homeEnv: `${name.toUpperCase()}_HOME`, ...(command === undefined ? {} : { command }) });
}

/** mountie's own kind: tag `mountie:<ws>@<homeId>`, fstype `fuse.mountie`, marker `mountie-daemon`, home `$MOUNTIE_HOME`. */
export const MOUNTIE: Kind = makeKind('mountie', 'mountie');

/**
 * Define a kind from its name. Its mounts are tagged `${name}:<ws>@<homeId>` with fstype
 * `fuse.${name}`, its daemons carry the comm `${name}-daemon`, and its default home is
 * `$<NAME>_HOME`, else `$XDG_STATE_HOME/<name>`, else `~/.local/state/<name>`. `command`, when
 * given, is how the kind's own command line is run (`memfs`): the hints mountie's errors carry
 * then say `memfs stop <ws>`; without it they name the library call (`stop('<ws>', { kind })`).
 *
 * @throws {@link MountieError} `ERR_INVALID_KIND` when the name does not match `/^[a-z][a-z0-9]{1,7}$/`, or
 * is `mountie` (mountie's own kind is {@link MOUNTIE}), or when `command` is not printable words
 * separated by single spaces (at most 64 characters).
 */
export function defineKind(spec: { name: string; command?: string | undefined }): Kind {
  const name = (spec as { name?: unknown } | undefined)?.name;
  const command = (spec as { command?: unknown } | undefined)?.command;
  if (typeof name !== 'string' || !KIND_NAME.test(name)) {
    throw new MountieError('ERR_INVALID_KIND', `kind name ${JSON.stringify(name)} is not 2 to 8 lowercase letters and digits starting with a letter`, {
      data: { value: name },
      hint: 'name the kind like "memfs" (so that its daemons\' marker "<name>-daemon" fits the 15-byte process name)',
    });
  }
  if (name === MOUNTIE.name) {
    throw new MountieError('ERR_INVALID_KIND', 'kind name "mountie" is mountie\'s own kind', { data: { value: name }, hint: 'use MOUNTIE for mountie\'s own passthrough, or give your product its own name' });
  }
  if (command !== undefined && (typeof command !== 'string' || !COMMAND.test(command))) {
    throw new MountieError('ERR_INVALID_KIND', `kind command ${JSON.stringify(command)} is not printable words separated by single spaces (at most 64 characters)`, { data: { value: command }, hint: 'give the command as a user types it, like "memfs"' });
  }
  return makeKind(name, command);
}

/** Is `k` a kind as {@link defineKind} makes it (its derived names consistent with its name)? */
export function isKind(k: unknown): k is Kind {
  if (typeof k !== 'object' || k === null) return false;
  const { name, fstype, comm, homeEnv, command } = k as Partial<Kind>;
  return typeof name === 'string' && KIND_NAME.test(name) && fstype === `fuse.${name}` && comm === `${name}-daemon` && homeEnv === `${name.toUpperCase()}_HOME` && (command === undefined || (typeof command === 'string' && COMMAND.test(command)));
}

/** Two kinds are the same product when they have the same name. */
export function sameKind(a: Kind, b: Kind): boolean {
  return a.name === b.name;
}

/**
 * How to stop a workspace, for a hint: the kind's command (`mountie stop <ws>`, `memfs stop <ws>`)
 * when it has one; for a kind defined without `command`, whose command line mountie does not know,
 * the library call its tool makes.
 */
export function stopHint(ws: string, kind: Kind = MOUNTIE): string {
  if (sameKind(kind, MOUNTIE)) return `mountie stop ${ws}`;
  return kind.command !== undefined ? `${kind.command} stop ${ws}` : `stop the ${kind.name} workspace ${ws} (stop('${ws}', { kind }))`;
}
