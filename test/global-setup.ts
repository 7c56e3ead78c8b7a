/**
 * One test session per vitest run (mountie/testing): every temporary directory the suite creates
 * (TMPDIR points into the session) lives in it, and its reaper stops every daemon and detaches
 * every mount of the run when the runner dies, even by SIGKILL. Needs the build (dist/), which the
 * integration tests need anyway; without it the unit tests run without a session.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestSession } from '../src/testing/session.js';

const REPO = new URL('..', import.meta.url).pathname;
const ENTRY = join(REPO, 'dist/testing/index.js');
/** Set once this run has its session: every vitest project runs this setup (vitest.config.ts), one session serves them all. */
const RUN_SESSION = 'MOUNTIE_SUITE_SESSION';

export async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[RUN_SESSION]) return undefined;
  if (!existsSync(ENTRY)) {
    process.stderr.write('global-setup: no dist/testing (run npm run build): this run has no test session reaper\n');
    return undefined;
  }
  const { startTestSession } = (await import(ENTRY)) as typeof import('../src/testing/index.js');
  const session: TestSession = await startTestSession();
  // Workers start after this and inherit it: os.tmpdir() (every makeHome, every mkdtemp) is now inside the session.
  process.env.TMPDIR = session.dir;
  process.env[RUN_SESSION] = session.dir;
  return async () => {
    const r = await session.close();
    // Every test reaps its own in teardown: anything the session still finds leaked from a test.
    if (r.daemons.length + r.unmounted.length + r.survivors.length + r.mountsLeft.length > 0) {
      throw new Error(`the test session found leftovers of this run (now reaped): ${JSON.stringify(r)}`);
    }
  };
}
