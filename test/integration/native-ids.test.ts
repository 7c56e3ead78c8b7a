/**
 * The native core's node ids and file handles are indexes into tables with a generation
 * (native/src/ids.c; docs/ARCHITECTURE.md, "FUSE session layer", 2026-12-07/08), not pointers or
 * raw fds: the ids the kernel holds are read from the kernel's side (name_to_handle_at carries a
 * FUSE node id) and compared with the core's own tables (the stand-in prints them on SIGWINCH),
 * the snapshot a handover to another process would carry (issue 21).
 * Skipped when the addon is not built.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, open, opendir, readlink, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isMounted, reapAll, waitFor } from '../helpers/sandbox.js';
import { passthroughIn, serveInNewHome, serveTables } from '../helpers/serve.js';
import { loadNative } from '../../src/daemon/native/binding.js';

afterEach(reapAll);

const run = promisify(execFile);
const native = loadNative();
const NODE_ID = new URL('../fixtures/fuse-node-id.py', import.meta.url).pathname;
const SLOT = (1n << 32n) - 1n;

interface Tables {
  nodes: { id: string; nlookup: number; ino: string; dev: string; fd: number; handle: string | null; stale: boolean }[];
  handles: { fh: string; node: string; fd: number; flags: number; dir: boolean }[];
}

/** The kernel's node id of each path. */
async function kernelIds(...paths: string[]): Promise<Record<string, bigint>> {
  const { stdout } = await run('python3', [NODE_ID, ...paths]);
  return Object.fromEntries(Object.entries(JSON.parse(stdout) as Record<string, string>).map(([p, id]) => [p, BigInt(id)]));
}

describe.skipIf(!native.ok)('native core: node ids and file handles are table indexes', () => {
  it('the kernel holds small slot ids (root 1), the tables name the same inodes and open files, and a freed slot comes back with a new generation', async () => {
    const { source, mnt, daemon } = await serveInNewHome(['--native']);
    await mkdir(join(source, 'd'));
    await writeFile(join(source, 'a'), 'a');
    await writeFile(join(source, 'd/c'), 'c');
    const paths = ['a', 'd', 'd/c'];
    for (const p of paths) await stat(join(mnt, p));
    const ids = await kernelIds(mnt, ...paths.map((p) => join(mnt, p)));
    expect(ids[mnt]).toBe(1n);
    const tables = await serveTables<Tables>(daemon);
    for (const p of paths) {
      const id = ids[join(mnt, p)] ?? 0n;
      // A slot among the first few, of a low generation: the pointer ids of before were 47-bit
      // addresses. Not always generation 0: the source watch's invalidation of a name just made in
      // the source (its inotify event may come after our stat, under load) makes the kernel forget
      // and look it up again, in the same slot one generation on (seen once: 1 << 32 | 2).
      expect(id, p).toBeGreaterThan(1n);
      expect(id & 0xffffffffn, p).toBeLessThan(64n);
      expect(id >> 32n, p).toBeLessThan(8n);
      const node = tables.nodes.find((n) => n.id === String(id));
      expect(node, `${p}: node ${id} in ${JSON.stringify(tables.nodes)}`).toBeDefined();
      expect(node?.ino, p).toBe(String((await stat(join(source, p))).ino));
      expect(node?.nlookup, p).toBeGreaterThan(0);
    }
    expect(tables.nodes.find((n) => n.id === '1')?.ino).toBe(String((await stat(source)).ino));

    // Open handles: each names the node it was opened on and the daemon's fd on the source file.
    const file = await open(join(mnt, 'a'), 'r');
    const dir = await opendir(join(mnt, 'd'));
    try {
      const open2 = await serveTables<Tables>(daemon);
      const onA = open2.handles.find((h) => h.node === String(ids[join(mnt, 'a')]));
      const onD = open2.handles.find((h) => h.node === String(ids[join(mnt, 'd')]));
      expect(onA, JSON.stringify(open2.handles)).toMatchObject({ dir: false });
      expect(onD, JSON.stringify(open2.handles)).toMatchObject({ dir: true });
      expect(await readlink(`/proc/${daemon.child.pid}/fd/${onA?.fd}`)).toBe(join(source, 'a'));
      expect(await readlink(`/proc/${daemon.child.pid}/fd/${onD?.fd}`)).toBe(join(source, 'd'));
      const passthrough = passthroughIn();
      expect(onA?.flags, 'FH_PASSTHROUGH where files are passed through, else none').toBe(passthrough ? 1 : 0);
      expect(BigInt(onA?.fh ?? '0')).toBeGreaterThan(0n);
      expect(onA?.fh).not.toBe(onD?.fh);
    } finally {
      await file.close();
      await dir.close();
    }
    // RELEASE is sent once the kernel drops its last reference: asynchronously after close(2).
    await waitFor('handles released', async () => ((await serveTables<Tables>(daemon)).handles.length === 0 ? true : undefined), 5000);

    // Files made and removed one after another: each is forgotten (its inode evicted at unlink),
    // so its slot is taken again, with the next generation, and the slots stay few.
    for (let i = 0; i < 200; i++) {
      await writeFile(join(mnt, `churn${i}`), 'x');
      await unlink(join(mnt, `churn${i}`));
    }
    await writeFile(join(mnt, 'fresh'), 'f');
    const fresh = (await kernelIds(join(mnt, 'fresh')))[join(mnt, 'fresh')] ?? 0n;
    expect(fresh & SLOT, `slot of ${fresh}`).toBeLessThan(64n);
    expect(fresh >> 32n, `generation of ${fresh}`).toBeGreaterThan(0n);
    const last = await serveTables<Tables>(daemon);
    expect(last.nodes.map((n) => n.id)).toContain(String(fresh));
    expect(last.nodes.length, JSON.stringify(last.nodes)).toBeLessThan(16);

    expect(await daemon.stop(), daemon.output().slice(-2000)).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
});
