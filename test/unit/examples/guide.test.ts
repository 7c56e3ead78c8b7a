/**
 * docs/GUIDE.md shows the memfs example's files in full: each listing must be the file itself
 * (so the guide never drifts from what the tests run), and the definition must stay under 50
 * lines (counted as `wc -l` counts them), none over 120 characters. The project files it shows
 * (`<!-- guide-project: path -->`: tsconfigs, the test, its globalSetup, the vitest config) are
 * written out and run by test/integration/pack.test.ts; here, what the guide must say (issue 23,
 * item 6): pinned tools, test/ type-checked, the globalSetup shown, a writable file system, ESM only
 * and the Node versions of `engines`.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/sandbox.js';

const guide = await readFile(join(REPO, 'docs/GUIDE.md'), 'utf8');
const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };
const listings = [...guide.matchAll(/<!-- guide-file: (\S+) -->\n```ts\n([\s\S]*?)```\n/g)].map((m) => ({ file: m[1] as string, text: m[2] as string }));

/** The project files the guide shows, by path. */
const project = new Map([...guide.matchAll(/<!-- guide-project: (\S+) -->\n```(?:ts|json)\n([\s\S]*?)```\n/g)].map((m) => [m[1] as string, m[2] as string]));
/** The guide's shell lines, comments dropped. */
const shell = [...guide.matchAll(/```sh\n([\s\S]*?)```\n/g)].flatMap((m) => (m[1] as string).split('\n')).map((l) => l.replace(/\s+#.*$/, '').trim());

describe('docs/GUIDE.md', () => {
  it('shows the memfs definition and its command', () => {
    expect(listings.map((l) => l.file)).toEqual(['examples/memfs/daemon.ts', 'examples/memfs/cli.ts']);
  });

  it.each(listings)('the listing of $file is the file, byte for byte', async ({ file, text }) => {
    expect(text).toBe(await readFile(join(REPO, file), 'utf8'));
  });

  it('the definition serves a promise-style FileSystem ({ fs }), the API new code takes', () => {
    expect(listings[0]?.text).toContain('mount: (ctx) => ({ fs: memFs(ctx.options) }),');
  });

  it('every tool the guide installs is pinned, to the version mountie itself is checked with', () => {
    const tools = shell.filter((l) => l.startsWith('npm install --save-dev ')).flatMap((l) => l.split(/\s+/).slice(3));
    const pinned = tools.map((t) => /^(@?[^@]+)@(\d+\.\d+\.\d+)$/.exec(t));
    expect(pinned.map((m, i) => (m ? `${m[1]}@${pkg.devDependencies[m[1] as string]}` : `${tools[i]} (not pinned)`))).toEqual(tools);
    expect(pinned.map((m) => m?.[1]).sort()).toEqual(['@types/node', 'typescript', 'vitest']);
    // The one install that is not a tool is the tarball itself.
    expect(shell.filter((l) => l.startsWith('npm install ') && !l.startsWith('npm install --save-dev '))).toEqual(['npm install /path/to/mountie-0.1.0.tgz']);
  });

  it('its test script type-checks test/ (and the vitest config) as well as src/, before vitest runs', () => {
    const script = /npm pkg set scripts\.test='([^']+)'/.exec(guide)?.[1];
    expect(script).toBe('tsc && tsc -p test && vitest run');
    const tests = JSON.parse(project.get('test/tsconfig.json') ?? '{}') as { extends?: string; compilerOptions?: { noEmit?: boolean }; include?: string[] };
    expect(tests).toMatchObject({ extends: '../tsconfig.json', compilerOptions: { noEmit: true }, include: ['.', '../vitest.config.ts'] });
    // The test imports the compiled definition: tsc must write its declarations for the check.
    expect(JSON.parse(project.get('tsconfig.json') ?? '{}')).toMatchObject({ compilerOptions: { declaration: true, outDir: 'dist' }, include: ['src'] });
    expect(project.get('test/memfs.test.ts')).toContain("from '../dist/daemon.js'");
  });

  it('shows the vitest globalSetup inline: the config names a file the guide shows, which runs the session', () => {
    const setup = /globalSetup: \['([^']+)'\]/.exec(project.get('vitest.config.ts') ?? '')?.[1];
    expect(setup).toBe('test/mountie-session.ts');
    expect(project.get(setup ?? '')).toMatch(/export async function setup\(\)[\s\S]*await startTestSession\(\)[\s\S]*session\.close\(\)/);
  });

  it('has a section on a writable file system, and every repository file it names exists', () => {
    expect(guide).toContain('\n## A writable filesystem\n');
    const named = [
      ...[...guide.matchAll(/\]\(\.\.\/([^)#]+)\)/g)].map((m) => m[1] as string),
      ...[...guide.matchAll(/`((?:examples|scripts|docs|test\/unit|test\/integration)\/[^`\s]+)`/g)].map((m) => m[1] as string),
    ];
    expect(named).toContain('examples/ramfs/daemon.ts');
    expect(named.filter((f) => !existsSync(join(REPO, f)))).toEqual([]);
  });

  it('says the package is ESM only and which Node versions load it: those of engines (README too)', async () => {
    expect(guide).toContain('**ESM only**');
    expect(guide).toContain(`Node \`${pkg.engines.node}\` (the package's \`engines\`)`);
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(`Node \`${pkg.engines.node}\` (\`engines\`)`);
    for (const text of [guide, readme]) expect(text).not.toMatch(/Node 20\.5|20\.5 or later/);
  });

  it('the definition is under 50 lines, none longer than 120 characters, and the guide (README, TOOLKIT) says how many', async () => {
    const lines = (await readFile(join(REPO, 'examples/memfs/daemon.ts'), 'utf8')).split('\n').slice(0, -1);
    expect(lines.length).toBeLessThan(50);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(guide).toContain(`${lines.length} lines, counted with \`wc -l\``);
    const cli = (await readFile(join(REPO, 'examples/memfs/cli.ts'), 'utf8')).split('\n').length - 1;
    expect(guide).toContain(`its definition is\n${lines.length} lines, its command ${cli}.`);
    // README and TOOLKIT quote the count too.
    expect(await readFile(join(REPO, 'README.md'), 'utf8')).toContain(`(examples/memfs/daemon.ts), ${lines.length} lines;`);
    expect(await readFile(join(REPO, 'docs/TOOLKIT.md'), 'utf8')).toContain(`(memfs, ${lines.length} lines)`);
  });
});
