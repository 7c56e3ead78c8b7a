/**
 * Finding 8: the reaper's removal of its directory never reaches through a mount into someone's
 * files. A bind mount that appears below the directory after the reaper checked the mount table
 * (here: made right before the removal's first destructive call) keeps its source untouched.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { access, mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../helpers/sandbox.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';

/** Armed by the test: the bind mount to make just before the next unlink/rmdir/rm. */
const race: { bind?: { source: string; target: string }; done: boolean } = { done: false };

function mountNow(): void {
  if (!race.bind || race.done) return;
  race.done = true;
  execFileSync('mount', ['--bind', race.bind.source, race.bind.target]);
}

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const before = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => (...a: A): Promise<R> => (mountNow(), f(...a));
  return { ...real, default: real, rm: before(real.rm), rmdir: before(real.rmdir), unlink: before(real.unlink) };
});

const { reapUnder } = await import('../../src/testing/reap.js');

describe('reapUnder({ remove: true }) and a mount that appears below', () => {
  const targets: string[] = [];
  afterEach(async () => {
    race.bind = undefined;
    // This test's own bind mount, if the code left it (by its place, below the test's own dirs).
    for (const t of targets.splice(0)) {
      if ((await readMountInfo()).some((e) => e.mountPoint === t)) execFileSync('umount', ['-l', '--', t]);
    }
    await reapAll();
  });

  /** A canary outside the reaped root, and a root with a workspace and an empty mountpoint below it. */
  async function layout(): Promise<{ source: string; root: string; target: string }> {
    const source = join(await makeHome('mountie-reap-src-'), 'precious');
    await mkdir(source);
    await writeFile(join(source, 'canary'), 'keep me\n');
    const root = await realpath(await makeHome('mountie-reap-root-'));
    await mkdir(join(root, 'workspaces', 'ws'), { recursive: true });
    await writeFile(join(root, 'workspaces', 'ws', 'daemon.log'), 'x\n');
    const target = join(root, 'mnt', 'ws');
    await mkdir(target, { recursive: true });
    targets.push(target);
    return { source, root, target };
  }

  it('does not descend into it: the source behind it keeps its files, and the report names what stayed', async () => {
    const { source, root, target } = await layout();
    race.done = false;
    race.bind = { source, target };

    const report = await reapUnder(root, { remove: true });

    expect(race.done).toBe(true);
    expect(await readFile(join(source, 'canary'), 'utf8')).toBe('keep me\n');
    expect(report.removed).toBe(false);
    expect(report.kept).toEqual([target]);
  });

  it('with a bind mount already there and no daemon: removes everything else, never enters the mount, names it', async () => {
    const { source, root, target } = await layout();
    execFileSync('mount', ['--bind', source, target]);

    const report = await reapUnder(root, { remove: true });

    expect(await readFile(join(source, 'canary'), 'utf8')).toBe('keep me\n');
    expect(report).toMatchObject({ removed: false, kept: [target] });
    expect(await access(join(root, 'workspaces')).then(() => 'there', () => 'gone')).toBe('gone');
  });
});
