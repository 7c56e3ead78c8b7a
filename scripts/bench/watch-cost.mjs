// What the source watch costs on the metadata workloads (issue 20): requests per file by kind,
// notifications sent and the notifier thread's CPU time, watch on against off, through the
// bench's stand-in (test/fixtures/serve-passthrough.mjs, its counters read with SIGUSR2).
// Env: N (files, default 1000), VIEWS (comma list of own-pt, own, libfuse, own-pt-1s, libfuse-1s;
// default own-pt,own-pt-1s; `view@addon.node`: that view on another build of the addon, through
// MOUNTIE_NATIVE_ADDON, for an A/B in one run), WORK (cstat, untar; default both), ROUNDS
// (default 1, interleaved). Needs root (a private tmpfs).
// Prints one JSON line per view, workload and round, then the medians.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = new URL('../..', import.meta.url).pathname;
const SERVE = join(REPO, 'test/fixtures/serve-passthrough.mjs');
const WORKER = join(REPO, 'scripts/bench/data-work.mjs');
const N = Number(process.env.N ?? 1000);
const VIEWS = (process.env.VIEWS ?? 'own-pt,own-pt-1s').split(',');
const WORK = (process.env.WORK ?? 'cstat,untar').split(',');
const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts });
const must = (r, what) => {
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr || r.error}`);
  return r;
};

const base = mkdtempSync(join(tmpdir(), 'mountie-watch-cost-'));
const fsRoot = join(base, 'tmpfs');
mkdirSync(fsRoot);
must(sh('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tmpfs', fsRoot]), 'mount tmpfs');
const src = join(fsRoot, 'src');
const side = join(fsRoot, 'side');
mkdirSync(src);
mkdirSync(side);
// The bench's tarball: 30 × 5 directories of 20 files.
for (let a = 0; a < 30; a++)
  for (let b = 0; b < 5; b++) {
    const dir = join(side, 'pkg', `mod${a}`, `lib${b}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 20; f++) writeFileSync(join(dir, `m${f}.js`), `module.exports = ${a * 1000 + b * 20 + f};\n`.repeat(20));
  }
must(sh('tar', ['-cf', join(side, 'pkg.tar'), '-C', side, 'pkg']), 'tar');

const VIEW_ARGS = {
  'own-pt': [['--native'], { MOUNTIE_SESSION: 'own', MOUNTIE_PASSTHROUGH: '1' }],
  'own-pt-1s': [['--native', '--no-watch'], { MOUNTIE_SESSION: 'own', MOUNTIE_PASSTHROUGH: '1' }],
  own: [['--native'], { MOUNTIE_SESSION: 'own' }],
  libfuse: [['--native'], { MOUNTIE_SESSION: 'libfuse' }],
  'libfuse-1s': [['--native', '--no-watch'], { MOUNTIE_SESSION: 'libfuse' }],
};

async function serve(name) {
  const [kind, addon] = name.split('@');
  const [flags, env0] = VIEW_ARGS[kind];
  const env = addon ? { ...env0, MOUNTIE_NATIVE_ADDON: addon } : env0;
  const mnt = join(base, `mnt-${views.length}`);
  mkdirSync(mnt);
  const child = spawn(process.execPath, [SERVE, ...flags, src, mnt], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; !out.includes('READY'); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error(`${name}: ${out}`);
    await sleep(50);
  }
  const counters = async () => {
    const before = out.split('COUNTERS ').length;
    child.kill('SIGUSR2');
    for (let i = 0; i < 500; i++) {
      const parts = out.split('COUNTERS ');
      if (parts.length > before && parts.at(-1).includes('\n')) return JSON.parse(parts.at(-1).split('\n')[0]);
      await sleep(10);
    }
    throw new Error('no counters');
  };
  const stop = async () => {
    child.kill('SIGTERM');
    for (let i = 0; i < 200 && child.exitCode === null; i++) await sleep(50);
    sh('fusermount', ['-uz', mnt]);
  };
  return { name, mnt, pid: child.pid, counters, stop };
}

/** CPU ticks (utime + stime) per thread, and which thread is the notifier: poll(2 fds, no timeout). */
function threads(pid) {
  const r = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const sc = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim().split(' ');
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      r[tid] = { ticks: Number(f[11]) + Number(f[12]), comm, notifier: comm === 'mountie-fuse' && sc[0] === '7' && sc[2] === '0x2' && pollsInotify(pid, BigInt(sc[1])) };
    } catch {
      // the thread ended meanwhile
    }
  }
  return r;
}

/** Does the pollfd array at `addr` in process `pid` start with an inotify fd? (the notifier polls its inotify fd and its stop eventfd) */
function pollsInotify(pid, addr) {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, addr);
    return readlinkSync(`/proc/${pid}/fd/${b.readInt32LE(0)}`) === 'anon_inode:inotify';
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

const diff = (a, b) => {
  const ops = {};
  for (const k of new Set([...Object.keys(a.ops), ...Object.keys(b.ops)])) {
    const d = (b.ops[k] ?? 0) - (a.ops[k] ?? 0);
    if (d) ops[k] = d;
  }
  const r = { ops };
  for (const k of ['invalidations', 'invalEntries', 'invalInodes', 'events', 'eventReads', 'eventsOurs', 'watches'])
    if (k in b) r[k] = b[k] - (a[k] ?? 0);
  return r;
};

const HZ = 100;
let serial = 0;
const views = [];
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const rows = new Map(); // `${work}|${view}` → results
try {
  for (const v of VIEWS) views.push(await serve(v));
  for (let r = 0; r < ROUNDS; r++)
  for (const w of WORK)
    for (const v of r % 2 ? [...views].reverse() : views) {
      await sleep(1200);
      const into = join(v.mnt, `${w}-${serial++}`);
      const t0 = threads(v.pid);
      const c0 = await v.counters();
      const start = performance.now();
      let ms;
      if (w === 'cstat') ms = Number(must(sh(process.execPath, [WORKER, 'cstat', into, String(N)]), 'cstat').stdout.trim());
      else {
        mkdirSync(into);
        must(sh('tar', ['-xf', join(side, 'pkg.tar'), '-C', into]), 'untar');
        ms = performance.now() - start;
      }
      await sleep(300); // the notifier's last events
      const c1 = await v.counters();
      const t1 = threads(v.pid);
      if (w === 'untar') must(sh('rm', ['-rf', into]), 'rm'); // not counted
      const notifier = Object.keys(t1).filter((t) => t1[t].notifier || t0[t]?.notifier);
      const cpu = (tids) => tids.reduce((s, t) => s + ((t1[t]?.ticks ?? 0) - (t0[t]?.ticks ?? 0)), 0) * (1000 / HZ);
      const all = Object.keys(t1);
      const files = w === 'cstat' ? N : 3000;
      const d = diff(c0, c1);
      const perFile = Object.fromEntries(Object.entries(d.ops).map(([k, n]) => [k, +(n / files).toFixed(2)]));
      const row = { view: v.name, work: w, files, ms: Math.round(ms), perFile, ...d, notifierCpuMs: notifier.length === 1 ? cpu(notifier) : 0, processCpuMs: cpu(all), load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0] };
      console.log(JSON.stringify(row));
      const key = `${w}|${v.name}`;
      rows.set(key, [...(rows.get(key) ?? []), row]);
    }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log('| workload | view | ms | notifier CPU ms | process CPU ms | events | reads | ours | INVAL_ENTRY | INVAL_INODE | requests per file |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const [key, rs] of rows) {
    const [w, v] = key.split('|');
    const m = (k) => median(rs.map((x) => x[k] ?? 0));
    const per = Object.entries(rs.at(-1).perFile).filter(([, n]) => n >= 0.01).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`| ${w} | ${v} | ${m('ms')} | ${m('notifierCpuMs')} | ${m('processCpuMs')} | ${m('events')} | ${m('eventReads')} | ${m('eventsOurs')} | ${m('invalEntries')} | ${m('invalInodes')} | ${per} |`);
  }
} finally {
  for (const v of views) await v.stop();
  sh('umount', [fsRoot]);
  rmSync(base, { recursive: true, force: true });
}
