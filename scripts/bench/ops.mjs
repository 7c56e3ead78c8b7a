// A kind's own ops (issue 19): the native core's JS-ops mode against fuse-native, with the native
// passthrough as the floor, interleaved in one run. Three workloads:
//  cpu   daemon CPU per request and RSS: 24 worker threads each create, write one byte to and unlink
//        their own files, ITER times, on examples/ramfs ({ fs }; its FsOps copy for fuse-native and
//        native-fsops) and the passthrough of a private tmpfs;
//        requests from state.json's counters (fuse-native: the op calls its FsOps got, FORGET not among
//        them), CPU from /proc/<pid>/stat; also CPU per iteration (create+write+unlink: the same
//        work whatever each daemon counts as a request), the fair ratio.
//  read  sequential read of a 1 GiB file held in the daemon's JavaScript buffers (ramfs), with
//        O_DIRECT so every byte is a request to the daemon (no page cache), 1 MiB reads.
//  hung  healthy stat latency (p50/p99 over STAT_MS, a new name each time) while 16 reads hang in
//        JavaScript (scripts/bench/fixtures/hangfs.mjs: its read never answers those).
//   node scripts/bench/ops.mjs [cpu] [read] [hung]      (default: all; env ITER=3800, ROUNDS=1 (cpu, interleaved),
//        STAT_MS=5000, TARGETS=native,native-fsops,fuse-native,passthrough; the target native@old with
//        OLD=<a built checkout>: its examples/ramfs on its core, to compare builds in the same run;
//        RSS_SERIES=1 prints each second's RSS of every cpu run)
// Needs root (tmpfs), `npm run build` (dist/, dist-examples/) and the native addon. fuse-native is
// the `fuse-native` package serving the same FsOps copy directly (scripts/bench/fixtures/
// fuse-native-fsops.mjs, a devDependency only): mountie's own fuse-native path is gone.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpuMs, load, must, rssMb, sh as shBounded } from './proc-lib.mjs';

const REPO = new URL('../..', import.meta.url).pathname;
const MOUNTIE = join(REPO, 'dist/cli/main.js');
const RAMFS = process.env.RAMFS_CLI ?? join(REPO, 'dist-examples/ramfs/cli.js');
/** The same file system on the callback-style FsOps (a bench-only copy): what fuse-native can serve. */
const RAMFS_FSOPS = join(REPO, 'scripts/bench/fixtures/ramfs-fsops/cli.js');
const FUSE_NATIVE = join(REPO, 'scripts/bench/fixtures/fuse-native-fsops.mjs');
const OLD = process.env.OLD;
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const ITER = Number(process.env.ITER ?? 3800);
const STAT_MS = Number(process.env.STAT_MS ?? 5000);
const THREADS = 24;
const phases = process.argv.slice(2).length ? process.argv.slice(2) : ['cpu', 'read', 'hung'];
// native: examples/ramfs ({ fs }) on the core; native-fsops: its FsOps copy on the core; fuse-native: that copy on fuse-native.
const TARGETS = (process.env.TARGETS ?? 'native,native-fsops,fuse-native,passthrough').split(',');

const sh = (cmd, args, opts = {}) => shBounded(cmd, args, { timeout: 600_000, ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const base = mkdtempSync(join(tmpdir(), 'mountie-bench-ops-'));
const tmpfs = join(base, 'tmpfs');
mkdirSync(tmpfs);

/** A fuse-native daemon (the fixture) at `mp` serving `which`; resolves once mounted. */
function forkFuseNative(mp, which, timeoutMs) {
  const child = fork(FUSE_NATIVE, [mp, which, String(timeoutMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (msg, key) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fuse-native fixture: no ${key} in 30 s`)), 30_000);
      const on = (m) => {
        if (m?.[key] === undefined) return;
        clearTimeout(t);
        child.off('message', on);
        resolve(m[key]);
      };
      child.on('message', on);
      child.once('exit', (code) => reject(new Error(`fuse-native fixture exited (${code})`)));
      if (msg) child.send(msg);
    });
  const stop = () =>
    new Promise((resolve) => {
      const t = setTimeout(() => (child.kill('SIGKILL'), sh('umount', ['-l', mp]), resolve()), 10_000);
      child.once('exit', () => (clearTimeout(t), resolve()));
      child.send({ stop: 1 });
    });
  return ask(undefined, 'ready').then(() => ({ pid: child.pid, counts: () => ask({ counts: 1 }, 'counts'), stop }));
}

/** Mount target `t` in its own home; returns { pid, mp, requests(), stop() }. */
async function mountTarget(t, round = 0) {
  const home = join(base, `home-${t}-${round}`);
  const mp = join(base, `mnt-${t}-${round}`);
  mkdirSync(mp, { recursive: true });
  const fromState = () => requestsSoFar(home);
  if (t === 'passthrough') {
    const src = join(tmpfs, `src-${round}`);
    mkdirSync(src, { recursive: true });
    const env = { ...process.env, MOUNTIE_HOME: home };
    const r = must(sh(process.execPath, [MOUNTIE, 'mount', 'ws', '--source', src, '--at', mp, '--background', '--json'], { env }), 'mountie mount');
    return { pid: JSON.parse(r.stdout).pid, mp, requests: fromState, stop: () => sh(process.execPath, [MOUNTIE, 'stop', 'ws'], { env }) };
  }
  if (t === 'fuse-native') {
    const f = await forkFuseNative(mp, 'ramfs', 15_000);
    const requests = async () => {
      const ops = await f.counts();
      return { total: Object.values(ops).reduce((a, b) => a + b, 0), dataPath: 'fuse-native', ops };
    };
    return { pid: f.pid, mp, requests, stop: f.stop };
  }
  const env = { ...process.env, RAMFS_HOME: home };
  const cli = t === 'native' ? RAMFS : t === 'native@old' ? join(OLD, 'dist-examples/ramfs/cli.js') : RAMFS_FSOPS;
  const r = must(sh(process.execPath, [cli, 'mount', 'ws', '--at', mp, '--json'], { env }), 'ramfs mount');
  return { pid: JSON.parse(r.stdout).pid, mp, requests: fromState, stop: () => sh(process.execPath, [cli, 'stop', 'ws'], { env }) };
}

function requestsSoFar(home) {
  try {
    const st = JSON.parse(readFileSync(join(home, 'workspaces', 'ws', 'state.json'), 'utf8'));
    const ops = st.counters?.ops ?? {};
    return { total: Object.values(ops).reduce((a, b) => a + b, 0), dataPath: st.dataPath, ops };
  } catch {
    return { total: undefined, dataPath: undefined, ops: {} };
  }
}

const workerCode = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeFileSync, unlinkSync } = require('node:fs');
const { dir, iter, id } = workerData;
for (let i = 0; i < iter; i++) {
  const f = dir + '/t' + id + '-' + (i % 16);
  writeFileSync(f, 'x');
  unlinkSync(f);
}
parentPort.postMessage('done');
`;

async function cpuPhase(t, round) {
  const m = await mountTarget(t, round);
  try {
    const before = (await m.requests()).total ?? 0;
    const cpu0 = cpuMs(m.pid);
    const rss = [rssMb(m.pid)];
    const sampler = setInterval(() => rss.push(rssMb(m.pid)), 1000);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: THREADS }, (_, id) => new Promise((resolve, reject) => {
      const w = new Worker(workerCode, { eval: true, workerData: { dir: m.mp, iter: ITER, id } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    const ms = performance.now() - t0;
    clearInterval(sampler);
    rss.push(rssMb(m.pid));
    const cpu = cpuMs(m.pid) - cpu0;
    await sleep(1500); // the state writer publishes counters every 500 ms
    const after = await m.requests();
    return { t, round, ms, cpu, rss, requests: after.total === undefined ? undefined : after.total - before, dataPath: after.dataPath, ops: after.ops, load: load() };
  } finally {
    await m.stop();
  }
}

async function readPhase(t) {
  const m = await mountTarget(t);
  try {
    const f = join(m.mp, 'big');
    must(sh('dd', ['if=/dev/zero', `of=${f}`, 'bs=1M', 'count=1024', 'status=none']), 'dd write');
    const cpu0 = cpuMs(m.pid);
    const t0 = performance.now();
    must(sh('dd', [`if=${f}`, 'of=/dev/null', 'bs=1M', 'iflag=direct', 'status=none']), 'dd read');
    const ms = performance.now() - t0;
    return { t, ms, mibPerS: 1024 / (ms / 1000), cpu: cpuMs(m.pid) - cpu0, rss: rssMb(m.pid) };
  } finally {
    await m.stop();
  }
}

async function hungPhase(t) {
  if (t !== 'native' && t !== 'fuse-native') return undefined;
  const api = await import(join(REPO, 'dist/index.js'));
  const { hangfs, HANGFS } = await import(join(REPO, 'scripts/bench/fixtures/hangfs.mjs'));
  const home = join(base, `hang-${t}`);
  const env = { ...process.env, MOUNTIE_OP_DEADLINE_MS: '60000' };
  let fn;
  if (t === 'fuse-native') {
    const mp = join(base, 'hang-fuse-native-mnt');
    mkdirSync(mp, { recursive: true });
    fn = await forkFuseNative(mp, 'hangfs', 60_000);
  }
  const s = fn ? { mountpoint: join(base, 'hang-fuse-native-mnt') } : await api.launch('ws', { daemon: hangfs, home, env });
  let hung;
  try {
    // 16 processes each block in a read the daemon never answers (until its 60 s deadline).
    hung = Array.from({ length: 16 }, (_, i) => spawn('dd', [`if=${join(s.mountpoint, `hang-${i}`)}`, 'of=/dev/null', 'bs=4k', 'count=1', 'iflag=direct', 'status=none'], { stdio: 'ignore' }));
    await sleep(300);
    const lat = [];
    const end = Date.now() + STAT_MS;
    let failed = 0;
    while (Date.now() < end) {
      const t0 = performance.now();
      const bound = sleep(2000).then(() => 'slow');
      const r = await Promise.race([stat(join(s.mountpoint, `ok-${lat.length}`)).then(() => 'ok', () => 'err'), bound]);
      lat.push(performance.now() - t0);
      if (r !== 'ok') failed++;
    }
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    return { t, n: lat.length, p50: q(0.5), p99: q(0.99), failed };
  } finally {
    for (const h of hung ?? []) h.kill('SIGKILL');
    if (fn) await fn.stop();
    else await api.stop('ws', { home, kind: HANGFS }).catch(() => undefined);
  }
}

const out = { cpu: [], read: [], hung: [] };
try {
  if (phases.includes('cpu') || phases.includes('read')) must(sh('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', tmpfs]), 'mount tmpfs');
  for (let round = 0; round < ROUNDS; round++) for (const t of TARGETS) if (phases.includes('cpu')) out.cpu.push(await cpuPhase(t, round));
  for (const t of TARGETS) if (phases.includes('read')) out.read.push(await readPhase(t));
  for (const t of TARGETS) if (phases.includes('hung')) { const r = await hungPhase(t); if (r) out.hung.push(r); }
} finally {
  sh('umount', [tmpfs]);
  rmSync(base, { recursive: true, force: true });
}

const by = (list, t) => list.find((r) => r.t === t);
console.log(`ops.mjs: ${new Date().toISOString()}, load average ${load()}`);
if (out.cpu.length) {
  const median = (xs) => {
    const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
    return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : undefined;
  };
  const perReq = (r) => (r?.requests ? (r.cpu * 1000) / r.requests : undefined);
  const perIter = (r) => (r.cpu * 1000) / (THREADS * ITER);
  const med = (t, f) => median(out.cpu.filter((r) => r.t === t).map(f));
  const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '-');
  console.log(`\ncpu: ${THREADS} threads × ${ITER} create+write+unlink, ${ROUNDS} interleaved round(s)`);
  console.log('| round | target | data path | wall s | daemon CPU s | requests | CPU µs/request | CPU µs/iteration | RSS MB start → peak → end | load after |');
  console.log('|---:|---|---|---:|---:|---:|---:|---:|---|---|');
  for (const r of out.cpu) {
    console.log(`| ${r.round + 1} | ${r.t} | ${r.dataPath ?? '-'} | ${(r.ms / 1000).toFixed(1)} | ${(r.cpu / 1000).toFixed(2)} | ${r.requests ?? '-'} | ${perReq(r)?.toFixed(1) ?? '-'} | ${perIter(r).toFixed(1)} | ${r.rss[0].toFixed(0)} → ${Math.max(...r.rss).toFixed(0)} → ${r.rss.at(-1).toFixed(0)} | ${r.load} |`);
  }
  // RSS_SERIES=1: every second's RSS sample, to see whether it levels off after the warm-up.
  if (process.env.RSS_SERIES) for (const r of out.cpu) console.log(`rss ${r.t} round ${r.round + 1} (MB, 1 s apart): ${r.rss.map((x) => x.toFixed(0)).join(' ')}`);
  console.log('\nmedians');
  console.log('| target | CPU µs/request | ÷ fuse-native | ÷ passthrough | CPU µs/iteration | ÷ fuse-native | ÷ passthrough | requests/iteration (by op) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---|');
  const [fnR, ptR, fnI, ptI] = [med('fuse-native', perReq), med('passthrough', perReq), med('fuse-native', perIter), med('passthrough', perIter)];
  for (const t of TARGETS) {
    const [q, i] = [med(t, perReq), med(t, perIter)];
    const last = out.cpu.filter((r) => r.t === t).at(-1);
    const byOp = Object.entries(last?.ops ?? {}).map(([k, n]) => `${k} ${(n / (THREADS * ITER)).toFixed(2)}`).join(', ');
    console.log(`| ${t} | ${q?.toFixed(1) ?? '-'} | ${ratio(q, fnR)} | ${ratio(q, ptR)} | ${i?.toFixed(1) ?? '-'} | ${ratio(i, fnI)} | ${ratio(i, ptI)} | ${byOp} |`);
  }
}
if (out.read.length) {
  const fn = by(out.read, 'fuse-native')?.mibPerS;
  console.log('\nread: 1 GiB, dd bs=1M iflag=direct');
  console.log('| target | MiB/s | ÷ fuse-native | daemon CPU s | RSS MB after |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of out.read) console.log(`| ${r.t} | ${r.mibPerS.toFixed(0)} | ${fn ? (r.mibPerS / fn).toFixed(2) : '-'} | ${(r.cpu / 1000).toFixed(2)} | ${r.rss.toFixed(0)} |`);
}
if (out.hung.length) {
  console.log(`\nhung: stat of a healthy file for ${STAT_MS} ms while 16 reads hang in JavaScript`);
  console.log('| target | stats | p50 ms | p99 ms | failed or over 2 s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of out.hung) console.log(`| ${r.t} | ${r.n} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.failed} |`);
}
