import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../../../src/sys/sha256.js';
import { homeIdFrom } from '../../../src/protocol/tag.js';

const ref = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('sha256Hex (the home id without node:crypto)', () => {
  it('matches node:crypto at every length around the block boundaries, and on non-ASCII text', () => {
    for (let n = 0; n <= 200; n++) {
      const s = randomBytes(n).toString('latin1');
      expect(sha256Hex(s)).toBe(ref(s));
    }
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('hé ☃ 𝄞')).toBe(ref('hé ☃ 𝄞'));
  });

  it('gives the home ids of earlier builds (createHash): mounts they tagged are still found', () => {
    for (const [dev, ino] of [[0, 0], [2049, 131_073], [66_306, 9_007_199_254_740_991], [4_294_967_295, 1]] as const) {
      expect(homeIdFrom(dev, ino)).toBe(ref(`mountie-home\0${dev}\0${ino}`).slice(0, 16));
    }
  });
});
