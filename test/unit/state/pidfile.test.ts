import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../../helpers/sandbox.js';
import { PIDFILE_SCHEMA, readPidfile, removePidfileIfOwn, removeStalePidfile, writePidfile, type PidfileDoc } from '../../../src/state/pidfile.js';

const doc = (instanceId: string): PidfileDoc => ({
  schema: PIDFILE_SCHEMA, pid: 123, startTime: 9, bootId: 'b', instanceId, epoch: 1, workspace: 'ws', argv: ['node'],
  version: '0', mountpoint: '/m', source: '/s', logFile: '/l', startedAt: 'now',
});

describe('pidfile', () => {
  afterEach(reapAll);

  it('round-trips and reports absent and corrupt files', async () => {
    const dir = await makeHome();
    const p = join(dir, 'daemon.pid');
    expect(await readPidfile(p)).toEqual({ kind: 'absent' });
    await writePidfile(p, doc('me'));
    expect(await readPidfile(p)).toEqual({ kind: 'ok', doc: doc('me') });
    await writeFile(p, '{"pid": 1');
    expect((await readPidfile(p)).kind).toBe('corrupt');
  });

  it('pid 1 is a daemon that is PID 1 of its pid namespace (issue 18); pid 0 and below address groups and everyone: corrupt', async () => {
    const dir = await makeHome();
    const p = join(dir, 'daemon.pid');
    await writePidfile(p, { ...doc('init'), pid: 1 });
    expect(await readPidfile(p)).toEqual({ kind: 'ok', doc: { ...doc('init'), pid: 1 } });
    for (const pid of [0, -1, 1.5]) {
      await writePidfile(p, { ...doc('bad'), pid });
      expect((await readPidfile(p)).kind).toBe('corrupt');
    }
  });

  it('is removed by its owner only', async () => {
    const dir = await makeHome();
    const p = join(dir, 'daemon.pid');
    await writePidfile(p, doc('successor'));
    expect(await removePidfileIfOwn(p, 'old-daemon')).toBe(false);
    expect((await readPidfile(p)).kind).toBe('ok');
    expect(await removePidfileIfOwn(p, 'successor')).toBe(true);
    expect(await readPidfile(p)).toEqual({ kind: 'absent' });
  });

  it('a stale removal leaves a pidfile rewritten meanwhile alone', async () => {
    const dir = await makeHome();
    const p = join(dir, 'daemon.pid');
    await writePidfile(p, doc('dead'));
    const seen = await readPidfile(p);
    await writePidfile(p, doc('new-daemon'));
    expect(await removeStalePidfile(p, seen)).toBe(false);
    expect(await readPidfile(p)).toMatchObject({ kind: 'ok', doc: { instanceId: 'new-daemon' } });
  });
});
