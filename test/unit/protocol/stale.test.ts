/**
 * cleanStaleMounts judges a mount stale only when no live daemon of the workspace exists; the
 * daemons may be given as a lookup, paid (a /proc scan) only when there is a mount of ours to judge.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { MountEntry } from '../../../src/sys/mountinfo.js';
import type { DaemonRef } from '../../../src/protocol/daemons.js';

const table: MountEntry[] = [];
vi.mock('../../../src/sys/mountinfo.js', async (orig) => ({
  ...(await orig<typeof import('../../../src/sys/mountinfo.js')>()),
  readMountInfo: async () => [...table],
}));

const { cleanStaleMounts } = await import('../../../src/protocol/stale.js');

const HOME_ID = '0123456789abcdef';
const ours: MountEntry = { mountId: 40, device: '0:50', mountPoint: '/h/mnt/ws', fstype: 'fuse.mountie', source: `mountie:ws@${HOME_ID}`, superOptions: `rw,user_id=${process.getuid?.() ?? 0},group_id=0`, mountOptions: 'rw' };
const daemon: DaemonRef = { pid: 4242, startTime: 1, bootId: 'b', state: 'S', pgrp: 4242, sid: 4242, workspace: 'ws', holdsLock: false, exiting: false };

describe('cleanStaleMounts with the live daemons as a lookup', () => {
  beforeEach(() => {
    table.length = 0;
  });

  it('never looks when there is no mount of ours', async () => {
    const look = vi.fn(async () => [daemon]);
    expect(await cleanStaleMounts({ workspace: 'ws', homeId: HOME_ID, liveDaemons: look, log: () => undefined })).toBe(0);
    expect(look).not.toHaveBeenCalled();
  });

  it('looks when there is one, and leaves it to the live daemon that owns it (ERR_WORKSPACE_LOCKED)', async () => {
    table.push(ours);
    const look = vi.fn(async () => [daemon]);
    await expect(cleanStaleMounts({ workspace: 'ws', homeId: HOME_ID, liveDaemons: look, log: () => undefined })).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED', data: { pid: 4242 } });
    expect(look).toHaveBeenCalledTimes(1);
  });
});
