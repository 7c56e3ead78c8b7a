/**
 * Durable whole-file replacement: temp file in the same directory, write, fsync, rename over,
 * fsync the directory. A reader sees the old file or the new one, never a torn one, and after
 * the promise resolves the new content survives power loss.
 *
 * Not built on write-file-atomic: that library does ~11 fs calls per write (realpath, stat,
 * chown, chmod, an unlink after a successful rename), serialises writes per path in a
 * module-global queue, installs process signal handlers through signal-exit (library code
 * must not), never fsyncs the directory, and names temps by hash so a later process cannot
 * tell whose temp is stale. This does 8 calls, all sequential (one libuv thread at a time).
 */
import { open, readdir, rename, stat, unlink, readFile, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { readStatNow } from '../sys/proc-read.js';

export interface DurableWriteOptions {
  /** Permission bits of a newly written file (filtered by the umask, as with open(2)). Default 0o600. */
  readonly mode?: number;
  /**
   * Runs after the temp file is durable and right before the rename; throwing aborts the write
   * (the temp file is removed, the old file is untouched). The writer checks fencing here so
   * the window between the check and the rename is as short as it can be.
   */
  readonly beforeRename?: () => Promise<void> | void;
}

let counter = 0;
/** Temps this process is writing right now: cleanTempFiles must not remove them. */
const inFlight = new Set<string>();
/** O_EXCL collisions we step over (a stale temp of an earlier process with our pid). */
const MAX_NAME_TRIES = 16;

/** `.<base>.<pid>.<counter>.tmp`: the pid tells cleanTempFiles whose temp it is. */
export function tempName(base: string, pid: number, n: number): string {
  return `.${base}.${pid}.${n}.tmp`;
}

/** The pid in a temp name made by tempName for `base`, or undefined for any other name. */
export function tempPid(name: string, base: string): number | undefined {
  const prefix = `.${base}.`;
  if (!name.startsWith(prefix) || !name.endsWith('.tmp')) return undefined;
  const m = /^(\d+)\.(\d+)$/.exec(name.slice(prefix.length, -'.tmp'.length));
  return m ? Number(m[1]) : undefined;
}

async function openTemp(dir: string, base: string, mode: number): Promise<{ fh: FileHandle; name: string }> {
  for (let i = 0; ; i++) {
    const name = tempName(base, process.pid, ++counter);
    inFlight.add(name);
    try {
      // O_EXCL (and O_NOFOLLOW, said outright): never write through someone else's file or a planted symlink.
      return { fh: await open(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode), name };
    } catch (err) {
      inFlight.delete(name);
      if (errnoCode(err) !== 'EEXIST' || i + 1 >= MAX_NAME_TRIES) throw err;
    }
  }
}

/**
 * Replace `path` with `data` durably. On a failure before the rename the temp file is removed
 * and the old file is untouched; a failure of the final directory fsync is thrown too (the
 * new content is in place but not known durable), so callers retry either way.
 */
export async function writeFileDurable(path: string, data: string | Buffer, opts: DurableWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const { fh, name } = await openTemp(dir, basename(path), opts.mode ?? 0o600);
  const tmp = join(dir, name);
  let handle: FileHandle | undefined = fh;
  try {
    for (let off = 0; off < buf.length; ) {
      off += (await handle.write(buf, off, buf.length - off, off)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await opts.beforeRename?.();
    await rename(tmp, path);
  } catch (err) {
    // Cleanup must not mask the error that made the write fail; both calls may fail for the
    // same reason (EIO), or because the temp never got that far.
    if (handle) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    inFlight.delete(name);
  }
  await fsyncDir(dir);
}

/** Make a rename in `dir` durable: without it the rename can be lost on power failure. */
export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export interface CleanTempOptions {
  /** Whether the process that wrote a temp (by pid, temp mtime) may still be writing it. */
  readonly writerMayBeAlive?: (pid: number, mtimeMs: number) => boolean | Promise<boolean>;
}

/**
 * Remove temps of `base` left in `dir` by writers that died mid-write. A temp is removed
 * when its pid is not alive, when that pid was reused by a process started after the temp
 * was written, or when it carries our own pid but this process is not writing it (an earlier
 * process with our pid: pid 1 in a container always has the same pid). Returns removed names.
 */
export async function cleanTempFiles(dir: string, base: string, opts: CleanTempOptions = {}): Promise<string[]> {
  const alive = opts.writerMayBeAlive ?? defaultWriterMayBeAlive;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = tempPid(name, base);
    if (pid === undefined || inFlight.has(name)) continue;
    const path = join(dir, name);
    if (pid !== process.pid) {
      let mtimeMs: number;
      try {
        mtimeMs = (await stat(path)).mtimeMs;
      } catch {
        // Gone already: its writer renamed it or another cleaner removed it.
        continue;
      }
      if (await alive(pid, mtimeMs)) continue;
    }
    try {
      await unlink(path);
      removed.push(name);
    } catch (err) {
      // Racing another cleaner, or the writer renamed it after all: nothing to remove.
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/** kill(pid, 0), then /proc start time to catch a pid reused since the temp was written. */
export async function defaultWriterMayBeAlive(pid: number, mtimeMs: number): Promise<boolean> {
  // kill(0, 0) would signal our own process group: no writer has pid 0.
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive but not ours to signal. ESRCH: dead.
    if (errnoCode(err) !== 'EPERM') return false;
  }
  const startedMs = await processStartMs(pid);
  // btime has 1 s resolution: only call the temp stale when the process clearly started later.
  return startedMs === undefined || startedMs <= mtimeMs + 2000;
}

/** When a process started, from /proc; undefined where /proc cannot tell us. */
export async function processStartMs(pid: number): Promise<number | undefined> {
  try {
    const ticks = readStatNow(pid)?.startTime;
    const btime = /^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'));
    // USER_HZ is 100 in the Linux ABI for /proc, whatever the kernel's HZ.
    return btime && ticks !== undefined ? Number(btime[1]) * 1000 + ticks * 10 : undefined;
  } catch {
    // No /proc (not Linux) or the process exited meanwhile: we cannot prove reuse.
    return undefined;
  }
}
