/**
 * The native data path (native/, libfuse 3) mounted for real: the differential run shared with
 * the fuse-native path, then what only the native path promises (source inode numbers, typed
 * readdir, nanosecond times set one at a time, mknod, caller-owned nodes, allow_other) and a
 * clean end (no native thread left, exit 0). Skipped when the addon is not built.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { access, chmod, lstat, mkdir, readdir, readFile, readlink, rename, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMounted, makeHome, reapAll, waitFor } from '../helpers/sandbox.js';
import { passthroughIn, serveInNewHome, serveOverSlowFs, startServe, type ServeDaemon } from '../helpers/serve.js';
import { privateMountNamespace } from '../helpers/mount-ns.js';
import { privateExt4 } from '../helpers/ext4.js';
import { runFile } from '../../src/sys/run.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { ATTR_CACHE_MS, expectAllWritesRefused, runDifferential, snapshotTree } from './passthrough-diff.js';

afterEach(reapAll);

const run = promisify(execFile);
const native = loadNative();
const OPS_PER_SEED = 400;
const XATTR_PROBE = new URL('../fixtures/xattr-probe.py', import.meta.url).pathname;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const setup = (flags: string[] = []): ReturnType<typeof serveInNewHome> => serveInNewHome(['--native', ...flags]);

/** Stops the daemon; returns the counters it printed after its unmount. */
async function stopCleanly(daemon: ServeDaemon, mnt: string): Promise<{ ops: Record<string, number> }> {
  expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
  expect(await isMounted(mnt)).toBe(false);
  const out = daemon.output();
  expect(out).toContain('THREADS 0\n');
  const line = out.split('\n').find((l) => l.startsWith('COUNTERS '));
  return JSON.parse(line?.slice('COUNTERS '.length) ?? '{"ops":{}}') as { ops: Record<string, number> };
}


describe.skipIf(!native.ok)('native passthrough: differential against a plain directory', () => {
  const seeds = process.env.MOUNTIE_DIFF_SEEDS?.split(',').map(Number) ?? [1, 2, 3];
  // Seed 3 once more with an fd budget of 1: almost every node a file handle reopened per request.
  // Its intermittent ENOENT was a handle node found by an inode number ext4 had reused for a new
  // file (fixed; the behaviour test "a handle-only node whose inode number…" reproduces it every
  // time). Opt-in until it had run clean 19 times in a row (6, then 13 on 2026-11-28), now always.
  const runs = [...seeds.map((seed) => ({ seed, flags: [] as string[] })), { seed: 3, flags: ['--fd-budget=1'] }];
  for (const { seed, flags } of runs) {
    it(`seed ${seed}${flags.length ? ` (${flags.join(' ')})` : ''}: ${OPS_PER_SEED} ops agree op by op and leave identical trees`, async () => {
      const { home, source, mnt, daemon } = await setup(['--umask=077', ...flags]);
      const plain = join(home, 'plain');
      await mkdir(plain);
      expect(await runDifferential(seed, OPS_PER_SEED, plain, mnt)).toBeUndefined();
      const expected = await snapshotTree(plain, { inodes: true });
      expect(await snapshotTree(source, { inodes: true }), 'source').toEqual(expected);
      await sleep(ATTR_CACHE_MS);
      // Source inode numbers: the mount view keeps the hard-link structure too.
      expect(await snapshotTree(mnt, { inodes: true }), 'mount view').toEqual(expected);
      await stopCleanly(daemon, mnt);
    });
  }
});

describe.skipIf(!native.ok)('native passthrough: behaviour', () => {
  it('creates, writes 5 MiB byte-exact, renames, and reads back through mount and source', async () => {
    const { source, mnt, daemon } = await setup();
    const big = randomBytes(5 * 1024 * 1024 + 123);
    await writeFile(join(mnt, 'big.bin'), big);
    await rename(join(mnt, 'big.bin'), join(mnt, 'moved.bin'));
    expect(sha(await readFile(join(source, 'moved.bin')))).toBe(sha(big));
    expect(sha(await readFile(join(mnt, 'moved.bin')))).toBe(sha(big));
    await expect(access(join(mnt, 'big.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    const counters = (await stopCleanly(daemon, mnt)) as { ops: Record<string, number>; passthroughOpens: number };
    // Written by the daemon; by the kernel where the file is passed through (the default as root: no WRITE reaches it).
    expect(passthroughIn() ? counters.passthroughOpens : counters.ops.write).toBeGreaterThan(0);
  });

  it('with splice on (a measured choice, off by default) reads and writes stay byte-exact, through pipes', async () => {
    // libfuse splices through a pipe per worker: pipes the daemon holds tell that splice is on.
    const pipes = async (pid: number): Promise<number> => {
      let n = 0;
      for (const fd of await readdir(`/proc/${pid}/fd`)) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith('pipe:')) n++;
      return n;
    };
    const big = randomBytes(3 * 1024 * 1024 + 4097);
    const counts: number[] = [];
    for (const flags of [['--splice'], []]) {
      // Splice is libfuse's session's only (ours reads every request into memory).
      const { source, mnt, daemon } = await serveInNewHome(['--native', ...flags], { ...process.env, MOUNTIE_SESSION: 'libfuse' });
      await writeFile(join(mnt, 'spliced.bin'), big);
      expect(sha(await readFile(join(source, 'spliced.bin')))).toBe(sha(big));
      await writeFile(join(source, 'beside.bin'), big.subarray(0, 2 * 1024 * 1024 + 1));
      expect(sha(await readFile(join(mnt, 'beside.bin')))).toBe(sha(big.subarray(0, 2 * 1024 * 1024 + 1)));
      counts.push(await pipes(daemon.child.pid ?? 0));
      await stopCleanly(daemon, mnt);
    }
    expect(counts[0], `pipes with splice ${counts[0]}, without ${counts[1]}`).toBeGreaterThan(counts[1] ?? 0);
  });

  it('keeps serving past its fd budget: nodes beyond it are file handles (more inodes than fds)', async () => {
    const { source, mnt, daemon } = await setup(['--fd-budget=8']);
    for (let d = 0; d < 5; d++) {
      await mkdir(join(source, `d${d}`));
      for (let f = 0; f < 20; f++) await writeFile(join(source, `d${d}`, `f${f}`), `${d}/${f}`);
    }
    const { stdout } = await run('ls', ['-lR', mnt]);
    expect(stdout.split('\n').filter((l) => l.startsWith('-')).length).toBe(100);
    expect(await readFile(join(mnt, 'd4/f19'), 'utf8')).toBe('4/19');
    await writeFile(join(mnt, 'd4/f19'), 'changed');
    await rename(join(mnt, 'd4'), join(mnt, 'e4'));
    expect(await readFile(join(source, 'e4/f19'), 'utf8')).toBe('changed');
    await stopCleanly(daemon, mnt);
  });

  it('a handle-only node whose inode number the source reused for a new file is not taken for it (fd budget 1)', async () => {
    // The source on an ext4 of the test's own: on the shared /tmp another process's file may take
    // the freed inode number first (seen three times under load on 2026-12-07).
    const home = await makeHome();
    const source = (await privateExt4(home)) ?? join(home, 'source');
    await mkdir(source, { recursive: true });
    const mnt = join(home, 'mnt');
    await mkdir(mnt);
    const daemon = await startServe(home, source, mnt, ['--native', '--fd-budget=1']);
    await mkdir(join(source, 'd'));
    await writeFile(join(source, 'd', 'old'), 'old');
    // The kernel looks it up and keeps the inode (a handle node past the budget: nothing pins it).
    const oldIno = (await stat(join(mnt, 'd', 'old'))).ino;
    await unlink(join(source, 'd', 'old')); // beside the mount: the kernel's node stays
    // ext4 (the tests' /tmp) hands a freed inode number to the next file it creates in the group.
    let reused: string | undefined;
    for (let i = 0; i < 50 && !reused; i++) {
      await writeFile(join(source, 'd', `new${i}`), `new${i}`);
      if ((await stat(join(source, 'd', `new${i}`))).ino === oldIno) reused = `new${i}`;
    }
    expect(reused, 'the source reused the inode number (the precondition of this test)').toBeDefined();
    const name = reused ?? '';
    expect(await readFile(join(mnt, 'd', name), 'utf8')).toBe(name);
    expect((await stat(join(mnt, 'd', name))).ino).toBe(oldIno);
    await stopCleanly(daemon, mnt);
  });

  it('a handle-only directory removed in the source answers ENOENT inside it, as a plain directory does, not ESTALE (fd budget 1)', async () => {
    const { home, source, mnt, daemon } = await setup(['--fd-budget=1']);
    const plain = join(home, 'plain');
    await mkdir(plain);
    for (const root of [source, plain]) {
      await mkdir(join(root, 'pad'));
      await mkdir(join(root, 'd'));
      await writeFile(join(root, 'd', 'f'), 'x');
    }
    await stat(join(mnt, 'pad')); // the one fd of the budget: d below is a file handle
    // A shell whose cwd is d (the kernel holds d's node) while d goes away beside it: a lookup in d
    // at once (d's attributes still cached: LOOKUP reaches the node, whose handle no longer opens;
    // it was ESTALE), and after the attribute cache (GETATTR of d first; it was EBADF).
    const inRemoved = async (dir: string, removeRoot: string): Promise<string> => {
      const script = `cd "$1" && rm -r "$2/d" && ls new 2>&1; sleep ${(ATTR_CACHE_MS + 300) / 1000}; ls new 2>&1; stat -c %F new 2>&1; true`;
      const { stdout } = await run('sh', ['-c', script, 'sh', join(dir, 'd'), removeRoot], { timeout: 10_000 });
      return stdout;
    };
    const throughMount = await inRemoved(mnt, source);
    const onPlain = await inRemoved(plain, plain);
    expect(onPlain).toContain('No such file or directory');
    expect(throughMount).not.toContain('Stale');
    expect(throughMount.split('\n').filter((l) => l.includes('No such file or directory')).length).toBe(3);
    await stopCleanly(daemon, mnt);
  });

  for (const flags of [[], ['--fd-budget=1']]) {
    it(`sets, gets, lists and removes user.* xattrs on a file, a directory and a symlink with the source's answers, ENODATA and ERANGE included${flags.length ? ` (${flags.join(' ')}: handle-only nodes)` : ''}`, async () => {
      const { home, source, mnt, daemon } = await setup(flags);
      const plain = join(home, 'plain');
      await mkdir(plain);
      const probe = async (root: string): Promise<unknown> =>
        JSON.parse((await run('python3', [XATTR_PROBE, root])).stdout) as unknown;
      const expected = await probe(plain);
      expect(JSON.stringify(expected)).toContain('ERANGE');
      expect(await probe(mnt)).toEqual(expected);
      const keep = async (root: string): Promise<string> =>
        (await run('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "user.keep").decode())', root])).stdout.trim();
      expect(await keep(join(source, 'f'))).toBe('kept');
      expect(await keep(join(source, 'd'))).toBe('kept');
      const { ops } = await stopCleanly(daemon, mnt);
      for (const op of ['setxattr', 'getxattr', 'listxattr', 'removexattr']) expect(ops[op], op).toBeGreaterThan(0);
    });
  }

  it('shows source inode numbers: a hard link made through the mount has the same inode', async () => {
    const { source, mnt, daemon } = await setup();
    await writeFile(join(mnt, 'a'), 'x');
    await run('ln', [join(mnt, 'a'), join(mnt, 'b')]);
    const [a, b, src] = [await stat(join(mnt, 'a')), await stat(join(mnt, 'b')), await stat(join(source, 'a'))];
    expect(b.ino).toBe(a.ino);
    expect(a.ino).toBe(src.ino);
    expect(a.nlink).toBe(2);
    await stopCleanly(daemon, mnt);
  });

  it('answers readdir with file types, so listing needs no lookup per entry', async () => {
    const { source, mnt, daemon } = await setup();
    await writeFile(join(source, 'file'), 'x');
    await mkdir(join(source, 'dir'));
    await symlink('file', join(source, 'link'));
    await run('mkfifo', [join(source, 'fifo')]);
    const types = Object.fromEntries(
      (await readdir(mnt, { withFileTypes: true })).map((d) => [d.name, d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : d.isFIFO() ? 'fifo' : 'other']),
    );
    expect(types).toEqual({ file: 'file', dir: 'dir', link: 'symlink', fifo: 'fifo' });
    const counters = await stopCleanly(daemon, mnt);
    // Node stats an entry whose type readdir left unknown: that would be a LOOKUP.
    expect(counters.ops.lookup ?? 0).toBe(0);
    expect(counters.ops.readdir).toBeGreaterThan(0);
  });

  it('costs no FLUSH round trip per close(2): nothing is buffered, so the kernel is told not to send it', async () => {
    const { mnt, daemon } = await setup();
    for (let i = 0; i < 20; i++) await writeFile(join(mnt, `f${i}`), 'x');
    expect(await readFile(join(mnt, 'f7'), 'utf8')).toBe('x');
    const counters = await stopCleanly(daemon, mnt);
    expect(counters.ops.release ?? 0).toBeGreaterThanOrEqual(21);
    expect(counters.ops.flush ?? 0).toBe(0);
  });

  it('sets mtime alone to the nanosecond and leaves atime (UTIME_OMIT)', async () => {
    const { source, mnt, daemon } = await setup();
    const f = join(mnt, 'f');
    await writeFile(f, 'x');
    await run('touch', ['-a', '-d', '2003-04-05 06:07:08.987654321', f]);
    await run('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789', f]);
    const st = await stat(join(source, 'f'), { bigint: true });
    expect(st.mtimeNs).toBe(BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n + 123_456_789n);
    expect(st.atimeNs).toBe(BigInt(Date.UTC(2003, 3, 5, 6, 7, 8)) * 1_000_000n + 987_654_321n);
    await utimes(f, new Date(Date.UTC(2002, 0, 1)), new Date(Date.UTC(2004, 0, 1)));
    const both = await stat(join(source, 'f'));
    expect([both.atimeMs, both.mtimeMs]).toEqual([Date.UTC(2002, 0, 1), Date.UTC(2004, 0, 1)]);
    await stopCleanly(daemon, mnt);
  });

  it('makes fifos (mknod)', async () => {
    const { source, mnt, daemon } = await setup();
    await run('mkfifo', ['-m', '0640', join(mnt, 'p')]);
    const st = await lstat(join(source, 'p'));
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640);
    await stopCleanly(daemon, mnt);
  });

  it('with --allow-other lets another user in, under kernel permission checks, and gives it what it creates', async () => {
    const { home, source, mnt, daemon } = await setup(['--allow-other']);
    await chmod(home, 0o755); // mkdtemp made it 0700: the other user must reach the mountpoint
    await mkdir(join(source, 'pub'), { mode: 0o777 });
    await chmod(join(source, 'pub'), 0o777);
    await mkdir(join(source, 'private'), { mode: 0o700 });
    const as = (cmd: string, ...args: string[]): Promise<unknown> => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args]);
    await as('touch', join(mnt, 'pub/f'));
    await as('mkdir', join(mnt, 'pub/d'));
    for (const name of ['pub/f', 'pub/d']) {
      const st = await lstat(join(source, name));
      expect([st.uid, st.gid], name).toEqual([65534, 65534]);
    }
    await expect(as('touch', join(mnt, 'private/f'))).rejects.toMatchObject({ stderr: expect.stringContaining('Permission denied') });
    await expect(access(join(source, 'private/f'))).rejects.toMatchObject({ code: 'ENOENT' });
    await stopCleanly(daemon, mnt);
  });

  it('without --allow-other keeps other users out', async () => {
    const { home, mnt, daemon } = await setup();
    await chmod(home, 0o755);
    await expect(run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'ls', mnt])).rejects.toMatchObject({ stderr: expect.stringContaining('Permission denied') });
    await stopCleanly(daemon, mnt);
  });

  it('a read-only mount serves reads and refuses every write with EROFS', async () => {
    const home = await makeHome();
    const [source, mnt] = [join(home, 'source'), join(home, 'mnt')];
    await mkdir(join(source, 'dir'), { recursive: true });
    await mkdir(mnt);
    await writeFile(join(source, 'f.txt'), 'keep');
    const daemon = await startServe(home, source, mnt, ['--native', '--ro']);
    expect(await readFile(join(mnt, 'f.txt'), 'utf8')).toBe('keep');
    await expectAllWritesRefused(mnt);
    expect(await readFile(join(source, 'f.txt'), 'utf8')).toBe('keep');
    await stopCleanly(daemon, mnt);
  });

  it('unmounts a busy mount: the connection is ended, every native thread joined, exit 0', async () => {
    const { source, mnt, daemon } = await setup();
    await writeFile(join(source, 'f'), 'x');
    // A reader holding a file open keeps the mount busy: fusermount -u fails, the lazy one detaches.
    const holder = execFile('sh', ['-c', `exec 3<"${join(mnt, 'f')}"; sleep 30`]);
    try {
      // The file is open (fd 3 names it) before the stop: a fixed pause could end first on a loaded machine.
      await waitFor('the holder to open the file', () => readlink(`/proc/${holder.pid}/fd/3`).then((l) => (l === join(mnt, 'f') ? true : undefined), () => undefined), 10_000);
      await stopCleanly(daemon, mnt);
      expect(daemon.output()).toContain('"how":"lazy"');
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe.skipIf(!native.ok)('native passthrough: per-request deadline', () => {
  it('a read the source never answers gets ETIMEDOUT once, other requests carry on, the late answer is dropped', async () => {
    const { mnt, slow, daemon } = await serveOverSlowFs(['--native', '--deadline-ms=400']);
    const reader = run('cat', [join(mnt, 'slow/file0')]);
    expect(await readFile(join(mnt, 'fast/a.txt'), 'utf8')).toBeTruthy(); // while the read hangs
    await expect(reader).rejects.toMatchObject({ stderr: expect.stringContaining('Connection timed out') });
    expect(await slow.hung()).toBeGreaterThan(0); // its worker is still blocked in the source
    await slow.send('release');
    await waitFor('held reads answered', async () => ((await slow.hung()) === 0 ? true : undefined), 5000);
    expect(await readFile(join(mnt, 'fast/b.txt'), 'utf8')).toBeTruthy();
    expect(await daemon.stop()).toBe(0);
    const counters = JSON.parse(daemon.output().split('\n').find((l) => l.startsWith('COUNTERS '))?.slice(9) ?? '{}') as { timedOut: number; stuck: number };
    expect(counters.timedOut).toBeGreaterThan(0);
    expect(counters.stuck).toBe(0); // every blocked worker came back and answered nothing
    expect(daemon.output()).toContain('THREADS 0\n');
  });

  it('stop answers a request stuck in the source at once with EIO, without a deadline, and the daemon exits 0', async () => {
    const { mnt, slow, daemon } = await serveOverSlowFs(['--native', '--deadline-ms=0']);
    const reader = run('cat', [join(mnt, 'slow/file0')]);
    await waitFor('read held in the source', async () => ((await slow.hung()) > 0 ? true : undefined), 5000);
    const stopped = daemon.stop();
    await expect(reader).rejects.toMatchObject({ stderr: expect.stringContaining('Input/output error') });
    expect(await stopped).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
    // Its worker was blocked in the source; usually still is (then the join says "the native
    // threads did not end" and the process exit ends it); either way the daemon exited 0.
    await slow.send('release');
  });
});

describe.skipIf(!native.ok || process.geteuid?.() !== 0)('native passthrough: the end of a mount copied elsewhere', () => {
  it('a copy of the mount in another mount namespace does not keep the threads: its own connection is aborted, through the abort file held since the mount, and no other', async () => {
    // `unshare -m` with private propagation while mounted (container tooling, another test): our
    // unmount does not reach the copy, whose superblock keeps the connection and the loop alive.
    // Before the held abort file, the stop said "the native threads did not end" (CI, 2026-12-07).
    const a = await setup();
    const b = await setup(); // a bystander, copied as well: its connection must not be touched
    await writeFile(join(b.source, 'kept'), 'b');
    const ns = await privateMountNamespace();
    const inNs = (path: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> =>
      runFile(ns.enter[0] as string, [...ns.enter.slice(1), 'cat', path], 5000);
    await writeFile(join(a.source, 'f'), 'a');
    expect((await inNs(join(a.mnt, 'f'))).stdout).toBe('a'); // the copy is served by a's daemon
    await stopCleanly(a.daemon, a.mnt);
    expect(a.daemon.output()).toContain('"aborted":true');
    expect((await inNs(join(a.mnt, 'f'))).stderr).toMatch(/Transport endpoint is not connected|Software caused connection abort/);
    expect((await inNs(join(b.mnt, 'kept'))).stdout).toBe('b');
    expect(await readFile(join(b.mnt, 'kept'), 'utf8')).toBe('b');
    expect(b.daemon.output()).not.toContain('UNMOUNTED');
    await stopCleanly(b.daemon, b.mnt);
  });
});
