// Benchmark of the state writer (not a test). Usage: node scripts/bench/state.mjs [dir]
// Needs `npm run build`. Writes in a temporary directory under [dir] (default: os.tmpdir()),
// which should be on the same filesystem as MOUNTIE_HOME for the numbers to mean anything.
//
// Prints: fsync duration of a 1 KiB file; ops/s of writeFileDurable vs write-file-atomic
// (alone and with the directory fsync it lacks); updates absorbed per second by
// StateWriter.update in a tight loop; durable writes per second meanwhile; and the lag from
// update() to durable (p50/p99), under that load and when idle.
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { setImmediate } from 'node:timers';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import writeFileAtomic from 'write-file-atomic';
import { fsyncDir, writeFileDurable } from '../../dist/state/atomic.js';
import { StateWriter } from '../../dist/state/writer/writer.js';

const DURATION_MS = 2000;
const dir = await mkdtemp(join(process.argv[2] ?? tmpdir(), 'mountie-bench-state-'));
const KIB = Buffer.alloc(1024, 'x');
const yieldNow = () => new Promise((r) => setImmediate(r));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

/** Run `fn` back to back for DURATION_MS; ops/s and per-op durations. */
async function timed(fn) {
  const durations = [];
  const end = performance.now() + DURATION_MS;
  while (performance.now() < end) {
    const t = performance.now();
    await fn();
    durations.push(performance.now() - t);
  }
  return { opsPerSec: durations.length / (DURATION_MS / 1000), p50: pct(durations, 50), p99: pct(durations, 99) };
}

/** fsync of a freshly created 1 KiB file: what each state write pays (new inode, new block). */
async function fsyncDuration() {
  const durations = [];
  for (let i = 0; i < 500; i++) {
    const path = join(dir, `fsync-probe-${i}`);
    const fh = await open(path, 'wx');
    await fh.write(KIB, 0, KIB.length, 0);
    const t = performance.now();
    await fh.sync();
    durations.push(performance.now() - t);
    await fh.close();
    await unlink(path);
  }
  return { p50: pct(durations, 50), p99: pct(durations, 99) };
}

const initial = {
  status: 'active',
  mount: { mountpoint: '/mnt/x', source: '/src/x', fsname: 'bench' },
  counters: { ops: { read: 0, write: 0, getattr: 0 }, bytesRead: 0, bytesWritten: 0, errors: 0 },
  cursor: 0,
  pid: process.pid,
  startedAt: new Date().toISOString(),
};

/**
 * Tight update loop, yielding to the event loop every `batch` calls so writes can run; the
 * lag of sampled updates is taken when the write that carries them is durable.
 */
async function loaded(batch) {
  const w = new StateWriter({ path: join(dir, `state-${batch}.json`), epoch: 1, initial });
  await w.flush();
  const samples = []; // [seq, t] of the first update after each write started
  const lags = [];
  const cycles = [];
  w.onWritten(({ seq, durationMs }) => {
    cycles.push(durationMs);
    const now = performance.now();
    while (samples.length > 0 && samples[0][0] <= seq) lags.push(now - samples.shift()[1]);
  });
  const writes0 = w.stats().writes;
  let n = 0;
  const start = performance.now();
  const end = start + DURATION_MS;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) {
      n++;
      w.update({ cursor: n, lastOpAt: '2024-01-01T00:00:00.000Z', counters: { ops: { write: n }, bytesRead: 0, bytesWritten: n, errors: 0 } });
      if (n % 100 === 0) samples.push([w.stats().seq, performance.now()]);
    }
    await yieldNow();
  }
  const elapsed = (performance.now() - start) / 1000;
  const writes = w.stats().writes - writes0;
  await w.close();
  return { updatesPerSec: n / elapsed, writesPerSec: writes / elapsed, p50: pct(lags, 50), p99: pct(lags, 99), cycleP50: pct(cycles, 50), cycleP99: pct(cycles, 99) };
}

/** One update at a time on an idle writer: update() then flush(). */
async function idle() {
  const w = new StateWriter({ path: join(dir, 'state-idle.json'), epoch: 1, initial });
  await w.flush();
  const lags = [];
  for (let i = 1; i <= 300; i++) {
    const t = performance.now();
    w.update({ cursor: i });
    await w.flush();
    lags.push(performance.now() - t);
  }
  await w.close();
  return { p50: pct(lags, 50), p99: pct(lags, 99) };
}

// Lag is sampled per update (every 100th), so it is time-weighted: a write stalled by a slow
// journal commit delays every update that arrives meanwhile, and dominates the percentiles.
const lagLine = (r, f) => `p50 ${ms(r.p50)} (${(r.p50 / f).toFixed(1)} fsyncs)  p99 ${ms(r.p99)} (${(r.p99 / f).toFixed(1)} fsyncs)`;
const cycleLine = (r) => `p50 ${ms(r.cycleP50)}  p99 ${ms(r.cycleP99)}  (mean ${ms(1000 / r.writesPerSec)})`;

try {
  const fsync = await fsyncDuration();
  const durable = await timed(() => writeFileDurable(join(dir, 'a.json'), KIB));
  const wfa = await timed(() => writeFileAtomic(join(dir, 'b.json'), KIB));
  const wfaDir = await timed(async () => {
    await writeFileAtomic(join(dir, 'c.json'), KIB);
    await fsyncDir(dir);
  });
  const batch = await loaded(1000);
  const each = await loaded(1);
  const idl = await idle();
  const f = fsync.p50;
  console.log(`fsync of a new 1 KiB file:       p50 ${ms(f)}  p99 ${ms(fsync.p99)}`);
  console.log('1 KiB whole-file replacement, sequential:');
  console.log(`  writeFileDurable (+dir fsync):  ${durable.opsPerSec.toFixed(0)} ops/s  p50 ${ms(durable.p50)}`);
  console.log(`  write-file-atomic (no dir fsync): ${wfa.opsPerSec.toFixed(0)} ops/s  p50 ${ms(wfa.p50)}`);
  console.log(`  write-file-atomic + dir fsync:  ${wfaDir.opsPerSec.toFixed(0)} ops/s  p50 ${ms(wfaDir.p50)}`);
  console.log('StateWriter, update() in a tight loop for 2 s, yielding every 1000 calls:');
  console.log(`  updates absorbed:   ${(batch.updatesPerSec / 1000).toFixed(0)}k/s  (goal >= 100k/s)`);
  console.log(`  durable writes:     ${batch.writesPerSec.toFixed(0)}/s  (${(2 * batch.writesPerSec).toFixed(0)} fsyncs/s: file + directory)`);
  console.log(`  one write (cycle):  ${cycleLine(batch)}`);
  console.log(`  lag to durable:     ${lagLine(batch, f)}`);
  console.log('StateWriter, update() then setImmediate, for 2 s:');
  console.log(`  updates absorbed:   ${(each.updatesPerSec / 1000).toFixed(0)}k/s`);
  console.log(`  durable writes:     ${each.writesPerSec.toFixed(0)}/s`);
  console.log(`  one write (cycle):  ${cycleLine(each)}`);
  console.log(`  lag to durable:     ${lagLine(each, f)}`);
  console.log('StateWriter, idle: update() then flush(), 300 times:');
  console.log(`  lag to durable:     ${lagLine(idl, f)}  (one write alone: p50 ${ms(durable.p50)})`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
