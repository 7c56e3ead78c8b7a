import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { MountieError, errnoCode } from '../errors.js';
import type { HomeLayout } from '../state/paths.js';
import { fromSystemError } from '../sys/errno-error.js';

/**
 * Before any command: a home (or its workspaces dir) this user cannot read is an error of its
 * own, not "no workspaces" (a non-root user pointed at root's 0700 home got exit 0 and an empty
 * list). A home that does not exist yet is fine: `mount` creates it.
 */
export async function checkHomeAccess(layout: HomeLayout): Promise<void> {
  for (const dir of [layout.home, layout.workspacesDir]) {
    try {
      if (!(await stat(dir)).isDirectory()) {
        throw new MountieError('ERR_NOT_DIRECTORY', `mountie home ${dir} is not a directory`, {
          data: { path: dir },
          hint: 'remove or rename that file, or set MOUNTIE_HOME to a directory',
        });
      }
      await access(dir, constants.R_OK | constants.X_OK);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      const e = fromSystemError(err, { path: dir });
      if (e instanceof MountieError && e.code === 'ERR_PERMISSION_DENIED') {
        throw new MountieError('ERR_PERMISSION_DENIED', `mountie home ${dir} is not readable by this user (uid ${process.getuid?.() ?? '?'})`, {
          data: { path: dir, errno: errnoCode(err) },
          hint: 'run as the user who owns it, or set MOUNTIE_HOME to a home of your own',
          cause: err,
        });
      }
      throw e;
    }
  }
}
