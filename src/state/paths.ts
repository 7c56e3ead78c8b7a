import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where mountie keeps its files. With MOUNTIE_HOME set everything lives under it; without,
 * config and state follow XDG ($XDG_STATE_HOME/mountie, default ~/.local/state/mountie) and the
 * default mountpoints live there too.
 */
export interface HomeLayout {
  readonly home: string;
  readonly workspacesDir: string;
  readonly mntDir: string;
  /** Where pidfiles live: the workspace dir, or $XDG_RUNTIME_DIR/mountie without MOUNTIE_HOME. */
  readonly runtimeDir: string;
}

export interface WorkspacePaths {
  readonly name: string;
  readonly dir: string;
  readonly config: string;
  /** Directory holding the pidfile (same as `dir` unless XDG_RUNTIME_DIR applies). */
  readonly runDir: string;
  readonly pidfile: string;
  readonly state: string;
  readonly log: string;
  readonly epoch: string;
  readonly defaultMountpoint: string;
  readonly demoSource: string;
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env): HomeLayout {
  let home: string;
  let runtimeDir: string | undefined;
  if (env.MOUNTIE_HOME) home = resolve(env.MOUNTIE_HOME);
  else {
    home = env.XDG_STATE_HOME ? join(resolve(env.XDG_STATE_HOME), 'mountie') : join(env.HOME || homedir(), '.local', 'state', 'mountie');
    if (env.XDG_RUNTIME_DIR) runtimeDir = join(resolve(env.XDG_RUNTIME_DIR), 'mountie', 'workspaces');
  }
  const workspacesDir = join(home, 'workspaces');
  return { home, workspacesDir, mntDir: join(home, 'mnt'), runtimeDir: runtimeDir ?? workspacesDir };
}

export function workspacePaths(layout: HomeLayout, name: string): WorkspacePaths {
  const dir = join(layout.workspacesDir, name);
  return {
    name,
    dir,
    config: join(dir, 'workspace.json'),
    runDir: join(layout.runtimeDir, name),
    pidfile: join(layout.runtimeDir, name, 'daemon.pid'),
    state: join(dir, 'state.json'),
    log: join(dir, 'daemon.log'),
    epoch: join(dir, 'epoch'),
    defaultMountpoint: join(layout.mntDir, name),
    demoSource: join(layout.home, 'demo-source'),
  };
}

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
