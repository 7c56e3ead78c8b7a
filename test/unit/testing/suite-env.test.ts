/**
 * The suite's own environment (test/global-setup.ts): its workers, and so every CLI call and daemon
 * they start, run without NODE_EXTRA_CA_CERTS, which Node parses at every start-up (67 of 168 ms of
 * CPU per `node -e 0` on the 2-core machine; issue 18). pack.test.ts's npm gets it back.
 */
import { expect, it } from 'vitest';

it('the workers run without NODE_EXTRA_CA_CERTS (kept aside for npm when the run had it)', () => {
  expect(process.env.NODE_EXTRA_CA_CERTS).toBeUndefined();
});
