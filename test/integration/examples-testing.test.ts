/**
 * An example's author testing it with mountie/testing (docs/GUIDE.md, "Test it"): the fixture
 * gives the test a home and reaps it afterwards, for a kind that is not mountie's. The daemon
 * process imports the definition's module, so the test imports the compiled example (Node 20
 * cannot import a .ts module: imported from the sources, the launch fails with
 * ERR_INVALID_DEFINITION, "cannot import the daemon module").
 */
import { test as base, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountieHome, type MountieTestHome } from 'mountie/testing';
import { launch, status, stop } from 'mountie/launcher';
import { REPO } from '../helpers/sandbox.js';
import { alive, mountAtPath } from '../helpers/examples.js';

const { memfs } = (await import(join(REPO, 'dist-examples/memfs/daemon.js'))) as typeof import('../../examples/memfs/daemon.js');
const test = base.extend<{ mountie: MountieTestHome }>({ mountie: mountieHome });

// memfs's parser turns a JSON tree into a Map: its launches take raw JSON (typed unknown, which the
// parser checks at run time) until examples/memfs declares its input type (defineDaemon<O, I>).
let left: { pid: number; mountpoint: string } | undefined;

test('serves the tree, and stops', async ({ mountie: { home } }) => {
  const { pid, mountpoint } = await launch('t', { daemon: memfs, home, options: { 'a.txt': 'hi\n' } as unknown, readOnly: true });
  expect(await readFile(join(mountpoint, 'a.txt'), 'utf8')).toBe('hi\n');
  expect((await status('t', { kind: memfs.kind, home }))[0]?.tokens).toEqual([`running(pid=${pid})`]);
  expect((await stop('t', { kind: memfs.kind, home })).ok).toBe(true);
});

test('a test that ends without stopping leaves its daemon to the fixture', async ({ mountie: { home } }) => {
  left = await launch('t', { daemon: memfs, home, options: {} as unknown, readOnly: true });
  expect(alive(left.pid)).toBe(true);
});

test('… which reaped it in teardown: no daemon, no mount', async () => {
  expect(left).toBeDefined();
  expect(alive(left?.pid ?? 0)).toBe(false);
  expect(await mountAtPath(left?.mountpoint ?? '')).toBeUndefined();
});
