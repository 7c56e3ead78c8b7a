/**
 * Which data path serves a daemon's passthrough: the native core when its addon loads, else
 * fuse-native (the JS path), with the reason. `MOUNTIE_DATA_PATH` forces one: `js` (tests of
 * JS-only faults, or a user who wants the old path), `native` (fail rather than fall back).
 * Anything else, or unset, is `auto`. Never throws: a forced native path that cannot load is a
 * choice the caller turns into a start failure.
 */
import { loadNative, type NativeBinding, type NativeLoad } from './binding.js';

export type DataPathKind = 'native' | 'js';

export type DataPathChoice =
  | { readonly kind: 'native'; readonly binding: NativeBinding }
  | { readonly kind: 'js'; readonly reason: string; readonly forced: boolean }
  | { readonly kind: 'unavailable'; readonly reason: string };

export function chooseDataPath(env: NodeJS.ProcessEnv, load: () => NativeLoad = loadNative): DataPathChoice {
  const want = env.MOUNTIE_DATA_PATH;
  if (want === 'js') return { kind: 'js', reason: 'MOUNTIE_DATA_PATH=js', forced: true };
  const native = load();
  if (native.ok) return { kind: 'native', binding: native.binding };
  if (want === 'native') return { kind: 'unavailable', reason: `MOUNTIE_DATA_PATH=native, but ${native.reason}` };
  return { kind: 'js', reason: native.reason, forced: false };
}
