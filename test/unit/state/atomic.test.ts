import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanTempFiles, tempName, tempPid, writeFileDurable } from '../../../src/state/atomic.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mountie-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const temps = async () => (await readdir(dir)).filter((n) => n.endsWith('.tmp'));

/** A pid that certainly belongs to no running process: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid ?? 999_999;
}

describe('writeFileDurable', () => {
  it('writes a new file with mode 0600 and leaves no temp', async () => {
    const p = join(dir, 'state.json');
    await writeFileDurable(p, 'hello');
    expect(await readFile(p, 'utf8')).toBe('hello');
    expect((await stat(p)).mode & 0o777).toBe(0o600);
    expect(await temps()).toEqual([]);
  });

  it('replaces an existing file, with Buffers and large data too', async () => {
    const p = join(dir, 'f');
    await writeFileDurable(p, 'old');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await writeFileDurable(p, big, { mode: 0o640 });
    expect((await readFile(p)).equals(big)).toBe(true);
    expect((await stat(p)).mode & 0o777).toBe(0o640);
  });

  it('names the temp .<base>.<pid>.<counter>.tmp, unique per call', async () => {
    const p = join(dir, 'state.json');
    const seen: string[] = [];
    const capture = async () => {
      seen.push(...(await temps()));
    };
    await writeFileDurable(p, 'a', { beforeRename: capture });
    await writeFileDurable(p, 'b', { beforeRename: capture });
    expect(seen).toHaveLength(2);
    for (const n of seen) expect(n).toMatch(new RegExp(`^\\.state\\.json\\.${process.pid}\\.\\d+\\.tmp$`));
    expect(new Set(seen).size).toBe(2);
  });

  it('on failure removes the temp and leaves the old file intact', async () => {
    const p = join(dir, 'state.json');
    await writeFileDurable(p, 'old');
    const boom = new Error('abort');
    await expect(writeFileDurable(p, 'new', { beforeRename: () => Promise.reject(boom) })).rejects.toBe(boom);
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await temps()).toEqual([]);
    await expect(writeFileDurable(join(dir, 'missing-dir', 'f'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('concurrent writes to one path all land whole, with no temp left', async () => {
    const p = join(dir, 'state.json');
    const bodies = Array.from({ length: 30 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(i * 100) }));
    await Promise.all(bodies.map((b) => writeFileDurable(p, b)));
    expect(bodies).toContain(await readFile(p, 'utf8'));
    expect(await temps()).toEqual([]);
  });

  it('steps over a leftover temp that already has the next name', async () => {
    const p = join(dir, 'state.json');
    let n = 0;
    await writeFileDurable(p, 'a', {
      beforeRename: async () => {
        n = Number((await temps())[0]?.split('.')[3]);
      },
    });
    await writeFile(join(dir, tempName('state.json', process.pid, n + 1)), 'stale');
    await writeFile(join(dir, tempName('state.json', process.pid, n + 2)), 'stale');
    await writeFileDurable(p, 'b');
    expect(await readFile(p, 'utf8')).toBe('b');
    expect((await temps()).sort()).toEqual([tempName('state.json', process.pid, n + 1), tempName('state.json', process.pid, n + 2)].sort());
  });
});

describe('tempPid', () => {
  it('parses only temps of the given base', () => {
    expect(tempPid('.state.json.123.4.tmp', 'state.json')).toBe(123);
    expect(tempPid('.state.json.abc.4.tmp', 'state.json')).toBeUndefined();
    expect(tempPid('.other.json.123.4.tmp', 'state.json')).toBeUndefined();
    expect(tempPid('state.json', 'state.json')).toBeUndefined();
    expect(tempPid('.state.json.12.tmp', 'state.json')).toBeUndefined();
  });
});

describe('cleanTempFiles', () => {
  it('removes temps of dead pids and our own stale ones; keeps live writers, in-flight ones and other files', async () => {
    const dead = await deadPid();
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const live = sleeper.pid ?? 1;
      const names = {
        dead: tempName('state.json', dead, 1),
        live: tempName('state.json', live, 1),
        reused: tempName('state.json', live, 2),
        ownStale: tempName('state.json', process.pid, 999_999),
        otherBase: tempName('daemon.pid', dead, 1),
      };
      for (const n of Object.values(names)) await writeFile(join(dir, n), 'x');
      await writeFile(join(dir, 'state.json'), '{}');
      // Written "an hour before" the live process started: its pid must have been reused.
      const past = new Date(Date.now() - 3_600_000);
      await utimes(join(dir, names.reused), past, past);

      let inFlightKept = false;
      await writeFileDurable(join(dir, 'state.json'), '{"v":2}', {
        beforeRename: async () => {
          const removed = await cleanTempFiles(dir, 'state.json');
          expect(removed.sort()).toEqual([names.dead, names.ownStale, names.reused].sort());
          inFlightKept = (await temps()).some((n) => tempPid(n, 'state.json') === process.pid);
        },
      });
      expect(inFlightKept).toBe(true);
      expect((await readdir(dir)).sort()).toEqual([names.otherBase, names.live, 'state.json'].sort());
      expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe('{"v":2}');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('takes an injected liveness check, and tolerates a missing directory', async () => {
    await writeFile(join(dir, tempName('s', 4242, 1)), 'x');
    expect(await cleanTempFiles(dir, 's', { writerMayBeAlive: () => true })).toEqual([]);
    expect(await cleanTempFiles(dir, 's', { writerMayBeAlive: (pid) => pid !== 4242 })).toEqual([tempName('s', 4242, 1)]);
    expect(await cleanTempFiles(join(dir, 'nope'), 's')).toEqual([]);
  });
});
