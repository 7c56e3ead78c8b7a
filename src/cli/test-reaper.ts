/**
 * The test session reaper's process (src/testing/session.ts starts it): `node test-reaper.js <dir>
 * <runnerPid> <runnerStartTime>`. It says "watching" on stdout, then waits for the runner's end: its
 * stdin closing (the runner died or closed the session) or the runner's pid no longer naming the
 * same process (two polls 200 ms apart). Then it reaps the session directory (every daemon and mount
 * of it, src/testing/reap.ts), logs what it did on stderr (the session's log file) and exits.
 */
import { existsSync } from 'node:fs';
import { readProcStat } from '../sys/proc-stat-scan.js';
import { reapUnder } from '../testing/reap.js';

const [dir, pidText, startText] = process.argv.slice(2);
const runnerPid = Number(pidText);
const runnerStart = Number(startText);
const POLL_MS = 200;

/** The runner, as far as /proc says: 'gone' only on proof (no /proc entry, another start time, a zombie). */
function runnerState(): 'alive' | 'gone' | 'unknown' {
  const st = readProcStat(runnerPid);
  if (st !== undefined) return st.state !== 'Z' && st.startTime === runnerStart ? 'alive' : 'gone';
  // An unreadable stat is not a death (a failed read under load): only a missing /proc entry is.
  return existsSync(`/proc/${runnerPid}`) ? 'unknown' : 'gone';
}

if (!dir || !Number.isSafeInteger(runnerPid) || runnerPid <= 1 || !Number.isSafeInteger(runnerStart)) {
  process.stderr.write(`test-reaper: usage: test-reaper <dir> <runnerPid> <runnerStartTime>, got ${JSON.stringify(process.argv.slice(2))}\n`);
  process.exitCode = 2;
} else {
  let done = false;
  // Reaping a live run would kill its daemons mid-test: two polls in a row must see the runner gone.
  let goneSeen = 0;
  const poll = setInterval(() => {
    goneSeen = runnerState() === 'gone' ? goneSeen + 1 : 0;
    if (goneSeen >= 2) void reap(`runner ${runnerPid} gone`);
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
