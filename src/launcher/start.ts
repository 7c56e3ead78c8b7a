import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { MountieError, isMountieError, type ErrorCode } from '../errors.js';
import { READY_FD_ENV, type ChannelMessage } from '../protocol/channel.js';
import { findHomeDaemons, scanMarked } from '../protocol/daemons.js';
import { acquireLock } from '../protocol/lock.js';
import { daemonTitle } from '../protocol/marker.js';
import { cleanStaleMounts } from '../protocol/stale.js';
import { homeIdOf, isTagOf } from '../protocol/tag.js';
import { FILE_MODE, kindOf, type HomeLayout } from '../state/paths.js';
import type { MountPlan } from '../state/plan.js';
import type { AnyConfig } from '../state/workspace.js';
import { readPidfile, removeStalePidfile } from '../state/pidfile.js';
import { mountAt, readMountInfo } from '../sys/mountinfo.js';
import { groupSignalAllowed } from './kill.js';
import { logEvidence } from './log-read.js';
import { appendRecord } from '../protocol/log-line.js';

export interface StartOptions {
  readonly layout: HomeLayout;
  readonly plan: MountPlan<AnyConfig>;
  /** The child entry the daemon runs (src/cli/daemon-child.ts). */
  readonly cliPath: string;
  /** The `import.meta.url` of the module that exports the daemon's definition (the child imports it). */
  readonly module: string;
  readonly nodePath?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
  readonly spawn?: (cmd: string, args: readonly string[], opts: SpawnOptions) => ChildProcess;
  /**
   * A live restart (issue 21): the daemon takes the mount over from the daemon `pid` instead of
   * mounting; `onWaiting` runs when it is ready to (it asks that daemon to hand over). A rejection
   * there fails the start.
   */
  readonly takeOver?: { readonly pid: number; readonly onWaiting: () => Promise<void> };
}

/** The daemon a launch started, once its mount is usable. */
export interface StartResult {
  readonly pid: number;
  readonly instanceId: string;
  readonly mountpoint: string;
  readonly logFile: string;
}

/** How long a launch waits for the daemon's READY and its mount, by default (ms). */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
export const DAEMON_THREADPOOL_SIZE = 64;

type Outcome =
  | { kind: 'ready'; msg: Extract<ChannelMessage, { type: 'ready' }> }
  | { kind: 'error'; error: { code?: string; message?: string; hint?: string; data?: Record<string, unknown> } }
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'timeout' };

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    child.once('exit', () => (clearTimeout(t), resolve()));
  });
}

/** Wait for the first decisive event from this child: READY/error on the channel, exit, or timeout. */
function awaitOutcome(child: ChildProcess, channel: Readable, instanceId: string, ms: number, onWaiting?: () => Promise<void>): Promise<Outcome> {
  return new Promise((resolve) => {
    let buf = '';
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
    const finish = (o: Outcome): void => {
      clearTimeout(timer);
      resolve(o);
    };
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: ChannelMessage;
        try {
          msg = JSON.parse(line) as ChannelMessage;
        } catch {
          continue; // Not a protocol line; the daemon's log has the details.
        }
        // Readiness counts only from this very instance (never a stale mount, never another daemon).
        if (msg.instanceId !== instanceId || msg.pid !== child.pid) continue;
        if (msg.type === 'ready') finish({ kind: 'ready', msg });
        else if (msg.type === 'waiting') {
          const ask = onWaiting;
          onWaiting = undefined; // once
          ask?.().catch((err: unknown) => finish({ kind: 'error', error: isMountieError(err) ? err.toJSON() : { code: 'ERR_HANDOVER', message: String(err) } }));
        } else finish({ kind: 'error', error: msg.error as Extract<Outcome, { kind: 'error' }>['error'] });
      }
    });
    channel.on('error', () => undefined); // EPIPE/ECONNRESET after the child exits: the exit event decides.
    child.once('exit', (code, signal) => setTimeout(() => finish({ kind: 'exit', code, signal }), 50));
  });
}

/**
 * Start a detached daemon for a validated, materialized plan and wait for its READY. Never leaves
 * a half-started daemon behind: on timeout it kills the child's process group and cleans up.
 */
export async function startDaemon(opts: StartOptions): Promise<StartResult> {
  const { plan } = opts;
  const ws = plan.config.name;
  const instanceId = randomUUID();
  const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  // The daemon serves the layout's home, whatever the caller's environment says (XDG_* included).
  const kind = kindOf(opts.layout);
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), [READY_FD_ENV]: '3', [kind.homeEnv]: opts.layout.home };
  // A hung source call holds its libuv pool thread until it returns (it cannot be cancelled), so
  // the pool must be larger than the hung calls we promise to survive (16) plus the reserve for
  // lifecycle I/O: 64 threads cost stacks only (ARCHITECTURE.md, "Backend I/O").
  env.UV_THREADPOOL_SIZE ??= String(DAEMON_THREADPOOL_SIZE);
  // O_NOFOLLOW: never append to whatever a symlink planted at daemon.log points to.
  const logFd = openSync(plan.paths.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
  let child: ChildProcess;
  try {
    // --title marks the daemon (src/protocol/marker.ts) while node is still starting, so a stop that
    // races this start finds it from its first milliseconds; the daemon marks itself again anyway.
    const takeOver = opts.takeOver ? ['--take-over', String(opts.takeOver.pid)] : [];
    child = (opts.spawn ?? nodeSpawn)(opts.nodePath ?? process.execPath, [`--title=${daemonTitle(ws, kind)}`, opts.cliPath, opts.module, ws, '--kind', kind.name, '--instance', instanceId, ...takeOver], {
      cwd: '/',
      detached: true,
      env,
      stdio: ['ignore', logFd, logFd, 'pipe'],
    });
  } finally {
    closeSync(logFd);
  }
  child.unref();
  const channel = child.stdio[3] as Readable;
  const spawnError = new Promise<Outcome>((resolve) => child.once('error', () => resolve({ kind: 'exit', code: null, signal: null })));
  const outcome = await Promise.race([awaitOutcome(child, channel, instanceId, timeoutMs, opts.takeOver?.onWaiting), spawnError]);
  const logData = { workspace: ws, logPath: plan.paths.log, pid: child.pid };
  try {
    if (outcome.kind === 'ready') {
      const entry = mountAt(await readMountInfo(), plan.config.mountpoint);
      const homeId = await homeIdOf(opts.layout.home);
      if (entry && homeId !== undefined && isTagOf(entry, ws, homeId, kind)) return { pid: outcome.msg.pid, instanceId, mountpoint: plan.config.mountpoint, logFile: plan.paths.log };
      await abandon(child, opts, instanceId);
      throw new MountieError('ERR_MOUNT_FAILED', `daemon ${child.pid} said READY but ${plan.config.mountpoint} is not mounted; it was stopped`, { data: logData });
    }
    if (outcome.kind === 'error') {
      // The daemon reported its failure and cleans up by itself; one that does not exit in time is killed.
      await waitExit(child, 8000);
      if (child.exitCode === null && child.signalCode === null) await abandon(child, opts, instanceId);
      const e = outcome.error;
      const { lastLogError } = await logEvidence(plan.paths.log);
      throw new MountieError((e.code ?? 'ERR_MOUNT_FAILED') as ErrorCode, e.message ?? 'the daemon failed to start', {
        data: { ...logData, ...(e.data ?? {}), ...(lastLogError ? { lastLogError } : {}) },
        hint: e.hint ?? (kind.name === 'mountie' ? `see ${plan.paths.log} (mountie logs ${ws})` : `see ${plan.paths.log}`),
      });
    }
    const what = outcome.kind === 'exit' ? `daemon exited before it was ready (exit ${outcome.code ?? outcome.signal ?? 'unknown'})` : `daemon was not ready within ${timeoutMs} ms; it was stopped`;
    if (outcome.kind === 'timeout') await abandon(child, opts, instanceId);
    const evidence = await logEvidence(plan.paths.log);
    // The launcher's own line: a daemon killed before it logged anything still leaves the story in its log.
    appendRecord(plan.paths.log, 'error', `launcher: ${what}`, { pid: process.pid, fields: { daemonPid: child.pid, instanceId } });
    const quoted = evidence.lastLogError ? `; last error in its log: ${evidence.lastLogError.split('\n')[0]}` : '; its log holds no error';
    throw new MountieError(outcome.kind === 'exit' ? 'ERR_DAEMON_EXITED' : 'ERR_START_TIMEOUT', `${what}${quoted}`, {
      data: { ...logData, ...evidence },
      hint: kind.name === 'mountie' ? `see the log: mountie logs ${ws}   (${plan.paths.log})` : `see the log: ${plan.paths.log}`,
    });
  } catch (err) {
    // Whatever went wrong here, no half-started daemon is left behind.
    if (!isMountieError(err) && child.exitCode === null && child.signalCode === null) await abandon(child, opts, instanceId);
    throw err;
  } finally {
    channel.destroy();
  }
}

/**
 * Kill a child that never became ready, reap it, and clean what it may have left: its pidfile
 * (if it carries this instance id) and its mounts, only while holding the workspace lock ourselves
 * and with no other live daemon of the workspace (then nobody else owns them).
 */
async function abandon(child: ChildProcess, opts: StartOptions, instanceId: string): Promise<void> {
  const pid = child.pid;
  if (pid !== undefined && pid > 1) {
    try {
      // Our own child leads the group it was spawned into (detached); never a group that holds us.
      process.kill(groupSignalAllowed(pid, pid) ? -pid : pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  }
  await waitExit(child, 5000);
  const { plan } = opts;
  const ws = plan.config.name;
  let lock;
  try {
    lock = await acquireLock(plan.paths.lock, ws);
  } catch {
    // Held: someone else (a new daemon, a stop) owns the workspace now, and what it left is theirs.
    return;
  }
  try {
    const pf = await readPidfile(plan.paths.pidfile);
    if (pf.kind === 'ok' && pf.doc.instanceId === instanceId) await removeStalePidfile(plan.paths.pidfile, pf);
    const homeId = await homeIdOf(opts.layout.home);
    const dirs = { workspacesDir: opts.layout.workspacesDir, realWorkspacesDir: await realpath(opts.layout.workspacesDir).catch(() => undefined) };
    const kind = kindOf(opts.layout);
    const live = await findHomeDaemons(scanMarked(kind), dirs, await readMountInfo(), { ws, kind });
    if (homeId !== undefined) await cleanStaleMounts({ workspace: ws, homeId, liveDaemons: live, log: () => undefined, kind }).catch(() => undefined);
  } finally {
    await lock.release();
  }
}
