import { isMountieError, MountieError, USAGE_CODES } from '../errors.js';
import { EXIT } from './exit-codes.js';

export interface Out {
  line(text: string): void;
  err(text: string): void;
  json(doc: unknown): void;
}

export const stdio: Out = {
  line: (t) => void process.stdout.write(t + '\n'),
  err: (t) => void process.stderr.write(t + '\n'),
  json: (d) => void process.stdout.write(JSON.stringify(d, null, 2) + '\n'),
};

export function exitCodeFor(err: unknown): number {
  if (!isMountieError(err)) return EXIT.internal;
  if (USAGE_CODES.has(err.code) || err.code === 'ERR_INVALID_OPTION') return EXIT.usage;
  switch (err.code) {
    case 'ERR_WORKSPACE_LOCKED':
      return EXIT.alreadyRunning;
    case 'ERR_UNKNOWN_WORKSPACE':
      return EXIT.unknownWorkspace;
    case 'ERR_STOP_FAILED':
    case 'ERR_UNMOUNT_FAILED':
      return EXIT.failure;
    default:
      return EXIT.startFailed;
  }
}

/** Every error says what went wrong and what to do; --json gets the same as a document. */
export function reportError(out: Out, err: unknown, json: boolean): number {
  const code = exitCodeFor(err);
  if (json) {
    const e = isMountieError(err) ? err.toJSON() : { code: 'ERR_INTERNAL', message: String(err) };
    out.json({ schema: 'mountie.error/v1', exitCode: code, error: e });
    return code;
  }
  if (err instanceof MountieError) {
    out.err(`mountie: ${err.message} [${err.code}]`);
    const tail = err.data.logTail;
    if (Array.isArray(tail) && tail.length) out.err(`  last log lines:\n${tail.map((l) => `    ${String(l)}`).join('\n')}`);
    if (err.hint) out.err(`  what to do: ${err.hint}`);
  } else {
    out.err(`mountie: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    out.err('  what to do: this is a bug in mountie; please report it with the text above');
  }
  return code;
}
