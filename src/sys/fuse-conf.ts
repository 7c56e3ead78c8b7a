/**
 * `allow_other` is refused by fusermount for anyone but root unless /etc/fuse.conf has a line
 * `user_allow_other`. Checked before anything is written, so the user gets a coded error that
 * says what to change instead of libfuse's words on the daemon's stderr.
 */
import { readFile } from 'node:fs/promises';
import { MountieError } from '../errors.js';

export const FUSE_CONF = '/etc/fuse.conf';

/** Does fuse.conf's text enable user_allow_other (a line of its own, comments aside)? */
export function allowsUserAllowOther(text: string): boolean {
  return text.split('\n').some((line) => line.replace(/#.*/, '').trim() === 'user_allow_other');
}

/** Throws ERR_ALLOW_OTHER_DENIED when allow_other cannot be used by this user. Root always may. */
export async function checkAllowOther(euid: number = process.geteuid?.() ?? 0, path: string = FUSE_CONF): Promise<void> {
  if (euid === 0) return;
  // Missing or unreadable: nothing we can see enables it.
  const text = await readFile(path, 'utf8').catch(() => '');
  if (allowsUserAllowOther(text)) return;
  throw new MountieError('ERR_ALLOW_OTHER_DENIED', `--allow-other needs user_allow_other in ${path} for a user other than root`, {
    data: { path, uid: euid },
    hint: `add a line user_allow_other to ${path} (as root), or mount without --allow-other`,
  });
}
