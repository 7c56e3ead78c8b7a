import { stat, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.js';
import type { TestHooks } from './options.js';

/** Names accepted in MOUNTIE_TEST_FAULT (ARCHITECTURE.md, "Test-only hooks"). */
export const TEST_FAULTS = ['throw-on-usr2', 'wedge-on-usr2', 'self-touch-on-usr2', 'pool-touch-on-usr2'] as const;

/**
 * The JS thread never returns to the event loop: signal handlers, timers and every FUSE op
 * (a kind's own ops wait for this thread) wait forever. SIGKILL still works.
 */
function spinForever(): never {
  for (;;) {
    // Busy on purpose: a wedged JS thread, as an infinite loop in an op handler would leave it.
  }
}

/**
 * A sync stat of a never-seen name below our own mountpoint: the kernel sends LOOKUP to this
 * process, a kind's own ops wait for the JS thread to answer it, and the JS thread waits in
 * the kernel for the answer. State D; once SIGKILLed the wait is no longer even killable (the
 * request was already read by the fuse thread), so only aborting the connection frees it.
 */
function touchOwnMount(mountpoint: string): void {
  statSync(join(mountpoint, `.mountie-self-touch-${process.pid}-${Date.now()}`), { throwIfNoEntry: false });
}

/**
 * The same LOOKUP from one of libuv's pool threads (an async stat), answered by nobody because the
 * JS thread is wedged right after: SIGKILL then ends the JS thread and leaves the process a
 * zombie leader whose pool thread still sleeps in the kernel, holding every fd (the lock socket,
 * /dev/fuse). Only aborting the connection frees that thread.
 */
function poolTouchOwnMount(mountpoint: string): void {
  stat(join(mountpoint, `.mountie-pool-touch-${process.pid}-${Date.now()}`), () => undefined);
}

/**
 * Test-only faults that run once the daemon is READY (MOUNTIE_TEST_FAULT). They let integration
 * tests cause real failures in a real daemon; ARCHITECTURE.md lists them. Returns a remover.
 */
export function applyTestFaults(hooks: TestHooks, ctx: { mountpoint: string; log: Logger }): () => void {
  const removers: (() => void)[] = [];
  const onUsr2 = (what: string, fault: () => void): void => {
    ctx.log.info(`test fault: ${what} on SIGUSR2`);
    const handler = (): void => {
      // The log is written synchronously, so this line is on disk before the thread is lost.
      ctx.log.info(`test fault: SIGUSR2 received, ${what} now`);
      fault();
      ctx.log.info(`test fault: ${what} returned`);
    };
    process.on('SIGUSR2', handler);
    removers.push(() => process.off('SIGUSR2', handler));
  };
  if (hooks.fault === 'throw-on-usr2') {
    // On a signal, not on a timer: a launcher slower than the timer saw the daemon already dead.
    onUsr2('throw an uncaught exception', () => {
      throw new Error('injected fault (MOUNTIE_TEST_FAULT=throw-on-usr2)');
    });
  } else if (hooks.fault === 'wedge-on-usr2') {
    onUsr2('spin the JS thread forever', spinForever);
  } else if (hooks.fault === 'self-touch-on-usr2') {
    onUsr2('stat a file on our own mount from the JS thread', () => touchOwnMount(ctx.mountpoint));
  } else if (hooks.fault === 'pool-touch-on-usr2') {
    onUsr2('stat a file on our own mount from a pool thread, then spin the JS thread', () => {
      poolTouchOwnMount(ctx.mountpoint);
      // At once: the pool thread runs the stat on its own, and the JS thread must never answer it.
      spinForever();
    });
  } else if (hooks.fault !== undefined) {
    ctx.log.error(`test fault ${hooks.fault} unknown (known: ${TEST_FAULTS.join(', ')}); ignored`);
  }
  return () => {
    removers.forEach((r) => r());
  };
}
