import { afterEach, describe, expect, it, vi } from 'vitest';
import { colourWanted, createProgress, paint } from '../../../src/cli/tty.js';

function stream(isTTY: boolean, columns?: number): { isTTY: boolean; columns?: number; out: string[]; write(t: string): void } {
  const out: string[] = [];
  return { isTTY, ...(columns ? { columns } : {}), out, write: (t: string) => void out.push(t) };
}

afterEach(() => void vi.useRealTimers());

describe('colourWanted', () => {
  it('only on a TTY, never with NO_COLOR (any non-empty value) or TERM=dumb', () => {
    expect(colourWanted({ isTTY: true, write: () => true }, {})).toBe(true);
    expect(colourWanted({ isTTY: false, write: () => true }, {})).toBe(false);
    expect(colourWanted({ write: () => true }, {})).toBe(false);
    expect(colourWanted({ isTTY: true, write: () => true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted({ isTTY: true, write: () => true }, { NO_COLOR: '' })).toBe(true);
    expect(colourWanted({ isTTY: true, write: () => true }, { TERM: 'dumb' })).toBe(false);
  });
  it('paint adds SGR codes only when on', () => {
    expect(paint(true, 'red', 'x')).toBe('\x1b[31mx\x1b[0m');
    expect(paint(false, 'red', 'x')).toBe('x');
  });
});

describe('createProgress', () => {
  it('writes nothing at all when the stream is not a TTY', () => {
    vi.useFakeTimers();
    const s = stream(false);
    const p = createProgress(s);
    p('waiting');
    vi.advanceTimersByTime(5000);
    p(undefined);
    expect(s.out).toEqual([]);
  });

  it('a wait shorter than the delay shows nothing; a longer one a line with the seconds, cleared at the end', () => {
    vi.useFakeTimers();
    let t = 0;
    const s = stream(true);
    const p = createProgress(s, { delayMs: 300, everyMs: 100, now: () => t });
    p('short');
    t = 250;
    vi.advanceTimersByTime(250);
    p(undefined);
    expect(s.out).toEqual([]);
    t = 1000;
    p('stopping ws: waiting for pid 42');
    t = 1400;
    vi.advanceTimersByTime(400);
    expect(s.out.at(-1)).toBe('\r\x1b[Kstopping ws: waiting for pid 42 (0.4 s)');
    p(undefined);
    expect(s.out.at(-1)).toBe('\r\x1b[K');
    const n = s.out.length;
    vi.advanceTimersByTime(1000);
    expect(s.out.length).toBe(n);
  });

  it('never wider than the terminal (a wrapped line cannot be redrawn)', () => {
    vi.useFakeTimers();
    let t = 0;
    const s = stream(true, 20);
    const p = createProgress(s, { delayMs: 0, now: () => t });
    t = 10;
    p('x'.repeat(50));
    expect((s.out.at(-1) ?? '').replace('\r\x1b[K', '').length).toBeLessThanOrEqual(19);
    p(undefined);
  });
});
