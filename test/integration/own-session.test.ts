/**
 * Issue 20, the session layer's first step: the passthrough served by our own FUSE session
 * (native/src/own.c: our /dev/fuse fd, INIT, request decoding, replies), the default since
 * 2026-12-08 (MOUNTIE_SESSION=own or unset); libfuse 3.14's with MOUNTIE_SESSION=libfuse. The core's counters name the session that serves the mount (with
 * `own` there is no libfuse session at all), and the mount does the everyday work through it.
 * Without the own session (the variable ignored, or own.c's INIT not answered) the first test
 * fails: the counters would say libfuse, or the mount would not answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmod, open as openFile } from 'node:fs/promises';
import { mkdir, readFile, readdir, rename, rm, stat, symlink, readlink, writeFile, truncate } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMounted, makeHome, reapAll, spawnTracked } from '../helpers/sandbox.js';
import { serveCounters, serveCountersWhen, serveInNewHome, serveOverSlowFs, startServe, type ServeDaemon } from '../helpers/serve.js';
import { loadNative } from '../../src/daemon/native/binding.js';
import { runCli } from '../helpers/cli.js';
import { privateExt4 } from '../helpers/ext4.js';
import { logOf, setupWorkspace } from '../helpers/daemons.js';
import { waitFor } from '../helpers/sandbox.js';
import { runFile } from '../../src/sys/run.js';

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

// Set, never deleted: runCli lays its env over the suite's own, which may carry either (a run of
// the whole suite with MOUNTIE_SESSION=libfuse). undefined is libfuse's session; kernel passthrough
// off (MOUNTIE_PASSTHROUGH=0) unless extra says otherwise.
const withSession = (kind: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  MOUNTIE_SESSION: kind ?? 'libfuse',
  MOUNTIE_PASSTHROUGH: '0',
  ...extra,
});

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

  it('our own session by default (MOUNTIE_SESSION unset or empty); libfuse 3.14 with MOUNTIE_SESSION=libfuse', async () => {
    for (const [value, session] of [[undefined, 'own'], ['', 'own'], ['libfuse', 'libfuse']] as const) {
      const env: NodeJS.ProcessEnv = { ...process.env, MOUNTIE_PASSTHROUGH: '0' };
      if (value === undefined) delete env.MOUNTIE_SESSION;
      else env.MOUNTIE_SESSION = value;
      const { mnt, daemon } = await serveInNewHome(['--native'], env);
      await writeFile(join(mnt, 'f'), 'x');
      expect(await readFile(join(mnt, 'f'), 'utf8')).toBe('x');
      expect((await counters(daemon)).session, String(value)).toBe(session);
      expect(await daemon.stop()).toBe(0);
    }
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
    const c = await serveCountersWhen<Counters>(outer, (x) => (x.ops.read ?? 0) > 0 && (x.ops.write ?? 0) > 0);
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

  it('a passthrough file\'s I/O has the caller\'s credentials, not the daemon\'s: a user\'s writes stop where ext4 keeps its blocks for root, as when written directly', async () => {
    // The kernel does a backing file's I/O with the credentials of whoever registered it. Registered
    // as the root daemon, a user's writes through the mount used the blocks ext4 reserves for root
    // (14.0 MB on this 16 MiB image, against 5.6 MB written directly); quota limits alike.
    const home = await makeHome();
    await chmod(home, 0o755); // mkdtemp made it 0700: the other user must reach the mountpoint
    const fs = await privateExt4(home, { reservedPercent: 50 });
    if (!fs) return;
    const source = join(fs, 'src');
    await mkdir(source);
    await chmod(source, 0o777);
    const mnt = join(home, 'mnt');
    await mkdir(mnt);
    const daemon = await startServe(home, source, mnt, ['--native', '--allow-other'], [], withSession('own', { MOUNTIE_PASSTHROUGH: '1' }));
    const fill = async (file: string): Promise<number> => {
      const r = await runFile('setpriv', ['--reuid', '1234', '--regid', '1234', '--clear-groups', 'sh', '-c', 'cat /dev/zero > "$1"', 'sh', file], 30_000);
      expect(r.stderr).toMatch(/No space left on device/);
      return (await stat(file)).size;
    };
    const direct = await fill(join(source, 'direct'));
    await rm(join(source, 'direct'));
    const through = await fill(join(mnt, 'through'));
    const c = await counters(daemon);
    expect(c.passthroughOpens).toBeGreaterThanOrEqual(1); // the kernel wrote it, not the daemon:
    expect(c.bytesWritten).toBe(0);
    expect(direct).toBeGreaterThan(1024 * 1024);
    // The same limit, give or take ext4's block rounding; root's half of the image stays free.
    expect(Math.abs(through - direct), `direct ${direct}, through the mount ${through}`).toBeLessThanOrEqual(256 * 1024);
    await rm(join(mnt, 'through'));
    expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
  });

  it('another caller\'s open of a file passed through for one caller is served by the daemon (direct I/O, its own credentials), both seeing the same bytes', async () => {
    const { home, source, mnt, daemon } = await serveInNewHome(['--native', '--allow-other'], withSession('own', { MOUNTIE_PASSTHROUGH: '1' }));
    await chmod(home, 0o755);
    const file = join(mnt, 'shared');
    await writeFile(join(source, 'shared'), '');
    await chmod(join(source, 'shared'), 0o666);
    await chmod(source, 0o777);
    // uid 1234 opens it (passed through with its credentials) and keeps it open.
    const script = 'import sys\nf = open(sys.argv[1], "r+b", buffering=0)\nf.write(b"abc")\nprint("ready", flush=True)\nsys.stdin.read()\nf.write(b"def")\nf.close()\n';
    const user = spawnTracked('setpriv', ['--reuid', '1234', '--regid', '1234', '--clear-groups', '/usr/bin/python3', '-c', script, file], { stdio: ['pipe', 'pipe', 'inherit'] });
    const ended = new Promise<number | null>((res) => user.on('exit', res));
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('uid 1234 did not open the file within 10 s')), 10_000);
      user.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && (clearTimeout(t), res()));
      user.once('exit', (code) => (clearTimeout(t), rej(new Error(`uid 1234's writer exited ${code} before it was ready`))));
    });
    // Root, another caller, opens it meanwhile: not with uid 1234's backing file.
    const fh = await openFile(file, 'r+');
    await fh.write('root', 10);
    const seen = Buffer.alloc(14);
    await fh.read(seen, 0, 14, 0);
    await fh.close();
    expect(seen.toString('latin1')).toBe('abc\0\0\0\0\0\0\0root');
    user.stdin?.end();
    expect(await ended).toBe(0);
    expect(await readFile(join(source, 'shared'), 'latin1')).toBe('abcdef\0\0\0\0root');
    const c = await serveCountersWhen<Counters>(daemon, (x) => (x.ops.write ?? 0) >= 1);
    expect(c.passthroughOpens).toBeGreaterThanOrEqual(1);
    expect(c.passthroughFallbacks).toBeGreaterThanOrEqual(1);
    expect(c.ops.write ?? 0).toBeGreaterThanOrEqual(1); // root's write reached the daemon
    expect(c.bytesWritten).toBe(4);
    expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
  });

  it('a file on a FUSE source is served by the daemon, not passed through: a read the source never answers still gets ETIMEDOUT', async () => {
    // A read the kernel passes through has no deadline: it would hang its caller with the source.
    const { mnt, slow, daemon } = await serveOverSlowFs(['--native', '--deadline-ms=400'], withSession('own', { MOUNTIE_PASSTHROUGH: '1' }));
    expect(await readFile(join(mnt, 'fast/a.txt'), 'utf8')).toBeTruthy();
    await expect(readFile(join(mnt, 'slow/file0'))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const c = await counters(daemon);
    expect(c.passthroughOpens).toBe(0);
    expect(c.passthroughFallbacks).toBeGreaterThanOrEqual(2);
    expect(c.ops.read ?? 0).toBeGreaterThan(0);
    await slow.send('release');
    expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
  });

  it('mountie mount says whether files are passed through: status --json and state.json (backend.passthrough), and the log once', async () => {
    const { home, src, mp } = await setupWorkspace();
    const cases = [
      // On by default (our own session, a root daemon): neither variable set.
      { env: withSession('own', { MOUNTIE_SESSION: '', MOUNTIE_PASSTHROUGH: '' }), mode: 'on', said: 'kernel passthrough: on' },
      { env: withSession('own', { MOUNTIE_PASSTHROUGH: '1' }), mode: 'on', said: 'kernel passthrough: on' },
      { env: withSession('own'), mode: 'off', said: 'kernel passthrough: off (MOUNTIE_PASSTHROUGH=0)' },
      { env: withSession(undefined, { MOUNTIE_PASSTHROUGH: '1' }), mode: 'off', said: 'kernel passthrough: off (MOUNTIE_SESSION=libfuse' },
    ] as const;
    for (const { env, mode, said } of cases) {
      const before = (await logOf(home, 'ws')).length;
      const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
      type Doc = { workspaces: Array<{ state?: { backend?: { passthrough?: { mode: string; opens: number } } } }> };
      // state.json is written on the daemon's next tick: waited for, bounded.
      const status = await waitFor('status --json with the passthrough', async () => {
        const s = await runCli(home, ['status', 'ws', '--json']);
        const pt = (JSON.parse(s.stdout) as Doc).workspaces[0]?.state?.backend?.passthrough;
        return pt && pt.mode !== 'pending' && (mode === 'off' || pt.opens > 0) ? pt : undefined;
      }, 10_000);
      expect(status.mode).toBe(mode);
      const onDisk = JSON.parse(await readFile(join(home, 'workspaces', 'ws', 'state.json'), 'utf8')) as { backend?: { passthrough?: { mode: string } } };
      expect(onDisk.backend?.passthrough?.mode).toBe(mode);
      const log = (): Promise<string> => logOf(home, 'ws').then((l) => l.slice(before));
      if (said) await waitFor(`log: ${said}`, async () => ((await log()).includes(said) ? true : undefined));
      expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
      expect((await log()).split('kernel passthrough').length - 1, 'said once').toBe(1);
    }
  });

  const sessions = [
    { name: 'FUSE_HANDLE_KILLPRIV_V2', env: withSession('own'), killpriv: true },
    { name: 'FUSE_HANDLE_KILLPRIV_V2, passthrough', env: withSession('own', { MOUNTIE_PASSTHROUGH: '1' }), killpriv: true },
    // libfuse 3.14's session: the kernel drops them itself for a write or truncate (a SETATTR),
    // not for an O_TRUNC open (atomic_o_trunc): that one is ours (ops.c, do_open).
    { name: "libfuse's session", env: withSession(undefined), killpriv: false },
  ];
  for (const { name, env, killpriv } of sessions) {
    it(`a write, truncate or O_TRUNC open drops set-id bits as on the source: by a user, by root without CAP_FSETID, not by root (${name})`, async () => {
      const { home, source, mnt, daemon } = await serveInNewHome(['--native', '--allow-other'], env);
      await chmod(home, 0o755);
      const plain = join(home, 'plain');
      await mkdir(plain);
      const as: Record<string, string[]> = {
        user: ['setpriv', '--reuid', '1234', '--regid', '1234', '--clear-groups'],
        rootNoFsetid: ['setpriv', '--bounding-set=-fsetid'],
        root: [],
      };
      const cases = [
        ['user', 'printf x >> "$1"'],
        ['rootNoFsetid', 'printf x >> "$1"'],
        ['root', 'printf x >> "$1"'],
        ['user', 'truncate -s 1 "$1"'],
        ['rootNoFsetid', 'truncate -s 1 "$1"'],
        ['rootNoFsetid', ': > "$1"'],
        ['root', ': > "$1"'],
      ] as const;
      const modes = async (root: string, files: string): Promise<string[]> => {
        const out: string[] = [];
        for (const [i, [who, script]] of cases.entries()) {
          const f = join(files, `f${i}`);
          await writeFile(join(root, `f${i}`), 'data');
          await runFile('chown', ['0:1234', join(root, `f${i}`)], 5000);
          await chmod(join(root, `f${i}`), 0o6775);
          const [cmd, ...args] = [...(as[who] ?? []), 'sh', '-c', script, 'sh', f];
          const r = await runFile(cmd as string, args, 10_000);
          expect(r.exitCode, `${who}: ${script}: ${r.stderr}`).toBe(0);
          out.push(`${who} ${script}: ${((await stat(join(root, `f${i}`))).mode & 0o7777).toString(8)}`);
        }
        return out;
      };
      const expected = await modes(plain, plain);
      expect(expected[0]).toMatch(/: 775$/); // the source's own answer: the bits go, for a user
      expect(expected[2]).toMatch(/: 6775$/); // and stay for root
      expect(expected[6]).toMatch(/: 6775$/); // also through an O_TRUNC open
      expect(await modes(source, mnt)).toEqual(expected);
      if (!killpriv) return void expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
      // And the kernel no longer asks for security.capability before every write (SB_NOSEC).
      const before = (await counters(daemon)).ops.getxattr ?? 0;
      await writeFile(join(source, 'w'), '');
      const fh = await openFile(join(mnt, 'w'), 'r+');
      for (let i = 0; i < 200; i++) await fh.write('x', i);
      await fh.close();
      expect((await readFile(join(source, 'w'))).length).toBe(200);
      expect((await counters(daemon)).ops.getxattr ?? 0, 'GETXATTR for 200 appends').toBeLessThan(before + 20);
      expect(await daemon.stop(), daemon.output().slice(-1000)).toBe(0);
    });
  }
});
