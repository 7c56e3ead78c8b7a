/**
 * How many backend calls may run at once. Every async fs call takes one of libuv's pool
 * threads (UV_THREADPOOL_SIZE, default 4; the launcher sets 16) and a hung one keeps
 * it, so backend calls may hold at most poolSize − reserve threads: the reserve serves the
 * daemon's own I/O (state writes, pidfile, the health probe), which must never wait behind a
 * dead source. Within that, one lane may hold at most laneLimit, leaving the other lane at
 * least limit − laneLimit threads.
 */
import { MountieError } from '../../errors.js';

export interface LimitOptions {
  /**
   * libuv's threadpool size. Default: UV_THREADPOOL_SIZE from the environment the process
   * started with. Setting the variable from an ES module is too late (the ESM loader has already
   * started the pool while reading the entry file), so the environment is the truth.
   */
  readonly poolSize?: number;
  /**
   * Pool threads never given to backend calls: at least 2 (1 for lifecycle writes, which run one
   * at a time, and 1 for the health probe, of which at most one is outstanding). Default 3 when
   * the pool has room (one spare for lifecycle), 2 on libuv's default pool of 4.
   */
  readonly reserve?: number;
  /** Backend calls at once. Default max(1, poolSize − reserve). */
  readonly limit?: number;
  /** Backend calls at once in one lane. Default limit − max(1, ⌊limit / 4⌋). */
  readonly laneLimit?: number;
}

export interface BackendLimits {
  readonly poolSize: number;
  readonly reserve: number;
  readonly limit: number;
  readonly laneLimit: number;
}

export const MIN_RESERVE = 2;
const SPARE_RESERVE = 3;
/** libuv's own bounds for UV_THREADPOOL_SIZE. */
const UV_DEFAULT_POOL = 4;
const UV_MAX_POOL = 1024;

/** The pool size libuv uses for this environment (it reads the variable once, at first use). */
export function threadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10);
  if (!Number.isFinite(n)) return UV_DEFAULT_POOL;
  return Math.min(UV_MAX_POOL, Math.max(1, n));
}

function positive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new MountieError('ERR_INVALID_OPTION', `${name} must be a whole number ≥ 1`, { data: { value: v } });
  return v;
}

export function backendLimits(o: LimitOptions = {}): BackendLimits {
  const poolSize = positive('poolSize', o.poolSize ?? threadpoolSize());
  const reserve = Math.max(MIN_RESERVE, o.reserve ?? (poolSize - SPARE_RESERVE >= 2 ? SPARE_RESERVE : MIN_RESERVE));
  const limit = positive('limit', o.limit ?? Math.max(1, poolSize - reserve));
  const laneLimit = Math.min(limit, positive('laneLimit', o.laneLimit ?? (limit >= 2 ? limit - Math.max(1, Math.floor(limit / 4)) : 1)));
  return { poolSize, reserve, limit, laneLimit };
}
