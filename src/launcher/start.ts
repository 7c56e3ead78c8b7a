import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { MountieError, type ErrorCode } from '../errors.js';
import { READY_FD_ENV, type ChannelMessage } from '../daemon/channel.js';
import { lockAddress, probeLock } from '../daemon/lock.js';
import { FILE_MODE, type HomeLayout } from '../state/paths.js';
import type { MountPlan } from '../state/plan.js';
import { readPidfile, removeStalePidfile } from '../state/pidfile.js';
import { fsnameFor } from '../state/tag.js';
import { mountAt, readMountInfo } from '../sys/mountinfo.js';
import { unmountPath } from '../sys/fusermount.js';
import { readLogTail } from './log-tail.js';

export interface StartOptions {
  readonly layout: HomeLayout;
  readonly plan: MountPlan;
  /** The CLI entry the daemon runs (its argv keeps `mount <ws>` for process-table scans). */
  readonly cliPath: string;
  readonly nodePath?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
  readonly spawn?: (cmd: string, args: readonly string[], opts: SpawnOptions) => ChildProcess;
}

export interface StartResult {
  readonly pid: number;
  readonly instanceId: string;
  readonly mountpoint: string;
  readonly logFile: string;
}

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
function awaitOutcome(child: ChildProcess, channel: Readable, instanceId: string, ms: number): Promise<Outcome> {
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
        else finish({ kind: 'error', error: msg.error as Extract<Outcome, { kind: 'error' }>['error'] });
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
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), [READY_FD_ENV]: '3' };
  if (env.MOUNTIE_HOME) env.MOUNTIE_HOME = opts.layout.home;
  // A hung source call holds its libuv pool thread until it returns (it cannot be cancelled), so
  // the pool must be larger than the hung calls we promise to survive (16) plus the reserve for
  // lifecycle I/O: 64 threads cost stacks only (ARCHITECTURE.md, "Backend I/O").
  env.UV_THREADPOOL_SIZE ??= String(DAEMON_THREADPOOL_SIZE);
  const logFd = openSync(plan.paths.log, 'a', FILE_MODE);
  let child: ChildProcess;
  try {
    child = (opts.spawn ?? nodeSpawn)(opts.nodePath ?? process.execPath, [opts.cliPath, 'mount', ws, '--daemon-child', '--instance', instanceId], {
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
  const outcome = await Promise.race([awaitOutcome(child, channel, instanceId, timeoutMs), spawnError]);
  const logData = { workspace: ws, logPath: plan.paths.log, pid: child.pid };
  try {
    if (outcome.kind === 'ready') {
      const entry = mountAt(await readMountInfo(), plan.config.mountpoint);
      if (entry?.source === fsnameFor(ws)) return { pid: outcome.msg.pid, instanceId, mountpoint: plan.config.mountpoint, logFile: plan.paths.log };
      await abandon(child, opts, instanceId);
      throw new MountieError('ERR_MOUNT_FAILED', `daemon ${child.pid} said READY but ${plan.config.mountpoint} is not mounted; it was stopped`, { data: logData });
    }
    if (outcome.kind === 'error') {
      await waitExit(child, 6000);
      const e = outcome.error;
      throw new MountieError((e.code ?? 'ERR_MOUNT_FAILED') as ErrorCode, e.message ?? 'the daemon failed to start', {
        data: { ...logData, ...(e.data ?? {}) },
        hint: e.hint ?? `see ${plan.paths.log}`,
      });
    }
    if (outcome.kind === 'exit') {
      const tail = await readLogTail(plan.paths.log, 10);
      throw new MountieError('ERR_DAEMON_EXITED', `daemon exited before it was ready (exit ${outcome.code ?? outcome.signal ?? 'unknown'})`, {
        data: { ...logData, logTail: tail },
        hint: `see ${plan.paths.log}`,
      });
    }
    await abandon(child, opts, instanceId);
    throw new MountieError('ERR_START_TIMEOUT', `daemon was not ready within ${timeoutMs} ms; it was stopped`, {
      data: { ...logData, logTail: await readLogTail(plan.paths.log, 10) },
      hint: `see ${plan.paths.log}`,
    });
  } finally {
    channel.destroy();
  }
}

/** Kill a child that never became ready, reap it, and clean what it may have left. */
async function abandon(child: ChildProcess, opts: StartOptions, instanceId: string): Promise<void> {
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  }
  await waitExit(child, 5000);
  const { plan } = opts;
  const pid = await readPidfile(plan.paths.pidfile);
  if (pid.kind === 'ok' && pid.doc.instanceId === instanceId) await removeStalePidfile(plan.paths.pidfile, pid);
  // Our child is dead, so its lock is free; if someone else holds it now the mount is theirs.
  const probe = await probeLock(lockAddress(opts.layout.home, plan.config.name));
  const entry = mountAt(await readMountInfo(), plan.config.mountpoint);
  if (!probe.held && entry?.source === fsnameFor(plan.config.name)) await unmountPath(plan.config.mountpoint, { lazyOnly: true });
}
