// `npx vitest run -c scripts/test-profile/config.ts`: the suite as vitest.config.ts runs it, plus a
// line per file (wall, CPU of its worker, CPU of the children it reaped) in $TEST_PROFILE_OUT.
import { mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

// eslint-disable-next-line no-restricted-syntax -- vitest takes its config as the default export
export default mergeConfig(base, { test: { setupFiles: ['scripts/test-profile/setup.ts'] } });
