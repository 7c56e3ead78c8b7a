/**
 * A kind's own ops on the native core (issue 19): served in C's session, answered from the
 * JavaScript thread, and every fault of an author's op ends in one well-formed answer while the
 * daemon keeps serving: a throw, a rejection, a second answer, a wrong type, a positive code, no
 * answer at all (ETIMEDOUT at the deadline). The times utimens sets are the ones asked for (the
 * fuse-native path passed atime as mtime). Fixture: test/fixtures/kinds/faultfs.mjs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { access, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { REPO, makeHome, reapAll, waitFor } from '../helpers/sandbox.js';
import { lockHeld, logOf } from '../helpers/daemons.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';

type Api = typeof import('../../src/index.js');
const api = (await import(join(REPO, 'dist/index.js'))) as Api;
const FIXTURE = join(REPO, 'test/fixtures/kinds/faultfs.mjs');
const { faultfs, FAULTFS } = (await import(FIXTURE)) as { faultfs: import('../../src/index.js').MountieDaemon; FAULTFS: import('../../src/index.js').Kind };
const CALLER = join(REPO, 'test/fixtures/kinds/callerfs.mjs');
const { callerfs, CALLERFS } = (await import(CALLER)) as { callerfs: import('../../src/index.js').MountieDaemon; CALLERFS: import('../../src/index.js').Kind };
const STORE = join(REPO, 'test/fixtures/kinds/storefs.mjs');
const { storefs, STOREFS } = (await import(STORE)) as { storefs: import('../../src/index.js').MountieDaemon; STOREFS: import('../../src/index.js').Kind };
const run = promisify(execFile);
const codeOf = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (err as { code?: string }).code);

async function start(options: Record<string, unknown> = {}): Promise<{ home: string; pid: number; mp: string }> {
  const home = await makeHome();
  const env = { ...process.env, MOUNTIE_OP_DEADLINE_MS: '1000' };
  const s = await api.launch('ws', { daemon: faultfs, home, env, options });
  return { home, pid: s.pid, mp: s.mountpoint };
}

describe("a kind's own ops on the native core", () => {
  afterEach(reapAll);

  it('are served by the native core: no fuse-native, no libfuse 2 in the daemon; state.json says dataPath native', async () => {
    const { home, pid, mp } = await start();
    expect(await readFile(join(mp, 'ok'), 'utf8')).toBe('ok\n');
    const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
    expect(maps).toMatch(/libfuse3\.so/);
    expect(maps).not.toMatch(/libfuse\.so\.2|fuse-native|fuse\.node/);
    // state.json says so once its first write after the mount lands (coalesced, fsynced: later under load).
    const dataPath = await waitFor('state.json to name the data path', async () => (JSON.parse(await readFile(join(home, 'workspaces/ws/state.json'), 'utf8')) as { dataPath?: string }).dataPath, 10_000);
    expect(dataPath).toBe('native');
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
  }, 30_000);

  it('an op that throws, rejects, answers twice, answers a wrong type or a positive code: one answer (EIO, or the first), logged by op; the daemon keeps serving', async () => {
    const { home, pid, mp } = await start();
    expect(await codeOf(stat(join(mp, 'throw')))).toBe('EIO');
    expect(await codeOf(stat(join(mp, 'notastat')))).toBe('EIO');
    expect(await codeOf(stat(join(mp, 'positive')))).toBe('EIO');
    expect(await codeOf(access(join(mp, 'reject')))).toBe('EIO');
    // The first answer stands; the second is dropped.
    expect((await stat(join(mp, 'twice'))).size).toBe(1);
    expect(await readFile(join(mp, 'ok'), 'utf8')).toBe('ok\n');
    expect(api.isMountieError).toBeTypeOf('function');
    const log = await waitFor('the faults logged', async () => {
      const l = await logOf(home, 'ws');
      return l.includes('called back twice') ? l : undefined;
    }, 5000);
    expect(log).toMatch(/op lookup: getattr threw: faultfs: getattr of \/throw throws; answered EIO/);
    expect(log).toMatch(/op lookup: getattr answered no stat; answered EIO/);
    expect(log).toMatch(/op lookup: getattr answered 5 \(errors are negative errno numbers\); answered EIO/);
    expect(log).toMatch(/op access: access rejected: faultfs: access of \/reject rejects; answered EIO/);
    // running (not starting) once state.json says active, which may land late under load.
    const tokens = await waitFor('status to say running', async () => {
      const t = (await api.status('ws', { home, kind: FAULTFS }))[0]?.tokens;
      return t?.[0]?.startsWith('running(') ? t : undefined;
    }, 10_000);
    expect(tokens).toEqual([`running(pid=${pid})`]);
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
  }, 30_000);

  it('an op that never answers gets ETIMEDOUT at its deadline, and the others are served meanwhile', async () => {
    const { home, mp } = await start();
    const hung = codeOf(stat(join(mp, 'hang')));
    expect(await readFile(join(mp, 'ok'), 'utf8')).toBe('ok\n');
    expect(await hung).toBe('ETIMEDOUT');
    const state = await waitFor('the timeout counted', async () => {
      const s = JSON.parse(await readFile(join(home, 'workspaces/ws/state.json'), 'utf8')) as { backend?: { timedOut?: number } };
      return (s.backend?.timedOut ?? 0) >= 1 ? s : undefined;
    }, 5000);
    expect(state.backend?.timedOut).toBeGreaterThanOrEqual(1);
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
  }, 30_000);

  it('utimens gets the times asked for: touch -m sets mtime and leaves atime', async () => {
    const { home, mp } = await start();
    const file = join(mp, 'mtime.txt');
    await run('touch', ['-m', '-d', '2001-02-03T04:05:06.789Z', file]);
    let st = await stat(file);
    expect(st.mtime.toISOString()).toBe('2001-02-03T04:05:06.789Z');
    expect(st.atime.toISOString()).toBe('2020-01-01T00:00:00.000Z');
    await run('touch', ['-a', '-d', '2002-03-04T05:06:07.250Z', file]);
    st = await stat(file);
    expect(st.atime.toISOString()).toBe('2002-03-04T05:06:07.250Z');
    expect(st.mtime.toISOString()).toBe('2001-02-03T04:05:06.789Z');
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
  }, 30_000);

  it('a { fs } file system gets the caller of each request, sizes and inode numbers past 2^53, ns times, and FsError errnos', async () => {
    const home = await makeHome();
    const { mountpoint: mp } = await api.launch('ws', { daemon: callerfs, home });
    // A child process reads: the caller is that process (its pid, our uid/gid).
    const child = execFile('cat', [join(mp, 'whoami')]);
    const out = await new Promise<string>((resolve, reject) => {
      let s = '';
      child.stdout?.on('data', (d: Buffer) => (s += d.toString()));
      child.once('error', reject);
      child.once('close', () => resolve(s));
    });
    const caller = JSON.parse(out.replace(/\0+$/, '')) as { uid: number; gid: number; pid: number; umask: number };
    expect(caller).toMatchObject({ uid: process.getuid?.(), gid: process.getgid?.(), pid: child.pid });
    const big = await stat(join(mp, 'huge'), { bigint: true });
    expect(big.size).toBe(2n ** 60n);
    expect(big.ino).toBe(2n ** 60n + 7n);
    expect(big.mtimeNs).toBe(1_600_000_000_123_456_789n);
    expect(await codeOf(stat(join(mp, 'gone')))).toBe('ENOENT');
    expect(await codeOf(stat(join(mp, 'denied')))).toBe('EACCES');
    expect((await api.stop('ws', { home, kind: CALLERFS })).ok).toBe(true);
  }, 30_000);

  it('the JavaScript thread reads /dev/fuse itself: an idle daemon has no thread waiting in a read(2) of it', async () => {
    const { home, pid, mp } = await start();
    expect(await readFile(join(mp, 'ok'), 'utf8')).toBe('ok\n');
    // Which of the daemon's threads sit in read(2) (x86-64 syscall 0) of a /dev/fuse fd, from /proc.
    const fuseReaders = async (): Promise<string[]> => {
      const found: string[] = [];
      for (const tid of await readdir(`/proc/${pid}/task`)) {
        const [nr, fdHex] = (await readFile(`/proc/${pid}/task/${tid}/syscall`, 'utf8').catch(() => '')).trim().split(' ');
        if (nr !== '0' || fdHex === undefined) continue;
        const target = await readlink(`/proc/${pid}/fd/${Number.parseInt(fdHex, 16)}`).catch(() => '');
        if (target === '/dev/fuse') found.push(tid);
      }
      return found;
    };
    // Idle: the kernel holds no request, so a worker of libfuse's loop would be blocked reading; the
    // JavaScript thread waits in epoll instead (the same answer asked several times, a thread may be on its way).
    for (let i = 0; i < 5; i++) {
      expect(await fuseReaders()).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await readFile(join(mp, 'ok'), 'utf8')).toBe('ok\n');
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
  }, 30_000);

  it('a JavaScript thread blocked in an op: status says degraded with why, and stop still ends the daemon and its mount', async () => {
    const { home, pid, mp } = await start({ busyMs: 20_000 });
    // state.json's 'active' is written after the mount and may land just after READY (ARCHITECTURE.md, "Discovery and stop").
    const st0 = await waitFor('state.json to say active', async () => {
      const [w] = await api.status('ws', { home, kind: FAULTFS });
      return w?.state?.status === 'active' ? w : undefined;
    }, 10_000);
    expect(st0.state?.status).toBe('active');
    void stat(join(mp, 'busy')).catch(() => undefined); // blocks the daemon's JavaScript thread for 20 s
    const st = await waitFor('status to say degraded', async () => {
      const s = await api.status('ws', { home, kind: FAULTFS });
      return s[0]?.state?.status === 'degraded' ? s[0] : undefined;
    }, 10_000);
    expect(st.tokens).toEqual([`running(pid=${pid})`]);
    expect(st.state?.reason).toMatch(/JavaScript thread has left requests untaken/);
    // Requests that come meanwhile are read by the rescue reader and get ETIMEDOUT at their deadline
    // (1 s here; a lookup of a new name may wait for the one before it in the kernel), not when the
    // JavaScript thread is free again 20 s later.
    const t0 = Date.now();
    expect(await codeOf(stat(join(mp, 'new-while-busy')))).toBe('ETIMEDOUT');
    expect(Date.now() - t0).toBeLessThan(8_000);
    const r = await api.stop('ws', { home, kind: FAULTFS });
    expect(r.ok).toBe(true);
    expect((await api.status('ws', { home, kind: FAULTFS }))[0]?.tokens).toEqual(['stopped']);
  }, 40_000);

  it('a daemon that crashes (an exception outside any op) says so: state.json failed with why and its exit code, status failed(exit=1); its mount is taken down; the next start serves again', async () => {
    const home = await makeHome();
    const { pid, mountpoint: mp } = await api.launch('ws', { daemon: faultfs, home, env: { ...process.env, FAULTFS_CRASH_MS: '300' } });
    await waitFor('the daemon to end', () => (readProcStat(pid) && readProcStat(pid)?.state !== 'Z' ? undefined : true), 10_000);
    const [st] = await waitFor('status to say failed', async () => {
      const all = await api.status('ws', { home, kind: FAULTFS });
      return all[0]?.tokens[0]?.startsWith('failed(') ? all : undefined;
    }, 10_000);
    expect(st?.tokens).toEqual(['failed(exit=1)']);
    expect(st?.verdict).toBe('failed');
    expect(st?.state?.reason).toMatch(/^crashed: uncaughtException: faultfs: crash from a timer/);
    expect(st?.mounted).toBe(false);
    expect(await readdir(mp)).toEqual([]);
    expect(await logOf(home, 'ws')).toMatch(/fatal uncaughtException/);
    // A new start clears it.
    const again = await api.launch('ws', { daemon: faultfs, home });
    expect((await api.status('ws', { home, kind: FAULTFS }))[0]?.tokens).toEqual([`running(pid=${again.pid})`]);
    expect((await api.stop('ws', { home, kind: FAULTFS })).ok).toBe(true);
    expect((await api.status('ws', { home, kind: FAULTFS }))[0]?.tokens).toEqual(['stopped']);
  }, 40_000);

  it("ctx.data survives kill -9 mid-write: the next daemon loads a whole document at least as new as the last save that resolved; ctx.dir is the workspace's directory", async () => {
    const home = await makeHome();
    const first = await api.launch('ws', { daemon: storefs, home });
    const readText = async (name: string): Promise<string> => (await readFile(join(first.mountpoint, name), 'utf8')).replace(/\0+$/, '').trim();
    expect(await readText('dir')).toBe(join(home, 'workspaces/ws'));
    expect(await readText('initial')).toBe('null');
    // Saves run back to back: let some resolve, note the last one seen, then kill -9 mid-stream.
    const seen = await waitFor('saves to resolve', async () => {
      const n = Number(await readText('acked'));
      return n >= 20 ? n : undefined;
    }, 15_000);
    process.kill(first.pid, 'SIGKILL');
    await waitFor('the daemon to die', () => (readProcStat(first.pid) && readProcStat(first.pid)?.state !== 'Z' ? undefined : true), 10_000);
    // A zombie leader's other threads (one in an fsync of data.json) may still hold its files, the
    // workspace lock among them, for a moment: the next launch would rightly find the lock held (CI).
    await waitFor('the lock to be let go', async () => ((await lockHeld(home, 'ws')) ? undefined : true), 10_000);
    const second = await api.launch('ws', { daemon: storefs, home });
    const initial = JSON.parse(await (async () => (await readFile(join(second.mountpoint, 'initial'), 'utf8')).replace(/\0+$/, '').trim())()) as { n: number; pad: string };
    expect(initial.n).toBeGreaterThanOrEqual(seen);
    expect(initial.pad).toHaveLength(512);
    expect((await api.stop('ws', { home, kind: STOREFS })).ok).toBe(true);
    // The last document is on disk after a clean stop, as mountie's own state.json is.
    const doc = JSON.parse(await readFile(join(home, 'workspaces/ws/data.json'), 'utf8')) as { schema: string; data: { n: number } };
    expect(doc.schema).toBe('mountie.data/v1');
    expect(doc.data.n).toBeGreaterThan(initial.n);
    // forget keeps the kind's data (and the directory holding it) unless asked to drop it.
    const kept = await api.forget('ws', { home, kind: STOREFS });
    expect(kept.ok).toBe(true);
    expect(kept.kept.map((k) => k.path)).toContain(join(home, 'workspaces/ws/data.json'));
    expect(await readdir(join(home, 'workspaces/ws'))).toEqual(['data.json']);
    const dropped = await api.forget('ws', { home, kind: STOREFS, dropData: true });
    expect(dropped.ok).toBe(true);
    expect(dropped.removed).toContain(join(home, 'workspaces/ws/data.json'));
    expect(await readdir(join(home, 'workspaces'))).toEqual([]);
  }, 60_000);

  it("a kind's mount options reach the kernel: no attribute or name cache at 0 s, reads cut at maxReadBytes; a bad one refuses the start (ERR_INVALID_DEFINITION), nothing left running", async () => {
    const home = await makeHome();
    const env = { ...process.env, CALLERFS_MOUNT: JSON.stringify({ attrTimeoutS: 0, entryTimeoutS: 0, maxReadBytes: 65536 }) };
    const s = await api.launch('ws', { daemon: callerfs, home, env });
    for (let i = 0; i < 10; i++) await stat(join(s.mountpoint, 'huge'));
    await run('dd', [`if=${join(s.mountpoint, 'zeros')}`, 'of=/dev/null', 'bs=1M', 'count=1', 'iflag=direct', 'status=none']);
    const ops = await waitFor('the counters to show the reads', async () => {
      const st = JSON.parse(await readFile(join(home, 'workspaces/ws/state.json'), 'utf8')) as { counters: { ops: Record<string, number> } };
      return (st.counters.ops.read ?? 0) >= 16 ? st.counters.ops : undefined;
    }, 10_000);
    // Each stat asked again (nothing cached), and 1 MiB came in 64 KiB requests.
    expect((ops.lookup ?? 0) + (ops.getattr ?? 0)).toBeGreaterThanOrEqual(10);
    expect(ops.read).toBe(16);
    expect((await api.stop('ws', { home, kind: CALLERFS })).ok).toBe(true);
    const bad = { ...process.env, CALLERFS_MOUNT: JSON.stringify({ maxReadBytes: 100 }) };
    expect(await codeOf(api.launch('ws', { daemon: callerfs, home, env: bad }))).toBe('ERR_INVALID_DEFINITION');
    expect((await api.status('ws', { home, kind: CALLERFS }))[0]?.tokens).toEqual(['stopped']);
  }, 40_000);
});
