/**
 * The controlling side as a library user calls it (the built package's root entry, in this
 * process): launch → status → discover → stop, and the refusals that matter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO, reapAll } from '../helpers/sandbox.js';
import { daemonsOf, setupWorkspace } from '../helpers/daemons.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';

type Api = typeof import('../../src/index.js');
const api = (await import(join(REPO, 'dist/index.js'))) as Api;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (api.isMountieError(err) ? err.code : String(err)),
  );
}

describe('the library: launch, status, discover, restartLive, stop', () => {
  afterEach(reapAll);

  it('launch resolves once the mount is usable; status and discover see the daemon; stop ends it and cleans', async () => {
    const { home, src, mp } = await setupWorkspace();
    const started = await api.launch('ws', { home, source: src });
    expect(started.mountpoint).toBe(mp);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(await daemonsOf(home, 'ws')).toEqual([started.pid]);

    const [st] = await api.status(undefined, { home });
    expect(st?.verdict).toBe('running');
    expect(st?.tokens).toEqual([`running(pid=${started.pid})`]);
    const d = await api.discover('ws', { home });
    expect(d.daemons.map((x) => x.pid)).toEqual([started.pid]);
    expect(d.pidfileState).toBe('live');

    expect(await codeOf(api.launch('ws', { home }))).toBe('ERR_WORKSPACE_LOCKED');

    // restart --live as a call: a new daemon serves the same mount.
    const live = await api.restartLive('ws', { home });
    if (!live.live) throw new Error(`not live: ${live.reason}`);
    expect(live.from.pid).toBe(started.pid);
    expect(live.to.pid).not.toBe(started.pid);
    expect(await daemonsOf(home, 'ws')).toEqual([live.to.pid]);
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(await codeOf(api.restartLive('nope', { home }))).toBe('ERR_UNKNOWN_WORKSPACE');

    const report = await api.stop('ws', { home });
    expect(report.ok).toBe(true);
    expect(report.processes.map((p) => [p.pid, p.ended])).toEqual([[live.to.pid, 'TERM']]);
    expect((await readMountInfo()).some((e) => e.mountPoint === mp)).toBe(false);
    expect((await api.status('ws', { home }))[0]?.verdict).toBe('stopped');
  });

  it('bad input is refused with its code and writes nothing', async () => {
    const { home, src } = await setupWorkspace();
    expect(await codeOf(api.launch('Bad Name', { home, source: src }))).toBe('ERR_INVALID_NAME');
    expect(await codeOf(api.launch('ws', { home, source: join(src, 'missing') }))).toBe('ERR_SOURCE_MISSING');
    expect(await codeOf(api.stop('../x', { home }))).toBe('ERR_INVALID_NAME');
    expect(await api.status(undefined, { home })).toEqual([]);
  });
});
