// Control path, against a peer measured in the same run: `node -e 0` (the floor of any Node CLI),
// then for each build of mountie (this one; more with BENCH_CLIS="name=/path/dist/cli/bin.cjs,...", the command
// `mountie` runs):
// `--version`, `status` with one running workspace, `mount --background` (launch to usable) and
// `stop` of a healthy daemon. Rounds are interleaved; medians and ratios to `node -e 0`.
// BENCH_PROCS=N starts N extra sleeping processes first (discovery scans the process table).
// With rclone on PATH, `rclone mount <dir> <mnt> --daemon` (it returns once the mount is up) is
// measured too, as issue 12's peer for launch-to-usable, and its unmount (`fusermount -u`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const here = new URL('../../dist/cli/bin.cjs', import.meta.url).pathname;
const clis = [['this', here], ...(process.env.BENCH_CLIS ?? '').split(',').filter(Boolean).map((kv) => kv.split('='))];
const base = mkdtempSync(join(tmpdir(), 'mountie-bench-control-'));
const extra = Number(process.env.BENCH_PROCS ?? 0);
const sleepers = extra > 0 ? spawn('bash', ['-c', `for i in $(seq ${extra}); do sleep 600 & done; wait`], { detached: true, stdio: 'ignore' }) : undefined;

const time = (argv, env = process.env) => {
  const t0 = performance.now();
  execFileSync(argv[0], argv.slice(1), { env, stdio: 'ignore', timeout: 60_000 });
  return performance.now() - t0;
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
    add('node -e 0', time([process.execPath, '-e', '0']));
    for (const { name, cli, env } of homes) {
      add(`${name}: --version`, time([process.execPath, cli, '--version'], env));
      add(`${name}: mount --background`, time([process.execPath, cli, 'mount', 'ws', '--background'], env));
      add(`${name}: status`, time([process.execPath, cli, 'status'], env));
      add(`${name}: stop`, time([process.execPath, cli, 'stop', 'ws'], env));
    }
    if (rclone) {
      const src = join(base, 'rclone-src');
      const mnt = join(base, 'rclone-mnt');
      mkdirSync(src, { recursive: true });
      mkdirSync(mnt, { recursive: true });
      add('rclone mount --daemon', time(['rclone', 'mount', src, mnt, '--daemon', '--config', '/dev/null']));
      add('rclone: fusermount -u', time(['fusermount', '-u', mnt]));
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
console.log('| command | median ms | × node -e 0 |\n|---|---|---|');
for (const [k, v] of results) console.log(`| ${k} | ${med(v).toFixed(0)} | ${(med(v) / floor).toFixed(2)} |`);
