/**
 * One of the addon's optional calls (flock, procScan, umount, quickExit: absent from builds older
 * than them), bound to the addon, or undefined when the addon does not load or lacks it; the
 * caller then takes its fallback. Looked up once per name.
 */
import { loadNative, type NativeBinding } from './binding.js';

type OptionalCall = 'flock' | 'procScan' | 'umount' | 'quickExit';

const found = new Map<OptionalCall, unknown>();

export function addonCall<K extends OptionalCall>(name: K): NonNullable<NativeBinding[K]> | undefined {
  if (!found.has(name)) {
    const load = loadNative();
    let call: unknown;
    if (load.ok) {
      const fn: unknown = load.binding[name];
      if (typeof fn === 'function') call = fn.bind(load.binding);
    }
    found.set(name, call);
  }
  return found.get(name) as NonNullable<NativeBinding[K]> | undefined;
}
