/**
 * Counts libfuse worker threads. libfuse 2.9's multithreaded loop starts a worker whenever all
 * are busy and ends one whenever more than 10 are idle (a constant in fuse_loop_mt.c, no
 * option), so load that swings past ~10 concurrent requests keeps creating threads. fuse-native
 * gives every new thread a locals block with a uv_async handle that it never frees or closes
 * (its pthread key has no destructor): memory grows, and every event-loop wakeup walks all those
 * handles, so each op gets slower (ARCHITECTURE.md, "Backend I/O"). fuse-native allocates the
 * block through the instance's `_malloc`, once per thread: that call is what we count.
 */
import { fuseNative } from './mount.js';

let created = 0;
let installed = false;

/** Idempotent; must run before the mount (fuse-native hands `_malloc` to libfuse at mount time). */
export function installFuseThreadCounter(): void {
  if (installed) return;
  const proto = fuseNative().prototype as unknown as { _malloc: (this: unknown, size: number) => Buffer };
  const original = proto._malloc;
  proto._malloc = function countThread(this: unknown, size: number): Buffer {
    created++;
    return original.call(this, size);
  };
  installed = true;
}

/** libfuse worker threads fuse-native has set up in this process (each one leaked for good). */
export function fuseThreadsCreated(): number {
  return created;
}
