/**
 * Pid namespaces, as far as stopping a daemon needs them. A process that is PID 1 of its pid
 * namespace (a container's entrypoint) is special twice over: it leads the process group and the
 * session of everything started there without a setsid of its own, and when it exits the kernel
 * kills every process of its namespace (zap_pid_ns_processes), a `mountie stop` that entered it
 * (docker exec, nsenter -p) included. Its kernel also drops, from inside the namespace, every
 * signal it has no handler for: SIGKILL from there never reaches it.
 */
import { readlinkSync } from 'node:fs';
import { readSmallNow } from './proc-read.js';

/** The NSpid line of /proc/<pid>/status: its pid in each pid namespace, outermost first. */
export function parseNsPids(status: string): number[] | undefined {
  const line = /^NSpid:[ \t]*(.*)$/m.exec(status)?.[1];
  if (line === undefined) return undefined;
  const pids = line.trim().split(/\s+/).map(Number);
  return pids.length > 0 && pids.every((n) => Number.isSafeInteger(n) && n > 0) ? pids : undefined;
}

/**
 * Is `pid` PID 1 of its own (innermost) pid namespace? undefined when its status cannot be read
 * (the process is gone): callers decide what is safe then.
 */
export function isNamespaceInit(pid: number, procRoot = '/proc'): boolean | undefined {
  let text: string | undefined;
  try {
    text = readSmallNow(`${procRoot}/${pid}/status`);
  } catch {
    // Not readable (EACCES): unknown.
    return undefined;
  }
  if (text === undefined) return undefined;
  // No NSpid line (a kernel before 4.1): nothing tells an init of a nested namespace apart; pid 1 of ours still is one.
  const pids = parseNsPids(text);
  return pids === undefined ? pid === 1 : pids[pids.length - 1] === 1;
}

/** Is `pid` in the same pid namespace as this process? false when either cannot be read. */
export function sharesOurPidNamespace(pid: number, procRoot = '/proc'): boolean {
  try {
    return readlinkSync(`${procRoot}/${pid}/ns/pid`) === readlinkSync(`${procRoot}/self/ns/pid`);
  } catch {
    // Gone, or not ours to inspect: not proven to share ours.
    return false;
  }
}

/** Is `pid` PID 1 of OUR pid namespace, whose exit kills this process too? */
export function isOurNamespaceInit(pid: number): boolean {
  return isNamespaceInit(pid) === true && sharesOurPidNamespace(pid);
}
