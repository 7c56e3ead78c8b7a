/**
 * The package as a stranger gets it: `npm pack` of a clean copy of the tree (no dist/), installed
 * from the tarball into an empty project. Then `npx mountie --version`, an import of every subpath
 * export, and a consumer file compiled with `tsc --noEmit` and `skipLibCheck: false` must all work.
 * Dependencies come from npm's cache when it has them (`--prefer-offline`); the registry is the only
 * network this needs. No FUSE, no root, except the last test, which follows docs/GUIDE.md in the
 * installed project: its memfs (the guide's listings) compiled, its tests type-checked and run
 * (`npm test` as the guide sets it up, under its vitest globalSetup), mounted, read, stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { REPO, isMounted, makeHome, reapAll } from '../helpers/sandbox.js';

const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string; exports: Record<string, string> };
const SUBPATHS = Object.keys(pkg.exports).filter((k) => !k.endsWith('.json'));
const specifier = (subpath: string): string => (subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`);

/**
 * npm reads npm_* variables as its own config: the outer `npm test`'s must not leak into the inner npm.
 * NODE_EXTRA_CA_CERTS as the user had it (test/global-setup.ts keeps it aside for the run): npm may
 * reach the registry through a proxy that needs it.
 */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  const ca = process.env.MOUNTIE_SUITE_EXTRA_CA_CERTS;
  if (ca !== undefined) env.NODE_EXTRA_CA_CERTS = ca;
  return { ...env, ...extra };
}

async function run(cmd: string, args: readonly string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  const r = await execa(cmd, args, { cwd, env: cleanEnv(env), extendEnv: false, reject: false, timeout: timeoutMs, stdin: 'ignore', all: true });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}):\n${r.all ?? ''}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

let dir = '';
let consumer = '';
let installLog = '';

describe('npm pack → install into an empty project', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mountie-pack-'));
    // A clean tree: what git tracks (and new files not ignored), no dist/, no native build.
    const clean = join(dir, 'clean');
    const files = (await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO, 10_000)).stdout.split('\0').filter((f) => f && existsSync(join(REPO, f)));
    for (const f of files) {
      if (f === 'node_modules') continue;
      await mkdir(join(clean, f, '..'), { recursive: true });
      await cp(join(REPO, f), join(clean, f), { verbatimSymlinks: true });
    }
    // prepack runs tsc: the development dependencies, linked rather than installed again.
    await symlink(join(REPO, 'node_modules'), join(clean, 'node_modules'));
    await run('npm', ['pack', '--silent', '--pack-destination', dir], clean, 120_000);

    consumer = join(dir, 'consumer');
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    const tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);
    // As on a machine without libfuse3-dev or a compiler: no build of the addon can succeed here, so
    // what the install gets must come from the tarball's prebuilt addon.
    const noBuild = { PKG_CONFIG_LIBDIR: join(dir, 'no-pkgconfig'), PKG_CONFIG_PATH: '', CC: '/bin/false', CXX: '/bin/false' };
    const r = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', tarball], consumer, 180_000, noBuild);
    installLog = r.stdout + r.stderr;
  }, 300_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the tarball holds dist/ (prepack built it), the declarations and the native sources, and no tests or source maps', async () => {
    const root = join(consumer, 'node_modules', pkg.name);
    expect(existsSync(join(root, 'dist/index.js'))).toBe(true);
    expect(existsSync(join(root, 'dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(root, 'native/binding.gyp'))).toBe(true);
    expect(existsSync(join(root, 'test'))).toBe(false);
    expect(existsSync(join(root, 'src'))).toBe(false);
    const maps = (await readdir(join(root, 'dist'), { recursive: true })).filter((f) => f.endsWith('.map'));
    expect(maps).toEqual([]);
  });

  it('the tarball ships the prebuilt addon, and the install (no libfuse3-dev, no compiler) used it without building', async () => {
    const root = join(consumer, 'node_modules', pkg.name);
    expect(existsSync(join(root, 'prebuilds/linux-x64/mountie_native.napi.glibc.node'))).toBe(true);
    expect(existsSync(join(root, 'native/build')), installLog).toBe(false);
    expect(installLog).not.toMatch(/native addon not built|cannot be used/);
  });

  it('require() of the package works from CommonJS (ESM only; Node >= 20.19 / 22.12 load it through require())', async () => {
    await writeFile(join(consumer, 'use.cjs'), "const m = require('mountie'); const l = require('mountie/launcher'); console.log(typeof m.launch, typeof l.exitCodeOf);\n");
    const r = await run(process.execPath, ['use.cjs'], consumer, 30_000);
    expect(r.stdout.trim()).toBe('function function');
  });

  it('npx mountie --version prints the package version', async () => {
    const r = await run('npx', ['--offline', '--no-install', 'mountie', '--version'], consumer, 30_000);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it.each(SUBPATHS)('import of the subpath export %s works', async (subpath) => {
    const r = await run(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier(subpath))}); console.log(Object.keys(m).length)`], consumer, 30_000);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
  });

  it('a consumer file type-checks against the shipped declarations with skipLibCheck: false', async () => {
    // The consumer's own @types/node (any consumer of a Node library has it), and tsc, from our tree.
    await mkdir(join(consumer, 'node_modules/@types'), { recursive: true });
    await symlink(join(REPO, 'node_modules/@types/node'), join(consumer, 'node_modules/@types/node'));
    const imports = SUBPATHS.map((s, i) => `import * as m${i} from ${JSON.stringify(specifier(s))};`).join('\n');
    const uses = SUBPATHS.map((_, i) => `void m${i};`).join('\n');
    await writeFile(join(consumer, 'consumer.ts'), `${imports}\n${uses}\n${await readFile(join(REPO, 'test/fixtures/consumer/usage.ts'), 'utf8')}`);
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: false, types: ['node'], noEmit: true },
        files: ['consumer.ts'],
      }),
    );
    await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], consumer, 60_000);
  });

  it('main and types name the root for resolvers that predate exports (TypeScript moduleResolution node10)', async () => {
    const root = join(consumer, 'node_modules', pkg.name);
    const meta = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { main?: string; types?: string; exports: Record<string, string> };
    expect(meta.main).toBe(meta.exports['.']);
    expect(meta.types).toBe(meta.main?.replace(/\.js$/, '.d.ts'));
    expect(existsSync(join(root, meta.main ?? 'no main'))).toBe(true);
    expect(existsSync(join(root, meta.types ?? 'no types'))).toBe(true);
    if (!existsSync(join(consumer, 'node_modules/@types/node'))) {
      await mkdir(join(consumer, 'node_modules/@types'), { recursive: true });
      await symlink(join(REPO, 'node_modules/@types/node'), join(consumer, 'node_modules/@types/node'));
    }
    // node10 ignores `exports`: only `types` can lead it to the declarations (else TS7016, implicitly any).
    await writeFile(join(consumer, 'old.ts'), "import { defineDaemon, launch, type FileSystem } from 'mountie';\nexport const used: unknown[] = [defineDaemon, launch];\nexport type Fs = FileSystem;\n");
    const compilerOptions = { target: 'ES2022', module: 'ES2022', moduleResolution: 'node10', strict: true, skipLibCheck: false, types: ['node'], noEmit: true };
    await writeFile(join(consumer, 'tsconfig.node10.json'), JSON.stringify({ compilerOptions, files: ['old.ts'] }));
    await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node10.json'], consumer, 60_000);
  });

  it('docs/GUIDE.md from the tarball: its memfs compiles with its tsconfig, its tests type-check and pass under its session, it mounts, serves, reports and stops (FUSE)', async () => {
    const guide = await readFile(join(REPO, 'docs/GUIDE.md'), 'utf8');
    const project = join(consumer, 'guide'); // below the consumer: `mountie` resolves to the installed tarball
    // Every file the guide shows, where it says: its definition and command (the examples' files,
    // byte for byte: test/unit/examples/guide.test.ts) in src/, and its project files (tsconfig,
    // the test, the globalSetup, the vitest config, the tests' tsconfig) at their paths.
    const files = [...guide.matchAll(/<!-- guide-(file|project): (\S+) -->\n```(?:ts|json)\n([\s\S]*?)```\n/g)].map((m) => ({
      to: m[1] === 'file' ? join('src', (m[2] as string).split('/').pop() as string) : (m[2] as string),
      text: m[3] as string,
    }));
    expect(files.map((f) => f.to).sort()).toEqual(['src/cli.ts', 'src/daemon.ts', 'test/memfs.test.ts', 'test/mountie-session.ts', 'test/tsconfig.json', 'tsconfig.json', 'vitest.config.ts']);
    for (const { to, text } of files) {
      await mkdir(join(project, to, '..'), { recursive: true });
      await writeFile(join(project, to), text);
    }
    // The project's package.json as the guide's commands leave it: type module, its `test` script.
    const script = /npm pkg set scripts\.test='([^']+)'/.exec(guide)?.[1];
    expect(script).toBeDefined();
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'memfs', version: '1.0.0', private: true, type: 'module', scripts: { test: script } }));
    // The tools the guide pins (test/unit/examples/guide.test.ts: the versions in package.json), from our tree.
    await mkdir(join(consumer, 'node_modules/@types'), { recursive: true });
    for (const tool of ['@types/node', 'typescript', 'vitest']) {
      if (!existsSync(join(consumer, 'node_modules', tool))) await symlink(join(REPO, 'node_modules', tool), join(consumer, 'node_modules', tool));
    }
    // `npm test`: tsc, tsc -p test (the tests and the config against dist/'s declarations), vitest
    // run with the guide's globalSetup. The outer vitest's variables stay out of the inner one.
    const session = await mkdtemp(join(tmpdir(), 'mountie-guide-tmp-'));
    const bin = join(REPO, 'node_modules/.bin');
    const inner = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('VITEST') || k === 'MOUNTIE_TEST_SESSION').map((k) => [k, undefined]));
    try {
      const t = await run('npm', ['test'], project, 240_000, { ...inner, TMPDIR: session, PATH: `${bin}:${process.env.PATH ?? ''}` });
      expect(stripVTControlCharacters(t.stdout)).toMatch(/Tests\s+1 passed \(1\)/);
      expect(existsSync(join(project, 'dist/daemon.d.ts'))).toBe(true); // what `tsc -p test` checked the test against
      // The session's teardown reaped and removed its directory: nothing of the run is left.
      expect(await readdir(session)).toEqual([]);
    } finally {
      await reapAll();
      await rm(session, { recursive: true, force: true });
    }

    const home = await makeHome();
    try {
      const memfs = (args: string[]) => run(process.execPath, [join(project, 'dist/cli.js'), ...args], project, 30_000, { MEMFS_HOME: home });
      const mounted = await memfs(['mount', 'notes', '--tree', '{"hello.txt": "hi\\n", "docs": {"a.md": "# A\\n"}}']);
      const pid = Number(/\(pid=(\d+)\)/.exec(mounted.stdout)?.[1]);
      expect(await readFile(join(home, 'mnt/notes/hello.txt'), 'utf8')).toBe('hi\n');
      // Served by the native core from the tarball's prebuilt addon (no fuse-native, no libfuse 2).
      const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
      expect(maps).toContain(join(consumer, 'node_modules', pkg.name, 'prebuilds/linux-x64/mountie_native.napi.glibc.node'));
      expect(maps).not.toMatch(/libfuse\.so\.2/);
      expect((JSON.parse(await readFile(join(home, 'workspaces/notes/state.json'), 'utf8')) as { dataPath?: string }).dataPath).toBe('native');
      expect((await memfs(['status'])).stdout).toBe(`notes  running(pid=${pid})  ${join(home, 'mnt/notes')}`);
      expect((await memfs(['stop', 'notes'])).stdout).toBe(`notes: pid ${pid} ended by TERM`);
      expect(await isMounted(join(home, 'mnt/notes'))).toBe(false);
    } finally {
      await reapAll();
    }
  }, 420_000);
});
