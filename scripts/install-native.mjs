// `npm install` of mountie: build the native data path when this machine can (libfuse3-dev,
// pkg-config, a C toolchain), and never fail the install when it cannot. mountie runs without
// the addon (mounts use fuse-native); `npm run build:native` retries later and says what is missing.
// MOUNTIE_SKIP_NATIVE_BUILD=1 skips the build (CI images, a pack-and-install test).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const addon = join(root, 'native/build/Release/mountie_native.node');

if (process.env.MOUNTIE_SKIP_NATIVE_BUILD === '1') {
  console.error('mountie: MOUNTIE_SKIP_NATIVE_BUILD=1: native addon not built (mounts use fuse-native)');
} else if (!existsSync(join(root, 'native/src'))) {
  // Not a package with the addon's sources (should not happen): nothing to build.
} else if (!existsSync(addon)) {
  const r = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').filter((l) => l.startsWith('build:native:')).pop() || `exit ${r.status ?? r.signal}`;
    console.error(`mountie: native addon not built (${why.replace(/^build:native: /, '')}); mounts use fuse-native`);
  }
}
