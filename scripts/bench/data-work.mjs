// One timed workload on a directory, run as its own process so the runner never touches a mount
// synchronously. Prints the elapsed milliseconds of the loop itself (Node's startup excluded).
// Usage: node data-work.mjs randread <file> <count> [threads] | randwrite <file> <count> | cstat <dir> <count>
// randread with threads > 1: that many worker threads, each with its own fd and seed, count/threads
// reads each, timed from when all are ready until the last is done.
import { closeSync, fsyncSync, openSync, readSync, statSync, unlinkSync, writeFileSync, writeSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

function randread(file, count, seed0) {
  let seed = seed0;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const fd = openSync(file, 'r');
  const size = statSync(file).size;
  const buf = Buffer.allocUnsafe(4096);
  const pages = Math.floor(size / 4096);
  for (let i = 0; i < count; i++) readSync(fd, buf, 0, 4096, Math.floor(rand() * pages) * 4096);
  closeSync(fd);
}

/** 4 KiB writes at random page offsets of an existing file, then one fsync (what reaches the disk is timed too). */
function randwrite(file, count, seed0) {
  let seed = seed0;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const fd = openSync(file, 'r+');
  const pages = Math.floor(statSync(file).size / 4096);
  const buf = Buffer.alloc(4096, 0x5a);
  for (let i = 0; i < count; i++) writeSync(fd, buf, 0, 4096, Math.floor(rand() * pages) * 4096);
  fsyncSync(fd);
  closeSync(fd);
}

if (!isMainThread) {
  // A worker of `randread … <threads>`: wait for the start, read, report.
  parentPort.once('message', () => {
    randread(workerData.file, workerData.count, workerData.seed);
    parentPort.postMessage('done');
  });
  parentPort.postMessage('ready');
} else {
  await main();
}

async function main() {
  const [kind, target, countArg, threadsArg] = process.argv.slice(2);
  const count = Number(countArg);
  const threads = Number(threadsArg ?? 1);

  if (kind === 'randread' && threads > 1) {
    const workers = Array.from({ length: threads }, (_, i) => new Worker(new URL(import.meta.url), { workerData: { file: target, count: Math.ceil(count / threads), seed: 12345 + i } }));
    const next = (w) =>
      new Promise((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      });
    await Promise.all(workers.map(next));
    const t0 = performance.now();
    const done = workers.map(next);
    for (const w of workers) w.postMessage('go');
    await Promise.all(done);
    console.log((performance.now() - t0).toFixed(2));
    await Promise.all(workers.map((w) => w.terminate()));
    return;
  }

  const t0 = performance.now();
  if (kind === 'randread') {
    randread(target, count, 12345);
  } else if (kind === 'randwrite') {
    randwrite(target, count, 54321);
  } else if (kind === 'cstat') {
    mkdirSync(target);
    for (let i = 0; i < count; i++) writeFileSync(join(target, `f${i}`), 'x');
    for (let i = 0; i < count; i++) statSync(join(target, `f${i}`));
    for (let i = 0; i < count; i++) unlinkSync(join(target, `f${i}`));
    rmdirSync(target);
  } else {
    console.error(`unknown workload ${kind}`);
    process.exit(2);
  }
  console.log((performance.now() - t0).toFixed(2));
}
