import { describe, expect, it } from 'vitest';
import { formatRecord, parseLogLine, renderEntry } from '../../../src/protocol/log-line.js';

const now = new Date('2026-11-27T10:00:00.000Z');

describe('log lines', () => {
  it('round-trips a record and renders it as the old plain format, extra fields after the message', () => {
    const line = formatRecord('info', 'mounted /s at /m', { pid: 12, now, fields: { workspace: 'ws', path: '/a b' } });
    expect(line.endsWith('\n')).toBe(true);
    const e = parseLogLine(line.slice(0, -1));
    expect(e).toMatchObject({ kind: 'record', level: 'info', pid: 12, msg: 'mounted /s at /m', workspace: 'ws' });
    expect(renderEntry(e)).toBe('2026-11-27T10:00:00.000Z INFO [12] mounted /s at /m workspace=ws path="/a b"');
  });

  it('renders an error with its stack on the following lines and its code when the stack lacks it', () => {
    const err = Object.assign(new Error('boom'), { code: 'EBOOM' });
    const text = renderEntry(parseLogLine(formatRecord('error', 'startup failed', { pid: 1, now, err }).trim()));
    expect(text).toMatch(/^2026-11-27T10:00:00.000Z ERROR \[1\] startup failed: Error: boom\n\s+at /);
    expect(text).toMatch(/\[EBOOM\]$/);
  });

  it('passes old plain-text lines through, with their level and pid', () => {
    const e = parseLogLine('2026-01-01T00:00:00.000Z ERROR [99] startup failed: Error: x');
    expect(e).toMatchObject({ kind: 'text', level: 'error', pid: 99, msg: 'startup failed: Error: x' });
    expect(renderEntry(e)).toBe('2026-01-01T00:00:00.000Z ERROR [99] startup failed: Error: x');
    expect(parseLogLine('(node:5) Warning: something')).toEqual({ kind: 'text', text: '(node:5) Warning: something' });
  });

  it('marks cut, foreign and binary lines corrupt instead of failing', () => {
    expect(parseLogLine('{"time":"2026-')).toMatchObject({ kind: 'corrupt' });
    expect(parseLogLine('{"a":1}')).toMatchObject({ kind: 'corrupt', reason: 'JSON, but not a log record' });
    expect(parseLogLine('{"time":"t","level":"loud","pid":1,"msg":"m"}')).toMatchObject({ kind: 'corrupt' });
    expect(parseLogLine('ab\0cd')).toMatchObject({ kind: 'corrupt', reason: 'binary data' });
    expect(renderEntry(parseLogLine('{"time":"2026-'))).toMatch(/^\[unreadable log line, not valid JSON/);
  });

  it('never sends control characters to the terminal (a message holding an escape sequence or a newline)', () => {
    const text = renderEntry(parseLogLine(formatRecord('info', 'path /x\u001b[31mred\nnext', { pid: 1, now }).trim()));
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u001b\n]/);
    expect(text).toContain('\\x1b[31mred\\x0anext');
    expect(renderEntry(parseLogLine('plain \u001b]0;title\u0007'))).toBe('plain \\x1b]0;title\\x07');
  });

  it('cuts very long fields so one line stays far below the cap; reserved names never overwrite core fields', () => {
    const line = formatRecord('info', 'x'.repeat(100_000), { pid: 1, now, fields: { time: 'forged', level: 'error', kind: 'text' } });
    expect(line.length).toBeLessThan(9000);
    const e = parseLogLine(line.trim());
    expect(e).toMatchObject({ kind: 'record', time: now.toISOString(), level: 'info', field_time: 'forged', field_level: 'error', field_kind: 'text' });
  });
});
