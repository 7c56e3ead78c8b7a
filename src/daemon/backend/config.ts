/**
 * Backend tuning for a daemon, from its environment (the launcher passes its own environment on,
 * so `MOUNTIE_OP_DEADLINE_MS=2000 mountie mount ws --background` works). Unset or invalid
 * values keep the defaults; ARCHITECTURE.md ("Backend I/O") explains each.
 */
export interface BackendConfig {
  /** Per-op deadline, answered ETIMEDOUT. Default 5000 ms. */
  readonly deadlineMs?: number;
  /** Health check interval. Default 2000 ms. */
  readonly healthIntervalMs?: number;
  /** Health probe timeout. Default 1000 ms. */
  readonly probeTimeoutMs?: number;
  /**
   * Watch the passthrough's source and cache names and attributes long (issue 20; default on:
   * docs/ARCHITECTURE.md, "Caches and invalidation"). MOUNTIE_SOURCE_WATCH=0 turns it off (fixed
   * 1 s caches, as before); 1 or unset: on.
   */
  readonly sourceWatch?: boolean;
}

/** Ten minutes: past it a caller is better told ETIMEDOUT than kept waiting (the kernel itself never times a request out). */
export const MAX_DEADLINE_MS = 600_000;

function ms(v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

export function backendConfigFromEnv(env: NodeJS.ProcessEnv): BackendConfig {
  const deadlineMs = ms(env.MOUNTIE_OP_DEADLINE_MS, 50, MAX_DEADLINE_MS);
  const healthIntervalMs = ms(env.MOUNTIE_HEALTH_INTERVAL_MS, 50, 600_000);
  const probeTimeoutMs = ms(env.MOUNTIE_PROBE_TIMEOUT_MS, 10, 60_000);
  const watch = env.MOUNTIE_SOURCE_WATCH;
  const sourceWatch = watch === '0' || watch === 'off' ? false : watch === '1' || watch === 'on' ? true : undefined;
  return {
    ...(sourceWatch === undefined ? {} : { sourceWatch }),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    ...(healthIntervalMs === undefined ? {} : { healthIntervalMs }),
    ...(probeTimeoutMs === undefined ? {} : { probeTimeoutMs }),
  };
}
