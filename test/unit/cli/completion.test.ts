import { describe, expect, it } from 'vitest';
import { Argument, Command, Option } from 'commander';
import { bashCompletion, specFromProgram, zshCompletion } from '../../../src/cli/completion.js';

function program(): Command {
  const p = new Command('mountie');
  p.command('mount').description('mount it').argument('<ws>').option('--source <dir>', 'source dir').option('--grace <ms>', 'a number').option('--read-only', "don't write [ever]: really").addOption(new Option('--daemon-child').hideHelp());
  p.command('completion').description('scripts').addArgument(new Argument('<shell>').choices(['bash', 'zsh']));
  p.command('__workspaces', { hidden: true });
  return p;
}

describe('completion scripts from the command tree', () => {
  it('specFromProgram: visible commands and options only; <dir> values complete directories; ws and choices arguments', () => {
    const spec = specFromProgram(program());
    expect(spec.map((c) => c.name)).toEqual(['mount', 'completion']);
    const mount = spec[0];
    expect(mount?.args).toEqual([{ kind: 'workspace' }]);
    expect(mount?.options.map((o) => [o.flags[0], o.value])).toEqual([
      ['--source', 'dir'],
      ['--grace', 'value'],
      ['--read-only', undefined],
      ['--help', undefined],
    ]);
    expect(spec[1]?.args).toEqual([{ kind: 'choices', choices: ['bash', 'zsh'] }]);
  });

  it('bash: one case per command, directories after --source, nothing after --grace', () => {
    const text = bashCompletion(specFromProgram(program()));
    expect(text).toContain('mount:--source) COMPREPLY=($(compgen -d -- "$cur")); return ;;');
    expect(text).toContain('mount:--grace) :; return ;;');
    expect(text).toContain('compgen -W "mount completion --help --version"');
    expect(text).not.toContain('daemon-child');
    expect(text).not.toContain('__workspaces"');
    expect(text.trimEnd().endsWith('complete -F _mountie mountie')).toBe(true);
  });

  it('zsh: brackets, colons and quotes of descriptions are escaped', () => {
    const text = zshCompletion(specFromProgram(program()));
    expect(text).toContain(`'--read-only[don'\\''t write \\[ever\\]\\: really]'`);
    expect(text).toContain(`'1:value:(bash zsh)'`);
    expect(text).toContain(`'1:workspace:_mountie_workspaces'`);
  });
});
