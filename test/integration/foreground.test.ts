import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, makeHome, reapAll } from '../helpers/sandbox.js';
import { startForeground, waitExit, waitForOutput } from '../helpers/cli.js';

describe('foreground mount', () => {
  afterEach(reapAll);

  it('mounts demo with no flags and shows the sample files', async () => {
    const home = await makeHome();
    const child = startForeground(home, ['demo']);
    const out = await waitForOutput(child, /press Ctrl-C/);
    const mp = join(home, 'mnt', 'demo');
    expect(out).toContain(mp);
    expect(await isMounted(mp)).toBe(true);
    expect((await readdir(mp)).sort()).toEqual(['README.txt', 'hello.txt', 'notes']);
    expect(await readFile(join(mp, 'hello.txt'), 'utf8')).toBe('hello from mountie\n');
    child.kill('SIGINT');
    expect(await waitExit(child)).toEqual({ code: 0, signal: null });
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('%s unmounts, exits 0 and leaves an empty mountpoint', async (signal) => {
    const home = await makeHome();
    const child = startForeground(home, ['demo']);
    await waitForOutput(child, /press Ctrl-C/);
    const mp = join(home, 'mnt', 'demo');
    expect(await isMounted(mp)).toBe(true);
    child.kill(signal);
    expect(await waitExit(child)).toEqual({ code: 0, signal: null });
    expect(await isMounted(mp)).toBe(false);
    expect(await readdir(mp)).toEqual([]);
    await expect(readFile(join(home, 'workspaces', 'demo', 'daemon.pid'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reuses the stored config on the next mount', async () => {
    const home = await makeHome();
    const first = startForeground(home, ['demo']);
    await waitForOutput(first, /press Ctrl-C/);
    first.kill('SIGTERM');
    await waitExit(first);
    const second = startForeground(home, ['demo', '--json']);
    const out = await waitForOutput(second, /mountie\.mount\/v1[\s\S]*\}/);
    const doc = JSON.parse(out) as { mountpoint: string; source: string };
    expect(doc.mountpoint).toBe(join(home, 'mnt', 'demo'));
    expect(doc.source).toBe(join(home, 'demo-source'));
    second.kill('SIGTERM');
    expect((await waitExit(second)).code).toBe(0);
  });
});
