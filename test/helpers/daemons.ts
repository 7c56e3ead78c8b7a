import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listPids, makeHome, pidsLabelled } from './sandbox.js';
import { readProcStat } from '../../src/sys/proc-stat-scan.js';
import { DAEMON_COMM } from '../../src/protocol/marker.js';
import { readPidfile, type PidfileDoc } from '../../src/state/pidfile.js';
import { lockHeldNow } from '../../src/protocol/lock.js';
import { lstat } from 'node:fs/promises';
import { readLog } from '../../src/launcher/log-read.js';
import { renderEntry } from '../../src/protocol/log-line.js';

/** Live (non-zombie) mountie daemon processes of a test home: `mount <ws>` in argv, no --background. */
/** `marker`: another kind's (`<name>-daemon`), for a daemon of that kind. */
export async function daemonsOf(home: string, ws?: string, marker = DAEMON_COMM): Promise<number[]> {
  // A daemon marks itself (comm/title `<marker> <ws>`); launchers and other children do not.
  // The marker (a cheap stat read) is looked at first and only the marked are checked for the
  // home's label (an environ read, the costly part): tests poll this (issue 18).
  const marked = (await listPids()).filter((pid) => {
    const st = readProcStat(pid);
    return st !== undefined && st.state !== 'Z' && st.comm.startsWith(marker);
  });
  const found: { pid: number; ppid: number }[] = [];
  for (const pid of await pidsLabelled(home, marked)) {
    // Read again after the label: the pid may have exited (or turned zombie) meanwhile.
    const st = readProcStat(pid);
    if (!st || st.state === 'Z' || !st.comm.startsWith(marker)) continue;
    const title = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (ws !== undefined && title.split('\0')[0] !== `${marker} ${ws}`) continue;
    found.push({ pid, ppid: st.ppid });
  }
  // A daemon's child between fork and exec (flock, fusermount) still carries its comm and title:
  // it is that daemon, not a second one.
  const pids = new Set(found.map((f) => f.pid));
  return found.filter((f) => !pids.has(f.ppid)).map((f) => f.pid);
}

export async function pidfileOf(home: string, ws: string): Promise<PidfileDoc | undefined> {
  const r = await readPidfile(join(home, 'workspaces', ws, 'daemon.pid'));
  return r.kind === 'ok' ? r.doc : undefined;
}

export async function lockHeld(home: string, ws: string): Promise<boolean> {
  const st = await lstat(join(home, 'workspaces', ws, 'lock')).catch(() => undefined);
  return st !== undefined && (await lockHeldNow(st)) === true;
}

/** The daemon log (daemon.log.1 then daemon.log) rendered for people, as `mountie logs` shows it. */
export async function logOf(home: string, ws: string): Promise<string> {
  const { entries } = await readLog(join(home, 'workspaces', ws, 'daemon.log')).catch(() => ({ entries: [] }));
  return entries.map((e) => renderEntry(e) + '\n').join('');
}

/** A fresh home with a source dir holding a.txt; the default mountpoint of workspace "ws". */
export async function setupWorkspace(): Promise<{ home: string; src: string; mp: string }> {
  const home = await makeHome();
  const src = join(home, 'src');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'alpha\n');
  return { home, src, mp: join(home, 'mnt', 'ws') };
}
