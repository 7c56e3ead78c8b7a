// What acting with the caller's credentials costs (docs/SECURITY.md): a root daemon with
// --allow-other switches each worker thread to the caller's uid, gid and groups around every
// request that creates, opens or changes names, unless the caller is the daemon's own user.
// Runs `data-work.mjs cstat` (create, stat, unlink N files) through `mountie mount --allow-other`
// and through `bindfs -o big_writes,allow_other` (the peer, same run), each as root and as uid
// 65534, interleaved for ROUNDS rounds, and prints the medians of wall time and daemon CPU.
//   node scripts/bench/creds.mjs        (env: N files, default 3000; ROUNDS, default 5)
// Needs root, bindfs, `npm run build` and the native addon.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/cli/main.js');
const WORK = join(REPO, 'scripts/bench/data-work.mjs');
const N = Number(process.env.N ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const USERS = { root: 0, nobody: 65534 };

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts });
const must = (r, what) => {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr || r.error}`);
  return r;
};
const cpuMs = (pid) => {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10; // USER_HZ 100
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bindfsPid = (mp) =>
  Number(readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv[0].endsWith('bindfs') && argv.includes(mp);
    } catch {
      return false; // gone meanwhile
    }
  })()));

const base = mkdtempSync(join(tmpdir(), 'mountie-bench-creds-'));
chmodSync(base, 0o755); // uid 65534 must reach the mountpoints
const fsRoot = join(base, 'tmpfs');
mkdirSync(fsRoot);
must(sh('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=755', 'tmpfs', fsRoot]), 'mount tmpfs');
const home = join(base, 'home');
const env = { ...process.env, MOUNTIE_HOME: home };
const targets = [];
try {
  for (const name of ['mountie', 'bindfs']) {
    const src = join(fsRoot, name);
    const mp = join(base, `mnt-${name}`);
    mkdirSync(join(src, 'pub'), { recursive: true });
    chmodSync(join(src, 'pub'), 0o1777);
    mkdirSync(mp);
    if (name === 'bindfs') {
      must(sh('bindfs', ['-o', 'big_writes,allow_other', src, mp]), 'bindfs');
      targets.push({ name, mp, pid: bindfsPid(mp) });
    } else {
      const r = must(sh(process.execPath, [CLI, 'mount', 'ws', '--source', src, '--at', mp, '--allow-other', '--background', '--json'], { env }), 'mountie mount');
      targets.push({ name, mp, pid: JSON.parse(r.stdout).pid });
    }
  }
  const runs = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...targets].reverse() : targets;
    for (const t of order) {
      for (const [user, uid] of Object.entries(USERS)) {
        const cpu0 = cpuMs(t.pid);
        const r = must(sh(process.execPath, [WORK, 'cstat', join(t.mp, 'pub', `w${round}-${user}`), String(N)], { uid, gid: uid }), `cstat as ${user}`);
        const key = `${t.name} as ${user}`;
        (runs[key] ??= { ms: [], cpu: [] }).ms.push(Number(r.stdout.trim()));
        runs[key].cpu.push(cpuMs(t.pid) - cpu0);
      }
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`create+stat+unlink ${N} files, ${ROUNDS} interleaved rounds, medians, load average ${load}`);
  console.log('| target | wall ms | daemon CPU ms | wall ÷ bindfs, same user | CPU ÷ bindfs, same user |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [key, v] of Object.entries(runs)) {
    const peer = runs[`bindfs as ${key.split(' as ')[1]}`];
    const ratio = (a, b) => (median(a) / median(b)).toFixed(2);
    console.log(`| ${key} | ${median(v.ms).toFixed(0)} | ${median(v.cpu)} | ${ratio(v.ms, peer.ms)}× | ${ratio(v.cpu, peer.cpu)}× |`);
  }
} finally {
  sh(process.execPath, [CLI, 'stop', 'ws'], { env });
  sh('fusermount', ['-u', join(base, 'mnt-bindfs')]);
  sh('umount', [fsRoot]);
  // Never remove through a mount that is still there (its source would go with it).
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${base}/`)) console.error(`left ${base}: something is still mounted below it`);
  else rmSync(base, { recursive: true, force: true });
}
