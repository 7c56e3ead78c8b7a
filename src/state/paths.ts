import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where mountie keeps its files. With MOUNTIE_HOME set everything lives under it; without,
 * config and state follow XDG ($XDG_STATE_HOME/mountie, default ~/.local/state/mountie) and the
 * default mountpoints live there too; pidfiles always sit beside their workspace's config.
 */
export interface HomeLayout {
  readonly home: string;
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

/** The home as the `mountie` command resolves it: `MOUNTIE_HOME`, else `$XDG_STATE_HOME/mountie`, else `~/.local/state/mountie`. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): HomeLayout {
  // The pidfile's place never depends on XDG_RUNTIME_DIR: a stop from cron or sudo (without it)
  // must find the same files as the shell that started the daemon.
  const home = env.MOUNTIE_HOME
    ? resolve(env.MOUNTIE_HOME)
    : env.XDG_STATE_HOME
      ? join(resolve(env.XDG_STATE_HOME), 'mountie')
      : join(env.HOME || homedir(), '.local', 'state', 'mountie');
  return { home, workspacesDir: join(home, 'workspaces'), mntDir: join(home, 'mnt') };
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
