/**
 * What the `mountie` command (dist/cli/bin.cjs) costs at start-up, by what it loads (BENCHMARKS.md,
 * issue 18): its output reaches a file or a terminal without making process.stdout/stderr (the
 * `stream` module, a terminal's `tty` and `net`), and the bundle leaves out the daemon, `doctor`
 * and `unit`, which hand their command over to the whole CLI (dist/cli/main.js).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO, makeHome, reapAll } from '../helpers/sandbox.js';

afterEach(reapAll);

const BIN = join(REPO, 'dist/cli/bin.cjs');
const PRELOAD = join(REPO, 'test/fixtures/report-builtins.cjs');

async function builtinsOf(args: readonly string[], out: 'file' | 'null'): Promise<{ builtins: string[]; stdout: string; exitCode: number | null }> {
  const home = await makeHome();
  const stdout = join(home, 'stdout.txt');
  // The file itself as fd 1 (execa's { file } goes through a socket of its own); stderr a pipe, which the command leaves alone.
  const fd = openSync(out === 'file' ? stdout : '/dev/null', 'w');
  try {
    const r = spawnSync(process.execPath, ['-r', PRELOAD, BIN, ...args], { env: { ...process.env, MOUNTIE_HOME: home }, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 20_000 });
    const builtins = JSON.parse(/BUILTINS=(.*)/.exec(r.stderr)?.[1] ?? '[]') as string[];
    return { builtins, stdout: out === 'file' ? await readFile(stdout, 'utf8') : '', exitCode: r.status };
  } finally {
    closeSync(fd);
  }
}

describe('the mountie command at start-up', () => {
  it('writes to a file or /dev/null without making the stdio streams', async () => {
    for (const out of ['file', 'null'] as const) {
      const status = await builtinsOf(['status'], out);
      const version = await builtinsOf(['--version'], out);
      for (const r of [status, version]) {
        expect(r.exitCode).toBe(0);
        expect(r.builtins).not.toContain('NativeModule stream');
        expect(r.builtins).not.toContain('NativeModule net');
        expect(r.builtins).not.toContain('NativeModule tty');
      }
      if (out === 'file') {
        expect(status.stdout).toBe('no workspaces\n');
        expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
      }
    }
  });

  it('leaves the daemon, doctor and unit out of bin.cjs; those commands still answer through it', async () => {
    const bundle = await readFile(BIN, 'utf8');
    for (const left of ['src/daemon/run.ts', 'src/daemon/passthrough/daemon.ts', 'src/doctor/doctor.ts', 'src/systemd/unit.ts']) expect(bundle).not.toContain(`// ${left}`);
    const home = await makeHome();
    const env = { ...process.env, MOUNTIE_HOME: home };
    const doctor = await execa(process.execPath, [BIN, 'doctor', '--json'], { env, reject: false, timeout: 30_000 });
    expect(JSON.parse(doctor.stdout).schema).toBe('mountie.doctor/v1');
    const direct = await execa(process.execPath, [join(REPO, 'dist/cli/main.js'), 'doctor', '--json'], { env, reject: false, timeout: 30_000 });
    expect(doctor.exitCode).toBe(direct.exitCode);
    const unit = await execa(process.execPath, [BIN, 'unit', 'nope', '--json'], { env, reject: false, timeout: 20_000 });
    expect(JSON.parse(unit.stdout).error.code).toBe('ERR_UNKNOWN_WORKSPACE');
    expect(unit.exitCode).toBe(4);
  });
});
