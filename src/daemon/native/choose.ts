/**
 * Which data path serves a daemon's passthrough: the native core when its addon loads, else
 * fuse-native (the JS path), with the reason. `MOUNTIE_DATA_PATH` forces one: `js` (tests of
 * JS-only faults, or a user who wants the old path), `native` (fail rather than fall back).
 * Anything else, or unset, is `auto`. Never throws: a forced native path that cannot load is a
 * choice the caller turns into a start failure.
 */
import { MountieError } from '../../errors.js';
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

/**
 * A root daemon on the JS path acts as root for every caller: fuse-native gives no caller ids,
 * so it cannot take them (docs/SECURITY.md). With --allow-other that would hand every local user
 * root's access to the source, so it is refused before anything is mounted or stored.
 */
export function refuseUnsafeAllowOther(allowOther: boolean | undefined, choice: DataPathChoice, euid: number = process.geteuid?.() ?? 0): void {
  if (allowOther !== true || euid !== 0 || choice.kind !== 'js') return;
  throw new MountieError('ERR_ALLOW_OTHER_UNSAFE', `--allow-other as root needs the native data path, which acts with each caller's credentials; the JS path would act as root for everyone (${choice.reason})`, {
    data: { dataPath: 'js', reason: choice.reason },
    hint: choice.forced ? 'unset MOUNTIE_DATA_PATH=js, or mount without --allow-other' : 'build the native addon (npm run build:native; mountie doctor says what is missing), run the daemon as the user who owns the source, or mount without --allow-other',
  });
}
