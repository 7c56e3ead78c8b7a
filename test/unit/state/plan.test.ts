import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHome, reapAll } from '../../helpers/sandbox.js';
import { planMount } from '../../../src/state/plan.js';
import { materialize } from '../../../src/state/materialize.js';
import { resolveHome } from '../../../src/state/paths.js';
import { configForStart, saveConfig } from '../../../src/state/workspace.js';

describe('planMount', () => {
  afterEach(reapAll);

  async function env(): Promise<{ home: string; src: string; layout: ReturnType<typeof resolveHome> }> {
    const home = await makeHome();
    const src = join(await makeHome('mountie-plan-src-'), 'src');
    await mkdir(src);
    return { home, src, layout: resolveHome({ MOUNTIE_HOME: home }) };
  }

  it('plans a new workspace without writing anything, then materializes it', async () => {
    const { home, src, layout } = await env();
    const plan = await planMount({ name: 'ws', source: src }, layout);
    expect(plan).toMatchObject({ isNew: true, isDemo: false, ownMountPresent: false, config: { name: 'ws', source: src, mountpoint: join(home, 'mnt', 'ws'), readOnly: false } });
    expect(await readdir(home)).toEqual([]);
    await materialize(plan);
    expect((await readdir(home)).sort()).toEqual(['mnt', 'workspaces']);
    // The config is the daemon's to store, once its first mount succeeded.
    expect(await readdir(join(home, 'workspaces', 'ws'))).toEqual(['daemon.log']);
    expect((await planMount({ name: 'ws', source: src }, layout)).isNew).toBe(true);
    await saveConfig(plan.paths, plan.config);
    const again = await planMount({ name: 'ws' }, layout);
    expect(again.isNew).toBe(false);
    expect(again.config).toEqual(plan.config);
  });

  it('a conflict names the flag as typed, never the internal field; --reconfigure replaces instead, writing nothing', async () => {
    const { home, src, layout } = await env();
    const plan = await planMount({ name: 'ws', source: src, readOnly: true }, layout);
    await materialize(plan);
    await saveConfig(plan.paths, plan.config);
    const refused = planMount({ name: 'ws', readOnly: false }, layout);
    await expect(refused).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT', data: { option: '--no-read-only', stored: true } });
    await expect(refused).rejects.toThrow(/read-only; --no-read-only asks otherwise/);
    await expect(refused).rejects.not.toThrow(/readOnly/);
    const other = join(home, 'other');
    await mkdir(other);
    await expect(planMount({ name: 'ws', source: other }, layout)).rejects.toMatchObject({ data: { option: '--source' } });
    const re = await planMount({ name: 'ws', readOnly: false, source: other, reconfigure: true }, layout);
    expect(re).toMatchObject({ isNew: false, reconfigured: true, config: { readOnly: false, source: other, createdAt: plan.config.createdAt } });
    // Planning wrote nothing: the stored config is as it was.
    expect((await planMount({ name: 'ws' }, layout)).config).toEqual(plan.config);
    expect((await planMount({ name: 'ws', readOnly: true, reconfigure: true }, layout)).reconfigured).toBe(false);
  });

  it('the demo workspace needs no flags and its source is created on materialize', async () => {
    const { home, layout } = await env();
    const plan = await planMount({ name: 'demo' }, layout);
    expect(plan.demoSourcePending).toBe(true);
    await materialize(plan);
    expect((await readdir(join(home, 'demo-source'))).sort()).toEqual(['README.txt', 'hello.txt', 'notes']);
  });

  it('refuses flags that contradict the stored config, accepts the same ones (via a symlink too)', async () => {
    const { home, src, layout } = await env();
    const first = await planMount({ name: 'ws', source: src }, layout);
    await materialize(first);
    await saveConfig(first.paths, first.config);
    const other = join(home, '..', 'elsewhere');
    await expect(planMount({ name: 'ws', source: other }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    await expect(planMount({ name: 'ws', at: '/tmp/other-mp' }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    await expect(planMount({ name: 'ws', readOnly: true }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    await expect(planMount({ name: 'ws', allowOther: true }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT', hint: expect.stringContaining('omit --allow-other') });
    await expect(planMount({ name: 'ws', allowOther: false }, layout)).resolves.toMatchObject({ isNew: false });
    const link = join(home, 'link-to-src');
    await symlink(src, link);
    await expect(planMount({ name: 'ws', source: link }, layout)).resolves.toMatchObject({ isNew: false });
  });

  it('resolves a relative --source against the given cwd', async () => {
    const { src, layout } = await env();
    const plan = await planMount({ name: 'ws', source: 'src' }, layout, join(src, '..'));
    expect(plan.config.source).toBe(src);
  });

  it('configForStart: pending config is stored only by the starter; a config stored meanwhile wins or conflicts', async () => {
    const { src, layout } = await env();
    const plan = await planMount({ name: 'ws', source: src }, layout);
    await materialize(plan);
    expect(await configForStart(plan.paths, undefined)).toBeUndefined();
    expect(await configForStart(plan.paths, plan.config)).toEqual({ config: plan.config, store: true });
    await saveConfig(plan.paths, plan.config);
    expect(await configForStart(plan.paths, plan.config)).toEqual({ config: plan.config, store: false });
    await expect(configForStart(plan.paths, { ...plan.config, readOnly: true })).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
    await expect(configForStart(plan.paths, { ...plan.config, allowOther: true })).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT' });
  });

  it('--allow-other is stored in a new config (and only then), and read back as it was written', async () => {
    const { src, layout } = await env();
    const plain = await planMount({ name: 'ws', source: src }, layout);
    expect(plain.config).not.toHaveProperty('allowOther');
    const plan = await planMount({ name: 'ws', source: src, allowOther: true }, layout);
    expect(plan.config.allowOther).toBe(true);
    await materialize(plan);
    await saveConfig(plan.paths, plan.config);
    expect((await planMount({ name: 'ws' }, layout)).config.allowOther).toBe(true);
    await expect(planMount({ name: 'ws', allowOther: true }, layout)).resolves.toMatchObject({ isNew: false });
  });

  it('--reconfigure turns --allow-other on and off (--no-allow-other drops it), naming the flag in a conflict otherwise', async () => {
    const { src, layout } = await env();
    const first = await planMount({ name: 'ws', source: src }, layout);
    await materialize(first);
    await saveConfig(first.paths, first.config);
    const on = await planMount({ name: 'ws', allowOther: true, reconfigure: true }, layout);
    expect(on).toMatchObject({ reconfigured: true, config: { allowOther: true } });
    await saveConfig(on.paths, on.config);
    await expect(planMount({ name: 'ws', allowOther: false }, layout)).rejects.toMatchObject({ code: 'ERR_CONFIG_CONFLICT', data: { option: '--no-allow-other' } });
    const off = await planMount({ name: 'ws', allowOther: false, reconfigure: true }, layout);
    expect(off.reconfigured).toBe(true);
    expect(off.config).not.toHaveProperty('allowOther');
  });

  it.each([
    [{ source: '' }, 'ERR_INVALID_OPTION'],
    [{ at: '' }, 'ERR_INVALID_OPTION'],
    [{ at: '/proc/mountie-nope' }, 'ERR_MOUNTPOINT_UNSUITABLE'],
    [{ at: '/sys/mountie-nope/deeper' }, 'ERR_MOUNTPOINT_UNSUITABLE'],
    [{ source: 'x'.repeat(300) }, 'ERR_NAME_TOO_LONG'],
  ])('refuses %j with %s before writing anything', async (flags, code) => {
    const { home, src, layout } = await env();
    await expect(planMount({ name: 'ws', source: src, ...flags }, layout)).rejects.toMatchObject({ code });
    expect(await readdir(home)).toEqual([]);
  });
});
