import { readdirSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { LongFirstSequencer } from './test/sequencer.js';

// Files run in parallel (issue 18: one at a time took 10-20 min on 2 cores). Every integration
// test has a home of its own (makeHome: its MOUNTIE_HOME, mounts, pidfiles, locks below it), and
// everything a test looks at is scoped to that home: discovery, daemonsOf and the reaper find a
// home's processes by its label, a mount by its place below the home or its tag; /dev/fuse is
// opened per mount. No test reads or changes machine-wide state, so two files never see each other.
// Three workers on 2 cores: most files wait (daemon start-up, grace periods, kernel caches) more
// than they compute, and the long ones (test/sequencer.ts) start first so that they overlap the
// rest. VITEST_MAX_WORKERS=1 runs one file at a time, as before.
/**
 * Test files that vi.mock a module, vi.stubEnv or vi.resetModules: a shared module registry would
 * leak that into the next file. Found by reading them, so a new such file cannot be missed (a
 * hand-kept list missed one the day it was written).
 */
const MOCKS = /\bvi\.(mock|doMock|stubEnv|stubGlobal|resetModules)\(/;
const testFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `${dir}/${f}`);
const mocking = (files: string[]): string[] => files.filter((f) => MOCKS.test(readFileSync(f, 'utf8')));
const ISOLATED_UNIT = mocking(testFiles('test/unit'));
const ISOLATED_INTEGRATION = mocking([...testFiles('test/integration'), ...testFiles('test/chaos')]);

export default defineConfig({
  test: {
    // A test session per run: its reaper cleans the run's daemons and mounts even if vitest is
    // SIGKILLed. Each project runs it; the first one's session serves the run (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 3,
    sequence: { sequencer: LongFirstSequencer },
    projects: [
      // The unit files share their worker processes (isolate: false): a fresh process per file
      // (vitest's start-up, the TypeScript transform) cost about as much CPU as the unit tests
      // themselves, ~52 of ~100 s on 2 cores (issue 18). Not those that mock a module, stub the
      // environment or reset the module registry: they run isolated, with the integration files.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: ISOLATED_UNIT, isolate: false } },
      // Integration and chaos files share their worker processes too (with a fresh vitest worker per
      // file the whole run took 763 s of CPU, without 731 s: one run each in a cpuacct cgroup, issue 18): each test file keeps its own
      // module instance, its home and its own reaping (test/helpers/sandbox.ts reaps what the file
      // spawned in its teardown), so a file after another in the same worker sees nothing of it.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts'], exclude: ISOLATED_INTEGRATION, isolate: false } },
      // A process each for the files that mock a module or stub the environment.
      { extends: true, test: { name: 'isolated', include: [...ISOLATED_INTEGRATION, ...ISOLATED_UNIT] } },
    ],
  },
});
