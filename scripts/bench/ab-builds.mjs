// Two builds of the native core and bindfs side by side on one private tmpfs, interleaved: `ls -lR`
// of 10k files (wall, daemon CPU) and a getxattr loop on one file (µs per call, daemon CPU per
// call; CPU from /proc/<pid>/stat, 10 ms ticks). OLD is another checkout with `npm run build` and
// `npm run build:native` done (e.g. `git archive <commit> | tar -x -C /tmp/old`, node_modules
// linked); this checkout is "new". Needs root, bindfs, python3. BENCHMARKS.md "Data path".
//   OLD=/tmp/old ROUNDS=9 node scripts/bench/ab-builds.mjs
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../..', import.meta.url).pathname;
const OLD = process.env.OLD;
if (!OLD) throw new Error('OLD=<path of another built checkout> is required');
const sh = (c, a) => spawnSync(c, a, { encoding: 'utf8', timeout: 300000 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const mounted = (p) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const base = mkdtempSync(join(tmpdir(), 'mountie-bench-ab-'));
const fsr = join(base, 'tmpfs'); mkdirSync(fsr); sh('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tmpfs', fsr]);
const src = join(fsr, 'src');
for (let d = 0; d < 50; d++) { mkdirSync(join(src, 'tree', `d${d}`), { recursive: true }); for (let f = 0; f < 200; f++) writeFileSync(join(src, 'tree', `d${d}`, `f${f}`), 'x'); }
writeFileSync(join(src, 'one'), 'x');
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const views = [];
for (const [name, repo] of [['old', OLD], ['new', REPO]]) {
  const mnt = join(base, name); mkdirSync(mnt);
  const child = spawn(process.execPath, [join(repo, 'test/fixtures/serve-passthrough.mjs'), '--native', src, mnt], { stdio: 'ignore', detached: true });
  const t0 = Date.now(); while (!mounted(mnt)) { if (Date.now() - t0 > 15000) throw new Error('no mount'); await sleep(50); }
  views.push({ name, mnt, pid: child.pid, stop: () => child.kill('SIGTERM') });
}
{ const mnt = join(base, 'bindfs'); mkdirSync(mnt); sh('bindfs', ['-o', 'big_writes', src, mnt]);
  const pid = Number(sh('pgrep', ['-f', `bindfs -o big_writes ${src}`]).stdout.trim().split('\n')[0]);
  views.push({ name: 'bindfs', mnt, pid, stop: () => sh('fusermount', ['-u', mnt]) }); }
const res = Object.fromEntries(views.map((v) => [v.name, { lsR: [], lsRcpu: [], gx: [], gxcpu: [] }]));
const loads = [load()];
const GX = `import os,sys,time
p=sys.argv[1]; n=20000; t=time.perf_counter()
for i in range(n):
  try: os.getxattr(p,'security.selinux',follow_symlinks=False)
  except OSError: pass
print((time.perf_counter()-t)/n*1e6)`;
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 ? [...views].reverse() : views) {
      let c0 = cpu(v.pid); const t0 = performance.now();
      sh('sh', ['-c', `ls -lR '${v.mnt}/tree' > /dev/null`]);
      res[v.name].lsR.push(performance.now() - t0); res[v.name].lsRcpu.push(cpu(v.pid) - c0);
      c0 = cpu(v.pid);
      res[v.name].gx.push(Number(sh('python3', ['-c', GX, join(v.mnt, 'one')]).stdout));
      res[v.name].gxcpu.push((cpu(v.pid) - c0) / 20000 * 1000);
    }
    loads.push(load());
  }
} finally { for (const v of views) v.stop(); await sleep(1000); for (const v of views) if (mounted(v.mnt)) sh('fusermount', ['-uz', v.mnt]); sh('umount', [fsr]);
  if (!views.some((v) => mounted(v.mnt)) && !mounted(fsr)) rmSync(base, { recursive: true }); }
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`rounds ${ROUNDS}, load ${loads.join(' → ')}`);
for (const v of views) { const x = res[v.name]; console.log(`${v.name.padEnd(7)} ls -lR 10k median ${med(x.lsR).toFixed(0)} ms (daemon cpu ${med(x.lsRcpu)} ms) | getxattr ENODATA loop median ${med(x.gx).toFixed(1)} µs/call (daemon cpu ${med(x.gxcpu).toFixed(1)} µs/call)  [${x.lsR.map((y) => y.toFixed(0)).join(' ')}]`); }
