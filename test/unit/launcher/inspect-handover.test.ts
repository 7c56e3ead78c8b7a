/**
 * What `status` says during a live restart (issue 21): the daemon handing its mount over is
 * `handing-over(pid=N)`, the new one `starting(pid=M)` until its pidfile is written, and neither is
 * an orphan although both hold the lock (one open file description); outside a handover a second
 * lock holder is still an orphan.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectWorkspace } from '../../../src/launcher/inspect.js';
import type { Daemon, Discovery } from '../../../src/launcher/discover.js';
import { resolveHome, workspacePaths } from '../../../src/state/paths.js';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const OLD = 1001;
const NEW = 1002;
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Started a second ago (clock ticks after boot), as a daemon in a handover is. */
const justNow = (): number => Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100) - 100;

function daemon(pid: number, holdsLock: boolean, inPidfile: boolean): Daemon {
  return { pid, startTime: justNow(), bootId: 'b', state: 'S', pgrp: pid, sid: pid, workspace: 'ws', holdsLock, exiting: false, inPidfile, argv: [] };
}

async function discovery(opts: { pidfilePid: number; daemons: Daemon[]; state: Record<string, unknown> }): Promise<Discovery> {
  dir = await mkdtemp(join(tmpdir(), 'mountie-inspect-'));
  const layout = resolveHome({ MOUNTIE_HOME: dir });
  const paths = workspacePaths(layout, 'ws');
  await mkdir(paths.dir, { recursive: true });
  const doc = {
    schema: 'mountie.state/v1',
    epoch: 3,
    instanceId: 'i',
    writtenAt: new Date().toISOString(),
    health: { ok: true },
    cursor: 0,
    startedAt: new Date().toISOString(),
    mount: { mountpoint: '/m', source: '/s', fsname: 'f' },
    counters: { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0 },
    ...opts.state,
  };
  await writeFile(paths.state, JSON.stringify(doc));
  const mount = { mountPoint: '/m', mountId: 7 } as unknown as MountEntry;
  return {
    workspace: 'ws',
    paths,
    homeId: 'h',
    config: undefined,
    configError: undefined,
    pidfile: { kind: 'ok', doc: { schema: 'mountie.pid/v1', pid: opts.pidfilePid, startTime: 1, bootId: 'b', instanceId: 'i', epoch: 3, workspace: 'ws', argv: [], version: '0', mountpoint: '/m', source: '/s', logFile: '', startedAt: '' } },
    pidfileState: 'live',
    daemons: opts.daemons,
    lockHeld: true,
    mountpoint: '/m',
    mounts: [mount],
    mount,
  };
}

describe('status during a live restart', () => {
  it('the old daemon says handing-over, the new one (lock file open, not locked yet) is starting', async () => {
    const s = await inspectWorkspace(await discovery({ pidfilePid: OLD, daemons: [daemon(OLD, true, true), daemon(NEW, false, false)], state: { pid: OLD, status: 'handing-over' } }));
    expect(s.tokens).toEqual([`handing-over(pid=${OLD})`, `starting(pid=${NEW})`]);
    expect(s.verdict).toBe('running');
  });

  it('after the commit both hold the lock: still handing-over and starting, no orphan', async () => {
    const s = await inspectWorkspace(await discovery({ pidfilePid: OLD, daemons: [daemon(OLD, true, true), daemon(NEW, true, false)], state: { pid: OLD, status: 'handing-over' } }));
    expect(s.tokens).toEqual([`handing-over(pid=${OLD})`, `starting(pid=${NEW})`]);
    expect(s.orphans).toEqual([]);
  });

  it('the new daemon wrote state.json (taken over from the old), not its pidfile yet', async () => {
    const s = await inspectWorkspace(await discovery({ pidfilePid: OLD, daemons: [daemon(OLD, true, true), daemon(NEW, true, false)], state: { pid: NEW, status: 'starting', takenOverFrom: OLD } }));
    expect(s.tokens).toEqual([`handing-over(pid=${OLD})`, `starting(pid=${NEW})`]);
    expect(s.verdict).toBe('running');
  });

  it('the new daemon serves and its pidfile is written; the old one, not yet exited, is handing over', async () => {
    const s = await inspectWorkspace(await discovery({ pidfilePid: NEW, daemons: [daemon(OLD, true, false), daemon(NEW, true, true)], state: { pid: NEW, status: 'active', takenOverFrom: OLD } }));
    expect(s.tokens).toEqual([`running(pid=${NEW})`, `handing-over(pid=${OLD})`]);
    expect(s.handingOver.map((d) => d.pid)).toEqual([OLD]);
    expect(s.verdict).toBe('running');
  });

  it('outside a handover a second daemon holding the lock is an orphan, as before', async () => {
    const s = await inspectWorkspace(await discovery({ pidfilePid: NEW, daemons: [daemon(OLD, true, false), daemon(NEW, true, true)], state: { pid: NEW, status: 'active' } }));
    expect(s.tokens).toEqual([`running(pid=${NEW})`, `orphan(pid=${OLD})`]);
    expect(s.verdict).toBe('leftovers');
  });
});
