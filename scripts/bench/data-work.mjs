// One timed workload on a directory, run as its own process so the runner never touches a mount
// synchronously. Prints the elapsed milliseconds of the loop itself (Node's startup excluded).
// Usage: node data-work.mjs randread <file> <count> | cstat <dir> <count>
import { closeSync, openSync, readSync, statSync, unlinkSync, writeFileSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const [kind, target, countArg] = process.argv.slice(2);
const count = Number(countArg);
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

const t0 = performance.now();
if (kind === 'randread') {
  const fd = openSync(target, 'r');
  const size = statSync(target).size;
  const buf = Buffer.allocUnsafe(4096);
  const pages = Math.floor(size / 4096);
  for (let i = 0; i < count; i++) readSync(fd, buf, 0, 4096, Math.floor(rand() * pages) * 4096);
  closeSync(fd);
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
