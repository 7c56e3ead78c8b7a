#!/usr/bin/env node
import { trace } from '../sys/trace.js';
import { Argument, Command, CommanderError, InvalidArgumentError } from 'commander';
import { MountieError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { guardStdio, reportError, stdio, writeStd } from './output.js';
import { packageVersion } from './version.js';
// Commands load their modules when they run (`--version` and `--help` load none of them).
import type { MountFlags } from './commands/mount.js';
import type { StopFlags } from './commands/stop.js';
import type { StatusFlags } from './commands/status.js';
import type { DoctorFlags } from './commands/doctor.js';
import type { UnitFlags } from './commands/unit.js';
import { SHELLS } from './commands/completion.js';
import { addHelpTexts } from './help.js';
import type { LogsFlags } from './commands/logs.js';
import type { RestartFlags } from './commands/restart.js';
import type { ForgetFlags } from './commands/forget.js';
import { DEFAULT_LOG_LINES } from './commands/logs.js';
import { exitProcess } from './exit.js';
import { DEFAULT_GRACE_MS } from '../launcher/defaults.js';
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

function parseCount(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > max) {
      throw new InvalidArgumentError(`${name} takes a whole number from 0 to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** `homeCheck: false`: the command reports an unreadable home itself (doctor) instead of failing on it. */
type Run = (work: () => Promise<number>, json: boolean, homeCheck?: boolean) => void;

function build(run: Run, json: boolean): Command {
  const program = new Command('mountie')
    .description('Run FUSE mount daemons that can never become orphans')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run mountie --help for usage)');
  // Through output.ts, so that --version and a usage error never make the stdio streams (see `via` there).
  // With --json anywhere, a parse error becomes a mountie.error/v1 document (main prints it).
  program.configureOutput({ writeOut: (str) => writeStd('stdout', str), writeErr: json ? () => undefined : (str) => writeStd('stderr', str) });

  program
    .command('mount')
    .description('mount a workspace (foreground until Ctrl-C, or --background)')
    .argument('<ws>', 'workspace name')
    .option('--source <dir>', 'source directory (required the first time, except for "demo")')
    .option('--at <dir>', 'mountpoint (default $MOUNTIE_HOME/mnt/<ws>)')
    .option('--read-only', 'mount read-only')
    .option('--no-read-only', 'mount read-write (with --reconfigure: turns a stored --read-only off)')
    .option('--reconfigure', 'store the given --source/--at/--[no-]read-only/--[no-]allow-other in place of the stored ones (workspace stopped)')
    .option('--allow-other', 'let other users in, under kernel permission checks (needs user_allow_other in /etc/fuse.conf unless root)')
    .option('--no-allow-other', 'serve the owner only (with --reconfigure: turns a stored --allow-other off)')
    .option('--background', 'start a detached daemon and return once it is mounted')
    .option('--ready-timeout <ms>', 'with --background: how long to wait for the daemon', parseMs('--ready-timeout'))
    .option('--json', 'print a mountie.mount/v1 document')
    .option('-q, --quiet', 'print nothing but errors')
    .action((ws: string, flags: MountFlags) => run(async () => (await import('./commands/mount.js')).mountCommand(ws, flags, stdio), flags.json === true));

  program
    .command('start')
    .description('the same as mount --background')
    .argument('<ws>', 'workspace name')
    .option('--source <dir>', 'source directory (required the first time, except for "demo")')
    .option('--at <dir>', 'mountpoint (default $MOUNTIE_HOME/mnt/<ws>)')
    .option('--read-only', 'mount read-only')
    .option('--no-read-only', 'mount read-write (with --reconfigure: turns a stored --read-only off)')
    .option('--reconfigure', 'store the given options in place of the stored ones (workspace stopped)')
    .option('--allow-other', 'let other users in, under kernel permission checks (needs user_allow_other in /etc/fuse.conf unless root)')
    .option('--no-allow-other', 'serve the owner only (with --reconfigure: turns a stored --allow-other off)')
    .option('--ready-timeout <ms>', 'how long to wait for the daemon', parseMs('--ready-timeout'))
    .option('--json', 'print a mountie.mount/v1 document')
    .option('-q, --quiet', 'print nothing but errors')
    .action((ws: string, flags: MountFlags) => run(async () => (await import('./commands/mount.js')).mountCommand(ws, { ...flags, background: true }, stdio), flags.json === true));

  program
    .command('stop')
    .aliases(['umount', 'unmount'])
    .description('stop every daemon of a workspace (TERM, then KILL after --grace) and clean up')
    .argument('[ws]', 'workspace name')
    .option('--all', 'stop every workspace')
    .option('--grace <ms>', 'how long to wait after SIGTERM before SIGKILL (kept above the daemon shutdown deadline of 5 s)', parseMs('--grace'), DEFAULT_GRACE_MS)
    .option('--json', 'print a mountie.stop/v1 document')
    .option('-q, --quiet', 'print nothing when all went well (the whole report when not)')
    .action((ws: string | undefined, flags: StopFlags) => run(async () => (await import('./commands/stop.js')).stopCommand(ws, flags, stdio), flags.json === true));

  program
    .command('status')
    .description('show what runs and what was left behind')
    .argument('[ws]', 'workspace name')
    .option('--json', 'print a mountie.status/v1 document')
    .action((ws: string | undefined, flags: StatusFlags) => run(async () => (await import('./commands/status.js')).statusCommand(ws, flags, stdio), flags.json === true));

  program
    .command('restart')
    .description('stop a workspace, then start it again in the background with its stored config')
    .argument('<ws>', 'workspace name')
    .option('--grace <ms>', 'as for stop: how long to wait after SIGTERM before SIGKILL', parseMs('--grace'), DEFAULT_GRACE_MS)
    .option('--ready-timeout <ms>', 'how long to wait for the new daemon', parseMs('--ready-timeout'))
    .option('--live', 'hand the live mount to the new daemon: nothing is unmounted, open files and working directories keep working (falls back to a plain restart, and says so, where the daemon cannot)')
    .option('--json', 'print a mountie.restart/v1 document')
    .action((ws: string, flags: RestartFlags) => run(async () => (await import('./commands/restart.js')).restartCommand(ws, flags, stdio), flags.json === true));

  program
    .command('forget')
    .description('remove a stopped workspace: config, state, pidfile, log, its directory (never the source)')
    .argument('<ws>', 'workspace name')
    .option('--json', 'print a mountie.forget/v1 document')
    .action((ws: string, flags: ForgetFlags) => run(async () => (await import('./commands/forget.js')).forgetCommand(ws, flags, stdio), flags.json === true));

  program
    .command('logs')
    .description("show a workspace's daemon log for people (old plain-text lines pass through)")
    .argument('<ws>', 'workspace name')
    .option('-n, --lines <n>', 'how many of the last lines to show', parseCount('--lines', 1_000_000), DEFAULT_LOG_LINES)
    .option('-f, --follow', 'keep printing new lines (across rotation) until Ctrl-C')
    .option('--json', 'print a mountie.logs/v1 document (with -f: one compact document per line)')
    .action((ws: string, flags: LogsFlags) => run(async () => (await import('./commands/logs.js')).logsCommand(ws, flags, stdio), flags.json === true));

  program
    .command('doctor')
    .description('check this machine and the home for what mountie needs; changes nothing')
    .option('--allow-other', 'also check user_allow_other in /etc/fuse.conf')
    .option('--json', 'print a mountie.doctor/v1 document')
    .action((flags: DoctorFlags) => run(async () => (await import('./commands/doctor.js')).doctorCommand(flags, stdio), flags.json === true, false));

  program
    .command('unit')
    .description('print a systemd service that runs a workspace (--install writes it; systemctl is yours to run)')
    .argument('<ws>', 'workspace name (configured: mounted once before)')
    .option('--user', 'a user unit (default when not root)')
    .option('--system', 'a system unit (default as root)')
    .option('--install', 'write it to the unit directory and print the systemctl commands to run')
    .option('--json', 'print a mountie.unit/v1 document')
    .action((ws: string, flags: UnitFlags) => run(async () => (await import('./commands/unit.js')).unitCommand(ws, flags, stdio), flags.json === true));

  program
    .command('completion')
    .description('print a shell completion script (commands, flags, workspace names)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: (typeof SHELLS)[number]) => run(async () => (await import('./commands/completion.js')).completionCommand(shell, program, stdio), false, false));
  // For completion scripts: configured workspace names, fast (a readdir).
  program.command('__workspaces', { hidden: true }).action(() => run(async () => (await import('./commands/completion.js')).workspacesCommand(stdio), false, false));

  addHelpTexts(program);
  return program;
}

/** `--json` anywhere before a `--`: parse errors must honour it too. */
function wantsJson(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** Options that take a value: given twice, commander would silently keep the last one. */
const VALUE_OPTIONS = ['--source', '--at', '--grace', '--ready-timeout', '--lines'];

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

/** A flag and its negation both given: commander would silently keep the last one. */
function contradiction(argv: readonly string[]): [string, string] | undefined {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const given = end < 0 ? args : args.slice(0, end);
  for (const flag of ['--read-only', '--allow-other']) {
    const negated = `--no-${flag.slice(2)}`;
    if (given.includes(flag) && given.includes(negated)) return [flag, negated];
  }
  return undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  trace('main');
  const both = contradiction(argv);
  if (both) {
    return reportError(stdio, new MountieError('ERR_INVALID_OPTION', `options ${both[0]} and ${both[1]} contradict each other`, { data: { option: both[0] }, hint: `give one of ${both[0]} and ${both[1]}` }), wantsJson(argv));
  }
  const dup = duplicateOption(argv);
  if (dup) {
    return reportError(stdio, new MountieError('ERR_INVALID_OPTION', `option ${dup} was given more than once`, { data: { option: dup }, hint: `give ${dup} once` }), wantsJson(argv));
  }
  let pending: Promise<number> | undefined;
  const json = wantsJson(argv);
  const program = build((work, json, homeCheck = true) => {
    pending = (homeCheck ? checkHomeAccess(resolveHome()) : Promise.resolve())
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
  (code) => {
    trace('exit');
    exitProcess(code);
  },
  (err: unknown) => exitProcess(reportError(stdio, err instanceof Error ? err : new MountieError('ERR_INTERNAL', String(err)), false)),
);
