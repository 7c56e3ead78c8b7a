/**
 * The bad-input catalogue (docs/BAD-INPUT.md), run: every class of bad input or environment gets
 * its documented exit code and error code (read from the mountie.error/v1 document of --json),
 * and, unless the catalogue says what may change, the home and the outside tree are byte-for-byte
 * as before (paths, types, modes, sizes, mtimes, symlink targets). No process or mount is left.
 * The catalogue and this table must list the same cases with the same outcomes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmod, chown, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CLI, REPO, makeHome, pidsLabelled, reapAll, waitFor } from '../helpers/sandbox.js';
import { readProcStat, scanProcStats } from '../../src/sys/proc-stat-scan.js';
import { startSlowFs } from '../helpers/slow-fs.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';
import { allowsUserAllowOther } from '../../src/sys/fuse-conf.js';

interface Ctx {
  /** MOUNTIE_HOME of the case (created empty unless the case says otherwise). */
  home: string;
  /** A directory outside the home: source, mountpoints, symlink targets. */
  out: string;
  /** out/src, a directory holding a.txt. */
  src: string;
  env: NodeJS.ProcessEnv;
  /** Teardown of what the case mounted itself (tmpfs), run before the reaper. */
  cleanup: (() => Promise<unknown>)[];
}

interface Case {
  readonly id: string;
  readonly exit: number;
  /** error.code of the mountie.error/v1 document; '-' when the command does not fail. */
  readonly code: string;
  readonly args: (c: Ctx) => string[];
  readonly setup?: (c: Ctx) => Promise<unknown>;
  /** Run the CLI as nobody (uid 65534) through setpriv. */
  readonly asNobody?: boolean;
  /** Paths (absolute) that may differ after the command; everything else must not. */
  readonly mayChange?: (c: Ctx) => string[];
  /** A probe child (realpath) killed while the hung source holds its request may remain until teardown aborts the source. */
  readonly probeMayRemain?: boolean;
}

const NOBODY = 65534;
const LONG = 'x'.repeat(300);

function config(c: Ctx, over: Record<string, unknown> = {}): string {
  return JSON.stringify({ schema: 'mountie.workspace/v1', name: 'ws', source: c.src, mountpoint: join(c.home, 'mnt', 'ws'), readOnly: false, createdAt: '2026-01-01T00:00:00.000Z', ...over });
}

async function wsFile(c: Ctx, name: string, text: string): Promise<void> {
  await mkdir(join(c.home, 'workspaces', 'ws'), { recursive: true, mode: 0o700 });
  await writeFile(join(c.home, 'workspaces', 'ws', name), text, { mode: 0o600 });
}

async function withConfig(c: Ctx): Promise<void> {
  await wsFile(c, 'workspace.json', config(c));
}

async function pidfile(c: Ctx, pid: string): Promise<void> {
  await withConfig(c);
  await wsFile(c, 'daemon.pid', `{"schema":"mountie.pid/v1","pid":${pid},"startTime":1,"bootId":"b","instanceId":"i","epoch":1,"workspace":"ws"}\n`);
}

async function tmpfs(c: Ctx, dir: string, opts: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  c.cleanup.push(() => execa('umount', ['-l', dir], { reject: false }));
}

/** A home that nobody owns and may write, inside an outside dir nobody may traverse. */
async function nobodyHome(c: Ctx): Promise<void> {
  await chmod(c.out, 0o755);
  c.home = join(c.out, 'nobody-home');
  await mkdir(c.home);
  await chown(c.home, NOBODY, NOBODY);
}

const mount = (c: Ctx, ...rest: string[]): string[] => ['mount', 'ws', '--source', c.src, ...rest];
/** What a stop that cleans a stale pidfile may touch: the pidfile, and the workspace lock it takes to do so. */
const pidfileOf = (c: Ctx): string[] => [join(c.home, 'workspaces', 'ws', 'daemon.pid'), join(c.home, 'workspaces', 'ws', 'lock')];

export const CASES: readonly Case[] = [
  // Workspace names.
  ...(
    [
      ['name-dotdot', '../x'],
      ['name-space', 'a b'],
      ['name-semicolon', 'a;b'],
      ['name-too-long', 'x'.repeat(64)],
      ['name-empty', ''],
      ['name-upper', 'Upper'],
      ['name-leading-dash', '-dash'],
      ['name-slash', 'a/b'],
      ['name-dot', '.'],
      ['name-non-ascii', 'wö'],
      ['name-newline', 'a\nb'],
    ] as const
  ).map(([id, name]): Case => ({ id, exit: 2, code: 'ERR_INVALID_NAME', args: (c) => ['mount', '--source', c.src, '--json', '--', name] })),
  { id: 'status-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['status', '../x'] },
  { id: 'stop-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['stop', 'a b'] },
  // Options.
  { id: 'option-unknown', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--frobnicate') },
  { id: 'option-json-first', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['--json', 'mount', 'ws', '--frobnicate'] },
  { id: 'command-unknown', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['frob'] },
  { id: 'mount-no-name', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['mount'] },
  { id: 'status-extra-argument', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['status', 'a', 'b'] },
  // --json first: after --source it would be taken as the source.
  { id: 'option-missing-value', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['--json', 'mount', 'ws', '--source'] },
  { id: 'option-duplicate-source', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--source', c.out) },
  { id: 'option-duplicate-at', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--at', join(c.out, 'a'), `--at=${join(c.out, 'b')}`) },
  { id: 'stop-no-name', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop'] },
  { id: 'stop-name-and-all', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop', 'ws', '--all'] },
  { id: 'grace-word', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop', 'ws', '--grace', 'soon'] },
  { id: 'grace-negative', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop', 'ws', '--grace=-1'] },
  { id: 'grace-exponent', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop', 'ws', '--grace', '1e3'] },
  { id: 'grace-too-large', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['stop', 'ws', '--grace', '3600001'] },
  { id: 'ready-timeout-word', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--background', '--ready-timeout', 'abc') },
  { id: 'ready-timeout-empty', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--background', '--ready-timeout', '') },
  { id: 'ready-timeout-fraction', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--background', '--ready-timeout', '1.5') },
  { id: 'doctor-extra-argument', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['doctor', 'ws'] },
  { id: 'unit-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['unit', '../x'] },
  { id: 'unit-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['unit', 'nope'] },
  { id: 'unit-user-and-system', exit: 2, code: 'ERR_INVALID_OPTION', setup: withConfig, args: () => ['unit', 'ws', '--user', '--system'] },
  ...(
    [
      ['unit-install-symlink', 'ERR_SYMLINK_REFUSED', (c: Ctx, file: string) => symlink(join(c.out, 'victim'), file)],
      ['unit-install-foreign', 'ERR_CONFIG_CONFLICT', (_c: Ctx, file: string) => writeFile(file, '[Service]\nExecStart=/bin/true\n')],
    ] as const
  ).map(
    ([id, code, plant]): Case => ({
      id,
      exit: 2,
      code,
      setup: async (c) => {
        await withConfig(c);
        await writeFile(join(c.out, 'victim'), 'keep\n');
        const dir = join(c.out, 'config', 'systemd', 'user');
        await mkdir(dir, { recursive: true });
        await plant(c, join(dir, 'mountie-ws.service'));
        c.env.XDG_CONFIG_HOME = join(c.out, 'config');
      },
      args: () => ['unit', 'ws', '--user', '--install'],
    }),
  ),
  { id: 'completion-unknown-shell', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['completion', 'fish'] },
  { id: 'completion-no-shell', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['completion'] },
  { id: 'doctor-home-a-file', exit: 1, code: '-', setup: async (c) => (await writeFile(join(c.out, 'home-file'), 'x'), (c.home = join(c.out, 'home-file'))), args: () => ['doctor'] },
  // Source.
  { id: 'source-required', exit: 2, code: 'ERR_SOURCE_REQUIRED', args: () => ['mount', 'ws'] },
  { id: 'source-empty-string', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['mount', 'ws', '--source', ''] },
  { id: 'source-missing', exit: 2, code: 'ERR_SOURCE_MISSING', args: (c) => ['mount', 'ws', '--source', join(c.out, 'nope')] },
  { id: 'source-a-file', exit: 2, code: 'ERR_SOURCE_NOT_DIR', args: (c) => ['mount', 'ws', '--source', join(c.src, 'a.txt')] },
  { id: 'source-below-a-file', exit: 2, code: 'ERR_SOURCE_MISSING', args: (c) => ['mount', 'ws', '--source', join(c.src, 'a.txt', 'x')] },
  {
    id: 'source-symlink-loop',
    exit: 2,
    code: 'ERR_SOURCE_NOT_DIR',
    setup: async (c) => (await symlink(join(c.out, 'l2'), join(c.out, 'l1')), await symlink(join(c.out, 'l1'), join(c.out, 'l2'))),
    args: (c) => ['mount', 'ws', '--source', join(c.out, 'l1')],
  },
  { id: 'source-dangling-symlink', exit: 2, code: 'ERR_SOURCE_MISSING', setup: (c) => symlink(join(c.out, 'gone'), join(c.out, 'dl')), args: (c) => ['mount', 'ws', '--source', join(c.out, 'dl')] },
  { id: 'source-fifo', exit: 2, code: 'ERR_SOURCE_NOT_DIR', setup: async (c) => void (await execa('mkfifo', [join(c.out, 'fifo')])), args: (c) => ['mount', 'ws', '--source', join(c.out, 'fifo')] },
  {
    id: 'source-socket',
    exit: 2,
    code: 'ERR_SOURCE_NOT_DIR',
    setup: async (c) => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(join(c.out, 'sock'), r));
      // Closing unlinks the socket file: keep it listening until teardown.
      c.cleanup.push(() => new Promise((r) => server.close(r)));
    },
    args: (c) => ['mount', 'ws', '--source', join(c.out, 'sock')],
  },
  { id: 'source-device', exit: 2, code: 'ERR_SOURCE_NOT_DIR', args: () => ['mount', 'ws', '--source', '/dev/null'] },
  { id: 'source-name-too-long', exit: 2, code: 'ERR_NAME_TOO_LONG', args: (c) => ['mount', 'ws', '--source', join(c.out, LONG)] },
  {
    id: 'source-permission-denied',
    exit: 2,
    code: 'ERR_PERMISSION_DENIED',
    asNobody: true,
    setup: async (c) => {
      await nobodyHome(c);
      await chmod(c.src, 0o700);
      await mkdir(join(c.out, 'open'), { mode: 0o755 });
      await chmod(join(c.out, 'open'), 0o755);
      await mkdir(join(c.out, 'open', 'closed'), { mode: 0o700 });
      await chmod(join(c.out, 'open', 'closed'), 0o700);
      await mkdir(join(c.out, 'open', 'closed', 'src'));
    },
    args: (c) => ['mount', 'ws', '--source', join(c.out, 'open', 'closed', 'src')],
  },
  {
    id: 'source-hung',
    exit: 2,
    code: 'ERR_SOURCE_UNRESPONSIVE',
    setup: async (c) => {
      const fs = await startSlowFs(c.home, join(c.home, 'ext', 'slow'));
      await fs.send('hang-all');
    },
    args: (c) => ['mount', 'ws', '--source', join(c.home, 'ext', 'slow', 'fast')],
    probeMayRemain: true,
  },
  // Mountpoint.
  { id: 'at-empty-string', exit: 2, code: 'ERR_INVALID_OPTION', args: (c) => mount(c, '--at', '') },
  { id: 'at-inside-source', exit: 2, code: 'ERR_MOUNTPOINT_OVERLAP', args: (c) => mount(c, '--at', join(c.src, 'mnt')) },
  { id: 'at-contains-source', exit: 2, code: 'ERR_MOUNTPOINT_OVERLAP', args: (c) => mount(c, '--at', c.out) },
  { id: 'at-is-source', exit: 2, code: 'ERR_MOUNTPOINT_OVERLAP', args: (c) => mount(c, '--at', c.src) },
  {
    id: 'at-not-empty',
    exit: 2,
    code: 'ERR_MOUNTPOINT_NOT_EMPTY',
    setup: async (c) => (await mkdir(join(c.out, 'full')), await writeFile(join(c.out, 'full', 'keep'), 'x')),
    args: (c) => mount(c, '--at', join(c.out, 'full')),
  },
  { id: 'at-a-file', exit: 2, code: 'ERR_MOUNTPOINT_NOT_DIR', setup: (c) => writeFile(join(c.out, 'file'), 'x'), args: (c) => mount(c, '--at', join(c.out, 'file')) },
  { id: 'at-below-a-file', exit: 2, code: 'ERR_MOUNTPOINT_NOT_DIR', setup: (c) => writeFile(join(c.out, 'file'), 'x'), args: (c) => mount(c, '--at', join(c.out, 'file', 'below')) },
  { id: 'at-symlink-to-file', exit: 2, code: 'ERR_MOUNTPOINT_NOT_DIR', setup: async (c) => (await writeFile(join(c.out, 'file'), 'x'), await symlink(join(c.out, 'file'), join(c.out, 'lf'))), args: (c) => mount(c, '--at', join(c.out, 'lf')) },
  { id: 'at-dangling-symlink', exit: 2, code: 'ERR_SYMLINK_REFUSED', setup: (c) => symlink(join(c.out, 'gone'), join(c.out, 'dl')), args: (c) => mount(c, '--at', join(c.out, 'dl')) },
  {
    id: 'at-symlink-loop',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => (await symlink(join(c.out, 'l2'), join(c.out, 'l1')), await symlink(join(c.out, 'l1'), join(c.out, 'l2'))),
    args: (c) => mount(c, '--at', join(c.out, 'l1')),
  },
  { id: 'at-on-proc', exit: 2, code: 'ERR_MOUNTPOINT_UNSUITABLE', args: (c) => mount(c, '--at', '/proc/mountie-nope') },
  { id: 'at-on-sys', exit: 2, code: 'ERR_MOUNTPOINT_UNSUITABLE', args: (c) => mount(c, '--at', '/sys/mountie-nope') },
  { id: 'at-is-proc', exit: 2, code: 'ERR_MOUNTPOINT_BUSY', args: (c) => mount(c, '--at', '/proc') },
  { id: 'at-name-too-long', exit: 2, code: 'ERR_NAME_TOO_LONG', args: (c) => mount(c, '--at', join(c.out, LONG)) },
  { id: 'at-read-only-fs', exit: 2, code: 'ERR_READ_ONLY_FS', setup: (c) => tmpfs(c, join(c.out, 'ro'), 'size=64k,ro'), args: (c) => mount(c, '--at', join(c.out, 'ro', 'mp')) },
  { id: 'at-foreign-mount', exit: 2, code: 'ERR_MOUNTPOINT_BUSY', setup: (c) => tmpfs(c, join(c.out, 'other'), 'size=64k'), args: (c) => mount(c, '--at', join(c.out, 'other')) },
  // Stored config.
  { id: 'config-conflict-source', exit: 2, code: 'ERR_CONFIG_CONFLICT', setup: withConfig, args: (c) => ['mount', 'ws', '--source', c.out] },
  { id: 'config-conflict-at', exit: 2, code: 'ERR_CONFIG_CONFLICT', setup: withConfig, args: (c) => ['mount', 'ws', '--at', join(c.out, 'mp2')] },
  { id: 'config-conflict-read-only', exit: 2, code: 'ERR_CONFIG_CONFLICT', setup: withConfig, args: () => ['mount', 'ws', '--read-only'] },
  { id: 'config-conflict-allow-other', exit: 2, code: 'ERR_CONFIG_CONFLICT', setup: withConfig, args: () => ['mount', 'ws', '--allow-other'] },
  {
    id: 'allow-other-not-permitted',
    exit: 2,
    code: 'ERR_ALLOW_OTHER_DENIED',
    asNobody: true,
    setup: async (c) => {
      // Debian's default fuse.conf: user_allow_other commented out. Never changed here (machine-wide state).
      if (allowsUserAllowOther(await readFile('/etc/fuse.conf', 'utf8').catch(() => ''))) throw new Error('this row needs an /etc/fuse.conf without user_allow_other');
      await nobodyHome(c);
      await chmod(c.src, 0o755);
    },
    args: (c) => mount(c, '--allow-other'),
  },
  {
    // The native core cannot load (here: its addon is not where MOUNTIE_NATIVE_ADDON points): no mount at all.
    id: 'native-core-missing',
    exit: 2,
    code: 'ERR_NATIVE_UNAVAILABLE',
    setup: async (c) => {
      c.env.MOUNTIE_NATIVE_ADDON = join(c.out, 'no-such-addon.node');
    },
    args: (c) => mount(c),
  },
  { id: 'config-garbage', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', '{not json'), args: () => ['mount', 'ws'] },
  { id: 'config-wrong-schema', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', config(c, { schema: 'other/v9' })), args: () => ['mount', 'ws'] },
  { id: 'config-not-object', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', '[1,2]'), args: () => ['mount', 'ws'] },
  { id: 'config-null', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', 'null'), args: () => ['mount', 'ws'] },
  { id: 'config-empty', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', ''), args: () => ['mount', 'ws'] },
  { id: 'config-a-directory', exit: 2, code: 'ERR_IS_DIRECTORY', setup: (c) => mkdir(join(c.home, 'workspaces', 'ws', 'workspace.json'), { recursive: true }), args: () => ['mount', 'ws'] },
  // Files and directories of the workspace.
  {
    id: 'log-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => {
      await writeFile(join(c.out, 'passwd-copy'), await readFile('/etc/passwd'));
      await mkdir(join(c.home, 'workspaces', 'ws'), { recursive: true, mode: 0o700 });
      await symlink(join(c.out, 'passwd-copy'), join(c.home, 'workspaces', 'ws', 'daemon.log'));
    },
    args: (c) => mount(c, '--background'),
    mayChange: (c) => [join(c.home, 'mnt'), join(c.home, 'mnt', 'ws'), join(c.home)],
  },
  {
    id: 'workspace-dir-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => {
      await mkdir(join(c.out, 'elsewhere'), { mode: 0o755 });
      await chmod(join(c.out, 'elsewhere'), 0o755);
      await mkdir(join(c.home, 'workspaces'), { mode: 0o700 });
      await symlink(join(c.out, 'elsewhere'), join(c.home, 'workspaces', 'ws'));
    },
    args: (c) => mount(c, '--background'),
    mayChange: (c) => [join(c.home, 'mnt'), join(c.home, 'mnt', 'ws'), join(c.home)],
  },
  {
    id: 'workspaces-dir-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => (await mkdir(join(c.out, 'elsewhere')), await symlink(join(c.out, 'elsewhere'), join(c.home, 'workspaces'))),
    args: (c) => mount(c, '--background'),
    mayChange: (c) => [join(c.home, 'mnt'), join(c.home, 'mnt', 'ws'), join(c.home)],
  },
  {
    id: 'pidfile-a-directory-mount',
    exit: 4,
    code: 'ERR_MOUNT_FAILED',
    setup: async (c) => (await withConfig(c), await mkdir(join(c.home, 'workspaces', 'ws', 'daemon.pid'))),
    args: () => ['mount', 'ws', '--background'],
    // The daemon got as far as its log, epoch and state before the pidfile refused it.
    mayChange: (c) => ['', 'mnt', 'mnt/ws', 'workspaces/ws', 'workspaces/ws/daemon.log', 'workspaces/ws/lock', 'workspaces/ws/epoch', 'workspaces/ws/state.json'].map((p) => join(c.home, p)),
  },
  { id: 'pidfile-a-directory-status', exit: 1, code: '-', setup: async (c) => (await withConfig(c), await mkdir(join(c.home, 'workspaces', 'ws', 'daemon.pid'))), args: () => ['status', 'ws'] },
  { id: 'pidfile-garbage-status', exit: 1, code: '-', setup: async (c) => (await withConfig(c), await wsFile(c, 'daemon.pid', 'garbage')), args: () => ['status', 'ws'] },
  { id: 'pidfile-garbage-stop', exit: 0, code: '-', setup: async (c) => (await withConfig(c), await wsFile(c, 'daemon.pid', 'garbage')), args: () => ['stop', 'ws'], mayChange: (c) => [...pidfileOf(c), join(c.home, 'workspaces', 'ws')] },
  ...(['-1', '0', '1e300', '1'] as const).flatMap((pid): Case[] => [
    { id: `pidfile-pid-${pid}-status`, exit: 1, code: '-', setup: (c) => pidfile(c, pid), args: () => ['status', 'ws'] },
    { id: `pidfile-pid-${pid}-status-all`, exit: 1, code: '-', setup: (c) => pidfile(c, pid), args: () => ['status'] },
    { id: `pidfile-pid-${pid}-stop`, exit: 0, code: '-', setup: (c) => pidfile(c, pid), args: () => ['stop', 'ws'], mayChange: (c) => [...pidfileOf(c), join(c.home, 'workspaces', 'ws')] },
  ]),
  { id: 'state-corrupt-status', exit: 3, code: '-', setup: async (c) => (await withConfig(c), await wsFile(c, 'state.json', '{"schema":')), args: () => ['status', 'ws'] },
  { id: 'status-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['status', 'nope'] },
  // Everyday commands: logs, restart, forget, start, stop of an unknown workspace.
  { id: 'stop-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['stop', 'nope'] },
  { id: 'start-no-name', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['start'] },
  { id: 'logs-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['logs', '../x'] },
  { id: 'logs-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['logs', 'nope'] },
  { id: 'logs-lines-word', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['logs', 'ws', '-n', 'many'] },
  { id: 'logs-lines-negative', exit: 2, code: 'ERR_INVALID_OPTION', args: () => ['logs', 'ws', '--lines=-1'] },
  {
    id: 'logs-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => (await withConfig(c), await writeFile(join(c.out, 'secret'), 'secret\n'), await symlink(join(c.out, 'secret'), join(c.home, 'workspaces', 'ws', 'daemon.log'))),
    args: () => ['logs', 'ws'],
  },
  { id: 'logs-a-fifo', exit: 2, code: 'ERR_ENVIRONMENT', setup: async (c) => (await withConfig(c), void (await execa('mkfifo', [join(c.home, 'workspaces', 'ws', 'daemon.log')]))), args: () => ['logs', 'ws', '-f'] },
  { id: 'restart-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['restart', 'a;b'] },
  { id: 'restart-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['restart', 'nope'] },
  { id: 'restart-config-corrupt', exit: 2, code: 'ERR_CONFIG_CORRUPT', setup: (c) => wsFile(c, 'workspace.json', '{not json'), args: () => ['restart', 'ws'] },
  { id: 'forget-bad-name', exit: 2, code: 'ERR_INVALID_NAME', args: () => ['forget', '../x'] },
  { id: 'forget-unknown-workspace', exit: 4, code: 'ERR_UNKNOWN_WORKSPACE', args: () => ['forget', 'nope'] },
  {
    id: 'forget-workspace-dir-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => {
      await mkdir(join(c.out, 'elsewhere'));
      await writeFile(join(c.out, 'elsewhere', 'workspace.json'), config(c));
      await mkdir(join(c.home, 'workspaces'), { mode: 0o700 });
      await symlink(join(c.out, 'elsewhere'), join(c.home, 'workspaces', 'ws'));
    },
    args: () => ['forget', 'ws'],
  },
  {
    id: 'forget-workspaces-dir-a-symlink',
    exit: 2,
    code: 'ERR_SYMLINK_REFUSED',
    setup: async (c) => (await mkdir(join(c.out, 'elsewhere', 'ws'), { recursive: true }), await symlink(join(c.out, 'elsewhere'), join(c.home, 'workspaces'))),
    args: () => ['forget', 'ws'],
  },
  { id: 'config-conflict-no-read-only', exit: 2, code: 'ERR_CONFIG_CONFLICT', setup: (c) => wsFile(c, 'workspace.json', config(c, { readOnly: true })), args: () => ['mount', 'ws', '--no-read-only'] },
  { id: 'read-only-and-no-read-only', exit: 2, code: 'ERR_INVALID_OPTION', setup: withConfig, args: () => ['mount', 'ws', '--reconfigure', '--read-only', '--no-read-only'] },
  { id: 'reconfigure-source-missing', exit: 2, code: 'ERR_SOURCE_MISSING', setup: withConfig, args: (c) => ['mount', 'ws', '--reconfigure', '--source', join(c.out, 'nope')] },
  // The home.
  { id: 'home-a-file', exit: 2, code: 'ERR_NOT_DIRECTORY', setup: async (c) => (await writeFile(join(c.out, 'home-file'), 'x'), void (c.home = join(c.out, 'home-file'))), args: (c) => mount(c) },
  { id: 'home-a-file-status', exit: 2, code: 'ERR_NOT_DIRECTORY', setup: async (c) => (await writeFile(join(c.out, 'home-file'), 'x'), void (c.home = join(c.out, 'home-file'))), args: () => ['status'] },
  { id: 'home-name-too-long', exit: 2, code: 'ERR_NAME_TOO_LONG', setup: async (c) => void (c.home = join(c.out, LONG)), args: (c) => mount(c) },
  { id: 'home-read-only', exit: 2, code: 'ERR_READ_ONLY_FS', setup: async (c) => (await tmpfs(c, join(c.out, 'rohome'), 'size=64k,ro'), void (c.home = join(c.out, 'rohome'))), args: (c) => mount(c) },
  {
    id: 'home-full',
    exit: 2,
    code: 'ERR_NO_SPACE',
    setup: async (c) => {
      c.home = join(c.out, 'fullhome');
      await tmpfs(c, c.home, 'size=64k,nr_inodes=4');
      for (let i = 0; ; i++) {
        try {
          await writeFile(join(c.home, `fill${i}`), '');
        } catch {
          break; // ENOSPC: no inode left.
        }
      }
    },
    args: (c) => mount(c),
  },
  {
    id: 'home-unwritable',
    exit: 2,
    code: 'ERR_PERMISSION_DENIED',
    asNobody: true,
    setup: async (c) => {
      await chmod(c.out, 0o755);
      await chmod(c.src, 0o755);
      c.home = join(c.out, 'root-home-0755');
      await mkdir(c.home, { mode: 0o755 });
      await chmod(c.home, 0o755);
    },
    args: (c) => mount(c),
  },
  { id: 'home-of-root-status', exit: 2, code: 'ERR_PERMISSION_DENIED', asNobody: true, setup: withConfig, args: () => ['status'] },
  {
    id: 'home-of-root-mount',
    exit: 2,
    code: 'ERR_PERMISSION_DENIED',
    asNobody: true,
    setup: async (c) => (await chmod(c.out, 0o755), await chmod(c.src, 0o755), await withConfig(c)),
    args: () => ['mount', 'ws'],
  },
];

// ---------------------------------------------------------------------------------------------

interface Node {
  readonly type: string;
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly target?: string;
}

/** Every path below `root` (root included) with its type, mode, size, mtime and link target; never enters a mount. */
async function snapshot(root: string, mounts: ReadonlySet<string>, into = new Map<string, Node>()): Promise<Map<string, Node>> {
  if (mounts.has(root)) {
    into.set(root, { type: 'mount', mode: 0, size: 0, mtimeMs: 0 });
    return into;
  }
  let st;
  try {
    st = await lstat(root);
  } catch {
    return into; // Absent: absent after too, or the diff shows it.
  }
  const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  into.set(root, { type, mode: st.mode & 0o7777, size: type === 'dir' ? 0 : st.size, mtimeMs: st.mtimeMs, ...(type === 'symlink' ? { target: await readlink(root) } : {}) });
  if (type === 'dir') {
    let names: string[] = [];
    try {
      names = await readdir(root);
    } catch {
      // Unreadable: its listing is not ours to compare.
    }
    for (const n of names) await snapshot(join(root, n), mounts, into);
  }
  return into;
}

function diff(before: Map<string, Node>, after: Map<string, Node>, allowed: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const p of new Set([...before.keys(), ...after.keys()])) {
    if (allowed.has(p)) continue;
    const a = JSON.stringify(before.get(p));
    const b = JSON.stringify(after.get(p));
    if (a !== b) out.push(`${p}: ${a ?? 'absent'} -> ${b ?? 'absent'}`);
  }
  return out;
}

async function mountsBelow(dirs: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const e of await readMountInfo()) if (dirs.some((d) => e.mountPoint === d || e.mountPoint.startsWith(d + '/'))) out.add(e.mountPoint);
  return out;
}

async function runCase(k: Case, c: Ctx): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const args = [...k.args(c), ...(k.args(c).includes('--json') ? [] : ['--json'])];
  // '--' ends the options: --json must come before it.
  const dash = args.indexOf('--');
  if (dash >= 0 && args.lastIndexOf('--json') > dash) args.splice(args.lastIndexOf('--json'), 1);
  const cmd = k.asNobody ? 'setpriv' : process.execPath;
  const full = k.asNobody ? [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...args] : [CLI, ...args];
  const r = await execa(cmd, full, { env: { ...process.env, ...c.env, MOUNTIE_HOME: c.home }, reject: false, timeout: 30_000, stdin: 'ignore', cwd: REPO });
  if (r.timedOut) throw new Error(`case ${k.id} timed out`);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** The catalogue's rows: `| id | exit | code |` (first three columns). */
async function catalogue(): Promise<Map<string, { exit: number; code: string }>> {
  const text = await readFile(join(REPO, 'docs/BAD-INPUT.md'), 'utf8');
  const rows = new Map<string, { exit: number; code: string }>();
  for (const m of text.matchAll(/^\| `([a-z0-9.-]+)` \| (\d+) \| `?([A-Z_-]+|-)`? \|/gm)) rows.set(m[1] ?? '', { exit: Number(m[2]), code: m[3] ?? '' });
  return rows;
}

describe('bad-input catalogue (docs/BAD-INPUT.md)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
    await reapAll();
  });

  it('lists the same cases with the same outcomes as this test, and at least 60 classes', async () => {
    const rows = await catalogue();
    expect([...rows.keys()].sort()).toEqual(CASES.map((k) => k.id).sort());
    for (const k of CASES) expect(rows.get(k.id), k.id).toEqual({ exit: k.exit, code: k.code });
    expect(rows.size).toBeGreaterThanOrEqual(60);
  });

  it.each(CASES.map((k) => [k.id, k] as const))('%s', async (_id, k) => {
    const home = await makeHome('mountie-bad-');
    const out = await makeHome('mountie-bad-out-');
    const c: Ctx = { home, out, src: join(out, 'src'), env: {}, cleanup: cleanups };
    await mkdir(c.src);
    await writeFile(join(c.src, 'a.txt'), 'alpha\n');
    await k.setup?.(c);
    const roots = [home, out];
    const mountsBefore = await mountsBelow(roots);
    // Every process alive before the command (pid and start time: a number reused later is a new
    // process), from the stat files: what the setup started (source-hung's stand-in) is among them.
    // A look at every environment here cost as much as the check after, for every case (issue 18).
    const existedBefore = new Set(scanProcStats().map((p) => `${p.pid}:${p.startTime}`));
    const before = new Map([...(await snapshot(home, mountsBefore)), ...(await snapshot(out, mountsBefore))]);
    const r = await runCase(k, c);
    const why = `${k.id}: exit ${r.exitCode}\n${r.stdout}\n${r.stderr}`;
    expect(r.exitCode, why).toBe(k.exit);
    if (k.code !== '-') {
      const doc = JSON.parse(r.stdout) as { schema: string; exitCode: number; error: { code: string; hint?: string } };
      expect(doc.schema, why).toBe('mountie.error/v1');
      expect(doc.error.code, why).toBe(k.code);
      expect(doc.error.hint, why).toBeTruthy();
    } else {
      expect(r.stdout, why).toMatch(/"schema": "mountie\.(status|stop|doctor)\/v1"/);
    }
    expect(r.stderr, why).not.toMatch(/internal error|\n\s+at /);
    const after = new Map([...(await snapshot(home, mountsBefore)), ...(await snapshot(out, mountsBefore))]);
    expect(diff(before, after, new Set(k.mayChange?.(c) ?? [])), why).toEqual([]);
    // Nothing left: no process of this home, no mount the command made.
    const left = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const pid of await pidsLabelled(c.home)) {
        const st = readProcStat(pid);
        if (st !== undefined && existedBefore.has(`${pid}:${st.startTime}`)) continue;
        const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
        if (k.probeMayRemain && /(^|\/)(realpath|stat)$/.test(argv0)) continue;
        out.push(`${pid} ${argv0}`);
      }
      return out;
    };
    await waitFor('no process left', async () => ((await left()).length === 0 ? true : undefined), 5000).catch(async () => expect(await left(), why).toEqual([]));
    expect([...(await mountsBelow(roots))].filter((m) => !mountsBefore.has(m)), why).toEqual([]);
  });
});
