import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installLifecycleHandlers } from '../../../src/daemon/signals.js';

describe('installLifecycleHandlers', () => {
  it('passes only the first fatal error on, reports the second once, drops the rest, and survives a throwing handler', () => {
    const emitter = new EventEmitter();
    const proc = emitter as unknown as NodeJS.Process;
    const seen: string[] = [];
    const remove = installLifecycleHandlers(
      {
        onSignal: () => undefined,
        onFatal: (_k, err) => {
          seen.push(`fatal ${String(err)}`);
          throw new Error('the handler itself failed');
        },
        onFatalRepeated: (_k, err) => void seen.push(`repeated ${String(err)}`),
      },
      proc,
    );
    for (let i = 0; i < 1000; i++) emitter.emit('uncaughtException', i);
    expect(seen).toEqual(['fatal 0', 'repeated 1']);
    remove();
    expect(proc.listenerCount('uncaughtException')).toBe(0);
    expect(proc.listenerCount('SIGHUP')).toBe(0);
  });
});
