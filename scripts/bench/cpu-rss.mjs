// Daemon CPU per request and RSS under a long load (issue 10's goals: CPU per request ≤ 1.5×
// bindfs; RSS flat over 1M requests with 24 client threads). Each target serves the same private
// tmpfs source: `mountie mount` (the native core) and bindfs -o big_writes. 24 worker threads each create, write one byte to, and unlink their own
// files (every step reaches the daemon: LOOKUP, CREATE, WRITE, RELEASE, UNLINK; neither daemon
// takes FLUSH), ITER times. The daemon's CPU (utime+stime from /proc/<pid>/stat) and RSS (VmRSS) are sampled each
// second. For mountie the request count comes from state.json's counters; bindfs serves the same
// workload, so CPU per workload compares as CPU per request.
//   node scripts/bench/cpu-rss.mjs            (env: ITER per thread, default 3800, about 1M requests; TARGETS=mountie,bindfs)
// (Its old `js` target, the JavaScript passthrough on fuse-native, left with that path: fuse-native
// alone has no passthrough to serve. scripts/bench/ops.mjs still compares fuse-native, on ramfs.)
// Needs root, bindfs, `npm run build` (+ build:native for the native path).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpuMs, load, must, rssMb, sh } from './proc-lib.mjs';

const REPO = new URL('../..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/cli/main.js');
const ITER = Number(process.env.ITER ?? 3800);
const THREADS = 24;
const TARGETS = (process.env.TARGETS ?? 'mountie,bindfs').split(',');
for (const t of TARGETS) if (t !== 'mountie' && t !== 'bindfs') throw new Error(`cpu-rss.mjs: unknown target ${t} (mountie, bindfs)`);


/** The process whose argv names this mountpoint (bindfs daemonizes; ours to find by its own unique path). */
function pidServing(mp) {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.includes(mp) && argv[0].endsWith('bindfs')) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no bindfs serving ${mp}`);
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

async function drive(dir) {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: THREADS }, (_, id) => new Promise((resolve, reject) => {
      const w = new Worker(workerCode, { eval: true, workerData: { dir, iter: ITER, id } });
      w.once('message', resolve);
      w.once('error', reject);
    })),
  );
  return performance.now() - t0;
}

async function measure(name, pid, dir, ops) {
  const cpu0 = cpuMs(pid);
  const rss = [rssMb(pid)];
  const sampler = setInterval(() => rss.push(rssMb(pid)), 1000);
  const ms = await drive(dir);
  clearInterval(sampler);
  rss.push(rssMb(pid));
  const cpu = cpuMs(pid) - cpu0;
  const requests = ops ? ops() : undefined;
  return { name, ms, cpu, rss, requests };
}

const base = mkdtempSync(join(tmpdir(), 'mountie-bench-cpu-'));
const fsRoot = join(base, 'tmpfs');
mkdirSync(fsRoot);
must(sh('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tmpfs', fsRoot]), 'mount tmpfs');
const results = [];
const cleanups = [];
try {
  for (const t of TARGETS) {
    const src = join(fsRoot, `src-${t}`);
    const mp = join(base, `mnt-${t}`);
    mkdirSync(src);
    mkdirSync(mp);
    if (t === 'bindfs') {
      must(sh('bindfs', ['-o', 'big_writes', src, mp]), 'bindfs');
      cleanups.push(() => sh('fusermount', ['-u', mp]));
      results.push(await measure('bindfs -o big_writes', pidServing(mp), mp));
      sh('fusermount', ['-u', mp]);
    } else {
      const home = join(base, `home-${t}`);
      const env = { ...process.env, MOUNTIE_HOME: home };
      const r = must(sh(process.execPath, [CLI, 'mount', 'ws', '--source', src, '--at', mp, '--background', '--json'], { env }), 'mountie mount');
      const { pid } = JSON.parse(r.stdout);
      cleanups.push(() => sh(process.execPath, [CLI, 'stop', 'ws'], { env }));
      const opsNow = () => {
        try {
          const st = JSON.parse(readFileSync(join(home, 'workspaces', 'ws', 'state.json'), 'utf8'));
          return Object.values(st.counters?.ops ?? {}).reduce((a, b) => a + b, 0);
        } catch {
          return undefined; // no counters (yet)
        }
      };
      const before = opsNow() ?? 0;
      const m = await measure('mountie (native core)', pid, mp, () => undefined);
      await new Promise((res) => setTimeout(res, 1500)); // the state writer publishes counters every 500 ms
      const after = opsNow();
      results.push({ ...m, requests: after === undefined ? undefined : after - before });
      sh(process.execPath, [CLI, 'stop', 'ws'], { env });
    }
  }
} finally {
  for (const c of cleanups) c();
  sh('umount', [fsRoot]);
  rmSync(base, { recursive: true, force: true });
}

const ref = results.find((r) => r.name.startsWith('bindfs'));
console.log(`daemon CPU and RSS: ${THREADS} threads × ${ITER} create+write+unlink, load average ${load()}`);
console.log('| target | wall s | daemon CPU s | CPU ÷ bindfs | requests counted | CPU µs/request | RSS MB start → peak → end |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const r of results) {
  const peak = Math.max(...r.rss);
  console.log(
    `| ${r.name} | ${(r.ms / 1000).toFixed(1)} | ${(r.cpu / 1000).toFixed(2)} | ${ref ? (r.cpu / ref.cpu).toFixed(2) : '-'} | ${r.requests ?? '-'} | ${r.requests ? ((r.cpu * 1000) / r.requests).toFixed(1) : '-'} | ${r.rss[0].toFixed(0)} → ${peak.toFixed(0)} → ${r.rss.at(-1).toFixed(0)} |`,
  );
}
