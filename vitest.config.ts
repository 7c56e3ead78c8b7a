import { defineConfig } from 'vitest/config';

// Integration tests mount real FUSE filesystems and spawn real daemons: they run one file at a
// time so that two files never race on /dev/fuse or on the process table they both scan.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A test session per run: its reaper cleans the run's daemons and mounts even if vitest is SIGKILLed.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
