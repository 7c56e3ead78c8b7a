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

/** Where the run keeps NODE_EXTRA_CA_CERTS for the one file that needs it (pack.test.ts: npm and the registry). */
export const SUITE_EXTRA_CA_CERTS = 'MOUNTIE_SUITE_EXTRA_CA_CERTS';

export async function setup(): Promise<(() => Promise<void>) | undefined> {
  // Node parses NODE_EXTRA_CA_CERTS at every start-up, whether the process ever opens a TLS
  // connection or not: with the system bundle (~140 certificates) that was 67 of 168 ms of CPU per
  // `node -e 0` on the 2-core machine, and the suite starts thousands of Node processes (every CLI
  // call and every daemon; issue 18). Nothing the suite runs speaks TLS but pack.test.ts's npm,
  // which gets it back from SUITE_EXTRA_CA_CERTS. The workers start after this and inherit it.
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (ca !== undefined) {
    process.env[SUITE_EXTRA_CA_CERTS] = ca;
    delete process.env.NODE_EXTRA_CA_CERTS;
  }
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
