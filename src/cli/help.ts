/**
 * Examples under each command's --help, and the program's own epilogue (exit codes, environment).
 * The man page (man/mountie.1, `npm run man`) is generated from these help texts.
 */
import type { Command } from 'commander';

const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  mount: [
    'mountie mount demo                                  # the sample workspace, in the foreground (Ctrl-C unmounts)',
    'mountie mount ws --source ~/data --background       # first mount: stores the config, returns once mounted',
    'mountie mount ws --background --quiet               # later mounts reuse the stored config',
    'mountie mount ws --source /srv/data --at /mnt/ws --read-only --background',
  ],
  stop: ['mountie stop ws', 'mountie stop --all --grace 10000', 'mountie stop ws --json | jq .ok'],
  status: ['mountie status', 'mountie status ws && echo running', "mountie status --json | jq -r '.workspaces[].workspace'"],
  doctor: ['mountie doctor', 'mountie doctor --allow-other', "mountie doctor --json | jq -r '.checks[] | select(.status == \"fail\") | .fix'"],
  unit: ['mountie unit ws                                     # print it', 'mountie unit ws --user --install && systemctl --user daemon-reload && systemctl --user enable --now mountie-ws.service'],
  completion: ['source <(mountie completion bash)', 'mountie completion bash > ~/.local/share/bash-completion/completions/mountie', 'mountie completion zsh > "${fpath[1]}/_mountie"'],
};

const EPILOGUE = `
Exit codes:
  0   ok
  1   failure or leftovers (stop: something survived; status: orphan, stale pidfile, stale mount,
      failed mount; doctor: something is broken)
  2   bad input or environment; nothing was changed on disk
  3   already running (mount) / stopped and clean (status <ws>)
  4   failed to start (mount) / unknown workspace (status, unit)
  70  internal error (a bug)

Environment:
  MOUNTIE_HOME     where configs, state, logs and default mountpoints live
                   (default $XDG_STATE_HOME/mountie, or ~/.local/state/mountie)
  NO_COLOR         no colour in status on a terminal
  NOTIFY_SOCKET    set by systemd: the daemon reports READY=1, STATUS= and STOPPING=1

Most commands take --json (one document with a versioned schema). More: mountie <command> --help.`;

/** Adds the examples to every command that has some, and the epilogue to the program. */
export function addHelpTexts(program: Command): void {
  for (const c of program.commands) {
    const ex = EXAMPLES[c.name()];
    if (ex) c.addHelpText('after', `\nExamples:\n${ex.map((e) => `  $ ${e}`).join('\n')}`);
  }
  program.addHelpText('after', EPILOGUE);
}
