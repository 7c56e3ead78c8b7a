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
    expect(m.ADDON_PATH).toBe(resolve('elsewhere/mountie_native.node'));
    const r = m.loadNative();
    expect(!r.ok && r.reason).toContain(resolve('elsewhere/mountie_native.node'));
  });

  it('unset: the built addon below native/build/Release', async () => {
    vi.stubEnv('MOUNTIE_NATIVE_ADDON', '');
    vi.resetModules();
    const m = await import('../../../../src/daemon/native/binding.js');
    expect(m.ADDON_PATH).toMatch(/\/native\/build\/Release\/mountie_native\.node$/);
  });
});
