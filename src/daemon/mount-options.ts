/**
 * What a kind may ask of its mount (`mount(ctx)` returning `{ fs, mount: { … } }` or `{ ops, mount }`):
 * the kernel's caches and the read size, each bounded. Checked when the daemon mounts: a bad value is
 * the author's bug (ERR_INVALID_DEFINITION, the daemon does not start), never clamped silently.
 */
import { MountieError } from '../errors.js';

/** A kind's mount options. Every field is optional; the defaults are what mountie's passthrough uses. */
export interface FsMountOptions {
  /** Seconds the kernel trusts a file's attributes before asking getattr again. 0–3600, default 1. */
  readonly attrTimeoutS?: number;
  /** Seconds the kernel trusts a name it looked up before looking it up again. 0–3600, default 1. */
  readonly entryTimeoutS?: number;
  /**
   * Keep a file's cached pages across opens (default false: every open drops them). Only for files
   * that change through this mount alone: a change made behind it is not seen while pages stay.
   */
  readonly keepCache?: boolean;
  /** The largest read the kernel sends, in bytes: 4096–1048576 (default: the kernel's, 1 MiB here). */
  readonly maxReadBytes?: number;
}

export interface CheckedMountOptions {
  readonly attrTimeoutS: number;
  readonly entryTimeoutS: number;
  readonly keepCache: boolean;
  readonly maxReadBytes: number | undefined;
}

function bad(what: string, value: unknown): MountieError {
  return new MountieError('ERR_INVALID_DEFINITION', `mount(): ${what}`, { data: { value: typeof value === 'bigint' ? String(value) : (value as never) }, hint: 'see docs/TOOLKIT.md, "What it serves"' });
}

export function checkMountOptions(raw: unknown): CheckedMountOptions {
  if (raw === undefined) return { attrTimeoutS: 1, entryTimeoutS: 1, keepCache: false, maxReadBytes: undefined };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('mount must be an object of mount options', raw);
  const o = raw as Record<string, unknown>;
  const known = new Set(['attrTimeoutS', 'entryTimeoutS', 'keepCache', 'maxReadBytes']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad(`unknown mount option ${k} (known: ${[...known].join(', ')})`, k);
  const seconds = (k: string): number => {
    const v = o[k];
    if (v === undefined) return 1;
    if (typeof v !== 'number' || !(v >= 0 && v <= 3600)) throw bad(`${k} must be a number of seconds from 0 to 3600`, v);
    return v;
  };
  const keep = o.keepCache;
  if (keep !== undefined && typeof keep !== 'boolean') throw bad('keepCache must be true or false', keep);
  const mr = o.maxReadBytes;
  if (mr !== undefined && (typeof mr !== 'number' || !Number.isInteger(mr) || mr < 4096 || mr > 1 << 20)) throw bad('maxReadBytes must be a whole number from 4096 to 1048576', mr);
  return { attrTimeoutS: seconds('attrTimeoutS'), entryTimeoutS: seconds('entryTimeoutS'), keepCache: keep === true, maxReadBytes: mr as number | undefined };
}
