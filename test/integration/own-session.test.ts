/**
 * Issue 20, the session layer's first step: the passthrough served by our own FUSE session
 * (native/src/own.c: our /dev/fuse fd, INIT, request decoding, replies) when MOUNTIE_SESSION=own,
 * libfuse 3.14's otherwise. The core's counters name the session that serves the mount (with
 * `own` there is no libfuse session at all), and the mount does the everyday work through it.
 * Without the own session (the variable ignored, or own.c's INIT not answered) the first test
 * fails: the counters would say libfuse, or the mount would not answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, rename, rm, stat, symlink, readlink, writeFile, truncate } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMounted, makeHome, reapAll } from '../helpers/sandbox.js';
import { serveCounters, serveInNewHome, startServe, type ServeDaemon } from '../helpers/serve.js';
import { loadNative } from '../../src/daemon/native/binding.js';

afterEach(reapAll);

const native = loadNative();

interface Counters {
  ops: Record<string, number>;
  session: string;
  bytesRead: number;
  bytesWritten: number;
  passthroughOpens: number;
  passthroughFallbacks: number;
}

const counters = (daemon: ServeDaemon): Promise<Counters> => serveCounters<Counters>(daemon);

/** The mount's line in mountinfo: type, source and the options the kernel took. */
function mountLine(mnt: string): string {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt) ?? '';
}

const withSession = (kind: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.MOUNTIE_SESSION;
  delete env.MOUNTIE_PASSTHROUGH;
  if (kind !== undefined) env.MOUNTIE_SESSION = kind;
  return { ...env, ...extra };
};

describe.skipIf(!native.ok || process.getuid?.() !== 0)('the FUSE session layer (MOUNTIE_SESSION)', () => {
  it('MOUNTIE_SESSION=own: our own session serves the everyday work', async () => {
    const { source, mnt, daemon } = await serveInNewHome(['--native'], withSession('own'));
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await writeFile(join(mnt, 'big.bin'), big);
    expect((await readFile(join(source, 'big.bin'))).equals(big)).toBe(true);
    await mkdir(join(mnt, 'd'));
    await writeFile(join(mnt, 'd', 'f.txt'), 'hello');
    await rename(join(mnt, 'd', 'f.txt'), join(mnt, 'd', 'g.txt'));
    await symlink('g.txt', join(mnt, 'd', 'l'));
    expect(await readlink(join(mnt, 'd', 'l'))).toBe('g.txt');
    await truncate(join(mnt, 'd', 'g.txt'), 2);
    expect(await readFile(join(mnt, 'd', 'l'), 'utf8')).toBe('he');
    expect((await readdir(join(mnt, 'd'))).sort()).toEqual(['g.txt', 'l']);
    expect((await stat(join(mnt, 'big.bin'))).size).toBe(big.length);
    await rm(join(mnt, 'd'), { recursive: true });
    expect(await readdir(source)).toEqual(['big.bin']);
    const c = await counters(daemon);
    expect(c.session).toBe('own');
    expect(c.ops.write ?? 0).toBeGreaterThan(0);
    expect(c.bytesWritten).toBeGreaterThanOrEqual(big.length);
    // The same mount options as libfuse's session gives (nosuid,nodev by default, default_permissions).
    const line = mountLine(mnt);
    expect(line).toMatch(/ fuse\.mountie mountie:test-/);
    expect(line).toMatch(/nosuid,nodev/);
    expect(line).toContain('default_permissions');
    expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
    expect(daemon.output()).toContain('THREADS 0\n');
  });

  it('by default libfuse 3.14 serves the mount, as before', async () => {
    const { mnt, daemon } = await serveInNewHome(['--native'], withSession(undefined));
    await writeFile(join(mnt, 'f'), 'x');
    expect(await readFile(join(mnt, 'f'), 'utf8')).toBe('x');
    expect((await counters(daemon)).session).toBe('libfuse');
    expect(await daemon.stop()).toBe(0);
  });

  it('MOUNTIE_PASSTHROUGH=1 on our session: a file\'s reads and writes are the kernel\'s (no READ or WRITE reaches the daemon), bytes exact', async () => {
    const { source, mnt, daemon } = await serveInNewHome(['--native'], withSession('own', { MOUNTIE_PASSTHROUGH: '1' }));
    const data = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
    await writeFile(join(source, 'f.bin'), data);
    expect((await readFile(join(mnt, 'f.bin'))).equals(data)).toBe(true);
    await writeFile(join(mnt, 'new.bin'), 'written through the mount');
    expect(await readFile(join(source, 'new.bin'), 'utf8')).toBe('written through the mount');
    expect(await readFile(join(mnt, 'new.bin'), 'utf8')).toBe('written through the mount');
    const c = await counters(daemon);
    expect(c.session).toBe('own');
    expect(c.passthroughOpens).toBeGreaterThanOrEqual(3);
    expect(c.passthroughFallbacks).toBe(0);
    // The proof: the core served no READ and no WRITE, not one byte.
    expect(c.ops.read ?? 0).toBe(0);
    expect(c.ops.write ?? 0).toBe(0);
    expect(c.bytesRead).toBe(0);
    expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
    expect(daemon.output()).toContain('THREADS 0\n');
  });

  it('falls back per file where the kernel refuses the backing file (a source that is itself a passthrough mount: ELOOP), bytes exact', async () => {
    const pt = withSession('own', { MOUNTIE_PASSTHROUGH: '1' });
    const inner = await serveInNewHome(['--native'], pt);
    const data = Buffer.alloc(1024 * 1024 + 9, 5);
    await writeFile(join(inner.source, 'f.bin'), data);
    const home = await makeHome();
    const mnt = join(home, 'mnt');
    await mkdir(mnt);
    const outer = await startServe(home, inner.mnt, mnt, ['--native'], [], pt);
    expect(await isMounted(mnt)).toBe(true);
    expect((await readFile(join(mnt, 'f.bin'))).equals(data)).toBe(true);
    await writeFile(join(mnt, 'w.txt'), 'through two mounts');
    expect(await readFile(join(inner.source, 'w.txt'), 'utf8')).toBe('through two mounts');
    const c = await counters(outer);
    // The outer daemon served the file itself: the kernel allows one level of stacking (max_stack_depth 1).
    expect(c.passthroughOpens).toBe(0);
    expect(c.passthroughFallbacks).toBeGreaterThanOrEqual(2);
    expect(c.ops.read ?? 0).toBeGreaterThan(0);
    expect(c.ops.write ?? 0).toBeGreaterThan(0);
    // The inner one, on a plain source, passed its files through.
    expect((await counters(inner.daemon)).passthroughOpens).toBeGreaterThan(0);
    expect(await outer.stop(), outer.output().slice(-1000)).toBe(0);
    expect(await inner.daemon.stop(), inner.daemon.output().slice(-1000)).toBe(0);
  });
});
