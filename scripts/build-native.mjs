// Builds the native passthrough addon (native/) with the node-gyp that ships with npm, offline:
// the headers come from the installed Node (--nodedir), libfuse3 from pkg-config.
// Exit 0 when built; 1 with a message naming what is missing otherwise (setup.sh says so and goes
// on: the prebuilt addon of a packed install, or a later build, may still serve).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : dirname(dirname(process.execPath)));

function findGyp() {
  const npmDir = join(dirname(dirname(process.execPath)), 'lib/node_modules/npm');
  for (const p of [join(npmDir, 'node_modules/node-gyp/bin/node-gyp.js'), '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/share/nodejs/node-gyp/bin/node-gyp.js']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

const pc = spawnSync('pkg-config', ['--exists', 'fuse3']);
if (pc.error || pc.status !== 0) {
  console.error('build:native: libfuse3 development files not found (pkg-config fuse3): install libfuse3-dev and pkg-config');
  process.exit(1);
}
const gyp = findGyp();
if (!gyp) {
  console.error("build:native: node-gyp not found (it ships with npm): install npm's node-gyp");
  process.exit(1);
}
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: join(root, 'native'), stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`build:native: the addon did not build (node-gyp exited ${r.status ?? r.signal})`);
  process.exit(1);
}
