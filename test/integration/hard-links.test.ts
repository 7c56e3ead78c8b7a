/**
 * Hard links on the author path (JS-ops mode): the node table keys a non-directory by the `ino`
 * the author's getattr answers, so every name of one file is one kernel inode (native/src/jsnodes.c).
 * Before that, each name was its own kernel inode and what one name changed (nlink, size, mode,
 * bytes in the page cache) stayed cached under the other for the attribute timeout (1 s): every
 * step here reads the other name right after the change, well inside that second.
 * Served by examples/ramfs through its own command, in a temp home of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFile, chmod, link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO, makeHome, reapAll } from '../helpers/sandbox.js';
import { mounted, runExample } from '../helpers/examples.js';

type Api = typeof import('../../src/index.js');
const api = (await import(join(REPO, 'dist/index.js'))) as Api;
const { inofs, INOFS } = (await import(join(REPO, 'test/fixtures/kinds/inofs.mjs'))) as { inofs: import('../../src/index.js').MountieDaemon; INOFS: import('../../src/index.js').Kind };

const errnoOf = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (err as { code?: string }).code);

describe('hard links through the author path (examples/ramfs)', () => {
  afterEach(reapAll);

  it('two names of one file are one inode: nlink, bytes, mode, unlink of one name, rename over a link', async () => {
    const home = await makeHome();
    const r = await runExample('ramfs', home, ['mount', 'ws']);
    expect(r.exitCode, r.stderr).toBe(0);
    const { mountpoint: m } = mounted(r);
    const p = (name: string): string => join(m, name);
    try {
      await writeFile(p('a'), 'one');
      expect((await stat(p('a'))).nlink).toBe(1); // a's attributes are cached now
      await link(p('a'), p('b'));
      const [a, b] = [await stat(p('a')), await stat(p('b'))];
      expect([a.ino, a.nlink, b.nlink]).toEqual([b.ino, 2, 2]);

      // Bytes written through one name are read through the other (one page cache, one size).
      expect(await readFile(p('a'), 'utf8')).toBe('one');
      expect((await stat(p('a'))).size).toBe(3); // cached again, just before the write through b
      await appendFile(p('b'), 'two');
      expect((await stat(p('a'))).size).toBe(6);
      expect(await readFile(p('a'), 'utf8')).toBe('onetwo');

      // chmod through one name is seen through the other.
      await chmod(p('a'), 0o644);
      expect((await stat(p('a'))).mode & 0o7777).toBe(0o644); // cached, as above
      await chmod(p('b'), 0o600);
      expect((await stat(p('a'))).mode & 0o7777).toBe(0o600);

      // One name unlinked while the file is open through it: the other name and the handle still work.
      const fh = await open(p('a'), 'r+');
      try {
        await unlink(p('a'));
        expect(await errnoOf(stat(p('a')))).toBe('ENOENT');
        expect((await stat(p('b'))).nlink).toBe(1);
        expect((await fh.stat()).nlink).toBe(1); // fstat: a getattr by node id, sent to b's path now
        await fh.write('ONE', 0);
        expect(await readFile(p('b'), 'utf8')).toBe('ONEtwo');
      } finally {
        await fh.close();
      }

      // Renaming another file over one name of a linked file: the other name is left with nlink 1.
      await link(p('b'), p('c'));
      expect((await stat(p('b'))).nlink).toBe(2);
      await writeFile(p('d'), 'dee');
      await rename(p('d'), p('c'));
      expect((await stat(p('b'))).nlink).toBe(1);
      expect(await readFile(p('c'), 'utf8')).toBe('dee');
      expect(await readFile(p('b'), 'utf8')).toBe('ONEtwo');

      // A rename between two names of one file does nothing (POSIX): both names stay.
      await link(p('b'), p('e'));
      await rename(p('b'), p('e'));
      expect([(await stat(p('b'))).nlink, (await stat(p('e'))).nlink]).toEqual([2, 2]);

      // The last name unlinked: the file is gone, the new file at that name is another inode.
      const before = (await stat(p('e'))).ino;
      await unlink(p('b'));
      await unlink(p('e'));
      await writeFile(p('e'), 'new');
      expect((await stat(p('e'))).ino).not.toBe(before);
      expect(await readFile(p('e'), 'utf8')).toBe('new');
    } finally {
      const s = await runExample('ramfs', home, ['stop', 'ws']);
      expect(s.exitCode, s.stderr).toBe(0);
    }
  });
});

describe('an open file of two names, both unlinked (examples/ramfs)', () => {
  afterEach(reapAll);

  // fstat sends a getattr without a handle; for a nameless node the core passes one of its open
  // handles. It passed the latest opened, even once released: ramfs answers an unknown handle by the
  // path, here another file's (the node's last name, taken again).
  it('fstat through the handle still open is that file, after the later handle was closed and the name reused', async () => {
    const home = await makeHome();
    const r = await runExample('ramfs', home, ['mount', 'ws']);
    expect(r.exitCode, r.stderr).toBe(0);
    const { mountpoint: m } = mounted(r);
    try {
      await writeFile(join(m, 'a'), 'abc');
      await link(join(m, 'a'), join(m, 'b'));
      const first = await open(join(m, 'a'), 'r');
      try {
        const later = await open(join(m, 'b'), 'r');
        await later.close();
        await unlink(join(m, 'a'));
        await unlink(join(m, 'b'));
        await writeFile(join(m, 'b'), 'a much longer file');
        const st = await first.stat();
        expect([st.size, st.nlink]).toEqual([3, 0]);
      } finally {
        await first.close();
      }
    } finally {
      const s = await runExample('ramfs', home, ['stop', 'ws']);
      expect(s.exitCode, s.stderr).toBe(0);
    }
  });
});

describe("what the node table makes of an author's inode numbers (fixture inofs)", () => {
  afterEach(reapAll);

  async function start(inos: 'reuse' | 'none'): Promise<{ home: string; mp: string }> {
    const home = await makeHome();
    const s = await api.launch('ws', { daemon: inofs, home, env: { ...process.env, INOFS_INOS: inos } });
    return { home, mp: s.mountpoint };
  }

  it('an ino reused for a new file while the old one is open and nameless: a node of its own, the old handle stays the old file', async () => {
    const { home, mp } = await start('reuse');
    try {
      const fh = await open(join(mp, 'a'), 'w+');
      try {
        await fh.write('first');
        const ino = (await fh.stat()).ino;
        await unlink(join(mp, 'a'));
        await writeFile(join(mp, 'b'), 'second!');
        // The author gave b a's number (freed with a's last name): the kernel must not take b for a.
        expect((await stat(join(mp, 'b'))).ino).toBe(ino);
        expect(await readFile(join(mp, 'b'), 'utf8')).toBe('second!');
        const st = await fh.stat(); // name-less: a's node has no live name, so it goes with a's handle
        expect([st.size, st.nlink]).toEqual([5, 0]);
        const buf = Buffer.alloc(16);
        expect(buf.subarray(0, (await fh.read(buf, 0, 16, 0)).bytesRead).toString()).toBe('first');
      } finally {
        await fh.close();
      }
    } finally {
      expect((await api.stop('ws', { home, kind: INOFS })).ok).toBe(true);
    }
  }, 60_000);

  it('no ino: each name is its own node (the kernel sees the node ids), and a link still shares the bytes', async () => {
    const { home, mp } = await start('none');
    try {
      await writeFile(join(mp, 'a'), 'one');
      await link(join(mp, 'a'), join(mp, 'b'));
      const [a, b] = [await stat(join(mp, 'a')), await stat(join(mp, 'b'))];
      expect(a.ino).not.toBe(b.ino);
      expect(b.nlink).toBe(2);
      expect(await readFile(join(mp, 'b'), 'utf8')).toBe('one');
      await unlink(join(mp, 'a'));
      expect(await readFile(join(mp, 'b'), 'utf8')).toBe('one');
    } finally {
      expect((await api.stop('ws', { home, kind: INOFS })).ok).toBe(true);
    }
  }, 60_000);
});
