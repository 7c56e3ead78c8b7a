// The data-path table (issue 10): raw directory, bindfs and the native path (the fuse-native path
// left with issue 19; its rows stay in BENCHMARKS.md's history)
// (readdirplus off; the source watched by default, names and attributes cached 60 s and invalidated, issue 20; native-1s: the watch off, fixed 1 s caches as bindfs; native-own and native-own-pt: our own FUSE session, and with kernel passthrough), and `mountie mount` itself (the daemon, default data path), interleaved on one private tmpfs source, medians and ratios
// against bindfs, with the load average. Writes the "Data path" section of BENCHMARKS.md.
// Env: ROUNDS (default 7), TARGETS (comma list), ONLY (workload
// name prefixes, comma list), SETTLE_MS
// (default 1100: the least time between two workloads on one view, so each starts with expired caches).
// Needs root (tmpfs mount), bindfs, and `npm run build` + `npm run build:native` done.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const REPO = new URL('../..', import.meta.url).pathname;
const SERVE = join(REPO, 'test/fixtures/serve-passthrough.mjs');
const WORK = join(REPO, 'scripts/bench/data-work.mjs');
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const ALL = ['raw', 'bindfs', 'native', 'native-1s', 'native-own', 'native-own-pt', 'mountie'];
const CHOICES = ['native-rdplus-auto', 'native-splice', 'native-ttl10', 'native-threads1']; // by TARGETS only
/** Columns against the raw directory too (issue 20: the disk is the goal, not bindfs). */
const VS_RAW = ['native-own-pt', 'mountie'];
const CLI = join(REPO, 'dist/cli/main.js');
const TARGETS = (process.env.TARGETS ?? ALL.join(',')).split(',');

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts });
if (process.getuid?.() !== 0 || sh('bindfs', ['--version']).status !== 0) {
  console.error('data.mjs: skipped: needs root (it mounts a private tmpfs) and bindfs (the peer every ratio is against)');
  process.exit(2);
}
const must = (r, what) => {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr || r.error}`);
  return r;
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const mounted = (p) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

// ---- the source: a private tmpfs, so nothing else's page cache or disk shows in the numbers
const base = mkdtempSync(join(tmpdir(), 'mountie-bench-data-'));
const fsRoot = join(base, 'tmpfs');
mkdirSync(fsRoot);
must(sh('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', fsRoot]), 'mount tmpfs');
const src = join(fsRoot, 'src');
const side = join(fsRoot, 'side'); // inputs that live outside every view (the tarball)
mkdirSync(src);
mkdirSync(side);
const children = [];

function buildSource() {
  const chunk = randomBytes(1 << 20);
  const big = Buffer.concat(Array.from({ length: 256 }, () => chunk));
  writeFileSync(join(src, 'big.bin'), big);
  // ~20k entries: 100 directories of 200 small files
  for (let d = 0; d < 100; d++) {
    const dir = join(src, 'tree', `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 200; f++) writeFileSync(join(dir, `f${f}.txt`), `file ${d}/${f}\n`);
  }
  // a tarball of ~3000 files in nested directories (a small node_modules)
  const pkg = join(side, 'pkg');
  for (let a = 0; a < 30; a++) {
    for (let b = 0; b < 5; b++) {
      const dir = join(pkg, `mod${a}`, `lib${b}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 20; f++) writeFileSync(join(dir, `m${f}.js`), `module.exports = ${a * 1000 + b * 20 + f};\n`.repeat(20));
    }
  }
  must(sh('tar', ['-cf', join(side, 'pkg.tar'), '-C', side, 'pkg']), 'tar');
  // a git repository of ~2000 files
  const repo = join(src, 'repo');
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(repo, `dir${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(repo, `dir${d}`, `file${f}.c`), `int f${d}_${f}(void) { return ${f}; }\n`);
  }
  const git = (...args) => must(sh('git', ['-C', repo, '-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...args]), `git ${args[0]}`);
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'bench');
}

// ---- the views
async function serve(name, flags, env = {}) {
  const mnt = join(base, name);
  mkdirSync(mnt);
  // detached: a session of its own, as bindfs (which daemonizes) and `mountie mount --background`
  // have. With kernel.sched_autogroup_enabled=1 a fixture left in this runner's session shares
  // the clients' scheduling group and skips the cross-group wake-up every request costs a real
  // daemon: 1.4–3× faster under load (BENCHMARKS.md, "The daemon against the fixture").
  const child = spawn(process.execPath, [SERVE, ...flags, src, mnt], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!out.includes('READY')) {
    if (Date.now() - t0 > 15_000 || child.exitCode !== null) throw new Error(`${name} did not mount: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, dir: mnt, stop: () => stopChild(child, mnt) };
}

async function stopChild(child, mnt) {
  child.kill('SIGTERM');
  const t0 = Date.now();
  while (child.exitCode === null && child.signalCode === null && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  if (mounted(mnt)) sh('fusermount', ['-uz', mnt]);
}

async function view(name) {
  if (name === 'raw') return { name, dir: src, stop: async () => undefined };
  if (name === 'bindfs') {
    const mnt = join(base, name);
    mkdirSync(mnt);
    must(sh('bindfs', ['-o', 'big_writes', src, mnt]), 'bindfs');
    return { name, dir: mnt, stop: async () => void sh('fusermount', ['-u', mnt]) };
  }
  // libfuse 3.14's session (the default until 2026-12-08).
  if (name === 'native') return serve(name, ['--native'], { MOUNTIE_SESSION: 'libfuse' });
  if (name === 'native-1s') return serve(name, ['--native', '--no-watch'], { MOUNTIE_SESSION: 'libfuse' });
  // Issue 20's session layer: our own FUSE session, and with it the kernel's passthrough of file I/O.
  if (name === 'native-own') return serve(name, ['--native'], { MOUNTIE_SESSION: 'own', MOUNTIE_PASSTHROUGH: '0' });
  if (name === 'native-own-pt') return serve(name, ['--native'], { MOUNTIE_SESSION: 'own', MOUNTIE_PASSTHROUGH: '1' });
  if (name === 'native-rdplus-auto') return serve(name, ['--native', '--readdirplus=auto'], { MOUNTIE_SESSION: 'libfuse' });
  // Choices measured on demand (TARGETS=…), not in the default table.
  if (name === 'native-splice') return serve(name, ['--native', '--splice'], { MOUNTIE_SESSION: 'libfuse' });
  if (name === 'native-ttl10') return serve(name, ['--native', '--ttl=10']);
  if (name === 'native-threads1') return serve(name, ['--native', '--max-threads=1']);
  if (name === 'mountie') {
    // What a user gets: the daemon (lock, state, health, deadline watchdog) on its default data path.
    const mnt = join(base, name);
    const env = { ...process.env, MOUNTIE_HOME: join(base, 'mountie-home') };
    must(sh(process.execPath, [CLI, 'mount', 'bench', '--source', src, '--at', mnt, '--background'], { env }), 'mountie mount');
    const state = join(env.MOUNTIE_HOME, 'workspaces', 'bench', 'state.json');
    return { name, dir: mnt, state, stop: async () => void sh(process.execPath, [CLI, 'stop', 'bench'], { env }) };
  }
  throw new Error(`unknown target ${name}`);
}

/**
 * Requests the daemon answered so far (all ops in state.json's counters, which the daemon writes
 * every 500 ms): `settled` waits 700 ms first, so the last workload's requests are in. Issue 20:
 * requests reaching the daemon per MiB read, near 0 with kernel passthrough.
 */
const readRequests = [];
function requestsSoFar(state, settled = false) {
  if (settled) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700);
  const ops = JSON.parse(readFileSync(state, 'utf8')).counters?.ops ?? {};
  return Object.values(ops).reduce((a, b) => a + b, 0);
}

// ---- workloads: each returns milliseconds
const timed = (cmd, args, opts) => {
  const t0 = performance.now();
  must(sh(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts }), `${cmd} ${args.join(' ')}`);
  return performance.now() - t0;
};
const inner = (...args) => Number(must(sh(process.execPath, [WORK, ...args]), `work ${args[0]}`).stdout.trim());
let serial = 0;
const WORKLOADS = [
  ['seq read 256 MiB, cold', (v) => {
    // Drop this file's cached pages (in the view) first: per file, nothing machine-wide.
    must(sh('dd', [`if=${join(v.dir, 'big.bin')}`, 'iflag=nocache', 'count=0', 'status=none']), 'drop cache');
    const before = v.state ? requestsSoFar(v.state) : 0;
    const ms = timed('dd', [`if=${join(v.dir, 'big.bin')}`, 'of=/dev/null', 'bs=1M', 'status=none']);
    if (v.state) readRequests.push((requestsSoFar(v.state, true) - before) / 256);
    return ms;
  }],
  ['seq write 256 MiB, fsync', (v) => {
    const file = join(v.dir, `seqw-${v.name}-${serial++}.bin`);
    const ms = timed('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=256', 'conv=fsync', 'status=none']);
    must(sh('rm', ['-f', file]), 'rm seq write');
    return ms;
  }],
  ['4 KiB random read ×20k, 1 thread', (v) => inner('randread', join(v.dir, 'big.bin'), '20000')],
  ['4 KiB random read ×20k, 4 threads', (v) => inner('randread', join(v.dir, 'big.bin'), '20000', '4')],
  // Into big.bin itself (its bytes matter to no read above, its size stays): 20k pages, one fsync.
  ['4 KiB random write ×20k, fsync', (v) => inner('randwrite', join(v.dir, 'big.bin'), '20000')],
  ['create+stat+unlink 5000 files', (v) => inner('cstat', join(v.dir, `cstat-${v.name}-${serial++}`), '5000')],
  ['untar 3,000 files', (v) => {
    const into = join(v.dir, `untar-${v.name}-${serial++}`);
    mkdirSync(into);
    const ms = timed('tar', ['-xf', join(side, 'pkg.tar'), '-C', into]);
    // Removed through the view (not timed), so the kernel forgets those inodes.
    must(sh('rm', ['-rf', into]), 'rm untar');
    return ms;
  }],
  ['git clone, 2,000 files', (v) => {
    // From the raw source (outside the view) into the view: pack transfer, then a checkout of every file.
    const into = join(v.dir, `clone-${v.name}-${serial++}`);
    const ms = timed('git', ['clone', '-q', '--no-local', join(src, 'repo'), into]);
    must(sh('rm', ['-rf', into]), 'rm clone');
    return ms;
  }],
  ['find (20k entries)', (v) => timed('find', [join(v.dir, 'tree')])],
  ['du -s', (v) => timed('du', ['-s', join(v.dir, 'tree')])],
  ['ls -lR', (v) => timed('ls', ['-lR', join(v.dir, 'tree')])],
  ['git status', (v) => timed('git', ['-c', `safe.directory=*`, '-C', join(v.dir, 'repo'), 'status', '--porcelain'])],
];

// ONLY: run just the workloads whose names start with one of these (comma list), for a closer look.
const ONLY = process.env.ONLY?.split(',');
if (ONLY) WORKLOADS.splice(0, WORKLOADS.length, ...WORKLOADS.filter(([w]) => ONLY.some((p) => w.startsWith(p))));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Every view starts each workload with its 1 s caches expired: at least SETTLE_MS since its
// previous workload ended (entry and attribute timeouts are 1 s on bindfs, native and mountie).
// Where the source is watched (native, mountie: 60 s, kept true by invalidation, issue 20) what
// the workload before left cached is still valid: that is what the watch is for.
// Without it, whether a view's names and attributes from the workload before were still valid
// depended on how long the other views took in between (its place in the order, fuse-native's
// 3 s `find` in the first rounds only), and `du -s`/`ls -lR` compared a warm view with a cold one.
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 1100);
const lastEnd = new Map(); // view name → when its last workload ended
async function settle(v) {
  if (v.name === 'raw') return;
  const wait = (lastEnd.get(v.name) ?? 0) + SETTLE_MS - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

async function main() {
  buildSource();
  const views = [];
  for (const t of TARGETS) views.push(await view(t));
  const results = new Map(); // `${workload}|${target}` → ms[]
  const loads = [load()];
  const t0 = Date.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [wname, fn] of WORKLOADS) {
      // interleaved: every view runs each workload before the next workload starts
      const order = r % 2 ? [...views].reverse() : views;
      for (const v of order) {
        const key = `${wname}|${v.name}`;
        if (!results.has(key)) results.set(key, []);
        await settle(v);
        results.get(key).push(fn(v));
        lastEnd.set(v.name, Date.now());
      }
    }
    loads.push(load());
    console.log(`round ${r + 1}/${ROUNDS} done (${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()})`);
  }
  for (const v of views) await v.stop();
  return { results, loads, secs: (Date.now() - t0) / 1000 };
}

function table({ results, loads, secs }) {
  const vsRaw = TARGETS.includes('raw') ? VS_RAW.filter((t) => TARGETS.includes(t)) : [];
  const head = `| workload | ${TARGETS.map((t) => `${t} ms`).join(' | ')} | ${TARGETS.filter((t) => t !== 'bindfs').map((t) => `${t} ÷ bindfs`).join(' | ')} |${vsRaw.map((t) => ` ${t} ÷ raw |`).join('')}`;
  const rows = WORKLOADS.map(([w]) => {
    const med = Object.fromEntries(TARGETS.map((t) => [t, results.get(`${w}|${t}`) ? median(results.get(`${w}|${t}`)) : NaN]));
    const ratio = (t) => (med.bindfs ? (med[t] / med.bindfs).toFixed(2) + '×' : '–');
    console.log(w, JSON.stringify(Object.fromEntries(TARGETS.map((t) => [t, results.get(`${w}|${t}`)?.map((x) => Math.round(x))]))));
    const toRaw = (t) => (med.raw ? (med[t] / med.raw).toFixed(2) + '×' : '–');
    return `| ${w} | ${TARGETS.map((t) => med[t].toFixed(1)).join(' | ')} | ${TARGETS.filter((t) => t !== 'bindfs').map(ratio).join(' | ')} |${vsRaw.map((t) => ` ${toRaw(t)} |`).join('')}`;
  });
  return [
    `Medians of ${ROUNDS} interleaved rounds, one private tmpfs source, ${new Date().toISOString().slice(0, 16)}Z, ${secs.toFixed(0)} s.`,
    `Load average (1/5/15 min) before and after each round: ${loads.join(' → ')} (2 cores, shared with other test runs).`,
    ...(readRequests.length ? [`Requests reaching the mountie daemon per MiB of the cold sequential read (all ops, from state.json's counters): median ${median(readRequests).toFixed(2)} over ${readRequests.length} rounds (${readRequests.map((x) => x.toFixed(2)).join(', ')}).`] : []),
    '',
    head,
    `|---|${TARGETS.map(() => '---:').join('|')}|${TARGETS.filter((t) => t !== 'bindfs').map(() => '---:').join('|')}|${vsRaw.map(() => '---:|').join('')}`,
    ...rows,
  ].join('\n');
}

const START = '<!-- data-path:start -->';
const END = '<!-- data-path:end -->';
function writeReport(text) {
  const file = join(REPO, 'BENCHMARKS.md');
  const section = `${START}\n## Data path\n\nProduced by \`npm run bench\` (first; alone: \`npm run bench:data\`; scripts/bench/data.mjs; each view waits until ${SETTLE_MS} ms have passed since its previous workload, so every workload starts with 1 s caches expired; native, native-own, native-own-pt and mountie watch the source (the default) and cache names and attributes 60 s, kept true by invalidation, so what the workload before cached is still valid there; native-1s: the watch off (MOUNTIE_SOURCE_WATCH=0), the fixed 1 s caches; native-own: the same on mountie's own FUSE session (the default since 2026-12-08) instead of libfuse's (MOUNTIE_SESSION=libfuse), kernel passthrough off (MOUNTIE_PASSTHROUGH=0); native-own-pt: and the kernel's passthrough of file I/O (MOUNTIE_PASSTHROUGH=1, the default since 2026-12-08: reads and writes of an open file never reach the daemon). bindfs ${sh('bindfs', ['--version']).stdout.trim().split(' ')[1] ?? '?'} with \`-o big_writes\` (libfuse 2); native: native/ on libfuse 3.14's session (MOUNTIE_SESSION=libfuse; readdirplus off, the default), all through test/fixtures/serve-passthrough.mjs in a session of its own (as bindfs and the daemon); mountie: \`mountie mount --background\` (the daemon on its default data path: our own session, kernel passthrough on as root).\n\n${text}\n${END}`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  doc = doc.includes(START) ? doc.replace(new RegExp(`${START}[\\s\\S]*${END}`), section) : doc.trimEnd() + '\n\n' + section + '\n';
  writeFileSync(file, doc);
}

try {
  const r = await main();
  const text = table(r);
  console.log(text);
  // A partial run (some targets or workloads) prints its table but leaves BENCHMARKS.md alone.
  if (process.env.ONLY || process.env.TARGETS) console.log('partial run (ONLY or TARGETS set): BENCHMARKS.md not written');
  else writeReport(text);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const name of [...ALL, ...CHOICES]) if (mounted(join(base, name))) sh('fusermount', ['-uz', join(base, name)]);
  sh('umount', [fsRoot]);
  rmSync(base, { recursive: true, force: true });
}
