/**
 * Shell completion scripts, generated from the CLI's own command tree (so a new command or flag
 * completes without touching this file). Workspace names come from `mountie __workspaces`, a
 * hidden command that only lists the workspaces directory (no process scan: it runs on every Tab).
 */
import type { Command } from 'commander';

export interface OptionSpec {
  readonly flags: readonly string[];
  readonly description: string;
  /** 'dir' for a `<dir>` value, 'value' for any other value, undefined for a switch. */
  readonly value?: 'dir' | 'value';
  readonly choices?: readonly string[];
}

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  /** What each positional argument completes to: workspace names, fixed choices, or nothing. */
  readonly args: readonly ({ readonly kind: 'workspace' } | { readonly kind: 'choices'; readonly choices: readonly string[] } | { readonly kind: 'none' })[];
  readonly options: readonly OptionSpec[];
}

export function specFromProgram(program: Command): CommandSpec[] {
  const help = program.createHelp();
  return help
    .visibleCommands(program)
    .filter((c) => c.name() !== 'help')
    .map((c) => ({
      name: c.name(),
      description: c.description(),
      args: c.registeredArguments.map((a) => (a.argChoices ? { kind: 'choices' as const, choices: a.argChoices } : a.name() === 'ws' ? { kind: 'workspace' as const } : { kind: 'none' as const })),
      options: help.visibleOptions(c).map((o) => ({
        flags: [o.long, o.short].filter((f): f is string => typeof f === 'string'),
        description: o.description,
        ...(o.required || o.optional ? { value: /<dir>|\[dir\]/.test(o.flags) ? ('dir' as const) : ('value' as const) } : {}),
        ...(o.argChoices ? { choices: o.argChoices } : {}),
      })),
    }));
}

const words = (list: readonly string[]): string => list.join(' ');

export function bashCompletion(spec: readonly CommandSpec[]): string {
  const valueCases = spec.flatMap((c) =>
    c.options
      .filter((o) => o.value)
      .map((o) => `    ${o.flags.map((f) => `${c.name}:${f}`).join('|')}) ${o.choices ? `COMPREPLY=($(compgen -W "${words(o.choices)}" -- "$cur"))` : o.value === 'dir' ? 'COMPREPLY=($(compgen -d -- "$cur"))' : ':'}; return ;;`),
  );
  const flagCases = spec.map((c) => `    ${c.name}) COMPREPLY=($(compgen -W "${words(c.options.flatMap((o) => o.flags))}" -- "$cur")) ;;`);
  const argCases = spec
    .filter((c) => c.args[0] && c.args[0].kind !== 'none')
    .map((c) => {
      const a = c.args[0];
      return `    ${c.name}) COMPREPLY=($(compgen -W "${a?.kind === 'choices' ? words(a.choices) : '$(_mountie_workspaces)'}" -- "$cur")) ;;`;
    });
  return `# mountie completion for bash. Load it now: source <(mountie completion bash)
# or for good: mountie completion bash > ~/.local/share/bash-completion/completions/mountie
_mountie_workspaces() {
  "\${COMP_WORDS[0]}" __workspaces 2>/dev/null
}
_mountie() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd= i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in -*) ;; *) cmd=\${COMP_WORDS[i]}; break ;; esac
  done
  COMPREPLY=()
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "${words(spec.map((c) => c.name))} --help --version" -- "$cur"))
    return
  fi
  case "$cmd:$prev" in
${valueCases.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    case $cmd in
${flagCases.join('\n')}
    esac
    return
  fi
  case $cmd in
${argCases.join('\n')}
  esac
}
complete -F _mountie mountie
`;
}

/** Text inside a zsh _arguments/_describe spec: brackets and colons escaped, single quotes closed and reopened. */
function zq(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1').replace(/'/g, `'\\''`);
}

export function zshCompletion(spec: readonly CommandSpec[]): string {
  const commands = spec.map((c) => `    '${zq(c.name)}:${zq(c.description)}'`);
  const cases = spec.map((c) => {
    const opts = c.options.map((o) => {
      const action = o.choices ? `:value:(${words(o.choices)})` : o.value === 'dir' ? ':directory:_files -/' : o.value ? ':value: ' : '';
      const names = o.flags.length > 1 ? `'(${words(o.flags)})'{${o.flags.join(',')}}` : `'${o.flags[0] ?? ''}`;
      return o.flags.length > 1 ? `${names}'[${zq(o.description)}]${action}'` : `${names}[${zq(o.description)}]${action}'`;
    });
    const args = c.args.map((a, i) => (a.kind === 'workspace' ? `'${i + 1}:workspace:_mountie_workspaces'` : a.kind === 'choices' ? `'${i + 1}:value:(${words(a.choices)})'` : `'${i + 1}:value: '`));
    return `      (${c.name})\n        _arguments -s \\\n          ${[...opts, ...args].join(' \\\n          ')} ;;`;
  });
  return `#compdef mountie
# mountie completion for zsh. Load it now: source <(mountie completion zsh)
# or for good: mountie completion zsh > "\${fpath[1]}/_mountie"
_mountie_workspaces() {
  local -a ws
  ws=(\${(f)"$(\${_mountie_cmd:-mountie} __workspaces 2>/dev/null)"})
  _describe workspace ws
}
_mountie() {
  # What the user typed as the command (words shift below); _mountie_workspaces runs it.
  local _mountie_cmd=$words[1] state line
  local -a commands
  commands=(
${commands.join('\n')}
  )
  _arguments -C '(- *)--help[show help]' '(- *)--version[show the version]' '1: :->command' '*:: :->args'
  case $state in
    (command) _describe command commands ;;
    (args)
      case $words[1] in
${cases.join('\n')}
      esac ;;
  esac
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _mountie "$@"
else
  compdef _mountie mountie
fi
`;
}
