import { describe, expect, it } from 'vitest';
import { checkAllowOther, checkDevFuse, checkFlock, checkFusectl, checkFusermount3, checkHome, checkLeftovers, checkLibfuse3, checkNative, checkNode, runChecks } from '../../../src/doctor/checks.js';
import type { DoctorFacts } from '../../../src/doctor/facts.js';

/** A healthy machine as a user (uid 1000) sees it; each test breaks one thing. */
function healthy(over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    uid: 1000,
    devFuse: { path: '/dev/fuse', kind: 'char', mode: 0o666, uid: 0, gid: 0, rdev: { major: 10, minor: 229 }, readWrite: true },
    libfuse3: true,
    fusermount3: { name: 'fusermount3', path: '/usr/bin/fusermount3', real: { path: '/usr/bin/fusermount3', kind: 'file', mode: 0o4755, uid: 0, gid: 0 } },
    flock: { name: 'flock', path: '/usr/bin/flock', real: { path: '/usr/bin/flock', kind: 'file', mode: 0o755, uid: 0, gid: 0 } },
    fusectl: { present: true, mounted: true },
    native: { path: '/opt/mountie/native/build/Release/mountie_native.node', built: true, loadable: true },
    node: { version: '20.20.2', engines: '>=20.5 <21 || >=22' },
    home: {
      path: '/home/u/.local/state/mountie',
      self: { path: '/home/u/.local/state/mountie', kind: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
      workspaces: { path: '/home/u/.local/state/mountie/workspaces', kind: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
    },
    workspaces: [{ workspace: 'ws', verdict: 'running', tokens: ['running(pid=42)'] }],
    ...over,
  };
}

const HOME = '/home/u/.local/state/mountie';

describe('doctor checks', () => {
  it('a healthy machine: nothing fails, nothing warns (allow-other skipped unless asked)', () => {
    const checks = runChecks(healthy());
    expect(checks.filter((c) => c.status !== 'ok').map((c) => [c.id, c.status])).toEqual([['allow-other', 'skip']]);
  });

  it('every failure carries a fix', () => {
    const broken = healthy({
      uid: 1000,
      devFuse: { path: '/dev/fuse', kind: 'missing', readWrite: false },
      libfuse3: false,
      fusermount3: { name: 'fusermount3' },
      native: { path: '/opt/mountie/native/build/Release/mountie_native.node', built: false, loadable: false },
      flock: { name: 'flock' },
      node: { version: '18.19.0', engines: '>=20.5 <21 || >=22' },
      workspaces: [{ workspace: 'ws', verdict: 'leftovers', tokens: ['stale-mount'] }],
    });
    const failed = runChecks(broken).filter((c) => c.status === 'fail');
    expect(failed.map((c) => c.id)).toEqual(['dev-fuse', 'libfuse3', 'fusermount3', 'flock', 'native-addon', 'node', 'leftovers:ws']);
    for (const c of failed) expect(c.fix, c.id).toMatch(/\S/);
  });

  describe('/dev/fuse', () => {
    it('missing: modprobe (sudo for a user, not for root)', () => {
      expect(checkDevFuse(healthy({ devFuse: { path: '/dev/fuse', kind: 'missing', readWrite: false } }))).toMatchObject({ status: 'fail', fix: expect.stringMatching(/^sudo modprobe fuse/) });
      expect(checkDevFuse(healthy({ uid: 0, devFuse: { path: '/dev/fuse', kind: 'missing', readWrite: false } }))).toMatchObject({ status: 'fail', fix: expect.stringMatching(/^modprobe fuse/) });
    });
    it('not read-write for this user (mode 0600, root-owned): chmod 0666', () => {
      const c = checkDevFuse(healthy({ devFuse: { path: '/dev/fuse', kind: 'char', mode: 0o600, uid: 0, rdev: { major: 10, minor: 229 }, readWrite: false } }));
      expect(c).toMatchObject({ status: 'fail', fix: 'sudo chmod 0666 /dev/fuse' });
      expect(c.summary).toContain('0600');
    });
    it('a regular file or another device in its place: recreate it', () => {
      expect(checkDevFuse(healthy({ devFuse: { path: '/dev/fuse', kind: 'file', mode: 0o666, readWrite: true } }))).toMatchObject({ status: 'fail', fix: 'sudo rm /dev/fuse && sudo mknod -m 0666 /dev/fuse c 10 229' });
      expect(checkDevFuse(healthy({ devFuse: { path: '/dev/fuse', kind: 'char', mode: 0o666, rdev: { major: 1, minor: 3 }, readWrite: true } })).status).toBe('fail');
    });
  });

  it('libfuse3 missing fails (the native core serves every mount): install fuse3; no ldconfig warns', () => {
    expect(checkLibfuse3(healthy({ libfuse3: false }))).toMatchObject({ status: 'fail', fix: 'sudo apt-get install -y fuse3' });
    const noLdconfig: DoctorFacts = { ...healthy(), libfuse3: undefined };
    expect(checkLibfuse3(noLdconfig).status).toBe('warn');
  });

  describe('fusermount3', () => {
    const notSetuid = { name: 'fusermount3', path: '/usr/bin/fusermount3', real: { path: '/usr/bin/fusermount3', kind: 'file' as const, mode: 0o755, uid: 0, gid: 0 } };
    it('not setuid root: fails for a user with chmod u+s of the real file', () => {
      expect(checkFusermount3(healthy({ fusermount3: notSetuid }))).toMatchObject({ status: 'fail', fix: 'sudo chmod u+s /usr/bin/fusermount3' });
    });
    it('not setuid root: fine for root', () => {
      expect(checkFusermount3(healthy({ uid: 0, fusermount3: notSetuid })).status).toBe('ok');
    });
    it('setuid but owned by a user is not setuid root', () => {
      expect(checkFusermount3(healthy({ fusermount3: { ...notSetuid, real: { ...notSetuid.real, mode: 0o4755, uid: 1000 } } })).status).toBe('fail');
    });
    it('missing: fails, install fuse3', () => {
      expect(checkFusermount3(healthy({ fusermount3: { name: 'fusermount3' } }))).toMatchObject({ status: 'fail', fix: 'sudo apt-get install -y fuse3' });
    });
  });

  it('flock missing fails: no lock, no mount', () => {
    expect(checkFlock(healthy({ flock: { name: 'flock' } }))).toMatchObject({ status: 'fail', fix: 'sudo apt-get install -y util-linux' });
  });

  it('flock missing only warns when the loaded addon takes the lock itself (flock(1) is its fallback)', () => {
    const native = { path: '/opt/mountie/native/build/Release/mountie_native.node', built: true, loadable: true, flock: true };
    expect(checkFlock(healthy({ flock: { name: 'flock' }, native }))).toMatchObject({ status: 'warn', fix: 'sudo apt-get install -y util-linux' });
    expect(checkFlock(healthy({ flock: { name: 'flock' }, native: { ...native, loadable: false, flock: undefined } })).status).toBe('fail');
  });

  it('fusectl: not mounted or absent warns with the command', () => {
    expect(checkFusectl(healthy({ fusectl: { present: true, mounted: false } }))).toMatchObject({ status: 'warn', fix: 'sudo mount -t fusectl none /sys/fs/fuse/connections' });
    expect(checkFusectl(healthy({ fusectl: { present: false, mounted: false } }))).toMatchObject({ status: 'warn', fix: 'sudo modprobe fuse' });
  });

  it('user_allow_other: only when asked; missing fails for a user, not for root', () => {
    expect(checkAllowOther(healthy()).status).toBe('skip');
    const asked = { path: '/etc/fuse.conf', exists: true, userAllowOther: false };
    expect(checkAllowOther(healthy({ fuseConf: asked }))).toMatchObject({ status: 'fail', fix: 'echo user_allow_other | sudo tee -a /etc/fuse.conf' });
    expect(checkAllowOther(healthy({ uid: 0, fuseConf: asked })).status).toBe('ok');
    expect(checkAllowOther(healthy({ fuseConf: { ...asked, userAllowOther: true } })).status).toBe('ok');
  });

  it('native addon: not built or not loadable fails (nothing can mount), with the build command in its checkout or the package to install', () => {
    expect(checkNative(healthy({ native: { path: '/opt/mountie/native/build/Release/mountie_native.node', built: false, loadable: false } }))).toMatchObject({ status: 'fail', fix: 'cd /opt/mountie && npm run build:native' });
    const c = checkNative(healthy({ native: { path: '/opt/mountie/native/build/Release/mountie_native.node', built: true, loadable: false, reason: 'libfuse3.so.3: cannot open shared object file' } }));
    expect(c).toMatchObject({ status: 'fail', fix: 'sudo apt-get install -y fuse3' });
    expect(c.summary).toContain('libfuse3.so.3');
  });

  it('Node outside engines fails; inside passes; an unknown range warns', () => {
    expect(checkNode(healthy({ node: { version: '21.7.0', engines: '>=20.5 <21 || >=22' } })).status).toBe('fail');
    expect(checkNode(healthy({ node: { version: '20.4.0', engines: '>=20.5 <21 || >=22' } })).status).toBe('fail');
    expect(checkNode(healthy({ node: { version: '22.1.0', engines: '>=20.5 <21 || >=22' } })).status).toBe('ok');
    expect(checkNode(healthy({ node: { version: '22.1.0', engines: '^22' } })).status).toBe('warn');
  });

  describe('the home', () => {
    const dir = (over: object) => ({ path: HOME, kind: 'dir' as const, mode: 0o700, uid: 1000, gid: 1000, ...over });
    const home = (self: object, extra: object = {}) => ({ home: { path: HOME, self: dir(self), workspaces: { path: `${HOME}/workspaces`, kind: 'missing' as const }, ...extra } });
    it('mode 0777: fails with chmod 0700', () => {
      expect(checkHome(healthy(home({ mode: 0o777 })))).toEqual([expect.objectContaining({ id: 'home-mode', status: 'fail', fix: `chmod 0700 ${HOME}` })]);
    });
    it('mode 0755: warns (readable by others)', () => {
      expect(checkHome(healthy(home({ mode: 0o755 })))).toEqual([expect.objectContaining({ id: 'home-mode', status: 'warn' })]);
    });
    it('owned by another user: fails with chown', () => {
      expect(checkHome(healthy(home({ uid: 0 })))).toEqual([expect.objectContaining({ id: 'home-owner', status: 'fail', fix: `sudo chown -R 1000 ${HOME}` })]);
    });
    it('a symlink to a directory of another user fails; to our own is fine', () => {
      const link = { path: HOME, kind: 'symlink' as const, mode: 0o777, uid: 1000 };
      const theirs = { path: '/tmp/theirs', kind: 'dir' as const, mode: 0o700, uid: 1001 };
      const f = healthy({ home: { path: HOME, self: link, target: theirs, workspaces: { path: `${HOME}/workspaces`, kind: 'missing' } } });
      expect(checkHome(f)).toEqual([expect.objectContaining({ id: 'home-owner', status: 'fail', fix: 'sudo chown -R 1000 /tmp/theirs' })]);
      expect(checkHome({ ...f, home: { ...f.home, target: { ...theirs, uid: 1000 } } })).toEqual([expect.objectContaining({ id: 'home', status: 'ok' })]);
    });
    it('a symlink planted by another user fails even when it points at our directory', () => {
      const f = healthy({ home: { path: HOME, self: { path: HOME, kind: 'symlink', uid: 1001 }, target: dir({ path: '/tmp/mine' }), workspaces: { path: `${HOME}/workspaces`, kind: 'missing' } } });
      expect(checkHome(f).map((c) => [c.id, c.status])).toEqual([['home-owner', 'fail']]);
    });
    it('a symlinked workspaces dir fails (mountie refuses to write through it)', () => {
      const f = healthy({ home: { path: HOME, self: dir({}), workspaces: { path: `${HOME}/workspaces`, kind: 'symlink', uid: 1000 } } });
      expect(checkHome(f)).toEqual([expect.objectContaining({ id: 'home-workspaces', status: 'fail' })]);
    });
    it('missing: fine (the first mount creates it); a file: fails', () => {
      expect(checkHome(healthy({ home: { path: HOME, self: { path: HOME, kind: 'missing' }, workspaces: { path: `${HOME}/workspaces`, kind: 'missing' } } }))[0]?.status).toBe('ok');
      expect(checkHome(healthy(home({ kind: 'file' })))[0]).toMatchObject({ id: 'home', status: 'fail' });
    });
    it('a path with a space is quoted in the fix', () => {
      const f = healthy({ home: { path: '/tmp/my home', self: dir({ path: '/tmp/my home', mode: 0o777 }), workspaces: { path: '/tmp/my home/workspaces', kind: 'missing' } } });
      expect(checkHome(f)[0]?.fix).toBe(`chmod 0700 '/tmp/my home'`);
    });
  });

  describe('leftovers', () => {
    it('one failed check per workspace with leftovers, naming the stop (with MOUNTIE_HOME when set)', () => {
      const f = healthy({
        mountieHomeEnv: '/tmp/h',
        workspaces: [
          { workspace: 'a', verdict: 'running', tokens: ['running(pid=5)'] },
          { workspace: 'b', verdict: 'leftovers', tokens: ['stale-pidfile(pid=7)'] },
          { workspace: 'c', verdict: 'leftovers', tokens: ['running(pid=8)', 'orphan(pid=9)'] },
        ],
      });
      expect(checkLeftovers(f)).toEqual([
        expect.objectContaining({ id: 'leftovers:b', status: 'fail', fix: 'MOUNTIE_HOME=/tmp/h mountie stop b' }),
        expect.objectContaining({ id: 'leftovers:c', status: 'fail', fix: 'MOUNTIE_HOME=/tmp/h mountie stop c' }),
      ]);
    });
    it('none: ok; uninspectable: warn', () => {
      expect(checkLeftovers(healthy())[0]?.status).toBe('ok');
      expect(checkLeftovers(healthy({ workspaces: { error: 'EACCES' } }))[0]?.status).toBe('warn');
    });
  });
});
