import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reapAll } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';

/** Issue 9, items 10 and 11: the config is stored only once a first mount succeeded; existing directories keep their mode. */
describe('first mount', () => {
  afterEach(reapAll);

  it('a failed first mount stores no config, so the corrected retry is not a conflict', async () => {
    const { home, src } = await setupWorkspace();
    const cfg = join(home, 'workspaces', 'ws', 'workspace.json');
    // The daemon pauses before mounting longer than the launcher waits: a failed start (exit 4).
    const failed = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--ready-timeout', '500', '--json'], { env: { MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '3000' } });
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(4);
    expect((JSON.parse(failed.stdout) as { error: { code: string } }).error.code).toBe('ERR_START_TIMEOUT');
    await expect(stat(cfg)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await daemonsOf(home, 'ws')).toEqual([]);
    const src2 = join(home, 'src2');
    await mkdir(src2);
    await writeFile(join(src2, 'b.txt'), 'beta\n');
    const retry = await runCli(home, ['mount', 'ws', '--source', src2, '--background', '--json']);
    expect(retry.exitCode, retry.stdout + retry.stderr).toBe(0);
    expect(JSON.parse(await readFile(cfg, 'utf8'))).toMatchObject({ schema: 'mountie.workspace/v1', name: 'ws', source: src2 });
    expect((await stat(cfg)).mode & 0o777).toBe(0o600);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
  }, 60_000);

  it('mounting on an existing 0755 directory, in a 0755 home, leaves both 0755', async () => {
    const { home, src } = await setupWorkspace();
    await chmod(home, 0o755);
    const mp = join(home, 'open-mp');
    await mkdir(mp);
    await chmod(mp, 0o755);
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--at', mp, '--background']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    expect((await stat(mp)).mode & 0o777).toBe(0o755);
    expect((await stat(home)).mode & 0o777).toBe(0o755);
    // What mountie created itself is 0700.
    expect((await stat(join(home, 'workspaces', 'ws'))).mode & 0o777).toBe(0o700);
  }, 60_000);
});
