/**
 * examples/ramfs end to end, through its own command (dist-examples/ramfs/cli.js) as a user runs
 * it: mount → write, read, append, rename, link, symlink, mkdir, rmdir, chmod, truncate, xattrs
 * through the mount → status (and `status --json`: the native data path) → no libfuse 2 in the
 * daemon → stop. The daemon is another process, but the calls here stay async all the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { appendFile, chmod, chown, link, lstat, mkdir, open, readdir, readFile, readlink, rename, rmdir, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeHome, reapAll } from '../helpers/sandbox.js';
import { alive, mountAtPath, mounted, runExample } from '../helpers/examples.js';

const run = promisify(execFile);
const XATTR_PROBE = new URL('../fixtures/xattr-probe.py', import.meta.url).pathname;
const errnoOf = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (err as { code?: string }).code);

async function mountWs(home: string, args: string[] = []): Promise<{ pid: number; mountpoint: string }> {
  const r = await runExample('ramfs', home, ['mount', 'ws', ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  return mounted(r);
}

async function stopWs(home: string, pid: number, mountpoint: string): Promise<void> {
  const r = await runExample('ramfs', home, ['stop', 'ws']);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toContain(`ws: pid ${pid} ended by TERM`);
  expect(alive(pid)).toBe(false);
  expect(await mountAtPath(mountpoint)).toBeUndefined();
}

describe('examples/ramfs through its command (served by the native core)', () => {
  afterEach(reapAll);

  it('serves a writable tree; status --json says the native data path; the daemon has no libfuse 2; stop ends it', async () => {
    const home = await makeHome();
    const { pid, mountpoint: m } = await mountWs(home);
    const p = (...names: string[]): string => join(m, ...names);
    expect((await mountAtPath(m))?.fstype).toBe('fuse.ramfs');

    // Write, read, append; a sparse write far out reads back with zeros before it.
    await writeFile(p('a.txt'), 'hello\n');
    await appendFile(p('a.txt'), 'world\n');
    expect(await readFile(p('a.txt'), 'utf8')).toBe('hello\nworld\n');
    const fh = await open(p('sparse'), 'w+');
    await fh.write('Z', 1 << 20);
    const tail = Buffer.alloc(4);
    await fh.read(tail, 0, 4, (1 << 20) - 3);
    await fh.close();
    expect(tail).toEqual(Buffer.from('\0\0\0Z'));
    expect((await stat(p('sparse'))).size).toBe((1 << 20) + 1);

    // Directories: nlink is 2 + subdirectories; mkdir and rmdir move the parent's.
    await mkdir(p('d'));
    await mkdir(p('d', 'sub'));
    expect((await stat(p('d'))).nlink).toBe(3);
    await rmdir(p('d', 'sub'));
    expect((await stat(p('d'))).nlink).toBe(2);
    expect(await errnoOf(rmdir(p('nope')))).toBe('ENOENT');

    // Hard links share one inode: the number, nlink and the bytes.
    await link(p('a.txt'), p('d', 'hard'));
    const [a, h] = [await stat(p('a.txt')), await stat(p('d', 'hard'))];
    expect([a.ino, a.nlink]).toEqual([h.ino, 2]);
    await unlink(p('d', 'hard'));
    // One kernel inode for both names (the node table keys files by ino): a.txt says 1 at once.
    expect((await stat(p('a.txt'))).nlink).toBe(1);

    // Symlinks.
    await symlink('a.txt', p('s'));
    expect(await readlink(p('s'))).toBe('a.txt');
    expect((await lstat(p('s'))).isSymbolicLink()).toBe(true);
    expect(await readFile(p('s'), 'utf8')).toBe('hello\nworld\n');

    // Rename: a file keeps its inode; replacing follows POSIX.
    const ino = (await stat(p('a.txt'))).ino;
    await rename(p('a.txt'), p('d', 'b.txt'));
    expect((await stat(p('d', 'b.txt'))).ino).toBe(ino);
    expect(await errnoOf(stat(p('a.txt')))).toBe('ENOENT');
    await mkdir(p('full'));
    await writeFile(p('full', 'x'), 'x');
    expect(await errnoOf(rename(p('d'), p('full')))).toBe('ENOTEMPTY');
    expect(await errnoOf(rename(p('d'), p('full', 'x')))).toBe('ENOTDIR');
    expect(await errnoOf(rename(p('full', 'x'), p('d')))).toBe('EISDIR');
    await mkdir(p('empty'));
    await rename(p('d'), p('empty')); // a directory onto an empty one replaces it
    expect((await readdir(p('empty'))).sort()).toEqual(['b.txt']);
    expect((await stat(m)).nlink).toBe(2 + 2); // empty/ and full/

    // chmod and truncate (ctime moves; truncate cuts and extends with zeros).
    await chmod(p('empty', 'b.txt'), 0o640);
    expect((await stat(p('empty', 'b.txt'))).mode & 0o7777).toBe(0o640);
    await truncate(p('empty', 'b.txt'), 3);
    expect(await readFile(p('empty', 'b.txt'), 'utf8')).toBe('hel');
    await truncate(p('empty', 'b.txt'), 5);
    expect(await readFile(p('empty', 'b.txt'))).toEqual(Buffer.from('hel\0\0'));
    await writeFile(p('big'), '');
    await truncate(p('big'), 2 ** 40); // sparse: no bytes stored
    expect((await stat(p('big'))).size).toBe(2 ** 40);

    // xattrs: the same answers as a plain directory, one by one (set, create/replace flags,
    // get, size queries, list, remove; user.* on a symlink is refused by the kernel on both).
    const plain = join(home, 'plain');
    await mkdir(plain);
    await mkdir(p('x'));
    const probe = async (root: string): Promise<unknown> => JSON.parse((await run('python3', [XATTR_PROBE, root], { timeout: 30_000 })).stdout) as unknown;
    expect(await probe(p('x'))).toEqual(await probe(plain));

    // Status: running, and which data path serves it.
    const st = await runExample('ramfs', home, ['status']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.stdout).toBe(`ws  running(pid=${pid})  ${m}  data=native`);
    const json = await runExample('ramfs', home, ['status', 'ws', '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject([{ workspace: 'ws', verdict: 'running', daemon: { pid }, state: { status: 'active', dataPath: 'native' } }]);
    // The native core is libfuse 3; fuse-native's libfuse 2 was never loaded.
    const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
    expect(maps).toMatch(/libfuse3\.so/);
    expect(maps).not.toMatch(/libfuse\.so\.2/);

    await stopWs(home, pid, m);
  });

  it('touch -m -d with nanoseconds sets mtime to the nanosecond (utimens carries ns) and leaves atime alone', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    const f = join(mountpoint, 'f');
    await writeFile(f, 'x');
    const before = await stat(f, { bigint: true });
    await run('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789', f], { env: { ...process.env, TZ: 'UTC' }, timeout: 10_000 });
    const after = await stat(f, { bigint: true });
    expect(after.mtimeNs).toBe(BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n + 123_456_789n);
    // fuse-native's bug (utimens passed atime as mtime) would have moved atime or set mtime to it.
    expect(after.atimeNs).toBe(before.atimeNs);
    expect(after.ctimeNs >= before.ctimeNs).toBe(true);
    await stopWs(home, pid, mountpoint);
  });

  it('rename flags (NOREPLACE, EXCHANGE), fallocate (reserve, KEEP_SIZE, punch hole; zero range refused) and SEEK_DATA/SEEK_HOLE', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    // Python's ctypes reaches renameat2 and fallocate(2) with any mode; one JSON line of results.
    const script = String.raw`
import ctypes, json, os, sys
os.chdir(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
L = ctypes.c_long
def call(f, *a):
    r = f(*a)
    return 0 if r == 0 else os.strerror(ctypes.get_errno())
out = {}
open('a', 'w').write('A'); open('b', 'w').write('B'); os.mkdir('d')
out['noreplace'] = call(libc.renameat2, -100, b'a', -100, b'b', 1)
out['exchange'] = call(libc.renameat2, -100, b'a', -100, b'd', 2)
out['after'] = [os.path.isdir('a'), open('d').read(), os.stat('.').st_nlink]
out['noreplace_free'] = call(libc.renameat2, -100, b'b', -100, b'c', 1)
fd = os.open('f', os.O_CREAT | os.O_RDWR, 0o644)
C = 64 * 1024
os.pwrite(fd, b'x' * 10, 3 * C)
out['seek'] = [os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 3 * C, os.SEEK_HOLE)]
out['keep'] = [call(libc.fallocate, fd, 1, L(0), L(8 * C)), os.fstat(fd).st_size]
out['grow'] = [call(libc.fallocate, fd, 0, L(0), L(5 * C)), os.fstat(fd).st_size]
out['punch'] = [call(libc.fallocate, fd, 3, L(3 * C), L(5)), os.pread(fd, 10, 3 * C).decode(), os.lseek(fd, 3 * C, os.SEEK_HOLE)]
out['punch_whole'] = [call(libc.fallocate, fd, 3, L(0), L(2 * C)), os.lseek(fd, 0, os.SEEK_DATA), os.pread(fd, 4, 0).decode()]
out['zero_range'] = call(libc.fallocate, fd, 0x10, L(0), L(5))
print(json.dumps(out))
`;
    const { stdout } = await run('python3', ['-c', script, mountpoint], { timeout: 30_000 });
    const C = 64 * 1024;
    expect(JSON.parse(stdout)).toEqual({
      noreplace: 'File exists',
      exchange: 0,
      after: [true, 'A', 3], // the directory is now "a", the file "d"; the root still counts one subdirectory
      noreplace_free: 0,
      seek: [3 * C, 0, 3 * C + 10], // a hole first, the data at 3 C, the end of the file is a hole
      keep: [0, 3 * C + 10], // reserved past the end: the size stays
      grow: [0, 5 * C],
      punch: [0, '\0'.repeat(5) + 'xxxxx', 5 * C], // zeros inside a stored chunk: still data, not a hole
      punch_whole: [0, 2 * C, '\0'.repeat(4)], // whole chunks go back to being holes
      zero_range: 'Operation not supported',
    });
    await stopWs(home, pid, mountpoint);
  });

  it('an open file whose name was unlinked still reads, writes and truncates through its handle', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    const f = join(mountpoint, 'u');
    const fh = await open(f, 'w+');
    try {
      await fh.write('abc');
      await unlink(f);
      await fh.write('d', 3);
      const buf = Buffer.alloc(8);
      // A read asks the kernel to refresh the size first (getattr with the handle: the author's fgetattr).
      expect((await fh.read(buf, 0, 8, 0)).bytesRead).toBe(4);
      expect(buf.subarray(0, 4).toString()).toBe('abcd');
      await fh.truncate(2);
      expect((await fh.read(buf, 0, 8, 0)).bytesRead).toBe(2);
    } finally {
      await fh.close();
      await stopWs(home, pid, mountpoint);
    }
  });

  // fstat reaches the daemon as a getattr without a handle (the kernel sends none for fstat) and an
  // unlinked open file keeps its old path in the node table: the core gives such a getattr the
  // handle of the latest open of that node (native/src/jsfs.c, handle_of_unlinked), which ramfs
  // answers by (fgetattr). It failed (ENOENT, or the other file's stat) before that.
  it('fstat of an open file whose name was unlinked and reused is still that file', async () => {
    const home = await makeHome();
    const { pid, mountpoint } = await mountWs(home);
    const f = join(mountpoint, 'u');
    const fh = await open(f, 'w+');
    try {
      await fh.write('abc');
      await unlink(f);
      await writeFile(f, 'a much longer file');
      const st = await fh.stat();
      expect([st.size, st.nlink]).toEqual([3, 0]);
    } finally {
      await fh.close();
      await stopWs(home, pid, mountpoint);
    }
  });

  it('--allow-other is stored in workspace.json, mounts allow_other,default_permissions, and lets another uid in under the kernel checks', async () => {
    const home = await makeHome();
    const { pid, mountpoint: m } = await mountWs(home, ['--allow-other']);
    expect((await mountAtPath(m))?.superOptions.split(',')).toEqual(expect.arrayContaining(['allow_other', 'default_permissions']));
    expect(JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'workspace.json'), 'utf8'))).toMatchObject({ kind: 'ramfs', allowOther: true });
    await writeFile(join(m, 'open.txt'), 'open\n');
    await writeFile(join(m, 'secret.txt'), 'secret\n', { mode: 0o600 });
    // The home (mkdtemp: 0700) is root's: nobody reaches the mountpoint through a directory of its own.
    await chmod(home, 0o711);
    await chmod(join(home, 'mnt'), 0o711).catch(() => undefined);
    const as = (cmd: string, ...args: string[]): Promise<{ stdout: string }> => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args], { timeout: 10_000 });
    expect((await as('cat', join(m, 'open.txt'))).stdout).toBe('open\n');
    await expect(as('cat', join(m, 'secret.txt'))).rejects.toMatchObject({ stderr: expect.stringContaining('Permission denied') });
    await expect(as('touch', join(m, 'new'))).rejects.toMatchObject({ stderr: expect.stringContaining('Permission denied') }); // the root dir is 0755, root's
    await stopWs(home, pid, m);
    // A later mount reuses the stored setting.
    const again = await mountWs(home);
    expect((await mountAtPath(again.mountpoint))?.superOptions.split(',')).toContain('allow_other');
    await stopWs(home, again.pid, again.mountpoint);
  });

  it('what uid 65534 makes through --allow-other is its own (the caller from the kernel); a setgid directory passes on its group; chown and writes by it drop setuid', async () => {
    const home = await makeHome();
    const { pid, mountpoint: m } = await mountWs(home, ['--allow-other']);
    await chmod(home, 0o711);
    await chmod(join(home, 'mnt'), 0o711).catch(() => undefined);
    await chmod(m, 0o1777); // the root is root's: let everyone make names in it (sticky, as /tmp)
    await mkdir(join(m, 'g'));
    await chown(join(m, 'g'), 0, 4242);
    await chmod(join(m, 'g'), 0o2777);
    const as = (cmd: string, ...args: string[]): Promise<{ stdout: string }> => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args], { timeout: 10_000 });
    await as('sh', '-c', 'cd "$1" && echo x > f && mkdir d && ln -s f s && mkfifo p && echo y > g/f && mkdir g/d && chmod 4755 f && echo z >> f && echo w > f2 && chmod 6775 f2 && chgrp 65534 f2', 'sh', m);
    const owner = async (name: string): Promise<[number, number, string]> => {
      const st = await lstat(join(m, name));
      return [st.uid, st.gid, (st.mode & 0o7777).toString(8)];
    };
    expect(await owner('f')).toEqual([65534, 65534, '755']); // setuid dropped by its own write
    expect(await owner('f2')).toEqual([65534, 65534, '775']); // and by its chown (setgid too: group exec is set)
    expect(await owner('d')).toEqual([65534, 65534, '755']);
    expect(await owner('s')).toEqual([65534, 65534, '777']);
    expect(await owner('p')).toEqual([65534, 65534, '644']);
    expect(await owner('g/f')).toEqual([65534, 4242, '644']); // BSD groups: the setgid directory's
    expect(await owner('g/d')).toEqual([65534, 4242, '2755']); // and a subdirectory stays setgid
    // The owner may give its file's group away only to a group it is in: the kernel says no first.
    await expect(as('chgrp', '0', join(m, 'f'))).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not permitted') });
    await stopWs(home, pid, m);
  });
});
