/**
 * `rm -r` that never leaves the mount it starts on. A check of the mount table before a plain
 * recursive removal leaves a window: a mount that appears below afterwards (a bind mount of
 * someone's directory) would be walked and its source emptied. Here every directory is opened
 * (O_DIRECTORY|O_NOFOLLOW) and worked on through its fd (`/proc/self/fd/<fd>/<name>`), and entered
 * only when that fd's mount (`mnt_id` in /proc/self/fdinfo) is the root's: a directory opened
 * before a mount appeared on it is the one underneath (an fd never follows a later mount), one
 * opened after shows the other mount's id. Mountpoints known from the table at the start are not
 * even looked at (a wedged FUSE mount would hang the lstat). What stays is named.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export interface RemoveTreeResult {
  /** The root itself is gone. */
  readonly removed: boolean;
  /** What was left: mountpoints (or directories on another mount) below the root, and anything that could not be removed. */
  readonly kept: readonly string[];
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

async function mountIdOf(dir: FileHandle): Promise<number | undefined> {
  const text = await readFile(`/proc/self/fdinfo/${dir.fd}`, 'utf8').catch(() => '');
  const m = /^mnt_id:\s*(\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

const ok = (p: Promise<unknown>): Promise<boolean> => p.then(() => true, () => false);

/** Empty the directory open as `dir` (shown as `path`) without leaving mount `mnt`; true when it is empty. */
async function emptyDir(dir: FileHandle, path: string, mnt: number, skip: ReadonlySet<string>, kept: string[]): Promise<boolean> {
  const at = `/proc/self/fd/${dir.fd}`;
  const names = await readdir(at).catch(() => undefined);
  if (names === undefined) return false;
  let empty = true;
  const keep = (p: string): void => {
    kept.push(p);
    empty = false;
  };
  for (const name of names) {
    const shown = join(path, name);
    const via = `${at}/${name}`;
    if (skip.has(shown)) {
      keep(shown);
      continue;
    }
    const st = await lstat(via).catch(() => undefined);
    if (!st) continue; // Gone meanwhile.
    if (!st.isDirectory()) {
      if (!(await ok(unlink(via)))) keep(shown);
      continue;
    }
    const sub = await open(via, DIR_FLAGS).catch(() => undefined);
    if (!sub) {
      keep(shown);
      continue;
    }
    let inner: boolean;
    try {
      if ((await mountIdOf(sub)) !== mnt) {
        keep(shown);
        continue;
      }
      inner = await emptyDir(sub, shown, mnt, skip, kept);
    } finally {
      await sub.close();
    }
    // Through the parent's fd; a mount that appeared on it since makes this EBUSY, and it stays.
    if (!inner) empty = false;
    else if (!(await ok(rmdir(via)))) keep(shown);
  }
  return empty;
}

/** Remove `root` (canonical) and everything below it on its own mount; `skip`: mountpoints known now. */
export async function removeTree(root: string, skip: ReadonlySet<string> = new Set()): Promise<RemoveTreeResult> {
  const kept: string[] = [];
  const dir = await open(root, DIR_FLAGS).catch(() => undefined);
  if (!dir) return { removed: false, kept: [root] };
  let empty: boolean;
  try {
    const mnt = await mountIdOf(dir);
    // Without a mount id nothing below can be proven to be on the root's mount: nothing is entered.
    empty = mnt !== undefined && (await emptyDir(dir, root, mnt, skip, kept));
  } finally {
    await dir.close();
  }
  const removed = empty && (await ok(rmdir(root)));
  if (!removed && kept.length === 0) kept.push(root);
  return { removed, kept };
}
