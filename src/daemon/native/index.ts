// The native core, the only data path: a passthrough served by libfuse 3 worker threads, or a kind's own ops (native/).
export { loadNative, addonCandidates, type NativeLoad, type NativeBinding, type CounterLayout } from './binding.js';
export { readCounters, totalOps, type NativeCounters } from './counters.js';
export { mountNative, type MountNativeOptions, type MountedNative, type ReaddirPlus } from './mount.js';
export { requireNative } from './require-native.js';
export { nativeCounterSource, nativeBackendView, nativeLoad, type CounterSnapshot } from './state-view.js';
