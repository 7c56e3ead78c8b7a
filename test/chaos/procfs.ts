/**
 * Black-box reads of /proc for the chaos suite: nothing here imports src/, so the suite judges the
 * CLI from the outside while src is rewritten. Nothing here touches a FUSE mount: mountinfo and
 * readlink of /proc/<pid>/fd/* are answered by the kernel without a FUSE request.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface Stat {
  readonly pid: number;
  readonly comm: string;
  /** State letter: R, S, D, T, t, Z, … */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  /** Field 22, in clock ticks since boot: with the pid, a process's identity. */
  readonly startTime: number;
}

export async function statOf(pid: number): Promise<Stat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // ENOENT/ESRCH: gone (fully reaped).
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  return { pid, comm, state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]), startTime: Number(f[19]) };
}

export async function listPids(): Promise<number[]> {
  return (await readdir('/proc')).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** The MOUNTIE_HOME of a process's environment, undefined if unset or unreadable. */
export async function homeEnvOf(pid: number): Promise<string | undefined> {
  try {
    const env = await readFile(`/proc/${pid}/environ`, 'latin1');
    for (const kv of env.split('\0')) if (kv.startsWith('MOUNTIE_HOME=')) return kv.slice('MOUNTIE_HOME='.length);
  } catch {
    // Gone, or a kernel thread: no home.
  }
  return undefined;
}

export async function argvOf(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
  } catch {
    // Gone.
    return [];
  }
}

/** Targets of every open fd (readlink, no FUSE request); empty once gone. */
export async function fdTargets(pid: number): Promise<string[]> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    // Gone, or a zombie without fds.
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    const t = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined); // closed meanwhile
    if (t !== undefined) out.push(t);
  }
  return out;
}

export interface Mount {
  readonly id: number;
  /** major:minor; for FUSE the minor is the connection number under /sys/fs/fuse/connections. */
  readonly device: string;
  readonly mountPoint: string;
  readonly fstype: string;
  readonly source: string;
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** /proc/self/mountinfo, parsed: mount id, mount point, fstype, source. */
export async function readMounts(): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0) continue;
    out.push({ id: Number(f[0]), device: f[2] ?? '', mountPoint: unescape(f[4] ?? ''), fstype: f[dash + 1] ?? '', source: unescape(f[dash + 2] ?? '') });
  }
  return out;
}

/** A FUSE mount whose source is `mountie:<ws>`, possibly followed by more tag (not by more name). */
export function taggedFor(m: Mount, ws: string): boolean {
  const tag = `mountie:${ws}`;
  return m.fstype.startsWith('fuse') && m.source.startsWith(tag) && !/^[a-z0-9._-]/.test(m.source.slice(tag.length));
}

/** The mount tagged for `ws` at `mountPoint`, if any (the last one: it is the visible one). */
export function taggedMountAt(mounts: readonly Mount[], mountPoint: string, ws: string): Mount | undefined {
  return mounts.filter((m) => m.mountPoint === mountPoint && taggedFor(m, ws)).pop();
}

/** One line on what a pid is right now, for failure messages: state, threads, home, /dev/fuse, argv. */
export async function describePid(pid: number): Promise<string> {
  const st = await statOf(pid);
  if (!st) return `pid ${pid}: gone`;
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]); // reaped meanwhile
  const threads = new Map<string, number>();
  for (const tid of tids) {
    const t = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => ''); // thread ended meanwhile
    const letter = t.slice(t.lastIndexOf(')') + 2).split(' ')[0] || '?';
    threads.set(letter, (threads.get(letter) ?? 0) + 1);
  }
  const fuse = (await fdTargets(pid)).includes('/dev/fuse');
  const argv = (await argvOf(pid)).join(' ');
  return `pid ${pid}: ${st.comm} state ${st.state}, threads ${JSON.stringify(Object.fromEntries(threads))}, MOUNTIE_HOME=${(await homeEnvOf(pid)) ?? '-'}, ${fuse ? 'holds' : 'no'} /dev/fuse, argv: ${argv || '(none)'}`;
}
