/**
 * The names of a process's threads (/proc/<pid>/task/<tid>/comm), read without touching anything
 * the process serves. The native core's JS-ops mode names its watchdog thread `mountie-stall` while
 * the daemon's JavaScript thread leaves requests untaken (native/src/jsfs.c): the one sign of a
 * blocked JavaScript thread that another process can read.
 */
import { readdir, readFile } from 'node:fs/promises';

export const STALL_THREAD = 'mountie-stall';

/** Thread names of `pid`; [] when it is gone or not readable. */
export async function threadNames(pid: number, procRoot = '/proc'): Promise<string[]> {
  let tids: string[];
  try {
    tids = await readdir(`${procRoot}/${pid}/task`);
  } catch {
    return [];
  }
  const names = await Promise.all(tids.map((t) => readFile(`${procRoot}/${pid}/task/${t}/comm`, 'utf8').then((s) => s.replace(/\n$/, ''), () => undefined)));
  return names.filter((n): n is string => n !== undefined);
}

/** Does `pid` say its JavaScript thread is stalled? */
export async function jsStalled(pid: number, procRoot = '/proc'): Promise<boolean> {
  return (await threadNames(pid, procRoot)).includes(STALL_THREAD);
}
