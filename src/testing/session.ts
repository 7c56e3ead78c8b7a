/**
 * A test session: one directory that holds every home a test run creates, and a reaper process
 * that reaps it (src/testing/reap.ts) as soon as the runner that started the session dies, even by
 * SIGKILL. The reaper is detached (its own session and process group: a Ctrl-C or a kill of the
 * runner's group does not reach it) and learns of the runner's death two ways: its stdin, a pipe
 * whose only writer is the runner, ends (at once, whatever killed the runner); and a poll of the
 * runner's pid and start time every 200 ms (gone on two polls in a row), for a write end some
 * child inherited after all. A runner's death ends the run's other processes too (its workers, which
 * SIGKILL does not reach, and whatever they start) before the reap: a worker that outlived its
 * runner could launch a daemon after any reap. `close()` says `close` first: then nothing is ended.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MountieError } from '../errors.js';
import { readProcStat } from '../sys/proc-stat-scan.js';
import { reapUnder, type ReapReport } from './reap.js';

/** The variable that hands a session's directory to the runner's workers (and their fixtures). */
export const SESSION_ENV = 'MOUNTIE_TEST_SESSION';

/** A process entry, so it lives with the other entries in src/cli (only they print or exit). */
const REAPER_ENTRY = fileURLToPath(new URL('../cli/test-reaper.js', import.meta.url));

/** A running test session. */
export interface TestSession {
  /** The directory every home of this session lives in. */
  readonly dir: string;
  /** The reaper process watching the runner. */
  readonly reaperPid: number;
  /** Reap the session now and end the reaper; resolves with what the reap did. Idempotent. Rejects when the reaper had already ended (it reaped while the runner lived). */
  close(): Promise<ReapReport>;
}

/** Where the session lives and which runner its reaper watches. */
export interface TestSessionOptions {
  /** Where the session directory is created. Default: the OS temp directory. */
  readonly parent?: string;
  /** The runner to watch. Default: this process. */
  readonly runnerPid?: number;
  /** Export the session in `process.env[SESSION_ENV]` for workers started later. Default true. */
  readonly exportEnv?: boolean;
}

/** Wait until the reaper says it watches (one line on its stdout), bounded. */
function readyLine(child: ReturnType<typeof spawn>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new MountieError('ERR_START_TIMEOUT', `the test reaper did not start within ${ms} ms`)), ms);
    child.stdout?.once('data', () => (clearTimeout(timer), resolve()));
    child.once('exit', (code, signal) => (clearTimeout(timer), reject(new MountieError('ERR_DAEMON_EXITED', `the test reaper exited at start (${code ?? signal})`))));
  });
}

/**
 * Start a test session: create its directory (mode 0755, so steps run as another user reach the
 * homes below it) and its reaper. Call from a runner's global setup; `close()` from its teardown.
 */
export async function startTestSession(opts: TestSessionOptions = {}): Promise<TestSession> {
  const dir = await mkdtemp(join(opts.parent ?? tmpdir(), 'mountie-session-'));
  await chmod(dir, 0o755);
  const runnerPid = opts.runnerPid ?? process.pid;
  const runnerStart = readProcStat(runnerPid)?.startTime;
  if (runnerStart === undefined) throw new MountieError('ERR_INVALID_OPTION', `runner pid ${runnerPid} is not running`, { data: { pid: runnerPid } });
  const log = await open(`${dir}.reaper.log`, 'a', 0o600);
  const child = spawn(process.execPath, [REAPER_ENTRY, dir, String(runnerPid), String(runnerStart)], {
    detached: true,
    stdio: ['pipe', 'pipe', log.fd],
    cwd: '/',
  });
  await log.close();
  try {
    await readyLine(child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  // The reaper must not keep this runner alive; its stdin stays open until close() or our death.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  if (opts.exportEnv !== false) process.env[SESSION_ENV] = dir;

  // The reaper ends only after the runner did or close() asked: ending earlier means it reaped a
  // live run (its daemons killed mid-test). close() then fails, and its log stays.
  let closeCalled = false;
  let exitedEarly = false;
  child.once('exit', () => {
    if (!closeCalled) exitedEarly = true;
  });
  let closing: Promise<ReapReport> | undefined;
  return {
    dir,
    reaperPid: child.pid as number,
    close() {
      closeCalled = true;
      closing ??= (async () => {
        const report = await reapUnder(dir, { remove: true });
        if (exitedEarly) {
          throw new MountieError('ERR_INTERNAL', `the test reaper ${child.pid} ended before the session was closed (it may have reaped a live run); see ${dir}.reaper.log`, { data: { pid: child.pid, path: `${dir}.reaper.log` } });
        }
        // `close`, then the end of stdin: the reaper reaps (nothing left now) and exits. The end
        // alone would mean this runner died, and the reaper would end its processes.
        const exited = new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          const t = setTimeout(resolve, 5000);
          child.once('exit', () => (clearTimeout(t), resolve()));
        });
        child.stdin?.end('close\n');
        await exited;
        // A clean close leaves no log behind; a failed reaper's log stays for whoever looks.
        if (child.exitCode === 0) await unlink(`${dir}.reaper.log`).catch(() => undefined);
        return report;
      })();
      return closing;
    },
  };
}
