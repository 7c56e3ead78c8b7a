/**
 * A home per test, inside the test session when there is one, reaped in teardown even when the
 * test failed. `mountieHome` is a vitest fixture (`test.extend({ mountie: mountieHome })`); it
 * imports nothing from vitest, so mountie does not depend on it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reapUnder, type ReapReport } from './reap.js';
import { SESSION_ENV } from './session.js';

/** One test's home, and the environment that points mountie (the CLI, the daemons it starts) at it. */
export interface MountieTestHome {
  readonly home: string;
  /** `process.env` with `MOUNTIE_HOME` set to `home`: pass it to every process the test spawns. */
  readonly env: NodeJS.ProcessEnv;
}

/** Create a fresh home: below the session's directory when `MOUNTIE_TEST_SESSION` names one, else in the OS temp directory. */
export async function createTestHome(prefix = 'mountie-test-'): Promise<MountieTestHome> {
  const parent = process.env[SESSION_ENV] || tmpdir();
  const home = await mkdtemp(join(parent, prefix));
  return { home, env: { ...process.env, MOUNTIE_HOME: home } };
}

/** Stop every daemon of the home, detach its mounts and remove it (never while something stays mounted below it). */
export function reapTestHome(home: string): Promise<ReapReport> {
  return reapUnder(home, { remove: true });
}

/**
 * A vitest fixture: each test that asks for it gets its own home, reaped after the test whatever
 * its outcome. `const test = base.extend<{ mountie: MountieTestHome }>({ mountie: mountieHome })`.
 */
// vitest reads the fixtures a fixture depends on from its first parameter, which must be an object
// pattern: `{}` says "none".
// eslint-disable-next-line no-empty-pattern
export async function mountieHome({}: object, use: (home: MountieTestHome) => Promise<void>): Promise<void> {
  const h = await createTestHome();
  try {
    await use(h);
  } finally {
    await reapTestHome(h.home);
  }
}
