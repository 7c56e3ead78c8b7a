// Bundles the two entries a command runs, after tsc built dist/ (npm run build, prepack): the CLI
// (dist/cli/bin.cjs, CommonJS, what `mountie` and the tests run; dist/cli/main.js, the same as ESM, what
// bin.cjs hands its heavier commands to, and scripts run) and the daemon child (dist/cli/daemon-child.js). Each start-up then reads one file
// instead of resolving and compiling ~40-80 modules through the ESM loader (BENCHMARKS.md, issue 18).
// The library (`import 'mountie'` and its subpaths) keeps loading the unbundled modules: only these
// three files are overwritten, so the tarball's file list and dist/*.d.ts stay as tsc made them.
import { build, transform } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const outdir = join(root, 'dist', 'cli');

/**
 * A bundled module keeps the URL it has unbundled (dist/<dir>/<file>.js): what it resolves against
 * import.meta.url (the native addon, package.json, the daemon entry and module) stays where it was.
 */
const keepModuleUrl = (format) => ({
  name: 'keep-module-url',
  setup(b) {
    b.onLoad({ filter: /\.c?ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const loader = 'ts';
      if (!text.includes('import.meta.url')) return { contents: text, loader };
      // define replaces the expression, never the words in a comment or a string.
      const { code } = await transform(text, { loader, format: 'esm', define: { 'import.meta.url': '__moduleUrl' }, sourcefile: args.path });
      if (!code.includes('__moduleUrl')) return { contents: text, loader };
      const rel = relative(outdir, join(root, 'dist', relative(src, args.path)).replace(/\.ts$/, '.js'));
      const base = format === 'cjs' ? 'require("node:url").pathToFileURL(__filename)' : 'import.meta.url';
      return { contents: `const __moduleUrl = new URL(${JSON.stringify(rel)}, ${base}).href;\n${code}`, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
});

/**
 * An external import would be hoisted to the bundle's top and run at every start-up (these
 * built-ins are not loaded by Node's own start-up). Through a CommonJS shim
 * it runs when the module that imports it first initializes, as it did unbundled.
 */
const LAZY = /^(node:(child_process|perf_hooks|os|crypto|worker_threads|net|readline|tty|timers\/promises))$/;
/**
 * These are not even loaded when the importing module initializes, only when one of their
 * functions is first used: commander requires node:child_process at its top (for executable
 * subcommands, which mountie has none of) and half of our modules import spawn or execFile for one
 * path each, so `status` and `--version` loaded child_process, net and dgram without spawning
 * anything (~10 ms; BENCHMARKS.md, issue 18). The shim is a Proxy that lists the module's export
 * names (taken from this Node at build time) without loading it: esbuild's `__toESM` copies each
 * name as a getter, and the first read of one requires the real module.
 */
const PROXIED = new Set(['node:child_process', 'node:crypto']);
const proxyShim = (path) => {
  const keys = Object.keys(createRequire(import.meta.url)(path));
  return [
    `let real;`,
    `const load = () => (real ??= require(${JSON.stringify(path)}));`,
    `const keys = ${JSON.stringify(keys)};`,
    `module.exports = new Proxy({}, {`,
    `  get: (_, k) => load()[k],`,
    `  has: (_, k) => k in load(),`,
    `  ownKeys: () => keys,`,
    `  getOwnPropertyDescriptor: (_, k) => (keys.includes(k) ? { configurable: true, enumerable: true, get: () => load()[k] } : undefined),`,
    `});`,
  ].join('\n');
};
const lazyExternals = {
  name: 'lazy-externals',
  setup(b) {
    b.onResolve({ filter: LAZY }, (args) => (args.namespace === 'lazy' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: PROXIED.has(args.path) ? proxyShim(args.path) : `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/**
 * The daemon child imports the module that defines its daemon unbundled (a third party's, or
 * dist/daemon/passthrough/daemon.js): errors.js stays one module both share, so a MountieError the
 * definition throws is still `instanceof MountieError` in the harness.
 */
const sharedErrors = {
  name: 'shared-errors',
  setup(b) {
    b.onResolve({ filter: /\/errors\.js$/ }, (args) => {
      const target = join(args.resolveDir, args.path);
      return target === join(src, 'errors.js') ? { path: '../errors.js', external: true } : undefined;
    });
  },
};

/**
 * Left out of the command's bundle (bin.cjs), which every `mountie` run compiles: the daemon that
 * a foreground `mount` runs in-process (src/daemon: a quarter of the bundle), `doctor` and `unit`.
 * Compiling the CLI is ~5 ms per 100 KB here (BENCHMARKS.md, issue 18), paid by `status`, `stop`
 * and `--version` for code they never run. In their place a stand-in whose function, when a
 * command reaches it (before that command did anything: see src/cli/commands/mount.ts), loads the
 * whole CLI (dist/cli/main.js, whose own run parses the same argv and runs the command from the
 * start, then exits) and never settles, so that this bundle's run never reports or exits.
 */
const HANDED_OVER = new Map([
  [join(src, 'cli/commands/mount-foreground.ts'), ['mountForeground']],
  [join(src, 'cli/commands/doctor.ts'), ['doctorCommand']],
  [join(src, 'cli/commands/unit.ts'), ['unitCommand']],
]);
const handOver = {
  name: 'hand-over',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const names = HANDED_OVER.get(args.path);
      if (!names) return undefined;
      const lines = [
        `// ${relative(root, args.path)} is not in this bundle (scripts/bundle.mjs, HANDED_OVER): dist/cli/main.js runs the command.`,
        `const handOver = () => {`,
        `  void import(require('node:url').pathToFileURL(require('node:path').join(__dirname, 'main.js')).href);`,
        `  return new Promise(() => undefined);`,
        `};`,
        ...names.map((n) => `export const ${n} = handOver;`),
      ];
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  outdir,
  // ps-list (ESM only) is imported dynamically, only where /proc cannot be read.
  external: ['ps-list', '*.node'],
  sourcemap: true,
  logLevel: 'warning',
};

// ESM output: CommonJS dependencies (commander) call require, which an ES module has not.
const esmBanner = "import { createRequire as __mountieCreateRequire } from 'node:module'; const require = __mountieCreateRequire(import.meta.url);";

await Promise.all([
  build({ ...common, entryPoints: { bin: join(src, 'cli/bin.cts') }, format: 'cjs', outExtension: { '.js': '.cjs' }, plugins: [handOver, keepModuleUrl('cjs'), lazyExternals] }),
  build({ ...common, entryPoints: { main: join(src, 'cli/main.ts') }, format: 'esm', banner: { js: esmBanner }, plugins: [keepModuleUrl('esm'), lazyExternals] }),
  build({ ...common, entryPoints: { 'daemon-child': join(src, 'cli/daemon-child.ts') }, format: 'esm', banner: { js: esmBanner }, plugins: [keepModuleUrl('esm'), lazyExternals, sharedErrors] }),
]);
