/**
 * Issue 18, item 1: the container case. `mountie mount ws` is PID 1 of its own pid namespace (a
 * container's entrypoint) and `mountie stop ws` runs inside that namespace (docker exec, nsenter).
 * The daemon is signalled by pid, after the usual proof (marker + its lock file open), never its
 * process group: in a container PID 1 leads the group and the session of everything there.
 *
 * Each test makes a namespace with `unshare --pid --fork --mount-proc --kill-child`: the namespace's
 * PID 1 is the child of unshare (a tracked child, killed in teardown with its group; --kill-child
 * then takes PID 1, and the kernel the rest of the namespace). The FUSE mount is made inside the
 * namespace's own mount namespace (private), so it is read from /proc/<its pid 1>/mountinfo, and
 * it ends with that mount namespace.
 *
 * When PID 1 exits the kernel kills everything in its namespace, the stop that asked included: the
 * daemon waits for every stop in its namespace to have finished (a shared flock on the workspace
 * directory, see docs/ARCHITECTURE.md, "The container case"). The decoy test holds that lock too,
 * from outside, so that the decoys (which die with the namespace) can be checked after the stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, REPO, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { runCli, waitExit, waitForOutput } from '../helpers/cli.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';
import { mkdir, writeFile } from 'node:fs/promises';

const DECOY = join(REPO, 'test/fixtures/ns-decoy.mjs');

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (unshare --pid, nsenter)';
  for (const cmd of ['unshare', 'nsenter', 'flock']) {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    } catch {
      return `${cmd} (util-linux) is missing`;
    }
  }
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return 'unshare --pid --fork --mount-proc is not permitted here';
  }
  return undefined;
}
const skip = missing();
if (skip) console.warn(`container.test.ts skipped: ${skip}`);

/** The children of `pid` as the host numbers them. */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(' ').filter(Boolean).map(Number);
}

/** Its pid in each pid namespace, outermost first (NSpid of /proc/<pid>/status). */
async function nsPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return (/^NSpid:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
}

interface Namespace {
  readonly unshare: ChildProcess;
  /** The host pid of the namespace's PID 1 (the daemon, once its shell exec'd it). */
  readonly init: number;
  readonly enter: readonly string[];
}

const namespaces: Namespace[] = [];

/** Start `sh -c <script>` as PID 1 of a new pid namespace (own /proc, own mount namespace), in a session of its own. */
async function startNamespace(home: string, script: string): Promise<{ ns: Namespace; stdout: Promise<string> }> {
  const unshare = spawnTracked('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'setsid', 'sh', '-c', script], {
    env: { ...process.env, MOUNTIE_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout = waitForOutput(unshare, /mounted p1 at /, 20_000);
  const upid = unshare.pid ?? 0;
  const init = await waitFor('the namespace PID 1', async () => (await childrenOf(upid))[0], 5000);
  const ns = { unshare, init, enter: ['nsenter', '-t', String(init), '-p', '-m', '--'] };
  namespaces.push(ns);
  return { ns, stdout };
}

/** Reap a namespace even when the test failed: kill unshare (--kill-child takes PID 1, the kernel the rest), bounded wait for its PID 1 to be gone. */
async function endNamespace(ns: Namespace): Promise<void> {
  const start = readProcStat(ns.init)?.startTime;
  for (const target of [-(ns.unshare.pid ?? 0), ns.unshare.pid ?? 0]) {
    try {
      if (target !== 0) process.kill(target, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitFor('the namespace PID 1 to be gone', () => (start === undefined || readProcStat(ns.init)?.startTime !== start ? true : undefined), 10_000);
}

interface Decoy {
  readonly name: string;
  readonly pid: number;
  readonly startTime: number;
  readonly report: string;
}

async function decoyReady(name: string, pid: number, report: string): Promise<Decoy> {
  await waitFor(`decoy ${name} ready`, async () => ((await readFile(report, 'utf8').catch(() => '')).includes('ready') ? true : undefined), 10_000);
  const st = readProcStat(pid);
  if (!st) throw new Error(`decoy ${name} (pid ${pid}) is gone`);
  return { name, pid, startTime: st.startTime, report };
}

/** A decoy started inside the namespace through nsenter (its host pid: nsenter's child). */
async function decoyInside(ns: Namespace, name: string, report: string, title: string, openPath?: string): Promise<Decoy> {
  const enter = spawnTracked('nsenter', ['-t', String(ns.init), '-p', '-m', '--', process.execPath, DECOY, report, title, ...(openPath ? [openPath] : [])], { stdio: 'ignore' });
  const pid = await waitFor(`decoy ${name} started`, async () => (await childrenOf(enter.pid ?? 0))[0], 5000);
  return decoyReady(name, pid, report);
}

/** Same process (pid + start time), not stopped, and it caught no signal. */
async function untouched(d: Decoy): Promise<string> {
  const st = readProcStat(d.pid);
  const caught = (await readFile(d.report, 'utf8')).split('\n').filter((l) => l && l !== 'ready');
  if (!st || st.startTime !== d.startTime) return `${d.name}: gone`;
  if (st.state === 'T' || st.state === 't') return `${d.name}: stopped (${st.state})`;
  if (caught.length) return `${d.name}: caught ${caught.join(', ')}`;
  return `${d.name}: untouched`;
}

async function ourMountInside(init: number, mp: string): Promise<boolean> {
  return (await readMountInfo(`/proc/${init}/mountinfo`).catch(() => [])).some((e) => e.mountPoint === mp && e.fstype.startsWith('fuse'));
}

async function setup(): Promise<{ home: string; src: string; mp: string }> {
  const home = await makeHome();
  const src = join(home, 'src');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'alpha\n');
  return { home, src, mp: join(home, 'mnt', 'p1') };
}

describe.skipIf(skip !== undefined)('the container case: the daemon is PID 1 of its pid namespace (issue 18)', () => {
  afterEach(async () => {
    try {
      for (const ns of namespaces.splice(0)) await endNamespace(ns);
    } finally {
      await reapAll();
    }
  });

  it('stop inside the namespace stops PID 1 by its pid, and signals nothing else there (its group, its session, look-alikes)', async () => {
    const { home, src, mp } = await setup();
    const groupReport = join(home, 'decoy-group');
    // The shell is PID 1 and leads session and group 1; the decoy it starts stays in both, then the shell becomes the daemon.
    const { ns, stdout } = await startNamespace(home, `"${process.execPath}" "${DECOY}" "${groupReport}" - & exec "${process.execPath}" "${CLI}" mount p1 --source "${src}"`);
    await stdout;
    // The premise: the daemon is PID 1 there and leads the group and session the decoy is in.
    expect(await nsPids(ns.init)).toEqual([ns.init, 1]);
    expect(readProcStat(ns.init)?.comm).toMatch(/^mountie-daemon/);
    const groupPid = await waitFor('the group decoy', async () => (await childrenOf(ns.init))[0], 5000);
    const group = await decoyReady('same group and session as PID 1', groupPid, groupReport);
    const gs = readProcStat(group.pid);
    const ds = readProcStat(ns.init);
    expect([gs?.pgrp, gs?.sid]).toEqual([ds?.pgrp, ds?.sid]);
    const lookAlike = await decoyInside(ns, 'titled mountie-daemon p1, no lock file', join(home, 'decoy-title'), 'mountie-daemon p1');
    const lockOpen = await decoyInside(ns, 'lock file open, no marker', join(home, 'decoy-lock'), '-', join(home, 'workspaces', 'p1', 'lock'));
    const decoys = [group, lookAlike, lockOpen];

    const status = await runCli(home, ['status', 'p1', '--json'], { wrap: ns.enter });
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { workspaces: { tokens: string[] }[] }).workspaces[0]?.tokens).toEqual(['running(pid=1)']);

    // Keep PID 1 (and so the namespace and its decoys) alive past the stop's exit, as a second stop would.
    const hold = spawnTracked('flock', ['--shared', join(home, 'workspaces', 'p1'), 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await waitForOutput(hold, /held/, 5000);

    const stop = await runCli(home, ['stop', 'p1'], { wrap: ns.enter });
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect(stop.stdout).toContain('p1: pid 1 stopped by SIGTERM');
    expect(await ourMountInside(ns.init, mp)).toBe(false);
    expect(await Promise.all(decoys.map(untouched))).toEqual(decoys.map((d) => `${d.name}: untouched`));
    const after = await runCli(home, ['status', 'p1', '--json'], { wrap: ns.enter });
    expect((JSON.parse(after.stdout) as { workspaces: { tokens: string[] }[] }).workspaces[0]?.tokens).toEqual(['stopped']);

    // Let go: PID 1 exits (0: a clean shutdown), and the kernel ends its namespace.
    process.kill(-(hold.pid ?? 0), 'SIGKILL');
    expect(await waitExit(ns.unshare, 20_000)).toEqual({ code: 0, signal: null });
    expect(existsSync(`/proc/${ns.init}`) && readProcStat(ns.init)?.startTime === ds?.startTime).toBe(false);
    expect((await readMountInfo()).some((e) => e.mountPoint === mp)).toBe(false);
  });

  it('status reports running(pid=1) inside, and stop --all exits 0 though PID 1 ends the namespace (the stop with it) right after', async () => {
    const { home, src, mp } = await setup();
    const { ns, stdout } = await startNamespace(home, `exec "${process.execPath}" "${CLI}" mount p1 --source "${src}"`);
    await stdout;
    expect(await nsPids(ns.init)).toEqual([ns.init, 1]);
    const status = await runCli(home, ['status', '--json'], { wrap: ns.enter });
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { workspaces: { workspace: string; tokens: string[] }[] }).workspaces.map((w) => [w.workspace, w.tokens])).toEqual([['p1', ['running(pid=1)']]]);
    expect(await ourMountInside(ns.init, mp)).toBe(true);

    const stop = await runCli(home, ['stop', '--all', '--json'], { wrap: ns.enter });
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const doc = JSON.parse(stop.stdout) as { ok: boolean; workspaces: { workspace: string; processes: { pid: number; ended: string }[]; mountLeft?: string; ok: boolean }[] };
    expect(doc.ok).toBe(true);
    expect(doc.workspaces.map((w) => [w.workspace, w.processes, w.ok])).toEqual([['p1', [{ pid: 1, ended: 'TERM', inPidfile: true }], true]]);
    expect(await waitExit(ns.unshare, 20_000)).toEqual({ code: 0, signal: null });
    expect((await readMountInfo()).some((e) => e.mountPoint === mp)).toBe(false);
  });

  it('stop from outside signals PID 1 of the namespace by its pid, never the group it leads there', async () => {
    const { home, src } = await setup();
    const groupReport = join(home, 'decoy-group');
    const { ns, stdout } = await startNamespace(home, `"${process.execPath}" "${DECOY}" "${groupReport}" - & exec "${process.execPath}" "${CLI}" mount p1 --source "${src}"`);
    await stdout;
    expect(await nsPids(ns.init)).toEqual([ns.init, 1]);
    const groupPid = await waitFor('the group decoy', async () => (await childrenOf(ns.init))[0], 5000);
    const group = await decoyReady('same group and session as PID 1', groupPid, groupReport);
    // From here the daemon leads its group and session under its host pid: a group signal would reach the decoy.
    expect(readProcStat(group.pid)?.pgrp).toBe(ns.init);

    const stop = await runCli(home, ['stop', 'p1', '--json'], {});
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const doc = JSON.parse(stop.stdout) as { workspaces: { processes: { pid: number; ended: string }[]; swept: number[] }[] };
    expect(doc.workspaces[0]?.processes.map((p) => [p.pid, p.ended])).toEqual([[ns.init, 'TERM']]);
    expect(doc.workspaces[0]?.swept).toEqual([]);
    // The decoy died with the namespace (SIGKILL from the kernel), but caught nothing before: no SIGTERM reached it.
    expect(await waitExit(ns.unshare, 20_000)).toEqual({ code: 0, signal: null });
    expect((await readFile(groupReport, 'utf8')).split('\n').filter(Boolean)).toEqual(['ready']);
  });
});
