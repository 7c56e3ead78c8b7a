import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadNative } from '../../../../src/daemon/native/binding.js';

describe('loadNative', () => {
  it('says the addon is not built, and how to build it, when the file is missing', () => {
    const r = loadNative('/nonexistent/mountie_native.node');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain('npm run build:native');
  });

  it('returns a reason, never throws, when the file is no loadable addon', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mountie-native-'));
    try {
      const bogus = join(dir, 'bogus.node');
      await writeFile(bogus, 'not an ELF object');
      const r = loadNative(bogus);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toMatch(/did not load/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('MOUNTIE_NATIVE_ADDON', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('names the addon every default load uses (resolved from the working directory)', async () => {
    vi.stubEnv('MOUNTIE_NATIVE_ADDON', 'elsewhere/mountie_native.node');
    vi.resetModules();
    const m = await import('../../../../src/daemon/native/binding.js');
    expect(m.addonCandidates()).toEqual([resolve('elsewhere/mountie_native.node')]);
    const r = m.loadNative();
    expect(!r.ok && r.reason).toContain(resolve('elsewhere/mountie_native.node'));
  });

  it('unset: a local build below native/build/Release first, then the prebuilt one the package ships (linux-x64)', async () => {
    vi.stubEnv('MOUNTIE_NATIVE_ADDON', '');
    vi.resetModules();
    const m = await import('../../../../src/daemon/native/binding.js');
    const [built, prebuilt, ...rest] = m.addonCandidates();
    expect(built).toMatch(/\/native\/build\/Release\/mountie_native\.node$/);
    expect(prebuilt).toMatch(/\/prebuilds\/linux-x64\/mountie_native\.napi\.glibc\.node$/);
    expect(rest).toEqual([]);
  });
});

describe.skipIf(!loadNative().ok)("the addon's start() refuses counts that are not whole numbers from 0 up", () => {
  // A negative fd budget cast to size_t meant no budget at all; a negative deadline, an endless one.
  it.each([
    ['fdBudget', -1],
    ['deadlineMs', -5],
    ['maxThreads', 1.5],
    ['fdBudget', Number.NaN],
  ])('%s = %s: a RangeError with code ERR_INVALID_ARG, before anything is mounted', (key, value) => {
    const r = loadNative();
    if (!r.ok) throw new Error(r.reason);
    const base = { fsname: 'mountie:test', subtype: 'mountie', attrTimeout: 1, entryTimeout: 1, keepCache: 1, readOnly: 0, allowOther: 0, readdirplus: 0, maxThreads: 4, maxWrite: 1 << 20, maxReadahead: 1 << 20, splice: 0, fdBudget: 0, deadlineMs: 0 };
    expect(() => r.binding.start('/nonexistent-mountpoint', '/nonexistent-source', { ...base, [key]: value })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG' }));
  });
});
