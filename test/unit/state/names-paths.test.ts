import { describe, expect, it } from 'vitest';
import { validateName } from '../../../src/state/names.js';
import { resolveHome, workspacePaths } from '../../../src/state/paths.js';

describe('workspace names', () => {
  it.each(['demo', 'a', '0', 'my.ws_1-x', 'a'.repeat(63)])('accepts %j', (n) => expect(validateName(n)).toBe(n));
  it.each(['', 'A', '-a', '.a', '_a', 'a b', 'a;b', '../x', 'a/b', 'a'.repeat(64), 'é', 'a\n'])('rejects %j', (n) => {
    expect(() => validateName(n)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_NAME' }));
  });
  it('rejects non-strings', () => expect(() => validateName(undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_NAME' })));
});

describe('paths', () => {
  it('roots everything at MOUNTIE_HOME', () => {
    const l = resolveHome({ MOUNTIE_HOME: '/h', XDG_RUNTIME_DIR: '/run/user/0' });
    expect(l).toEqual({ home: '/h', workspacesDir: '/h/workspaces', mntDir: '/h/mnt' });
    const p = workspacePaths(l, 'ws');
    expect(p).toMatchObject({
      config: '/h/workspaces/ws/workspace.json',
      pidfile: '/h/workspaces/ws/daemon.pid',
      state: '/h/workspaces/ws/state.json',
      log: '/h/workspaces/ws/daemon.log',
      lock: '/h/workspaces/ws/lock',
      defaultMountpoint: '/h/mnt/ws',
    });
  });
  it('follows XDG without MOUNTIE_HOME; the pidfile never moves with XDG_RUNTIME_DIR', () => {
    const l = resolveHome({ XDG_STATE_HOME: '/s', XDG_RUNTIME_DIR: '/r', HOME: '/home/u' });
    expect(l.home).toBe('/s/mountie');
    expect(workspacePaths(l, 'ws').pidfile).toBe('/s/mountie/workspaces/ws/daemon.pid');
    expect(workspacePaths(resolveHome({ XDG_STATE_HOME: '/s', HOME: '/home/u' }), 'ws').pidfile).toBe('/s/mountie/workspaces/ws/daemon.pid');
    expect(resolveHome({ HOME: '/home/u' }).home).toBe('/home/u/.local/state/mountie');
  });
});
