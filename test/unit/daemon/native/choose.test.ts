import { describe, expect, it } from 'vitest';
import { chooseDataPath } from '../../../../src/daemon/native/choose.js';
import type { NativeBinding, NativeLoad } from '../../../../src/daemon/native/binding.js';

const binding = {} as NativeBinding;
const loads: NativeLoad = { ok: true, binding, path: '/x.node' };
const missing: NativeLoad = { ok: false, reason: 'the native addon is not built (/x.node): run npm run build:native' };

describe('chooseDataPath', () => {
  it('serves natively when the addon loads, unless MOUNTIE_DATA_PATH says js', () => {
    expect(chooseDataPath({}, () => loads)).toEqual({ kind: 'native', binding });
    expect(chooseDataPath({ MOUNTIE_DATA_PATH: 'auto' }, () => loads)).toEqual({ kind: 'native', binding });
    expect(chooseDataPath({ MOUNTIE_DATA_PATH: 'js' }, () => loads)).toEqual({ kind: 'js', reason: 'MOUNTIE_DATA_PATH=js', forced: true });
  });

  it('falls back to fuse-native with the loader reason; a forced native path is unavailable instead', () => {
    expect(chooseDataPath({}, () => missing)).toEqual({ kind: 'js', reason: missing.ok ? '' : missing.reason, forced: false });
    const forced = chooseDataPath({ MOUNTIE_DATA_PATH: 'native' }, () => missing);
    expect(forced.kind).toBe('unavailable');
    expect(forced.kind === 'unavailable' && forced.reason).toMatch(/^MOUNTIE_DATA_PATH=native, but the native addon is not built/);
  });

  it('never loads the addon when the JS path is forced', () => {
    let loaded = 0;
    chooseDataPath({ MOUNTIE_DATA_PATH: 'js' }, () => (loaded++, loads));
    expect(loaded).toBe(0);
  });
});
