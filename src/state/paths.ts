import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MOUNTIE, sameKind, type Kind } from '../protocol/kind.js';

/**
 * Where mountie keeps its files. With MOUNTIE_HOME set everything lives under it; without,
 * config and state follow XDG ($XDG_STATE_HOME/mountie, default ~/.local/state/mountie) and the
 * default mountpoints live there too; pidfiles always sit beside their workspace's config.
 */
export interface HomeLayout {
  readonly home: string;
  /** Whose home this is: its daemons' marker, its mounts' tag. Absent: mountie's own (MOUNTIE). */
  readonly kind?: Kind;
  readonly workspacesDir: string;
  readonly mntDir: string;
}

/** Where one workspace's files sit (see the README, "Where files live"). */
export interface WorkspacePaths {
  readonly name: string;
  readonly dir: string;
  readonly config: string;
  readonly pidfile: string;
  /** The workspace lock (flock), see src/protocol/lock.ts. */
  readonly lock: string;
  readonly state: string;
  readonly log: string;
  readonly epoch: string;
  readonly defaultMountpoint: string;
  readonly demoSource: string;
}

/**
 * The home as the `mountie` command resolves it: `MOUNTIE_HOME`, else `$XDG_STATE_HOME/mountie`,
 * else `~/.local/state/mountie`. For another kind: `$<NAME>_HOME`, else `$XDG_STATE_HOME/<name>`,
 * else `~/.local/state/<name>`.
 */
export function resolveHome(env: NodeJS.ProcessEnv = process.env, kind: Kind = MOUNTIE): HomeLayout {
  // The pidfile's place never depends on XDG_RUNTIME_DIR: a stop from cron or sudo (without it)
  // must find the same files as the shell that started the daemon.
  const own = env[kind.homeEnv];
  const home = own
    ? resolve(own)
    : env.XDG_STATE_HOME
      ? join(resolve(env.XDG_STATE_HOME), kind.name)
      : join(env.HOME || homedir(), '.local', 'state', kind.name);
  // mountie's own layout keeps its exact shape (no kind field): tests and callers compare it.
  return { home, workspacesDir: join(home, 'workspaces'), mntDir: join(home, 'mnt'), ...(sameKind(kind, MOUNTIE) ? {} : { kind }) };
}

/** The kind a layout belongs to (mountie's own when it names none). */
export function kindOf(layout: HomeLayout): Kind {
  return layout.kind ?? MOUNTIE;
}

/** The paths of one workspace's files in a home. */
export function workspacePaths(layout: HomeLayout, name: string): WorkspacePaths {
  const dir = join(layout.workspacesDir, name);
  return {
    name,
    dir,
    config: join(dir, 'workspace.json'),
    pidfile: join(dir, 'daemon.pid'),
    lock: join(dir, 'lock'),
    state: join(dir, 'state.json'),
    log: join(dir, 'daemon.log'),
    epoch: join(dir, 'epoch'),
    defaultMountpoint: join(layout.mntDir, name),
    demoSource: join(layout.home, 'demo-source'),
  };
}

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
