// Benchmark (not a test): how long does finding daemons take on a busy machine?
// Fills the process table to ~TARGET processes with `sleep 600`, all in ONE process group that
// is killed in a finally, on SIGINT/SIGTERM and at exit, then times scanProcesses()+matching
// (from dist/) against ps-list. Usage: npm run build && node scripts/bench/scan.mjs [target] [runs]
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import psList from 'ps-list';
import { scanProcesses } from '../../dist/sys/proc.js';
import { scanProcStats } from '../../dist/sys/proc-stat-scan.js';
import { isMarked } from '../../dist/protocol/marker.js';

const TARGET = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 20);

async function countProcs() {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).length;
}

let group; // pid of the process-group leader holding every sleep

function killGroup() {
  if (group === undefined) return;
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // Already gone: nothing left to clean.
  }
  group = undefined;
}

process.on('exit', killGroup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killGroup();
    process.exit(130);
  });
}

async function fill(target) {
  const need = Math.max(0, target - (await countProcs()));
  if (need === 0) return 0;
  // One detached sh is the group leader; its background sleeps stay in its group. It says
  // "ready" once every sleep is forked (the table's total drifts with other people's work).
  const leader = spawn('sh', ['-c', `i=0; while [ $i -lt ${need} ]; do sleep 600 >/dev/null & i=$((i+1)); done; echo ready; wait`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  group = leader.pid;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`could not start ${need} sleeps in 60 s`)), 60_000);
    leader.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    leader.once('exit', () => reject(new Error('the sleep group leader exited early')));
  });
  leader.stdout.destroy();
  leader.unref();
  return need;
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p90: at(0.9) };
}

async function time(fn) {
  await fn(); // warm-up: module caches, JIT
  const times = [];
  let seen = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    seen = await fn();
    times.push(performance.now() - t0);
  }
  return { ...stats(times), seen };
}

async function main() {
  const started = await fill(TARGET);
  // Discovery today: stat only (comm marker), never cmdline. Before 0.2: cmdline of every process.
  const ours = async () => {
    const procs = scanProcStats();
    for (const p of procs) isMarked(p.comm);
    return procs.length;
  };
  const cmdline = async () => (await scanProcesses()).length;
  const theirs = async () => (await psList({ all: true })).length;
  const rows = [
    ['stat scan+marker', await time(ours)],
    ['cmdline scan (0.1)', await time(cmdline)],
    ['ps-list', await time(theirs)],
  ];
  console.log(`${started} sleeps started; ${RUNS} runs each\n`);
  console.log('method               processes  median ms  p90 ms');
  for (const [name, r] of rows) {
    console.log(`${name.padEnd(20)} ${String(r.seen).padStart(9)}  ${r.median.toFixed(1).padStart(9)}  ${r.p90.toFixed(1).padStart(6)}`);
  }
}

async function cleanUp() {
  const leader = group;
  killGroup();
  if (leader === undefined) return;
  // SIGKILL is asynchronous: wait until the group is really gone before reporting success.
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(-leader, 0);
    } catch {
      return; // ESRCH: no member of the group is left
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.error(`warning: process group ${leader} still has members`);
}

try {
  await main();
} finally {
  await cleanUp();
}
