/**
 * mountie/testing's per-test home as a vitest fixture: the test gets its own home inside the run's
 * session, and after the test (whatever its outcome) its daemons, mounts and home are gone.
 */
import { test as base, describe, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { isMounted } from '../helpers/sandbox.js';
import { readStatNow } from '../../src/sys/proc.js';
import { mountieHome, type MountieTestHome } from '../../src/testing/home.js';
import { SESSION_ENV } from '../../src/testing/session.js';

const test = base.extend<{ mountie: MountieTestHome }>({ mountie: mountieHome });

let seen: { home: string; pid: number; mountpoint: string } | undefined;

describe.sequential('mountieHome fixture', () => {
  test('a test gets its own home inside the session, with MOUNTIE_HOME in its env', async ({ mountie }) => {
    expect(mountie.env.MOUNTIE_HOME).toBe(mountie.home);
    const session = process.env[SESSION_ENV];
    if (session) expect(mountie.home.startsWith(session + '/')).toBe(true);
    const src = join(mountie.home, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    const r = await runCli(mountie.home, ['mount', 'ws', '--source', src, '--background', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { pid: number; mountpoint: string };
    seen = { home: mountie.home, pid: doc.pid, mountpoint: doc.mountpoint };
    expect(await isMounted(doc.mountpoint)).toBe(true);
  });

  test('after that test: its daemon, its mount and its home are gone', async () => {
    expect(seen).toBeDefined();
    const { home, pid, mountpoint } = seen as NonNullable<typeof seen>;
    const st = readStatNow(pid);
    expect(st === undefined || st.state === 'Z', `daemon ${pid} state ${st?.state}`).toBe(true);
    expect(await isMounted(mountpoint)).toBe(false);
    expect(existsSync(home)).toBe(false);
  });
});
