import { describe, expect, it } from 'vitest';
import { findDaemons } from '../../../src/launcher/scan.js';
import type { ProcInfo } from '../../../src/sys/proc.js';

const BIN = '/usr/local/bin/mountie';
const daemonArgv = (ws: string): string[] => ['node', BIN, 'mount', ws];

function proc(pid: number, ppid: number, argv: string[], extra: Partial<ProcInfo> = {}): ProcInfo {
  return { pid, ppid, uid: 1000, state: 'S', startTime: pid * 10, argv, ...extra };
}

// init(1) -> shell(100) -> daemon "self"(200) -> stop(300), plus unrelated daemons.
const TABLE: ProcInfo[] = [
  proc(1, 0, ['/sbin/init'], { uid: 0 }),
  proc(100, 1, ['bash']),
  proc(200, 100, daemonArgv('demo')), // an ancestor of the scanner: never reported
  proc(300, 200, ['node', BIN, 'stop', 'demo']), // the scanner itself
  proc(400, 1, daemonArgv('demo')),
  proc(401, 1, daemonArgv('demo'), { state: 'Z' }),
  proc(402, 1, daemonArgv('demo'), { state: 'X' }),
  proc(403, 1, daemonArgv('demo'), { uid: 1001 }),
  proc(404, 1, daemonArgv('demo2')),
  proc(405, 1, [...daemonArgv('demo'), '--background']),
  proc(406, 1, ['node', '/usr/lib/node_modules/npm/bin/npx-cli.js', 'mountie', 'mount', 'demo']),
  proc(407, 406, ['node', '/root/.npm/_npx/abc/node_modules/.bin/mountie', 'mount', 'demo'], { state: 'R' }),
  proc(408, 1, ['node', 'dist/cli/main.js', 'mount', 'demo']),
  proc(409, 1, ['node', 'dist/cli/main.js', 'mount', 'demo']),
  proc(410, 1, ['node', '/opt/mountie/dist/cli/main.js', 'mount', 'other'], { uid: 0 }),
];

const base = {
  scan: async () => TABLE,
  selfPid: 300,
  bootId: async () => 'boot-1',
  isMountieRoot: (root: string) => root === '/opt/mountie',
  cwdOf: async (pid: number) => (pid === 408 ? '/opt/mountie' : pid === 409 ? '/tmp/elsewhere' : undefined),
};

const pids = (ds: ReadonlyArray<{ pid: number }>): number[] => ds.map((d) => d.pid);

describe('findDaemons', () => {
  it('finds every daemon of a workspace, not only one', async () => {
    const found = await findDaemons({ ...base, ws: 'demo', uid: 1000 });
    expect(pids(found)).toEqual([400, 407, 408]);
  });

  it('fills in the DaemonProcess fields', async () => {
    const [d] = await findDaemons({ ...base, ws: 'demo', uid: 1000 });
    expect(d).toEqual({ pid: 400, ppid: 1, uid: 1000, startTime: 4000, bootId: 'boot-1', state: 'S', argv: daemonArgv('demo'), workspace: 'demo' });
  });

  it('without ws, reports daemons of all workspaces with their names', async () => {
    const found = await findDaemons({ ...base, uid: 1000 });
    expect(found.map((d) => [d.pid, d.workspace])).toEqual([
      [400, 'demo'],
      [404, 'demo2'],
      [407, 'demo'],
      [408, 'demo'],
    ]);
  });

  it('excludes the scanner and its ancestors', async () => {
    const found = await findDaemons({ ...base, ws: 'demo', uid: 1000, selfPid: 999 });
    expect(pids(found)).toContain(200);
    expect(pids(await findDaemons({ ...base, ws: 'demo', uid: 1000 }))).not.toContain(200);
  });

  it('excludes zombies, launchers and the npx parent', async () => {
    const found = pids(await findDaemons({ ...base, ws: 'demo', uid: 0 }));
    for (const pid of [401, 402, 405, 406]) expect(found).not.toContain(pid);
  });

  it("does not report other users' daemons, unless the caller is root", async () => {
    expect(pids(await findDaemons({ ...base, ws: 'demo', uid: 1000 }))).not.toContain(403);
    expect(pids(await findDaemons({ ...base, ws: 'demo', uid: 1001 }))).toEqual([403]);
    expect(pids(await findDaemons({ ...base, ws: 'demo', uid: 0 }))).toEqual([400, 403, 407, 408]);
    expect(pids(await findDaemons({ ...base, uid: 0 }))).toContain(410);
  });

  it('judges a relative entry script by the process cwd', async () => {
    const found = pids(await findDaemons({ ...base, ws: 'demo', uid: 1000 }));
    expect(found).toContain(408);
    expect(found).not.toContain(409);
  });

  it('asks for the cwd only of relative-entry candidates', async () => {
    const asked: number[] = [];
    await findDaemons({ ...base, uid: 0, cwdOf: async (pid) => (asked.push(pid), undefined) });
    expect(asked).toEqual([408, 409]);
  });

  it('keeps argvExact: false from the ps fallback', async () => {
    const scan = async (): Promise<ProcInfo[]> => [proc(500, 1, daemonArgv('demo'), { argvExact: false, state: '?' })];
    const [d] = await findDaemons({ ...base, scan, ws: 'demo', uid: 1000 });
    expect(d?.argvExact).toBe(false);
  });

  it('finds nothing in an empty table', async () => {
    expect(await findDaemons({ ...base, scan: async () => [] })).toEqual([]);
  });

  it('uses the real process table by default and never reports itself', async () => {
    const found = await findDaemons({ ws: 'no-such-ws-for-this-test' });
    expect(found).toEqual([]);
    const all = await findDaemons();
    expect(pids(all)).not.toContain(process.pid);
    expect(pids(all)).not.toContain(process.ppid);
  });
});
