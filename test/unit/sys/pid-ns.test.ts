import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isNamespaceInit, isOurNamespaceInit, parseNsPids, sharesOurPidNamespace } from '../../../src/sys/pid-ns.js';
import { reapAll, spawnTracked, waitFor } from '../../helpers/sandbox.js';

/** Can this runner make a pid namespace (root, unshare present)? */
function canUnshare(): boolean {
  try {
    execFileSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

describe('pid namespaces (issue 18: the daemon as a container\'s PID 1)', () => {
  afterEach(reapAll);

  it('parses NSpid, outermost first, and refuses what is no list of pids', () => {
    expect(parseNsPids('Name:\tsleep\nNSpid:\t4711\t1\nNSpgid:\t4711\t1\n')).toEqual([4711, 1]);
    expect(parseNsPids('NSpid:\t123\n')).toEqual([123]);
    expect(parseNsPids('Name:\tx\n')).toBeUndefined();
    expect(parseNsPids('NSpid:\t12 x\n')).toBeUndefined();
    expect(parseNsPids('NSpid:\t\n')).toBeUndefined();
  });

  it('we are no namespace init, and share our own pid namespace; a gone pid is unknown', async () => {
    const own = parseNsPids(await readFile('/proc/self/status', 'utf8'));
    expect(isNamespaceInit(process.pid)).toBe(own?.[own.length - 1] === 1);
    expect(sharesOurPidNamespace(process.pid)).toBe(true);
    expect(isNamespaceInit(4_194_304 + 1)).toBeUndefined();
    expect(sharesOurPidNamespace(4_194_304 + 1)).toBe(false);
  });

  it.skipIf(!canUnshare())('PID 1 of a new pid namespace is an init, not of ours', async () => {
    const u = spawnTracked('unshare', ['--pid', '--fork', '--kill-child', 'sleep', '300'], { stdio: 'ignore' });
    const init = await waitFor('the namespace init', async () => {
      const c = (await readFile(`/proc/${u.pid}/task/${u.pid}/children`, 'utf8').catch(() => '')).trim();
      return c ? Number(c.split(' ')[0]) : undefined;
    }, 5000);
    expect(isNamespaceInit(init)).toBe(true);
    expect(sharesOurPidNamespace(init)).toBe(false);
    expect(isOurNamespaceInit(init)).toBe(false);
    // unshare itself stays in ours.
    expect(isNamespaceInit(u.pid!)).toBe(false);
    expect(sharesOurPidNamespace(u.pid!)).toBe(true);
  });
});
