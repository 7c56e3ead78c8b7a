// Control path, against a peer measured in the same run: `node -e 0` (the floor of any Node CLI),
// then for each build of mountie (this one; more with BENCH_CLIS="name=/path/dist/cli/bin.cjs,...", the command
// `mountie` runs):
// `--version`, `status` with one running workspace, `mount --background` (launch to usable) and
// `stop` of a healthy daemon. Rounds are interleaved; medians and ratios to `node -e 0`.
// CPU columns: the command's own user+system time (10 ms ticks), steadier than wall time under load.
// BENCH_PROCS=N starts N extra sleeping processes first (discovery scans the process table).
// With rclone on PATH, `rclone mount <dir> <mnt> --daemon` (it returns once the mount is up) is
// measured too, as issue 12's peer for launch-to-usable, and its unmount (`fusermount -u`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const here = new URL('../../dist/cli/bin.cjs', import.meta.url).pathname;
const clis = [['this', here], ...(process.env.BENCH_CLIS ?? '').split(',').filter(Boolean).map((kv) => kv.split('='))];
const base = mkdtempSync(join(tmpdir(), 'mountie-bench-control-'));
const extra = Number(process.env.BENCH_PROCS ?? 0);
const sleepers = extra > 0 ? spawn('bash', ['-c', `for i in $(seq ${extra}); do sleep 600 & done; wait`], { detached: true, stdio: 'ignore' }) : undefined;

// CPU the command itself used (user+system of the waited-for child, /proc/self/stat fields 16-17, in
// clock ticks): under the load of a shared machine wall time moves with the neighbours, this much less.
// A detached daemon is not waited for: `mount --background` counts the launcher only.
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const childCpu = () => {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
};
const cpu = new Map();
const time = (argv, env = process.env, key = undefined) => {
  const c0 = childCpu();
  const t0 = performance.now();
  execFileSync(argv[0], argv.slice(1), { env, stdio: 'ignore', timeout: 60_000 });
  const wall = performance.now() - t0;
  if (key) (cpu.get(key) ?? cpu.set(key, []).get(key)).push(childCpu() - c0);
  return wall;
};
const results = new Map();
const rclone = (() => {
  try {
    execFileSync('rclone', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // not installed: the table has no peer row
  }
})();
const add = (k, v) => (results.get(k) ?? results.set(k, []).get(k)).push(v);
const timed = (k, argv, env) => add(k, time(argv, env, k));

try {
  if (sleepers) await new Promise((r) => setTimeout(r, 2000 + extra));
  const homes = clis.map(([name, cli]) => {
    const home = join(base, name);
    mkdirSync(join(home, 'src'), { recursive: true });
    writeFileSync(join(home, 'src', 'f'), 'x');
    const env = { ...process.env, MOUNTIE_HOME: home };
    execFileSync(process.execPath, [cli, 'mount', 'ws', '--source', join(home, 'src'), '--background'], { env, stdio: 'ignore' });
    execFileSync(process.execPath, [cli, 'stop', 'ws'], { env, stdio: 'ignore' });
    return { name, cli, env };
  });
  for (let r = 0; r < ROUNDS; r++) {
    timed('node -e 0', [process.execPath, '-e', '0']);
    for (const { name, cli, env } of homes) {
      timed(`${name}: --version`, [process.execPath, cli, '--version'], env);
      timed(`${name}: mount --background`, [process.execPath, cli, 'mount', 'ws', '--background'], env);
      timed(`${name}: status`, [process.execPath, cli, 'status'], env);
      timed(`${name}: stop`, [process.execPath, cli, 'stop', 'ws'], env);
    }
    if (rclone) {
      const src = join(base, 'rclone-src');
      const mnt = join(base, 'rclone-mnt');
      mkdirSync(src, { recursive: true });
      mkdirSync(mnt, { recursive: true });
      timed('rclone mount --daemon', ['rclone', 'mount', src, mnt, '--daemon', '--config', '/dev/null']);
      timed('rclone: fusermount -u', ['fusermount', '-u', mnt]);
    }
  }
} finally {
  for (const [, cli] of clis) {
    try {
      execFileSync(process.execPath, [cli, 'stop', '--all'], { env: { ...process.env, MOUNTIE_HOME: join(base, clis.find((c) => c[1] === cli)[0]) }, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // Best effort: the bench must not leave a daemon behind; a failure here shows in the next run.
    }
  }
  if (rclone) {
    try {
      execFileSync('fusermount', ['-uz', join(base, 'rclone-mnt')], { stdio: 'ignore' });
    } catch {
      // Not mounted: the normal case after the last round.
    }
  }
  if (sleepers) process.kill(-sleepers.pid, 'SIGKILL');
  rmSync(base, { recursive: true, force: true });
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const floor = med(results.get('node -e 0'));
const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
console.log(`control path, ${ROUNDS} interleaved rounds, ${extra} extra processes, load average ${load}`);
const cpuFloor = med(cpu.get('node -e 0'));
console.log('| command | median ms | × node -e 0 | median CPU ms | CPU × node -e 0 |\n|---|---|---|---|---|');
for (const [k, v] of results) {
  const c = med(cpu.get(k) ?? [NaN]);
  console.log(`| ${k} | ${med(v).toFixed(0)} | ${(med(v) / floor).toFixed(2)} | ${c.toFixed(0)} | ${(c / cpuFloor).toFixed(2)} |`);
}
