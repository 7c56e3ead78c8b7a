import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextEpoch, parseEpoch } from '../../../src/state/epoch.js';

let ws: string;
beforeEach(async () => {
  ws = await mkdtemp(join(tmpdir(), 'mountie-epoch-'));
});
afterEach(async () => {
  await rm(ws, { recursive: true, force: true });
});

describe('nextEpoch', () => {
  it('starts at 1 and counts up, storing JSON durably', async () => {
    expect(await nextEpoch(ws)).toBe(1);
    expect(await nextEpoch(ws)).toBe(2);
    expect(await nextEpoch(ws)).toBe(3);
    expect(JSON.parse(await readFile(join(ws, 'epoch'), 'utf8'))).toEqual({ epoch: 3 });
    expect(await readdir(ws)).toEqual(['epoch']);
  });

  it('accepts a bare integer or a JSON object', async () => {
    await writeFile(join(ws, 'epoch'), '7\n');
    expect(await nextEpoch(ws)).toBe(8);
    await writeFile(join(ws, 'epoch'), '{"epoch": 41}');
    expect(await nextEpoch(ws)).toBe(42);
  });

  it('stays above the epoch of the state file, so a lost epoch file cannot be fenced by it', async () => {
    await writeFile(join(ws, 'state.json'), JSON.stringify({ epoch: 9 }));
    expect(await nextEpoch(ws)).toBe(10);
    await writeFile(join(ws, 'epoch'), '3');
    expect(await nextEpoch(ws)).toBe(10);
    await writeFile(join(ws, 'state.json'), 'torn{');
    expect(await nextEpoch(ws)).toBe(11);
  });

  it('refuses a corrupt epoch file with ERR_CONFIG_CORRUPT', async () => {
    for (const bad of ['', 'abc', '-1', '1.5', '{"epoch":"3"}', 'null']) {
      await writeFile(join(ws, 'epoch'), bad);
      await expect(nextEpoch(ws), bad).rejects.toMatchObject({ code: 'ERR_CONFIG_CORRUPT', data: { path: join(ws, 'epoch') } });
    }
  });

  it('reports an unwritable workspace as a MountieError', async () => {
    await expect(nextEpoch(join(ws, 'missing'))).rejects.toMatchObject({ code: 'ERR_INTERNAL', data: { errno: 'ENOENT' } });
  });
});

describe('parseEpoch', () => {
  it('parses both forms', () => {
    expect(parseEpoch('5')).toBe(5);
    expect(parseEpoch('{"epoch":0}')).toBe(0);
    expect(parseEpoch('{}')).toBeUndefined();
  });
});
