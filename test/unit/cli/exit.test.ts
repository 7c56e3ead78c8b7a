import { describe, expect, it } from 'vitest';
import { exitProcess, type ExitDeps } from '../../../src/cli/exit.js';

/** A fake clock: sleep advances it; `pendingUntil` says when the in-flight calls return. */
function fake(pendingUntil: number, count = 1): ExitDeps & { events: string[] } {
  let t = 0;
  const events: string[] = [];
  return {
    events,
    pending: () => (t < pendingUntil ? count : 0),
    sleep: async (ms) => void (t += ms),
    now: () => t,
    warn: (line) => void events.push(`warn ${line.trim()}`),
    kill: () => void events.push('kill'),
    exit: (code) => void events.push(`exit ${code}`),
  };
}

describe('exitProcess', () => {
  it('exits with its code at once when no call is out', async () => {
    const d = fake(0);
    await exitProcess(0, 1000, d);
    expect(d.events).toEqual(['exit 0']);
  });

  it('waits for calls merely in flight and keeps the exit code (no SIGKILL)', async () => {
    const d = fake(150);
    await exitProcess(1, 1000, d);
    expect(d.events).toEqual(['exit 1']);
  });

  it('ends by SIGKILL only when calls are still out after the drain bound, saying which code it replaces', async () => {
    const d = fake(Number.POSITIVE_INFINITY, 2);
    await exitProcess(0, 1000, d);
    expect(d.events[0]).toMatch(/^warn mountie: 2 fs calls .* instead of code 0$/);
    expect(d.events.slice(1)).toEqual(['kill', 'exit 0']);
  });
});
