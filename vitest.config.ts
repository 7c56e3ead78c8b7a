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
 * Unit files that vi.mock a module, vi.stubEnv or vi.resetModules: a shared module registry would
 * leak that into the next file. Found by reading them, so a new such file cannot be missed (a
 * hand-kept list missed one the day it was written).
 */
const ISOLATED_UNIT = readdirSync('test/unit', { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/unit/${f}`)
  .filter((f) => /\bvi\.(mock|doMock|stubEnv|stubGlobal|resetModules)\(/.test(readFileSync(f, 'utf8')));

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
      // Integration and chaos files keep a process each: they spawn, signal and reap real processes.
      { extends: true, test: { name: 'isolated', include: ['test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts', ...ISOLATED_UNIT] } },
    ],
  },
});
