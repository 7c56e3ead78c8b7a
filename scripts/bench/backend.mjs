// Backend I/O: (1) sync vs async fs calls for the fast-path rule, (2) healthy stat latency
// while 16 reads hang on a slow source, (3) daemon RSS over ≥1M ops through the mount.
// Every op is issued from this process; the daemons are separate processes.
//
//   node scripts/bench/backend.mjs [fastpath|hung|memory ...]   (default: all three)
//   OPS=1000000 (memory phase), CONCURRENCY=24, ROUNDS=3 (hung phase)
// Internal: node scripts/bench/backend.mjs serve <source> <mnt> [--sync-getattr] [--lane-limit=N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../..', import.meta.url).pathname;
const cli = join(root, 'dist/cli/main.js');
const slowFs = join(root, 'test/fixtures/slow-fs.mjs');
const self = new URL(import.meta.url).pathname;

/** A bench-only daemon: the real passthrough, optionally with a sync getattr or no lane split. */
async function serve(args) {
  const { mountFuse } = await import(join(root, 'dist/daemon/fuse/mount.js'));
  const { createPassthroughOps } = await import(join(root, 'dist/daemon/passthrough/ops.js'));
  const { createScheduler } = await import(join(root, 'dist/daemon/backend/scheduler.js'));
  const [source, mnt] = args.filter((a) => !a.startsWith('--'));
  const lane = args.find((a) => a.startsWith('--lane-limit='));
  const scheduler = createScheduler(lane ? { laneLimit: Number(lane.split('=')[1]) } : {});
  const ops = createPassthroughOps(source, { scheduler });
  if (args.includes('--sync-getattr')) {
    ops.getattr = (path, cb) => {
      try {
        const st = fs.lstatSync(path === '/' ? source : source + path);
        cb(0, { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev, nlink: st.nlink, ino: st.ino, rdev: st.rdev, blksize: st.blksize, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime });
      } catch (err) {
        cb(-(err.errno ? Math.abs(err.errno) : 5));
      }
    };
  }
  const m = await mountFuse({ mountpoint: mnt, ops, fsname: 'mountie:bench', subtype: 'mountie' });
  process.stdout.write('READY\n');
  const stop = () => m.unmount().finally(() => process.kill(process.pid, 'SIGKILL')); // stuck calls: see src/cli/exit.ts
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
}

// ---------------------------------------------------------------------------------------------

function pct(a, p) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (v) => `${v.toFixed(3)} ms`;
const summary = (lat) => `n=${lat.length} p50 ${ms(pct(lat, 50))} p99 ${ms(pct(lat, 99))} max ${ms(lat.reduce((a, b) => (b > a ? b : a), -Infinity))}`; // no spread: 10^5+ samples overflow the stack

function waitLine(child, re, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms: ${buf}`)), timeoutMs);
    const on = (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) {
        clearTimeout(t);
        child.stdout.off('data', on);
        resolve(m);
      }
    };
    child.stdout.setEncoding('utf8').on('data', on);
  });
}

/** Start slow-fs (the other engineer's fixture): control lines on stdin, answers on stdout. */
async function startSlowFs(mnt, slowFiles) {
  const child = spawn(process.execPath, [slowFs, mnt, `--slow-files=${slowFiles}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  await waitLine(child, /READY\n/);
  return {
    child,
    async cmd(line, re) {
      const p = waitLine(child, re);
      child.stdin.write(`${line}\n`);
      return (await p)[0];
    },
    async stop() {
      child.stdin.end(); // slow-fs answers what it holds, unmounts, exits
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}

function makeTree(dir, n) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}`), 'x'.repeat(64));
}

/**
 * Stat files of `dir` (f0..f<pool-1>) round-robin from `state.next`, never one seen in the last
 * 1.2 s: every stat misses the kernel's 1 s attr/entry cache and reaches the daemon.
 */
function statLatencies(dir, state, n) {
  state.seen ??= new Float64Array(state.pool);
  const lat = [];
  for (let k = 0; k < n; k++) {
    const i = state.next++ % state.pool;
    while (performance.now() - state.seen[i] < 1200 && state.seen[i] > 0) { /* spin: the cache must expire */ }
    const t0 = performance.now();
    fs.statSync(join(dir, `f${i}`));
    const t1 = performance.now();
    state.seen[i] = t1;
    lat.push(t1 - t0);
  }
  return lat;
}

function mountie(home, ...args) {
  const env = { ...process.env, MOUNTIE_HOME: home };
  delete env.UV_THREADPOOL_SIZE; // this client's 64 is not the daemon's business
  return execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

function daemonPid(home, ws) {
  return JSON.parse(readFileSync(join(home, 'workspaces', ws, 'daemon.pid'), 'utf8')).pid;
}

function procStatus(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, threads: kb('Threads') };
}

async function withHome(name, fn) {
  const home = mkdtempSync(join(tmpdir(), `mountie-bench-${name}-`));
  const cleanups = [];
  try {
    return await fn(home, (c) => cleanups.push(c));
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((e) => console.log(`cleanup: ${e.message}`));
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mp = line.split(' ')[4];
      if (mp?.startsWith(home)) execFileSync('fusermount', ['-uz', mp], { stdio: 'ignore' });
    }
    rmSync(home, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** A bench-only daemon (serve mode); returns a stopper. */
async function startServe(source, mnt, flags) {
  mkdirSync(mnt, { recursive: true });
  const env = { ...process.env, UV_THREADPOOL_SIZE: '16' }; // as the launcher gives a daemon
  const child = spawn(process.execPath, [self, 'serve', source, mnt, ...flags], { stdio: ['pipe', 'pipe', 'inherit'], env });
  await waitLine(child, /READY\n/);
  return () => {
    child.stdin.end();
    return new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  };
}

// ---------------------------------------------------------------------------------------------

async function fastpath() {
  console.log('\n== fast path: sync vs async fs calls');
  await withHome('fastpath', async (home, defer) => {
    const src = join(home, 'src');
    makeTree(src, 20_000);
    // Raw calls, no FUSE: what a sync call would save inside the daemon.
    for (const [name, run] of [
      ['lstatSync', async (p) => fs.lstatSync(p)],
      ['fs.promises.lstat', (p) => fs.promises.lstat(p)],
    ]) {
      for (let i = 0; i < 20_000; i++) await run(join(src, `f${i}`)); // warm dentries
      const t0 = performance.now();
      for (let i = 0; i < 100_000; i++) await run(join(src, `f${i % 20_000}`));
      console.log(`  raw ${name}: ${((performance.now() - t0) / 100).toFixed(2)} µs/call (100k, sequential)`);
    }
    // Through a mount: stat latency of distinct files, getattr async (as shipped) vs sync.
    for (const flags of [[], ['--sync-getattr']]) {
      const mnt = join(home, `mnt${flags.length}`);
      const stop = await startServe(src, mnt, flags);
      defer(stop);
      const files = { pool: 20_000, next: 0 };
      statLatencies(mnt, files, 2000); // warm up
      console.log(`  stat through the mount, getattr ${flags.length ? 'sync ' : 'async'}: ${summary(statLatencies(mnt, files, 18_000))}`);
    }
    // The price of sync: a sync getattr that hangs on the source stalls every other op.
    const slowMnt = join(src, 'nested-slow');
    const slow = await startSlowFs(slowMnt, 4);
    defer(() => slow.stop());
    const mnt = join(home, 'mnt-sync-hang');
    const stop = await startServe(src, mnt, ['--sync-getattr']);
    defer(stop);
    await slow.cmd('hang-all', /OK hang-all\n/);
    const hung = fs.promises.stat(join(mnt, 'nested-slow', 'fast', 'a.txt')).catch((e) => e.code);
    await sleep(200);
    const t0 = performance.now();
    const healthy = fs.promises.stat(join(mnt, 'f1')).then(() => performance.now() - t0);
    const r = await Promise.race([healthy, sleep(3000).then(() => 'still waiting after 3000 ms')]);
    console.log(`  sync getattr, one stat hung on the source: a healthy stat took ${typeof r === 'number' ? ms(r) : r}`);
    await slow.cmd('heal', /OK heal \d+\n/);
    await hung;
    await healthy;
  });
}

async function hung() {
  const rounds = Number(process.env.ROUNDS ?? 3);
  console.log(`\n== healthy stat latency while 16 reads hang on the source (${rounds} rounds)`);
  await withHome('hung', async (home, defer) => {
    const src = join(home, 'src');
    makeTree(src, 20_000);
    const slow = await startSlowFs(join(src, 'slow-src'), 16 * (rounds + 1));
    defer(() => slow.stop());
    mountie(home, 'mount', 'ws', '--source', src, '--background');
    defer(() => mountie(home, 'stop', 'ws'));
    const mnt = join(home, 'mnt', 'ws');
    const pid = daemonPid(home, 'ws');
    const files = { pool: 20_000, next: 0 };
    statLatencies(mnt, files, 3000); // warm up
    const base = statLatencies(mnt, files, 15_000);
    console.log(`  no hung ops:   ${summary(base)}`);
    const all = [];
    for (let r = 0; r < rounds; r++) {
      const reads = [];
      for (let i = 0; i < 16; i++) {
        const f = join(mnt, 'slow-src', 'slow', `file${r * 16 + i}`);
        reads.push(fs.promises.readFile(f).then(() => 'data', (e) => e.code));
      }
      await sleep(500); // let them reach the source
      const held = await slow.cmd('count', /HUNG .*\n/);
      const t0 = performance.now();
      const lat = [];
      while (performance.now() - t0 < 3500) lat.push(...statLatencies(mnt, files, 500));
      all.push(...lat);
      const st = JSON.parse(readFileSync(join(home, 'workspaces', 'ws', 'state.json'), 'utf8'));
      console.log(`  round ${r + 1}: slow-fs ${held.trim()}; daemon backend ${JSON.stringify({ inFlight: st.backend?.inFlight, queued: st.backend?.queued, stuck: st.backend?.stuck })}; stats ${summary(lat)}`);
      const outcomes = await Promise.all(reads);
      const counts = outcomes.reduce((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {});
      await sleep(2100); // one health check later
      console.log(`           the 16 hung reads ended with ${JSON.stringify(counts)}; then mountie status: ${mountie(home, 'status', 'ws').trim().replace(/^.*(state=.*)$/, '$1')}`);
      await slow.cmd('release', /OK release \d+\n/);
      await sleep(300);
    }
    console.log(`  all rounds:    ${summary(all)}  (goal p99 ≤ 10 ms); daemon ${JSON.stringify(procStatus(pid))}`);

    // Control: the same with one shared lane (laneLimit = limit = 13), in a bench-only daemon.
    const mnt2 = join(home, 'mnt-one-lane');
    defer(await startServe(src, mnt2, ['--lane-limit=13']));
    const reads = Array.from({ length: 16 }, (_, i) => fs.promises.readFile(join(mnt2, 'slow-src', 'slow', `file${rounds * 16 + i}`)).catch((e) => e.code));
    await sleep(500);
    const tries = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = await fs.promises.stat(join(mnt2, `f${i}`)).then(() => 'ok', (e) => e.code);
      tries.push(`${r} after ${(performance.now() - t0).toFixed(0)} ms`);
    }
    console.log(`  control, no lane split: 3 healthy stats → ${tries.join(', ')}`);
    await slow.cmd('release', /OK release \d+\n/);
    await Promise.all(reads);
  });
}

async function memory() {
  const total = Number(process.env.OPS ?? 1_000_000);
  const conc = Number(process.env.CONCURRENCY ?? 24);
  console.log(`\n== daemon RSS over ${total} ops through the mount (client concurrency ${conc})`);
  await withHome('memory', async (home, defer) => {
    const src = join(home, 'src');
    makeTree(src, 5000);
    mountie(home, 'mount', 'ws', '--source', src, '--background');
    defer(() => mountie(home, 'stop', 'ws'));
    const mnt = join(home, 'mnt', 'ws');
    const pid = daemonPid(home, 'ws');
    const state = () => JSON.parse(readFileSync(join(home, 'workspaces', 'ws', 'state.json'), 'utf8'));
    const opsDone = () => Object.values(state().counters.ops).reduce((a, b) => a + b, 0);
    const tids = new Set();
    const sampleTids = () => fs.readdirSync(`/proc/${pid}/task`).forEach((t) => tids.add(t));
    const sampler = setInterval(sampleTids, 100);
    defer(() => clearInterval(sampler));
    // One client op = access (FUSE_ACCESS, never cached) or open+read+close (OPEN, READ once, FLUSH, RELEASE).
    let i = 0;
    const one = async () => {
      const f = join(mnt, `f${i++ % 5000}`);
      if (i % 2) return fs.promises.access(f);
      const fh = await fs.promises.open(f, 'r');
      await fh.read(Buffer.alloc(64), 0, 64, 0);
      await fh.close();
    };
    // Per-op cost as the daemon ages: sequential stats of distinct files, before and after.
    const probeFiles = { pool: 5000, next: 0 };
    statLatencies(mnt, probeFiles, 2000);
    const statBefore = statLatencies(mnt, probeFiles, 3000);
    const t0 = performance.now();
    const samples = [];
    const sample = () => {
      const st = state();
      const x = { ops: opsDone(), ...procStatus(pid), threadsSeen: tids.size, fuseThreads: st.backend?.fuseThreads, s: (performance.now() - t0) / 1000 };
      samples.push(x);
      const rate = samples.length > 1 ? `  ${(((x.ops - samples.at(-2).ops) / (x.s - samples.at(-2).s)) | 0)} ops/s` : '';
      console.log(`  ${String(x.ops).padStart(8)} ops  RSS ${x.rssMb.toFixed(1)} MB  threads now ${x.threads}, distinct seen ${x.threadsSeen}, libfuse workers created ${x.fuseThreads}  ${x.s.toFixed(0)} s${rate}`);
    };
    sample();
    // Continuous workers (no batch barriers), stopped once the daemon counted `total` ops.
    let stop = false;
    let mark = 0;
    const watch = setInterval(() => {
      const done = opsDone();
      if (done >= ((mark + 1) * total) / 4) {
        mark++;
        sample();
      }
      if (done >= total) stop = true;
    }, 250);
    defer(() => clearInterval(watch));
    await Promise.all(Array.from({ length: conc }, async () => {
      while (!stop) await one();
    }));
    clearInterval(watch);
    const first = samples[1] ?? samples[0]; // after the first quarter: heap and JIT warmed up
    const lastS = samples.at(-1);
    console.log(`  RSS ${first.rssMb.toFixed(1)} → ${lastS.rssMb.toFixed(1)} MB from ${first.ops} to ${lastS.ops} ops; libfuse workers created ${first.fuseThreads} → ${lastS.fuseThreads}`);
    await sleep(1200); // the probe files' cache entries expire
    console.log(`  sequential stat before: ${summary(statBefore)}`);
    console.log(`  sequential stat after:  ${summary(statLatencies(mnt, probeFiles, 3000))}`);
  });
}

async function main(which) {
  const phases = { fastpath, hung, memory };
  for (const name of which.length ? which : Object.keys(phases)) {
    if (!phases[name]) throw new Error(`unknown phase ${name}`);
    await phases[name]();
  }
}

if (process.argv[2] === 'serve') await serve(process.argv.slice(3));
else if (process.env.UV_THREADPOOL_SIZE !== '64') {
  // This client needs room for 16 hung reads plus its own work. Setting the variable from an ES
  // module is too late (the loader already started the pool), so run again with it set.
  const r = spawnSync(process.execPath, [self, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: '64' } });
  process.exitCode = r.status ?? 1;
} else await main(process.argv.slice(2));
