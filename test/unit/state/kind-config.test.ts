import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineKind } from '../../../src/protocol/kind.js';
import { resolveHome, workspacePaths } from '../../../src/state/paths.js';
import { planKindMount } from '../../../src/state/plan-kind.js';
import { configForStart, loadAnyConfig, loadConfig, parsePendingConfig, saveConfig, WORKSPACE_SCHEMA, type KindConfig } from '../../../src/state/workspace.js';

const MEMFS = defineKind({ name: 'memfs' });
let dir = '';
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'mountie-kindcfg-'))));
afterEach(async () => void (dir && (await rm(dir, { recursive: true, force: true }))));

const kindConfig = (over: Partial<KindConfig> = {}): KindConfig => ({ schema: WORKSPACE_SCHEMA, name: 'ws', kind: 'memfs', mountpoint: join(dir, 'mnt'), readOnly: false, options: { files: 3 }, createdAt: 'now', ...over });

describe("another kind's workspace.json", () => {
  it('holds options and its kind instead of a source, and reads back as written', async () => {
    const paths = workspacePaths(resolveHome({ MEMFS_HOME: dir }, MEMFS), 'ws');
    await saveConfig(paths, kindConfig());
    expect(await loadAnyConfig(paths, MEMFS)).toEqual(kindConfig());
  });

  it("is refused by another kind with ERR_KIND_MISMATCH, and mountie's by it", async () => {
    const paths = workspacePaths(resolveHome({ MEMFS_HOME: dir }, MEMFS), 'ws');
    await saveConfig(paths, kindConfig());
    await expect(loadConfig(paths)).rejects.toMatchObject({ code: 'ERR_KIND_MISMATCH', data: { found: 'memfs', kind: 'mountie' } });
    await expect(loadAnyConfig(paths, defineKind({ name: 'other' }))).rejects.toMatchObject({ code: 'ERR_KIND_MISMATCH' });
    await writeFile(paths.config, JSON.stringify({ schema: WORKSPACE_SCHEMA, name: 'ws', source: '/srv', mountpoint: '/m', readOnly: false, createdAt: 'now' }));
    await expect(loadAnyConfig(paths, MEMFS)).rejects.toMatchObject({ code: 'ERR_KIND_MISMATCH', data: { found: 'mountie' } });
    expect((await loadConfig(paths))?.source).toBe('/srv');
  });

  it('is corrupt when it names kind "mountie" or no kind and no source', async () => {
    const paths = workspacePaths(resolveHome({ MEMFS_HOME: dir }, MEMFS), 'ws');
    await mkdir(paths.dir, { recursive: true });
    for (const doc of [{ ...kindConfig(), kind: 'mountie' }, { ...kindConfig(), kind: undefined }, { ...kindConfig(), kind: 7 }]) {
      await writeFile(paths.config, JSON.stringify(doc));
      await expect(loadAnyConfig(paths, MEMFS)).rejects.toMatchObject({ code: 'ERR_CONFIG_CORRUPT' });
    }
  });

  it('meets a pending first-mount config: the same options start, other options conflict', async () => {
    const paths = workspacePaths(resolveHome({ MEMFS_HOME: dir }, MEMFS), 'ws');
    expect(await configForStart(paths, kindConfig(), MEMFS)).toEqual({ config: kindConfig(), store: true });
    await saveConfig(paths, kindConfig());
    expect(await configForStart(paths, kindConfig({ createdAt: 'later' }), MEMFS)).toMatchObject({ store: false });
    await expect(configForStart(paths, kindConfig({ options: { files: 4 } }), MEMFS)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    expect(parsePendingConfig(JSON.stringify(kindConfig()), 'ws', MEMFS)).toEqual(kindConfig());
    expect(parsePendingConfig(JSON.stringify(kindConfig()), 'ws')).toBeUndefined();
  });
});

describe('planKindMount', () => {
  it('plans a first mount with the options as given and writes nothing', async () => {
    const layout = resolveHome({ MEMFS_HOME: join(dir, 'home') }, MEMFS);
    const plan = await planKindMount({ name: 'ws', options: { files: 3 } }, layout);
    expect(plan.config).toMatchObject({ schema: WORKSPACE_SCHEMA, name: 'ws', kind: 'memfs', mountpoint: join(dir, 'home/mnt/ws'), readOnly: false, options: { files: 3 } });
    expect(plan.config).not.toHaveProperty('source');
    expect(plan.isNew).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses options that are not JSON, a bad name, and a change of a stored workspace, writing nothing', async () => {
    const layout = resolveHome({ MEMFS_HOME: join(dir, 'home') }, MEMFS);
    await expect(planKindMount({ name: 'ws', options: { n: 1n } }, layout)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(planKindMount({ name: 'ws', options: () => 1 }, layout)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(planKindMount({ name: 'W S', options: {} }, layout)).rejects.toMatchObject({ code: 'ERR_INVALID_NAME' });
    expect(await readdir(dir)).toEqual([]);
    const paths = workspacePaths(layout, 'ws');
    await saveConfig(paths, kindConfig({ mountpoint: join(dir, 'home/mnt/ws') }));
    expect((await planKindMount({ name: 'ws' }, layout)).config.options).toEqual({ files: 3 });
    expect((await planKindMount({ name: 'ws', options: { files: 3 } }, layout)).isNew).toBe(false);
    await expect(planKindMount({ name: 'ws', options: { files: 4 } }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    await expect(planKindMount({ name: 'ws', readOnly: true }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
  });

  it('takes allowOther as mountie mount --allow-other does: stored only when true, a later change is a conflict, omitted reuses it', async () => {
    const layout = resolveHome({ MEMFS_HOME: join(dir, 'home') }, MEMFS);
    expect((await planKindMount({ name: 'ws', allowOther: false }, layout)).config).not.toHaveProperty('allowOther');
    const plan = await planKindMount({ name: 'ws', allowOther: true }, layout);
    expect(plan.config).toMatchObject({ allowOther: true });
    expect(await readdir(dir)).toEqual([]); // planning writes nothing
    await saveConfig(plan.paths, plan.config);
    expect((await planKindMount({ name: 'ws' }, layout)).config.allowOther).toBe(true);
    expect((await planKindMount({ name: 'ws', allowOther: true }, layout)).isNew).toBe(false);
    await expect(planKindMount({ name: 'ws', allowOther: false }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT', data: { option: 'allowOther' } });
    // A workspace stored without it refuses it too.
    await saveConfig(workspacePaths(layout, 'w2'), kindConfig({ name: 'w2', mountpoint: join(dir, 'home/mnt/w2') }));
    await expect(planKindMount({ name: 'w2', allowOther: true }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT', data: { option: 'allowOther' } });
  });
});
