import { closeSync, constants, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { ensureDir } from './dirs.js';
import { FILE_MODE } from './paths.js';
import type { MountPlan } from './plan.js';
import { isKindConfig, type AnyConfig } from './workspace.js';

const DEMO_FILES: Record<string, string> = {
  'README.txt': 'This is the mountie demo workspace.\nEverything you see here is served by a FUSE daemon from the demo source directory.\n',
  'hello.txt': 'hello from mountie\n',
  'notes/todo.md': '# todo\n\n- mount it\n- look around\n- mountie stop demo\n',
};

async function createDemoSource(dir: string): Promise<void> {
  await ensureDir(dir);
  for (const [name, text] of Object.entries(DEMO_FILES)) {
    const file = join(dir, name);
    await ensureDir(dirname(file));
    try {
      // 'wx' (O_EXCL) never follows a symlink planted at the name.
      await writeFile(file, text, { flag: 'wx', mode: FILE_MODE });
    } catch (err) {
      // Another mount of demo created it first (or the user did): theirs stays.
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
}

/**
 * Create the daemon log if missing, refusing a symlink (ELOOP from O_NOFOLLOW): the launcher
 * then opens a file we know is a plain file in our own 0700 directory, never a planted link's
 * target (daemon.log → a copy of /etc/passwd got log lines appended).
 */
function touchLog(path: string): void {
  closeSync(openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE));
}

/**
 * Write what a validated plan needs on disk: mountpoint, workspace dir, log, demo source. Not the
 * config: it is stored by the daemon once its first mount succeeded (ARCHITECTURE.md, "Config").
 * The mountpoint comes first: it is the path the user chose, so the likeliest to fail, and a
 * failure there must leave no workspace dir behind.
 */
export async function materialize(plan: MountPlan<AnyConfig>): Promise<void> {
  const home = dirname(dirname(plan.paths.dir));
  // Never mkdir over our own (possibly hung) mount: the daemon deals with that after its lock.
  if (!plan.ownMountPresent) await ensureDir(plan.config.mountpoint);
  await ensureDir(plan.paths.dir, { noSymlinksBelow: home });
  touchLog(plan.paths.log);
  if (plan.demoSourcePending && !isKindConfig(plan.config)) await createDemoSource(plan.config.source);
}
