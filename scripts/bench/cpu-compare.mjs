// Start-up CPU of commands, for comparing levers under load: each command runs under
// `perf stat -e task-clock` (its CPU time, all threads), rounds interleaved, medians and ratios to
// the first command. Usage: N=15 node scripts/bench/cpu-compare.mjs 'label::cmd arg ...' ...
// (arguments split on spaces). Issue 18's lever table in BENCHMARKS.md was measured with it.
import { spawnSync, execFileSync } from 'node:child_process';
const N = Number(process.env.N ?? 15);
const cmds = process.argv.slice(2).map((s) => { const [l, c] = s.split('::'); return [l, c.split(' ')]; });
const r = new Map(cmds.map(([l]) => [l, { w: [], c: [] }]));
for (let i = 0; i < N; i++) for (const [l, a] of cmds) {
  const t = performance.now();
  const p = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', ...a], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const w = performance.now() - t;
  const m = /([\d.]+),msec,task-clock/.exec(p.stderr);
  r.get(l).w.push(w); r.get(l).c.push(m ? Number(m[1]) : NaN);
  if (p.status) r.get(l).err = p.status;
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const f = med(r.get(cmds[0][0]).w), fc = med(r.get(cmds[0][0]).c);
console.log('load ' + execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim());
for (const [l, v] of r) console.log(`${l.padEnd(36)} wall ${med(v.w).toFixed(1).padStart(7)} ms ${(med(v.w) / f).toFixed(2)}x   cpu ${med(v.c).toFixed(0).padStart(4)} ms ${(med(v.c) / fc).toFixed(2)}x ${v.err ? 'exit ' + v.err : ''}`);
