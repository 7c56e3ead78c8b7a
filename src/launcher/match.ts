import { readFileSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';

/**
 * Is this argv a mountie daemon? Pure functions over argv, so that `stop` and `status` can
 * find every daemon of a workspace by scanning the process table, pidfile or not.
 *
 * A daemon is: node binary, node flags, a mountie entry script, `mount`, the workspace name,
 * then anything. Launchers (`--background`) and wrappers (npx, tsx: their script is not ours)
 * are not daemons: they are short-lived parents of the daemon.
 */

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const NODE_RE = /^(?:node|nodejs|node\d+(?:\.\d+)*)$/;

/**
 * Node options that take their value as the NEXT token (`--require x`). Only genuinely
 * string-valued options belong here: listing a boolean one would make us skip the script and
 * miss a daemon. `--max-old-space-size` and other V8 flags are written `=`-joined.
 */
const VALUE_FLAGS: ReadonlySet<string> = new Set([
  '-r', '--require', '--import', '--loader', '--experimental-loader', '--inspect-port',
  '--debug-port', '-C', '--conditions', '--title', '--env-file', '--input-type',
  '--redirect-warnings', '--diagnostic-dir', '--report-dir', '--report-directory',
  '--report-filename', '--report-signal', '--unhandled-rejections', '--dns-result-order',
  '--openssl-config', '--icu-data-dir', '--experimental-policy', '--policy-integrity',
  '--heapsnapshot-signal', '--secure-heap', '--secure-heap-min', '--cpu-prof-dir',
  '--cpu-prof-name', '--heap-prof-dir', '--heap-prof-name', '--trace-event-categories',
  '--trace-event-file-pattern', '--disable-proto', '--experimental-default-type',
]);

/** With these node runs code given inline (or only checks syntax): the "script" is not one. */
const NO_SCRIPT_FLAGS: ReadonlySet<string> = new Set(['-e', '--eval', '-p', '--print', '-c', '--check', '-i', '--interactive', '--test']);

const SHIM_NAMES: ReadonlySet<string> = new Set(['mountie', 'mountie.js']);
const ENTRY_SUFFIXES = ['/dist/cli/main.js', '/dist/cli/bin.cjs', '/src/cli/main.ts', '/src/cli/bin.cts'] as const;

export interface DaemonArgv {
  /** The entry script exactly as in argv (may be relative to the process's cwd). */
  readonly script: string;
  readonly workspace: string;
}

export interface MatchOptions {
  /** The process's cwd, to resolve a relative entry script such as `dist/cli/main.js`. */
  readonly cwd?: string;
  readonly isMountieRoot?: (root: string) => boolean;
}

export function isNodeBinary(arg0: string): boolean {
  return NODE_RE.test(basename(arg0));
}

/**
 * The shape check alone: node, flags, script, `mount`, a valid name, no `--background`.
 * Says nothing yet about whether the script is mountie's (see isEntryScript).
 */
export function splitDaemonArgv(argv: readonly string[]): DaemonArgv | undefined {
  const arg0 = argv[0];
  if (arg0 === undefined || !isNodeBinary(arg0)) return undefined;
  if (argv.includes('--background')) return undefined; // a launcher: it spawns the daemon and exits
  let i = 1;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break; // '-' is "script from stdin": not a flag, not ours
    if (NO_SCRIPT_FLAGS.has(a) || NO_SCRIPT_FLAGS.has(a.split('=')[0] as string)) return undefined;
    if (VALUE_FLAGS.has(a)) i++;
  }
  const [script, verb, workspace] = [argv[i], argv[i + 1], argv[i + 2]];
  if (script === undefined || verb !== 'mount' || workspace === undefined) return undefined;
  if (!NAME_RE.test(workspace)) return undefined;
  return { script, workspace };
}

const rootCache = new Map<string, boolean>();

/**
 * Default root check: `<root>/package.json` says name "mountie". Read synchronously: it is a
 * small local file, read at most once per root per process (cached), and keeping matching
 * synchronous keeps it pure-looking and easy to test.
 */
export function defaultIsMountieRoot(root: string): boolean {
  let known = rootCache.get(root);
  if (known === undefined) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
      known = typeof pkg === 'object' && pkg !== null && (pkg as { name?: unknown }).name === 'mountie';
    } catch {
      // No package.json, unreadable, or not JSON: whatever this is, it is not a mountie install.
      known = false;
    }
    rootCache.set(root, known);
  }
  return known;
}

/** A relative `dist/cli/main.js` can only be judged with the process's cwd. */
export function scriptNeedsCwd(script: string): boolean {
  return !isAbsolute(script) && !SHIM_NAMES.has(basename(script)) && ENTRY_SUFFIXES.some((s) => `/${script}`.endsWith(s));
}

export function isEntryScript(script: string, opts: MatchOptions = {}): boolean {
  if (SHIM_NAMES.has(basename(script))) return true;
  if (!isAbsolute(script) && opts.cwd === undefined) return false; // cannot know where it lives
  const abs = resolve(opts.cwd ?? '/', script);
  const suffix = ENTRY_SUFFIXES.find((s) => abs.endsWith(s));
  if (suffix === undefined) return false;
  const root = abs.slice(0, -suffix.length) || '/';
  return (opts.isMountieRoot ?? defaultIsMountieRoot)(root);
}

/** The workspace this argv is the daemon of; with `ws`, only a daemon of exactly that one. */
export function matchDaemon(argv: readonly string[], ws?: string, opts: MatchOptions = {}): { workspace: string } | undefined {
  const parts = splitDaemonArgv(argv);
  if (!parts || (ws !== undefined && parts.workspace !== ws)) return undefined;
  return isEntryScript(parts.script, opts) ? { workspace: parts.workspace } : undefined;
}
