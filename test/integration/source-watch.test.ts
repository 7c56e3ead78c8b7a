/**
 * Issue 20: longer entry/attribute caches on the native passthrough, kept true by invalidation.
 * The source is edited behind the mount (rename, rewrite, chmod, remove, a new file and a new
 * directory, a directory renamed, a write through a hard link outside the source) and each change
 * must show through the mount within 1 s while names and attributes are cached 60 s (a repeated
 * stat after more than 1 s reaches no request: the core's counters say so). The same edits on a
 * mount with 60 s caches and no watching are not seen: the checks here would fail without the
 * invalidation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { link, mkdir, readFile, readdir, rename, rm, stat, chmod, writeFile, appendFile } from 'node:fs/promises';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { reapAll, waitFor } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { logOf, setupWorkspace } from '../helpers/daemons.js';
import { serveCounters, serveCountersWhen, serveInNewHome, startServe, type ServeDaemon } from '../helpers/serve.js';
import { loadNative } from '../../src/daemon/native/binding.js';

afterEach(reapAll);

const native = loadNative();
/** What the issue allows: a change beside the mount is seen within the 1 s it took before. */
const SEEN_MS = 1000;

const setup = (flags: string[] = []): ReturnType<typeof serveInNewHome> => serveInNewHome(['--native', ...flags]);

interface Counters {
  ops: Record<string, number>;
  watches: number;
  unwatched: number;
  invalidations: number;
  invalEntries: number;
  invalInodes: number;
  /** Handled: counted once their notifications are written (one batch per read). */
  events: number;
  eventsOurs: number;
}

const counters = (daemon: ServeDaemon): Promise<Counters> => serveCounters<Counters>(daemon);

/** Milliseconds until `check` holds through the mount (polled every 10 ms), or Infinity past `limitMs`. */
async function seenAfter(check: () => Promise<boolean>, limitMs = SEEN_MS + 500): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check().catch(() => false)) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) return Infinity;
    await sleep(10);
  }
}

const gone = (p: string) => async (): Promise<boolean> => stat(p).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');

/** Every kind of change, made in the source after the mount cached what it changes; how long each took to show. */
async function editBehind(source: string, mnt: string, outside: string): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  await writeFile(join(source, 'a.txt'), 'first\n');
  await mkdir(join(source, 'dir'));
  await writeFile(join(source, 'dir', 'inner.txt'), 'inner\n');
  await writeFile(join(source, 'linked.txt'), 'one\n');
  await link(join(source, 'linked.txt'), join(outside, 'other-name.txt'));
  // Let the notifier handle these writes' own events first: one handled after the warm-up would
  // invalidate what it cached and hide a stale answer (the hard link's below).
  await sleep(300);
  // Cached through the mount: names, attributes, pages, listings, and a name that does not exist.
  const warm = async (): Promise<void> => {
    for (const p of ['a.txt', 'dir', 'dir/inner.txt', 'linked.txt']) await stat(join(mnt, p));
    await readFile(join(mnt, 'a.txt'));
    await readFile(join(mnt, 'dir', 'inner.txt'));
    await readFile(join(mnt, 'linked.txt'));
    await readdir(mnt);
    await stat(join(mnt, 'new.txt')).catch(() => undefined);
    await stat(join(mnt, 'newdir')).catch(() => undefined);
    // Once more after the reads: a read drops the cached atime (the kernel's fuse_invalidate_atime),
    // so without this the next stat would fetch fresh attributes whatever their timeout.
    for (const p of ['a.txt', 'dir/inner.txt', 'linked.txt']) await stat(join(mnt, p));
  };
  await warm();

  await rename(join(source, 'a.txt'), join(source, 'b.txt'));
  seen.rename = Math.max(await seenAfter(gone(join(mnt, 'a.txt'))), await seenAfter(async () => (await readFile(join(mnt, 'b.txt'), 'utf8')) === 'first\n'));
  await readFile(join(mnt, 'b.txt'));

  await writeFile(join(source, 'b.txt'), 'rewritten, longer\n');
  seen.rewrite = await seenAfter(async () => (await stat(join(mnt, 'b.txt'))).size === 18 && (await readFile(join(mnt, 'b.txt'), 'utf8')) === 'rewritten, longer\n');

  await chmod(join(source, 'b.txt'), 0o600);
  seen.chmod = await seenAfter(async () => ((await stat(join(mnt, 'b.txt'))).mode & 0o777) === 0o600);

  await writeFile(join(source, 'new.txt'), 'new\n');
  seen.newFile = await seenAfter(async () => (await readdir(mnt)).includes('new.txt') && (await readFile(join(mnt, 'new.txt'), 'utf8')) === 'new\n');

  await mkdir(join(source, 'newdir'));
  seen.newDir = await seenAfter(async () => (await stat(join(mnt, 'newdir'))).isDirectory());

  await rename(join(source, 'dir'), join(source, 'dir2'));
  seen.dirRename = Math.max(await seenAfter(gone(join(mnt, 'dir'))), await seenAfter(async () => (await readFile(join(mnt, 'dir2', 'inner.txt'), 'utf8')) === 'inner\n'));

  // A write through a link outside the source sends no event here: two links keep 1 s attributes
  // (a stat, not a read: a read past the cached size asks for the attributes anyway, auto_inval_data).
  await appendFile(join(outside, 'other-name.txt'), 'two\n');
  seen.hardLink = await seenAfter(async () => (await stat(join(mnt, 'linked.txt'))).size === 8);

  await rm(join(source, 'b.txt'));
  seen.remove = Math.max(await seenAfter(gone(join(mnt, 'b.txt'))), await seenAfter(async () => !(await readdir(mnt)).includes('b.txt')));
  return seen;
}

describe.skipIf(!native.ok)('native passthrough: long caches kept true by watching the source', () => {
  it('a name and its attributes are served from the cache after more than 1 s, with no request', async () => {
    const { source, mnt, daemon } = await setup(['--watch']);
    await writeFile(join(source, 'f.txt'), 'x');
    await mkdir(join(source, 'sub'));
    // Four events (f.txt made, written, closed; sub made): once they are handled, nothing left in
    // the notifier's queue can drop what the looks below cache.
    await waitFor('the new names invalidated', async () => ((await counters(daemon)).events >= 4 ? true : undefined));
    const look = async (): Promise<void> => {
      await stat(join(mnt, 'f.txt'));
      await stat(join(mnt, 'sub'));
      await stat(join(mnt, 'missing')).catch(() => undefined);
    };
    await look();
    const first = await counters(daemon);
    expect(first.watches).toBeGreaterThanOrEqual(2); // the root and sub
    await sleep(1500); // past the 1 s of before
    await look();
    const second = await counters(daemon);
    for (const op of ['lookup', 'getattr']) expect(second.ops[op] ?? 0, op).toBe(first.ops[op] ?? 0);
    await daemon.stop();
  });

  it('directories past the fd budget (kept as file handles) are watched too: cached after 1 s with no request, and changes inside them seen within 1 s', async () => {
    const { source, mnt, daemon } = await setup(['--watch', '--fd-budget=1']);
    await mkdir(join(source, 'a', 'b'), { recursive: true });
    await writeFile(join(source, 'a', 'b', 'f.txt'), 'one\n');
    // a's creation is the root's event (two invalidations); what is below a was made unwatched.
    await waitFor('the new name invalidated', async () => ((await counters(daemon)).invalidations >= 2 ? true : undefined));
    const look = async (): Promise<void> => {
      await stat(join(mnt, 'a', 'b', 'f.txt'));
      await stat(join(mnt, 'a', 'b', 'missing')).catch(() => undefined);
    };
    await look();
    // The root, a (the one node within the budget) and b (a file handle past it).
    await waitFor('b watched', async () => ((await counters(daemon)).watches >= 3 ? true : undefined));
    // An entry answered before its directory's watch was in place keeps the 1 s of an unwatched
    // directory (seen once in a fresh-clone CI run: one more LOOKUP): looked up again once it expired.
    await sleep(1100);
    await look();
    const first = await counters(daemon);
    await sleep(1500); // past the 1 s of before
    await look();
    const second = await counters(daemon);
    for (const op of ['lookup', 'getattr']) expect(second.ops[op] ?? 0, op).toBe(first.ops[op] ?? 0);
    // A change inside b (the notifier reopens b from its handle to find what changed).
    await writeFile(join(source, 'a', 'b', 'f.txt'), 'rewritten, longer\n');
    const rewrite = await seenAfter(async () => (await stat(join(mnt, 'a', 'b', 'f.txt'))).size === 18 && (await readFile(join(mnt, 'a', 'b', 'f.txt'), 'utf8')) === 'rewritten, longer\n');
    await writeFile(join(source, 'a', 'b', 'g.txt'), 'g\n');
    const newFile = await seenAfter(async () => (await readdir(join(mnt, 'a', 'b'))).includes('g.txt') && (await readFile(join(mnt, 'a', 'b', 'g.txt'), 'utf8')) === 'g\n');
    await rm(join(source, 'a', 'b', 'f.txt'));
    const remove = await seenAfter(gone(join(mnt, 'a', 'b', 'f.txt')));
    const seen = { rewrite, newFile, remove };
    for (const [what, ms] of Object.entries(seen)) expect(ms, `${what}: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(SEEN_MS);
    expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
  });

  // Kernel passthrough (the default as root) reads a rewritten file's bytes from the source file
  // itself, whatever the caches say: with it off too, so that the rewrite needs the invalidation.
  for (const [label, env] of [['', process.env], [', kernel passthrough off', { ...process.env, MOUNTIE_PASSTHROUGH: '0' }]] as const) it(`renames, rewrites, chmods, removes and new names in the source show through the mount within 1 s${label}`, async () => {
    const { home, source, mnt, daemon } = await serveInNewHome(['--native', '--watch'], env);
    const outside = join(home, 'outside');
    await mkdir(outside);
    const seen = await editBehind(source, mnt, outside);
    console.log(`seen after (ms): ${JSON.stringify(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, Math.round(v)])))}`);
    // hardLink: the 1 s attribute timeout of before (no event can tell), counted from the last fetch, in jiffies.
    for (const [what, ms] of Object.entries(seen)) expect(ms, `${what}: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(SEEN_MS + (what === 'hardLink' ? 500 : 0));
    expect((await counters(daemon)).invalidations).toBeGreaterThan(0);
    expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
  });

  it('the same edits with 60 s caches and no watching are not seen within 1 s (the test above needs the invalidation)', async () => {
    // Kernel passthrough off: with it a rewrite's bytes come from the source file (above).
    const { home, source, mnt, daemon } = await serveInNewHome(['--native', '--ttl=60'], { ...process.env, MOUNTIE_PASSTHROUGH: '0' });
    const outside = join(home, 'outside');
    await mkdir(outside);
    const seen = await editBehind(source, mnt, outside);
    expect(seen.rename, JSON.stringify(seen)).toBe(Infinity);
    expect(seen.rewrite, JSON.stringify(seen)).toBe(Infinity);
    expect(seen.remove, JSON.stringify(seen)).toBe(Infinity);
    expect((await counters(daemon)).watches).toBe(0);
    await daemon.stop();
  });

  it('a source on another FUSE mount (whose changes made elsewhere inotify cannot see) is not watched: 1 s caches', async () => {
    const lower = await setup(['--watch']);
    const mnt2 = join(lower.home, 'mnt2');
    await mkdir(mnt2);
    const upper = await startServe(lower.home, lower.mnt, mnt2, ['--native', '--watch']);
    await writeFile(join(lower.source, 'f.txt'), 'x');
    await stat(join(mnt2, 'f.txt'));
    expect((await counters(upper)).watches).toBe(0);
    expect((await counters(lower.daemon)).watches).toBeGreaterThan(0);
    expect(await upper.stop()).toBe(0);
    expect(await lower.daemon.stop()).toBe(0);
  });

  it('watches at most its budget (the per-user inotify limit is shared): directories past it keep 1 s caches and still show changes', async () => {
    const { source, mnt, daemon } = await setup(['--watch', '--watch-budget=3']);
    const before = (await counters(daemon)).events;
    for (let i = 0; i < 6; i++) await mkdir(join(source, `d${i}`));
    // The six IN_CREATE handled first: one handled after its directory was looked up drops that
    // dentry, and the watch it frees goes to another directory (CI, 20:21Z).
    await serveCountersWhen<Counters>(daemon, (x) => x.events >= before + 6);
    for (let i = 0; i < 6; i++) await readdir(join(mnt, `d${i}`));
    const c = await counters(daemon);
    // Never more than the budget (the root and two of the six; a watch lost to a late invalidation
    // of a fresh name may go to another directory), and the others refused: without it, 7 watches.
    expect(c.watches, JSON.stringify(c)).toBeLessThanOrEqual(3);
    expect(c.unwatched, JSON.stringify(c)).toBeGreaterThanOrEqual(3);
    // A change in every directory, watched or not, shows within the 1 s of before.
    for (let i = 0; i < 6; i++) await writeFile(join(source, `d${i}`, 'new.txt'), 'x');
    const seen = await seenAfter(async () => {
      for (let i = 0; i < 6; i++) if (!(await readdir(join(mnt, `d${i}`))).includes('new.txt')) return false;
      return true;
    });
    expect(seen).toBeLessThanOrEqual(SEEN_MS + 500);
    expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
  });

  // Names made through the mount reach the watch too: their IN_CREATE used to drop the dentry the
  // kernel had just made from our answer (an INVAL_ENTRY), so each file's next stat looked it up
  // again (and a closed file's inode was forgotten in between). Both sessions make the same answers.
  for (const [session, env] of [
    ['libfuse', { MOUNTIE_SESSION: 'libfuse' }],
    ['own', { MOUNTIE_SESSION: 'own' }],
  ] as const) {
    it(`names made through the mount (${session} session) keep their dentries: no lookup when stat follows, and changes beside the mount are still seen within 1 s`, async () => {
      const { source, mnt, daemon } = await serveInNewHome(['--native', '--watch'], { ...process.env, ...env });
      const N = 40;
      await mkdir(join(mnt, 'made'));
      for (let i = 0; i < N; i++) await writeFile(join(mnt, 'made', `f${i}`), 'x');
      await mkdir(join(mnt, 'made', 'sub'));
      await sleep(300); // the notifier has handled every event of the makes
      const before = await counters(daemon);
      for (let i = 0; i < N; i++) await stat(join(mnt, 'made', `f${i}`));
      await stat(join(mnt, 'made', 'sub'));
      const after = await counters(daemon);
      const lookups = (after.ops.lookup ?? 0) - (before.ops.lookup ?? 0);
      // Before the cut: one lookup per name (N + 1). A few may still race (the event handled
      // before the answer was sent, and the notifier's bounded wait ran out under load).
      expect(lookups, JSON.stringify({ before: before.ops, after: after.ops })).toBeLessThanOrEqual(N / 10);
      // A name made through the mount and then changed beside it: seen within 1 s as any other.
      await rm(join(source, 'made', 'f0'));
      await writeFile(join(source, 'made', 'f1'), 'replaced, longer');
      await rename(join(source, 'made', 'f2'), join(source, 'made', 'f2-moved'));
      await rm(join(source, 'made', 'f3'));
      await writeFile(join(source, 'made', 'f3'), 'a new inode');
      const seen = {
        removed: await seenAfter(gone(join(mnt, 'made', 'f0'))),
        rewritten: await seenAfter(async () => (await readFile(join(mnt, 'made', 'f1'), 'utf8')) === 'replaced, longer'),
        renamed: Math.max(await seenAfter(gone(join(mnt, 'made', 'f2'))), await seenAfter(async () => (await stat(join(mnt, 'made', 'f2-moved'))).isFile())),
        recreated: await seenAfter(async () => (await readFile(join(mnt, 'made', 'f3'), 'utf8')) === 'a new inode'),
      };
      for (const [what, ms] of Object.entries(seen)) expect(ms, `${what}: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(SEEN_MS);
      expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
    });
  }

  // What the watch cost a create+stat+unlink or an untar through the mount (BENCHMARKS.md, issue
  // 20): each removal's IN_DELETE sent an INVAL_ENTRY and an INVAL_INODE of its directory for a
  // name the kernel had dropped already, and every event was read and handled alone (a burst of
  // new names: one INVAL_INODE of their directory each). Counted with the core's counters.
  for (const [session, env] of [
    ['libfuse', { MOUNTIE_SESSION: 'libfuse' }],
    ['own', { MOUNTIE_SESSION: 'own' }],
  ] as const) {
    it(`names removed through the mount (${session} session) need no notification, a burst of events is one batch, and changes beside the mount are still seen within 1 s`, async () => {
      const { source, mnt, daemon } = await serveInNewHome(['--native', '--watch'], { ...process.env, ...env });
      const N = 40;
      await mkdir(join(mnt, 'gone'));
      for (let i = 0; i < N; i++) await writeFile(join(mnt, 'gone', `f${i}`), 'x');
      await mkdir(join(mnt, 'gone', 'sub'));
      for (let i = 0; i < N; i++) await stat(join(mnt, 'gone', `f${i}`));
      await sleep(300); // the notifier has handled every event of the makes
      const before = await counters(daemon);
      for (let i = 0; i < N; i++) await rm(join(mnt, 'gone', `f${i}`));
      await rm(join(mnt, 'gone', 'sub'), { recursive: true });
      // Their N + 1 IN_DELETE, handled as ours (a few may race: the event handled before the answer
      // was sent, and the notifier's bounded wait ran out under load).
      const after = await serveCountersWhen<Counters>(daemon, (c) => c.eventsOurs - before.eventsOurs >= N + 1);
      const d = { ours: after.eventsOurs - before.eventsOurs, entries: after.invalEntries - before.invalEntries };
      console.log(`${session}: ${N + 1} removals through the mount: ${JSON.stringify(d)}`);
      // Before the cut: ours 0, entries N + 1.
      expect(d.ours, JSON.stringify(d)).toBeGreaterThanOrEqual(N + 1 - N / 10);
      expect(d.entries, JSON.stringify(d)).toBeLessThanOrEqual(N / 10);
      // A name removed through the mount, then made again beside it: seen within 1 s (its negative
      // dentry goes), as a new directory of the name removed.
      await writeFile(join(source, 'gone', 'f0'), 'back');
      await mkdir(join(source, 'gone', 'sub'));
      const seen = {
        remade: await seenAfter(async () => (await readFile(join(mnt, 'gone', 'f0'), 'utf8')) === 'back'),
        remadeDir: await seenAfter(async () => (await stat(join(mnt, 'gone', 'sub'))).isDirectory()),
        listed: await seenAfter(async () => (await readdir(join(mnt, 'gone'))).sort().join() === 'f0,sub'),
      };
      for (const [what, ms] of Object.entries(seen)) expect(ms, `${what}: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(SEEN_MS);

      // A burst beside the mount: M new names in one watched directory, in a loop with no pause.
      const M = 200;
      await mkdir(join(source, 'burst'));
      await sleep(300); // its IN_CREATE handled first (its INVAL_ENTRY would drop the dentry, and the watch with the node)
      await readdir(join(mnt, 'burst')); // looked up: watched
      await serveCountersWhen<Counters>(daemon, (c) => c.watches >= 3); // the root, gone, burst
      const b0 = await counters(daemon);
      for (let i = 0; i < M; i++) closeSync(openSync(join(source, 'burst', `n${i}`), 'w'));
      // IN_CREATE and IN_CLOSE_WRITE of each name.
      const b1 = await serveCountersWhen<Counters>(daemon, (c) => c.events - b0.events >= 2 * M);
      const burst = { events: b1.events - b0.events, entries: b1.invalEntries - b0.invalEntries, inodes: b1.invalInodes - b0.invalInodes };
      console.log(`${session}: a burst of ${M} new names beside the mount: ${JSON.stringify(burst)}`);
      // Every new name still has its INVAL_ENTRY (a negative dentry may be cached 60 s); the
      // directory's listing is invalidated once per read, not once per name (before: M).
      expect(burst.entries, JSON.stringify(burst)).toBe(M);
      expect(burst.inodes, JSON.stringify(burst)).toBeLessThanOrEqual(M / 4);
      expect(await seenAfter(async () => (await readdir(join(mnt, 'burst'))).length === M)).toBeLessThanOrEqual(SEEN_MS);
      expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
    });
  }

  it('--no-watch keeps the fixed 1 s caches of before (nothing watched)', async () => {
    const { source, mnt, daemon } = await setup(['--no-watch']);
    await writeFile(join(source, 'f.txt'), 'x');
    await stat(join(mnt, 'f.txt'));
    const first = await counters(daemon);
    await sleep(1200);
    await stat(join(mnt, 'f.txt'));
    const second = await counters(daemon);
    expect(second.watches).toBe(0);
    expect((second.ops.lookup ?? 0) + (second.ops.getattr ?? 0)).toBeGreaterThan((first.ops.lookup ?? 0) + (first.ops.getattr ?? 0));
    await daemon.stop();
  });
});

describe.skipIf(!native.ok)('the daemon watches its source by default', () => {
  it('mountie mount watches the source unless MOUNTIE_SOURCE_WATCH=0, and its log says which', async () => {
    const { home, src, mp } = await setupWorkspace();
    for (const [env, said] of [
      [{}, 'source watched (inotify)'],
      [{ MOUNTIE_SOURCE_WATCH: '0' }, 'source not watched (MOUNTIE_SOURCE_WATCH=0)'],
    ] as const) {
      const before = (await logOf(home, 'ws')).length;
      const r = await runCli(home, ['mount', 'ws', '--source', src, '--background'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha\n');
      await waitFor(`log: ${said}`, async () => ((await logOf(home, 'ws')).slice(before).includes(said) ? true : undefined));
      // Watched or not, a rewrite beside the mount is seen within the 1 s of before.
      await stat(join(mp, 'a.txt'));
      await writeFile(join(src, 'a.txt'), 'alpha, rewritten\n');
      await sleep(SEEN_MS);
      expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('alpha, rewritten\n');
      await writeFile(join(src, 'a.txt'), 'alpha\n');
      expect((await runCli(home, ['stop', 'ws'])).exitCode).toBe(0);
    }
  });
});
