import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { ensureDir } from './dirs.js';
import type { MountPlan } from './plan.js';
import { saveConfig } from './workspace.js';

const DEMO_FILES: Record<string, string> = {
  'README.txt': 'This is the mountie demo workspace.\nEverything you see here is served by a FUSE daemon from the demo source directory.\n',
  'hello.txt': 'hello from mountie\n',
  'notes/todo.md': '# todo\n\n- mount it\n- look around\n- mountie stop demo\n',
};

async function createDemoSource(dir: string): Promise<void> {
  await ensureDir(dir);
  for (const [name, text] of Object.entries(DEMO_FILES)) {
    const file = join(dir, name);
    await mkdir(join(file, '..'), { recursive: true });
    try {
      await writeFile(file, text, { flag: 'wx' });
    } catch (err) {
      // Another mount of demo created it first (or the user did): theirs stays.
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
}

/** Write what a validated plan needs on disk: workspace dir, config, demo source, mountpoint. */
export async function materialize(plan: MountPlan): Promise<void> {
  await ensureDir(plan.paths.dir);
  if (plan.demoSourcePending) await createDemoSource(plan.config.source);
  if (plan.isNew) await saveConfig(plan.paths, plan.config);
  // Never mkdir over our own (possibly hung) mount: the daemon deals with that after its lock.
  if (!plan.ownMountPresent) await ensureDir(plan.config.mountpoint);
}
