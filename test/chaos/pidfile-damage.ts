/**
 * Damaged pidfiles for the chaos driver: deleted, garbage, truncated, impossible pids, copied from
 * another workspace or from the foreign home, or forged to name a decoy with its real start time.
 * The workspace is marked tampered: until its next clean start or stop, status may call its live
 * daemon an orphan.
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Step } from './plan.js';
import { mpOf, srcOf, wsDir, type World } from './world.js';

/** Damage a workspace's pidfile as the step says; `log` gets what was found. */
export async function damagePidfile(w: World, s: Extract<Step, { kind: 'pidfile' }>, log: string[]): Promise<void> {
  const file = join(wsDir(w, s.ws), 'daemon.pid');
  if (!existsSync(wsDir(w, s.ws))) return void log.push('no workspace dir yet');
  const doc = (pid: unknown): string => JSON.stringify({ schema: 'mountie.pid/v1', pid, startTime: 1, bootId: 'x', instanceId: 'forged', epoch: 1, workspace: s.ws });
  w.tampered.add(s.ws);
  switch (s.how) {
    case 'delete':
      await rm(file, { force: true });
      return;
    case 'garbage':
      return writeFile(file, 'not json at all\n');
    case 'truncated':
      return writeFile(file, '{"schema":"mountie.pid/v1","pid":12');
    case 'pid-minus-1':
      return writeFile(file, doc(-1));
    case 'pid-0':
      return writeFile(file, doc(0));
    case 'pid-huge':
      return writeFile(file, doc(1e300));
    case 'from-other-ws': {
      const from = join(wsDir(w, s.other), 'daemon.pid');
      if (existsSync(from)) return copyFile(from, file);
      return void log.push(`no pidfile in ${s.other}`);
    }
    case 'from-home2':
      return copyFile(join(w.home2, 'workspaces', s.ws, 'daemon.pid'), file);
    case 'names-decoy': {
      const d = w.decoys[s.pick % w.decoys.length];
      if (!d) return;
      const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
      log.push(`pidfile names decoy ${d.name} (pid ${d.pid})`);
      return writeFile(file, JSON.stringify({ schema: 'mountie.pid/v1', pid: d.pid, startTime: d.startTime, bootId: boot, instanceId: 'forged', epoch: 1, workspace: s.ws, argv: d.argv, version: '0.1.0', mountpoint: mpOf(w, s.ws), source: srcOf(w, s.ws), logFile: join(wsDir(w, s.ws), 'daemon.log'), startedAt: new Date().toISOString() }));
    }
  }
}
