/**
 * A small ext4 file system of the test's own: an image file below its home, loop-mounted below
 * it. What only a file system nobody else writes to shows for sure: ext4's reserved blocks, and
 * an inode number handed to the next file made (on the shared /tmp, another process's file may
 * take it first). Unmounted in teardown with everything else below the home (reapAll), which
 * frees the loop device (autoclear). Undefined where a loop mount is not allowed here.
 */
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runFile } from '../../src/sys/run.js';

export async function privateExt4(home: string, opts: { sizeMiB?: number; reservedPercent?: number } = {}): Promise<string | undefined> {
  const img = join(home, 'fs.img');
  const dir = join(home, 'fs');
  await mkdir(dir);
  await writeFile(img, '');
  await truncate(img, (opts.sizeMiB ?? 16) * 1024 * 1024);
  const mkfs = await runFile('mkfs.ext4', ['-q', '-m', String(opts.reservedPercent ?? 5), img], 20_000);
  if (mkfs.exitCode !== 0) throw new Error(`mkfs.ext4: ${mkfs.stderr}`);
  const m = await runFile('mount', ['-o', 'loop', img, dir], 10_000);
  if (m.exitCode !== 0) {
    console.warn(`no loop mount here: ${m.stderr.trim()}`);
    return undefined;
  }
  return dir;
}
