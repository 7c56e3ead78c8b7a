import { describe, expect, it } from 'vitest';
import { satisfies } from '../../../src/doctor/engines.js';

describe('satisfies (engines ranges)', () => {
  const range = '>=20.5 <21 || >=22';
  it.each([
    ['20.5.0', true],
    ['20.20.2', true],
    ['20.4.9', false],
    ['21.0.0', false],
    ['22.0.0', true],
    ['v24.1.0', true],
  ])('%s in %s: %s', (v, want) => expect(satisfies(v, range)).toBe(want));
  it('bare, = and <= comparators', () => {
    expect(satisfies('20.0.0', '20')).toBe(true);
    expect(satisfies('20.1.0', '=20.1')).toBe(true);
    expect(satisfies('20.1.1', '<=20.1')).toBe(false);
  });
  it('ranges it does not understand are undefined, never a guess', () => {
    expect(satisfies('20.0.0', '^20')).toBeUndefined();
    expect(satisfies('20.0.0', '')).toBeUndefined();
    expect(satisfies('twenty', '>=20')).toBeUndefined();
  });
});
