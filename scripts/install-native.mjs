// `npm install` of mountie: find a native addon that loads, and never fail the install.
//  1. A prebuilt one ships in the package (prebuilds/linux-x64, built by scripts/prebuild.mjs at pack
//     time): when it loads here (it needs only libfuse3.so.3, the fuse3 package), nothing is built.
//  2. Else (another platform, or the prebuilt one does not load) it is built from native/src when
//     this machine can (libfuse3-dev, pkg-config, a C toolchain).
//  3. Else it says what is missing: mounts then fail with a coded error until it is fixed
//     (`mountie doctor` says how).
// MOUNTIE_SKIP_NATIVE_BUILD=1 skips step 2 (CI images, a pack-and-install test).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const built = join(root, 'native/build/Release/mountie_native.node');
const prebuilt = join(root, 'prebuilds/linux-x64/mountie_native.napi.glibc.node');

/** Why `path` does not load in a fresh Node, or undefined when it loads. */
function loadError(path) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path)})`], { encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0) return undefined;
  return (r.stderr || `exit ${r.status ?? r.signal}`).split('\n').find((l) => /Error/.test(l)) ?? 'it did not load';
}

const prebuiltError = process.platform === 'linux' && process.arch === 'x64' && existsSync(prebuilt) ? loadError(prebuilt) : 'no prebuilt addon for this platform';
if (prebuiltError === undefined) {
  // The prebuilt addon loads: nothing to build (and none needed: no compiler, no libfuse3-dev).
} else if (existsSync(built)) {
  // A local build (a checkout): kept as it is.
} else if (process.env.MOUNTIE_SKIP_NATIVE_BUILD === '1') {
  console.error(`mountie: the prebuilt addon cannot be used (${prebuiltError}) and MOUNTIE_SKIP_NATIVE_BUILD=1: no native addon; run mountie doctor`);
} else if (existsSync(join(root, 'native/src'))) {
  const r = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').filter((l) => l.startsWith('build:native:')).pop() || `exit ${r.status ?? r.signal}`;
    console.error(`mountie: native addon not built (${why.replace(/^build:native: /, '')}); the prebuilt one cannot be used either (${prebuiltError}); run mountie doctor`);
  }
}
