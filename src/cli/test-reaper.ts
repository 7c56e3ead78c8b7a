/**
 * The test session reaper's process (src/testing/session.ts starts it): `node test-reaper.js <dir>
 * <runnerPid> <runnerStartTime>`. It says "watching" on stdout, then waits for the runner's end: its
 * stdin closing (the runner died or closed the session) or the runner's pid no longer naming the
 * same process (polled every 200 ms). Then it reaps the session directory (every daemon and mount
 * of it, src/testing/reap.ts), logs what it did on stderr (the session's log file) and exits.
 */
import { readProcStat } from '../sys/proc-stat-scan.js';
import { reapUnder } from '../testing/reap.js';

const [dir, pidText, startText] = process.argv.slice(2);
const runnerPid = Number(pidText);
const runnerStart = Number(startText);
const POLL_MS = 200;

function runnerAlive(): boolean {
  const st = readProcStat(runnerPid);
  return st !== undefined && st.state !== 'Z' && st.startTime === runnerStart;
}

if (!dir || !Number.isSafeInteger(runnerPid) || runnerPid <= 1 || !Number.isSafeInteger(runnerStart)) {
  process.stderr.write(`test-reaper: usage: test-reaper <dir> <runnerPid> <runnerStartTime>, got ${JSON.stringify(process.argv.slice(2))}\n`);
  process.exitCode = 2;
} else {
  let done = false;
  const poll = setInterval(() => {
    if (!runnerAlive()) void reap('runner gone');
  }, POLL_MS);
  const reap = async (why: string): Promise<void> => {
    if (done) return;
    done = true;
    clearInterval(poll);
    process.stdin.destroy();
    const t0 = Date.now();
    try {
      const r = await reapUnder(dir, { remove: true });
      process.stderr.write(`${new Date().toISOString()} test-reaper ${process.pid}: ${why}; reaped ${dir} in ${Date.now() - t0} ms: ${JSON.stringify(r)}\n`);
      process.exitCode = r.survivors.length + r.mountsLeft.length > 0 ? 1 : 0;
    } catch (err) {
      process.stderr.write(`${new Date().toISOString()} test-reaper ${process.pid}: reap of ${dir} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  };
  process.stdin.on('data', () => undefined); // Nothing is sent; only the end matters.
  process.stdin.once('end', () => void reap('stdin closed'));
  process.stdin.once('error', () => void reap('stdin failed'));
  process.stdout.write('watching\n');
}
