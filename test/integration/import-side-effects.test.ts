/**
 * Importing mountie does nothing but define names: no native module is loaded (our
 * addon), nothing is patched, no handler or timer is installed, the process title stays. Each
 * subpath export is imported in a fresh node that reports what changed. Runs against the build
 * (dist/); MOUNTIE_TEST_PKG=<dir> checks another package root (e.g. an older build).
 */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/sandbox.js';

const PKG = process.env.MOUNTIE_TEST_PKG || REPO;
const exportsMap = (JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as { exports: Record<string, string> }).exports;
const SUBPATHS = Object.keys(exportsMap).filter((k) => !k.endsWith('.json'));

/** Runs in the child: a baseline, the import, and what differs, as one JSON line. */
const PROBE = `
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const events = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning'];
const listeners = () => Object.fromEntries(events.map((e) => [e, process.listenerCount(e)]));
const nativeMaps = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5] ?? '').filter((p) => p.endsWith('.node') || /libfuse/.test(p));
const before = { listeners: listeners(), resources: process.getActiveResourcesInfo().length, title: process.title, maps: new Set(nativeMaps()) };
await import(process.argv[1]);
await new Promise((r) => setImmediate(r));
const loaded = Object.keys(require.cache).filter((p) => /fuse-native|node-gyp-build|\\.node$/.test(p));
console.log(JSON.stringify({
  loaded,
  maps: nativeMaps().filter((p) => !before.maps.has(p)),
  listeners: Object.entries(listeners()).filter(([e, n]) => n !== before.listeners[e]),
  resources: process.getActiveResourcesInfo().length - before.resources,
  title: process.title === before.title,
}));
`;

describe('importing mountie has no side effects', () => {
  it.each(SUBPATHS)('%s: no native module, no handler, no timer, no title', async (subpath) => {
    const target = join(PKG, exportsMap[subpath] ?? '');
    const r = await execa(process.execPath, ['--input-type=module', '-e', PROBE, target], { reject: false, timeout: 30_000, stdin: 'ignore' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ loaded: [], maps: [], listeners: [], resources: 0, title: true });
  });
});
