import { describe, expect, it } from 'vitest';
import { exitCodeOf, hintOf } from '../../../src/launcher/index.js';
import { MountieError } from '../../../src/errors.js';

// An author's CLI ends as `mountie` does without a table of its own (issue 23).
describe('exitCodeOf and hintOf', () => {
  it.each([
    ['ERR_INVALID_NAME', 2],
    ['ERR_INVALID_OPTION', 2],
    ['ERR_CONFIG_CONFLICT', 2],
    ['ERR_KIND_MISMATCH', 2],
    ['ERR_PERMISSION_DENIED', 2],
    ['ERR_WORKSPACE_LOCKED', 3],
    ['ERR_WORKSPACE_ACTIVE', 3],
    ['ERR_UNKNOWN_WORKSPACE', 4],
    ['ERR_START_TIMEOUT', 4],
    ['ERR_DAEMON_EXITED', 4],
    ['ERR_STOP_FAILED', 1],
  ] as const)('%s exits %i', (code, exit) => {
    expect(exitCodeOf(new MountieError(code, 'x'))).toBe(exit);
  });

  it('a bug exits 70 without a hint; a Node system error counts as its coded error', () => {
    expect(exitCodeOf(new TypeError('x'))).toBe(70);
    expect(hintOf(new TypeError('x'))).toBeUndefined();
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES', errno: -13, syscall: 'open', path: '/p' });
    expect(exitCodeOf(eacces)).toBe(2);
    expect(hintOf(eacces)).toContain('/p');
    expect(hintOf(new MountieError('ERR_INVALID_OPTION', 'x', { hint: 'pass { url }' }))).toBe('pass { url }');
  });
});
