import { describe, expect, it } from 'vitest';
import { MOUNT_STEP_MS, MOUNT_TIMEOUT_MS, innerMountTimeout } from '../../../src/daemon/mount-budget.js';

/** The daemon's 'mount' step and the mount inside it: the inner bound must end first, so its coded error is what the launcher reports. */
describe('mount step budget', () => {
  it('gives the mount inside the step less time than the step itself, whatever mount() took first', () => {
    expect(MOUNT_STEP_MS).toBeGreaterThan(MOUNT_TIMEOUT_MS);
    const deadline = 1_000_000;
    const start = deadline - MOUNT_STEP_MS;
    // The author's mount() returned at once: the data path gets its full default.
    expect(innerMountTimeout(deadline, start)).toBe(MOUNT_TIMEOUT_MS);
    for (const took of [0, 1, 5_000, MOUNT_TIMEOUT_MS - 1, MOUNT_TIMEOUT_MS]) {
      const inner = innerMountTimeout(deadline, start + took);
      expect(inner).toBeGreaterThan(0);
      expect(start + took + inner, `mount() took ${took} ms`).toBeLessThan(deadline);
    }
    // Nothing left: the mount still gets a bound of its own (it fails at once, with its own code).
    expect(innerMountTimeout(deadline, deadline)).toBeGreaterThan(0);
  });
});
