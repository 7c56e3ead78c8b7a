import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { shJoin, shQuote } from '../../../src/sys/shell.js';

describe('shQuote', () => {
  it('leaves safe words bare and quotes the rest', () => {
    expect(shQuote('/tmp/a-b_c.d')).toBe('/tmp/a-b_c.d');
    expect(shQuote('a b')).toBe(`'a b'`);
    expect(shQuote('')).toBe(`''`);
  });
  it('round-trips through a real shell', () => {
    const words = ['a b', "it's", '$(touch /tmp/x)', 'back\\slash', 'new\nline', '*'];
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shJoin(words)}`], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(words);
  });
});
