/**
 * Live handover of a mount between two processes (issue 21, step 2: the native core;
 * native/src/handover.c, docs/ARCHITECTURE.md "2026-12-08: step 2 for 21"), on our own session,
 * with the stand-in (--handover-listen, --adopt): a client that holds files open, lives in the
 * mount and stats paths sees no error while the mount is handed from process to process, the
 * mount never leaves mountinfo, and a handover that fails before the new process's acknowledgement
 * leaves the old one serving. The old process's extra fd (the workspace lock's) goes with the mount,
 * so its flock is never free; a peer of another user is refused. Root only (the stand-in mounts with
 * mount(2)); skipped without the addon.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { startServe, type ServeDaemon } from '../helpers/serve.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { parseFdInfo } from '../../src/sys/proc-fds.js';

afterEach(reapAll);

const native = loadNative();
const root = process.getuid?.() === 0;
const OWN = { ...process.env, MOUNTIE_SESSION: 'own' };
const CLIENT = new URL('../fixtures/handover-client.mjs', import.meta.url).pathname;

interface ClientSummary {
  ops: number;
  errors: number;
  firstError: string;
  appended: number;
  listings: number;
  maxMs: number;
}

async function setup(): Promise<{ home: string; source: string; mnt: string; inos: Record<string, string> }> {
  const home = await makeHome();
  const source = join(home, 'source');
  const mnt = join(home, 'mnt');
  await mkdir(join(source, 'd'), { recursive: true });
  await mkdir(mnt);
  await writeFile(join(source, 'r'), 'read me\n');
  await writeFile(join(source, 'log'), '');
  await writeFile(join(source, 'd/f'), 'f');
  const inos: Record<string, string> = {};
  for (const p of ['r', 'log', 'd', 'd/f']) inos[p] = String((await stat(join(source, p))).ino);
  return { home, source, mnt, inos };
}

/** The client, started in the mount with its files open. */
async function startClient(mnt: string, inos: Record<string, string>, args: string[] = []): Promise<{ done(): Promise<ClientSummary>; output(): string }> {
  const child = spawnTracked(process.execPath, [CLIENT, `--inos=${JSON.stringify(inos)}`, ...args], { cwd: mnt });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('client STARTED', () => (out.includes('STARTED\n') ? true : undefined));
  return {
    output: () => out,
    async done() {
      child.kill('SIGTERM');
      const line = await waitFor('client DONE', () => out.split('\n').find((l) => l.startsWith('DONE ')), 10_000);
      return JSON.parse(line.slice(5)) as ClientSummary;
    },
  };
}

async function mountIdAt(mnt: string): Promise<number | undefined> {
  return (await readMountInfo()).find((e) => e.mountPoint === mnt)?.mountId;
}

function exited(d: ServeDaemon): Promise<number | null> {
  return waitFor('daemon exit', () => (d.child.exitCode !== null || d.child.signalCode !== null ? d.child.exitCode : undefined), 10_000);
}

function alive(pid: number | undefined): boolean {
  try {
    return pid !== undefined && process.kill(pid, 0);
  } catch {
    return false;
  }
}

/** Starts the adopting stand-in (under `wrap`: another user) and asks the old one (SIGHUP) to hand over: resolves once the new one serves. */
async function handOver(home: string, source: string, mnt: string, old: ServeDaemon, from: string, to: string, extra: string[] = [], wrap: string[] = []): Promise<ServeDaemon> {
  const next = startServe(home, source, mnt, [`--adopt=${from}`, `--handover-listen=${to}`, ...extra], wrap, OWN);
  old.child.kill('SIGHUP');
  return next;
}

/** The old process's next HANDOVER-FAILED line after the `before`-th, parsed. */
async function nextFailure(old: ServeDaemon, before: number): Promise<unknown> {
  const line = await waitFor('HANDOVER-FAILED', () => (old.output().split('HANDOVER-FAILED ').length > before + 1 ? old.output().split('HANDOVER-FAILED ')[before + 1]?.split('\n')[0] : undefined));
  return JSON.parse(line ?? '{}');
}

/** flock(1) -n on `file` from another process: 1 while someone holds it, 0 when free. */
function flockExit(file: string): number | null {
  return spawnSync('flock', ['-n', file, 'true'], { timeout: 5000 }).status;
}

describe.skipIf(!native.ok || !root)('native core: live handover between two processes (our own session)', () => {
  it('10 handovers from process to process: no client error, every append kept, inode numbers unchanged, the mount never leaves mountinfo', async () => {
    const { home, source, mnt, inos } = await setup();
    let daemon = await startServe(home, source, mnt, [`--handover-listen=${join(home, 's0')}`], [], OWN);
    const mountId = await mountIdAt(mnt);
    expect(mountId).toBeDefined();
    const client = await startClient(mnt, inos);
    // The mount watched the whole time: it must never be missing from mountinfo.
    let missing = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        if ((await mountIdAt(mnt)) !== mountId) missing++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const pids = [daemon.child.pid];
    const paused: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const old = daemon;
        daemon = await handOver(home, source, mnt, old, join(home, `s${i}`), join(home, `s${i + 1}`));
        expect(await exited(old), old.output()).toBe(0);
        const handed = old.output().split('\n').find((l) => l.startsWith('HANDED '));
        expect(handed, old.output()).toBeDefined();
        const stats = JSON.parse(handed?.slice(7) ?? '{}') as { fds: number; pausedMs: number; inflight: number };
        paused.push(stats.pausedMs);
        // Its threads ended, and nothing unmounted: the new one serves the same mount.
        expect(old.output()).toContain('THREADS 0');
        expect(old.output()).not.toContain('UNMOUNTED');
        expect(daemon.output()).toMatch(/ADOPTED \{"resend":0/);
        expect(daemon.child.pid).not.toBe(old.child.pid);
        expect(alive(old.child.pid)).toBe(false);
        pids.push(daemon.child.pid);
        expect(await mountIdAt(mnt)).toBe(mountId);
      }
    } finally {
      watching = false;
      await watcher;
    }
    const summary = await client.done();
    expect(summary.errors, summary.firstError).toBe(0);
    expect(summary.ops).toBeGreaterThan(0);
    expect(missing).toBe(0);
    expect(new Set(pids).size).toBe(11);
    // Every line the client appended (through an fd opened under the first process) is in the source, in order.
    const log = await readFile(join(source, 'log'), 'utf8');
    expect(log).toBe(Array.from({ length: summary.appended }, (_, k) => `line ${k}\n`).join(''));
    for (const [p, ino] of Object.entries(inos)) expect(String((await stat(join(mnt, p))).ino), p).toBe(ino);
    // What a client sees (measured, not asserted: timing under load): the longest single operation.
    console.log(`handover: ${summary.ops} client ops, longest ${summary.maxMs.toFixed(1)} ms; paused per handover (ms): ${paused.map((p) => p.toFixed(1)).join(' ')}`);

    // A stop unmounts cleanly and leaves no process.
    expect(await daemon.stop()).toBe(0);
    expect(daemon.output()).toContain('THREADS 0');
    expect(await isMounted(mnt)).toBe(false);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it('nodes past the fd budget (carried as file handles) and a directory listing read across handovers', async () => {
    const { home, source, mnt, inos } = await setup();
    await mkdir(join(source, 'big'));
    for (let k = 0; k < 300; k++) await writeFile(join(source, 'big', `entry-${k}`), '');
    // A budget of 1 fd: every node past the first keeps a file handle, reopened per request.
    let daemon = await startServe(home, source, mnt, ['--fd-budget=1', `--handover-listen=${join(home, 's0')}`], [], OWN);
    const client = await startClient(mnt, inos, ['--dir-entries=300']);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150)); // the listing moves on between handovers
      const old = daemon;
      daemon = await handOver(home, source, mnt, old, join(home, `s${i}`), join(home, `s${i + 1}`), ['--fd-budget=1']);
      expect(await exited(old), old.output()).toBe(0);
    }
    const summary = await client.done();
    expect(summary.errors, summary.firstError).toBe(0);
    expect(summary.listings).toBeGreaterThan(0);
    for (const [p, ino] of Object.entries(inos)) expect(String((await stat(join(mnt, p))).ino), p).toBe(ino);
    expect(await daemon.stop()).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });

  it('a new process that dies before its acknowledgement, or refuses the snapshot: the old one serves on, the client sees no error', async () => {
    const { home, source, mnt, inos } = await setup();
    const old = await startServe(home, source, mnt, [`--handover-listen=${join(home, 's0')}`], [], OWN);
    const client = await startClient(mnt, inos);

    // Killed (SIGKILL) after it received everything, before its acknowledgement.
    await expect(handOver(home, source, mnt, old, join(home, 's0'), join(home, 'x1'), ['--adopt-die-before-ack'])).rejects.toThrow(/KILLED BY SIGKILL|exited/);
    const failed = await waitFor('HANDOVER-FAILED', () => old.output().split('\n').find((l) => l.startsWith('HANDOVER-FAILED ')));
    expect(JSON.parse(failed.slice(16))).toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_HANDOVER_NO_ACK', resend: 0 } });

    // Another mount option than the mount's: refused by the new process, said to the old one.
    const before = old.output().split('HANDOVER-FAILED ').length;
    await expect(handOver(home, source, mnt, old, join(home, 's0'), join(home, 'x2'), ['--ro'])).rejects.toThrow(/ERR_HANDOVER_MISMATCH/);
    const refused = await waitFor('second HANDOVER-FAILED', () => (old.output().split('HANDOVER-FAILED ').length > before ? old.output().split('HANDOVER-FAILED ').at(-1)?.split('\n')[0] : undefined));
    expect(JSON.parse(refused ?? '{}')).toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_HANDOVER_REFUSED' } });

    // Still served by the old process, and it can still hand over.
    expect(alive(old.child.pid)).toBe(true);
    expect(await readFile(join(mnt, 'r'), 'utf8')).toBe('read me\n');
    const next = await handOver(home, source, mnt, old, join(home, 's0'), join(home, 's1'));
    expect(await exited(old), old.output()).toBe(0);
    const summary = await client.done();
    expect(summary.errors, summary.firstError).toBe(0);
    const log = await readFile(join(source, 'log'), 'utf8');
    expect(log).toBe(Array.from({ length: summary.appended }, (_, k) => `line ${k}\n`).join(''));
    expect(await next.stop()).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });

  it("the old process's extra fd (the workspace lock's) goes with the mount: its flock is never free, and the adopter holds it", async () => {
    const { home, source, mnt, inos } = await setup();
    const lock = join(home, 'lock');
    await writeFile(lock, '');
    const lockIno = (await stat(lock)).ino;
    const old = await startServe(home, source, mnt, [`--handover-listen=${join(home, 's0')}`, `--handover-lock=${lock}`], [], OWN);
    const client = await startClient(mnt, inos);
    // The lock tried every 5 ms the whole time (taken and let go at once when free): it must never be free.
    const flock = native.ok ? native.binding.flock : undefined;
    expect(flock, 'the addon has flock').toBeDefined();
    let free = 0;
    let tries = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const fd = openSync(lock, 'r');
        try {
          if (flock?.(fd, 'exclusive', true)) free++;
          tries++;
        } finally {
          closeSync(fd); // lets go of it, if taken
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let last: ServeDaemon | undefined;
    try {
      expect(flockExit(lock)).toBe(1);
      // An adopter whose checkFds refuses them: the old process serves on, and still holds the lock.
      await expect(handOver(home, source, mnt, old, join(home, 's0'), join(home, 'x1'), ['--adopt-refuse-fds', `--handover-lock=${lock}`])).rejects.toThrow(/refused the extra fds/);
      expect(await nextFailure(old, 0)).toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_HANDOVER_NO_ACK' } });
      expect(alive(old.child.pid)).toBe(true);
      expect(flockExit(lock)).toBe(1);

      // Two handovers: old → a → b; each adopter received exactly the lock's fd, its open file description holds the flock.
      let prev = old;
      for (const [i, from, to] of [[0, 's0', 's1'], [1, 's1', 's2']] as const) {
        const next = await handOver(home, source, mnt, prev, join(home, from), join(home, to), [`--handover-lock=${lock}`]);
        last = next;
        expect(await exited(prev), prev.output()).toBe(0);
        const adopted = JSON.parse(next.output().split('ADOPTED ')[1]?.split('\n')[0] ?? '{}') as { fds?: number[]; pid?: number };
        expect(adopted.fds, `handover ${i}: ${next.output()}`).toHaveLength(1);
        const fd = adopted.fds?.[0] ?? -1;
        const info = parseFdInfo(readFileSync(`/proc/${next.child.pid}/fdinfo/${fd}`, 'utf8'));
        expect(info.ino, `handover ${i}: fd ${fd} is the lock file`).toBe(lockIno);
        expect(info.locks.map((l) => [l.kind, l.ino]), `handover ${i}: the flock is on that fd's open file description`).toContainEqual(['FLOCK', lockIno]);
        expect(flockExit(lock), `handover ${i}: held once the old process is gone`).toBe(1);
        prev = next;
      }
    } finally {
      watching = false;
      await watcher;
    }
    const summary = await client.done();
    expect(summary.errors, summary.firstError).toBe(0);
    expect(tries).toBeGreaterThan(0);
    expect(free, `the lock was free in ${free} of ${tries} tries`).toBe(0);
    // Stopped, the last holder lets it go.
    expect(await last?.stop()).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
    expect(flockExit(lock)).toBe(0);
  });

  it('a peer of another user (SO_PEERCRED) is refused before anything is sent: the old process serves on, then hands over to its own user', async () => {
    const { home, source, mnt, inos } = await setup();
    // The socket reachable by uid 65534: the home traversable, the socket's directory root's 0755, the socket 0777.
    await chmod(home, 0o711);
    const dir = join(home, 'sock');
    await mkdir(dir, { mode: 0o755 });
    const sock = join(dir, 's0');
    const old = await startServe(home, source, mnt, [`--handover-listen=${sock}`], [], OWN);
    await chmod(sock, 0o777);
    const client = await startClient(mnt, inos);

    await expect(handOver(home, source, mnt, old, sock, join(dir, 'x1'), [], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'])).rejects.toThrow(/ERR_HANDOVER_RECEIVE/);
    expect(await nextFailure(old, 0)).toMatchObject({ code: 'ERR_HANDOVER', data: { reason: 'ERR_HANDOVER_NO_PEER' } });
    expect(alive(old.child.pid)).toBe(true);
    expect(await readFile(join(mnt, 'r'), 'utf8')).toBe('read me\n');

    const next = await handOver(home, source, mnt, old, sock, join(dir, 's1'));
    expect(await exited(old), old.output()).toBe(0);
    expect(next.output()).toMatch(/ADOPTED \{"resend":0/);
    const summary = await client.done();
    expect(summary.errors, summary.firstError).toBe(0);
    expect(await next.stop()).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
});
