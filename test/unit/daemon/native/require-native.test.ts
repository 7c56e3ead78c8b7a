import { describe, expect, it } from 'vitest';
import { requireNative } from '../../../../src/daemon/native/require-native.js';
import type { NativeBinding } from '../../../../src/daemon/native/binding.js';
import { isMountieError } from '../../../../src/errors.js';

describe('requireNative (the native core is the only data path)', () => {
  it('gives the binding when the addon loads', () => {
    const binding = {} as NativeBinding;
    expect(requireNative(() => ({ ok: true, binding, path: '/x.node' }))).toBe(binding);
  });

  it('throws ERR_NATIVE_UNAVAILABLE with the loader reason and a hint naming doctor when it does not', () => {
    const reason = 'the native addon did not load: libfuse3.so.3: cannot open shared object file (libfuse3 is missing: install the fuse3 package, e.g. apt-get install fuse3)';
    let caught: unknown;
    try {
      requireNative(() => ({ ok: false, reason }));
    } catch (err) {
      caught = err;
    }
    expect(isMountieError(caught)).toBe(true);
    expect(caught).toMatchObject({ code: 'ERR_NATIVE_UNAVAILABLE', data: { reason }, hint: expect.stringContaining('mountie doctor') });
  });
});
