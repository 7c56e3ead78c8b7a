// The native data path: a passthrough served by libfuse 3 worker threads (native/).
export { loadNative, addonCandidates, type NativeLoad, type NativeBinding, type CounterLayout } from './binding.js';
export { readCounters, totalOps, type NativeCounters } from './counters.js';
export { mountNative, type MountNativeOptions, type MountedNative, type ReaddirPlus } from './mount.js';
export { chooseDataPath, type DataPathChoice, type DataPathKind } from './choose.js';
export { nativeCounterSource, nativeBackendView, nativeLoad, type CounterSnapshot } from './state-view.js';
