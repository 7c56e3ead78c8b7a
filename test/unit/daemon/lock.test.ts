import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { acquireLock, lockAddress, probeLock } from '../../../src/daemon/lock.js';
import { MountieError } from '../../../src/errors.js';

describe('workspace lock (abstract socket)', () => {
  it('has one holder; the refusal names it; release frees it', async () => {
    const addr = lockAddress(`/test-${randomUUID()}`, 'ws');
    expect(await probeLock(addr)).toEqual({ held: false });
    const lock = await acquireLock(addr, { pid: 4242, instanceId: 'one', startTime: 7 }, 'ws');
    expect(await probeLock(addr)).toEqual({ held: true, owner: { pid: 4242, instanceId: 'one', startTime: 7 } });
    const err = await acquireLock(addr, { pid: 1, instanceId: 'two' }, 'ws').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MountieError);
    expect(err).toMatchObject({ code: 'ERR_WORKSPACE_LOCKED', data: { pid: 4242, workspace: 'ws' } });
    await lock.release();
    await lock.release(); // idempotent
    expect(await probeLock(addr)).toEqual({ held: false });
    const again = await acquireLock(addr, { pid: 1, instanceId: 'two' }, 'ws');
    await again.release();
  });

  it('names differ per home, workspace and uid', () => {
    const a = lockAddress('/h1', 'ws', 0);
    expect(a.startsWith('\0mountie-0-')).toBe(true);
    expect(lockAddress('/h2', 'ws', 0)).not.toBe(a);
    expect(lockAddress('/h1', 'ws2', 0)).not.toBe(a);
    expect(lockAddress('/h1', 'ws', 1000)).not.toBe(a);
    expect(lockAddress('/h1', 'ws', 0)).toBe(a);
  });
});
