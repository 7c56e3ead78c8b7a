/**
 * A source call that outlives the per-op deadline and then returns must not take the native
 * daemon down. The watchdog answers such a request ETIMEDOUT, and libfuse frees the request
 * with that answer; when the source heals, the worker still blocked in it carries on with
 * its (late) success and must not touch the freed request any more (reply_entry, opened() and
 * give_to_caller read it before issue 22's fix: ASan saw a heap-use-after-free, the daemon died by SIGSEGV). One case per request kind whose success path does that: lookup,
 * mkdir, create, open, link. The source is test/fixtures/slow-fs.mjs --writable, told to hang
 * exactly the op that the native worker's source call becomes (`hang <op>`), so the request
 * under test is the one that times out, and the test checks that slow-fs really holds it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { link, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeHome, reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { daemonsOf, logOf } from '../helpers/daemons.js';
import { startSlowFs, type SlowFs } from '../helpers/slow-fs.js';
import { loadNative } from '../../src/daemon/native/binding.js';

const DEADLINE_MS = 300;
/** Heal this long after the request was timed out: well past the deadline, as in the report. */
const HEAL_AFTER_MS = 1200;

interface Case {
  /** The request kind of the native daemon under test. */
  readonly request: string;
  /** The slow-fs op the worker's source call becomes: the one made to hang. */
  readonly hang: string;
  /** What slow-fs must hold (`held` answers `<op>:<path>`). */
  readonly held: string;
  /** Makes the kernel know what the request needs first (parent, target), so only the request itself reaches the source. */
  readonly warm?: (mnt: string) => Promise<unknown>;
  /** The syscall through the mount that sends the request. */
  readonly act: (mnt: string) => Promise<unknown>;
  /** After the heal: the request's late success is visible through the mount. */
  readonly after: (mnt: string) => Promise<unknown>;
}

const CASES: readonly Case[] = [
  // /fast/c.txt looked up by nobody before (its parent is warmed, so the lookup of c.txt is the one
  // request sent): the native lookup's stat in the source asks slow-fs for its attributes.
  { request: 'lookup', hang: 'getattr', held: 'getattr:/fast/c.txt', warm: (m) => stat(join(m, 'fast')), act: (m) => stat(join(m, 'fast', 'c.txt')), after: (m) => stat(join(m, 'fast', 'c.txt')) },
  { request: 'mkdir', hang: 'mkdir', held: 'mkdir:/newdir', act: (m) => mkdir(join(m, 'newdir')), after: (m) => stat(join(m, 'newdir')) },
  { request: 'create', hang: 'create', held: 'create:/new.txt', act: (m) => open(join(m, 'new.txt'), 'wx').then((h) => h.close()), after: (m) => stat(join(m, 'new.txt')) },
  { request: 'open', hang: 'open', held: 'open:/fast/a.txt', warm: (m) => stat(join(m, 'fast', 'a.txt')), act: (m) => readFile(join(m, 'fast', 'a.txt')), after: (m) => readFile(join(m, 'fast', 'a.txt'), 'utf8') },
  { request: 'link', hang: 'link', held: 'link:/fast/a.txt', warm: (m) => stat(join(m, 'fast', 'a.txt')), act: (m) => link(join(m, 'fast', 'a.txt'), join(m, 'fast', 'a-link.txt')), after: (m) => stat(join(m, 'fast', 'a-link.txt')) },
];

const statusOf = async (home: string): Promise<string> => (await runCli(home, ['status', 'ws'])).stdout;

async function setup(): Promise<{ home: string; mnt: string; slow: SlowFs; pid: number }> {
  const home = await makeHome();
  const src = join(home, 'slow-src');
  const slow = await startSlowFs(home, src, ['--writable']);
  const env = { MOUNTIE_HOME: home, MOUNTIE_OP_DEADLINE_MS: String(DEADLINE_MS), MOUNTIE_HEALTH_INTERVAL_MS: '200' };
  const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(await logOf(home, 'ws')).toContain('(data path: native)');
  const [pid] = await daemonsOf(home, 'ws');
  expect(pid).toBeDefined();
  return { home, mnt: join(home, 'mnt', 'ws'), slow, pid: pid as number };
}

describe.skipIf(!loadNative().ok)('a source call that outlives the deadline, then returns (native data path)', () => {
  afterEach(reapAll);

  it.each(CASES)('$request: ETIMEDOUT at the deadline; after the heal the daemon lives on and serves', async (c) => {
    const { home, mnt, slow, pid } = await setup();
    await c.warm?.(mnt);
    await slow.send(`hang ${c.hang}`);
    const act = c.act(mnt).then(
      () => 'succeeded',
      (err: NodeJS.ErrnoException) => err.code,
    );
    // The request under test, and nothing else, is what the source holds.
    await waitFor(`slow-fs to hold ${c.held}`, async () => ((await slow.send('held')).split(' ').includes(c.held) ? true : undefined), 10_000, 20);
    expect(await act).toBe('ETIMEDOUT');
    await sleep(HEAL_AFTER_MS);
    expect(await slow.send('heal')).toMatch(/^OK heal [1-9]/);
    // The worker returns now. Active again = its op_end ran (the stuck count fell back to 0);
    // a daemon that crashed on the way is never active again: stop waiting once it is gone.
    const status = await waitFor(
      'status active again, or the daemon gone',
      async () => {
        const s = await statusOf(home);
        return s.includes('state=active') || !(await daemonsOf(home, 'ws')).includes(pid) ? s : undefined;
      },
      10_000,
      100,
    );
    expect(await daemonsOf(home, 'ws'), `daemon ${pid} after the heal; status: ${status}\nlog tail:\n${(await logOf(home, 'ws')).slice(-1500)}`).toEqual([pid]);
    await c.after(mnt);
    expect(await readFile(join(mnt, 'fast', 'b.txt'), 'utf8')).toBe('b is fast\n');
    expect(await daemonsOf(home, 'ws')).toEqual([pid]);
    expect(await statusOf(home)).toMatch(/state=active/);
    expect(await logOf(home, 'ws')).not.toMatch(/SIGSEGV|SIGABRT|crash|exited unexpectedly|uncaught/i);
    const stop = await runCli(home, ['stop', 'ws']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
  });
});
