// Stop latency of a healthy daemon: `mountie stop ws` wall time, and how long the daemon's own
// shutdown took (SIGTERM received → shutdown complete, from its log). 10 runs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), 'mountie-bench-stop-'));
const env = { ...process.env, MOUNTIE_HOME: home };
const run = (...args) => execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', timeout: 30_000 });
const RUNS = Number(process.env.RUNS ?? 10);
const wall = [];
const inner = [];
try {
  mkdirSync(join(home, 'src'));
  writeFileSync(join(home, 'src', 'f'), 'x');
  run('mount', 'ws', '--source', join(home, 'src'), '--background');
  run('stop', 'ws');
  for (let i = 0; i < RUNS; i++) {
    run('mount', 'ws', '--background');
    const t0 = performance.now();
    run('stop', 'ws');
    wall.push(performance.now() - t0);
    const log = readFileSync(join(home, 'workspaces', 'ws', 'daemon.log'), 'utf8').trim().split('\n');
    // JSON lines (src/protocol/log-line.ts); a plain line (stderr) has no time and never matches.
    const ts = (re) => Date.parse(JSON.parse(log.findLast((l) => l.startsWith('{') && re.test(l))).time);
    inner.push(ts(/shutdown complete/) - ts(/received SIGTERM/));
  }
} finally {
  try { run('stop', 'ws'); } catch { /* best effort: the bench must not leave a mount behind */ }
  rmSync(home, { recursive: true, force: true });
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)].toFixed(0);
const max = (a) => Math.max(...a).toFixed(0);
console.log(`mountie stop (healthy daemon), ${RUNS} runs: CLI wall median ${med(wall)} ms (max ${max(wall)}); daemon SIGTERM→exit median ${med(inner)} ms (max ${max(inner)})`);
