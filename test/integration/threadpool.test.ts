/**
 * The `mountie` command (dist/cli/bin.cjs) asks libuv for 64 pool threads only where a daemon may
 * run in its own process (`mount` in the foreground): starting 64 threads costs every other
 * command ~25 ms of CPU (BENCHMARKS.md, issue 18). Each command here fails or ends before it could
 * mount anything (a bad workspace name), after bin.cjs made its choice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { REPO, makeHome, reapAll } from '../helpers/sandbox.js';

afterEach(reapAll);

const BIN = join(REPO, 'dist/cli/bin.cjs');
const PRELOAD = join(REPO, 'test/fixtures/report-threadpool.cjs');

async function poolOf(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string | undefined> {
  const home = await makeHome();
  const base: NodeJS.ProcessEnv = { ...process.env, MOUNTIE_HOME: home, ...env };
  if (!('UV_THREADPOOL_SIZE' in env)) delete base.UV_THREADPOOL_SIZE;
  const r = await execa(process.execPath, ['-r', PRELOAD, BIN, ...args], { env: base, extendEnv: false, reject: false, timeout: 20_000 });
  return /THREADPOOL=(\S+)/.exec(r.stderr)?.[1];
}

describe('UV_THREADPOOL_SIZE of the mountie command', () => {
  it('is 64 for mount in the foreground (a daemon runs in that process)', async () => {
    expect(await poolOf(['mount', 'Bad!Name'])).toBe('64');
    expect(await poolOf(['--json', 'mount', 'Bad!Name'])).toBe('64');
  });

  it('is left unset (libuv: 4) by status, stop, --version and mount --background', async () => {
    expect(await poolOf(['status'])).toBe('unset');
    expect(await poolOf(['stop', 'Bad!Name'])).toBe('unset');
    expect(await poolOf(['--version'])).toBe('unset');
    expect(await poolOf(['mount', 'Bad!Name', '--background'])).toBe('unset');
  });

  it('keeps a size the environment already sets', async () => {
    expect(await poolOf(['mount', 'Bad!Name'], { UV_THREADPOOL_SIZE: '8' })).toBe('8');
    expect(await poolOf(['status'], { UV_THREADPOOL_SIZE: '8' })).toBe('8');
  });
});
