/**
 * The native core is the only data path: a daemon whose addon cannot load does not start, and the
 * launcher says so before anything is written (exit 2), naming what is missing (the addon, or
 * libfuse3) and what to do. Nothing half-mounts.
 */
import { MountieError } from '../../errors.js';
import { loadNative, type NativeBinding, type NativeLoad } from './binding.js';

/** The addon, or ERR_NATIVE_UNAVAILABLE with `data.reason` (what did not load, and why). */
export function requireNative(load: () => NativeLoad = loadNative): NativeBinding {
  const native = load();
  if (native.ok) return native.binding;
  throw new MountieError('ERR_NATIVE_UNAVAILABLE', `mountie's native core cannot load, and it serves every mount: ${native.reason}`, {
    data: { reason: native.reason },
    hint: 'run mountie doctor: it says what is missing (the fuse3 package, or the addon: npm rebuild mountie)',
  });
}
