/**
 * The daemon's bounded 'mount' step and the mount inside it (the native core's, with its
 * own deadline). The inner bound must end first: then a hung mount fails with the mount's own
 * coded error (ERR_MOUNT_FAILED, "did not complete within …") and its late-mount cleanup, never with
 * the step's bare timeout racing it. So the step is the inner default plus a margin, and the inner
 * bound is what the step has left once the author's mount() returned, less that margin.
 */
/** Default bound of one mount (both data paths). */
export const MOUNT_TIMEOUT_MS = 10_000;
/** Time the step keeps beyond the inner bound: the inner error's way back through the step. */
export const MOUNT_STEP_MARGIN_MS = 2_000;
/** The daemon's 'mount' step: the author's mount() and the data path's mount together. */
export const MOUNT_STEP_MS = MOUNT_TIMEOUT_MS + MOUNT_STEP_MARGIN_MS;

/** The inner mount's bound, given the step's deadline and the time now; at least 1 ms (it then fails at once, with its own code). */
export function innerMountTimeout(stepDeadline: number, now: number): number {
  return Math.max(1, Math.min(MOUNT_TIMEOUT_MS, stepDeadline - now - MOUNT_STEP_MARGIN_MS));
}
