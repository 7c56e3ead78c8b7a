import { ancestorsOf, bootId, procCwd, scanProcesses, type ProcInfo } from '../sys/proc.js';
import { isEntryScript, scriptNeedsCwd, splitDaemonArgv } from './match.js';

/** A running mountie daemon, as found in the process table. */
export interface DaemonProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly startTime: number;
  readonly bootId: string;
  readonly state: string;
  readonly argv: readonly string[];
  readonly workspace: string;
  /** false when argv came from the ps fallback and was split on whitespace (a guess). */
  readonly argvExact?: boolean;
}

export interface FindDaemonsOptions {
  /** Only daemons of exactly this workspace. */
  readonly ws?: string;
  /** Whose daemons: default our own uid; root (0) sees everyone's. */
  readonly uid?: number;
  readonly scan?: () => Promise<ProcInfo[]>;
  /** The scanning process: it and its ancestors are never reported. Default process.pid. */
  readonly selfPid?: number;
  /** Where a process runs, to judge a relative entry script. Default: /proc/<pid>/cwd. */
  readonly cwdOf?: (pid: number) => Promise<string | undefined>;
  readonly isMountieRoot?: (root: string) => boolean;
  readonly bootId?: () => Promise<string>;
}


/**
 * Ancestors of `self` from the snapshot (so an injected scan is self-consistent), joined with
 * a live walk of /proc for our own process: a `stop` run from inside a daemon's shell, or by a
 * daemon itself, must not signal the process it runs under.
 */
async function excludedPids(self: number, procs: readonly ProcInfo[]): Promise<Set<number>> {
  const ppidOf = new Map(procs.map((p) => [p.pid, p.ppid]));
  const out = new Set<number>([self]);
  let cur = ppidOf.get(self);
  for (let i = 0; i < 64 && cur !== undefined && cur > 0 && !out.has(cur); i++) {
    out.add(cur);
    cur = ppidOf.get(cur);
  }
  if (self === process.pid) for (const pid of await ancestorsOf(self)) out.add(pid);
  return out;
}

/** Every mountie daemon (of `ws`, if given) that the caller may act on, from one scan. */
export async function findDaemons(opts: FindDaemonsOptions = {}): Promise<DaemonProcess[]> {
  const procs = await (opts.scan ?? scanProcesses)();
  const self = opts.selfPid ?? process.pid;
  const uid = opts.uid ?? process.getuid?.();
  const excluded = await excludedPids(self, procs);
  const boot = await (opts.bootId ?? bootId)();
  const out: DaemonProcess[] = [];
  for (const p of procs) {
    if (excluded.has(p.pid)) continue;
    if (p.state === 'Z' || p.state === 'X') continue; // exited, only waiting to be reaped
    // No uid (Windows) means no owners to tell apart; root may act on everyone's daemons.
    if (uid !== undefined && uid !== 0 && p.uid !== uid) continue;
    const parts = splitDaemonArgv(p.argv);
    if (!parts || (opts.ws !== undefined && parts.workspace !== opts.ws)) continue;
    const cwd = scriptNeedsCwd(parts.script) ? await (opts.cwdOf ?? procCwd)(p.pid) : undefined;
    if (!isEntryScript(parts.script, { cwd, isMountieRoot: opts.isMountieRoot })) continue;
    out.push({
      pid: p.pid,
      ppid: p.ppid,
      uid: p.uid,
      startTime: p.startTime,
      bootId: boot,
      state: p.state,
      argv: p.argv,
      workspace: parts.workspace,
      ...(p.argvExact === false ? { argvExact: false } : {}),
    });
  }
  return out;
}
