import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatherFacts } from '../../../src/doctor/facts.js';
import { runChecks } from '../../../src/doctor/checks.js';
import { resolveHome } from '../../../src/state/paths.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mountie-doctor-'));
  dirs.push(d);
  return d;
}

describe('gatherFacts on a made-up environment', () => {
  it('a regular file as /dev/fuse, a fuse.conf without user_allow_other, an addon that is not built, a 0777 home', async () => {
    const t = await tmp();
    const home = join(t, 'home');
    await mkdir(home);
    await chmod(home, 0o777);
    await writeFile(join(t, 'fuse'), '');
    await writeFile(join(t, 'fuse.conf'), '# user_allow_other\nmount_max = 1000\n');
    const f = await gatherFacts({ layout: resolveHome({ MOUNTIE_HOME: home }), env: { MOUNTIE_HOME: home, PATH: t }, allowOther: true, devFuse: join(t, 'fuse'), fuseConf: join(t, 'fuse.conf'), fusectl: join(t, 'nope'), addon: join(t, 'addon.node') });
    expect(f.devFuse).toMatchObject({ kind: 'file' });
    expect(f.fuseConf).toEqual({ path: join(t, 'fuse.conf'), exists: true, userAllowOther: false });
    expect(f.fusectl).toEqual({ present: false, mounted: false });
    expect(f.native).toMatchObject({ built: false, loadable: false });
    // PATH holds no fusermount3: not found.
    expect(f.fusermount3.path).toBeUndefined();
    expect(f.flock.path).toBeUndefined();
    expect(f.home.self).toMatchObject({ kind: 'dir', mode: 0o777 });
    expect(f.mountieHomeEnv).toBe(home);
    const byId = new Map(runChecks(f).map((c) => [c.id, c]));
    expect(byId.get('dev-fuse')?.status).toBe('fail');
    expect(byId.get('fusermount3')?.status).toBe('fail');
    expect(byId.get('native-addon')?.status).toBe('fail');
    expect(byId.get('home-mode')).toMatchObject({ status: 'fail', fix: `chmod 0700 ${home}` });
  });

  it('uncommented user_allow_other counts; a missing fuse.conf does not', async () => {
    const t = await tmp();
    await writeFile(join(t, 'fuse.conf'), '  user_allow_other  \n');
    const layout = resolveHome({ MOUNTIE_HOME: join(t, 'h') });
    expect((await gatherFacts({ layout, allowOther: true, fuseConf: join(t, 'fuse.conf') })).fuseConf?.userAllowOther).toBe(true);
    expect((await gatherFacts({ layout, allowOther: true, fuseConf: join(t, 'none') })).fuseConf).toEqual({ path: join(t, 'none'), exists: false, userAllowOther: false });
    expect((await gatherFacts({ layout })).fuseConf).toBeUndefined();
  });

  it('a symlinked home: the target is looked at', async () => {
    const t = await tmp();
    await mkdir(join(t, 'real'), { mode: 0o700 });
    await symlink(join(t, 'real'), join(t, 'link'));
    const f = await gatherFacts({ layout: resolveHome({ MOUNTIE_HOME: join(t, 'link') }) });
    expect(f.home.self.kind).toBe('symlink');
    expect(f.home.target).toMatchObject({ path: join(t, 'real'), kind: 'dir' });
  });

  it('the real /dev/fuse on this machine is the FUSE device', async () => {
    const f = await gatherFacts({ layout: resolveHome({ MOUNTIE_HOME: join(await tmp(), 'h') }) });
    expect(f.devFuse).toMatchObject({ kind: 'char', rdev: { major: 10, minor: 229 } });
  });
});
