// Issue 10's question "why is `mountie mount --background` slower than the same core behind the
// fixture?", as a benchmark: one workload through views that differ in how their server was
// started, interleaved on one private tmpfs source, with the load average. The answer measured
// here: the session (with kernel.sched_autogroup_enabled=1 each session is a scheduling group;
// a server in the clients' session skips a cross-group wake-up per request). BENCHMARKS.md.
//   node scripts/bench/sessions.mjs [targets…]   env: ROUNDS (6), COUNT (3000), WORK (cstat|find|lsR|du)
// Targets: fixture (serve-passthrough.mjs --native, in this session), fixture-setsid (the same in
// a session of its own), fg (`mountie mount` in the foreground, this session), child (the daemon
// spawned by hand as src/launcher/start.ts does, but in this session), child-setsid (the same,
// detached as start.ts), bg (`mountie mount --background`), bindfs (-o big_writes; it daemonizes).
// Needs root, bindfs, `npm run build` and `npm run build:native`.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO = new URL('../..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/cli/main.js');
const SERVE = join(REPO, 'test/fixtures/serve-passthrough.mjs');
// What src/launcher/start.ts spawns for mountie's kind: the child entry and the passthrough's definition module.
const CHILD = join(REPO, 'dist/cli/daemon-child.js');
const PASSTHROUGH = pathToFileURL(join(REPO, 'dist/daemon/passthrough/daemon.js')).href;
const WORKER = join(REPO, 'scripts/bench/data-work.mjs');
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const COUNT = Number(process.env.COUNT ?? 3000);
const WORK = process.env.WORK ?? 'cstat';
const args = process.argv.slice(2);
const TARGETS = args.length ? args : ['fixture', 'fixture-setsid', 'child', 'child-setsid', 'bg', 'bindfs'];

const sh = (cmd, a, o = {}) => spawnSync(cmd, a, { encoding: 'utf8', timeout: 300_000, ...o });
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const mounted = (p) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const base = mkdtempSync(join(tmpdir(), 'mountie-bench-sessions-'));
const fsRoot = join(base, 'tmpfs');
mkdirSync(fsRoot);
if (sh('mount', ['-t', 'tmpfs', '-o', 'size=1g', 'tmpfs', fsRoot]).status !== 0) throw new Error('mount tmpfs failed');
const src = join(fsRoot, 'src');
mkdirSync(src);
const env = { ...process.env, MOUNTIE_HOME: join(base, 'home') };
if (WORK !== 'cstat') {
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(src, 'tree', `d${d}`), { recursive: true });
    for (let f = 0; f < 200; f++) writeFileSync(join(src, 'tree', `d${d}`, `f${f}`), 'x');
  }
}

async function waitMounted(mnt, child) {
  const t0 = Date.now();
  while (!mounted(mnt)) {
    if (Date.now() - t0 > 15_000 || (child && child.exitCode !== null)) throw new Error(`${mnt} did not mount`);
    await sleep(50);
  }
}

const cliOk = (a) => {
  const r = sh(process.execPath, [CLI, ...a], { env });
  if (r.status !== 0) throw new Error(`mountie ${a.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function view(name) {
  const mnt = join(base, name);
  mkdirSync(mnt);
  const ws = name.replace(/[^a-z0-9]/g, '');
  const own = (child) => ({ name, dir: mnt, stop: async () => (child.kill('SIGTERM'), await sleep(800)) });
  if (name === 'bindfs') {
    sh('bindfs', ['-o', 'big_writes', src, mnt]);
    return { name, dir: mnt, stop: async () => void sh('fusermount', ['-u', mnt]) };
  }
  if (name === 'fixture' || name === 'fixture-setsid') {
    const child = spawn(process.execPath, [SERVE, '--native', src, mnt], { stdio: 'ignore', detached: name === 'fixture-setsid' });
    await waitMounted(mnt, child);
    return own(child);
  }
  if (name === 'fg') {
    const child = spawn(process.execPath, [CLI, 'mount', ws, '--source', src, '--at', mnt], { env, stdio: 'ignore' });
    await waitMounted(mnt, child);
    return own(child);
  }
  if (name === 'bg') {
    cliOk(['mount', ws, '--source', src, '--at', mnt, '--background']);
    return { name, dir: mnt, stop: async () => void cliOk(['stop', ws]) };
  }
  if (name === 'child' || name === 'child-setsid') {
    // Stores the workspace, then starts its daemon by hand: start.ts's argv, env, cwd and log fds.
    cliOk(['mount', ws, '--source', src, '--at', mnt, '--background']);
    cliOk(['stop', ws]);
    const logFd = openSync(join(base, `${name}.log`), 'a');
    const child = spawn(process.execPath, [`--title=mountie-bench-${ws}`, CHILD, PASSTHROUGH, ws, '--kind', 'mountie', '--instance', randomUUID()], {
      env: { ...env, UV_THREADPOOL_SIZE: '64' },
      cwd: '/',
      detached: name === 'child-setsid',
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    await waitMounted(mnt, child);
    return own(child);
  }
  throw new Error(`unknown target ${name}`);
}

const COMMANDS = { find: 'find', lsR: 'ls -lR', du: 'du -s' };

async function once(v, r) {
  if (WORK === 'cstat') return Number(sh(process.execPath, [WORKER, 'cstat', join(v.dir, `c-${r}`), String(COUNT)]).stdout.trim());
  // du is quick: let the 1 s entry/attr cache of the last round expire, so every entry is looked up again.
  if (WORK === 'du') await sleep(1100);
  const t0 = performance.now();
  sh('sh', ['-c', `${COMMANDS[WORK]} '${v.dir}/tree' > /dev/null`]);
  return performance.now() - t0;
}

const views = [];
try {
  for (const t of TARGETS) views.push(await view(t));
  const ms = new Map(TARGETS.map((t) => [t, []]));
  const loads = [load()];
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 ? [...views].reverse() : views) ms.get(v.name).push(await once(v, r));
    loads.push(load());
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`${WORK}${WORK === 'cstat' ? ` ${COUNT}` : ''}, ${ROUNDS} interleaved rounds, load ${loads.join(' → ')}`);
  for (const t of TARGETS) console.log(`${t.padEnd(14)} median ${med(ms.get(t)).toFixed(0)} ms  (${ms.get(t).map((x) => x.toFixed(0)).join(' ')})`);
} finally {
  for (const v of views) await v.stop().catch(() => undefined);
  await sleep(300);
  for (const v of views) if (mounted(v.dir)) sh('fusermount', ['-uz', v.dir]);
  sh('umount', [fsRoot]);
  rmSync(base, { recursive: true, force: true });
}
