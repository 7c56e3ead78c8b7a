import type { Logger } from './log.js';
import type { TestHooks } from './options.js';

/**
 * Test-only faults that run once the daemon is READY (MOUNTIE_TEST_FAULT). They let integration
 * tests cause real failures in a real daemon; ARCHITECTURE.md lists them. Returns a remover.
 */
export function applyTestFaults(hooks: TestHooks, ctx: { mountpoint: string; log: Logger }): () => void {
  const timers: NodeJS.Timeout[] = [];
  if (hooks.fault === 'throw-after-ready') {
    ctx.log.info('test fault: throwing an uncaught exception in 50 ms');
    timers.push(
      setTimeout(() => {
        throw new Error('injected fault (MOUNTIE_TEST_FAULT=throw-after-ready)');
      }, 50),
    );
  }
  return () => timers.forEach((t) => clearTimeout(t));
}
