import { afterEach, describe, expect, it } from 'vitest';
import { groupSignalAllowed, sessionMembers, signalDaemon, sweepSession } from '../../../src/launcher/kill.js';
import { readProcStat, scanProcStats } from '../../../src/sys/proc-stat-scan.js';
import { readFile } from 'node:fs/promises';
import { bootId, identityOf, readGroupNow } from '../../../src/sys/proc.js';
import { reapAll, spawnTracked, waitFor } from '../../helpers/sandbox.js';
import { waitForOutput } from '../../helpers/cli.js';

describe('what stop may signal (item 1)', () => {
  afterEach(reapAll);

  it('never a group that holds us or init, never pid <= 1', () => {
    const own = readGroupNow(process.pid);
    expect(groupSignalAllowed(1, 1)).toBe(false);
    expect(groupSignalAllowed(0, 0)).toBe(false);
    if (own) expect(groupSignalAllowed(own.pgrp, own.pgrp)).toBe(false);
    const init = readGroupNow(1);
    if (init && init.pgrp > 1) expect(groupSignalAllowed(init.pgrp, init.pgrp)).toBe(false);
    expect(groupSignalAllowed(4242, 4242)).toBe(true);
    expect(groupSignalAllowed(4242, 4000)).toBe(false);
  });

  it('refuses pid 0, a pid 1 that is no daemon (no marker) and a live process without the daemon marker; signals a marked one by its group', async () => {
    const sent: [number, string | number][] = [];
    const record = (pid: number, sig: NodeJS.Signals | 0): void => void sent.push([pid, sig]);
    const boot = await bootId();
    expect(await signalDaemon({ pid: 1, startTime: (await identityOf(1))?.startTime ?? 0, bootId: boot }, 'SIGTERM', record)).toBe('identity-mismatch');
    expect(await signalDaemon({ pid: 0, startTime: 0, bootId: boot }, 'SIGTERM', record)).toBe('identity-mismatch');
    const plain = spawnTracked(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await waitForOutput(plain, /up/);
    expect(await signalDaemon((await identityOf(plain.pid!))!, 'SIGTERM', record)).toBe('identity-mismatch');
    const marked = spawnTracked(process.execPath, ['--title=mountie-daemon ws', '-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await waitForOutput(marked, /up/);
    expect(await signalDaemon((await identityOf(marked.pid!))!, 'SIGTERM', record)).toBe('sent');
    expect(sent).toEqual([[-marked.pid!, 'SIGTERM']]);
  });

  it.skipIf(process.getuid?.() !== 0)('never the group or the session of a PID 1 of a pid namespace, seen from outside under its own pid (issue 18)', async () => {
    // unshare's child is PID 1 there; setsid makes it lead its group and session, as a container's entrypoint does.
    const script = "require('node:child_process').spawn('sleep', ['300'], { stdio: 'ignore' }); setInterval(() => {}, 1000)";
    const u = spawnTracked('unshare', ['--pid', '--fork', '--kill-child', 'setsid', process.execPath, '--title=mountie-daemon ws', '-e', script], { stdio: 'ignore' });
    const init = await waitFor('the namespace init', async () => {
      const c = (await readFile(`/proc/${u.pid}/task/${u.pid}/children`, 'utf8').catch(() => '')).trim();
      return c ? Number(c.split(' ')[0]) : undefined;
    }, 5000);
    await waitFor('init leads its own session', () => (readProcStat(init)?.sid === init && readProcStat(init)?.pgrp === init ? true : undefined), 5000);
    await waitFor('init carries the marker', () => (readProcStat(init)?.comm.startsWith('mountie-daemon') ? true : undefined), 5000);
    const id = (await identityOf(init))!;
    expect(groupSignalAllowed(init, init)).toBe(false);
    // Its child shares its group and session: never read as sweepable, nor swept, nor signalled with it.
    await waitFor('a member of its session', () => (scanProcStats().some((p) => p.sid === init && p.pid !== init) ? true : undefined), 5000);
    expect(sessionMembers([id])).toEqual([]);
    const sent: [number, string | number][] = [];
    const record = (pid: number, sig: NodeJS.Signals | 0): void => void sent.push([pid, sig]);
    expect(await sweepSession([id], record)).toEqual([]);
    expect(await signalDaemon(id, 'SIGTERM', record)).toBe('sent');
    expect(sent).toEqual([[init, 'SIGTERM']]);
  });

  it('sweeps a session only while its id still names the daemon: a reused session id is left alone', async () => {
    // A session leader (detached spawn = setsid) with a member that left its process group.
    const leader = spawnTracked('bash', ['-c', 'setsid -f true; (set -m; sleep 300 & echo $!; wait)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const member = Number((await waitForOutput(leader, /^\d+\s*$/m)).trim());
    const id = (await identityOf(leader.pid!))!;
    const noop = (): void => undefined;
    expect(await sweepSession([{ ...id, startTime: id.startTime + 1 }], noop)).toEqual([]);
    const hit = await sweepSession([id], noop);
    process.kill(member, 'SIGKILL'); // its own group: the teardown's group kill misses it
    expect(hit).toContain(member);
    expect(hit).toContain(leader.pid);
  });

  /** The test's own orphans (the sweeps above only pretend to kill). */
  function endAll(member: number, proven: readonly { pid: number }[] | undefined, deadLeader: number): void {
    // Never the dead leader's pid: it may name someone else by now.
    for (const pid of new Set([member, ...(proven ?? []).map((p) => p.pid).filter((p) => p !== deadLeader)])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** A session leader (detached spawn = setsid) with a member in a group of its own; then the leader dies, the member stays. */
  async function orphanedSession(): Promise<{ id: NonNullable<Awaited<ReturnType<typeof identityOf>>>; member: number; proven: ReturnType<typeof sessionMembers> | undefined }> {
    const leader = spawnTracked('bash', ['-c', '(set -m; sleep 300 & echo $!; wait)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const member = Number((await waitForOutput(leader, /^\d+\s*$/m)).trim());
    const id = (await identityOf(leader.pid!))!;
    // Read while the leader lives: then its session id names it, so every member found is ours.
    const proven = typeof sessionMembers === 'function' ? sessionMembers([id]) : undefined;
    process.kill(leader.pid!, 'SIGKILL');
    await waitFor('the leader reaped', () => (readProcStat(leader.pid!) === undefined ? true : undefined), 5000);
    return { id, member, proven };
  }

  it('never sweeps a session on the id of a leader that is gone: that id proves nothing', async () => {
    const { id, member, proven } = await orphanedSession();
    try {
      expect(readProcStat(member)?.sid).toBe(id.pid);
      expect(await sweepSession([id], () => undefined)).toEqual([]);
    } finally {
      endAll(member, proven, id.pid);
    }
  });

  it('sweeps the members proven while the leader lived, each identity checked again, after the leader is gone', async () => {
    const { id, member, proven } = await orphanedSession();
    try {
      expect(proven?.map((p) => p.pid)).toContain(member);
      expect(await sweepSession([id], () => undefined, proven)).toContain(member);
      // A proof of another start time (the pid reused since) is not this process.
      expect(await sweepSession([id], () => undefined, proven?.map((p) => ({ ...p, startTime: p.startTime + 1 })))).toEqual([]);
    } finally {
      endAll(member, proven, id.pid);
    }
  });
});
