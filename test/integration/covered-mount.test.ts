/**
 * Finding 5: a daemon unmounts only its own mount. Something mounted over its mountpoint (here a
 * tmpfs, on this test's own mountpoint) is not ours: stop leaves it and its data alone, and says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';
import { mountAt, readMountInfo } from '../../src/sys/mountinfo.js';
import { identityOf } from '../../src/sys/proc.js';

const run = promisify(execFile);
const COVER = 'mountie-test-cover';

describe('a mount stacked over the daemon’s own', () => {
  const covers: string[] = [];
  afterEach(async () => {
    // This test's own tmpfs first (only while it is the top at its path), then the usual reap.
    for (const mp of covers.splice(0)) {
      const top = mountAt(await readMountInfo(), mp);
      if (top?.fstype === 'tmpfs' && top.source === COVER) await run('umount', ['--', mp]).catch(() => undefined);
    }
    await reapAll();
  });

  it('stop leaves a tmpfs mounted over the mountpoint, and its data, alone; the refusal is logged by code and reported', async () => {
    const { home, src, mp } = await setupWorkspace();
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const { pid } = JSON.parse(r.stdout) as { pid: number };
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', COVER, mp]);
    covers.push(mp);
    await writeFile(join(mp, 'canary'), 'still here\n');

    const stop = await runCli(home, ['stop', 'ws', '--json']);
    await waitFor('daemon exit', async () => ((await identityOf(pid)) === undefined || (await daemonsOf(home, 'ws')).length === 0 ? true : undefined), 15_000);

    const top = mountAt(await readMountInfo(), mp);
    expect(top).toMatchObject({ fstype: 'tmpfs', source: COVER });
    expect(await readFile(join(mp, 'canary'), 'utf8')).toBe('still here\n');
    const log = await readFile(join(home, 'workspaces', 'ws', 'daemon.log'), 'utf8');
    expect(log).toContain('"code":"ERR_MOUNT_NOT_OURS"');
    const report = JSON.parse(stop.stdout) as { ok: boolean; workspaces: { mountLeft?: string }[] };
    expect(report.ok).toBe(false);
    expect(report.workspaces[0]?.mountLeft).toBe(mp);
  }, 60_000);
});
