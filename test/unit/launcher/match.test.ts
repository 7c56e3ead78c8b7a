import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  defaultIsMountieRoot,
  isEntryScript,
  isNodeBinary,
  matchDaemon,
  scriptNeedsCwd,
  splitDaemonArgv,
} from '../../../src/launcher/match.js';
import { REPO } from '../../helpers/sandbox.js';

// Roots that are mountie installs in these tests; everything else is not.
const ROOTS = new Set(['/opt/mountie', '/home/u/src/mountie', '/srv/mountie-0.0.9', '/home/u/my proj', '/']);
const isMountieRoot = (root: string): boolean => ROOTS.has(root);
const m = (argv: string[], ws?: string, cwd?: string) => matchDaemon(argv, ws, { isMountieRoot, cwd });

describe('isNodeBinary', () => {
  it.each(['node', 'nodejs', 'node20', 'node20.20', '/usr/bin/node', '/root/.nvm/versions/node/v20.20.0/bin/node', '/opt/my tools/node'])(
    '%s is node',
    (a) => expect(isNodeBinary(a)).toBe(true),
  );
  it.each(['nodemon', 'xnode', 'node-dev', 'node_', 'bun', 'deno', '/usr/bin/mountie', 'node20a', ''])('%s is not node', (a) =>
    expect(isNodeBinary(a)).toBe(false),
  );
});

describe('matchDaemon: positives', () => {
  const cases: Array<[string, string[], string]> = [
    ['bin shim', ['node', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['npm .bin shim', ['/usr/bin/node', '/home/u/app/node_modules/.bin/mountie', 'mount', 'ws-1'], 'ws-1'],
    ['mountie.js', ['node', '/x/mountie.js', 'mount', 'a.b_c'], 'a.b_c'],
    ['relative shim', ['node', 'mountie', 'mount', 'demo'], 'demo'],
    ['dist entry', ['node', '/opt/mountie/dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['src entry via tsx import', ['node', '--import', 'tsx', '/home/u/src/mountie/src/cli/main.ts', 'mount', 'demo'], 'demo'],
    ['version copy elsewhere', ['node', '/srv/mountie-0.0.9/dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['nodejs', ['/usr/bin/nodejs', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['node20', ['node20', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['trailing args', ['node', '/usr/local/bin/mountie', 'mount', 'demo', '--source', '/data', '--foreground'], 'demo'],
    ['boolean flags', ['node', '--enable-source-maps', '--no-warnings', '/opt/mountie/dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['= joined flag', ['node', '--max-old-space-size=4096', '/opt/mountie/dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['-r value', ['node', '-r', 'source-map-support/register', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['--require value', ['node', '--require', '/x/y.cjs', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['--loader value', ['node', '--loader', 'ts-node/esm', '/home/u/src/mountie/src/cli/main.ts', 'mount', 'demo'], 'demo'],
    ['--experimental-loader value', ['node', '--experimental-loader', 'x.mjs', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['--inspect-port value', ['node', '--inspect-port', '9230', '--inspect', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['--title value', ['node', '--title', 'whatever', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['-- ends flags', ['node', '--', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['path with spaces', ['/opt/my tools/node', '/home/u/my proj/dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['flag value with spaces', ['node', '--require', '/a b/c d.cjs', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo'],
    ['unnormalised path', ['node', '/opt/mountie/dist/../dist/cli/main.js', 'mount', 'demo'], 'demo'],
    ['63-char name', ['node', '/usr/local/bin/mountie', 'mount', 'a'.repeat(63)], 'a'.repeat(63)],
  ];
  it.each(cases)('%s', (_, argv, ws) => {
    expect(m(argv)).toEqual({ workspace: ws });
    expect(m(argv, ws)).toEqual({ workspace: ws });
  });

  it('relative entry script resolves against the given cwd', () => {
    expect(m(['node', 'dist/cli/main.js', 'mount', 'demo'], 'demo', '/opt/mountie')).toEqual({ workspace: 'demo' });
    expect(m(['node', './src/cli/main.ts', 'mount', 'demo'], undefined, '/home/u/src/mountie')).toEqual({ workspace: 'demo' });
    expect(m(['node', '../mountie/dist/cli/main.js', 'mount', 'demo'], undefined, '/opt/other')).toEqual({ workspace: 'demo' });
  });
});

describe('matchDaemon: negatives', () => {
  const cases: Array<[string, string[], string?]> = [
    ['other workspace (prefix trap)', ['node', '/usr/local/bin/mountie', 'mount', 'demo2'], 'demo'],
    ['other workspace (suffix trap)', ['node', '/usr/local/bin/mountie', 'mount', 'demo'], 'demo2'],
    ['other workspace (case)', ['node', '/usr/local/bin/mountie', 'mount', 'Demo'], 'demo'],
    ['xmount', ['node', '/usr/local/bin/mountie', 'xmount', 'demo']],
    ['mounts', ['node', '/usr/local/bin/mountie', 'mounts', 'demo']],
    ['unmount', ['node', '/usr/local/bin/mountie', 'unmount', 'demo']],
    ['stop verb', ['node', '/usr/local/bin/mountie', 'stop', 'demo']],
    ['mount not right after script', ['node', '/usr/local/bin/mountie', '--verbose', 'mount', 'demo']],
    ['name glued to verb', ['node', '/usr/local/bin/mountie', 'mount demo']],
    ['no name', ['node', '/usr/local/bin/mountie', 'mount']],
    ['invalid name (upper)', ['node', '/usr/local/bin/mountie', 'mount', 'Demo']],
    ['invalid name (leading dot)', ['node', '/usr/local/bin/mountie', 'mount', '.demo']],
    ['invalid name (slash)', ['node', '/usr/local/bin/mountie', 'mount', 'a/b']],
    ['invalid name (space)', ['node', '/usr/local/bin/mountie', 'mount', 'de mo']],
    ['invalid name (64 chars)', ['node', '/usr/local/bin/mountie', 'mount', 'a'.repeat(64)]],
    ['flag as name', ['node', '/usr/local/bin/mountie', 'mount', '--source']],
    ['mountie-other', ['node', '/usr/local/bin/mountie-other', 'mount', 'demo']],
    ['xmountie', ['node', '/usr/local/bin/xmountie', 'mount', 'demo']],
    ['mountie.ts', ['node', '/usr/local/bin/mountie.ts', 'mount', 'demo']],
    ['mountie dir, other script', ['node', '/tmp/mountie/main.js', 'mount', 'demo']],
    ['mountie dir, cli main not under dist', ['node', '/tmp/mountie/cli/main.js', 'mount', 'demo']],
    ['dist entry of a non-mountie root', ['node', '/opt/other/dist/cli/main.js', 'mount', 'demo']],
    ['src .js is not an entry', ['node', '/home/u/src/mountie/src/cli/main.js', 'mount', 'demo']],
    ['dist .ts is not an entry', ['node', '/opt/mountie/dist/cli/main.ts', 'mount', 'demo']],
    ['relative entry without cwd', ['node', 'dist/cli/main.js', 'mount', 'demo']],
    ['npx parent', ['node', '/usr/lib/node_modules/npm/bin/npx-cli.js', 'mountie', 'mount', 'demo']],
    ['npx bin', ['/usr/bin/node', '/usr/bin/npx', 'mountie', 'mount', 'demo']],
    ['npm exec', ['node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'exec', 'mountie', 'mount', 'demo']],
    ['tsx parent', ['node', '/x/node_modules/tsx/dist/cli.mjs', '/home/u/src/mountie/src/cli/main.ts', 'mount', 'demo']],
    ['launcher', ['node', '/usr/local/bin/mountie', 'mount', 'demo', '--background']],
    ['launcher, flag early', ['node', '/usr/local/bin/mountie', '--background', 'mount', 'demo']],
    ['shim run directly (no node)', ['/usr/local/bin/mountie', 'mount', 'demo']],
    ['sh wrapper', ['sh', '-c', 'node /usr/local/bin/mountie mount demo']],
    ['joined argv (setproctitle)', ['node /usr/local/bin/mountie mount demo']],
    ['nodemon', ['nodemon', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['eval', ['node', '-e', 'x', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['eval =', ['node', '--eval=x', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['print', ['node', '-p', '1', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['check', ['node', '--check', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['value flag swallows the script', ['node', '--require', '/usr/local/bin/mountie', 'mount', 'demo']],
    ['stdin script', ['node', '-', 'mount', 'demo']],
    ['empty argv', []],
    ['only node', ['node']],
    ['only flags', ['node', '--inspect', '--no-warnings']],
  ];
  it.each(cases)('%s', (_, argv, ws) => {
    expect(m(argv, ws)).toBeUndefined();
  });
});

describe('helpers', () => {
  it('splitDaemonArgv reports the script as written', () => {
    expect(splitDaemonArgv(['node', '-r', 'x', 'dist/cli/main.js', 'mount', 'demo', 'more'])).toEqual({ script: 'dist/cli/main.js', workspace: 'demo' });
  });
  it('scriptNeedsCwd only for relative entry paths', () => {
    expect(scriptNeedsCwd('dist/cli/main.js')).toBe(true);
    expect(scriptNeedsCwd('./src/cli/main.ts')).toBe(true);
    expect(scriptNeedsCwd('/opt/mountie/dist/cli/main.js')).toBe(false);
    expect(scriptNeedsCwd('mountie')).toBe(false);
    expect(scriptNeedsCwd('other.js')).toBe(false);
  });
  it('isEntryScript asks the predicate for the install root', () => {
    const seen: string[] = [];
    const pred = (r: string): boolean => (seen.push(r), true);
    expect(isEntryScript('/a b/c/dist/cli/main.js', { isMountieRoot: pred })).toBe(true);
    expect(isEntryScript('/dist/cli/main.js', { isMountieRoot: pred })).toBe(true);
    expect(seen).toEqual(['/a b/c', '/']);
  });
});

describe('defaultIsMountieRoot', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('this repository is a mountie install', () => {
    expect(defaultIsMountieRoot(REPO)).toBe(true);
    expect(matchDaemon(['node', join(REPO, 'dist/cli/main.js'), 'mount', 'demo'])).toEqual({ workspace: 'demo' });
    expect(matchDaemon(['node', 'dist/cli/main.js', 'mount', 'demo'], 'demo', { cwd: REPO })).toEqual({ workspace: 'demo' });
  });

  it('reads name from package.json, once per root', async () => {
    const base = await mkdtemp(join(tmpdir(), 'mountie-match-'));
    dirs.push(base);
    const yes = join(base, 'copy');
    const no = join(base, 'other');
    const bad = join(base, 'bad');
    const none = join(base, 'none');
    for (const d of [yes, no, bad, none]) await mkdir(d);
    await writeFile(join(yes, 'package.json'), JSON.stringify({ name: 'mountie', version: '0.0.1' }));
    await writeFile(join(no, 'package.json'), JSON.stringify({ name: 'mountie-other' }));
    await writeFile(join(bad, 'package.json'), '{ not json');
    expect(defaultIsMountieRoot(yes)).toBe(true);
    expect(defaultIsMountieRoot(no)).toBe(false);
    expect(defaultIsMountieRoot(bad)).toBe(false);
    expect(defaultIsMountieRoot(none)).toBe(false);
    // Cached: a later change is not seen (a root does not change what it is while we run).
    await writeFile(join(no, 'package.json'), JSON.stringify({ name: 'mountie' }));
    expect(defaultIsMountieRoot(no)).toBe(false);
  });
});

describe('the CommonJS bin entry', () => {
  it('matches dist/cli/bin.cjs of a mountie install like main.js', () => {
    const isMountieRoot = (root: string): boolean => root === '/opt/mountie';
    expect(matchDaemon(['node', '/opt/mountie/dist/cli/bin.cjs', 'mount', 'ws'], 'ws', { isMountieRoot })).toEqual({ workspace: 'ws' });
    expect(matchDaemon(['node', '/opt/other/dist/cli/bin.cjs', 'mount', 'ws'], 'ws', { isMountieRoot })).toBeUndefined();
  });
});
