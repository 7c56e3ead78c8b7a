import { describe, expect, it } from 'vitest';
import { createShutdown } from '../../../src/daemon/shutdown.js';
import type { Logger } from '../../../src/daemon/log.js';

function memLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(m), warn: (m) => void lines.push(`W ${m}`), error: (m) => void lines.push(`E ${m}`), close: () => undefined };
}

describe('createShutdown', () => {
  it('runs steps in order once, whatever triggers it and how often', async () => {
    const order: string[] = [];
    const sd = createShutdown({
      deadlineMs: 1000,
      log: memLog(),
      steps: () => ['a', 'b', 'c'].map((name) => ({ name, run: () => void order.push(name) })),
      force: async () => order.push('force'),
    });
    const [r1, r2] = await Promise.all([sd.trigger('signal SIGTERM', 0), sd.trigger('fatal', 1)]);
    expect(r1).toBe(r2);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(r1).toMatchObject({ exitCode: 0, reason: 'signal SIGTERM', forced: false, failedSteps: [] });
    expect(await sd.done).toBe(r1);
  });

  it('a failing step is logged and the order goes on', async () => {
    const order: string[] = [];
    const log = memLog();
    const sd = createShutdown({
      deadlineMs: 1000,
      log,
      steps: () => [
        { name: 'unmount', run: () => Promise.reject(new Error('busy')) },
        { name: 'release', run: () => void order.push('release') },
      ],
      force: async () => undefined,
    });
    const r = await sd.trigger('x', 0);
    expect(order).toEqual(['release']);
    expect(r.failedSteps).toEqual(['unmount']);
    expect(log.lines.some((l) => l.startsWith('E shutdown step unmount failed'))).toBe(true);
  });

  it('past the deadline it forces and exits non-zero', async () => {
    let forced = false;
    const later: string[] = [];
    const sd = createShutdown({
      deadlineMs: 50,
      log: memLog(),
      steps: () => [
        { name: 'hang', run: () => new Promise(() => undefined) },
        { name: 'after', run: () => void later.push('after') },
      ],
      force: async () => {
        forced = true;
      },
    });
    const r = await sd.trigger('signal SIGTERM', 0);
    expect(r).toMatchObject({ forced: true, exitCode: 1 });
    expect(forced).toBe(true);
    expect(later).toEqual([]);
  });

  it('a forced shutdown still runs the later `always` steps (flush state, pidfile, lock), bounded, and not the one that overran', async () => {
    const order: string[] = [];
    const sd = createShutdown({
      deadlineMs: 50,
      forcedStepMs: 100,
      log: memLog(),
      steps: () => [
        { name: 'unmount', always: true, run: () => (order.push('unmount'), new Promise(() => undefined)) },
        { name: 'optional', run: () => void order.push('optional') },
        { name: 'flush-state', always: true, run: ({ forced }) => void order.push(`flush forced=${forced}`) },
        { name: 'remove-pidfile', always: true, run: () => new Promise(() => undefined) },
        { name: 'release-lock', always: true, run: () => void order.push('release') },
      ],
      force: async () => void order.push('force'),
    });
    const t0 = Date.now();
    const r = await sd.trigger('signal SIGTERM', 0);
    expect(order).toEqual(['unmount', 'force', 'flush forced=true', 'release']);
    expect(r).toMatchObject({ forced: true, exitCode: 1, failedSteps: ['unmount', 'remove-pidfile'] });
    // 50 ms deadline + one 100 ms bound for the wedged pidfile step; generous for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
