// How fast is the workspace lock free again after its holder is SIGKILLed?
// Spawns a holder, kills it, then tries to acquire every 0.5 ms. Prints median/p90/max.
import { spawn } from 'node:child_process';
import { acquireLock, lockAddress } from '../../dist/daemon/lock.js';

const RUNS = Number(process.env.RUNS ?? 30);
const holderCode = `
  const { acquireLock } = await import(${JSON.stringify(new URL('../../dist/daemon/lock.js', import.meta.url).href)});
  await acquireLock('\\0' + process.argv[1].slice(1), { pid: process.pid, instanceId: 'bench' }, 'bench');
  process.stdout.write('held\\n');
  setInterval(() => {}, 1000);
`;

const times = [];
for (let i = 0; i < RUNS; i++) {
  const addr = lockAddress('/bench-home', `bench-${process.pid}-${i}`);
  const holder = spawn(process.execPath, ['--input-type=module', '-e', holderCode, '@' + addr.slice(1)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('holder did not start')), 10_000);
    holder.stdout.once('data', () => (clearTimeout(t), resolve()));
  });
  const t0 = process.hrtime.bigint();
  holder.kill('SIGKILL');
  for (;;) {
    try {
      const lock = await acquireLock(addr, { pid: process.pid, instanceId: 'bench' }, 'bench');
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await lock.release();
      break;
    } catch (err) {
      if (err.code !== 'ERR_WORKSPACE_LOCKED') throw err;
      if (Number(process.hrtime.bigint() - t0) > 5e9) throw new Error('lock not released within 5 s');
      await new Promise((r) => setTimeout(r, 0.5));
    }
  }
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2);
console.log(`lock release after SIGKILL (abstract socket), ${RUNS} runs: median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms`);
