/**
 * A wedged daemon, end to end on a real FUSE mount: its JS thread never answers again, readers
 * are stuck in the kernel on its mount, and `mountie stop` must still end it, free the readers
 * with an error and remove the mount. The faults come from src/daemon/test-faults.ts.
 *
 * The wedges are in a daemon of its own kind whose ops are JavaScript (test/fixtures/kinds/
 * mirrorfs.mjs, a read-only mirror of a directory, driven by its command mirrorfs-cli.mjs on the
 * public launcher API): every request waits for its JS thread, so every fault there leaves
 * requests unanswered (its per-op deadline is set past the test's length). mountie's passthrough
 * answers requests in C without the JS thread, so a spinning JS thread wedges no reader there (the
 * test so named shows it); what can still wedge it is a source that never answers
 * (slow-backend.test.ts, deadline.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeHome, reapAll, REPO, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { execa } from 'execa';
import { runCli, waitExit, type CliResult } from '../helpers/cli.js';
import { daemonsOf, logOf, pidfileOf } from '../helpers/daemons.js';
import { collect, procState, processesUsing, runBounded, threadStates, wchanOf } from '../helpers/stuck.js';
import { readMountInfo, type MountEntry } from '../../src/sys/mountinfo.js';
import { privateMountNamespace } from '../helpers/mount-ns.js';
import { runFile } from '../../src/sys/run.js';

const FUSECTL = '/sys/fs/fuse/connections';
const FILES = 6;

interface StopDoc {
  ok: boolean;
  workspaces: { processes: { pid: number; ended: string }[]; cleaned: { mount: boolean; aborted: boolean }; survivors: number[]; notes: string[]; ok: boolean }[];
}

/** Ops in JavaScript (the mirrorfs kind), or mountie's passthrough (answered in C). */
type Served = 'ops' | 'passthrough';
const MIRRORFS_CLI = join(REPO, 'test/fixtures/kinds/mirrorfs-cli.mjs');
const MIRRORFS_MARKER = 'mirrorfs-daemon';
/** No request is answered ETIMEDOUT while a test runs: the wedge holds until stop ends it. */
const NO_DEADLINE_IN_TEST = { MOUNTIE_OP_DEADLINE_MS: '600000' };

/** mirrorfs's command, as runCli runs mountie's. */
async function runMirror(home: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; wrap?: readonly string[] } = {}): Promise<CliResult> {
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const r = await execa(cmd as string, [...pre, MIRRORFS_CLI, ...args], { env: { ...process.env, MOUNTIE_HOME: home, ...opts.env }, reject: false, timeout: opts.timeoutMs ?? 30_000, stdin: 'ignore' });
  if (r.timedOut) throw new Error(`mirrorfs ${args.join(' ')} timed out\n${r.stderr}`);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** `stop ws --grace <ms> --json` through the command that serves `served`. */
function stopWs(home: string, served: Served, graceMs: number, wrap: readonly string[] = []): Promise<CliResult> {
  const args = ['stop', 'ws', '--grace', String(graceMs), '--json'];
  return served === 'ops' ? runMirror(home, args, { timeoutMs: 20_000, wrap }) : runCli(home, args, { timeoutMs: 20_000, wrap });
}

async function setup(fault: string, served: Served = 'ops', wrap: readonly string[] = []): Promise<{ home: string; mp: string; pid: number }> {
  const home = await makeHome('mountie-wedged-');
  const src = join(home, 'src');
  await mkdir(src);
  // Never read before the wedge, so every read below must ask the daemon (no page cache).
  for (let i = 0; i < FILES; i++) await writeFile(join(src, `f${i}`), randomBytes(256 * 1024));
  const env = { MOUNTIE_TEST_FAULT: fault, ...NO_DEADLINE_IN_TEST };
  const r = served === 'ops' ? await runMirror(home, ['mount', 'ws', '--source', src, '--json'], { env, wrap }) : await runCli(home, ['mount', 'ws', '--source', src, '--background', '--json'], { env, wrap });
  expect(r.exitCode, r.stderr).toBe(0);
  const { pid, mountpoint } = JSON.parse(r.stdout) as { pid: number; mountpoint: string };
  await waitFor('fault armed', async () => ((await logOf(home, 'ws')).includes('on SIGUSR2') ? true : undefined));
  return { home, mp: mountpoint, pid };
}

interface Reader {
  readonly child: ChildProcess;
  readonly what: string;
  readonly stderr: () => string;
}

function track(child: ChildProcess, what: string): Reader {
  return { child, what, stderr: collect(child).stderr };
}

/**
 * A reader that opens its file now (while the daemon still answers) and reads it only when told
 * (a line on stdin): the read then waits in the kernel for a page the daemon never fills, in
 * state D. /bin/sh, not bash: Node's stdin pipe is a socket, and bash on a socket stdin takes
 * itself for a remote shell and sources ~/.bashrc (here pyenv's rehash, which waits on a lock
 * other shells hold: the open came seconds late under a parallel suite).
 */
function openedReader(home: string, file: string, wrap: readonly string[] = []): Reader {
  const [cmd, ...pre] = [...wrap, '/bin/sh'];
  const child = spawnTracked(cmd as string, [...pre, '-c', 'exec 3<"$1" && read -r _ && exec cat <&3', 'reader', file], {
    env: { ...process.env, MOUNTIE_HOME: home },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return track(child, `read of already open ${file}`);
}

/** A reader that looks a name up after the wedge: it waits for the daemon's LOOKUP answer. */
function lookupReader(home: string, cmd: string, args: string[], wrap: readonly string[] = []): Reader {
  const [run, ...pre] = [...wrap, cmd];
  const child = spawnTracked(run as string, [...pre, ...args], { env: { ...process.env, MOUNTIE_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  return track(child, `${cmd} ${args.join(' ')}`);
}

/**
 * Blocked in the kernel on the wedged daemon: in D (a read waiting for a page the daemon must fill,
 * a lookup waiting for the inode lock), or in S inside request_wait_answer (a request such as the
 * GETATTR a read sends first once the 1 s attribute cache expired, which waits interruptibly until
 * the kernel knows the daemon ignores interrupts). Which one depends on timing, not on the wedge.
 */
async function blockedOnMount(pid: number): Promise<boolean> {
  const state = await procState(pid);
  return state === 'D' || (state === 'S' && (await wchanOf(pid)) === 'request_wait_answer');
}

async function describeReaders(readers: readonly Reader[]): Promise<string> {
  const lines = await Promise.all(readers.map(async (r) => `${r.what}: pid ${r.child.pid} state ${await procState(r.child.pid ?? 0)} in ${await wchanOf(r.child.pid ?? 0)}`));
  return lines.join('\n');
}

/** Wait (bounded) until every reader holds its file open; a timeout says what each reader and the daemon did. */
async function waitOpened(home: string, mp: string, readers: readonly Reader[]): Promise<void> {
  await waitFor('files opened', async () => ((await processesUsing(mp)).length >= readers.length ? true : undefined)).catch(async (err: unknown) => {
    const using = JSON.stringify(await processesUsing(mp));
    const kids = await Promise.all(readers.map(async (r) => {
      const out: string[] = [];
      for (const name of await readdir('/proc')) {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (/^\d+$/.test(name) && Number(fields[1]) === r.child.pid) out.push(`${name} ${stat.slice(0, stat.lastIndexOf(')') + 1)} ${fields[0]} ${await wchanOf(Number(name))} ${(await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')}`);
      }
      return `${r.child.pid}: ${out.join('; ')}`;
    }));
    throw new Error(`files not opened; using ${mp}: ${using}\nchildren: ${kids.join(' | ')}\n${await describeReaders(readers)}\nreaders' stderr: ${readers.map((r) => r.stderr()).join(' | ')}\nlog:\n${await logOf(home, 'ws')}`, { cause: err });
  });
}

/** Every reader ended with an error (the mount went away under it), none hangs. */
async function expectReadersFailed(readers: readonly Reader[]): Promise<void> {
  for (const r of readers) {
    const end = await waitExit(r.child, 10_000).catch(async (err: unknown) => {
      throw new Error(`${r.what} still stuck after stop: ${await describeReaders([r])}`, { cause: err });
    });
    expect(end.code, `${r.what}: ${r.stderr()}`).not.toBe(0);
    expect(end.code, `${r.what} was killed (${end.signal}) instead of getting an error`).not.toBeNull();
    expect(r.stderr(), r.what).toMatch(/Transport endpoint is not connected|Software caused connection abort/);
  }
}

/** Nothing is left on the mount: no daemon, no task in D, no process using it, no mount. */
async function expectNothingLeft(home: string, mp: string, pid: number, mountinfo: () => Promise<MountEntry[]> = readMountInfo, served: Served = 'ops'): Promise<void> {
  expect(await daemonsOf(home, 'ws', served === 'ops' ? MIRRORFS_MARKER : undefined)).toEqual([]);
  expect([...(await threadStates(pid)).values()].filter((s) => s !== 'Z')).toEqual([]);
  expect(await processesUsing(mp)).toEqual([]);
  expect((await mountinfo()).filter((e) => e.mountPoint === mp)).toEqual([]);
  expect(await pidfileOf(home, 'ws')).toBeUndefined();
}

async function fusectlMounted(mountinfo: () => Promise<MountEntry[]> = readMountInfo): Promise<boolean> {
  return (await mountinfo()).some((e) => e.mountPoint === FUSECTL && e.fstype === 'fusectl');
}

/** A daemon one of whose pool threads waits on its own mount (the JS thread spins), with `n` readers holding files open there. */
async function poolThreadOnOwnMount(n: number): Promise<{ home: string; mp: string; pid: number; readers: ReturnType<typeof openedReader>[] }> {
  const { home, mp, pid } = await setup('pool-touch-on-usr2');
  const readers = Array.from({ length: n }, (_, i) => openedReader(home, join(mp, `f${i}`)));
  await waitOpened(home, mp, readers);
  process.kill(pid, 'SIGUSR2');
  // Not the main thread (it spins, R): one of libuv's pool threads waits for our own answer.
  await waitFor('a pool thread waiting on our own mount', async () => {
    for (const tid of (await threadStates(pid)).keys()) if (tid !== pid && (await wchanOf(tid)) === 'request_wait_answer') return true;
    return undefined;
  }, 5000);
  // ...and its request read by the daemon: the JavaScript thread, its reader, spins, so the rescue
  // reader reads it after 100 ms and queues it; untaken for 1 s, the watchdog names itself
  // mountie-stall. Only a request read (sent, in the kernel's terms) holds its caller past a SIGKILL.
  await waitFor('the request read by the rescue reader (the stall named)', async () => {
    for (const tid of (await threadStates(pid)).keys()) {
      const comm = await readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8').catch(() => '');
      if (comm.trim() === 'mountie-stall') return true;
    }
    return undefined;
  }, 5000);
  return { home, mp, pid, readers };
}

describe('a wedged daemon', () => {
  afterEach(reapAll);

  it('JS thread spinning forever: stop escalates to SIGKILL, readers stuck in D get an error, the mount goes', async () => {
    const { home, mp, pid } = await setup('wedge-on-usr2');
    const opened = Array.from({ length: 3 }, (_, i) => openedReader(home, join(mp, `f${i}`)));
    await waitOpened(home, mp, opened);
    process.kill(pid, 'SIGUSR2');
    await waitFor('daemon spinning', async () => ((await logOf(home, 'ws')).includes('SIGUSR2 received') ? true : undefined));
    for (const r of opened) r.child.stdin?.write('go\n');
    const readers = [...opened, lookupReader(home, 'stat', [join(mp, 'f4')]), lookupReader(home, 'ls', ['-l', mp])];
    // The reads wait for pages only the daemon can fill (uninterruptible sleep), or, when the
    // attribute cache expired meanwhile, for the GETATTR before the read (see blockedOnMount).
    await waitFor('readers blocked on the mount', async () => ((await Promise.all(opened.map((r) => blockedOnMount(r.child.pid ?? 0)))).every(Boolean) ? true : undefined), 5000).catch(
      async (err: unknown) => {
        throw new Error(`readers not stuck:\n${await describeReaders(readers)}`, { cause: err });
      },
    );
    expect(await procState(pid)).toBe('R'); // the JS thread spins in user space
    const using = (await processesUsing(mp)).map((p) => p.pid);
    for (const r of opened) expect(using).toContain(r.child.pid);

    const stop = await stopWs(home, 'ops', 1000);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const ws = (JSON.parse(stop.stdout) as StopDoc).workspaces[0];
    expect(ws?.processes).toEqual([expect.objectContaining({ pid, ended: 'KILL' })]);
    expect(ws?.survivors).toEqual([]);
    await expectReadersFailed(readers);
    await expectNothingLeft(home, mp, pid);
  });

  it('JS thread deadlocked on its own mount (D, immune to SIGKILL): stop aborts the connection, then the kill lands', async () => {
    const { home, mp, pid } = await setup('self-touch-on-usr2');
    const readers = await wedgeOnSelf(home, mp, pid);

    const stop = await stopWs(home, 'ops', 500);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expectAbortedAfterKill(JSON.parse(stop.stdout) as StopDoc, pid);
    await expectReadersFailed(readers);
    await expectNothingLeft(home, mp, pid);
  });

  it('a pool thread stuck on its own mount outlives the SIGKILLed leader: stop does not take the zombie for dead', async () => {
    const { home, mp, pid, readers } = await poolThreadOnOwnMount(2);
    for (const r of readers) r.child.stdin?.write('go\n');
    await waitFor('readers blocked on the mount', async () => ((await Promise.all(readers.map((r) => blockedOnMount(r.child.pid ?? 0)))).every(Boolean) ? true : undefined), 5000);

    const stop = await stopWs(home, 'ops', 500);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const doc = JSON.parse(stop.stdout) as StopDoc;
    const ws = doc.workspaces[0];
    expect(doc.ok, JSON.stringify(doc)).toBe(true);
    expect(ws?.processes).toEqual([expect.objectContaining({ pid, ended: 'KILL' })]);
    expect(ws?.notes.join('\n')).toContain(`processes ${pid} exited but kept a thread stuck in the kernel`);
    expect(ws?.cleaned.aborted).toBe(true);
    await expectReadersFailed(readers);
    await expectNothingLeft(home, mp, pid);
  });

  it('a zombie leader whose stuck thread holds the mount is a leftover in status (exit 1), and stop aborts it (issue 9, item 13)', async () => {
    const { home, mp, pid, readers } = await poolThreadOnOwnMount(1);
    process.kill(pid, 'SIGKILL');
    await waitFor('a zombie leader', async () => ((await procState(pid)) === 'Z' ? true : undefined), 5000);
    const st = await runMirror(home, ['status', 'ws', '--json']);
    expect(st.exitCode, st.stdout).toBe(1);
    expect((JSON.parse(st.stdout) as { workspaces: { tokens: string[] }[] }).workspaces[0]?.tokens).toEqual([`orphan(pid=${pid})`]);
    const stop = await stopWs(home, 'ops', 500);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expect((JSON.parse(stop.stdout) as StopDoc).workspaces[0]?.cleaned.aborted).toBe(true);
    for (const r of readers) r.child.stdin?.write('go\n');
    await expectNothingLeft(home, mp, pid);
  });

  it("mountie's passthrough: a JS thread spinning forever wedges no reader (C answers); stop escalates to SIGKILL and cleans the mount", async () => {
    const { home, mp, pid } = await setup('wedge-on-usr2', 'passthrough');
    process.kill(pid, 'SIGUSR2');
    await waitFor('daemon spinning', async () => ((await logOf(home, 'ws')).includes('SIGUSR2 received') ? true : undefined));
    // Never read before: each of these asks the daemon (lookup, open, read, readdir), and libfuse 3 workers answer.
    const src = join(home, 'src');
    for (const [cmd, args] of [['cmp', [join(mp, 'f0'), join(src, 'f0')]], ['stat', [join(mp, 'f4')]], ['ls', ['-l', mp]]] as const) {
      const r = await runBounded(cmd, args, { timeoutMs: 10_000 });
      expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect(await procState(pid)).toBe('R'); // the JS thread still spins
    const stop = await stopWs(home, 'passthrough', 1000);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    const ws = (JSON.parse(stop.stdout) as StopDoc).workspaces[0];
    expect(ws?.processes).toEqual([expect.objectContaining({ pid, ended: 'KILL' })]);
    expect(ws?.survivors).toEqual([]);
    await expectNothingLeft(home, mp, pid, readMountInfo, 'passthrough');
  });

  it('the same with fusectl not mounted: stop mounts it to reach the abort file (in a mount namespace of its own: the host keeps its fusectl)', async () => {
    // fusectl is machine-wide state every other test and daemon uses: it is unmounted only inside a
    // private mount namespace, where the daemon, its readers and stop all run.
    const ns = await privateMountNamespace();
    const hostFusectl = async (): Promise<number | undefined> => (await readMountInfo()).find((e) => e.mountPoint === FUSECTL && e.fstype === 'fusectl')?.mountId;
    const hostBefore = await hostFusectl();
    if (await fusectlMounted(ns.mountinfo)) {
      const u = await runFile(ns.enter[0] as string, [...ns.enter.slice(1), 'umount', FUSECTL], 5000);
      expect(u.exitCode, `umount ${FUSECTL} in the namespace: ${u.stderr}`).toBe(0);
    }
    expect(await fusectlMounted(ns.mountinfo)).toBe(false);
    const { home, mp, pid } = await setup('self-touch-on-usr2', 'ops', ns.enter);
    const readers = await wedgeOnSelf(home, mp, pid, ns.enter);
    const stop = await stopWs(home, 'ops', 500, ns.enter);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    expectAbortedAfterKill(JSON.parse(stop.stdout) as StopDoc, pid);
    expect(await fusectlMounted(ns.mountinfo)).toBe(true);
    await expectReadersFailed(readers);
    await expectNothingLeft(home, mp, pid, ns.mountinfo);
    // The host never saw any of it: the very same fusectl mount (or none) as before, and the test's
    // mount never appeared there.
    expect(await hostFusectl()).toBe(hostBefore);
    expect((await readMountInfo()).filter((e) => e.mountPoint === mp)).toEqual([]);
  });
});

/**
 * SIGUSR2 makes the daemon stat a file on its own mount from its JS thread; wait until that
 * thread sleeps in the kernel waiting for itself, with readers stuck behind it. Returns them.
 */
async function wedgeOnSelf(home: string, mp: string, pid: number, wrap: readonly string[] = []): Promise<Reader[]> {
  const opened = Array.from({ length: 2 }, (_, i) => openedReader(home, join(mp, `f${i}`), wrap));
  await waitOpened(home, mp, opened);
  process.kill(pid, 'SIGUSR2');
  await waitFor('daemon waiting on itself', async () => ((await wchanOf(pid)) === 'request_wait_answer' ? true : undefined), 5000);
  for (const r of opened) r.child.stdin?.write('go\n');
  const readers = [...opened, lookupReader(home, 'stat', [join(mp, 'f4')], wrap), lookupReader(home, 'cat', [join(mp, 'f5')], wrap)];
  await waitFor('readers blocked on the mount', async () => ((await Promise.all(opened.map((r) => blockedOnMount(r.child.pid ?? 0)))).every(Boolean) ? true : undefined), 5000).catch(
    async (err: unknown) => {
      throw new Error(`readers not stuck:\n${await describeReaders(readers)}`, { cause: err });
    },
  );
  return readers;
}

/** TERM and KILL did not end it; the abort of the FUSE connection did. */
function expectAbortedAfterKill(doc: StopDoc, pid: number): void {
  const ws = doc.workspaces[0];
  expect(doc.ok, JSON.stringify(doc)).toBe(true);
  expect(ws?.processes).toEqual([expect.objectContaining({ pid, ended: 'KILL' })]);
  expect(ws?.cleaned.aborted, JSON.stringify(ws?.notes)).toBe(true);
  expect(ws?.notes.join('\n')).toContain(`processes ${pid} survived SIGKILL`);
  expect(ws?.survivors).toEqual([]);
}
