import { describe, expect, it } from 'vitest';
import { MountieError } from '../../../src/errors.js';
import { fromSystemError } from '../../../src/sys/errno-error.js';
import { TimeoutError } from '../../../src/sys/time.js';

const sys = (code: string, path = '/x/y'): Error => Object.assign(new Error(`${code}: boom`), { code, path, syscall: 'open' });

describe('fromSystemError', () => {
  it.each([
    ['EACCES', 'ERR_PERMISSION_DENIED'],
    ['EPERM', 'ERR_PERMISSION_DENIED'],
    ['EROFS', 'ERR_READ_ONLY_FS'],
    ['ENOSPC', 'ERR_NO_SPACE'],
    ['EDQUOT', 'ERR_NO_SPACE'],
    ['ENAMETOOLONG', 'ERR_NAME_TOO_LONG'],
    ['EISDIR', 'ERR_IS_DIRECTORY'],
    ['ENOTDIR', 'ERR_NOT_DIRECTORY'],
    ['ELOOP', 'ERR_SYMLINK_REFUSED'],
    ['EMFILE', 'ERR_TOO_MANY_FILES'],
    ['EXDEV', 'ERR_ENVIRONMENT'],
  ])('%s → %s, naming the path, with a hint', (errno, code) => {
    const e = fromSystemError(sys(errno)) as MountieError;
    expect(e).toBeInstanceOf(MountieError);
    expect(e).toMatchObject({ code, data: { path: '/x/y', errno } });
    expect(e.message).toContain('/x/y');
    expect(e.hint).toBeTruthy();
  });

  it('a timeout becomes ERR_ENVIRONMENT; MountieErrors and bugs pass through unchanged', () => {
    expect(fromSystemError(new TimeoutError('stat /src', 2000))).toMatchObject({ code: 'ERR_ENVIRONMENT', data: { timeoutMs: 2000 } });
    const m = new MountieError('ERR_FENCED', 'x');
    expect(fromSystemError(m)).toBe(m);
    const bug = new TypeError('undefined is not a function');
    expect(fromSystemError(bug)).toBe(bug);
    const nodeArg = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' });
    expect(fromSystemError(nodeArg)).toBe(nodeArg);
  });
});
