// Benchmark (not a test): how long does finding daemons take on a busy machine?
// Fills the process table to ~TARGET processes with `sleep 600`, all in ONE process group that
// is killed in a finally, on SIGINT/SIGTERM and at exit, then times scanProcesses()+matching
// (from dist/) against ps-list. Usage: npm run build && node scripts/bench/scan.mjs [target] [runs]
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import psList from 'ps-list';
import { scanProcesses } from '../../dist/sys/proc.js';
import { matchDaemon } from '../../dist/launcher/match.js';

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
  // One detached sh is the group leader; its background sleeps stay in its group.
  const leader = spawn('sh', ['-c', `i=0; while [ $i -lt ${need} ]; do sleep 600 & i=$((i+1)); done; wait`], {
    detached: true,
    stdio: 'ignore',
  });
  group = leader.pid;
  const deadline = Date.now() + 60_000;
  while ((await countProcs()) < target - 5) {
    if (Date.now() > deadline) throw new Error(`could not reach ${target} processes`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
  const ours = async () => {
    const procs = await scanProcesses();
    for (const p of procs) matchDaemon(p.argv);
    return procs.length;
  };
  const theirs = async () => {
    const procs = await psList({ all: true });
    for (const p of procs) matchDaemon((p.cmd ?? '').split(/\s+/));
    return procs.length;
  };
  const rows = [
    ['scanProcesses+match', await time(ours)],
    ['ps-list+match', await time(theirs)],
  ];
  console.log(`${started} sleeps started; ${RUNS} runs each\n`);
  console.log('method               processes  median ms  p90 ms');
  for (const [name, r] of rows) {
    console.log(`${name.padEnd(20)} ${String(r.seen).padStart(9)}  ${r.median.toFixed(1).padStart(9)}  ${r.p90.toFixed(1).padStart(6)}`);
  }
}

try {
  await main();
} finally {
  killGroup();
}
