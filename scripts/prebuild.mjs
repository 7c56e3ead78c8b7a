// The prebuilt addon the tarball ships (prepack runs this): native/ built here, then copied to
// prebuilds/linux-x64/mountie_native.napi.glibc.node, the name node-gyp-build's convention gives a
// Node-API addon for glibc. Node-API (NAPI_VERSION 8) keeps it loadable by every Node this package
// supports; it links libfuse3.so.3 dynamically, so a machine needs only the runtime library (Debian's
// fuse3 / libfuse3-3), no compiler and no libfuse3-dev. Built on linux-x64 with glibc only: elsewhere
// it says why and exits 1 (a tarball without its prebuild must not be published).
//   node scripts/prebuild.mjs
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
if (process.platform !== 'linux' || process.arch !== 'x64' || !glibc) {
  console.error(`prebuild: the shipped addon is built on linux-x64 with glibc; this is ${process.platform}-${process.arch}${glibc ? '' : ' without glibc'}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('prebuild: the addon did not build (see above); the package cannot be packed without it');
  process.exit(1);
}
const dir = join(root, 'prebuilds', 'linux-x64');
mkdirSync(dir, { recursive: true });
copyFileSync(join(root, 'native/build/Release/mountie_native.node'), join(dir, 'mountie_native.napi.glibc.node'));
console.error(`prebuild: ${join('prebuilds', 'linux-x64', 'mountie_native.napi.glibc.node')} (glibc ${glibc})`);
