/**
 * `mountie doctor` on a broken home: each failure names the command that fixes it, the exit code
 * is 1, and the doctor changed nothing (the stale pidfile and the bad mode are still there).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmod, chown, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';

afterEach(reapAll);

interface Doc {
  schema: string;
  ok: boolean;
  checks: { id: string; status: string; summary: string; fix?: string }[];
}

async function plantStalePidfile(home: string): Promise<string> {
  const dir = join(home, 'workspaces', 'ws');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pidfile = join(dir, 'daemon.pid');
  await writeFile(pidfile, '{"schema":"mountie.pid/v1","pid":999999,"startTime":1,"bootId":"b","instanceId":"i","epoch":1,"workspace":"ws"}\n', { mode: 0o600 });
  return pidfile;
}

describe('mountie doctor', () => {
  it('a 0777 home with a planted stale pidfile: exit 1, chmod 0700 and mountie stop ws named, nothing changed', async () => {
    const home = await makeHome();
    const pidfile = await plantStalePidfile(home);
    await chmod(home, 0o777);
    const before = await readFile(pidfile, 'utf8');
    const r = await runCli(home, ['doctor', '--json']);
    expect(r.exitCode, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.schema).toBe('mountie.doctor/v1');
    expect(doc.ok).toBe(false);
    const byId = new Map(doc.checks.map((c) => [c.id, c]));
    expect(byId.get('home-mode')).toMatchObject({ status: 'fail', fix: `chmod 0700 ${home}` });
    expect(byId.get('leftovers:ws')).toMatchObject({ status: 'fail', fix: `MOUNTIE_HOME=${home} mountie stop ws` });
    expect(byId.get('leftovers:ws')?.summary).toContain('stale-pidfile(pid=999999)');
    // Doctor never changes anything.
    expect(((await lstat(home)).mode & 0o777).toString(8)).toBe('777');
    expect(await readFile(pidfile, 'utf8')).toBe(before);
    // The text form says the same, fix lines included.
    const text = await runCli(home, ['doctor']);
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toMatch(/^FAIL {2}home-mode .*\n {6}fix: chmod 0700 /m);
    expect(text.stdout).toContain(`fix: MOUNTIE_HOME=${home} mountie stop ws`);
  });

  it('a home owned by another user: exit 1 and the chown that fixes it (other commands refuse it or not, doctor reports)', async () => {
    const home = await makeHome();
    await chmod(home, 0o700);
    await chown(home, 65534, 65534);
    const r = await runCli(home, ['doctor', '--json']);
    expect(r.exitCode, r.stderr).toBe(1);
    const owner = (JSON.parse(r.stdout) as Doc).checks.find((c) => c.id === 'home-owner');
    expect(owner).toMatchObject({ status: 'fail', fix: `chown -R ${process.getuid?.()} ${home}` });
    expect((await lstat(home)).uid).toBe(65534);
  });

  it('a clean home on this machine: exit 0 (warnings allowed)', async () => {
    const home = await makeHome();
    await chmod(home, 0o700);
    const r = await runCli(home, ['doctor', '--json']);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.exitCode).toBe(0);
  });
});
