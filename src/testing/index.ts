// For users' test suites: a session whose reaper cleans up when the runner dies, a home per test
// (a vitest fixture), and the reap itself. README, "Testing code that starts daemons".
export { startTestSession, SESSION_ENV, type TestSession, type TestSessionOptions } from './session.js';
export { createTestHome, reapTestHome, mountieHome, type MountieTestHome } from './home.js';
export { reapUnder, leftoversUnder, type ReapReport, type ReapOptions } from './reap.js';
