import type { FuseOps } from 'fuse-native';

/** Operations that change the tree: each success advances the change cursor. */
const MUTATIONS = new Set(['write', 'create', 'unlink', 'mkdir', 'rmdir', 'rename', 'truncate', 'ftruncate', 'utimens', 'chmod', 'chown', 'symlink', 'link', 'mknod']);

export interface OpCounters {
  readonly ops: Record<string, number>;
  bytesRead: number;
  bytesWritten: number;
  errors: number;
  cursor: number;
  lastOpAt: number | undefined;
}

export function newCounters(cursor = 0): OpCounters {
  return { ops: {}, bytesRead: 0, bytesWritten: 0, errors: 0, cursor, lastOpAt: undefined };
}

/**
 * Wrap every op so that its callback counts: ops by name, bytes, errors, and the change cursor.
 * Counting is plain arithmetic on the JS thread; `onChange` is told after each op so the owner
 * can schedule a (coalesced) state write.
 */
export function instrumentOps(ops: FuseOps, counters: OpCounters, onChange: () => void, now: () => number = Date.now): FuseOps {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(ops) as [string, unknown][]) {
    if (typeof fn !== 'function' || name === 'init' || name === 'error') {
      wrapped[name] = fn;
      continue;
    }
    wrapped[name] = (...args: unknown[]): void => {
      const cb = args[args.length - 1] as (code: number, ...rest: unknown[]) => void;
      args[args.length - 1] = (code: number, ...rest: unknown[]): void => {
        counters.ops[name] = (counters.ops[name] ?? 0) + 1;
        counters.lastOpAt = now();
        if (code < 0) counters.errors++;
        else {
          if (name === 'read') counters.bytesRead += code;
          else if (name === 'write') counters.bytesWritten += code;
          if (MUTATIONS.has(name)) counters.cursor++;
        }
        cb(code, ...rest);
        onChange();
      };
      (fn as (...a: unknown[]) => void)(...args);
    };
  }
  return wrapped as FuseOps;
}
