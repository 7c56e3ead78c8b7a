/**
 * examples/httpfs end to end, through its own command (dist-examples/httpfs/cli.js), serving the
 * files of an HTTP server this test starts (127.0.0.1, port 0): mount → read through the mount →
 * status → stop; the server goes away or hangs → reads answer EIO within the request bound;
 * kill -9 → leftovers named → stop cleans; no server → the mount fails (exit 4) and leaves
 * nothing; bad options → exit 2, nothing written. Only async fs calls here: the daemon fetches
 * from this process, whose JS thread must stay free to answer it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll, waitFor } from '../helpers/sandbox.js';
import { alive, mountAtPath, mounted, runExample } from '../helpers/examples.js';
import { startFileServer, type FileServer } from '../helpers/file-server.js';

const FILES = { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n', 'c.txt': 'charlie\n', 'docs/d.md': '# D\n', 'big.bin': Buffer.alloc(1_000_000, 0x5a) };
const errnoOf = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (err as { code?: string }).code);

const servers: FileServer[] = [];
async function server(): Promise<FileServer> {
  const s = await startFileServer(FILES);
  servers.push(s);
  return s;
}

describe('examples/httpfs through its command', () => {
  afterEach(async () => {
    await reapAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('mount serves the server\'s files; status shows running(pid=N); stop ends it and unmounts', async () => {
    const s = await server();
    const home = await makeHome();
    const r = await runExample('httpfs', home, ['mount', 'ws', '--url', s.url]);
    expect(r.exitCode, r.stderr).toBe(0);
    const { pid, mountpoint } = mounted(r);

    expect((await readdir(mountpoint)).sort()).toEqual(['a.txt', 'b.txt', 'big.bin', 'c.txt', 'docs']);
    expect(await readFile(join(mountpoint, 'docs', 'd.md'), 'utf8')).toBe('# D\n');
    expect((await readFile(join(mountpoint, 'big.bin'))).equals(Buffer.alloc(1_000_000, 0x5a))).toBe(true);
    expect(s.requests.some((q) => q.startsWith('GET /big.bin bytes='))).toBe(true);
    expect(await errnoOf(readFile(join(mountpoint, 'nope')))).toBe('ENOENT');
    expect((await mountAtPath(mountpoint))?.fstype).toBe('fuse.httpfs');

    const st = await runExample('httpfs', home, ['status']);
    expect([st.exitCode, st.stdout]).toEqual([0, `ws  running(pid=${pid})  ${mountpoint}  state=active`]);

    const stop = await runExample('httpfs', home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(await mountAtPath(mountpoint)).toBeUndefined();
    expect((await runExample('httpfs', home, ['status'])).stdout).toBe(`ws  stopped  ${mountpoint}`);
  });

  it('the server hangs, then goes away: reads answer EIO within the request bound, and the daemon keeps serving', async () => {
    const s = await server();
    const home = await makeHome();
    const fastProbe = { MOUNTIE_HEALTH_INTERVAL_MS: '200' };
    const { pid, mountpoint } = mounted(await runExample('httpfs', home, ['mount', 'ws', '--url', s.url, '--timeout-ms', '500'], { env: fastProbe }));
    expect(await readFile(join(mountpoint, 'a.txt'), 'utf8')).toBe('alpha\n');

    s.hang(true);
    let t0 = Date.now();
    expect(await errnoOf(readFile(join(mountpoint, 'b.txt')))).toBe('EIO');
    const hungMs = Date.now() - t0;
    expect(hungMs).toBeLessThan(5000); // bound 500 ms per request; generous for a loaded machine

    await s.close();
    t0 = Date.now();
    expect(await errnoOf(readFile(join(mountpoint, 'c.txt')))).toBe('EIO');
    expect(Date.now() - t0).toBeLessThan(5000);
    // Metadata comes from the listing read at mount: still there, and the daemon still runs.
    expect((await readdir(mountpoint)).sort()).toContain('c.txt');
    expect(alive(pid)).toBe(true);
    // The daemon's probe (HEAD index.json every MOUNTIE_HEALTH_INTERVAL_MS) tells status the server is gone.
    const st = await waitFor('status to say the server is gone', async () => {
      const r = await runExample('httpfs', home, ['status', 'ws']);
      return /state=(degraded|failed)/.test(r.stdout) ? r : undefined;
    }, 15_000, 200);
    expect(st.stdout).toContain(`running(pid=${pid})`);

    expect((await runExample('httpfs', home, ['stop', 'ws'])).exitCode).toBe(0);
    expect(await mountAtPath(mountpoint)).toBeUndefined();
  });

  it('kill -9 of the daemon: status names the leftovers; stop cleans them', async () => {
    const s = await server();
    const home = await makeHome();
    const { pid, mountpoint } = mounted(await runExample('httpfs', home, ['mount', 'ws', '--url', s.url]));
    process.kill(pid, 'SIGKILL');
    await waitFor('the daemon to die', () => (alive(pid) ? undefined : true), 10_000);
    const st = await runExample('httpfs', home, ['status', 'ws']);
    expect(st.exitCode).toBe(1);
    expect(st.stdout).toContain(`stale-pidfile(pid=${pid})`);
    expect(st.stdout).toContain('stale-mount');
    const stop = await runExample('httpfs', home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(await mountAtPath(mountpoint)).toBeUndefined();
    expect((await runExample('httpfs', home, ['status', 'ws'])).stdout).toBe(`ws  stopped  ${mountpoint}`);
  });

  it('no server at the url: the mount fails (exit 4) naming the cause, and nothing runs or stays mounted', async () => {
    const s = await server();
    await s.close(); // a port nobody listens on any more
    const home = await makeHome();
    const r = await runExample('httpfs', home, ['mount', 'ws', '--url', s.url, '--timeout-ms', '1000']);
    expect(r.exitCode, r.stdout).toBe(4);
    expect(r.stderr).toMatch(/ERR_MOUNT_FAILED/);
    expect(r.stderr).toMatch(/index\.json: fetch failed \(ECONNREFUSED\)/);
    expect(await mountAtPath(join(home, 'mnt', 'ws'))).toBeUndefined();
    const st = await runExample('httpfs', home, ['status']);
    expect(st.stdout).not.toMatch(/running|orphan|stale/);
  });

  it.each([
    ['no url', []],
    ['a url that is not http', ['--url', 'ftp://127.0.0.1/']],
    ['a timeout that is not a number', ['--url', 'http://127.0.0.1:9/', '--timeout-ms', 'soon']],
    ['a timeout past the bound', ['--url', 'http://127.0.0.1:9/', '--timeout-ms', '60000']],
  ])('bad options (%s): exit 2 with ERR_INVALID_OPTION, nothing written', async (_what, flags) => {
    const home = await makeHome();
    const r = await runExample('httpfs', home, ['mount', 'ws', ...flags]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/ERR_INVALID_OPTION/);
    expect(await readdir(home, { recursive: true })).toEqual([]);
  });
});
