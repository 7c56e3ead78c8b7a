/**
 * The test session reaper's process (src/testing/session.ts starts it): `node test-reaper.js <dir>
 * <runnerPid> <runnerStartTime>`. It says "watching" on stdout, then waits for the runner's end,
 * keeping track of the run's processes meanwhile (the runner's descendants, ./testing/run-tree.ts).
 *
 * - `close` on stdin, then its end: the runner closes the session (its workers are done); reap.
 * - stdin ends without `close`, or the runner's pid no longer names it (two polls 200 ms apart):
 *   the runner died. Its workers may live on (re-parented) and launch daemons after any reap, so
 *   the reaper first ends them (SIGTERM, SIGKILL after 2 s, and what they start meanwhile; the
 *   daemons are left to the reap), then reaps, and repeats while a round still found something.
 *
 * The reap (src/testing/reap.ts) takes every daemon and mount of the session directory and removes
 * it. What it did goes to stderr (the session's log file, `<dir>.reaper.log`), which a clean
 * reap removes: the log stays only when something survived or failed.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { readProcStat } from '../sys/proc-stat-scan.js';
import { reapUnder, type ReapReport } from '../testing/reap.js';
import { endRun, RunTree } from '../testing/run-tree.js';

const [dir, pidText, startText] = process.argv.slice(2);
const runnerPid = Number(pidText);
const runnerStart = Number(startText);
const POLL_MS = 200;
/** Rounds of end-then-reap after a runner's death; one more only when the last found something. */
const MAX_ROUNDS = 3;

/** The runner, as far as /proc says: 'gone' only on proof (no /proc entry, another start time, a zombie). */
function runnerState(): 'alive' | 'gone' | 'unknown' {
  const st = readProcStat(runnerPid);
  if (st !== undefined) return st.state !== 'Z' && st.startTime === runnerStart ? 'alive' : 'gone';
  // An unreadable stat is not a death (a failed read under load): only a missing /proc entry is.
  return existsSync(`/proc/${runnerPid}`) ? 'unknown' : 'gone';
}

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} test-reaper ${process.pid}: ${line}\n`);

if (!dir || !Number.isSafeInteger(runnerPid) || runnerPid <= 1 || !Number.isSafeInteger(runnerStart)) {
  process.stderr.write(`test-reaper: usage: test-reaper <dir> <runnerPid> <runnerStartTime>, got ${JSON.stringify(process.argv.slice(2))}\n`);
  process.exitCode = 2;
} else {
  const tree = new RunTree(runnerPid, runnerStart);
  tree.update();
  let done = false;
  let closing = false;
  // Reaping a live run would kill its daemons mid-test: two polls in a row must see the runner gone.
  let goneSeen = 0;
  const poll = setInterval(() => {
    tree.update();
    goneSeen = runnerState() === 'gone' ? goneSeen + 1 : 0;
    if (goneSeen >= 2) void finish(`runner ${runnerPid} gone`, true);
  }, POLL_MS);

  const reapOnce = async (): Promise<ReapReport> => {
    const t0 = Date.now();
    const r = await reapUnder(dir, { remove: true });
    log(`reaped ${dir} in ${Date.now() - t0} ms: ${JSON.stringify(r)}`);
    return r;
  };

  const finish = async (why: string, runnerDied: boolean): Promise<void> => {
    if (done) return;
    done = true;
    clearInterval(poll);
    process.stdin.destroy();
    log(why);
    let failed = false;
    try {
      if (!runnerDied) {
        const r = await reapOnce();
        failed = r.survivors.length + r.mountsLeft.length > 0;
      } else {
        for (let round = 1; round <= MAX_ROUNDS; round++) {
          const end = await endRun(tree);
          if (end.ended.length > 0) log(`round ${round}: ended the run's processes ${end.ended.join(',')}${end.survivors.length ? `; still alive: ${end.survivors.join(',')}` : ''}`);
          const r = await reapOnce();
          failed = end.survivors.length + r.survivors.length + r.mountsLeft.length > 0;
          const found = end.ended.length + r.daemons.length + r.unmounted.length > 0;
          // A round that found nothing proves the session quiet; otherwise look once more.
          if (!found || failed) break;
        }
      }
    } catch (err) {
      log(`reap of ${dir} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      failed = true;
    }
    process.exitCode = failed ? 1 : 0;
    // A clean reap leaves no log behind; a failed one keeps it for whoever looks.
    if (!failed) {
      try {
        unlinkSync(`${dir}.reaper.log`);
      } catch {
        // Not there (a caller that logs elsewhere): nothing to remove.
      }
    }
  };

  // Nothing is sent but `close` (session.close()); an end without it is the runner's death.
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    if (chunk.includes('close')) closing = true;
  });
  process.stdin.once('end', () => void finish(closing ? 'session closed' : 'stdin closed without close: the runner died', !closing));
  process.stdin.once('error', () => void finish('stdin failed', !closing));
  process.stdout.write('watching\n');
}
