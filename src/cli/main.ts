#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { MountieError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { guardStdio, reportError, stdio } from './output.js';
import { packageVersion } from './version.js';
import { mountCommand, type MountFlags } from './commands/mount.js';
import { stopCommand, type StopFlags } from './commands/stop.js';
import { statusCommand, type StatusFlags } from './commands/status.js';
import { exitProcess } from './exit.js';
import { DEFAULT_GRACE_MS } from '../launcher/stop.js';
import { checkHomeAccess } from './home-check.js';
import { resolveHome } from '../state/paths.js';

function parseMs(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > 3_600_000) {
      throw new InvalidArgumentError(`${name} takes whole milliseconds from 0 to 3600000, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function build(run: (work: () => Promise<number>, json: boolean) => void, json: boolean): Command {
  const program = new Command('mountie')
    .description('Run FUSE mount daemons that can never become orphans')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run mountie --help for usage)');
  // With --json anywhere, a parse error becomes a mountie.error/v1 document (main prints it).
  if (json) program.configureOutput({ writeErr: () => undefined });

  program
    .command('mount')
    .description('mount a workspace (foreground until Ctrl-C, or --background)')
    .argument('<ws>', 'workspace name')
    .option('--source <dir>', 'source directory (required the first time, except for "demo")')
    .option('--at <dir>', 'mountpoint (default $MOUNTIE_HOME/mnt/<ws>)')
    .option('--read-only', 'mount read-only')
    .option('--allow-other', 'let other users in, under kernel permission checks (needs user_allow_other in /etc/fuse.conf unless root)')
    .option('--background', 'start a detached daemon and return once it is mounted')
    .option('--ready-timeout <ms>', 'with --background: how long to wait for the daemon', parseMs('--ready-timeout'))
    .option('--json', 'print a mountie.mount/v1 document')
    .addOption(new Option('--daemon-child').hideHelp())
    .addOption(new Option('--instance <id>').hideHelp())
    .action((ws: string, flags: MountFlags) => run(() => mountCommand(ws, flags, stdio), flags.json === true));

  program
    .command('stop')
    .description('stop every daemon of a workspace (TERM, then KILL after --grace) and clean up')
    .argument('[ws]', 'workspace name')
    .option('--all', 'stop every workspace')
    .option('--grace <ms>', 'how long to wait after SIGTERM before SIGKILL (kept above the daemon shutdown deadline of 5 s)', parseMs('--grace'), DEFAULT_GRACE_MS)
    .option('--json', 'print a mountie.stop/v1 document')
    .action((ws: string | undefined, flags: StopFlags) => run(() => stopCommand(ws, flags, stdio), flags.json === true));

  program
    .command('status')
    .description('show what runs and what was left behind')
    .argument('[ws]', 'workspace name')
    .option('--json', 'print a mountie.status/v1 document')
    .action((ws: string | undefined, flags: StatusFlags) => run(() => statusCommand(ws, flags, stdio), flags.json === true));

  return program;
}

/** `--json` anywhere before a `--`: parse errors must honour it too. */
function wantsJson(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** Options that take a value: given twice, commander would silently keep the last one. */
const VALUE_OPTIONS = ['--source', '--at', '--grace', '--ready-timeout', '--instance'];

function duplicateOption(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const seen = new Set<string>();
  for (const a of end < 0 ? args : args.slice(0, end)) {
    const name = VALUE_OPTIONS.find((o) => a === o || a.startsWith(`${o}=`));
    if (name === undefined) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  const dup = duplicateOption(argv);
  if (dup) {
    return reportError(stdio, new MountieError('ERR_INVALID_OPTION', `option ${dup} was given more than once`, { data: { option: dup }, hint: `give ${dup} once` }), wantsJson(argv));
  }
  let pending: Promise<number> | undefined;
  const json = wantsJson(argv);
  const program = build((work, json) => {
    pending = checkHomeAccess(resolveHome())
      .then(work)
      .catch((err: unknown) => reportError(stdio, err, json));
  }, json);
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      if (!json) return EXIT.usage; // commander already printed what was wrong and the help hint.
      const message = err.message.replace(/^error: /, '');
      return reportError(stdio, new MountieError('ERR_INVALID_OPTION', message, { data: { parseError: err.code }, hint: 'run mountie --help for usage' }), true);
    }
    return reportError(stdio, err, json);
  }
  return pending ?? EXIT.ok;
}

guardStdio();
main(process.argv).then(
  (code) => exitProcess(code),
  (err: unknown) => exitProcess(reportError(stdio, err instanceof Error ? err : new MountieError('ERR_INTERNAL', String(err)), false)),
);
