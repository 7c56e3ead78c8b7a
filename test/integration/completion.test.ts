/**
 * The completion scripts as shells use them: bash sources the printed script and calls the
 * completion function the way `complete -F` would (COMP_WORDS/COMP_CWORD), for each prefix.
 * Workspace names come from the built CLI (`mountie __workspaces`) in a home of this test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { CLI, REPO, makeHome, reapAll } from '../helpers/sandbox.js';
import { runCli } from '../helpers/cli.js';

afterEach(reapAll);

const HAS_ZSH = spawnSync('zsh', ['--version']).status === 0;

async function homeWith(names: readonly string[]): Promise<string> {
  const home = await makeHome();
  for (const n of names) await mkdir(join(home, 'workspaces', n), { recursive: true });
  // Not a workspace name: never offered.
  await mkdir(join(home, 'workspaces', 'Not-A-Name'), { recursive: true });
  await writeFile(join(home, 'workspaces', '.hidden'), '');
  return home;
}

/** COMPREPLY for the words typed so far (the last one is being completed). */
async function bashComplete(home: string, typed: readonly string[]): Promise<string[]> {
  const script = [
    `mountie() { ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"; }`,
    'source <(mountie completion bash) || exit 9',
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))',
    '_mountie',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = await execa('bash', ['-c', script, 'bash', 'mountie', ...typed], { env: { ...process.env, MOUNTIE_HOME: home }, timeout: 30_000 });
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('mountie completion', () => {
  it('bash: commands, flags, workspace names, choices and directories by prefix', async () => {
    const home = await homeWith(['alpha', 'alps', 'beta']);
    await mkdir(join(home, 'srcdir'));
    expect(await bashComplete(home, ['st'])).toEqual(['start', 'status', 'stop']);
    expect(await bashComplete(home, ['--json', 'do'])).toEqual(['doctor']);
    expect(await bashComplete(home, ['stop', 'al'])).toEqual(['alpha', 'alps']);
    expect(await bashComplete(home, ['status', ''])).toEqual(['alpha', 'alps', 'beta']);
    expect(await bashComplete(home, ['unit', 'beta', '--s'])).toEqual(['--system']);
    expect(await bashComplete(home, ['mount', 'beta', '--re'])).toEqual(['--read-only', '--ready-timeout', '--reconfigure']);
    expect(await bashComplete(home, ['completion', 'z'])).toEqual(['zsh']);
    expect(await bashComplete(home, ['mount', 'alpha', '--source', join(home, 'src')])).toEqual([join(home, 'srcdir')]);
    // A value of --grace is a number: no workspace names there.
    expect(await bashComplete(home, ['stop', '--grace', ''])).toEqual([]);
  });

  it('__workspaces lists configured names only, and nothing (exit 0) for a home that does not exist', async () => {
    const home = await homeWith(['b', 'a']);
    expect((await runCli(home, ['__workspaces'])).stdout).toBe('a\nb');
    // The installed command (bin.cjs) answers it without loading the whole CLI: the same names.
    const fast = await execa(process.execPath, [join(REPO, 'dist/cli/bin.cjs'), '__workspaces'], { env: { ...process.env, MOUNTIE_HOME: home } });
    expect(fast.stdout).toBe('a\nb');
    const none = await runCli(join(home, 'nope'), ['__workspaces']);
    expect(none).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  it('zsh: a #compdef script naming every command, that zsh parses (when zsh is installed)', async () => {
    const home = await makeHome();
    const r = await runCli(home, ['completion', 'zsh']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('#compdef mountie');
    for (const c of ['mount', 'stop', 'status', 'doctor', 'unit', 'completion']) expect(r.stdout).toContain(`      (${c})\n`);
    if (HAS_ZSH) {
      const zsh = await execa('zsh', ['-n'], { input: r.stdout, reject: false });
      expect(zsh.exitCode, zsh.stderr).toBe(0);
    }
  });
});
