/**
 * The JS-ops mode (a kind's own operations, native/src/jsfs.c) on our own FUSE session
 * (native/src/own.c: our /dev/fuse fd, mount, INIT and request decoder), the default since
 * 2026-12-08 as for the passthrough; libfuse 3.14's with MOUNTIE_SESSION=libfuse. The daemon's log
 * names the session from the core's counters (`FUSE session: …`), as the passthrough's does.
 * Before the JS-ops mode ran on our session its log said nothing of the session: the first test
 * fails there. A read answered in many pieces (more than our session's writev took on the stack
 * at first) comes back whole on both sessions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, readdir, stat } from 'node:fs/promises';
import { openSync, readSync, closeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { REPO, makeHome, reapAll } from '../helpers/sandbox.js';
import { logOf } from '../helpers/daemons.js';
import { readMountInfo } from '../../src/sys/mountinfo.js';

type Api = typeof import('../../src/index.js');
const api = (await import(join(REPO, 'dist/index.js'))) as Api;
const FIXTURE = join(REPO, 'test/fixtures/kinds/testfs.mjs');
const { testfs, TESTFS } = (await import(FIXTURE)) as { testfs: import('../../src/index.js').MountieDaemon; TESTFS: import('../../src/index.js').Kind };
const options = { greeting: 'hello from testfs' };
const { callerfs, CALLERFS } = (await import(join(REPO, 'test/fixtures/kinds/callerfs.mjs'))) as { callerfs: import('../../src/index.js').MountieDaemon; CALLERFS: import('../../src/index.js').Kind };

/** The suite's environment with MOUNTIE_SESSION set as given, or removed (the default). */
function envWith(session: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MOUNTIE_SESSION;
  if (session !== undefined) env.MOUNTIE_SESSION = session;
  return env;
}

async function serveAndRead(session: string | undefined): Promise<string> {
  const home = await makeHome();
  const started = await api.launch('ws', { daemon: testfs, home, env: envWith(session), options });
  expect(await readFile(join(started.mountpoint, 'hello.txt'), 'utf8')).toBe('hello from testfs\n');
  expect(await readdir(started.mountpoint)).toEqual(['hello.txt']);
  expect((await stat(join(started.mountpoint, 'hello.txt'))).size).toBe(18);
  const entry = (await readMountInfo()).find((e) => e.mountPoint === started.mountpoint);
  expect(entry?.fstype).toBe('fuse.testfs');
  // The kind's mount options as libfuse gave them: nosuid,nodev; no default_permissions without allow_other.
  expect(entry?.mountOptions ?? '').toMatch(/nosuid,nodev/);
  expect(entry?.superOptions ?? '').not.toContain('default_permissions');
  const log = await logOf(home, 'ws');
  expect((await api.stop('ws', { home, kind: TESTFS })).ok).toBe(true);
  expect((await readMountInfo()).some((e) => e.mountPoint === started.mountpoint)).toBe(false);
  return log;
}

describe("a kind's own operations: which FUSE session serves them", () => {
  afterEach(reapAll);

  it('our own session by default: the daemon log names it', async () => {
    const log = await serveAndRead(undefined);
    expect(log).toContain('FUSE session: our own');
  }, 30_000);

  it("MOUNTIE_SESSION=libfuse: libfuse 3.14's session, named so", async () => {
    const log = await serveAndRead('libfuse');
    expect(log).toContain("FUSE session: libfuse 3.14's (MOUNTIE_SESSION=libfuse)");
  }, 30_000);

  for (const session of [undefined, 'libfuse']) {
    it(`a read answered in up to 256 pieces comes back whole (${session ?? 'our own'} session)`, async () => {
      const home = await makeHome();
      const started = await api.launch('ws', { daemon: callerfs, home, env: envWith(session) });
      const want = Uint8Array.from({ length: 1 << 20 }, (_, i) => i % 251);
      // Through the page cache (readahead: up to 32 pieces a read), and O_DIRECT 1 MiB at once (256 pieces).
      expect(Buffer.compare(await readFile(join(started.mountpoint, 'pieces')), Buffer.from(want))).toBe(0);
      const fd = openSync(join(started.mountpoint, 'pieces'), constants.O_RDONLY | constants.O_DIRECT);
      try {
        const buf = Buffer.alloc(1 << 20);
        expect(readSync(fd, buf, 0, buf.length, 0)).toBe(buf.length);
        expect(Buffer.compare(buf, Buffer.from(want))).toBe(0);
      } finally {
        closeSync(fd);
      }
      expect(await logOf(home, 'ws')).toContain(session === undefined ? 'FUSE session: our own' : 'FUSE session: libfuse');
      expect((await api.stop('ws', { home, kind: CALLERFS })).ok).toBe(true);
    }, 30_000);
  }
});
