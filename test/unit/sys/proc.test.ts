import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ancestorsOf,
  bootId,
  identityOf,
  parseCmdline,
  parseStat,
  probeLiveness,
  readProc,
  sameIdentity,
  scanProcesses,
  verifyIdentity,
  type KillFn,
} from '../../../src/sys/proc.js';
import { reapAll, spawnTracked, waitFor } from '../../helpers/sandbox.js';

const SLEEP = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
const tmpDirs: string[] = [];

afterEach(async () => {
  await reapAll();
  for (const d of tmpDirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('spawn failed');
  return child.pid;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((r) => child.once('exit', r));
}

/** A line of /proc/<pid>/stat with the given comm; fields after it are numbered as in proc(5). */
function statLine(pid: number, comm: string, state: string, ppid: number, start: number): string {
  const tail = Array.from({ length: 52 - 2 }, (_, i) => String(i + 3));
  tail[0] = state;
  tail[1] = String(ppid);
  tail[19] = String(start);
  return `${pid} (${comm}) ${tail.join(' ')}\n`;
}

describe('parsers', () => {
  it.each(['sleep', 'a b', 'x) (y', ') S 9 9 ', '((', 'evil) R 1 2 3', ''])('parseStat copes with comm %j', (comm) => {
    expect(parseStat(statLine(42, comm, 'S', 7, 123456))).toEqual({ state: 'S', ppid: 7, startTime: 123456 });
  });
  it('parseStat rejects garbage', () => {
    expect(parseStat('')).toBeUndefined();
    expect(parseStat('12 (x) S')).toBeUndefined();
  });
  it('parseCmdline splits on NUL exactly', () => {
    expect(parseCmdline('')).toEqual([]);
    expect(parseCmdline('a\0b c\0')).toEqual(['a', 'b c']);
    expect(parseCmdline('a\0\0b\0')).toEqual(['a', '', 'b']);
    expect(parseCmdline('a\0\0')).toEqual(['a', '']);
    expect(parseCmdline('rewritten title')).toEqual(['rewritten title']);
  });
});

describe('readProc on real processes', () => {
  it('returns argv element for element, even with spaces and $(...)', async () => {
    const odd = `odd name $(touch /tmp/pwned) "q" 'r'`;
    const pid = pidOf(spawnTracked(SLEEP, ['30'], { argv0: odd }));
    const info = await waitFor('child exec', async () => {
      const p = await readProc(pid);
      return p?.argv[0] === odd ? p : undefined;
    });
    expect(info.argv).toEqual([odd, '30']);
    expect(info.ppid).toBe(process.pid);
    expect(info.uid).toBe(process.getuid?.());
    expect(['S', 'R']).toContain(info.state);
    expect(info.argvExact).toBeUndefined();
  });

  it('returns a cmdline longer than its first read buffer in full', async () => {
    const long = 'a b\t$(c)'.repeat(3000); // 27 kB: several buffer doublings
    const pid = pidOf(spawnTracked(SLEEP, ['30'], { argv0: long }));
    const info = await waitFor('child exec', async () => {
      const p = await readProc(pid);
      return p?.argv[1] === '30' ? p : undefined;
    });
    expect(info.argv).toEqual([long, '30']);
  });

  it('parses stat when comm holds spaces and parentheses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mountie-proc-'));
    tmpDirs.push(dir);
    const weird = join(dir, 'x) (y z');
    await symlink(SLEEP, weird);
    const pid = pidOf(spawnTracked(weird, ['30']));
    const info = await waitFor('child exec', async () => {
      const p = await readProc(pid);
      return p?.argv[0] === weird ? p : undefined;
    });
    expect(info.ppid).toBe(process.pid);
    expect(info.startTime).toBeGreaterThan(0);
    expect(info.argv).toEqual([weird, '30']);
  });

  it('is undefined for a pid that does not exist', async () => {
    expect(await readProc(2 ** 30)).toBeUndefined();
    expect(await identityOf(2 ** 30)).toBeUndefined();
  });
});

describe('identity', () => {
  it('is stable while the process lives and fails after it exits', async () => {
    const child = spawnTracked(SLEEP, ['30']);
    const pid = pidOf(child);
    const id = await identityOf(pid);
    expect(id).toBeDefined();
    if (!id) return;
    expect(id.bootId).toBe(await bootId());
    const again = await identityOf(pid);
    expect(again && sameIdentity(id, again)).toBe(true);
    expect((await readProc(pid))?.startTime).toBe(id.startTime);
    expect(await verifyIdentity(id)).toBe(true);
    expect(await probeLiveness(pid)).toBe('alive');

    expect(await verifyIdentity({ ...id, startTime: id.startTime + 1 })).toBe(false);
    expect(await verifyIdentity({ ...id, bootId: 'another-boot' })).toBe(false);
    expect(sameIdentity(id, { ...id, pid: pid + 1 })).toBe(false);

    child.kill('SIGKILL');
    await exited(child);
    expect(await verifyIdentity(id)).toBe(false);
    expect(await probeLiveness(pid)).toBe('dead');
    expect(await readProc(pid)).toBeUndefined();
  });

  it('treats a zombie as not alive', async () => {
    // sh forks `sleep 0`, then becomes `sleep 30`, which never waits: the first child stays a zombie.
    const child = spawnTracked('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30']);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    const zpid = await waitFor('zombie pid', () => (/^\d+\n/.test(out) ? Number(out.trim()) : undefined));
    const info = await waitFor('zombie state', async () => {
      const p = await readProc(zpid);
      return p?.state === 'Z' ? p : undefined;
    });
    expect(info.ppid).toBe(pidOf(child));
    expect(info.argv).toEqual([]);
    expect(await probeLiveness(zpid)).toBe('zombie');
    const id = await identityOf(zpid);
    expect(id).toBeDefined();
    if (id) expect(await verifyIdentity(id)).toBe(false);
  });

  it('EPERM means alive-not-ours, never dead; ESRCH means dead', async () => {
    const pid = pidOf(spawnTracked(SLEEP, ['30']));
    const throwing =
      (code: string): KillFn =>
      () => {
        throw Object.assign(new Error(code), { code });
      };
    expect(await probeLiveness(pid, throwing('EPERM'))).toBe('alive-not-ours');
    expect(await probeLiveness(pid, throwing('ESRCH'))).toBe('dead');
    await expect(probeLiveness(pid, throwing('EINVAL'))).rejects.toThrow('EINVAL');
    expect(await probeLiveness(process.pid)).toBe('alive');
  });

  it.each([0, -1, 1.5, NaN])('refuses pid %s (kill would address a group)', async (pid) => {
    await expect(probeLiveness(pid)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    await expect(verifyIdentity({ pid, startTime: 1, bootId: await bootId() })).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
  });

  it('bootId is the kernel boot id, cached', async () => {
    const a = await bootId();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await bootId()).toBe(a);
  });

  it('ancestorsOf walks up to init', async () => {
    const pid = pidOf(spawnTracked(SLEEP, ['30']));
    const chain = await ancestorsOf(pid);
    expect(chain[0]).toBe(process.pid);
    expect(chain[1]).toBe(process.ppid);
    expect(chain.length).toBeLessThanOrEqual(64);
    const top = chain[chain.length - 1];
    expect(top === 1 || (await readProc(top ?? 0))?.ppid === 0).toBe(true);
  });
});

describe('scanProcesses', () => {
  it('sees our children with exact argv, sorted by pid', async () => {
    const arg = 'one arg with spaces';
    const pid = pidOf(spawnTracked(SLEEP, ['30'], { argv0: arg }));
    const found = await waitFor('child in scan', async () => (await scanProcesses()).find((p) => p.pid === pid && p.argv[0] === arg));
    expect(found.argv).toEqual([arg, '30']);
    const all = await scanProcesses();
    expect(all.some((p) => p.pid === process.pid)).toBe(true);
    expect(all.map((p) => p.pid)).toEqual([...all.map((p) => p.pid)].sort((a, b) => a - b));
  });

  it('tolerates processes vanishing mid-scan', async () => {
    for (let round = 0; round < 5; round++) {
      const kids = Array.from({ length: 40 }, () => spawnTracked(SLEEP, ['0']));
      const scan = scanProcesses({ concurrency: 4 });
      await expect(scan).resolves.toBeInstanceOf(Array);
      await Promise.all(kids.map(exited));
    }
  });

  it('falls back to ps without /proc, marking argv inexact', async () => {
    const fake = async () => [{ pid: 7, ppid: 1, name: 'node', cmd: 'node /opt/my dir/mountie mount demo', uid: 1000, startTime: new Date(5000) }];
    const procs = await scanProcesses({ procRoot: '/nonexistent-proc', psList: fake });
    expect(procs).toEqual([
      { pid: 7, ppid: 1, uid: 1000, state: '?', startTime: 5, argv: ['node', '/opt/my', 'dir/mountie', 'mount', 'demo'], argvExact: false },
    ]);
  });

  it('the real ps fallback sees this process', async () => {
    const procs = await scanProcesses({ procRoot: '/nonexistent-proc' });
    const self = procs.find((p) => p.pid === process.pid);
    expect(self?.argvExact).toBe(false);
    expect(self?.argv.length).toBeGreaterThan(0);
  });
});
