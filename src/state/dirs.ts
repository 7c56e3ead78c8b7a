import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { DIR_MODE } from './paths.js';

/** More components than any real path has (PATH_MAX 4096 / 2): a bound on the walk. */
const MAX_DEPTH = 2048;

export interface EnsureDirOptions {
  readonly mode?: number;
  /** No component strictly below this directory may be a symlink (the home's own tree). */
  readonly noSymlinksBelow?: string;
}

function refuseSymlink(path: string): MountieError {
  return new MountieError('ERR_SYMLINK_REFUSED', `${path} is a symbolic link; mountie does not create or write its files through symlinks`, {
    data: { path, errno: 'ELOOP' },
    hint: `replace the symlink ${path} by a real directory (or remove it and let mountie create one)`,
  });
}

function notDir(path: string): MountieError {
  return new MountieError('ERR_NOT_DIRECTORY', `${path} exists and is not a directory`, {
    data: { path, errno: 'ENOTDIR' },
    hint: `remove or rename ${path}, or choose another path`,
  });
}

/**
 * mkdir -p that changes nothing it did not create: each missing component is made with `mode`
 * and chmod-ed to it exactly (umask may loosen what mkdir gives); an existing directory keeps its
 * mode. Not fs.mkdir({recursive}): on /proc that loops for ever at 100 % CPU (Node retries the
 * ENOENT mkdir of a path whose parent exists). Returns the directories it created, top first.
 */
export async function ensureDir(dir: string, opts: EnsureDirOptions | number = {}): Promise<string[]> {
  const o: EnsureDirOptions = typeof opts === 'number' ? { mode: opts } : opts;
  const mode = o.mode ?? DIR_MODE;
  const below = o.noSymlinksBelow === undefined ? undefined : resolve(o.noSymlinksBelow);
  const guarded = (p: string): boolean => below !== undefined && p.startsWith(below === '/' ? '/' : below + '/');
  const target = resolve(dir);
  const missing: string[] = [];
  let p = target;
  for (let depth = 0; ; depth++) {
    if (depth > MAX_DEPTH) throw new MountieError('ERR_NAME_TOO_LONG', `${target} has too many components`, { data: { path: target } });
    try {
      const st = await lstat(p);
      if (st.isSymbolicLink()) {
        if (p === target || guarded(p)) throw refuseSymlink(p);
        // A symlink above our tree (e.g. /tmp on some systems) is the user's business; it must lead to a directory.
        if (!(await stat(p)).isDirectory()) throw notDir(p);
      } else if (!st.isDirectory()) throw notDir(p);
      break;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) throw err;
      p = parent;
    }
  }
  const created: string[] = [];
  for (const m of missing.reverse()) {
    try {
      await mkdir(m, { mode });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      // Someone made it meanwhile: theirs, so its mode stays; but it must be a real directory.
      const st = await lstat(m);
      if (st.isSymbolicLink()) throw refuseSymlink(m);
      if (!st.isDirectory()) throw notDir(m);
      continue;
    }
    await chmod(m, mode);
    created.push(m);
  }
  return created;
}
