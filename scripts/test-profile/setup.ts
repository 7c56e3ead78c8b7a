// Measurement only (scripts/test-profile/config.ts): per test file, the CPU its worker used and the
// CPU of the children it reaped (every CLI call it waited for), from /proc/self/stat, and its wall time.
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';

const TICK = 100; // USER_HZ
function ticks(): number[] {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // fields 14..17 (utime stime cutime cstime): index 11..14 after the comm
  return [11, 12, 13, 14].map((i) => Number(f[i]) / TICK);
}
let t0 = 0;
let c0: number[] = [];
beforeAll(() => {
  t0 = performance.now();
  c0 = ticks();
});
afterAll(() => {
  const c1 = ticks();
  const file = expect.getState().testPath ?? 'unknown';
  const line = { file, wall: (performance.now() - t0) / 1000, self: c1[0]! + c1[1]! - c0[0]! - c0[1]!, children: c1[2]! + c1[3]! - c0[2]! - c0[3]!, pid: process.pid };
  appendFileSync(process.env.TEST_PROFILE_OUT ?? '/tmp/test-profile.jsonl', JSON.stringify(line) + '\n');
});
