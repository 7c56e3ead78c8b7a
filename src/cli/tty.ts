/**
 * What only a person at a terminal gets: colour and a progress line. Never on a pipe or a file
 * (scripts parse that output), never colour with NO_COLOR set (https://no-color.org) or TERM=dumb.
 */

export interface TtyStream {
  readonly isTTY?: boolean;
  /** Terminal width: a progress line longer than it would wrap, and `\r` cannot take a wrapped line back. */
  readonly columns?: number;
  write(text: string): unknown;
}

export function colourWanted(stream: TtyStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

const SGR = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof SGR;

export function paint(on: boolean, colour: Colour, text: string): string {
  return on ? `\x1b[${SGR[colour]}m${text}\x1b[0m` : text;
}

export interface Progress {
  /** Show `text` (with the seconds waited) once the wait passed the delay; undefined clears the line. */
  (text: string | undefined): void;
}

export interface ProgressOptions {
  /** Waits shorter than this never show a line. */
  readonly delayMs?: number;
  readonly everyMs?: number;
  readonly now?: () => number;
}

/**
 * A transient line on a TTY stream, redrawn in place (`\r`, erase line) with the seconds waited.
 * A no-op on anything that is not a TTY. Its timer never keeps the process alive (unref).
 */
export function createProgress(stream: TtyStream, opts: ProgressOptions = {}): Progress {
  if (stream.isTTY !== true) return () => undefined;
  const delayMs = opts.delayMs ?? 300;
  const everyMs = opts.everyMs ?? 200;
  const now = opts.now ?? Date.now;
  let label: string | undefined;
  let since = 0;
  let drawn = false;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    if (label === undefined || now() - since < delayMs) return;
    const text = `${label} (${((now() - since) / 1000).toFixed(1)} s)`;
    const width = stream.columns ? stream.columns - 1 : Infinity;
    stream.write(`\r\x1b[K${text.length > width ? text.slice(0, Math.max(0, width - 1)) + '…' : text}`);
    drawn = true;
  };
  return (text) => {
    if (text === undefined) {
      if (timer) clearInterval(timer);
      timer = undefined;
      label = undefined;
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
      return;
    }
    if (label === undefined) since = now();
    label = text;
    if (!timer) {
      timer = setInterval(draw, everyMs);
      timer.unref();
    }
    draw();
  };
}
