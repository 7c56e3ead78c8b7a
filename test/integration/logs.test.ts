/** Issue 12, item 1: the structured daemon log, `mountie logs`, the log in `status` and in a failed start. */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CLI, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit } from '../helpers/cli.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';

interface LogsDoc {
  schema: string;
  workspace: string;
  logFile: string;
  files: { path: string; size: number }[];
  entries: { kind: string; level?: string; msg?: string; text?: string; pid?: number }[];
}

const logPath = (home: string): string => join(home, 'workspaces', 'ws', 'daemon.log');

async function cycle(home: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const m = await runCli(home, ['mount', 'ws', ...args, '--background'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  const s = await runCli(home, ['stop', 'ws']);
  expect(s.exitCode, s.stdout).toBe(0);
}

function follow(home: string, args: string[] = []): { child: ChildProcess; out: () => string } {
  const child = spawnTracked(process.execPath, [CLI, 'logs', 'ws', '-f', ...args], { env: { ...process.env, MOUNTIE_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

describe('mountie logs', () => {
  afterEach(reapAll);

  it('renders the daemon log for people; --json is mountie.logs/v1; -n limits; status names the log', async () => {
    const { home, src } = await setupWorkspace();
    await cycle(home, ['--source', src]);
    const text = await runCli(home, ['logs', 'ws']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO \[\d+\] starting workspace ws/m);
    expect(text.stdout).toMatch(/INFO \[\d+\] shutdown complete: exit 0$/);
    expect(text.stdout).not.toMatch(/^\{/m);
    const j = await runCli(home, ['logs', 'ws', '-n', '2', '--json']);
    const doc = JSON.parse(j.stdout) as LogsDoc;
    expect(doc).toMatchObject({ schema: 'mountie.logs/v1', workspace: 'ws', logFile: logPath(home) });
    expect(doc.entries).toHaveLength(2);
    expect(doc.entries[1]).toMatchObject({ kind: 'record', level: 'info', msg: 'shutdown complete: exit 0' });
    const st = await runCli(home, ['status', 'ws']);
    expect(st.stdout).toContain(`log=${logPath(home)}`);
    const sj = JSON.parse((await runCli(home, ['status', 'ws', '--json'])).stdout) as { workspaces: { logFile: string }[] };
    expect(sj.workspaces[0]?.logFile).toBe(logPath(home));
  });

  it('an unknown workspace exits 4; a workspace without a log says so and exits 0', async () => {
    const { home, src } = await setupWorkspace();
    const r = await runCli(home, ['logs', 'nope', '--json']);
    expect(r.exitCode).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ schema: 'mountie.error/v1', error: { code: 'ERR_UNKNOWN_WORKSPACE' } });
    await cycle(home, ['--source', src]);
    await writeFile(logPath(home), '');
    const { rm } = await import('node:fs/promises');
    await rm(logPath(home));
    const none = await runCli(home, ['logs', 'ws']);
    expect(none.exitCode).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/no log yet/);
  });

  it('a rotated log (MOUNTIE_LOG_MAX_BYTES): the daemon keeps daemon.log and daemon.log.1 under the cap; logs reads both in order', async () => {
    const { home, src } = await setupWorkspace();
    const env = { MOUNTIE_LOG_MAX_BYTES: '1500' };
    for (let i = 0; i < 4; i++) await cycle(home, i === 0 ? ['--source', src] : [], env);
    expect((await stat(logPath(home))).size).toBeLessThanOrEqual(1500);
    expect((await stat(logPath(home) + '.1')).size).toBeLessThanOrEqual(1500);
    const doc = JSON.parse((await runCli(home, ['logs', 'ws', '-n', '1000', '--json'])).stdout) as LogsDoc;
    expect(doc.files.map((f) => f.path)).toEqual([logPath(home) + '.1', logPath(home)]);
    const times = doc.entries.filter((e) => e.kind === 'record').map((e) => Date.parse((e as { time?: string }).time ?? ''));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(doc.entries.at(-1)).toMatchObject({ msg: 'shutdown complete: exit 0' });
  }, 60_000);

  it('a corrupt log: old plain lines pass through, garbage is marked, the command still works', async () => {
    const { home, src } = await setupWorkspace();
    await cycle(home, ['--source', src]);
    const good = await readFile(logPath(home), 'utf8');
    await writeFile(logPath(home), '2026-01-01T00:00:00.000Z INFO [5] an old plain line\n{"time":"2026-0\n' + good + '\u0000\u0000\u0000binary\n');
    const text = await runCli(home, ['logs', 'ws']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain('2026-01-01T00:00:00.000Z INFO [5] an old plain line');
    expect(text.stdout).toMatch(/\[unreadable log line, not valid JSON/);
    expect(text.stdout).toMatch(/\[unreadable log line, binary data/);
    expect(text.stdout).toContain('shutdown complete: exit 0');
    const doc = JSON.parse((await runCli(home, ['logs', 'ws', '--json'])).stdout) as LogsDoc;
    expect(doc.entries.map((e) => e.kind)).toContain('corrupt');
  });

  it('-f follows the running daemon across a rotation and ends with exit 0 on SIGINT', async () => {
    const { home, src } = await setupWorkspace();
    const env = { MOUNTIE_LOG_MAX_BYTES: '1500' };
    await cycle(home, ['--source', src], env);
    const f = follow(home);
    await waitFor('the tail', () => (f.out().includes('shutdown complete') ? true : undefined));
    // Each cycle writes ~1 KB: the second rotates under the follower.
    await cycle(home, [], env);
    await cycle(home, [], env);
    await waitFor('lines from after the rotation', () => (f.out().split('shutdown complete: exit 0').length - 1 >= 3 ? true : undefined), 10_000);
    f.child.kill('SIGINT');
    expect(await waitExit(f.child, 10_000)).toEqual({ code: 0, signal: null });
    expect(f.out().split('starting workspace ws').length - 1).toBe(3);
  }, 60_000);

  it('-f ends by itself when the reader of its stdout goes away', async () => {
    const { home, src } = await setupWorkspace();
    await cycle(home, ['--source', src]);
    const f = follow(home, ['--json']);
    await waitFor('the tail', () => (f.out().includes('mountie.logs/v1') ? true : undefined));
    const first = JSON.parse(f.out().split('\n')[0] ?? '') as LogsDoc;
    expect(first.schema).toBe('mountie.logs/v1');
    f.child.stdout?.destroy();
    await appendFile(logPath(home), '{"time":"2026-11-27T00:00:00.000Z","level":"info","pid":1,"msg":"wake the follower"}\n');
    expect((await waitExit(f.child, 10_000)).code).toBe(0);
  });
});

describe('a failed start quotes the log', () => {
  afterEach(reapAll);

  it('a daemon that fails to start: the error carries the log path and its last error line', async () => {
    const { home, src } = await setupWorkspace();
    await cycle(home, ['--source', src]);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(home, 'workspaces', 'ws', 'daemon.pid'));
    const r = await runCli(home, ['mount', 'ws', '--background', '--json']);
    expect(r.exitCode).toBe(4);
    const doc = JSON.parse(r.stdout) as { error: { code: string; data: { logPath: string; lastLogError?: string } } };
    expect(doc.error.data.logPath).toBe(logPath(home));
    expect(doc.error.data.lastLogError).toMatch(/ERROR \[\d+\] startup failed: .*daemon\.pid/);
    const text = await runCli(home, ['mount', 'ws', '--background']);
    expect(text.stderr).toMatch(/last error in the log: .*startup failed/);
  });

  it('a start timeout says what the log holds and leaves the launcher\'s own line in it', async () => {
    const { home, src } = await setupWorkspace();
    const r = await runCli(home, ['mount', 'ws', '--source', src, '--background', '--ready-timeout', '300', '--json'], { env: { MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS: '5000' } });
    expect(r.exitCode).toBe(4);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; data: { logPath: string; logTail: string[] } } };
    expect(doc.error.code).toBe('ERR_START_TIMEOUT');
    expect(doc.error.message).toMatch(/its log holds no error|last error in its log/);
    expect(doc.error.data.logPath).toBe(logPath(home));
    await waitFor('no daemon', async () => ((await daemonsOf(home, 'ws')).length === 0 ? true : undefined));
    const logs = await runCli(home, ['logs', 'ws']);
    expect(logs.stdout).toMatch(/ERROR \[\d+\] launcher: daemon was not ready within 300 ms; it was stopped daemonPid=\d+/);
  });
});
