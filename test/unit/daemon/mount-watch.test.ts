import { afterEach, describe, expect, it, vi } from 'vitest';
import { mountWatchIntervalFromEnv, watchMount, DEFAULT_MOUNT_WATCH_MS } from '../../../src/daemon/mount-watch.js';
import type { MountEntry } from '../../../src/sys/mountinfo.js';

const ours: MountEntry = { mountId: 7, device: '0:99', mountPoint: '/m', fstype: 'fuse.mountie', source: 'mountie:ws', superOptions: 'rw', mountOptions: 'rw' };
const isOurs = (es: readonly MountEntry[]): boolean => es.some((e) => e.mountId === 7);

describe('watchMount', () => {
  afterEach(() => vi.useRealTimers());

  it('calls onLost once, after two reads in a row without our mount', async () => {
    vi.useFakeTimers();
    const tables: MountEntry[][] = [[ours], [], [ours], [], [], [], []];
    let reads = 0;
    const onLost = vi.fn();
    watchMount({ isOurs, onLost, intervalMs: 100, read: async () => tables[reads++] ?? [] });
    await vi.advanceTimersByTimeAsync(400); // ours, missing, ours again, missing
    expect(onLost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(100); // second miss in a row
    expect(onLost).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(reads).toBe(5);
  });

  it('a failing read proves nothing and is reported', async () => {
    vi.useFakeTimers();
    const onLost = vi.fn();
    const onReadError = vi.fn();
    watchMount({ isOurs, onLost, onReadError, intervalMs: 100, read: () => Promise.reject(Object.assign(new Error('EMFILE'), { code: 'EMFILE' })) });
    await vi.advanceTimersByTimeAsync(500);
    expect(onLost).not.toHaveBeenCalled();
    expect(onReadError).toHaveBeenCalledTimes(5);
  });

  it('never has two reads outstanding and stops for good', async () => {
    vi.useFakeTimers();
    let reads = 0;
    let release: (v: MountEntry[]) => void = () => undefined;
    const stop = watchMount({ isOurs, onLost: () => undefined, intervalMs: 100, read: () => (reads++, new Promise((r) => (release = r))) });
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads).toBe(1);
    stop();
    release([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads).toBe(1);
  });

  it('reads its interval from MOUNTIE_MOUNT_WATCH_MS within bounds', () => {
    expect(mountWatchIntervalFromEnv({})).toBe(DEFAULT_MOUNT_WATCH_MS);
    expect(mountWatchIntervalFromEnv({ MOUNTIE_MOUNT_WATCH_MS: '200' })).toBe(200);
    expect(mountWatchIntervalFromEnv({ MOUNTIE_MOUNT_WATCH_MS: '10' })).toBe(DEFAULT_MOUNT_WATCH_MS);
    expect(mountWatchIntervalFromEnv({ MOUNTIE_MOUNT_WATCH_MS: '1e3' })).toBe(DEFAULT_MOUNT_WATCH_MS);
    expect(mountWatchIntervalFromEnv({ MOUNTIE_MOUNT_WATCH_MS: '999999' })).toBe(DEFAULT_MOUNT_WATCH_MS);
  });
});
