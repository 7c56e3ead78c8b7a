// Issue 21's benchmark: the client-visible pause of `mountie restart --live` (p50/p99 of the
// longest blocked op) against a plain restart's outage. One workspace in a temporary MOUNTIE_HOME,
// on our own FUSE session (MOUNTIE_SESSION=own: what a live restart needs), mounted with the built
// CLI; a client (fixtures/restart-probe.mjs) works in the mount throughout, one synchronous op at a
// time in a tight loop, each op timed. Live and plain restarts interleaved (two live to one plain).
//  - live: the client has its cwd in the mount and holds fds (--mode=held). The pause of a restart
//    is the longest op in progress during the handover's pause: [commit − paused, commit], where
//    paused is the old daemon's own "paused N ms" and the commit is the earlier of the two daemons'
//    log lines that follow it ("handed over …", "took the mount over"; ms resolution, widened by
//    1 ms). Also the longest op over the whole command, [start, exit], which takes in the new
//    daemon's Node start competing for the CPU. Each beside the same measure over a window as long
//    with no restart (the noise floor: right after the command, once the old daemon exited).
//  - plain (`mountie restart ws`, which unmounts): held fds and a cwd would break for good, so a
//    client that opens by absolute path each op (--mode=path) and counts its errors runs instead;
//    the outage is how long it went without a good answer: from its last success before the first
//    failure to its first success after the last one (or its longest blocked op, if longer).
//   node scripts/bench/live-restart.mjs   env: LIVE (20), PLAIN (10) or ROUNDS=N (N plain, 2N live);
//   RAW=FILE keeps what was measured (windows, the probes' documents, the daemon log) as JSON, and
//   FROM_RAW=FILE prints the table from such a file without running anything.
//   Needs root and `npm run build` (`npm run bench` builds). About 1–2 minutes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from './proc-lib.mjs';

const REPO = new URL('../..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/cli/bin.cjs');
const PROBE = new URL('./fixtures/restart-probe.mjs', import.meta.url).pathname;
const ROUNDS = process.env.ROUNDS === undefined ? undefined : Number(process.env.ROUNDS);
const PLAIN = Number(process.env.PLAIN ?? ROUNDS ?? 10);
const LIVE = Number(process.env.LIVE ?? (ROUNDS === undefined ? 20 : 2 * ROUNDS));
const SETTLE_MS = 200;
/** A noise-floor window is as long as the command, at most this. */
const IDLE_MAX_MS = 5000;
const GOAL_MS = 100;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mountedAt = (p) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

// ---- measuring -------------------------------------------------------------------------------

/** The temporary home, the workspace and the probes; everything it made goes in cleanup(). */
function bench() {
  const base = mkdtempSync(join(tmpdir(), 'mountie-bench-live-'));
  const home = join(base, 'home');
  const src = join(base, 'src');
  const env = { ...process.env, MOUNTIE_HOME: home, MOUNTIE_SESSION: 'own' };
  const probes = new Set();
  let mnt = join(home, 'mnt', 'ws');

  /** The built CLI, bounded; its window on the clock the probe uses. */
  function cli(args, timeout = 60_000) {
    const t0 = now();
    const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout });
    const t1 = now();
    if (r.status !== 0) throw new Error(`mountie ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}`);
    return { out: r.stdout, t0, t1 };
  }

  /** A probe in the mount: resolves once it says STARTED. */
  async function startProbe(mode) {
    const child = spawn(process.execPath, [PROBE, `--mode=${mode}`, `--dir=${mnt}`], { cwd: mode === 'held' ? mnt : base, stdio: ['ignore', 'pipe', 'pipe'] });
    probes.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise((r) => child.once('close', r));
    const line = async (re, ms) => {
      const until = Date.now() + ms;
      for (;;) {
        const l = out.split('\n').find((x) => re.test(x));
        if (l) return l;
        if (child.exitCode !== null || Date.now() > until) throw new Error(`probe ${mode}: no ${re} within ${ms} ms (exit ${child.exitCode}): ${err}`);
        await sleep(5);
      }
    };
    await line(/^STARTED$/, 10_000);
    return {
      /** True once its last word is RECOVERED (it failed, then worked again), false after `ms`. */
      async recovered(ms) {
        const until = Date.now() + ms;
        for (;;) {
          if (/(^|\n)RECOVERED [^\n]*\n$/.test(out)) return true;
          if (Date.now() >= until || child.exitCode !== null) return false;
          await sleep(5);
        }
      },
      /** SIGTERM, then its DONE document. */
      async done() {
        child.kill('SIGTERM');
        const l = await line(/^DONE /, 15_000);
        await Promise.race([closed, sleep(5000)]);
        probes.delete(child);
        return JSON.parse(l.slice(5));
      },
    };
  }

  /** Mount, then the rounds: the windows, the probes' documents, the daemon log. */
  async function run() {
    mkdirSync(src);
    writeFileSync(join(src, 'probe-r'), 'read me\n');
    writeFileSync(join(src, 'probe-log'), '');
    mnt = JSON.parse(cli(['mount', 'ws', '--source', src, '--background', '--json']).out).mountpoint;
    const loads = [load()];
    const started = now();
    const live = [];
    const plain = [];
    const held = [];
    const paths = [];
    let probe = await startProbe('held');
    for (const kind of schedule(LIVE, PLAIN)) {
      if (kind === 'live') {
        const c = cli(['restart', 'ws', '--live', '--json']);
        const doc = JSON.parse(c.out);
        if (doc.live?.done !== true) throw new Error(`restart --live did not hand over: ${c.out}`);
        // Then as long again with no restart: the noise floor's windows start there.
        await sleep(SETTLE_MS);
        const idle = now();
        await sleep(Math.min(c.t1 - c.t0, IDLE_MAX_MS));
        live.push({ t0: c.t0, t1: c.t1, idle, from: doc.live.from, to: doc.live.to, oldExited: doc.live.oldExited });
      } else {
        held.push(await probe.done());
        const p = await startProbe('path');
        await sleep(SETTLE_MS);
        const c = cli(['restart', 'ws', '--json']);
        // Working again, and still a moment later (a stat from the kernel's cache can succeed mid-outage).
        const recovered = (await p.recovered(15_000)) && (await sleep(SETTLE_MS), await p.recovered(0));
        paths.push(await p.done());
        plain.push({ t0: c.t0, t1: c.t1, recovered });
        probe = await startProbe('held');
      }
    }
    held.push(await probe.done());
    loads.push(load());
    // Every line the held clients appended, once and in order (each client counts from 0).
    const logged = readFileSync(join(src, 'probe-log'), 'utf8').split('\n').filter((l) => l.startsWith('held '));
    const want = held.flatMap((h) => Array.from({ length: h.appended }, (_, n) => `held ${n}`));
    const appends = { logged: logged.length, appended: want.length, ok: logged.length === want.length && logged.every((l, i) => l === want[i]) };
    const log = readFileSync(join(home, 'workspaces', 'ws', 'daemon.log'), 'utf8');
    return { live, plain, held, paths, appends, log, loads, secs: (now() - started) / 1000, at: new Date().toISOString() };
  }

  /** Synchronous (a signal handler runs it too): the probes, the workspace, the home. */
  function cleanup() {
    for (const p of probes) p.kill('SIGKILL');
    probes.clear();
    if (existsSync(join(home, 'workspaces', 'ws'))) spawnSync(process.execPath, [CLI, 'stop', 'ws'], { env, timeout: 30_000 });
    // Our own mount only, and only if the stop left it (a daemon gone without unmounting).
    if (mountedAt(mnt)) spawnSync('umount', ['-l', mnt], { timeout: 10_000 });
    // Never rm through a live mount: that would delete the source's files through it.
    if (mountedAt(mnt)) console.log(`live-restart.mjs: ${mnt} is still mounted: ${base} left in place`);
    else rmSync(base, { recursive: true, force: true });
  }
  return { run, cleanup };
}

/** Live and plain rounds spread evenly (each kind at its own pace). */
function schedule(live, plain) {
  const keyed = [...Array.from({ length: live }, (_, i) => ['live', (i + 0.5) / live]), ...Array.from({ length: plain }, (_, i) => ['plain', (i + 0.5) / plain])];
  return keyed.sort((a, b) => a[1] - b[1] || (a[0] === 'live' ? -1 : 1)).map(([k]) => k);
}

// ---- reporting -------------------------------------------------------------------------------

const overlaps = (start, end, w) => start < w.t1 && end > w.t0;
/** The longest op ([start, ms, kind]) of `long` overlapping window `w`, if any. */
const longestOp = (long, w) => long.filter(([s, ms]) => overlaps(s, s + ms, w)).reduce((m, op) => (!m || op[1] > m[1] ? op : m), undefined);
/** Nearest rank: with fewer than 100 values p99 is the largest. */
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.max(0, Math.ceil((p / 100) * a.length) - 1)];
const f = (x) => (x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(1) : x.toFixed(0));
const defined = (a) => a.filter((x) => x !== undefined && Number.isFinite(x));

/** Per live round, from the daemon log's JSON lines (src/protocol/log-line.ts): what the two daemons say and when. */
function handovers(logText, rounds) {
  const lines = logText
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const at = (pid, re) => {
    const l = lines.find((x) => x.pid === pid && re.test(x.msg));
    return l && { msg: l.msg, t: Date.parse(l.time) };
  };
  return rounds.map((r) => {
    const asked = at(r.from, /^SIGUSR2: handing/);
    const given = at(r.from, /^handed over to a new daemon: /);
    const took = at(r.to, /^took the mount over/);
    const m = /(\d+) nodes, (\d+) open files, (\d+) requests drained, paused ([\d.]+) ms/.exec(given?.msg ?? '');
    const pausedMs = m ? Number(m[4]) : undefined;
    // Both lines come after the commit (each daemon's JavaScript logs once its side resolved): the
    // earlier is the nearer. The log's clock is the wall clock, as the probe's; its resolution 1 ms.
    const commit = given && took ? Math.min(given.t, took.t) : undefined;
    return {
      pausedMs,
      inflight: m ? Number(m[3]) : undefined,
      pause: commit !== undefined && pausedMs !== undefined ? { t0: commit - pausedMs - 1, t1: commit + 1 } : undefined,
      askedToTook: asked && took ? took.t - asked.t : undefined,
    };
  });
}

/** The table and the lines under it; ok false when the live client saw an error or lost an append. */
function report({ live, plain, held, paths, appends, log, loads, secs, at }) {
  const heldLong = held.flatMap((h) => h.long);
  const longMs = held[0]?.longMs ?? 0.5;
  const opName = (op) => held[0].ops3[op[2]];
  // A window with no op as long as the probe keeps counts as that length (an upper bound).
  const atLeast = (op) => op?.[1] ?? longMs;
  const ho = handovers(log, live);
  const blockedOps = ho.map((h) => h.pause && longestOp(heldLong, h.pause));
  const pause = ho.map((h, i) => (h.pause ? atLeast(blockedOps[i]) : undefined));
  const pauseIdle = live.map((w, i) => (ho[i].pause ? atLeast(longestOp(heldLong, { t0: w.idle, t1: w.idle + ho[i].pause.t1 - ho[i].pause.t0 })) : undefined));
  const whole = live.map((w) => atLeast(longestOp(heldLong, w)));
  const wholeIdle = live.map((w) => atLeast(longestOp(heldLong, { t0: w.idle, t1: w.idle + Math.min(w.t1 - w.t0, IDLE_MAX_MS) })));
  const blocked = {};
  for (const op of blockedOps) if (op) blocked[opName(op)] = (blocked[opName(op)] ?? 0) + 1;
  // How far the blocked op ran past the commit (the new daemon reading, the op's answer coming back).
  const pastCommit = ho.map((h, i) => (blockedOps[i] ? blockedOps[i][0] + blockedOps[i][1] - (h.pause.t1 - 1) : undefined));
  const pathLong = paths.flatMap((p) => p.long);
  const streaks = paths.flatMap((p) => p.streaks);
  // One outage per restart: its failure streaks taken together (a stat answered from the kernel's
  // cache can succeed between the old daemon's EIO and the unmount's ENOENT).
  const spans = plain.map((w) => {
    const inW = streaks.filter((s) => s.okEnd && overlaps(s.lastOkEnd, s.okEnd, w));
    return inW.length ? { from: Math.min(...inW.map((s) => s.lastOkEnd)), to: Math.max(...inW.map((s) => s.okEnd)) } : undefined;
  });
  const outage = plain.map((w, i) => Math.max(longestOp(pathLong, w)?.[1] ?? -Infinity, spans[i] ? spans[i].to - spans[i].from : -Infinity));
  const heldErrors = held.reduce((n, h) => n + h.errors, 0);
  const heldOps = held.reduce((n, h) => n + h.ops, 0);
  const pathErrors = paths.reduce((n, p) => n + p.errors, 0);
  const codes = {};
  for (const s of streaks) for (const [code, [, n]] of Object.entries(s.codes)) codes[code] = (codes[code] ?? 0) + n;
  const p99 = pct(defined(pause), 99);
  const p99whole = pct(whole, 99);

  const row = (what, how, a, ps) => `| ${what} | ${how} | ${defined(a).length} | ${ps.map((p) => (p === null ? '' : f(pct(defined(a), p)))).join(' | ')} |`;
  const all = [50, 99, 100];
  const text = [
    `${live.length} live and ${plain.length} plain restarts interleaved, ${at.slice(0, 16)}Z, ${secs.toFixed(0)} s; load average (1/5/15 min) ${loads.join(' → ')} (2 cores, shared).`,
    `Client ops kept one by one from ${longMs} ms up (a window with none that long counts as ${longMs} ms); p99 by nearest rank (with fewer than 100 rounds, the largest). The op in progress during the pause was: ${Object.entries(blocked).map(([k, n]) => `${k} ×${n}`).join(', ')} (an op the kernel answers from its caches, as stat and the read of a held fd are here, never waits for a daemon).`,
    '',
    '| measure | what it is | n | p50 ms | p99 ms | max ms |',
    '|---|---|---:|---:|---:|---:|',
    row('**live: client pause**', 'the longest op of the client (cwd in the mount; stat, read of a held fd, append through a held fd, one at a time) in progress during the handover\'s pause (the old daemon\'s pause → the commit)', pause, all),
    row('live: no restart', 'the same, over a window as long, right after the command (noise floor)', pauseIdle, all),
    row('live: longest op over the command', 'the same client, the longest op overlapping `restart --live` from its start to its exit (the new daemon\'s Node start competes for the CPU)', whole, all),
    row('live: no restart', 'the same, over a window as long as the command, right after it (noise floor)', wholeIdle, all),
    row('live: old daemon paused', 'its log, "paused N ms": its pause → its commit (drain, snapshot sent, the new daemon\'s receive, checks and ACK)', ho.map((h) => h.pausedMs), all),
    row('live: blocked op past the commit', 'the end of the client\'s blocked op − the commit (the new daemon reading, the answer coming back; a lower bound: the commit is logged a little after it happens)', pastCommit, all),
    row('live: SIGUSR2 → took over', 'daemon log: the old daemon asked → the new one logs "took the mount over" (its loop running)', ho.map((h) => h.askedToTook), all),
    row('live: `restart --live` wall', 'the command, start to exit (a new Node daemon started, the handover, the old one\'s exit)', live.map((w) => w.t1 - w.t0), all),
    row('**plain: client outage**', 'a client opening by absolute path each op: from its last good answer before the first failure to its first good answer after the last one (or its longest blocked op, if longer)', outage, [50, null, 100]),
    row('plain: good again after the exit', 'that first good answer, counted from `restart` exiting (negative: before)', plain.map((w, i) => (spans[i] ? spans[i].to - w.t1 : undefined)), [50, null, 100]),
    row('plain: `restart` wall', 'the command, start to exit (stop: unmount; mount --background)', plain.map((w) => w.t1 - w.t0), [50, null, 100]),
    '',
    `Live: ${heldErrors} client errors in ${heldOps.toLocaleString('en')} ops${heldErrors ? ` (first: ${held.find((h) => h.errors)?.firstError})` : ''}; appends through the held fds ${appends.ok ? 'all there, once, in order' : `NOT as appended (${appends.logged} lines, ${appends.appended} appended)`}; old daemon gone when the command exited: ${live.filter((w) => w.oldExited).length}/${live.length}; requests in flight at the pause (drained): max ${Math.max(0, ...defined(ho.map((h) => h.inflight)))}.`,
    `Plain: ${pathErrors} failed client ops over ${plain.length} restarts (${Object.entries(codes).map(([c, n]) => `${c} ${n}`).join(', ')}: EIO is the op under way when the old daemon ended, ENOENT the empty mountpoint); client good again after every restart: ${plain.every((w) => w.recovered) ? 'yes' : 'NO'}.`,
    `Goal (issue 21): p99 pause ≤ ${GOAL_MS} ms: ${p99 <= GOAL_MS ? 'met' : 'not met'} (${f(p99)} ms; the longest op over the whole command: p99 ${f(p99whole)} ms, ${p99whole <= GOAL_MS ? 'also within' : 'over'} it).`,
  ].join('\n');
  return { text, ok: heldErrors === 0 && appends.ok };
}

// ---- main ------------------------------------------------------------------------------------

if (process.env.FROM_RAW) {
  console.log(report(JSON.parse(readFileSync(process.env.FROM_RAW, 'utf8'))).text);
} else if (process.getuid?.() !== 0) {
  console.log('live-restart.mjs: skipped (needs root: our own FUSE session mounts with mount(2))');
} else {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const b = bench();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      b.cleanup();
      process.exit(130);
    });
  }
  try {
    const raw = await b.run();
    if (process.env.RAW) writeFileSync(process.env.RAW, JSON.stringify(raw));
    const { text, ok } = report(raw);
    console.log(text);
    if (!ok) process.exitCode = 1;
  } finally {
    b.cleanup();
  }
}
