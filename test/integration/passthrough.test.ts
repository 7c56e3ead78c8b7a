/**
 * The passthrough against the real kernel, through the stand-in daemon (native core): the basics,
 * times, the shell-free unmount and the bounded mount. The differential run, read-only mounts
 * and what only the native core promises are in native.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { exec } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rm, stat, statfs, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted, makeHome, reapAll, spawnTracked, waitFor } from '../helpers/sandbox.js';
import { SERVE, serveInNewHome, startServe, type ServeDaemon } from '../helpers/serve.js';

afterEach(reapAll);

type Daemon = ServeDaemon;
const startDaemon = startServe;

const setup = serveInNewHome;

async function stopCleanly(daemon: Daemon, mnt: string): Promise<void> {
  expect(await daemon.stop()).toBe(0);
  expect(await isMounted(mnt)).toBe(false);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');


describe('passthrough: basics', () => {
  it('reads, writes 5 MiB byte-exact, and reports statfs of the source', async () => {
    const { source, mnt, daemon } = await setup();
    await writeFile(join(source, 'hello.txt'), 'hello world\n');
    expect(await readFile(join(mnt, 'hello.txt'), 'utf8')).toBe('hello world\n');

    const big = randomBytes(5 * 1024 * 1024 + 123);
    await writeFile(join(mnt, 'big.bin'), big);
    expect(sha(await readFile(join(source, 'big.bin')))).toBe(sha(big));
    expect(sha(await readFile(join(mnt, 'big.bin')))).toBe(sha(big));
    expect((await stat(join(mnt, 'big.bin'))).size).toBe(big.length);

    await symlink('hello.txt', join(source, 'link'));
    expect(await readFile(join(mnt, 'link'), 'utf8')).toBe('hello world\n');

    const [viaMount, direct] = [await statfs(mnt), await statfs(source)];
    expect(viaMount.bsize * viaMount.blocks).toBe(direct.bsize * direct.blocks);
    expect(viaMount.files).toBe(Math.min(direct.files, 0xffffffff));
    await stopCleanly(daemon, mnt);
  });

});

describe('passthrough: times', () => {
  it('sets atime and mtime together, to the millisecond, as a plain file gets them', async () => {
    const { home, source, mnt, daemon } = await setup();
    const plainFile = join(home, 'plain-f');
    await writeFile(join(mnt, 'f'), 'x');
    await writeFile(plainFile, 'x');
    for (const ms of [Date.UTC(2005, 4, 6, 7, 8, 9, 123), Date.UTC(2006, 0, 1, 0, 0, 0, 999), 1_700_000_000_001]) {
      await utimes(join(mnt, 'f'), new Date(ms), new Date(ms));
      await utimes(plainFile, new Date(ms), new Date(ms));
      const want = await stat(plainFile);
      expect(Math.abs(Math.floor(want.mtimeMs) - ms)).toBeLessThanOrEqual(1);
      for (const root of [source, mnt]) {
        const st = await stat(join(root, 'f'));
        expect([Math.floor(st.atimeMs), Math.floor(st.mtimeMs)], `${root} at ${ms}`).toEqual([Math.floor(want.atimeMs), Math.floor(want.mtimeMs)]);
      }
    }
    await stopCleanly(daemon, mnt);
  });

  // fuse-native 2.2.6 (fuse-native.c, utimens) sent atime twice, so mtime became atime: this was an
  // it.fails while it served; the native core passes both.
  it('keeps a distinct mtime', async () => {
    const { source, mnt, daemon } = await setup();
    try {
      await writeFile(join(mnt, 'f'), 'x');
      await utimes(join(mnt, 'f'), new Date(Date.UTC(2003, 0, 1)), new Date(Date.UTC(2004, 0, 1)));
      expect((await stat(join(source, 'f'))).mtime.getTime()).toBe(Date.UTC(2004, 0, 1));
    } finally {
      await daemon.stop();
    }
  });
});

describe('mount safety', () => {
  it('unmounts a mountpoint named $(touch …) without running it', async () => {
    const home = await makeHome();
    const marker = `/tmp/mountie-pwn-${process.pid}-${Date.now()}`;
    const source = join(home, 'source');
    const mnt = join(home, `$(touch ${marker})`);
    await mkdir(source);
    await mkdir(mnt, { recursive: true });
    try {
      const daemon = await startDaemon(home, source, mnt);
      expect(await isMounted(mnt)).toBe(true);
      await stopCleanly(daemon, mnt);
      await expect(access(marker)).rejects.toMatchObject({ code: 'ENOENT' });
      // Control: the same string through a shell (as fuse-native's own Fuse.unmount ran it) does run it.
      await new Promise((resolve) => exec(`true ${JSON.stringify(mnt)}`, resolve));
      await access(marker);
    } finally {
      await rm(marker, { force: true });
    }
  });

  it('gives up on a mount that does not complete in time, with ERR_MOUNT_FAILED', async () => {
    const { home, mnt, daemon } = await setup();
    await mkdir(join(mnt, 'inner'));
    daemon.child.kill('SIGSTOP'); // Its mount now hangs every lookup below it.
    const started = Date.now();
    const second = spawnTracked(process.execPath, [SERVE, '--mount-timeout=1000', join(home, 'source'), join(mnt, 'inner')], {
      env: { ...process.env, MOUNTIE_HOME: home },
    });
    let err = '';
    let code: number | null | undefined;
    second.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    second.once('exit', (c) => (code = c));
    const line = await waitFor('ERR_MOUNT_FAILED', () => (err.includes('\n') ? err.split('\n')[0] : undefined), 5000);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(JSON.parse(line ?? '{}')).toMatchObject({ code: 'ERR_MOUNT_FAILED' });
    // Its libuv thread is still stuck in the kernel on that lookup, and process.exit() joins
    // the thread pool: only once the wedged server answers can the second process exit.
    daemon.child.kill('SIGCONT');
    expect(await waitFor('second daemon to exit', () => (code === undefined ? undefined : code), 5000)).toBe(1);
    expect(await isMounted(join(mnt, 'inner'))).toBe(false);
    await stopCleanly(daemon, mnt);
  });
});
